// The pure pieces of the HTTP backend: URL parsing, error bodies of every server, Retry-After,
// backoff, logprob shapes, request bodies per preset.
#include <selfalign/backends/detail/errors.hpp>
#include <selfalign/backends/detail/retry.hpp>
#include <selfalign/backends/detail/url.hpp>
#include <selfalign/backends/detail/wire.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <span>
#include <vector>

using namespace selfalign;
using nlohmann::json;
using namespace std::chrono_literals;

TEST_CASE("base urls are split into scheme, host, port and path prefix" * doctest::test_suite("backends")) {
  auto u = detail::parse_base_url("HTTP://Example.com:8000/v1/");
  REQUIRE(u);
  CHECK(u->scheme == "http");
  CHECK(u->host == "Example.com");
  CHECK(u->port == 8000);
  CHECK(u->prefix == "/v1");
  CHECK(u->root_prefix() == "");
  auto s = detail::parse_base_url("https://api.openai.com/v1");
  REQUIRE(s);
  CHECK(s->port == 443);
  CHECK(s->https());
  auto p = detail::parse_base_url("127.0.0.1:11434/proxy/v1");
  REQUIRE(p);
  CHECK(p->scheme == "http");
  CHECK(p->port == 11434);
  CHECK(p->prefix == "/proxy/v1");
  CHECK(p->root_prefix() == "/proxy");
  auto v6 = detail::parse_base_url("http://[::1]:9000");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->port == 9000);
  CHECK(v6->prefix == "");
  CHECK(v6->display() == "http://[::1]:9000");
}

TEST_CASE("bad base urls are invalid_argument errors that say why" * doctest::test_suite("backends")) {
  auto a = detail::parse_base_url("ftp://x/v1");
  REQUIRE_FALSE(a);
  CHECK(a.error().code == errc::invalid_argument);
  CHECK(a.error().message == "invalid base URL 'ftp://x/v1': the scheme must be http or https");
  CHECK(detail::parse_base_url("http://u:secret@host/v1").error().message.find("credentials") != std::string::npos);
  CHECK(detail::parse_base_url("http://host:99999").error().message == "invalid base URL 'http://host:99999': the port is out of range");
  CHECK_FALSE(detail::parse_base_url("http://host/v1?x=1"));
  CHECK_FALSE(detail::parse_base_url(""));
}

TEST_CASE("error bodies of every server normalise to one error" * doctest::test_suite("backends")) {
  SUBCASE("openai nested with a string code and a request id") {
    auto e = detail::error_from_http(401, R"({"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}})", "req_123", "POST /v1/chat/completions");
    CHECK(e.code == errc::http_status);
    CHECK(e.http_status == 401);
    CHECK(e.message == "Incorrect API key provided");
    CHECK(e.type == "invalid_request_error");
    CHECK(e.server_code == "invalid_api_key");
    CHECK(e.request_id == "req_123");
    CHECK_FALSE(e.retryable);
  }
  SUBCASE("vllm nested with an int code") {
    auto e = detail::error_from_http(400, R"({"error":{"message":"max_tokens is too large","type":"BadRequestError","param":null,"code":400}})", "", "x");
    CHECK(e.message == "max_tokens is too large");
    CHECK(e.server_code == "400");
  }
  SUBCASE("sglang flat") {
    auto e = detail::error_from_http(400, R"({"object":"error","message":"Invalid request","type":"BadRequestError","param":null,"code":400})", "", "x");
    CHECK(e.message == "Invalid request");
    CHECK(e.type == "BadRequestError");
    CHECK(e.server_code == "400");
  }
  SUBCASE("tgi error as a string") {
    auto e = detail::error_from_http(429, R"({"error":"Model is overloaded","error_type":"overloaded"})", "", "x");
    CHECK(e.code == errc::rate_limited);
    CHECK(e.retryable);
    CHECK(e.message == "Model is overloaded");
    CHECK(e.type == "overloaded");
  }
  SUBCASE("llama.cpp loading") {
    auto e = detail::error_from_http(503, R"({"error":{"code":503,"message":"Loading model","type":"unavailable_error"}})", "", "x");
    CHECK(e.code == errc::server_error);
    CHECK(e.retryable);
    CHECK(e.message == "Loading model");
    CHECK(e.server_code == "503");
  }
  SUBCASE("not json") {
    auto e = detail::error_from_http(502, "<html>Bad Gateway</html>", "", "POST /v1/completions");
    CHECK(e.message == "HTTP 502 from POST /v1/completions: <html>Bad Gateway</html>");
    auto empty = detail::error_from_http(404, "", "", "GET /v1/models");
    CHECK(empty.message == "HTTP 404 from GET /v1/models with an empty body");
  }
  SUBCASE("fastapi detail and 408/409 categories") {
    auto e = detail::error_from_http(422, R"({"detail":"Field required"})", "", "x");
    CHECK(e.message == "Field required");
    CHECK(e.code == errc::http_status);
    CHECK(detail::error_from_http(408, "", "", "x").code == errc::timeout);
    CHECK(detail::error_from_http(409, "", "", "x").retryable);
  }
}

