#include <doctest/doctest.h>
#include <selfalign/drpo/drpo.hpp>
#include <selfalign/testing/drpo_sim.hpp>
#include <selfalign/testing/scripted_generator.hpp>
#include <selfalign/testing/scripted_judge.hpp>

#include <algorithm>
#include <map>
#include <set>

using namespace selfalign;
namespace sim = selfalign::testing::drpo_sim;

namespace {

drpo::config small_config() {
  drpo::config cfg;
  cfg.depth = 6;
  cfg.max_depth_increase = 2;
  return cfg;
}

struct stage2_rig {
  sim::base_model base;
  sim::optimizer_model opt;
  sim::critic_model critic;
  drpo::dataset data;
  stage2_rig() { data.queries = sim::training_queries(); }
  result<drpo::report> run(const drpo::config& cfg) {
    auto sel = drpo::make_selector(critic, cfg);
    auto judge = drpo::make_judge(critic, cfg);
    return drpo::optimize(drpo::make_roles(base, sel, judge, opt), data, cfg);
  }
  template <class Strategy>
  result<drpo::report> run(const drpo::config& cfg, Strategy& s) {
    auto sel = drpo::make_selector(critic, cfg);
    auto judge = drpo::make_judge(critic, cfg);
    return drpo::optimize(drpo::make_roles(base, sel, judge, opt), data, cfg, s);
  }
};

std::string keys_of(const std::string& prompt) {
  std::string out;
  for (const auto& k : sim::principles_in(prompt)) out += (out.empty() ? "" : "+") + k;
  return out.empty() ? "-" : out;
}

// One line per candidate: id<parent L level b/c origin principles q=query reward kept.
std::vector<std::string> compact(const drpo::report& r) {
  std::vector<std::string> out;
  for (const auto& c : r.trace)
    out.push_back(fmt::format("{}<{} L{} b{}c{} {} {} q{} r={:.3f}{}", c.id, c.parent ? static_cast<long>(*c.parent) : -1L, c.level,
                              c.beam_index, c.candidate_index, c.origin, keys_of(c.system_prompt), c.query_index,
                              c.eval.reward.value_or(-1.0), c.kept ? " kept" : ""));
  return out;
}

bool parent_skipped(const drpo::report& r, const drpo::candidate& parent, double threshold = 4.5) {
  const auto& v = parent.eval.verdict;
  if (!v.ok()) return true;
  bool all5 = true;
  for (const auto& c : v.criteria) all5 = all5 && c.score >= 5.0;
  (void)r;
  return all5 || *parent.eval.reward > threshold;
}

}  // namespace

TEST_CASE("drpo beam: rewards follow the rubric, the beam keeps the top two paths, and the best terminal path wins" * doctest::test_suite("drpo")) {
  stage2_rig t;
  auto rep = t.run(small_config());
  REQUIRE(rep);
  CHECK(rep->complete);
  CHECK(rep->strategy == "beam");
  REQUIRE(rep->trace.size() > 10);
  // Every reward is the simulated rubric's mean for that prompt on that query.
  for (const auto& c : rep->trace) {
    CAPTURE(c.id);
    REQUIRE(c.eval.reward.has_value());
    CHECK(*c.eval.reward == doctest::Approx(sim::reward_for(c.query, sim::principles_in(c.system_prompt))));
    CHECK(c.query == t.data.queries[c.query_index]);
    CHECK(c.query_index == c.level);
    CHECK(c.eval.aspects == sim::aspects_for(c.query));
    CHECK(c.eval.verdict.criteria.size() == c.eval.aspects.size());
  }
  // Per level, the kept candidates are the two best path means (ties: lower id).
  std::map<std::size_t, std::vector<const drpo::candidate*>> by_level;
  for (const auto& c : rep->trace)
    if (c.level > 0) by_level[c.level].push_back(&c);
  for (auto& entry : by_level) {
    const std::size_t level = entry.first;
    auto& cs = entry.second;
    CAPTURE(level);
    auto sorted = cs;
    std::stable_sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return *a->path_score > *b->path_score; });
    for (std::size_t i = 0; i < sorted.size(); ++i) CHECK(sorted[i]->kept == (i < 2));
    // A path score is the mean of the rewards along the path (the initial prompt's excluded).
    for (auto* c : cs) {
      double sum = 0;
      int n = 0;
      for (const drpo::candidate* k = c; k->parent; k = &rep->trace[*k->parent]) {
        sum += *k->eval.reward;
        ++n;
      }
      CHECK(*c->path_score == doctest::Approx(sum / n));
    }
  }
  // The best is the best kept path of the last level; it holds every useful principle.
  const auto last = by_level.rbegin()->second;
  double best = -1;
  for (auto* c : last)
    if (c->kept) best = std::max(best, *c->path_score);
  REQUIRE(rep->best_score.has_value());
  CHECK(*rep->best_score == doctest::Approx(best));
  CHECK(rep->best_prompt == rep->trace[rep->best_path.back()].system_prompt);
  CHECK(rep->best_path.front() == 0);
  CHECK(sim::principles_in(rep->best_prompt) == std::vector<std::string>{"safety", "structure", "limits", "empathy", "concise"});
}

