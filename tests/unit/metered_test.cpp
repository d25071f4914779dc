#include <doctest/doctest.h>
#include <fmt/format.h>
#include "test_support.hpp"
#include "list_generator.hpp"
#include <selfalign/batch.hpp>

#include <stdexcept>
#include <selfalign/testing/scripted_generator.hpp>
#include <selfalign/wrappers/cached.hpp>
#include <selfalign/wrappers/metered.hpp>
#include <selfalign/wrappers/observed.hpp>

#include <span>
#include <string>
#include <vector>

using namespace selfalign;
using namespace selfalign::test_support;
using selfalign::testing::scripted_generator;


TEST_CASE("a call budget stops calls cleanly with budget_exhausted" * doctest::test_suite("metered")) {
  scripted_generator backend;
  backend.otherwise("two words");
  auto m = std::make_shared<meter>(call_budget(3));
  metered g(backend, m, "base");
  for (int i = 0; i < 3; ++i) REQUIRE(g.generate(ask(fmt::format("q{}", i))));
  auto over = g.generate(ask("q3"));
  REQUIRE_FALSE(over);
  CHECK(over.error().code == errc::budget_exhausted);
  CHECK(over.error().message == "the call budget of 3 calls is used up");
  CHECK_FALSE(over.error().retryable);
  CHECK(backend.call_count() == 3);
  CHECK(m->totals().calls == 3);
  CHECK(m->exhausted().has_value());
}

TEST_CASE("concurrency cannot overshoot the call budget" * doctest::test_suite("metered")) {
  scripted_generator backend;
  backend.otherwise("x");
  auto m = std::make_shared<meter>(call_budget(7));
  metered g(backend, m);
  std::vector<generation_request> reqs;
  for (int i = 0; i < 20; ++i) reqs.push_back(ask(fmt::format("q{}", i)));
  auto out = generate_batch(g, reqs, width(8));
  const auto ok = std::count_if(out.begin(), out.end(), [](const auto& r) { return r.has_value(); });
  CHECK(ok == 7);
  CHECK(backend.call_count() == 7);
  for (const auto& r : out)
    if (!r) CHECK(r.error().code == errc::budget_exhausted);
}

TEST_CASE("tokens and cost are counted per role from the price table" * doctest::test_suite("metered")) {
  scripted_generator backend;
  backend.otherwise("one two three");  // 3 completion tokens
  auto prices = price_table::from_json(nlohmann::json::parse(R"({"big": {"prompt": 10, "completion": 30}, "*": {"prompt": 1, "completion": 2}})"));
  REQUIRE(prices);
  auto m = std::make_shared<meter>(budget{}, *prices);
  metered judge(backend, m, "judge", "big");
  metered base(backend, m, "base", "small");
  REQUIRE(judge.generate(ask("a b c d")));  // 4 prompt tokens
  REQUIRE(base.generate(ask("a b")));       // 2 prompt tokens
  const auto roles = m->by_role();
  CHECK(roles.at("judge").prompt_tokens == 4);
  CHECK(roles.at("judge").completion_tokens == 3);
  CHECK(roles.at("judge").cost == doctest::Approx((4 * 10 + 3 * 30) / 1e6));
  CHECK(roles.at("base").cost == doctest::Approx((2 * 1 + 3 * 2) / 1e6));
  CHECK(m->totals().calls == 2);
  CHECK(m->totals().cost == doctest::Approx(138e-6));
}