TEST_CASE("errors inside a 200 payload are found in every shape" * doctest::test_suite("backends")) {
  auto a = detail::error_in_payload(json::parse(R"({"error":{"message":"boom","type":"server_error","code":500}})"));
  REQUIRE(a);
  CHECK(a->code == errc::server_error);
  CHECK(a->http_status == 500);
  CHECK(a->message == "boom");
  auto b = detail::error_in_payload(json::parse(R"({"error":"Input validation error","error_type":"validation"})"));
  REQUIRE(b);
  CHECK(b->message == "Input validation error");
  CHECK(b->type == "validation");
  auto c = detail::error_in_payload(json::parse(R"({"error":{"message":"context too long","code":400}})"));
  REQUIRE(c);
  CHECK(c->code == errc::http_status);
  CHECK_FALSE(detail::error_in_payload(json::parse(R"({"choices":[],"error":null})")));
  CHECK_FALSE(detail::error_in_payload(json::parse(R"({"choices":[]})")));
}

TEST_CASE("retry-after-ms wins over retry-after; seconds may be fractional or an http date" * doctest::test_suite("backends")) {
  CHECK(detail::parse_retry_after("250", "7", 0) == 250ms);
  CHECK(detail::parse_retry_after("", "1.5", 0) == 1500ms);
  CHECK(detail::parse_retry_after("", "", 0) == std::nullopt);
  CHECK(detail::parse_retry_after("", "soon", 0) == std::nullopt);
  const auto date = detail::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT");
  REQUIRE(date);
  CHECK(*date == 1445412480);
  CHECK(detail::parse_retry_after("", "Wed, 21 Oct 2015 07:28:00 GMT", 1445412470) == 10000ms);
  CHECK(detail::parse_retry_after("", "Wed, 21 Oct 2015 07:28:00 GMT", 1445412490) == 0ms);
  // Found by tests/fuzz/fuzz_retry: a wait beyond int64 milliseconds came out negative. It
  // saturates (and decide_retry then refuses it as longer than max_retry_after).
  CHECK(detail::parse_retry_after("9223372036854775807", "", 0) == std::chrono::milliseconds(1'000'000'000'000'000));
  CHECK(detail::parse_retry_after("", "99999999999999999999", 0) == std::chrono::milliseconds(1'000'000'000'000'000));
  CHECK(detail::parse_retry_after("", "", 0) == std::nullopt);
  retry_policy p;
  const auto huge = detail::parse_retry_after("9223372036854775807", "", 0);
  const auto d = detail::decide_retry(p, 0, true, "", huge, 0.5);
  CHECK_FALSE(d.retry);
  CHECK(d.wait.count() >= 0);
}

TEST_CASE("backoff doubles from the base, is capped and jitter only shortens it" * doctest::test_suite("backends")) {
  retry_policy p;
  CHECK(detail::backoff_wait(p, 0, 0.0) == 500ms);
  CHECK(detail::backoff_wait(p, 1, 0.0) == 1000ms);
  CHECK(detail::backoff_wait(p, 5, 0.0) == 8000ms);
  CHECK(detail::backoff_wait(p, 0, 1.0) == 375ms);
  auto d = detail::decide_retry(p, 0, true, "", 3000ms, 0.5);
  CHECK(d.retry);
  CHECK(d.wait == 3000ms);
  CHECK_FALSE(detail::decide_retry(p, 0, true, "", 121000ms, 0.5).retry);  // longer than the cap: give up
  CHECK_FALSE(detail::decide_retry(p, 2, true, "", std::nullopt, 0.5).retry);
  CHECK_FALSE(detail::decide_retry(p, 0, false, "", std::nullopt, 0.5).retry);
  CHECK(detail::decide_retry(p, 0, false, "true", std::nullopt, 0.0).retry);
  CHECK_FALSE(detail::decide_retry(p, 0, true, "false", std::nullopt, 0.0).retry);
}

TEST_CASE("chat logprobs parse with missing bytes, an extra id and no top list" * doctest::test_suite("backends")) {
  auto lp = json::parse(R"({"content":[
    {"token":"Hi","logprob":-0.25,"bytes":[72,105],"top_logprobs":[{"token":"Hi","logprob":-0.25,"bytes":null},{"token":"Hey","logprob":-1.5}]},
    {"token":"!","logprob":-0.5,"id":0,"obfuscation":"x"},
    null],"refusal":null})");
  auto toks = detail::parse_logprobs(lp);
  REQUIRE(toks);
  REQUIRE(toks->size() == 2);
  CHECK((*toks)[0].token == "Hi");
  CHECK((*toks)[0].logprob == -0.25);
  REQUIRE((*toks)[0].top.size() == 2);
  CHECK((*toks)[0].top[1].token == "Hey");
  CHECK((*toks)[0].top[1].logprob == -1.5);
  CHECK((*toks)[1].id == 0);
  CHECK((*toks)[1].top.empty());
}

TEST_CASE("legacy logprob arrays parse with a null first entry and maps sorted best first" * doctest::test_suite("backends")) {
  auto lp = json::parse(R"({"tokens":["The","token_id:42"," sky"],"token_logprobs":[null,-1.25,-0.5],
    "top_logprobs":[null,{"a":-3.0,"token_id:42":-1.25},{" sky":-0.5," sea":-2.0}],"text_offset":[0,3,7]})");
  auto toks = detail::parse_logprobs(lp);
  REQUIRE(toks);
  REQUIRE(toks->size() == 3);
  CHECK(std::isnan((*toks)[0].logprob));
  CHECK((*toks)[0].top.empty());
  CHECK((*toks)[1].id == 42);
  REQUIRE((*toks)[1].top.size() == 2);
  CHECK((*toks)[1].top[0].id == 42);
  CHECK((*toks)[1].top[1].token == "a");
  CHECK((*toks)[2].top[0].token == " sky");
  CHECK((*toks)[2].top[1].logprob == -2.0);
}

TEST_CASE("a logprobs field of the wrong type is a bad_response" * doctest::test_suite("backends")) {
  auto bad = detail::parse_logprobs(json("oops"));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == errc::bad_response);
  auto no_lp = detail::parse_logprobs(json::parse(R"({"content":[{"token":"x"}]})"));
  REQUIRE_FALSE(no_lp);
  CHECK(no_lp.error().message == "the logprobs entry for token 'x' has no logprob");
}

