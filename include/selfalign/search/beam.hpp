// selfalign: beam search, the DRPO paper's strategy (width 2, depth 20 growing on skips)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/search/common.hpp>

#include <algorithm>
#include <cstddef>
#include <numeric>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace search {

/// Options of beam. Defaults are the DRPO code's (`prompt_train.sh`, `run.py`).
struct beam_options {
  std::size_t width = 2;                ///< [C] beam_size
  std::size_t depth = 20;               ///< [C] states on a path, the initial one included
  std::size_t max_depth_increase = 10;  ///< [C] skip growth allowed in all
  reward_aggregation aggregation = reward_aggregation::automatic;  ///< [C] mean (W > 1), last (W = 1)
  /// [ours] with a SkippingSearchProblem: stop once the beam's best state is the carried (skipped)
  /// child of the previous best this many levels in a row and would skip again; 0 [C]: run to the
  /// depth budget.
  std::size_t converged_levels = 0;
};

/// Beam search over a SearchProblem, level by level, as the DRPO code runs it:
///
/// - a state is terminal when its path holds `depth` states or `p.is_terminal(s)`;
/// - each non-terminal beam state is expanded (all states of a level in one `expand` batch), the
///   children are scored with `evaluate` (a step reward; NaN = none), and a path's score is the
///   aggregation of its step rewards (the initial state's own score counts only while the path
///   has no other);
/// - the `width` best children (ties keep expansion order) form the next level;
/// - with a SkippingSearchProblem, a state that `skips` raises the depth budget by one, at most
///   once per level and `max_depth_increase` times in all;
/// - the answer is the best terminal state (ties: the first to become terminal).
class beam {
 public:
  explicit beam(beam_options options = {}) : opt_(options) {}

  [[nodiscard]] const beam_options& options() const noexcept { return opt_; }
  [[nodiscard]] static constexpr std::string_view name() noexcept { return "beam"; }
  /// How a path's score is computed from its step rewards: options().aggregation, or when that is
  /// automatic, mean for a width above 1 and last for width 1.
  [[nodiscard]] reward_aggregation aggregation() const noexcept {
    if (opt_.aggregation != reward_aggregation::automatic) return opt_.aggregation;
    return opt_.width > 1 ? reward_aggregation::mean : reward_aggregation::last;
  }
  /// Statistics of the last search.
  [[nodiscard]] const search_stats& stats() const noexcept { return stats_; }

