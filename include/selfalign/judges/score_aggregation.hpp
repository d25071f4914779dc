// selfalign: judges::score_aggregation — how a rubric judgement's per-aspect scores become its
// score (selfalign's mean over the requested aspects, or the official DRPO reward)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>

SELFALIGN_BEGIN_NAMESPACE
namespace judges {

/// How a judgement's per-aspect scores become its score.
enum class score_aggregation {
  /// [ours] the weighted mean over the requested criteria, each score as the judge wrote it
  /// (4.5 stays 4.5); aspects the judge added on its own are ignored; a requested aspect it left
  /// out makes the output unreadable.
  requested_mean,
  /// [C] the official DRPO reward: the plain mean over every aspect the judge returned (requested
  /// or not), each score truncated toward zero as Python's int() does (4.5 -> 4). A requested
  /// aspect the judge left out is not an error, as in the original; an entry without a readable
  /// score is (the original crashes on it).
  official,
};

}  // namespace judges
SELFALIGN_END_NAMESPACE