TEST_CASE("vllm prompt_logprobs keyed by token id give the actual token and ranked alternatives" * doctest::test_suite("backends")) {
  auto plp = json::parse(R"([null,
    {"9":{"logprob":-2.0,"rank":3,"decoded_token":" blue"},"5":{"logprob":-0.1,"rank":1,"decoded_token":" grey"}},
    {"7":{"logprob":-0.3,"rank":1,"decoded_token":"."}}])");
  std::vector<token_id> ids{9, 7};
  auto toks = detail::parse_prompt_logprobs(plp, 1, ids, 1);
  REQUIRE(toks);
  REQUIRE(toks->size() == 2);
  CHECK((*toks)[0].token == " blue");
  CHECK((*toks)[0].logprob == -2.0);
  REQUIRE((*toks)[0].top.size() == 1);
  CHECK((*toks)[0].top[0].id == 5);
  CHECK((*toks)[1].logprob == -0.3);
  auto missing = detail::parse_prompt_logprobs(plp, 0, ids, 1);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message == "`prompt_logprobs[0]` is null; the continuation must not start the prompt");
}

TEST_CASE("request bodies follow the preset: token field, stop array, n, logprobs, extras" * doctest::test_suite("backends")) {
  sampling s;
  s.max_tokens = 7;
  s.stop = {"\n"};
  s.logprobs = 0;
  s.seed = 0x1234567890ULL;
  auto openai = detail::chat_body(profile_for(server_preset::openai), "max_completion_tokens", "gpt", {message::user("hi")}, s, s.seed, 1, false);
  CHECK(openai["max_completion_tokens"] == 7);
  CHECK_FALSE(openai.contains("max_tokens"));
  CHECK(openai["stop"] == json::array({"\n"}));
  CHECK(openai["logprobs"] == true);
  CHECK(openai["top_logprobs"] == 0);
  CHECK(openai["seed"] == (0x1234567890ULL & 0x7fffffffULL));
  CHECK_FALSE(openai.contains("n"));
  auto tgi = detail::chat_body(profile_for(server_preset::tgi), "max_tokens", "m", {message::user("hi")}, s, std::nullopt, 3, true);
  CHECK(tgi["max_tokens"] == 7);
  CHECK(tgi["n"] == 3);
  CHECK(tgi["stream_options"]["include_usage"] == true);
  CHECK_FALSE(tgi.contains("seed"));
  json body = {{"a", {{"b", 1}}}};
  detail::merge_extra(body, json::parse(R"({"a":{"c":2},"d":3})"));
  CHECK(body == json::parse(R"({"a":{"b":1,"c":2},"d":3})"));
}

