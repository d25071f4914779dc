// DRPO: a request that does not fit the model's context (errc::context_overflow) fails its
// candidate alone — recorded with its error and no reward — and the search goes on.
#include <doctest/doctest.h>
#include <selfalign/drpo/drpo.hpp>
#include <selfalign/testing/drpo_sim.hpp>

#include <string>

using namespace selfalign;
namespace sim = selfalign::testing::drpo_sim;

namespace {
// Answers like `inner`, except that a prompt containing `marker` is over the context.
template <class G>
struct overflowing {
  G inner;
  std::string marker;
  result<generation> generate(const generation_request& r) {
    if (r.prompt.flatten().find(marker) != std::string::npos) {
      error e(errc::context_overflow, "request (5000 tokens) exceeds the available context size (2048 tokens)", 400);
      e.type = "exceed_context_size_error";
      return unexpected(e);
    }
    return inner.generate(r);
  }
};
}  // namespace

TEST_CASE("drpo: a base answer or judge request over the context is a failed candidate, not the end of the run" * doctest::test_suite("drpo")) {
  drpo::config cfg;
  cfg.depth = 5;
  cfg.max_depth_increase = 0;
  const auto queries = sim::training_queries();
  overflowing<sim::base_model> base{sim::base_model{}, queries[1]};     // every level-1 base answer overflows
  overflowing<sim::critic_model> judge_model{sim::critic_model{}, queries[3]};  // every level-3 judgement overflows
  sim::critic_model selector_model;
  sim::optimizer_model opt;
  drpo::dataset data;
  data.queries = queries;
  auto sel = drpo::make_selector(selector_model, cfg);
  auto judge = drpo::make_judge(judge_model, cfg);
  auto rep = drpo::optimize(drpo::make_roles(base, sel, judge, opt), data, cfg);
  REQUIRE(rep);
  CHECK(rep->complete);
  CHECK(rep->stop_reason == "depth");
  int failed_base = 0, failed_judge = 0, rewarded = 0;
  for (const auto& c : rep->trace) {
    if (c.eval.error) {
      CHECK(c.eval.error->code == errc::context_overflow);
      CHECK_FALSE(c.eval.reward);
      CHECK(c.eval.verdict.status == parse_status::failed);
      if (c.query_index == 1) {
        ++failed_base;
        CHECK(c.response.empty());
        CHECK(c.eval.verdict.rationale.rfind("the base answer failed: context_overflow (HTTP 400)", 0) == 0);
      } else {
        CHECK(c.query_index == 3);
        ++failed_judge;
        CHECK_FALSE(c.response.empty());
        CHECK(c.eval.verdict.rationale.rfind("the judge request failed: context_overflow (HTTP 400)", 0) == 0);
      }
    } else if (c.eval.reward) {
      ++rewarded;
    }
  }
  CHECK(failed_base > 0);
  CHECK(failed_judge > 0);
  CHECK(rewarded > 0);
  CHECK(rep->best_score.has_value());
  // The error travels in the report's JSON.
  const nlohmann::json j = *rep;
  bool found = false;
  for (const auto& c : j["trace"])
    if (c["eval"].contains("error")) found = found || c["eval"]["error"]["code"] == "context_overflow";
  CHECK(found);
}

TEST_CASE("drpo stage 1: a revision request over the context ends that example alone; the others and stage 2 go on" * doctest::test_suite("drpo")) {
  drpo::config cfg;
  cfg.depth = 3;
  cfg.max_depth_increase = 0;
  const auto seeds = sim::seed_examples();
  sim::base_model base;
  sim::critic_model critic;
  // The optimizer cannot take the revision request of seed example 2 (its query is quoted in it).
  overflowing<sim::optimizer_model> opt{sim::optimizer_model{}, seeds[2].first};
  drpo::dataset data;
  data.queries = sim::training_queries();
  for (const auto& [q, a] : seeds) data.seed_examples.push_back({q, a});
  auto sel = drpo::make_selector(critic, cfg);
  auto judge = drpo::make_judge(critic, cfg);
  auto rep = drpo::optimize(drpo::make_roles(base, sel, judge, opt), data, cfg);
  REQUIRE(rep);  // before: stage 1 ended the run with the overflow
  CHECK(rep->complete);
  CHECK(rep->stop_reason == "depth");
  REQUIRE(rep->icl.size() == seeds.size());
  const auto& failed = rep->icl[2];
  CHECK(failed.stop_reason == "context overflow");
  REQUIRE(failed.rounds.size() == 2);  // the judged seed answer, then the failed revision
  CHECK(failed.rounds[1].round == 1);
  CHECK(failed.rounds[1].answer.empty());
  CHECK(failed.rounds[1].note.rfind("the revision request failed: context_overflow (HTTP 400)", 0) == 0);
  CHECK(failed.best_answer == seeds[2].second);  // the seed answer is kept
  CHECK(rep->examples[2].answer == seeds[2].second);
  // The other examples were revised as usual.
  std::size_t revised = 0;
  for (std::size_t i = 0; i < rep->icl.size(); ++i)
    if (i != 2) {
      CHECK(rep->icl[i].stop_reason != "context overflow");
      revised += rep->icl[i].rounds.size() - 1;
    }
  CHECK(revised > 0);
  CHECK_FALSE(rep->trace.empty());  // stage 2 ran
}

TEST_CASE("drpo stage 2: an optimizer request over the context carries its state's prompt; the search goes on" * doctest::test_suite("drpo")) {
  drpo::config cfg;
  cfg.depth = 5;
  cfg.max_depth_increase = 0;
  cfg.skip_threshold = 6.0;  // never skip: every state asks the optimizer
  cfg.max_score = 6.0;
  const auto queries = sim::training_queries();
  sim::base_model base;
  sim::critic_model critic;
  // The optimizer request quotes the state's last query and answer: those from query 2 overflow.
  overflowing<sim::optimizer_model> opt{sim::optimizer_model{}, queries[2]};
  drpo::dataset data;
  data.queries = queries;
  auto sel = drpo::make_selector(critic, cfg);
  auto judge = drpo::make_judge(critic, cfg);
  auto rep = drpo::optimize(drpo::make_roles(base, sel, judge, opt), data, cfg);
  REQUIRE(rep);  // before: the overflow ended the run
  CHECK(rep->complete);
  CHECK(rep->stop_reason == "depth");
  std::size_t failed = 0;
  for (const auto& r : rep->rejected)
    if (r.reason.rfind("the optimizer request failed: context_overflow (HTTP 400)", 0) == 0) {
      ++failed;
      CHECK(r.level == 3);  // states whose path ends with query 2's candidate (levels count from 0)
    }
  CHECK(failed > 0);
  std::size_t fallbacks = 0;
  for (const auto& c : rep->trace)
    if (c.level == 3) {
      CHECK(c.origin == "fallback");
      CHECK(c.system_prompt == rep->trace[*c.parent].system_prompt);  // the parent's prompt, carried
      ++fallbacks;
    }
  CHECK(fallbacks == failed);
  CHECK(rep->search.levels == 4);
}
