// selfalign: definitions for <selfalign/io/preference_validate.hpp> (checks on preference data before training (empty, identical, echoed prompt, UTF-8))
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/io/preference_validate.hpp>
#include <selfalign/detail/format.hpp>

SELFALIGN_BEGIN_NAMESPACE

namespace io {

SELFALIGN_DECL std::vector<validation_finding> validate_preferences(std::span<const preference_record> records,
                                                                          const validate_options& options) {
  std::vector<validation_finding> out;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const preference_record& r = records[i];
    const std::string who = r.provenance && !r.provenance->query_id.empty()
                                 ? selfalign::detail::format_text("record {} (id {})", i + 1, r.provenance->query_id)
                                 : selfalign::detail::format_text("record {}", i + 1);
    auto add = [&](finding_kind kind, std::string field, std::string what) {
      out.push_back({i, kind, field, selfalign::detail::format_text("{}: {} {}", who, field, what)});
    };
    bool utf8_ok = true;
    for (auto [field, text] : {std::pair<const char*, const std::string*>{"prompt", &r.prompt}, {"chosen", &r.chosen},
                               {"rejected", &r.rejected}}) {
      if (auto bad = first_invalid_utf8(*text)) {
        add(finding_kind::invalid_utf8, field, selfalign::detail::format_text("has invalid UTF-8 at byte {}", *bad + 1));
        utf8_ok = false;
      }
    }
    const std::string_view prompt = selfalign::detail::trim(r.prompt);
    for (auto [field, text] : {std::pair<const char*, const std::string*>{"chosen", &r.chosen}, {"rejected", &r.rejected}}) {
      if (selfalign::detail::trim(*text).empty()) {
        add(finding_kind::empty_answer, field, "is empty");
        continue;
      }
      if (prompt.size() >= options.min_prompt_chars && text->find(prompt) != std::string::npos)
        add(finding_kind::prompt_repeated, field, "repeats the prompt");
      for (const auto& marker : options.turn_markers)
        if (!marker.empty() && text->find(marker) != std::string::npos) {
          std::string shown;
          for (char c : marker) shown += c == '\n' ? std::string("\\n") : std::string(1, c);
          add(finding_kind::turn_marker, field, selfalign::detail::format_text("contains the turn marker \"{}\" (a fabricated next turn?)", shown));
          break;
        }
    }
    if (utf8_ok && !selfalign::detail::trim(r.chosen).empty() &&
        selfalign::detail::trim(r.chosen) == selfalign::detail::trim(r.rejected))
      out.push_back({i, finding_kind::identical, "chosen", selfalign::detail::format_text("{}: chosen and rejected are identical", who)});
    for (auto [field, v] : {std::pair<const char*, const std::optional<double>*>{"margin", &r.margin}, {"weight", &r.weight},
                            {"score_chosen", &r.score_chosen}, {"score_rejected", &r.score_rejected}})
      if (*v && !std::isfinite(**v)) add(finding_kind::non_finite, field, selfalign::detail::format_text("is {}", **v));
  }
  return out;
}

}  // namespace io
SELFALIGN_END_NAMESPACE
