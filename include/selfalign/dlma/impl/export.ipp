// selfalign: definitions for <selfalign/dlma/export.hpp> (DLMA pairs to preference records (TRL / OpenRLHF export) and a one-call file writer)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/dlma/export.hpp>

SELFALIGN_BEGIN_NAMESPACE

namespace dlma {

SELFALIGN_DECL std::vector<io::preference_record> to_preference_records(std::span<const preference_pair> pairs,
                                                                              const config& cfg,
                                                                              margin_column which) {
  std::vector<io::preference_record> out;
  out.reserve(pairs.size());
  for (const auto& p : pairs) {
    io::preference_record r;
    r.prompt = p.query;
    r.chosen = p.chosen;
    r.rejected = p.rejected;
    r.margin = which == margin_column::raw ? p.margin : which == margin_column::target ? p.target_margin : p.clipped_margin;
    r.weight = which == margin_column::target ? 1.0 : p.weight;
    r.score_chosen = p.score_chosen;
    r.score_rejected = p.score_rejected;
    io::preference_provenance prov;
    prov.method = "dlma";
    prov.model = p.model;
    prov.prompt_pair = cfg.pair.name;
    prov.seed = cfg.seed;
    prov.query_id = p.id;
    prov.approximate = p.approximate;
    r.provenance = std::move(prov);
    out.push_back(std::move(r));
  }
  return out;
}

SELFALIGN_DECL result<void> write_pairs(const std::filesystem::path& path, const report& rep, const config& cfg,
                                              const io::export_options& options,
                                              margin_column which) {
  const auto records = to_preference_records(rep.pairs, cfg, which);
  return io::write_preferences(path, records, options);
}

}  // namespace dlma
SELFALIGN_END_NAMESPACE
