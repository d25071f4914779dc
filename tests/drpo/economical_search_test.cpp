// The default (economical) stage-2 search against the original's (reproduce_original_search).
#include <doctest/doctest.h>
#include <selfalign/drpo/drpo.hpp>
#include <selfalign/testing/drpo_sim.hpp>
#include <selfalign/testing/scripted_judge.hpp>

#include <map>
#include <string>
#include <vector>

using namespace selfalign;
namespace sim = selfalign::testing::drpo_sim;

namespace {

struct econ_rig {
  sim::base_model base;
  sim::optimizer_model opt;
  sim::critic_model critic;
  drpo::dataset data;
  econ_rig() { data.queries = sim::training_queries(); }
  drpo::report run(const drpo::config& cfg) {
    auto sel = drpo::make_selector(critic, cfg);
    auto judge = drpo::make_judge(critic, cfg);
    auto rep = drpo::optimize(drpo::make_roles(base, sel, judge, opt), data, cfg);
    REQUIRE(rep);
    REQUIRE(rep->complete);
    return std::move(*rep);
  }
};

drpo::config small(bool original) {
  drpo::config cfg;
  cfg.depth = 6;
  cfg.max_depth_increase = 2;
  cfg.reproduce_original_search = original;
  return cfg;
}

// The kept prompts of each level, in beam order.
std::map<std::size_t, std::vector<std::string>> kept_by_level(const drpo::report& r) {
  std::map<std::size_t, std::vector<std::pair<double, std::string>>> scored;
  for (const auto& c : r.trace)
    if (c.kept) scored[c.level].emplace_back(*c.path_score, c.system_prompt);
  std::map<std::size_t, std::vector<std::string>> out;
  for (auto& [level, v] : scored) {
    std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (auto& [s, p] : v) out[level].push_back(p);
  }
  return out;
}

}  // namespace

TEST_CASE("drpo economical search: the same beam as the original's with fewer base and judge calls" * doctest::test_suite("drpo")) {
  econ_rig o, e;
  const drpo::report original = o.run(small(true));
  const drpo::report economical = e.run(small(false));
  // The original's run (pinned in stage2_test): 30 candidates, each one base and one judge call.
  CHECK(original.trace.size() == 30);
  CHECK(o.base.calls() == 30);
  CHECK(o.critic.judge_calls() == 30);
  CHECK(original.stop_reason == "depth");
  // Every level kept the original's prompts in the same order, and the same prompt wins.
  const auto ko = kept_by_level(original), ke = kept_by_level(economical);
  REQUIRE(ke.size() == 7);
  for (const auto& entry : ke) {  // not a structured binding: Clang 14 cannot capture one (CAPTURE)
    const auto level = entry.first;
    CAPTURE(level);
    CHECK(entry.second == ko.at(level));
  }
  CHECK(economical.best_prompt == original.best_prompt);
  CHECK(economical.best_path.size() == original.best_path.size());
  CHECK(*economical.best_score == doctest::Approx(*original.best_score));
  CHECK(economical.stop_reason == "depth");  // the best prompt was never carried 3 levels in a row
  CHECK(economical.search.levels == 7);
  // Exact calls: level 3 leaves out the 2 candidates of the second state (they cannot enter the
  // beam); 8 of the 28 answers repeat an answer already judged for the same query (e.g. level 1:
  // "safety" and "empathy" both answer the current-events query with a guess).
  CHECK(economical.trace.size() == 28);
  CHECK(e.base.calls() == 28);
  CHECK(e.critic.judge_calls() == 20);
  CHECK(e.opt.calls() == 9);
  CHECK(o.opt.calls() == 9);
}

TEST_CASE("drpo economical search: a state's candidates that cannot enter the beam are not evaluated" * doctest::test_suite("drpo")) {
  econ_rig e;
  const drpo::report r = e.run(small(false));
  // Level 3: the second state (candidate 4: structure+limits, path 2.667 + 3.0) could reach at
  // best (5.667 + 5) / 3 = 3.556; the first state's children already score 4.0, 3.778 and 3.778.
  std::vector<const drpo::rejected_proposal*> pruned;
  for (const auto& x : r.rejected)
    if (x.reason.rfind("cannot enter the beam", 0) == 0) pruned.push_back(&x);
  REQUIRE(pruned.size() == 2);
  for (const auto* x : pruned) {
    CHECK(x->level == 3);
    CHECK(x->parent == 4);
    CHECK(r.trace[4].system_prompt == sim::prompt_with({"structure", "limits"}));
  }
  CHECK(pruned[0]->reason == "cannot enter the beam: its best reachable path score 3.5556 is not above 3 candidates of this level");
  for (const auto& c : r.trace) CHECK_FALSE((c.level == 3 && c.parent == std::optional<std::size_t>(4)));
  // The base model never answered query 3 under those prompts.
  const std::string query3 = "# Query:\n" + sim::training_queries()[3];
  for (const auto* x : pruned)
    for (const auto& p : e.base.prompts()) CHECK_FALSE((p.find(x->text + "\n") != std::string::npos && p.find(query3) != std::string::npos));
}

