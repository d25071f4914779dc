// selfalign: DLMA pairs to preference records (TRL / OpenRLHF export) and a one-call file writer
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/dlma/config.hpp>
#include <selfalign/dlma/report.hpp>
#include <selfalign/io/preference_export.hpp>
#include <selfalign/result.hpp>

#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace dlma {

/// Which number goes into the exported "margin" column.
enum class margin_column {
  clipped,  ///< clip(R, L, U), oriented chosen-vs-rejected; the trainer multiplies by "weight" (default)
  raw,      ///< R, oriented, unclipped
  target,   ///< w · clip(R): the exact number subtracted from h inside the loss
};

[[nodiscard]] constexpr std::string_view to_string(margin_column m) noexcept {
  switch (m) {
    case margin_column::clipped: return "clipped";
    case margin_column::raw: return "raw";
    case margin_column::target: return "target";
  }
  return "clipped";
}

/// Converts pairs into method-independent preference records: prompt = the bare query (the
/// method trains on it without the contrastive prompt), margin per `which`, weight = w,
/// score_chosen/score_rejected = each answer's reward log p(·|p+) − log p(·|p−), and provenance
/// (model, generation pair name, run seed, query id, approximate flag, library version).
[[nodiscard]] SELFALIGN_DECL std::vector<io::preference_record> to_preference_records(std::span<const preference_pair> pairs,
                                                                              const config& cfg,
                                                                              margin_column which = margin_column::clipped);

/// Writes a report's pairs to `path` (atomically) in the chosen format.
[[nodiscard]] SELFALIGN_DECL result<void> write_pairs(const std::filesystem::path& path, const report& rep, const config& cfg,
                                              const io::export_options& options = {},
                                              margin_column which = margin_column::clipped);

}  // namespace dlma
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/dlma/impl/export.ipp>
#endif