  template <SearchProblem P>
  [[nodiscard]] result<search_outcome<typename P::state_type>> search(P& p) {
    using S = typename P::state_type;
    struct item {
      S state;
      std::vector<double> rewards;
      double score;
      std::size_t length;
      bool carried_best = false;  // the child of the previous level's best state, which skipped
    };
    stats_ = {};
    const reward_aggregation how = aggregation();
    auto root = detail::as_result<S>(p.initial());
    if (!root) return unexpected(root.error());
    double root_score = 0.0;
    {
      auto e = detail::as_result<std::vector<double>>(p.evaluate(std::span<const S>(&*root, 1)));
      if (!e) return unexpected(e.error());
      if (e->size() != 1) return fail(errc::internal, "search::beam: evaluate returned the wrong number of scores");
      root_score = e->front();
      ++stats_.evaluations;
    }
    std::vector<item> current;
    current.push_back(item{std::move(*root), {}, root_score, 1});
    std::vector<item> terminal;
    std::size_t max_depth = opt_.depth;
    const std::size_t width = std::max<std::size_t>(1, opt_.width);
    std::string stop_reason = "depth";

    std::size_t streak = 0;  // levels in a row whose best state is the carried child of the previous best
    for (std::size_t level = 0; level < max_depth + 1 && !current.empty(); ++level) {
      if constexpr (SkippingSearchProblem<P>) {
        if (opt_.converged_levels > 0) {
          streak = current.front().carried_best ? streak + 1 : 0;
          if (streak >= opt_.converged_levels && static_cast<bool>(p.skips(current.front().state))) {
            stop_reason = "converged";  // the best prompt skipped on converged_levels + 1 queries in a row
            break;
          }
        }
      }
      bool bumped = false;
      std::vector<std::size_t> expand_idx;
      for (std::size_t i = 0; i < current.size(); ++i) {
        const item& it = current[i];
        if (it.length >= max_depth || p.is_terminal(it.state)) {
          terminal.push_back(it);
          continue;
        }
        if constexpr (SkippingSearchProblem<P>) {
          if (!bumped && max_depth < opt_.depth + opt_.max_depth_increase && static_cast<bool>(p.skips(it.state))) {
            ++max_depth;
            ++stats_.depth_increases;
            bumped = true;
          }
        }
        if (level == max_depth) terminal.push_back(it);  // [C] kept as a result, still expanded
        expand_idx.push_back(i);
      }
      if (expand_idx.empty()) {
        current.clear();
        break;
      }
      bool best_skipped = false;
      if constexpr (SkippingSearchProblem<P>)
        best_skipped = opt_.converged_levels > 0 && expand_idx.front() == 0 && static_cast<bool>(p.skips(current.front().state));
      std::vector<S> batch;
      batch.reserve(expand_idx.size());
      for (std::size_t i : expand_idx) batch.push_back(current[i].state);
      auto children = detail::as_result<std::vector<std::vector<S>>>(p.expand(std::span<const S>(batch)));
      if (!children) return unexpected(children.error());
      if (children->size() != batch.size()) return fail(errc::internal, "search::beam: expand returned the wrong number of child lists");
      stats_.expansions += batch.size();
      ++stats_.levels;
      std::vector<S> flat;
      std::vector<std::size_t> parent_of;
      for (std::size_t b = 0; b < children->size(); ++b)
        for (auto& c : (*children)[b]) {
          flat.push_back(std::move(c));
          parent_of.push_back(expand_idx[b]);
        }
      auto scores = detail::as_result<std::vector<double>>(p.evaluate(std::span<const S>(flat)));
      if (!scores) return unexpected(scores.error());
      if (scores->size() != flat.size()) return fail(errc::internal, "search::beam: evaluate returned the wrong number of scores");
      stats_.evaluations += flat.size();
      std::vector<item> next;
      next.reserve(flat.size());
      for (std::size_t k = 0; k < flat.size(); ++k) {
        const item& parent = current[parent_of[k]];
        std::vector<double> rewards = parent.rewards;
        rewards.push_back((*scores)[k]);
        const double score = aggregate(rewards, how);
        next.push_back(item{std::move(flat[k]), std::move(rewards), score, parent.length + 1, parent_of[k] == 0 && best_skipped});
      }
      std::stable_sort(next.begin(), next.end(), [](const item& a, const item& b) { return better(a.score, b.score); });
      if (next.size() > width) next.resize(width);
      if constexpr (LevelObservingProblem<P>) {
        std::vector<S> kept;
        std::vector<double> kept_scores;
        for (const auto& it : next) {
          kept.push_back(it.state);
          kept_scores.push_back(it.score);
        }
        p.level_done(level + 1, std::span<const S>(kept), std::span<const double>(kept_scores));
      }
      current = std::move(next);
    }
    for (auto& it : current) terminal.push_back(std::move(it));  // defensive: nothing is lost
    if (terminal.empty()) return fail(errc::internal, "search::beam: no terminal state");
    std::stable_sort(terminal.begin(), terminal.end(), [](const item& a, const item& b) { return better(a.score, b.score); });
    stats_.final_max_depth = max_depth;
    item& best = terminal.front();
    const double best_score = best.rewards.empty() ? root_score : best.score;
    return search_outcome<S>{std::move(best.state), best_score, stats_.expansions, stats_.evaluations, stop_reason};
  }

 private:
  beam_options opt_;
  search_stats stats_;
};

}  // namespace search
SELFALIGN_END_NAMESPACE
