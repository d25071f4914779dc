// selfalign: Monte Carlo tree search (UCT) over a SearchProblem
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/search/common.hpp>

#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace search {

/// Options of mcts (ours; the DRPO code ships MCTS but runs beam search).
struct mcts_options {
  std::size_t iterations = 16;   ///< expansions to make (each expands one leaf)
  double exploration = 1.0;      ///< the UCT constant c
  std::size_t depth = 20;        ///< states on a path, the initial one included
  reward_aggregation aggregation = reward_aggregation::mean;  ///< a node's value from its path rewards
};

/// UCT: each iteration descends from the root by the highest upper confidence bound
/// (value + c * sqrt(ln N_parent / N_child); unvisited children first; ties by order), expands the
/// leaf it reaches (all its children at once, evaluated in one batch) and backs the children's
/// values up to the root. A node's value is the aggregation of its path's step rewards (NaN
/// counts as 0 in backups). The answer is the node with the best value (ties: the first
/// created). Depth growth on skips does not apply: the tree has no levels to grow.
class mcts {
 public:
  explicit mcts(mcts_options options = {}) : opt_(options) {}
  [[nodiscard]] static constexpr std::string_view name() noexcept { return "mcts"; }
  /// How a node's value is computed from its path's rewards (automatic: mean).
  [[nodiscard]] reward_aggregation aggregation() const noexcept {
    return opt_.aggregation != reward_aggregation::automatic ? opt_.aggregation : reward_aggregation::mean;
  }
  [[nodiscard]] const search_stats& stats() const noexcept { return stats_; }

  template <SearchProblem P>
  [[nodiscard]] result<search_outcome<typename P::state_type>> search(P& p) {
    using S = typename P::state_type;
    struct node {
      S state;
      std::optional<std::size_t> parent;
      std::vector<std::size_t> children;
      std::vector<double> rewards;
      double value;
      std::size_t length;
      double visits = 0;
      double total = 0;
      bool expanded = false;
      bool terminal = false;
    };
    stats_ = {};
    auto root = detail::as_result<S>(p.initial());
    if (!root) return unexpected(root.error());
    auto e = detail::as_result<std::vector<double>>(p.evaluate(std::span<const S>(&*root, 1)));
    if (!e) return unexpected(e.error());
    if (e->size() != 1) return fail(errc::internal, "search::mcts: evaluate returned the wrong number of scores");
    ++stats_.evaluations;
    std::vector<node> tree;
    const double root_value = e->front();
    tree.push_back(node{std::move(*root), std::nullopt, {}, {}, root_value, 1});
    tree[0].terminal = opt_.depth <= 1 || p.is_terminal(tree[0].state);
    auto zero_nan = [](double v) { return std::isnan(v) ? 0.0 : v; };
    std::string stop_reason = "iterations";

    for (std::size_t it = 0; it < opt_.iterations; ++it) {
      // Selection: descend through expanded nodes with children.
      std::size_t cur = 0;
      std::vector<std::size_t> path{0};
      while (tree[cur].expanded && !tree[cur].children.empty()) {
        std::size_t pick = tree[cur].children.front();
        double best = -std::numeric_limits<double>::infinity();
        for (std::size_t c : tree[cur].children) {
          const node& n = tree[c];
          if (n.terminal && n.expanded) continue;
          const double u = n.visits == 0 ? std::numeric_limits<double>::infinity()
                                         : n.total / n.visits + opt_.exploration * std::sqrt(std::log(std::max(1.0, tree[cur].visits)) / n.visits);
          if (u > best) {
            best = u;
            pick = c;
          }
        }
        if (best == -std::numeric_limits<double>::infinity()) break;  // every child is exhausted
        cur = pick;
        path.push_back(cur);
      }
      if (tree[cur].expanded || tree[cur].terminal) {
        // Nothing left to expand below this node: mark it exhausted so selection avoids it.
        tree[cur].expanded = true;
        tree[cur].terminal = true;
        bool any_open = false;
        for (const auto& n : tree) any_open = any_open || (!n.expanded && !n.terminal);
        if (!any_open) {
          stop_reason = "exhausted";
          break;
        }
        for (std::size_t k : path) {
          tree[k].visits += 1;
          tree[k].total += zero_nan(tree[cur].value);
        }
        continue;
      }
      // Expansion and evaluation.
      std::vector<S> batch{tree[cur].state};
      auto kids = detail::as_result<std::vector<std::vector<S>>>(p.expand(std::span<const S>(batch)));
      if (!kids) return unexpected(kids.error());
      if (kids->size() != 1) return fail(errc::internal, "search::mcts: expand returned the wrong number of child lists");
      ++stats_.expansions;
      ++stats_.levels;
      std::vector<S>& children = kids->front();
      auto scores = detail::as_result<std::vector<double>>(p.evaluate(std::span<const S>(children)));
      if (!scores) return unexpected(scores.error());
      if (scores->size() != children.size()) return fail(errc::internal, "search::mcts: evaluate returned the wrong number of scores");
      stats_.evaluations += children.size();
      tree[cur].expanded = true;
      double added = 0;
      for (std::size_t k = 0; k < children.size(); ++k) {
        std::vector<double> rewards = tree[cur].rewards;
        rewards.push_back((*scores)[k]);
        const double value = aggregate(rewards, opt_.aggregation);
        node n{std::move(children[k]), cur, {}, std::move(rewards), value, tree[cur].length + 1};
        n.terminal = n.length >= opt_.depth || p.is_terminal(n.state);
        n.visits = 1;
        n.total = zero_nan(value);
        added += n.total;
        tree[cur].children.push_back(tree.size());
        tree.push_back(std::move(n));
      }
      for (std::size_t k : path) {
        tree[k].visits += static_cast<double>(children.size());
        tree[k].total += added;
      }
    }
    std::size_t best = 0;
    for (std::size_t k = 1; k < tree.size(); ++k)
      if (best == 0 || better(tree[k].value, tree[best].value)) best = k;
    const double best_value = tree[best].value;
    return search_outcome<S>{std::move(tree[best].state), best_value, stats_.expansions, stats_.evaluations, stop_reason};
  }

 private:
  mcts_options opt_;
  search_stats stats_;
};

}  // namespace search
SELFALIGN_END_NAMESPACE
