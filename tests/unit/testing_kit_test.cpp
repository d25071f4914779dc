#include <doctest/doctest.h>
#include <selfalign/testing/fail_after.hpp>
#include <selfalign/testing/scripted_generator.hpp>
#include <selfalign/testing/scripted_judge.hpp>

using namespace selfalign;
using namespace selfalign::testing;

TEST_CASE("scripted_generator matches rules in order, by substring or regex, with sequences" * doctest::test_suite("testing")) {
  scripted_generator g;
  g.on("weather", {"sunny", "rainy"});
  g.on_regex("^count [0-9]+$", {"number"});
  g.otherwise("default");
  generation_request r;
  r.prompt = "what is the weather";
  CHECK(g.generate(r)->text() == "sunny");
  CHECK(g.generate(r)->text() == "rainy");
  CHECK(g.generate(r)->text() == "rainy");  // the last reply repeats
  r.prompt = "count 12";
  CHECK(g.generate(r)->text() == "number");
  r.prompt = "count twelve";
  CHECK(g.generate(r)->text() == "default");
  CHECK(g.call_count() == 5);
  CHECK(g.calls_containing("count") == 2);
  CHECK(g.calls()[0].prompt.flatten() == "what is the weather");
}

TEST_CASE("scripted_generator returns logprobs and ids only when asked, truncated to k" * doctest::test_suite("testing")) {
  scripted_reply reply("A");
  reply.tokens = {token_logprob{"A", 32, -0.1, {{"A", 32, -0.1}, {"B", 33, -2.3}, {"C", 34, -4.0}}}};
  reply.token_ids = {32};
  scripted_generator g;
  g.on("", {reply});
  generation_request r;
  r.prompt = "x";
  auto plain = g.generate(r);
  CHECK(plain->choices[0].tokens.empty());
  CHECK(plain->choices[0].token_ids == std::vector<token_id>{32});
  r.sampling.logprobs = 2;
  auto with = g.generate(r);
  REQUIRE(with->choices[0].tokens.size() == 1);
  CHECK(with->choices[0].tokens[0].top.size() == 2);
  CHECK(with->choices[0].tokens[0].top[1].token == "B");
  CHECK(with->usage.completion_tokens == 1);
}

TEST_CASE("scripted_generator without a matching rule or default names the prompt" * doctest::test_suite("testing")) {
  scripted_generator g;
  generation_request r;
  r.prompt = "unexpected question";
  auto out = g.generate(r);
  REQUIRE_FALSE(out);
  CHECK(out.error().code == errc::invalid_argument);
  CHECK(out.error().message == "scripted_generator: no rule matches the prompt: unexpected question");
}

TEST_CASE("scripted_judge scores by the first matching rule and can fail to parse" * doctest::test_suite("testing")) {
  scripted_judge j(2.5);
  j.on("refuse", 5.0, "safe");
  j.unparseable_on("garbled");
  j.fail_on("offline", error(errc::transport, "no route"));
  judge_request r;
  r.criteria = {criterion{"safety", "", "", 1.0}, criterion{"clarity", "", "", 1.0}};
  r.response = "I must refuse";
  auto ok = j.judge(r);
  CHECK(*ok->score == 5.0);
  REQUIRE(ok->criteria.size() == 2);
  CHECK(ok->criteria[1].name == "clarity");
  CHECK(ok->rationale == "safe");
  r.response = "garbled text";
  auto bad = j.judge(r);
  CHECK(bad->status == parse_status::failed);
  CHECK_FALSE(bad->score.has_value());
  CHECK_FALSE(bad->ok());
  r.response = "offline";
  CHECK(j.judge(r).error().code == errc::transport);
  r.response = "plain";
  CHECK(*j.judge(r)->score == 2.5);
  CHECK(j.call_count() == 4);
}

TEST_CASE("fail_after lets n calls through and then fails every call" * doctest::test_suite("testing")) {
  scripted_generator backend;
  backend.otherwise("ok");
  fail_after g(backend, 2, errc::rate_limited);
  generation_request r;
  CHECK(g.generate(r).has_value());
  CHECK(g.generate(r).has_value());
  auto third = g.generate(r);
  REQUIRE_FALSE(third);
  CHECK(third.error().code == errc::rate_limited);
  CHECK(third.error().http_status == 429);
  CHECK(third.error().message == "fail_after: injected rate_limited on call 3 (generate; 2 calls allowed)");
  CHECK(backend.call_count() == 2);
  CHECK(g.calls() == 3);
}
