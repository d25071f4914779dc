// selfalign: the exact prompt/answer boundary in a joint tokenization (DLMA self-reward scoring)
// SPDX-License-Identifier: MIT
#pragma once

// The official DLMA code tokenizes prompt + answer together and masks the first
// len(tokenize(prompt)) tokens. When the prompt's last token merges with the answer's first one
// (BPE joining "\n" and "I", say), that count is one off (algorithms.md §3.4). This header finds
// the boundary per sequence, with no padding assumptions, and applies a merge_policy.

#include <selfalign/detail/prologue.hpp>
#include <selfalign/dlma/config.hpp>
#include <selfalign/result.hpp>
#include <selfalign/types.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <span>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace dlma {

/// A joint tokenization split into the prompt the scorer conditions on and the scored tokens.
struct token_split {
  std::vector<token_id> prompt_ids;        ///< the condition
  std::vector<token_id> continuation_ids;  ///< the tokens whose log-probs are summed
  bool merged = false;                     ///< the joint tokenization did not start with tokenize(prompt)
  std::size_t prompt_alone = 0;            ///< len(tokenize(prompt))
  std::size_t common_prefix = 0;           ///< tokens shared by tokenize(prompt) and tokenize(prompt + answer)
  friend bool operator==(const token_split&, const token_split&) = default;
};

/// Splits `joint` = tokenize(prompt + answer) given `alone` = tokenize(prompt).
///
/// Without a merge (joint starts with alone) the split is exact: prompt = alone. With a merge,
/// `policy` decides: score_merged conditions on the shared prefix and scores everything after it
/// (the merged token included); skip_merged masks len(alone) tokens as the official code does;
/// reject returns errc::invalid_argument.
[[nodiscard]] inline result<token_split> split_at_boundary(std::span<const token_id> alone, std::span<const token_id> joint,
                                                           merge_policy policy) {
  token_split s;
  s.prompt_alone = alone.size();
  const auto mismatch = std::mismatch(alone.begin(), alone.end(), joint.begin(), joint.end());
  s.common_prefix = static_cast<std::size_t>(mismatch.first - alone.begin());
  s.merged = s.common_prefix != alone.size();
  std::size_t cut = s.common_prefix;
  if (s.merged) {
    switch (policy) {
      case merge_policy::score_merged: cut = s.common_prefix; break;
      case merge_policy::skip_merged: cut = std::min(alone.size(), joint.size()); break;
      case merge_policy::reject:
        return fail(errc::invalid_argument,
                    fmt::format("the prompt's last token merges with the answer's first token (prompt alone: {} tokens; "
                                "prompt + answer share only the first {}); merge_policy::reject",
                                alone.size(), s.common_prefix));
    }
  }
  s.prompt_ids.assign(joint.begin(), joint.begin() + static_cast<std::ptrdiff_t>(cut));
  s.continuation_ids.assign(joint.begin() + static_cast<std::ptrdiff_t>(cut), joint.end());
  return s;
}

}  // namespace dlma
SELFALIGN_END_NAMESPACE