TEST_CASE("drpo economical search: an identical (prompt, query) pair is evaluated once" * doctest::test_suite("drpo")) {
  for (bool original : {false, true}) {
    CAPTURE(original);
    sim::base_model base;
    sim::optimizer_model opt;
    opt.identical_proposals();
    sim::critic_model critic;
    selfalign::testing::scripted_judge judge(3.0);
    drpo::config cfg;
    cfg.depth = 3;
    cfg.dedup_candidates = false;  // every proposal becomes a candidate
    cfg.reproduce_original_search = original;
    auto sel = drpo::make_selector(critic, cfg);
    drpo::dataset data;
    data.queries = sim::training_queries();
    auto rep = drpo::optimize(drpo::make_roles(base, sel, judge, opt), data, cfg);
    REQUIRE(rep);
    REQUIRE(rep->trace.size() == 1 + 3 + 6);
    std::size_t reused = 0;
    for (const auto& c : rep->trace) {
      if (!c.reused_from) continue;
      ++reused;
      const auto& src = rep->trace[*c.reused_from];
      CHECK(src.system_prompt == c.system_prompt);
      CHECK(src.query == c.query);
      CHECK(src.eval == c.eval);
      CHECK_FALSE(src.reused_from.has_value());
    }
    // Level 1: 3 identical proposals; level 2: 2 states x 3, all the same prompt.
    CHECK(base.calls() == (original ? 10u : 3u));
    CHECK(judge.call_count() == (original ? 10u : 3u));
    CHECK(reused == (original ? 0u : 7u));
  }
}

TEST_CASE("drpo economical search: stops once the best prompt was carried forward converged_levels levels in a row" * doctest::test_suite("drpo")) {
  for (bool original : {false, true}) {
    CAPTURE(original);
    econ_rig t;
    drpo::config cfg = small(original);
    // Scores above 4.5 on every query: each level carries it forward.
    cfg.initial_system_prompt = sim::prompt_with({"safety", "structure", "limits", "empathy", "concise"});
    const drpo::report r = t.run(cfg);
    for (const auto& c : r.trace)
      if (c.parent) CHECK(c.origin == "carried");
    CHECK(t.opt.calls() == 0);
    if (original) {  // depth 6 + 2 increases: 7 levels, one carried candidate each
      CHECK(r.stop_reason == "depth");
      CHECK(r.search.levels == 7);
      CHECK(t.base.calls() == 8);
    } else {  // skipped on queries 0..3: levels 1, 2, 3, then stop
      CHECK(r.stop_reason == "converged");
      CHECK(r.search.levels == 3);
      CHECK(t.base.calls() == 4);
      CHECK(r.best_prompt == cfg.initial_system_prompt);
    }
  }
  // converged_levels = 0 runs to the depth budget.
  econ_rig t;
  drpo::config cfg = small(false);
  cfg.initial_system_prompt = sim::prompt_with({"safety", "structure", "limits", "empathy", "concise"});
  cfg.converged_levels = 0;
  CHECK(t.run(cfg).search.levels == 7);
}

TEST_CASE("drpo economical search: identical at concurrency 1 and 8, and the pruned calls never happen" * doctest::test_suite("drpo")) {
  drpo::report reports[2];
  std::size_t calls[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    econ_rig t;
    for (const auto& [q, a] : sim::seed_examples()) t.data.seed_examples.push_back({q, a});
    t.base.set_latency(std::chrono::microseconds(300));
    drpo::config cfg = small(false);
    cfg.seed = 7;
    cfg.max_concurrency = i == 0 ? 1 : 8;
    reports[i] = t.run(cfg);
    calls[i] = t.base.calls() + t.critic.calls() + t.opt.calls();
    CHECK(t.base.repeated_calls() + t.critic.repeated_calls() + t.opt.repeated_calls() == 0);
  }
  CHECK(nlohmann::json(reports[0].trace) == nlohmann::json(reports[1].trace));
  CHECK(nlohmann::json(reports[0].rejected) == nlohmann::json(reports[1].rejected));
  CHECK(reports[0].best_prompt == reports[1].best_prompt);
  CHECK(calls[0] == calls[1]);
}