TEST_CASE("drpo beam: the exact trace for seed 0" * doctest::test_suite("drpo")) {
  stage2_rig t;
  drpo::config cfg = small_config();
  cfg.reproduce_original_search = true;  // every candidate evaluated (economical_search_test compares)
  auto rep = t.run(cfg);
  REQUIRE(rep);
  const std::vector<std::string> expected{
      "0<-1 L0 b0c0 initial - q0 r=1.667",
      "1<0 L1 b0c0 proposed structure q1 r=2.667 kept",
      "2<0 L1 b0c1 proposed safety q1 r=2.000 kept",
      "3<0 L1 b0c2 proposed empathy q1 r=2.000",
      "4<1 L2 b0c0 proposed structure+limits q2 r=3.000 kept",
      "5<1 L2 b0c1 proposed structure+empathy q2 r=4.333 kept",
      "6<1 L2 b0c2 proposed - q2 r=2.667",
      "7<2 L2 b1c0 proposed safety+limits q2 r=2.667",
      "8<2 L2 b1c1 proposed safety+structure q2 r=3.000",
      "9<5 L3 b0c0 proposed structure+empathy+concise q3 r=5.000 kept",
      "10<5 L3 b0c1 proposed structure+limits+empathy q3 r=4.333 kept",
      "11<5 L3 b0c2 proposed structure q3 r=4.333",
      "12<4 L3 b1c1 proposed structure+limits+concise q3 r=5.000",
      "13<4 L3 b1c2 proposed limits q3 r=3.333",
      "14<9 L4 b0c0 carried structure+empathy+concise q4 r=2.333 kept",
      "15<10 L4 b1c0 proposed structure+limits+empathy+concise q4 r=2.333 kept",
      "16<10 L4 b1c1 proposed structure+limits+empathy+verbose q4 r=2.333",
      "17<10 L4 b1c2 proposed structure+empathy q4 r=2.333",
      "18<14 L5 b0c0 proposed safety+structure+empathy+concise q5 r=2.667",
      "19<14 L5 b0c1 proposed structure+empathy+concise+verbose q5 r=2.667",
      "20<14 L5 b0c2 proposed structure+concise q5 r=2.667",
      "21<15 L5 b1c0 proposed safety+structure+limits+empathy+concise q5 r=4.667 kept",
      "22<15 L5 b1c1 proposed structure+limits+empathy+concise+verbose q5 r=4.667 kept",
      "23<15 L5 b1c2 proposed structure+limits+empathy q5 r=4.667",
      "24<21 L6 b0c0 carried safety+structure+limits+empathy+concise q6 r=5.000 kept",
      "25<22 L6 b1c0 carried structure+limits+empathy+concise+verbose q6 r=3.667 kept",
      "26<24 L7 b0c0 carried safety+structure+limits+empathy+concise q7 r=5.000 kept",
      "27<25 L7 b1c0 proposed structure+limits+empathy+concise q7 r=5.000 kept",
      "28<25 L7 b1c1 proposed safety+structure+limits+empathy+concise+verbose q7 r=3.667",
      "29<25 L7 b1c2 proposed structure+limits+concise+verbose q7 r=3.667",
  };
  CHECK(compact(*rep) == expected);
  // Proposal 2 of candidate 2 (dropping "safety") duplicated candidate 6's prompt, and proposal 0
  // of candidate 4 duplicated candidate 10's: neither was evaluated again.
  REQUIRE(rep->rejected.size() == 2);
  CHECK(rep->rejected[0].level == 2);
  CHECK(rep->rejected[0].parent == 2);
  CHECK(rep->rejected[0].candidate_index == 2);
  CHECK(rep->rejected[0].text == rep->trace[6].system_prompt);
  CHECK(rep->rejected[1].level == 3);
  CHECK(rep->rejected[1].parent == 4);
  CHECK(rep->rejected[1].candidate_index == 0);
  CHECK(rep->rejected[1].text == rep->trace[10].system_prompt);
  CHECK(rep->rejected[1].reason == "duplicate of an earlier proposal at this level");
  CHECK(rep->best_path == std::vector<std::size_t>{0, 1, 5, 10, 15, 21, 24, 26});
  CHECK(*rep->best_score == doctest::Approx((2.0 + 2.0 / 3 + 13.0 / 3 + 13.0 / 3 + 7.0 / 3 + 14.0 / 3 + 5 + 5) / 7));
  CHECK(rep->search.depth_increases == 2);
  CHECK(rep->search.final_max_depth == 8);
  CHECK(rep->stop_reason == "depth");
}