TEST_CASE("token, cost and wall-time budgets" * doctest::test_suite("metered")) {
  scripted_generator backend;
  backend.otherwise("one two three");
  {
    auto m = std::make_shared<meter>(token_budget(10));
    metered g(backend, m);
    REQUIRE(g.generate(ask("a b c")));  // 6 tokens
    REQUIRE(g.generate(ask("a b c")));  // 12: over after this call
    auto r = g.generate(ask("a"));
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "the token budget of 10 tokens is used up");
  }
  {
    price_table p;
    p.fallback = price{1e6, 1e6};  // $1 per token
    auto m = std::make_shared<meter>(cost_budget(5.0), p);
    metered g(backend, m);
    REQUIRE(g.generate(ask("a b c")));
    auto r = g.generate(ask("a"));
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "the cost budget of $5.0000 is used up");
  }
  {
    auto m = std::make_shared<meter>(wall_budget_ms(0));
    metered g(backend, m);
    auto r = g.generate(ask("a"));
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "the wall-time budget of 0.0 s is used up");
  }
}

TEST_CASE("a cache outside the meter makes replayed calls free and uncounted" * doctest::test_suite("metered")) {
  scripted_generator backend;
  backend.otherwise("x");
  auto m = std::make_shared<meter>(call_budget(2));
  cached g(metered(backend, m, "base"));
  REQUIRE(g.generate(ask("a")));
  REQUIRE(g.generate(ask("b")));
  for (int i = 0; i < 5; ++i) REQUIRE(g.generate(ask("a")));  // hits never reach the meter
  CHECK_FALSE(g.generate(ask("c")).has_value());
  CHECK(m->totals().calls == 2);
  CHECK(backend.call_count() == 2);
}

TEST_CASE("a meter below the cache counts replayed answers as hits" * doctest::test_suite("metered")) {
  scripted_generator backend;
  backend.otherwise("x");
  auto m = std::make_shared<meter>();
  metered g(cached<scripted_generator>(backend), m);
  REQUIRE(g.generate(ask("a")));
  REQUIRE(g.generate(ask("a")));
  CHECK(m->totals().calls == 1);
  CHECK(m->totals().cache_hits == 1);
}

TEST_CASE("failed calls are counted as failed" * doctest::test_suite("metered")) {
  scripted_generator backend;
  backend.fail_on("bad", error(errc::server_error, "down", 500));
  auto m = std::make_shared<meter>();
  metered g(backend, m, "base");
  CHECK_FALSE(g.generate(ask("bad")).has_value());
  CHECK(m->totals().failed == 1);
  CHECK(m->totals().calls == 0);
}

TEST_CASE("price tables reject malformed entries" * doctest::test_suite("metered")) {
  auto bad = price_table::from_json(nlohmann::json::parse(R"({"m": {"prompt": "cheap"}})"));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == errc::invalid_argument);
  CHECK(bad.error().message == "price table entry 'm' needs numeric \"prompt\" and \"completion\" (USD per million tokens)");
  CHECK_FALSE(price_table::from_json(nlohmann::json::array()).has_value());
}

TEST_CASE("an adapter exception releases its budget reservation and propagates" * doctest::test_suite("metered")) {
  struct throwing {
    result<generation> generate(const generation_request&) { throw std::runtime_error("adapter bug"); }
  };
  auto m = std::make_shared<meter>(call_budget(2));
  metered g(throwing{}, m, "base");
  CHECK_THROWS_WITH((void)g.generate(ask("a")), "adapter bug");
  CHECK(m->totals().failed == 1);
  CHECK_THROWS_WITH((void)g.generate(ask("b")), "adapter bug");  // the reservation was released, so the second call is admitted
  CHECK(m->totals().failed == 2);
  auto third = g.generate(ask("c"));
  REQUIRE_FALSE(third);
  CHECK(third.error().code == errc::budget_exhausted);
}

