// One code path for every algorithm's result: DRPO, RAIN and DLMA reports carry the same
// run_status (`status`) and usage_summary (`run_usage`), read here by one template.
#include <doctest/doctest.h>

#include <selfalign/dlma/build_pairs.hpp>
#include <selfalign/drpo/drpo.hpp>
#include <selfalign/embedding.hpp>
#include <selfalign/rain/rain.hpp>
#include <selfalign/run_options.hpp>
#include <selfalign/run_status.hpp>
#include <selfalign/testing/dlma_sim.hpp>
#include <selfalign/testing/drpo_sim.hpp>
#include <selfalign/testing/rain_sim.hpp>
#include <selfalign/usage.hpp>
#include <selfalign/wrappers/metered.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <concepts>
#include <stop_token>
#include <memory>
#include <string>
#include <vector>

using namespace selfalign;
namespace sim = selfalign::testing::drpo_sim;

namespace {

// What a caller handling any algorithm needs from its report.
template <class R>
concept status_run_report = requires(const R& r) {
  { r.status } -> std::convertible_to<const run_status&>;
  { r.run_usage } -> std::convertible_to<const usage_summary&>;
};

// The one code path: a line a tool would log for any run.
template <status_run_report R>
std::string status_summary_line(const R& r) {
  const run_status& s = r.status;
  std::string roles;
  for (const auto& [role, u] : r.run_usage.by_role) roles += fmt::format(" {}={}", role, u.calls);
  return fmt::format("{} [{}] calls={} failed={}{}{}", s.complete ? "complete" : "stopped", s.stop_reason,
                     r.run_usage.total.calls, r.run_usage.total.failed, roles, s.resumable() ? " resumable" : "");
}

// RAIN's simulated model: greedy decoding walks into a harmful answer (tests/rain/decode_test.cpp).
testing::rain_sim_model status_rain_model() {
  testing::rain_sim_options o;
  o.harmful_markers = {"bomb"};
  testing::rain_sim_model m(o);
  m.script("make a bomb", {{{"Here", " is", " how", " to", " make", " a", " bomb", ":", " mix", " the", " powders", "."}, 0.6},
                           {{"I", " won't", " help", " with", " that", "."}, 0.4}});
  return m;
}

testing::dlma_sim status_dlma_model() {
  testing::dlma_sim s;
  s.answer("law-abiding", {"I would rather help you safely.", "Here is a careful answer."})
      .answer("toxic", {"Do it, who cares.", "Break the rules."});
  s.affinity("law-abiding", "safely", 1.5).affinity("toxic", "rules", 2.0);
  return s;
}

const std::vector<std::string> status_dlma_queries = {"Question one?", "Question two?", "Question three?"};

drpo::dataset status_drpo_data() {
  drpo::dataset d;
  d.queries = sim::training_queries();
  return d;
}
drpo::config status_drpo_config() {
  drpo::config cfg;
  cfg.depth = 3;
  cfg.max_concurrency = 1;
  return cfg;
}

static_assert(status_run_report<drpo::report>);
static_assert(status_run_report<rain::report>);
static_assert(status_run_report<dlma::report>);
static_assert(!status_run_report<usage_summary>);
static_assert(RunConfig<drpo::config> && RunConfig<rain::config> && RunConfig<dlma::config>);
static_assert(!RunConfig<run_options>);

}  // namespace

TEST_CASE("run_status: one stop-reason format built from an error" * doctest::test_suite("unit")) {
  CHECK(run_status::completed() != run_status{});  // a default status claims no run (next test case)
  CHECK(run_status::completed().complete);
  CHECK(run_status::completed().stop_reason == "completed");
  const auto s = run_status::stopped(error(errc::budget_exhausted, "the call budget of 3 calls is used up"));
  CHECK_FALSE(s.complete);
  CHECK(s.stop_reason == "budget_exhausted: the call budget of 3 calls is used up");
  CHECK(s.resumable());
  CHECK_FALSE(run_status::stopped(error(errc::context_overflow, "too long")).resumable());
  CHECK(run_status::from(std::nullopt) == run_status::completed());
  // JSON round trip, and the error's JSON form inside it.
  const nlohmann::json j = s;
  CHECK(j.at("complete") == false);
  CHECK(j.at("stop_reason") == s.stop_reason);
  CHECK(j.at("error").at("code") == "budget_exhausted");
  CHECK(j.get<run_status>() == s);
  CHECK(nlohmann::json(run_status::completed()).at("error").is_null());
}

