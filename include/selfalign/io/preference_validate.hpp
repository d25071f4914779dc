// selfalign: checks on preference data before training (empty, identical, echoed prompt, UTF-8)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/config.hpp>
#include <selfalign/detail/strings.hpp>
#include <selfalign/io/preference_export.hpp>
#include <selfalign/io/utf8.hpp>

#include <fmt/format.h>

#include <cmath>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace io {

/// What is wrong with a preference record.
enum class finding_kind {
  empty_answer,      ///< chosen or rejected is empty (or only whitespace)
  identical,         ///< chosen and rejected are the same text (after trimming): nothing to learn
  prompt_repeated,   ///< an answer contains the prompt verbatim (an echo; the model restated the query)
  turn_marker,       ///< an answer contains a turn marker (a fabricated next turn, e.g. "\nUSER:")
  invalid_utf8,      ///< prompt, chosen or rejected is not valid UTF-8 (trainers' tokenizers reject it)
  non_finite,        ///< margin, weight or a score is NaN or infinite
};

[[nodiscard]] constexpr std::string_view to_string(finding_kind k) noexcept {
  switch (k) {
    case finding_kind::empty_answer: return "empty_answer";
    case finding_kind::identical: return "identical";
    case finding_kind::prompt_repeated: return "prompt_repeated";
    case finding_kind::turn_marker: return "turn_marker";
    case finding_kind::invalid_utf8: return "invalid_utf8";
    case finding_kind::non_finite: return "non_finite";
  }
  return "unknown";
}

/// One problem found in one record.
struct validation_finding {
  std::size_t index = 0;  ///< 0-based record index (line index+1 in an exported file)
  finding_kind kind = finding_kind::empty_answer;
  std::string field;      ///< "chosen", "rejected", "prompt", "margin", ...
  std::string message;    ///< "record 3: rejected is empty"
  friend bool operator==(const validation_finding&, const validation_finding&) = default;
};

/// What the validator checks.
struct validate_options {
  /// A prompt shorter than this (after trimming, in bytes) is not searched for inside the
  /// answers: a short query ("Hi") occurs in ordinary text by chance.
  std::size_t min_prompt_chars = 16;
  /// Markers of a fabricated next turn. The DLMA layout has no stop strings, so a model may go on
  /// to write the user's next line.
  std::vector<std::string> turn_markers = {"\nUSER:", "\n\nHuman:"};
};

/// Checks every record and returns the findings, in record order and, within a record, in the
/// order prompt, chosen, rejected, pair checks, numbers. An empty result means nothing was found.
[[nodiscard]] inline std::vector<validation_finding> validate_preferences(std::span<const preference_record> records,
                                                                          const validate_options& options = {}) {
  std::vector<validation_finding> out;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const preference_record& r = records[i];
    const std::string who = r.provenance && !r.provenance->query_id.empty()
                                 ? fmt::format("record {} (id {})", i + 1, r.provenance->query_id)
                                 : fmt::format("record {}", i + 1);
    auto add = [&](finding_kind kind, std::string field, std::string what) {
      out.push_back({i, kind, field, fmt::format("{}: {} {}", who, field, what)});
    };
    bool utf8_ok = true;
    for (auto [field, text] : {std::pair<const char*, const std::string*>{"prompt", &r.prompt}, {"chosen", &r.chosen},
                               {"rejected", &r.rejected}}) {
      if (auto bad = first_invalid_utf8(*text)) {
        add(finding_kind::invalid_utf8, field, fmt::format("has invalid UTF-8 at byte {}", *bad + 1));
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
          add(finding_kind::turn_marker, field, fmt::format("contains the turn marker \"{}\" (a fabricated next turn?)", shown));
          break;
        }
    }
    if (utf8_ok && !selfalign::detail::trim(r.chosen).empty() &&
        selfalign::detail::trim(r.chosen) == selfalign::detail::trim(r.rejected))
      out.push_back({i, finding_kind::identical, "chosen", fmt::format("{}: chosen and rejected are identical", who)});
    for (auto [field, v] : {std::pair<const char*, const std::optional<double>*>{"margin", &r.margin}, {"weight", &r.weight},
                            {"score_chosen", &r.score_chosen}, {"score_rejected", &r.score_rejected}})
      if (*v && !std::isfinite(**v)) add(finding_kind::non_finite, field, fmt::format("is {}", **v));
  }
  return out;
}

}  // namespace io
SELFALIGN_END_NAMESPACE