namespace {
// A scorer with its own batch member (as an HTTP backend has): it records each batch it was given.
struct batch_scorer {
  std::vector<std::vector<std::string>> batches;  // the continuations of each batch call
  int single_calls = 0;
  result<scoring> score(const scoring_request&) {
    ++single_calls;
    return fail(errc::internal, "the single path must not be used");
  }
  result<generation> generate(const generation_request&) { return fail(errc::unsupported, "scores only"); }
  std::vector<result<scoring>> score_batch(std::span<const scoring_request> rs, const batch_options&) {
    std::vector<std::string> seen;
    std::vector<result<scoring>> out;
    for (const auto& r : rs) {
      seen.push_back(r.continuation);
      if (r.continuation == "bad") {
        out.emplace_back(fail(errc::bad_response, "cannot score this one"));
        continue;
      }
      scoring s;
      for (char c : r.continuation) {
        token_logprob t;
        t.token = std::string(1, c);
        t.logprob = -1.0;
        s.tokens.push_back(t);
      }
      s.logprob = -static_cast<double>(r.continuation.size());
      s.usage.prompt_tokens = 10;
      out.emplace_back(std::move(s));
    }
    batches.push_back(std::move(seen));
    return out;
  }
};
std::vector<scoring_request> batch_scoring_requests(const std::vector<std::string>& continuations) {
  std::vector<scoring_request> rs;
  for (const auto& c : continuations) {
    scoring_request r;
    r.prompt = prompt::text("Q: ");
    r.continuation = c;
    rs.push_back(std::move(r));
  }
  return rs;
}
}  // namespace

TEST_CASE("metered and observed keep the inner model's own batch member and see every request of it" * doctest::test_suite("metered")) {
  static_assert(detail::own_score_batch<metered<batch_scorer&>> && detail::own_score_batch<observed<metered<batch_scorer&>>>);
  // No batch member inside: none outside either; the CPO's generic executor runs the metered single calls.
  static_assert(!detail::own_generate_batch<metered<scripted_generator&>>);

  batch_scorer inner;
  auto m = std::make_shared<meter>(call_budget(3));
  std::vector<std::string> seen;
  observed<metered<batch_scorer&>> g(metered<batch_scorer&>(inner, m, "scorer"), [&](const event& e) {
    seen.push_back(fmt::format("{}#{} {}", e.source, e.call_id, e.kind == event_kind::call_started    ? "started"
                                                               : e.kind == event_kind::call_finished ? "finished"
                                                                                                     : "failed"));
  });
  const auto reqs = batch_scoring_requests({"a", "bad", "abc", "abcd"});
  auto out = score_batch(g, std::span<const scoring_request>(reqs), batch_options{4, {}});
  REQUIRE(out.size() == 4);
  // One inner batch call with the three admitted requests; the budget refused the fourth.
  REQUIRE(inner.batches.size() == 1);
  CHECK(inner.batches[0] == std::vector<std::string>{"a", "bad", "abc"});
  CHECK(inner.single_calls == 0);
  CHECK(out[0]->logprob == -1.0);
  CHECK(out[1].error().message == "cannot score this one");
  CHECK(out[2]->logprob == -3.0);
  CHECK(out[3].error().code == errc::budget_exhausted);
  CHECK(m->totals().calls == 2);  // answered calls; the failed one is counted apart
  CHECK(m->totals().failed == 1);
  CHECK(m->totals().prompt_tokens == 20);
  CHECK(m->by_role().at("scorer").calls == 2);
  // observed sits outside the meter: it reports all four, the refused one as failed.
  CHECK(seen == std::vector<std::string>{"score#1 started", "score#2 started", "score#3 started", "score#4 started",
                                         "score#1 finished", "score#2 failed", "score#3 finished", "score#4 failed"});
}

TEST_CASE("metered sends a batch to the inner batch path in chunks of the batch's width, checking the budget between them" * doctest::test_suite("metered")) {
  batch_scorer inner;
  auto m = std::make_shared<meter>(call_budget(4));
  metered<batch_scorer&> g(inner, m, "scorer");
  const auto reqs = batch_scoring_requests({"a", "bb", "ccc", "dddd", "eeeee"});
  auto out = score_batch(g, std::span<const scoring_request>(reqs), batch_options{2, {}});
  REQUIRE(out.size() == 5);
  REQUIRE(inner.batches.size() == 2);  // {a, bb}, {ccc, dddd}; the fifth is refused before a third chunk is sent
  CHECK(inner.batches[0] == std::vector<std::string>{"a", "bb"});
  CHECK(inner.batches[1] == std::vector<std::string>{"ccc", "dddd"});
  CHECK(out[3]->logprob == -4.0);
  CHECK(out[4].error().code == errc::budget_exhausted);
  CHECK(m->totals().calls == 4);
}

