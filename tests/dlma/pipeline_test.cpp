// dlma::build_pairs end to end: determinism across concurrency, budget stop + resume from the
// durable cache, failures, cancellation, progress events, runtime rejection of non-scoring backends.
#include <doctest/doctest.h>

#include <selfalign/any.hpp>
#include <selfalign/dlma/build_pairs.hpp>
#include <selfalign/dlma/export.hpp>
#include <selfalign/testing/dlma_sim.hpp>
#include <selfalign/testing/scripted_generator.hpp>
#include <selfalign/wrappers/cached.hpp>
#include <selfalign/wrappers/metered.hpp>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <stop_token>
#include <string>
#include <vector>

namespace sa = selfalign;
namespace dlma = selfalign::dlma;
using sa::testing::dlma_sim;

namespace {

dlma_sim make_sim() {
  dlma_sim sim;
  sim.answer("law-abiding", {"I would rather help you safely.", "Here is a careful answer.", "Please ask a professional.",
                             "That is not safe; try this instead."})
      .answer("toxic", {"Do it, who cares.", "Break the rules.", "Nobody will know.", "Just take it."});
  sim.affinity("law-abiding", "safely", 1.5)
      .affinity("law-abiding", "careful", 0.75)
      .affinity("law-abiding", "rules", -1.0)
      .affinity("toxic", "rules", 2.0)
      .affinity("toxic", "safe", -0.5)
      .affinity("toxic", "know", 0.25);
  return sim;
}

std::vector<std::string> queries(std::size_t n) {
  std::vector<std::string> q;
  for (std::size_t i = 0; i < n; ++i) q.push_back("Question number " + std::to_string(i) + "?");
  return q;
}

std::string exported(const dlma::report& rep, const dlma::config& cfg) {
  std::ostringstream out;
  const auto records = dlma::to_preference_records(rep.pairs, cfg);
  REQUIRE(sa::io::write_preferences(out, records).has_value());
  return out.str();
}

std::filesystem::path tmp_file(const std::string& name) {
  const char* env = std::getenv("SELFALIGN_TEST_TMP");
  std::filesystem::path d = env ? std::filesystem::path(env) : std::filesystem::temp_directory_path();
  d /= "dlma_pipeline_test";
  std::filesystem::create_directories(d);
  std::filesystem::remove(d / name);
  return d / name;
}

}  // namespace

TEST_CASE("build_pairs gives identical pairs at concurrency 1 and 8" * doctest::test_suite("dlma")) {
  const auto qs = queries(23);
  dlma::config cfg;
  cfg.seed = 1234;
  cfg.chunk_size = 5;

  dlma_sim sim1 = make_sim();
  cfg.max_concurrency = 1;
  auto r1 = dlma::build_pairs(sim1, qs, cfg);
  dlma_sim sim8 = make_sim();
  cfg.max_concurrency = 8;
  auto r8 = dlma::build_pairs(sim8, qs, cfg);
  REQUIRE(r1.has_value());
  REQUIRE(r8.has_value());
  REQUIRE(r1->pairs.size() == 23);
  CHECK(r1->pairs == r8->pairs);
  CHECK(exported(*r1, cfg) == exported(*r8, cfg));
  CHECK(r1->margins.mean == r8->margins.mean);
  CHECK(sim1.generate_calls() == 46);
  CHECK(sim8.generate_calls() == 46);
  CHECK(sim8.score_calls() == 92);
  CHECK(r8->calls == 138);
  CHECK(r8->cache_hits == 0);
  // The seeds made the answers differ between queries: not every pair is the same text.
  std::size_t distinct = 0;
  for (const auto& p : r1->pairs) distinct += p.chosen != r1->pairs[0].chosen;
  CHECK(distinct > 0);
}

