// selfalign: checks on preference data before training (empty, identical, echoed prompt, UTF-8)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
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
[[nodiscard]] SELFALIGN_DECL std::vector<validation_finding> validate_preferences(std::span<const preference_record> records,
                                                                          const validate_options& options = {});

}  // namespace io
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/io/impl/preference_validate.ipp>
#endif