TEST_CASE("drpo beam: skips carry a prompt forward and grow the depth as specified" * doctest::test_suite("drpo")) {
  stage2_rig t;
  drpo::config cfg = small_config();
  cfg.depth = 4;
  cfg.max_depth_increase = 3;
  cfg.reproduce_original_search = true;  // runs to the depth budget
  // Start from a prompt that already scores above 4.5 on most queries.
  cfg.initial_system_prompt = sim::prompt_with({"safety", "structure", "limits", "empathy", "concise"});
  auto rep = t.run(cfg);
  REQUIRE(rep);
  std::size_t levels_with_skip = 0;
  std::map<std::size_t, bool> skip_at;
  for (const auto& c : rep->trace) {
    if (!c.parent) continue;
    const auto& parent = rep->trace[*c.parent];
    const bool skipped = parent_skipped(*rep, parent);
    CAPTURE(c.id);
    CHECK((c.origin == "carried") == skipped);
    if (skipped) CHECK(c.system_prompt == parent.system_prompt);
    skip_at[c.level] = skip_at[c.level] || skipped;
  }
  for (auto& [level, s] : skip_at) levels_with_skip += s ? 1 : 0;
  CHECK(levels_with_skip > 0);
  CHECK(rep->search.depth_increases == std::min<std::size_t>(levels_with_skip, 3));
  CHECK(rep->search.final_max_depth == 4 + rep->search.depth_increases);
  CHECK(rep->search.levels == rep->search.final_max_depth - 1);
  // A carried state asks the optimizer nothing: optimizer requests = non-skipping expansions.
  std::size_t proposing_parents = 0;
  std::set<std::size_t> parents;
  for (const auto& c : rep->trace)
    if (c.parent && c.origin == "proposed") parents.insert(*c.parent);
  proposing_parents = parents.size();
  CHECK(t.opt.calls() == proposing_parents);
}

TEST_CASE("drpo beam: calls per role follow the spec's cost formula" * doctest::test_suite("drpo")) {
  // A judge that always gives 3 never triggers a skip, so every level is full.
  sim::base_model base;
  sim::optimizer_model opt;
  sim::critic_model critic;
  selfalign::testing::scripted_judge judge(3.0);
  drpo::config cfg;
  cfg.depth = 5;
  cfg.dedup_candidates = false;  // the original never deduplicates
  cfg.reproduce_original_search = true;  // and evaluates every candidate
  auto sel = drpo::make_selector(critic, cfg);
  drpo::dataset data;
  data.queries = sim::training_queries();
  auto rep = drpo::optimize(drpo::make_roles(base, sel, judge, opt), data, cfg);
  REQUIRE(rep);
  const std::size_t W = cfg.beam_width, A = cfg.actions_per_expansion, L = cfg.depth - 1;  // levels expanded
  CHECK(rep->search.levels == L);
  // Exact counts: the first level expands the single initial state.
  CHECK(opt.calls() == 1 + W * (L - 1));
  CHECK(base.calls() == 1 + A + W * A * (L - 1));
  CHECK(judge.call_count() == 1 + A + W * A * (L - 1));
  CHECK(critic.selection_calls() == cfg.depth);  // one per query used
  // The spec's per-level bounds: <= W optimizer requests (n = A), <= W*A base and judge calls, <= 1 selection.
  CHECK(opt.calls() <= L * W);
  CHECK(base.calls() <= 1 + L * W * A);
  CHECK(critic.selection_calls() <= 1 + L);
  // One optimizer request per expansion, asking for n = A samples.
  CHECK(rep->trace.size() == 1 + A + W * A * (L - 1));
  CHECK(rep->usage_by_role.at("optimizer").calls == static_cast<std::int64_t>(opt.calls()));
  CHECK(rep->usage_by_role.at("base").calls == static_cast<std::int64_t>(base.calls()));
  CHECK(rep->usage_by_role.at("selector").calls == static_cast<std::int64_t>(critic.selection_calls()));
}