TEST_CASE("sampling checks refuse what a server would silently ignore" * doctest::test_suite("backends")) {
  sampling s;
  s.top_k = 5;
  auto a = detail::check_sampling(profile_for(server_preset::openai), s, true);
  REQUIRE_FALSE(a);
  CHECK(a.error().code == errc::unsupported);
  s.top_k = 0;
  s.logprobs = 6;
  auto b = detail::check_sampling(profile_for(server_preset::openai), s, false);
  REQUIRE_FALSE(b);
  CHECK(b.error().message == "the 'openai' server returns at most 5 alternatives per token on /v1/completions (asked 6)");
  CHECK(detail::check_sampling(profile_for(server_preset::openai), s, true));
  s.logprobs = -1;
  s.stop = {"a"};
  s.include_stop = true;
  CHECK(detail::check_sampling(profile_for(server_preset::vllm), s, true));
  CHECK_FALSE(detail::check_sampling(profile_for(server_preset::ollama), s, true));
}

TEST_CASE("stream chunks accumulate per choice and usage-only chunks are read" * doctest::test_suite("backends")) {
  detail::stream_accumulator acc(true, 1);
  auto a = acc.apply(R"({"choices":[{"index":0,"delta":{"role":"assistant","content":"He"},"finish_reason":null}],"usage":null})");
  REQUIRE(a);
  REQUIRE(a->size() == 1);
  CHECK((*a)[0].text == "He");
  auto b = acc.apply(R"({"choices":[{"index":0,"delta":{"content":"llo"},"finish_reason":"stop"}],"obfuscation":"zz"})");
  REQUIRE(b);
  auto u = acc.apply(R"({"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":2}})");
  REQUIRE(u);
  CHECK(u->empty());
  CHECK(acc.all_finished());
  auto g = acc.take();
  CHECK(g.text() == "Hello");
  CHECK(g.choices[0].finish_reason == "stop");
  CHECK(g.usage.prompt_tokens == 4);
  CHECK(g.usage.completion_tokens == 2);
  auto err = acc.apply(R"({"error":{"message":"abort","code":500}})");
  REQUIRE_FALSE(err);
  CHECK(err.error().message == "abort");
}

