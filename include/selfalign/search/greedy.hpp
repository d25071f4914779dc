// selfalign: greedy search — beam search of width 1 (keep the best child, ranked by its own reward)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/search/beam.hpp>

#include <string_view>

SELFALIGN_BEGIN_NAMESPACE
namespace search {

/// Options of greedy; the depth rules are beam's.
struct greedy_options {
  std::size_t depth = 20;
  std::size_t max_depth_increase = 10;
  reward_aggregation aggregation = reward_aggregation::last;  ///< [C] W = 1 ranks by the last reward
};

/// Greedy search: at each level expand the single kept state and keep its best child. It is beam
/// search with width 1, so it shares beam's depth growth on skips and its trace semantics.
class greedy {
 public:
  explicit greedy(greedy_options options = {}) : opt_(options) {}
  [[nodiscard]] static constexpr std::string_view name() noexcept { return "greedy"; }
  /// How a path's score is computed: options' aggregation (automatic: last, as beam of width 1).
  [[nodiscard]] reward_aggregation aggregation() const noexcept {
    return opt_.aggregation != reward_aggregation::automatic ? opt_.aggregation : reward_aggregation::last;
  }
  [[nodiscard]] const search_stats& stats() const noexcept { return impl_.stats(); }

  template <SearchProblem P>
  [[nodiscard]] result<search_outcome<typename P::state_type>> search(P& p) {
    impl_ = beam(beam_options{1, opt_.depth, opt_.max_depth_increase, opt_.aggregation});
    return impl_.search(p);
  }

 private:
  greedy_options opt_;
  beam impl_;
};

}  // namespace search
SELFALIGN_END_NAMESPACE