TEST_CASE("drpo beam: identical proposals are evaluated once when deduplication is on" * doctest::test_suite("drpo")) {
  sim::base_model base;
  sim::optimizer_model opt;
  opt.identical_proposals();
  sim::critic_model critic;
  selfalign::testing::scripted_judge judge(3.0);
  drpo::config cfg;
  cfg.depth = 3;
  auto sel = drpo::make_selector(critic, cfg);
  drpo::dataset data;
  data.queries = sim::training_queries();
  auto on = drpo::optimize(drpo::make_roles(base, sel, judge, opt), data, cfg);
  REQUIRE(on);
  // Level 1: one parent, 3 identical proposals -> 1 candidate. Level 2: one parent -> 1.
  CHECK(base.calls() == 1 + 1 + 1);
  CHECK(on->rejected.size() == 4);
  base.reset_counts();
  cfg.dedup_candidates = false;
  cfg.reproduce_original_search = true;  // the economical search would reuse the identical pairs
  auto off = drpo::optimize(drpo::make_roles(base, sel, judge, opt), data, cfg);
  REQUIRE(off);
  CHECK(base.calls() == 1 + 3 + 6);
  CHECK(off->rejected.empty());
}

TEST_CASE("drpo: unreadable judge output is retried, then reported as failed with no reward" * doctest::test_suite("drpo")) {
  stage2_rig t;
  t.critic.malformed_on("[complies]", false);  // first attempt unreadable, the retry reads
  t.critic.malformed_on("[guesses]");      // always unreadable
  drpo::config cfg = small_config();
  cfg.depth = 4;
  auto rep = t.run(cfg);
  REQUIRE(rep);
  std::size_t attempts = 0, failed = 0, retried = 0;
  std::set<std::pair<std::string, std::string>> judged;  // the same answer to the same query is judged once
  for (const auto& c : rep->trace) {
    CAPTURE(c.id);
    if (judged.insert({c.query, c.response}).second) attempts += static_cast<std::size_t>(c.eval.verdict.attempts);
    if (c.response.find("[guesses]") != std::string::npos) {
      ++failed;
      CHECK(c.eval.verdict.status == parse_status::failed);
      CHECK_FALSE(c.eval.reward.has_value());
      CHECK_FALSE(c.eval.verdict.score.has_value());
      CHECK(c.eval.verdict.attempts == 2);
      CHECK(c.eval.verdict.raw == "The response is fine overall; I would give it a four or so.");
    } else if (c.response.find("[complies]") != std::string::npos) {
      ++retried;
      CHECK(c.eval.verdict.status == parse_status::repaired);
      CHECK(c.eval.verdict.attempts == 2);
      CHECK(c.eval.reward.has_value());
    } else {
      CHECK(c.eval.verdict.attempts == 1);
    }
  }
  CHECK(failed > 0);
  CHECK(retried > 0);
  CHECK(t.critic.judge_calls() == attempts);
  // A failed judgement is a skip: its children are carried forward.
  for (const auto& c : rep->trace)
    if (c.parent && !rep->trace[*c.parent].eval.verdict.ok()) CHECK(c.origin == "carried");
  // The JSON report keeps the failure visible.
  const auto json = drpo::to_json_text(*rep);
  CHECK(json.find("\"status\": \"failed\"") != std::string::npos);
  CHECK(json.find("\"reward\": null") != std::string::npos);
}

TEST_CASE("drpo: failed_parse_reward = 0 reproduces the original's zero reward" * doctest::test_suite("drpo")) {
  stage2_rig t;
  t.critic.malformed_on("[guesses]");
  drpo::config cfg = small_config();
  cfg.depth = 3;
  cfg.failed_parse_reward = 0.0;
  auto rep = t.run(cfg);
  REQUIRE(rep);
  bool seen = false;
  for (const auto& c : rep->trace)
    if (c.level == 1 && !c.eval.verdict.ok()) {
      seen = true;
      CHECK(*c.path_score == 0.0);
    }
  CHECK(seen);
}