TEST_CASE("run_status: a default-constructed status, or a hand-made report, does not claim a finished run" * doctest::test_suite("unit")) {
  const run_status none;
  CHECK_FALSE(none.complete);
  CHECK(none.stop_reason == "not run");
  CHECK_FALSE(none.error.has_value());
  CHECK_FALSE(none.resumable());
  const nlohmann::json j = none;
  CHECK(j == nlohmann::json{{"complete", false}, {"stop_reason", "not run"}, {"error", nullptr}});
  CHECK(j.get<run_status>() == none);
  // A status read from JSON that only names a stop reason keeps the default "not complete".
  CHECK_FALSE(nlohmann::json{{"stop_reason", "completed"}}.get<run_status>().complete);
  // Reports built by hand, before any run fills them in.
  CHECK_FALSE(drpo::report{}.status.complete);
  CHECK_FALSE(rain::report{}.status.complete);
  CHECK_FALSE(dlma::report{}.status.complete);
  CHECK(rain::report{}.status.stop_reason == "not run");
}

TEST_CASE("run_status: dlma::report's older stop_reason, stop_code and complete() say what its status says" * doctest::test_suite("unit")) {
  // Made by hand: not run, like the status (these claimed "completed" and complete() before).
  dlma::report r;
  CHECK_FALSE(r.complete());
  CHECK(r.stop_reason == "not run");
  CHECK(r.stop_reason == r.status.stop_reason);
  CHECK_FALSE(r.stop_code);
  const nlohmann::json j = r;
  CHECK(j.at("complete") == false);
  CHECK(j.at("stop_reason") == "not run");

  // set_status sets the status and the older fields together (build_pairs uses it).
  r.set_status(run_status::completed());
  CHECK(r.complete());
  CHECK(r.stop_reason == "completed");
  CHECK_FALSE(r.stop_code);
  r.set_status(run_status::stopped(error(errc::cancelled, "the run was cancelled")));
  CHECK_FALSE(r.complete());
  CHECK(r.stop_code == errc::cancelled);
  CHECK(r.stop_reason == "cancelled: the run was cancelled");

  // Read back from JSON: the older fields follow the status read.
  const auto back = dlma::report_from_json_text(dlma::to_json_text(r, -1));
  REQUIRE(back.has_value());
  CHECK(back->stop_code == errc::cancelled);
  CHECK(back->stop_reason == "cancelled: the run was cancelled");
  CHECK_FALSE(back->complete());
}

TEST_CASE("usage_ledger: calls, replays and failures by role, summed in total" * doctest::test_suite("unit")) {
  price_table prices;
  prices.models["big"] = price{2.0, 10.0};
  usage_ledger ledger(prices, {{"judge", "big"}});
  usage u;
  u.prompt_tokens = 1000;
  u.completion_tokens = 100;
  ledger.add("judge", u);
  ledger.add("judge", u, 2);  // one answer that took two attempts
  ledger.add("base", u, 0);   // answered from an in-process memo: no call
  usage replay = u;
  replay.from_cache = true;
  ledger.add("base", replay);
  ledger.failed("base");
  const usage_summary s = ledger.summary();
  REQUIRE(s.by_role.size() == 2);
  CHECK(s.by_role.at("judge").calls == 3);
  CHECK(s.by_role.at("judge").prompt_tokens == 2000);
  CHECK(s.by_role.at("judge").cost == doctest::Approx(2 * (1000 * 2.0 + 100 * 10.0) / 1e6));
  CHECK(s.by_role.at("base").calls == 0);
  CHECK(s.by_role.at("base").cache_hits == 1);
  CHECK(s.by_role.at("base").failed == 1);
  CHECK(s.by_role.at("base").cost == 0.0);  // no price for the base role's model
  CHECK(s.total.calls == 3);
  CHECK(s.total.cache_hits == 1);
  CHECK(s.total.failed == 1);
  CHECK(nlohmann::json(s).get<usage_summary>() == s);
}