TEST_CASE("metered passes a list of prompts on as one request and bills every prompt of it as one call" * doctest::test_suite("metered")) {
  using selfalign_test::list_generator;
  list_generator inner;
  auto m = std::make_shared<meter>(call_budget(3));
  metered<list_generator&> g(inner, m, "base");
  static_assert(MultiPromptGenerator<metered<list_generator&>>);
  const auto reqs = selfalign_test::list_requests({"a", "bb", "ccc", "dddd"});
  auto out = generate_multi(g, std::span<const generation_request>(reqs));
  REQUIRE(out.size() == 4);
  // The budget admits three prompts before anything is sent: they go out as ONE request; the
  // fourth answers the budget error and is not sent.
  REQUIRE(inner.log->lists.size() == 1);
  CHECK(inner.log->lists[0] == std::vector<std::string>{"a", "bb", "ccc"});
  CHECK(inner.log->singles.empty());
  CHECK(out[0]->choices[0].text == "re:a");
  CHECK(out[2]->choices[0].text == "re:ccc");
  CHECK(out[0]->usage.requests == 1);
  CHECK(out[1]->usage.requests == 0);
  CHECK(out[3].error().code == errc::budget_exhausted);
  // Calls are prompts (as if sent one by one), tokens each answer's own.
  CHECK(m->totals().calls == 3);
  CHECK(m->totals().failed == 0);
  CHECK(m->totals().prompt_tokens == 1 + 2 + 3);
  CHECK(m->totals().completion_tokens == 3 * 2);
  CHECK(m->by_role().at("base").calls == 3);
  // Exhausted: a further list sends nothing.
  auto again = generate_multi(g, std::span<const generation_request>(reqs));
  CHECK(inner.requests() == 1);
  for (const auto& a : again) CHECK(a.error().code == errc::budget_exhausted);
}

TEST_CASE("metered: a list with one admitted prompt goes out as a single request; a failed list fails every prompt" * doctest::test_suite("metered")) {
  using selfalign_test::list_generator;
  list_generator inner;
  auto m = std::make_shared<meter>(call_budget(1));
  metered<list_generator&> g(inner, m);
  auto reqs = selfalign_test::list_requests({"x", "y"});
  auto out = generate_multi(g, std::span<const generation_request>(reqs));
  CHECK(inner.log->lists.empty());
  CHECK(inner.log->singles == std::vector<std::string>{"x"});
  CHECK(out[0]->choices[0].text == "re:x");
  CHECK(out[1].error().code == errc::budget_exhausted);
  CHECK(m->totals().calls == 1);

  list_generator inner2;
  auto m2 = std::make_shared<meter>();
  metered<list_generator&> g2(inner2, m2);
  reqs = selfalign_test::list_requests({"ok", "fail", "ok2"});
  auto failed = generate_multi(g2, std::span<const generation_request>(reqs));
  CHECK(inner2.log->lists.size() == 1);
  for (const auto& a : failed) CHECK(a.error().message == "the server failed the list");
  CHECK(m2->totals().calls == 0);
  CHECK(m2->totals().failed == 3);
  // The concept's form (one result for the whole list) fails as a whole.
  auto whole = g2.generate_multi(std::span<const generation_request>(reqs));
  CHECK_FALSE(whole);
  reqs = selfalign_test::list_requests({"p", "q"});
  auto fine = g2.generate_multi(std::span<const generation_request>(reqs));
  REQUIRE(fine);
  CHECK(fine->size() == 2);
  CHECK(inner2.log->lists.size() == 3);
  CHECK(m2->totals().calls == 2);
}