TEST_CASE("drpo: score_aggregation official makes DRPO's judge average every returned aspect, truncated" * doctest::test_suite("drpo")) {
  testing::scripted_generator g;
  g.on("Helpfulness", {R"({"Helpfulness": {"rationale": "a", "score": "4.5"}, "Depth": {"rationale": "b", "score": 2}})"});
  judge_request r;
  r.query = "q?";
  r.response = "an answer";
  r.criteria = {{"Helpfulness", "", "", 1.0}};
  drpo::config cfg;
  auto ours = drpo::make_judge(g, cfg).judge(r);
  REQUIRE(ours);
  REQUIRE(ours->score);
  CHECK(*ours->score == 4.5);
  cfg.score_aggregation = judges::score_aggregation::official;
  auto theirs = drpo::make_judge(g, cfg).judge(r);
  REQUIRE(theirs);
  REQUIRE(theirs->score);
  CHECK(*theirs->score == 3.0);  // (4.5 truncated to 4, + 2) / 2
}

TEST_CASE("drpo: depth 1 reports the initial prompt's reward (the original reports 0)" * doctest::test_suite("drpo")) {
  stage2_rig t;
  drpo::config cfg = small_config();
  cfg.depth = 1;
  cfg.max_depth_increase = 0;
  auto rep = t.run(cfg);
  REQUIRE(rep);
  REQUIRE(rep->trace.size() == 1);
  REQUIRE(rep->trace[0].eval.reward);
  CHECK(rep->best_prompt == cfg.initial_system_prompt);
  REQUIRE(rep->best_score);
  CHECK(*rep->best_score == *rep->trace[0].eval.reward);
  CHECK(*rep->best_score > 0.0);
}

TEST_CASE("drpo: results are identical at concurrency 1 and 8" * doctest::test_suite("drpo")) {
  drpo::report reports[2];
  std::size_t max_flight[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    stage2_rig t;
    for (const auto& [q, a] : sim::seed_examples()) t.data.seed_examples.push_back({q, a});
    t.base.set_latency(std::chrono::microseconds(300));
    drpo::config cfg = small_config();
    cfg.max_concurrency = i == 0 ? 1 : 8;
    auto rep = t.run(cfg);
    REQUIRE(rep);
    reports[i] = std::move(*rep);
    max_flight[i] = t.base.max_in_flight();
  }
  CHECK(max_flight[0] == 1);
  CHECK(max_flight[1] > 1);
  CHECK(nlohmann::json(reports[0].trace) == nlohmann::json(reports[1].trace));
  CHECK(nlohmann::json(reports[0].icl) == nlohmann::json(reports[1].icl));
  CHECK(reports[0].best_prompt == reports[1].best_prompt);
  CHECK(reports[0].best_path == reports[1].best_path);
  CHECK(nlohmann::json(reports[0].usage_by_role) == nlohmann::json(reports[1].usage_by_role));
}

TEST_CASE("drpo: unreadable optimizer output is retried once, then the prompt is carried as a fallback" * doctest::test_suite("drpo")) {
  stage2_rig t;
  t.opt.unreadable();
  drpo::config cfg = small_config();
  cfg.depth = 3;
  auto rep = t.run(cfg);
  REQUIRE(rep);
  // Two levels, one state each (a fallback yields one child): 2 requests per expansion.
  CHECK(t.opt.calls() == 4);
  CHECK(rep->rejected.size() == 4 * 3);
  CHECK(rep->rejected[0].reason.rfind("unreadable: no readable JSON object", 0) == 0);
  for (const auto& c : rep->trace)
    if (c.parent) CHECK(c.origin == "fallback");
  CHECK(rep->best_prompt == cfg.initial_system_prompt);
}

TEST_CASE("drpo: greedy and mcts are drop-in strategies" * doctest::test_suite("drpo")) {
  stage2_rig g;
  search::greedy greedy(search::greedy_options{5, 0, search::reward_aggregation::last});
  auto rg = g.run(small_config(), greedy);
  REQUIRE(rg);
  CHECK(rg->strategy == "greedy");
  CHECK(rg->search.levels == 4);
  CHECK(g.opt.calls() <= 4);
  for (const auto& c : rg->trace)
    if (c.level > 0) CHECK(c.beam_index == 0);

  stage2_rig m;
  search::mcts mcts(search::mcts_options{5, 1.0, 6, search::reward_aggregation::mean});
  auto rm = m.run(small_config(), mcts);
  REQUIRE(rm);
  CHECK(rm->strategy == "mcts");
  CHECK(rm->search.expansions == 5);
  REQUIRE(rm->best_score.has_value());
  for (const auto& c : rm->trace)
    if (c.path_score) CHECK(*c.path_score <= *rm->best_score + 1e-12);
}