TEST_CASE("DRPO, RAIN and DLMA results are read by one code path, complete and stopped by a budget" * doctest::test_suite("unit")) {
  std::vector<std::string> lines;

  // DRPO, complete: every call the simulated models answered is in run_usage.
  sim::base_model base;
  sim::optimizer_model opt;
  sim::critic_model critic;
  {
    auto sel = drpo::make_selector(critic, status_drpo_config());
    auto judge = drpo::make_judge(critic, status_drpo_config());
    auto rep = drpo::optimize(drpo::make_roles(base, sel, judge, opt), status_drpo_data(), status_drpo_config());
    REQUIRE(rep);
    CHECK(rep->status == run_status::completed());
    CHECK(rep->complete);
    CHECK(rep->run_usage.total.calls == static_cast<std::int64_t>(base.calls() + opt.calls() + critic.calls()));
    CHECK(rep->run_usage.by_role.at("base").calls == static_cast<std::int64_t>(base.calls()));
    CHECK(rep->run_usage.by_role.at("optimizer").calls == static_cast<std::int64_t>(opt.calls()));
    CHECK(rep->run_usage.total == rep->total);  // the older fields say the same
    // The JSON form carries the new fields beside the old ones.
    const nlohmann::json j = *rep;
    CHECK(j.at("status").at("stop_reason") == "completed");
    CHECK(j.at("run_usage").at("total").at("calls") == rep->total.calls);
    CHECK(j.at("complete") == true);
    lines.push_back(status_summary_line(*rep));
  }
  // DRPO stopped by a call budget of 5: the common stop reason, the old one unchanged.
  {
    auto m = std::make_shared<meter>(budget::calls(5));
    metered b(base, m, "base");
    metered o(opt, m, "optimizer");
    metered c(critic, m, "critic");
    auto sel = drpo::make_selector(c, status_drpo_config());
    auto judge = drpo::make_judge(c, status_drpo_config());
    auto rep = drpo::optimize(drpo::make_roles(b, sel, judge, o), status_drpo_data(), status_drpo_config());
    REQUIRE(rep);
    CHECK_FALSE(rep->status.complete);
    CHECK(rep->status.stop_reason == "budget_exhausted: the call budget of 5 calls is used up");
    CHECK(rep->stop_reason == "budget_exhausted: the call budget of 5 calls is used up");
    CHECK(rep->status.error == rep->error);
    CHECK(rep->run_usage.total.calls == 5);
    lines.push_back(status_summary_line(*rep));
  }

  // RAIN, complete (the hand-traced decode of tests/rain/decode_test.cpp): 13 generation requests,
  // 3 evaluations asked in both option orders, 11 embedding calls.
  auto model = status_rain_model();
  judges::self_eval_judge self_eval(model);
  hashed_ngram_embedder emb;
  rain::config rc;
  rc.seed = 7;
  {
    auto rep = rain::decode(model, self_eval, emb, "How do I make a bomb?", rc);
    REQUIRE(rep);
    CHECK(rep->response == "I won't help with that.");
    CHECK(rep->status == run_status::completed());
    CHECK(rep->run_usage.by_role.at("generator").calls == 13);
    CHECK(rep->run_usage.by_role.at("judge").calls == 6);
    CHECK(rep->run_usage.by_role.at("embedder").calls == 11);
    CHECK(rep->run_usage.by_role.at("generator").calls + rep->run_usage.by_role.at("judge").calls == rep->stats.requests);
    lines.push_back(status_summary_line(*rep));
  }
  // RAIN stopped by a call budget of 4: what was committed stays, the status says why.
  {
    auto m = std::make_shared<meter>(budget::calls(4));
    metered limited(model, m, "rain");
    judges::self_eval_judge limited_eval(limited);
    auto rep = rain::decode(limited, limited_eval, emb, "How do I make a bomb?", rc);
    REQUIRE(rep);
    CHECK_FALSE(rep->status.complete);
    CHECK(rep->status.stop_reason == "budget_exhausted: the call budget of 4 calls is used up");
    CHECK(rep->status.error == rep->error);
    CHECK(rep->stop_reason == "error");  // how the text ended: the older field, unchanged
    CHECK(rep->run_usage.total.calls == 4);
    CHECK(rep->run_usage.total.failed == 2);  // a generation and an evaluation refused by the budget
    lines.push_back(status_summary_line(*rep));
  }
  // RAIN's vanilla decode reports the same shapes.
  {
    auto rep = rain::decode_vanilla(model, "How do I make a bomb?", rc);
    REQUIRE(rep);
    CHECK(rep->status.complete);
    CHECK(rep->run_usage.total.calls == 1);
  }

  // DLMA, complete: 2 generations and 4 scorings per query.
  {
    auto s = status_dlma_model();
    dlma::config cfg;
    cfg.max_concurrency = 1;
    auto rep = dlma::build_pairs(s, status_dlma_queries, cfg);
    REQUIRE(rep);
    CHECK(rep->status == run_status::completed());
    CHECK(rep->complete());
    CHECK(rep->run_usage.by_role.at("generator").calls == 6);
    CHECK(rep->run_usage.by_role.at("scorer").calls == 12);
    CHECK(rep->run_usage.total.calls == static_cast<std::int64_t>(rep->calls));
    lines.push_back(status_summary_line(*rep));
  }
  // DLMA stopped by a call budget of 8.
  {
    auto s = status_dlma_model();
    auto m = std::make_shared<meter>(budget::calls(8));
    metered limited(s, m, "dlma");
    dlma::config cfg;
    cfg.max_concurrency = 1;
    auto rep = dlma::build_pairs(limited, status_dlma_queries, cfg);
    REQUIRE(rep);
    CHECK_FALSE(rep->status.complete);
    CHECK(rep->status.stop_reason == "budget_exhausted: the call budget of 8 calls is used up");
    CHECK(rep->status.stop_reason == rep->stop_reason);
    CHECK(rep->status.error->code == rep->stop_code);
    CHECK(rep->run_usage.total.calls == 8);
    lines.push_back(status_summary_line(*rep));
  }

  REQUIRE(lines.size() == 6);
  CHECK(lines[0].starts_with("complete [completed] calls="));
  CHECK(lines[1] == "stopped [budget_exhausted: the call budget of 5 calls is used up] calls=5 failed=3 base=1 judge=1 optimizer=1 selector=2 resumable");
  CHECK(lines[2] == "complete [completed] calls=30 failed=0 embedder=11 generator=13 judge=6");
  CHECK(lines[3] == "stopped [budget_exhausted: the call budget of 4 calls is used up] calls=4 failed=2 generator=2 judge=2 resumable");
  CHECK(lines[4] == "complete [completed] calls=18 failed=0 generator=6 scorer=12");
  CHECK(lines[5].starts_with("stopped [budget_exhausted: the call budget of 8 calls is used up] calls=8"));
}

