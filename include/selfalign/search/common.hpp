// selfalign: shared pieces of the search strategies — reward aggregation along a path and the
// optional hooks a SearchProblem may offer (skip/depth growth, level reports)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>

#include <cmath>
#include <concepts>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace search {

/// How the rewards along a path make the path's score.
enum class reward_aggregation {
  automatic,  ///< beam: mean when the width is above 1, last when it is 1 (the DRPO code's choice)
  mean,
  last,
  sum,
};

[[nodiscard]] constexpr std::string_view to_string(reward_aggregation a) noexcept {
  switch (a) {
    case reward_aggregation::automatic: return "automatic";
    case reward_aggregation::mean: return "mean";
    case reward_aggregation::last: return "last";
    case reward_aggregation::sum: return "sum";
  }
  return "automatic";
}

/// Aggregates step rewards. A NaN reward means "no reward" (e.g. the judge output could not be
/// read): mean and sum skip it, last takes the latest defined one. NaN when nothing is defined.
[[nodiscard]] inline double aggregate(std::span<const double> rewards, reward_aggregation how) {
  double sum = 0;
  std::size_t n = 0;
  double last = std::numeric_limits<double>::quiet_NaN();
  for (double r : rewards) {
    if (std::isnan(r)) continue;
    sum += r;
    ++n;
    last = r;
  }
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  switch (how) {
    case reward_aggregation::last: return last;
    case reward_aggregation::sum: return sum;
    default: return sum / static_cast<double>(n);
  }
}

/// Orders scores for ranking: NaN (no score) ranks below every number.
[[nodiscard]] inline bool better(double a, double b) noexcept {
  if (std::isnan(a)) return false;
  if (std::isnan(b)) return true;
  return a > b;
}

/// Optional hook: `p.skips(s)` is true when expanding `s` will not propose anything new but carry
/// the state forward (DRPO: the prompt already scores above the skip threshold, or its judgement
/// could not be read). The beam then grows its depth budget by one (at most once per level, at
/// most `max_depth_increase` in all), as the DRPO code does.
template <class P>
concept SkippingSearchProblem = SearchProblem<P> && requires(P& p, const typename P::state_type& s) {
  { p.skips(s) } -> std::convertible_to<bool>;
};

/// Optional hook: `p.level_done(level, kept, scores)` is told which states a level kept and their
/// path scores (for traces and progress reports).
template <class P>
concept LevelObservingProblem = SearchProblem<P> &&
    requires(P& p, std::size_t level, std::span<const typename P::state_type> kept, std::span<const double> scores) {
      p.level_done(level, kept, scores);
    };

/// What a strategy did, beyond search_outcome.
struct search_stats {
  std::size_t levels = 0;          ///< levels expanded
  std::size_t final_max_depth = 0; ///< the depth budget at the end (after skip growth)
  std::size_t depth_increases = 0;
  std::size_t expansions = 0;
  std::size_t evaluations = 0;
  friend bool operator==(const search_stats&, const search_stats&) = default;
};

}  // namespace search
SELFALIGN_END_NAMESPACE
