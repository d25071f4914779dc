#include <doctest/doctest.h>
#include <selfalign/json.hpp>

using namespace selfalign;

TEST_CASE("every vocabulary type survives a JSON round trip" * doctest::test_suite("json")) {
  generation_request req;
  req.model = "m";
  req.prompt = prompt::chat({message::system("be kind"), message::user("hi")});
  req.sampling.temperature = 0.2;
  req.sampling.top_k = 15;
  req.sampling.stop = {".", "\n"};
  req.sampling.seed = 12345;
  req.sampling.n = 3;
  req.sampling.logprobs = 5;
  req.sampling.logit_bias = {{7, 100.0}, {9, -5.5}};
  CHECK(nlohmann::json(req).get<generation_request>() == req);

  generation_request text_req;
  text_req.prompt = prompt::text("raw");
  CHECK(nlohmann::json(text_req).get<generation_request>() == text_req);
  generation_request ids_req;
  ids_req.prompt = prompt::tokens({1, 2, 3});
  CHECK(nlohmann::json(ids_req).get<generation_request>() == ids_req);

  generation g;
  completion c;
  c.text = "hello";
  c.token_ids = {5, 6};
  c.finish_reason = "length";
  c.tokens = {token_logprob{"hel", 5, -0.25, {top_logprob{"hel", 5, -0.25}, top_logprob{"he", std::nullopt, -2.0}}}};
  g.choices = {c};
  g.usage = usage{10, 2, 4, 1, false};
  g.model = "served";
  CHECK(nlohmann::json(g).get<generation>() == g);

  scoring_request sr{"m", prompt::text("USER: q"), " answer", {11, 12}, 2};
  CHECK(nlohmann::json(sr).get<scoring_request>() == sr);
  scoring s{-3.5, {token_logprob{" ans", 11, -1.5, {}}}, true, usage{3, 0, 0, 1, true}};
  CHECK(nlohmann::json(s).get<scoring>() == s);

  judge_request jr{"q", "r", {criterion{"clarity", "is it clear", "1..5", 2.0}}, "because", 7};
  CHECK(nlohmann::json(jr).get<judge_request>() == jr);
  judgement j;
  j.score = 4.5;
  j.criteria = {{"clarity", 4.5, "clear"}};
  j.status = parse_status::repaired;
  j.attempts = 2;
  j.raw = "{...}";
  CHECK(nlohmann::json(j).get<judgement>() == j);

  judgement failed;
  failed.status = parse_status::failed;
  const auto fj = nlohmann::json(failed);
  CHECK(fj["score"].is_null());
  CHECK_FALSE(fj.get<judgement>().score.has_value());

  embeddings e{{{0.5f, -1.0f}}, usage{}};
  CHECK(nlohmann::json(e).get<embeddings>() == e);

  capabilities caps;
  caps.server = "vllm";
  caps.scoring = true;
  caps.context_size = 1024;
  CHECK(nlohmann::json(caps).get<capabilities>() == caps);
  CHECK(nlohmann::json(caps)["context_size"] == 1024);

  error err(errc::rate_limited, "slow", 429);
  err.request_id = "req-1";
  const auto back = nlohmann::json(err).get<error>();
  CHECK(back == err);
  CHECK(back.request_id == "req-1");
  CHECK(back.retryable);
}

TEST_CASE("parse_json_as reports malformed and mistyped input without throwing" * doctest::test_suite("json")) {
  auto bad = parse_json_as<generation>("{\"choices\": [", "response body");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == errc::bad_response);
  CHECK(bad.error().message == "response body: not valid JSON (truncated?): it ends inside a value after 13 bytes");

  auto mistyped = parse_json_as<generation>(R"({"choices": "nope"})", "response body");
  REQUIRE_FALSE(mistyped);
  CHECK(mistyped.error().code == errc::bad_response);
  CHECK(mistyped.error().message.rfind("response body: ", 0) == 0);

  auto ok = parse_json_as<usage>(R"({"prompt_tokens": 3, "extra": true})", "usage");
  REQUIRE(ok);
  CHECK(ok->prompt_tokens == 3);
}

TEST_CASE("a prompt given as a bare JSON string is raw text" * doctest::test_suite("json")) {
  auto p = nlohmann::json("hello").get<prompt>();
  CHECK(p.is_text());
  CHECK(p.raw_text() == "hello");
}