TEST_CASE("drpo: the base model sees one consistent layout, or the original's raw text when asked" * doctest::test_suite("drpo")) {
  stage2_rig t;
  t.data.examples = {{"How do I steal a bike?", "I cannot help with that."}, {"Explain recursion.", "A function calling itself."}};
  drpo::config cfg = small_config();
  cfg.depth = 2;
  REQUIRE(t.run(cfg));
  const auto prompts = t.base.prompts();
  REQUIRE(prompts.size() == 4);
  // Chat form: system then user message, joined by flatten() with a newline; consistent "# Query:" headers.
  CHECK(prompts[0].rfind("# instructions\n\nYou are a helpful assistant.\n\n# Query:\n", 0) == 0);
  CHECK(prompts[0].find("#Query:") == std::string::npos);
  CHECK(prompts[0].find("# Answer:\n<START>\nI cannot help with that.\n<END>") != std::string::npos);

  stage2_rig o;
  o.data.examples = t.data.examples;
  cfg.reproduce_layout_mismatch = true;
  REQUIRE(o.run(cfg));
  const auto raw = o.base.prompts();
  CHECK(raw[0].find("\n\n#Answer:\n<START>") != std::string::npos);
  CHECK(raw[0].find("\n\n#Query:\n") != std::string::npos);
}

TEST_CASE("drpo: the report survives a JSON round trip" * doctest::test_suite("drpo")) {
  stage2_rig t;
  for (const auto& [q, a] : sim::seed_examples()) t.data.seed_examples.push_back({q, a});
  t.critic.malformed_on("[guesses]");
  drpo::config cfg = small_config();
  cfg.depth = 3;
  auto rep = t.run(cfg);
  REQUIRE(rep);
  auto back = drpo::report_from_json_text(drpo::to_json_text(*rep));
  REQUIRE(back);
  CHECK(*back == *rep);
  CHECK(back->trace == rep->trace);
  CHECK(back->icl == rep->icl);
  CHECK(back->search == rep->search);
  CHECK_FALSE(drpo::report_from_json_text("{\"trace\": 3}"));
}

TEST_CASE("drpo: progress events report levels and the stop reason" * doctest::test_suite("drpo")) {
  stage2_rig t;
  std::vector<event> events;
  drpo::config cfg = small_config();
  cfg.depth = 3;
  cfg.on_event = [&](const event& e) { events.push_back(e); };
  REQUIRE(t.run(cfg));
  std::vector<std::string> steps;
  for (const auto& e : events) {
    CHECK(e.source == "drpo");
    if (e.kind == event_kind::search_step) steps.push_back(e.message);
  }
  CHECK(steps == std::vector<std::string>{"initial prompt evaluated", "level 1 done", "level 2 done"});
  CHECK(events.back().kind == event_kind::stopped);
  CHECK(events.back().message == "depth");
}

TEST_CASE("drpo: invalid input fails before any call" * doctest::test_suite("drpo")) {
  stage2_rig t;
  t.data.queries.clear();
  auto rep = t.run(small_config());
  REQUIRE_FALSE(rep);
  CHECK(rep.error().code == errc::invalid_argument);
  CHECK(rep.error().message == "drpo: stage 2 needs at least one training query");
  CHECK(t.base.calls() + t.opt.calls() + t.critic.calls() == 0);
}

TEST_CASE("drpo: a stop request ends the run cleanly with a partial report" * doctest::test_suite("drpo")) {
  stage2_rig t;
  std::stop_source stop;
  drpo::config cfg = small_config();
  cfg.stop = stop.get_token();
  std::size_t levels_seen = 0;
  cfg.on_event = [&](const event& e) {
    if (e.kind == event_kind::search_step && ++levels_seen == 3) stop.request_stop();  // after level 2
  };
  auto rep = t.run(cfg);
  REQUIRE(rep);
  CHECK_FALSE(rep->complete);
  CHECK(rep->stop_reason == "cancelled: the batch was cancelled before this call started");
  REQUIRE(rep->error.has_value());
  CHECK(rep->error->code == errc::cancelled);
  // Levels 1 and 2 are in the trace; the best path so far is reported.
  CHECK(rep->trace.back().level == 2);
  REQUIRE_FALSE(rep->best_path.empty());
  double best = -1;
  for (const auto& c : rep->trace) best = std::max(best, c.path_score.value_or(-1));
  CHECK(*rep->best_score == best);
  CHECK(rep->best_prompt == rep->trace[rep->best_path.back()].system_prompt);
}