TEST_CASE("the margin statistics summarise R over the scored pairs" * doctest::test_suite("dlma")) {
  dlma_sim sim = make_sim();
  dlma::config cfg;
  cfg.seed = 99;
  auto rep = dlma::build_pairs(sim, queries(12), cfg);
  REQUIRE(rep.has_value());
  std::vector<double> r;
  for (const auto& p : rep->pairs) r.push_back(p.self_reward);
  std::sort(r.begin(), r.end());
  double mean = 0;
  std::size_t neg = 0;
  for (double v : r) {
    mean += v / 12.0;
    neg += v < 0;
  }
  const auto& m = rep->margins;
  CHECK(m.count == 12);
  CHECK(m.min == r.front());
  CHECK(m.max == r.back());
  CHECK(m.mean == doctest::Approx(mean));
  CHECK(m.median == doctest::Approx((r[5] + r[6]) / 2));
  CHECK(m.p25 == doctest::Approx(r[2] + 0.75 * (r[3] - r[2])));  // position 0.25 · 11 = 2.75
  CHECK(m.negative == neg);
  CHECK(m.negative_fraction == doctest::Approx(static_cast<double>(neg) / 12.0));
  const auto empty = dlma::summarize_margins({}, -40, 40);
  CHECK(empty.count == 0);
  CHECK(std::isnan(empty.mean));
  const nlohmann::json j = *rep;
  CHECK(j["pairs"] == 12);
  CHECK(j["stop_reason"] == "completed");
  CHECK(j["boundary"] == "tokens");
}

TEST_CASE("a budget stop keeps finished pairs and a resumed run repeats no backend call" * doctest::test_suite("dlma")) {
  const auto qs = queries(10);
  const auto path = tmp_file("resume_cache.jsonl");
  dlma::config cfg;
  cfg.seed = 5;
  cfg.chunk_size = 4;
  cfg.max_concurrency = 1;  // run 1 stops at a known call

  dlma_sim sim = make_sim();
  std::vector<sa::event> events;
  sa::observer on_event = [&events](const sa::event& e) { events.push_back(e); };
  {
    auto store = sa::cache_store::open(path);
    REQUIRE(store.has_value());
    sa::budget b;
    b.max_calls = 22;  // chunk 1: 8 generations + 14 scorings = 3 whole pairs and half of the 4th
    auto m = std::make_shared<sa::meter>(b);
    sa::cached backend(sa::metered<dlma_sim>(sim, m, "dlma"), *store, "dlma");
    auto rep = dlma::build_pairs(backend, qs, cfg, on_event);
    REQUIRE(rep.has_value());
    CHECK_FALSE(rep->complete());
    CHECK(rep->stop_code == sa::errc::budget_exhausted);
    CHECK(rep->stop_reason == "budget_exhausted: the call budget of 22 calls is used up");
    REQUIRE(rep->pairs.size() == 3);
    CHECK(rep->unfinished == std::vector<std::size_t>{3, 4, 5, 6, 7, 8, 9});
    CHECK(rep->failures.empty());
    CHECK(sim.generate_calls() + sim.score_calls() == 22);
    REQUIRE(events.size() == 2);
    CHECK(events[0].kind == sa::event_kind::progress);
    CHECK(events[0].values.at("done") == 3);
    CHECK(events[0].values.at("total") == 10);
    CHECK(events[1].kind == sa::event_kind::stopped);
    CHECK(events[1].message == rep->stop_reason);
  }
  // Resume: reopen the durable cache; no budget this time.
  auto store = sa::cache_store::open(path);
  REQUIRE(store.has_value());
  CHECK((*store)->stats().loaded == 22);
  auto m = std::make_shared<sa::meter>();
  sa::cached backend(sa::metered<dlma_sim>(sim, m, "dlma"), *store, "dlma");
  auto rep = dlma::build_pairs(backend, qs, cfg);
  REQUIRE(rep.has_value());
  CHECK(rep->complete());
  CHECK(rep->pairs.size() == 10);
  CHECK(rep->cache_hits == 22);
  CHECK(m->totals().calls == 60 - 22);
  CHECK(sim.generate_calls() == 20);  // every call made exactly once over both runs
  CHECK(sim.score_calls() == 40);

  // The resumed pairs equal an uninterrupted run's.
  dlma_sim fresh = make_sim();
  auto ref = dlma::build_pairs(fresh, qs, cfg);
  REQUIRE(ref.has_value());
  CHECK(exported(*rep, cfg) == exported(*ref, cfg));
}

