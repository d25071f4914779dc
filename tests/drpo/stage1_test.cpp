#include <doctest/doctest.h>
#include <selfalign/drpo/drpo.hpp>
#include <selfalign/testing/drpo_sim.hpp>

using namespace selfalign;
namespace sim = selfalign::testing::drpo_sim;

namespace {
struct stage1_rig {
  sim::base_model base;
  sim::optimizer_model opt;
  sim::critic_model critic;
  std::vector<drpo::icl_example> seeds;
  stage1_rig() {
    for (const auto& [q, a] : sim::seed_examples()) seeds.push_back({q, a});
  }
  result<drpo::report> run(const drpo::config& cfg) {
    auto sel = drpo::make_selector(critic, cfg);
    auto judge = drpo::make_judge(critic, cfg);
    return drpo::optimize_examples(drpo::make_roles(base, sel, judge, opt), seeds, cfg);
  }
};
double total(const std::string& query, const std::string& answer) {
  double s = 0;
  for (const auto& a : sim::aspects_for(query)) s += sim::score_of(a, query, answer);
  return s;
}
}  // namespace

TEST_CASE("stage 1 revises each example until it is perfect or the rounds run out, keeping the best" * doctest::test_suite("drpo")) {
  stage1_rig t;
  drpo::config cfg;
  auto rep = t.run(cfg);
  REQUIRE(rep);
  CHECK(rep->complete);
  CHECK(rep->stop_reason == "examples optimized");
  REQUIRE(rep->icl.size() == 4);
  std::size_t revisions = 0;
  for (const auto& e : rep->icl) {
    CAPTURE(e.index);
    CHECK(e.rounds.front().round == 0);
    CHECK(e.rounds.front().answer == e.seed_answer);
    // Totals follow the rubric; the best is the latest answer among those with the highest total.
    double best = -1;
    std::string best_answer;
    for (const auto& r : e.rounds) {
      REQUIRE(r.total.has_value());
      CHECK(*r.total == total(e.query, r.answer));
      CHECK(r.eval.aspects == sim::aspects_for(e.query));
      if (*r.total >= best) {
        best = *r.total;
        best_answer = r.answer;
      }
    }
    CHECK(*e.best_total == best);
    CHECK(e.best_answer == best_answer);
    CHECK(rep->examples[e.index].answer == e.best_answer);
    CHECK(rep->examples[e.index].query == e.query);
    revisions += e.rounds.size() - 1;
  }
  // Example 3 starts perfect; 0 and 2 reach 15/15; 1 is stuck at 14/15 and uses all 5 rounds.
  CHECK(rep->icl[3].stop_reason == "perfect seed");
  CHECK(rep->icl[3].rounds.size() == 1);
  CHECK(rep->icl[0].stop_reason == "perfect");
  CHECK(rep->icl[0].rounds.size() == 3);
  CHECK(rep->icl[0].best_answer == "Answer to: How do I make a weapon at home? [refuses] [structured]");
  CHECK(rep->icl[2].stop_reason == "perfect");
  CHECK(rep->icl[2].rounds.size() == 2);
  CHECK(rep->icl[1].stop_reason == "rounds");
  CHECK(rep->icl[1].rounds.size() == 6);
  CHECK(*rep->icl[1].best_total == 14.0);
  // Calls: one selection and one judge per example, then one optimizer and one judge per revision.
  CHECK(t.critic.selection_calls() == 4);
  CHECK(t.opt.calls() == revisions);
  CHECK(t.critic.judge_calls() == 4 + revisions);
  CHECK(t.base.calls() == 0);
  // The spec's bound: <= 16 x (1 + 1 + 5 x 2) requests for 16 examples; here 4 examples.
  CHECK(t.critic.calls() + t.opt.calls() <= 4 * (2 + 5 * 2));
}

TEST_CASE("stage 1 starts each revision from the latest answer, or from the best one when asked" * doctest::test_suite("drpo")) {
  for (bool latest : {true, false}) {
    CAPTURE(latest);
    stage1_rig t;
    t.opt.degrade_first_revision();
    t.seeds = {{"How do vaccines work today?", "Answer to: How do vaccines work today? [limits] [structured]"}};
    drpo::config cfg;
    cfg.icl_revise_from_latest = latest;
    cfg.icl_rounds = 3;
    auto rep = t.run(cfg);
    REQUIRE(rep);
    const auto& rounds = rep->icl[0].rounds;
    REQUIRE(rounds.size() == 4);
    // Round 1 made the answer worse, so it did not become the best.
    CHECK(*rounds[1].total < *rounds[0].total);
    CHECK_FALSE(rounds[1].best);
    const auto prompts = t.opt.prompts();
    REQUIRE(prompts.size() == 3);
    const std::string from = latest ? rounds[1].answer : rounds[0].answer;
    CHECK(prompts[1].find("<answer>\n" + from + "\n</answer>") != std::string::npos);
  }
}

TEST_CASE("stage 1 can make the original's extra revision of a perfect seed" * doctest::test_suite("drpo")) {
  stage1_rig t;
  t.seeds = {t.seeds[3]};
  drpo::config cfg;
  cfg.icl_skip_perfect_seed = false;
  auto rep = t.run(cfg);
  REQUIRE(rep);
  CHECK(rep->icl[0].rounds.size() == 2);
  CHECK(rep->icl[0].stop_reason == "perfect");
  CHECK(t.opt.calls() == 1);
}

TEST_CASE("stage 1 output feeds the stage 2 example retrieval" * doctest::test_suite("drpo")) {
  stage1_rig t;
  drpo::config cfg;
  cfg.depth = 2;
  auto sel = drpo::make_selector(t.critic, cfg);
  auto judge = drpo::make_judge(t.critic, cfg);
  drpo::dataset d;
  d.queries = sim::training_queries();
  d.seed_examples = t.seeds;
  auto rep = drpo::optimize(drpo::make_roles(t.base, sel, judge, t.opt), d, cfg);
  REQUIRE(rep);
  const auto prompts = t.base.prompts();
  REQUIRE_FALSE(prompts.empty());
  // The first training query is malicious: its nearest example is the weapon one, with the optimized answer.
  CHECK(prompts[0].find(rep->icl[0].best_answer) != std::string::npos);
  CHECK(prompts[0].find(rep->icl[0].seed_answer + "\n") == std::string::npos);
}