TEST_CASE("a list of prompts: the prompt field, and the answer split back by index with its usage" * doctest::test_suite("backends")) {
  std::vector<generation_request> reqs(2);
  reqs[0].prompt = prompt::text("first");
  reqs[1].prompt = prompt::text("second");
  CHECK(detail::prompt_list(std::span<const generation_request>(reqs)) == json::array({"first", "second"}));
  reqs[0].prompt = prompt::tokens({1, 2});
  reqs[1].prompt = prompt::tokens({3});
  CHECK(detail::prompt_list(std::span<const generation_request>(reqs)) == json::parse("[[1,2],[3]]"));

  // Two prompts, n = 2: choices prompt-major by index, sent out of order.
  const json body = json::parse(R"({"model":"m","usage":{"prompt_tokens":7,"completion_tokens":4},"choices":[
      {"index":2,"text":"c","finish_reason":"length"},{"index":0,"text":"a","finish_reason":"length"},
      {"index":3,"text":"d","finish_reason":"length"},{"index":1,"text":"b","finish_reason":"length"}]})");
  const std::vector<std::int64_t> prompt_tokens{3, 4};
  auto g = detail::parse_generation(body, false);
  REQUIRE(g);
  // A server whose usage covers every prompt (vLLM, SGLang): the first answer carries it all.
  auto all = detail::split_multi_answer(*g, prompt_tokens, 2, true);
  REQUIRE(all);
  REQUIRE(all->size() == 2);
  CHECK((*all)[0].choices[0].text == "a");
  CHECK((*all)[0].choices[1].text == "b");
  CHECK((*all)[1].choices[0].text == "c");
  CHECK((*all)[1].choices[1].text == "d");
  CHECK((*all)[0].usage.prompt_tokens == 7);
  CHECK((*all)[0].usage.requests == 1);
  CHECK((*all)[1].usage.requests == 0);
  CHECK((*all)[1].usage.prompt_tokens == 0);
  // llama.cpp (its usage is the first prompt's): the others carry their own counts, estimated.
  auto first_only = detail::split_multi_answer(*g, prompt_tokens, 2, false);
  REQUIRE(first_only);
  CHECK((*first_only)[1].usage.prompt_tokens == 4);
  CHECK((*first_only)[1].usage.completion_tokens == 2);  // one estimated token per one-letter text
  CHECK((*first_only)[1].usage.estimated);
  CHECK((*first_only)[1].usage.requests == 0);
  // A choice count that does not fit the prompts is a bad response, never a guess.
  auto short_answer = detail::split_multi_answer(*g, prompt_tokens, 3, true);
  REQUIRE_FALSE(short_answer);
  CHECK(short_answer.error().code == errc::bad_response);
}

TEST_CASE("llama.cpp gets one alternative for logprobs 0 (it lists none for 0) and the answer is cut back to 0" * doctest::test_suite("backends")) {
  sampling s;
  s.logprobs = 0;
  s.max_tokens = 4;
  const json llama = detail::completion_body(profile_for(server_preset::llamacpp), "m", prompt::text("Hi"), s, std::nullopt, 1, false);
  CHECK(llama["logprobs"] == 1);
  const json vllm = detail::completion_body(profile_for(server_preset::vllm), "m", prompt::text("Hi"), s, std::nullopt, 1, false);
  CHECK(vllm["logprobs"] == 0);
  s.logprobs = 3;
  CHECK(detail::completion_body(profile_for(server_preset::llamacpp), "m", prompt::text("Hi"), s, std::nullopt, 1, false)["logprobs"] == 3);

  generation g;
  completion c;
  token_logprob t;
  t.token = "a";
  t.logprob = -0.5;
  top_logprob alt_a, alt_b;
  alt_a.token = "a";
  alt_a.logprob = -0.5;
  alt_b.token = "b";
  alt_b.logprob = -1.5;
  t.top = {alt_a, alt_b};
  c.tokens = {t, t};
  g.choices = {c};
  CHECK(detail::asked_more_alternatives(profile_for(server_preset::llamacpp), s) == false);  // logprobs 3
  detail::keep_alternatives(g, 1);
  CHECK(g.choices[0].tokens[0].top.size() == 1);
  detail::keep_alternatives(g, 0);
  CHECK(g.choices[0].tokens[1].top.empty());
  CHECK(g.choices[0].tokens[1].logprob == -0.5);  // the token's own logprob stays
}
