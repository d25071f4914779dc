#include <doctest/doctest.h>
#include <selfalign/search/beam.hpp>
#include <selfalign/search/greedy.hpp>
#include <selfalign/search/mcts.hpp>

#include <cmath>
#include <limits>
#include <set>

using namespace selfalign;

namespace {
// States are the choices made so far. Choice c has step reward {1: 1, 2: 3, 3: 2}; 0 marks a
// carried-forward state (reward 1). States whose length is in `skip_lengths` skip (one child, 0).
struct toy {
  using state_type = std::vector<int>;
  std::set<std::size_t> skip_lengths;
  std::size_t max_len = 100;
  bool nan_for_three = false;
  std::vector<std::size_t> batch_sizes;
  std::size_t evaluated = 0;

  result<state_type> initial() { return state_type{}; }
  bool skips(const state_type& s) const { return skip_lengths.count(s.size()) > 0; }
  bool is_terminal(const state_type& s) const { return s.size() >= max_len; }
  result<std::vector<std::vector<state_type>>> expand(std::span<const state_type> batch) {
    batch_sizes.push_back(batch.size());
    std::vector<std::vector<state_type>> out;
    for (const auto& s : batch) {
      std::vector<state_type> kids;
      if (skips(s)) {
        kids.push_back(s);
        kids.back().push_back(0);
      } else {
        for (int c : {1, 2, 3}) {
          kids.push_back(s);
          kids.back().push_back(c);
        }
      }
      out.push_back(std::move(kids));
    }
    return out;
  }
  result<std::vector<double>> evaluate(std::span<const state_type> batch) {
    std::vector<double> out;
    for (const auto& s : batch) {
      ++evaluated;
      if (s.empty()) out.push_back(0.5);
      else if (s.back() == 3 && nan_for_three) out.push_back(std::numeric_limits<double>::quiet_NaN());
      else out.push_back(s.back() == 2 ? 3.0 : s.back() == 3 ? 2.0 : 1.0);
    }
    return out;
  }
};
static_assert(search::SkippingSearchProblem<toy>);
static_assert(SearchStrategy<search::beam, toy> && SearchStrategy<search::greedy, toy> && SearchStrategy<search::mcts, toy>);
}  // namespace

TEST_CASE("beam expands depth-1 levels with at most width states each and returns the best path" * doctest::test_suite("search")) {
  toy p;
  search::beam b(search::beam_options{2, 4, 10, search::reward_aggregation::automatic});
  auto out = b.search(p);
  REQUIRE(out);
  CHECK(out->best == std::vector<int>{2, 2, 2});
  CHECK(out->best_score == 3.0);
  CHECK(p.batch_sizes == std::vector<std::size_t>{1, 2, 2});
  CHECK(b.stats().levels == 3);
  CHECK(b.stats().final_max_depth == 4);
  CHECK(b.stats().depth_increases == 0);
  CHECK(out->expansions == 5);
  CHECK(out->evaluations == 1 + 3 + 6 + 6);
}

TEST_CASE("beam ranks by the mean of path rewards, keeping expansion order on ties" * doctest::test_suite("search")) {
  toy p;
  search::beam b(search::beam_options{3, 3, 0, search::reward_aggregation::mean});
  auto out = b.search(p);
  REQUIRE(out);
  // Level 2 children of [2] and [3] tie at mean 2.5 ([2,3] and [3,2]); [2,2] = 3 wins overall.
  CHECK(out->best == std::vector<int>{2, 2});
  CHECK(out->best_score == 3.0);
  search::beam last(search::beam_options{3, 3, 0, search::reward_aggregation::last});
  toy p2;
  auto o2 = last.search(p2);
  CHECK(o2->best == std::vector<int>{2, 2});
}

TEST_CASE("beam grows the depth by one per level with a skipping state, at most max_depth_increase" * doctest::test_suite("search")) {
  toy p;
  p.skip_lengths = {1};  // both beam states at level 1 skip: one bump only
  search::beam b(search::beam_options{2, 4, 10, search::reward_aggregation::mean});
  auto out = b.search(p);
  REQUIRE(out);
  CHECK(b.stats().depth_increases == 1);
  CHECK(b.stats().final_max_depth == 5);
  CHECK(b.stats().levels == 4);
  CHECK(out->best.size() == 4);
  CHECK(out->best[1] == 0);  // carried forward at level 2
  CHECK(p.batch_sizes == std::vector<std::size_t>{1, 2, 2, 2});

  toy capped;
  capped.skip_lengths = {1, 2, 3, 4, 5, 6};
  search::beam c(search::beam_options{2, 4, 2, search::reward_aggregation::mean});
  auto o = c.search(capped);
  REQUIRE(o);
  CHECK(c.stats().depth_increases == 2);
  CHECK(c.stats().final_max_depth == 6);
  CHECK(c.stats().levels == 5);
  CHECK(o->best.size() == 5);
}

TEST_CASE("beam stops at terminal states from the problem" * doctest::test_suite("search")) {
  toy p;
  p.max_len = 2;
  search::beam b(search::beam_options{2, 20, 10, search::reward_aggregation::mean});
  auto out = b.search(p);
  REQUIRE(out);
  CHECK(out->best == std::vector<int>{2, 2});
  CHECK(b.stats().levels == 2);
}

TEST_CASE("a NaN step reward means no reward: it ranks last and is skipped by the mean" * doctest::test_suite("search")) {
  std::vector<double> r{4.0, std::numeric_limits<double>::quiet_NaN(), 2.0};
  CHECK(search::aggregate(r, search::reward_aggregation::mean) == 3.0);
  CHECK(search::aggregate(r, search::reward_aggregation::last) == 2.0);
  CHECK(search::aggregate(r, search::reward_aggregation::sum) == 6.0);
  CHECK(std::isnan(search::aggregate(std::vector<double>{}, search::reward_aggregation::mean)));
  CHECK(search::better(1.0, std::numeric_limits<double>::quiet_NaN()));
  CHECK_FALSE(search::better(std::numeric_limits<double>::quiet_NaN(), 1.0));
  toy p;
  p.nan_for_three = true;
  search::beam b(search::beam_options{2, 3, 0, search::reward_aggregation::mean});
  auto out = b.search(p);
  REQUIRE(out);
  CHECK(out->best == std::vector<int>{2, 2});
}

TEST_CASE("greedy is beam search of width one ranked by the last reward" * doctest::test_suite("search")) {
  toy p;
  search::greedy g(search::greedy_options{4, 10, search::reward_aggregation::last});
  auto out = g.search(p);
  REQUIRE(out);
  CHECK(out->best == std::vector<int>{2, 2, 2});
  CHECK(p.batch_sizes == std::vector<std::size_t>{1, 1, 1});
  CHECK(g.stats().levels == 3);
}

TEST_CASE("mcts expands one leaf per iteration and returns the best-valued node" * doctest::test_suite("search")) {
  toy p;
  search::mcts m(search::mcts_options{4, 1.0, 4, search::reward_aggregation::mean});
  auto out = m.search(p);
  REQUIRE(out);
  CHECK(out->expansions == 4);
  CHECK(p.batch_sizes == std::vector<std::size_t>{1, 1, 1, 1});
  CHECK(out->evaluations == 1 + 4 * 3);
  CHECK(out->best_score == 3.0);
  CHECK(out->best.front() == 2);

  toy small;
  search::mcts full(search::mcts_options{100, 1.0, 3, search::reward_aggregation::mean});
  auto o = full.search(small);
  REQUIRE(o);
  CHECK(o->stop_reason == "exhausted");
  CHECK(o->expansions == 4);  // the root and its three children; grandchildren are terminal
}