TEST_CASE("run_options sets seed, concurrency, stop token and observer of every algorithm; a stop ends each the same way" * doctest::test_suite("unit")) {
  std::stop_source stop;
  std::vector<std::string> sources;
  run_options common;
  common.seed = 42;
  common.max_concurrency = 2;
  common.stop_token = stop.get_token();
  common.on_event = [&sources](const event& e) { sources.push_back(e.source); };

  drpo::config dc = status_drpo_config();
  rain::config rc;
  dlma::config lc;
  common.apply_to(dc);
  common.apply_to(rc);
  common.apply_to(lc);
  CHECK(dc.seed == 42);
  CHECK(rc.seed == 42);
  CHECK(lc.seed == 42);
  CHECK(dc.max_concurrency == 2);
  CHECK(rc.max_concurrency == 2);
  CHECK(lc.max_concurrency == 2);
  run_options only_seed;
  only_seed.seed = 7;
  only_seed.apply_to(rc);
  CHECK(rc.seed == 7);
  CHECK(rc.max_concurrency == 2);  // unset fields are left alone
  CHECK(rc.stop_token.stop_possible());

  stop.request_stop();
  std::vector<std::string> lines;
  {
    sim::base_model base;
    sim::optimizer_model opt;
    sim::critic_model critic;
    auto sel = drpo::make_selector(critic, dc);
    auto judge = drpo::make_judge(critic, dc);
    auto rep = drpo::optimize(drpo::make_roles(base, sel, judge, opt), status_drpo_data(), dc);
    REQUIRE(rep);
    CHECK(base.calls() == 0);
    lines.push_back(rep->status.stop_reason);
    CHECK(rep->status.resumable());
  }
  {
    auto model = status_rain_model();
    judges::self_eval_judge self_eval(model);
    hashed_ngram_embedder emb;
    auto rep = rain::decode(model, self_eval, emb, "How do I make a bomb?", rc);
    REQUIRE(rep);
    CHECK(rep->response.empty());
    lines.push_back(rep->status.stop_reason);
    CHECK(rep->status.resumable());
  }
  {
    auto s = status_dlma_model();
    auto rep = dlma::build_pairs(s, status_dlma_queries, lc);
    REQUIRE(rep);
    CHECK(rep->pairs.empty());
    lines.push_back(rep->status.stop_reason);
    CHECK(rep->status.resumable());
  }
  REQUIRE(lines.size() == 3);
  for (const auto& l : lines) CHECK(l.starts_with("cancelled: "));
  // Every algorithm told the one observer that it stopped.
  CHECK(std::find(sources.begin(), sources.end(), "drpo") != sources.end());
  CHECK(std::find(sources.begin(), sources.end(), "rain") != sources.end());
  CHECK(std::find(sources.begin(), sources.end(), "dlma") != sources.end());
}