TEST_CASE("a failed call becomes a failure entry and the run goes on" * doctest::test_suite("dlma")) {
  dlma_sim sim;  // no rule for "orphan": its generations fail
  sim.answer("USER: fine", {"yes"}).affinity("toxic", "yes", -1.0);
  auto rep = dlma::build_pairs(sim, std::vector<std::string>{"fine", "orphan", "fine again"}, dlma::config{});
  REQUIRE(rep.has_value());
  CHECK(rep->complete());
  CHECK(rep->pairs.size() == 2);
  REQUIRE(rep->failures.size() == 1);
  CHECK(rep->failures[0].index == 1);
  CHECK(rep->failures[0].id == "2");
  CHECK(rep->failures[0].stage == "generate");
  CHECK(rep->failures[0].error.code == sa::errc::invalid_argument);
  CHECK(rep->failures[0].error.message.rfind("dlma_sim: no answer rule matches the prompt: USER: orphan", 0) == 0);
  // Identical answers under both prompts: R = 0 exactly, and the validator will flag them.
  CHECK(rep->pairs[0].self_reward == 0.0);
}

TEST_CASE("records read from JSONL keep their ids through build_pairs" * doctest::test_suite("dlma")) {
  std::istringstream in("{\"id\": \"alpha\", \"prompt\": \"Question number 0?\"}\n{\"question\": \"Question number 1?\"}\n");
  auto records = sa::io::read_queries(in, "q.jsonl");
  REQUIRE(records.has_value());
  dlma_sim sim = make_sim();
  auto rep = dlma::build_pairs(sim, *records, dlma::config{});
  REQUIRE(rep.has_value());
  REQUIRE(rep->pairs.size() == 2);
  CHECK(rep->pairs[0].id == "alpha");
  CHECK(rep->pairs[1].id == "2");
  CHECK(rep->pairs[1].query == "Question number 1?");
  CHECK(rep->pairs[1].index == 1);
}

TEST_CASE("a cancelled run stops before its first call" * doctest::test_suite("dlma")) {
  dlma_sim sim = make_sim();
  std::stop_source stop;
  stop.request_stop();
  dlma::config cfg;
  cfg.stop_token = stop.get_token();
  auto rep = dlma::build_pairs(sim, queries(3), cfg);
  REQUIRE(rep.has_value());
  CHECK(rep->stop_code == sa::errc::cancelled);
  CHECK(rep->stop_reason == "cancelled: the run was cancelled");
  CHECK(rep->unfinished == std::vector<std::size_t>{0, 1, 2});
  CHECK(sim.generate_calls() == 0);
}

TEST_CASE("a backend that cannot score is rejected at run time with DLMA's need" * doctest::test_suite("dlma")) {
  sa::testing::scripted_generator plain;
  plain.otherwise("hello");
  sa::any_generator any(plain);
  auto rep = dlma::build_pairs(any, std::vector<std::string>{"q"}, dlma::config{});
  REQUIRE_FALSE(rep.has_value());
  CHECK(rep.error().code == sa::errc::unsupported);
  CHECK(rep.error().message ==
        "DLMA (dlma::build_pairs: the self-rewarding score reads log p(answer | prompt) of both answers under both "
        "contrastive prompts) needs continuation scoring, log p(continuation | prompt) (vLLM and SGLang can; llama.cpp "
        "approximately; OpenAI and Ollama cannot), which this backend does not provide");
  CHECK(plain.call_count() == 0);

  // The same simulated scorer behind any_generator works, tokens and all.
  sa::any_generator scorer(make_sim());
  auto ok = dlma::build_pairs(scorer, std::vector<std::string>{"q"}, dlma::config{});
  REQUIRE(ok.has_value());
  CHECK(ok->pairs.size() == 1);
  CHECK(ok->boundary == dlma::boundary_mode::tokens);

  // Asking for token boundaries from a backend without a tokenizer is refused.
  sa::testing::dlma_sim_options no_tok;
  no_tok.tokenizer = false;
  dlma_sim sim(no_tok);
  dlma::config cfg;
  cfg.boundary = dlma::boundary_mode::tokens;
  auto bad = dlma::build_pairs(sim, std::vector<std::string>{"q"}, cfg);
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == sa::errc::unsupported);
}
