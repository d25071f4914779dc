// openai_backend against hostile servers: deep nesting, huge indices and answers, lying usage,
// invalid text, echoed secrets. Nothing a server sends may crash the process or yield a silently
// wrong number (issue 10).
#include "backends/fixture.hpp"

#include <selfalign/backends/openai.hpp>
#include <selfalign/batch.hpp>
#include <selfalign/detail/redact.hpp>
#include <selfalign/wrappers/metered.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace selfalign;

namespace {

using fixture::chat_request;

std::string nested_arrays(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

}  // namespace

TEST_CASE("an error body nested 100,000 levels deep is an error, not a stack overflow" * doctest::test_suite("hostile")) {
  fixture::loopback_server srv;
  srv->Post("/v1/chat/completions", [](const httplib::Request&, httplib::Response& res) {
    res.status = 400;
    res.set_content("{\"error\":" + nested_arrays(100000) + "}", "application/json");
  });
  srv.start();
  openai_backend llm(fixture::options(srv.url(), server_preset::vllm));
  auto g = llm.generate(chat_request());
  REQUIRE_FALSE(g);
  CHECK(g.error().code == errc::http_status);
  CHECK(g.error().http_status == 400);
  CHECK(g.error().message ==
        "HTTP 400 from POST /v1/chat/completions: the error body is not valid JSON: nested deeper than 256 levels (at byte 265)");
}

TEST_CASE("a 200 answer nested too deep is a bad_response that says so" * doctest::test_suite("hostile")) {
  fixture::loopback_server srv;
  srv->Post("/v1/chat/completions", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"choices\":" + nested_arrays(100000) + "}", "application/json");
  });
  srv.start();
  openai_backend llm(fixture::options(srv.url(), server_preset::vllm));
  auto g = llm.generate(chat_request());
  REQUIRE_FALSE(g);
  CHECK(g.error().code == errc::bad_response);
  CHECK(g.error().message.rfind("POST /chat/completions: the answer is not valid JSON: nested deeper than 256 levels (at byte 267)", 0) == 0);
}

namespace {

// A server that answers every chat call with `body` (status 200, application/json).
struct fixed_answer_server {
  fixture::loopback_server srv;
  std::atomic<int> calls{0};
  explicit fixed_answer_server(std::string body, std::string content_type = "application/json") {
    srv->Post("/v1/chat/completions", [this, body, content_type](const httplib::Request&, httplib::Response& res) {
      ++calls;
      res.set_content(body, content_type);
    });
    srv.start();
  }
};

std::string sse(const std::vector<std::string>& payloads) {
  std::string out;
  for (const auto& p : payloads) out += "data: " + p + "\n\n";
  return out + "data: [DONE]\n\n";
}

}  // namespace

TEST_CASE("a stream chunk whose choice index is out of range is a bad_response, not a write out of bounds" *
          doctest::test_suite("hostile")) {
  for (const std::string index : {"18446744073709551615", "1111111111111", "1", "-1", "0.5"}) {
    CAPTURE(index);
    fixed_answer_server s(sse({R"({"choices":[{"index":0,"delta":{"content":"a"}}]})",
                               R"({"choices":[{"index":)" + index + R"(,"delta":{"content":"x"}}]})"}),
                          "text/event-stream");
    openai_backend llm(fixture::options(s.srv.url(), server_preset::vllm));
    auto g = llm.generate_stream(chat_request(), [](const stream_chunk&) { return true; });
    REQUIRE_FALSE(g);
    CHECK(g.error().code == errc::bad_response);
    CHECK(g.error().message.rfind("stream: a chunk's choice index " + index + " is out of range (1 choice requested)", 0) == 0);
  }
  // Two choices asked: index 1 is fine, 2 is not.
  fixed_answer_server two(sse({R"({"choices":[{"index":1,"delta":{"content":"b"},"finish_reason":"stop"}]})",
                               R"({"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}]})"}),
                          "text/event-stream");
  openai_backend llm(fixture::options(two.srv.url(), server_preset::vllm));
  auto req = chat_request();
  req.sampling.n = 2;
  auto g = llm.generate_stream(req, [](const stream_chunk&) { return true; });
  REQUIRE(g);
  REQUIRE(g->choices.size() == 2);
  CHECK(g->choices[0].text == "a");
  CHECK(g->choices[1].text == "b");
}

TEST_CASE("chat content given as content parts is read as their text; any other non-string is a bad_response" *
          doctest::test_suite("hostile")) {
  {
    fixed_answer_server s(
        R"({"choices":[{"index":0,"message":{"role":"assistant","content":[{"type":"text","text":"Hello, "},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"world"}]},"finish_reason":"stop"}]})");
    openai_backend llm(fixture::options(s.srv.url(), server_preset::vllm));
    auto g = llm.generate(chat_request());
    REQUIRE(g);
    CHECK(g->text() == "Hello, world");
  }
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"42", "a chat choice: `content` is number, not a string or an array of parts"},
      {R"({"text":"hi"})", "a chat choice: `content` is object, not a string or an array of parts"},
      {R"([{"type":"image_url","image_url":{}}])", "a chat choice: `content` has no text part (found a 'image_url' part)"},
      {R"([{"type":"text","text":7}])", "a chat choice: a text part of `content` has no `text` string"},
      {R"(["hi"])", "a chat choice: a `content` part is string, not an object"},
  };
  for (const auto& bad_case : bad) {
    const std::string& content = bad_case.first;  // not a structured binding: Clang 14 cannot capture those
    const std::string& message = bad_case.second;
    CAPTURE(content);
    fixed_answer_server s(R"({"choices":[{"index":0,"message":{"role":"assistant","content":)" + content + R"(},"finish_reason":"stop"}]})");
    openai_backend llm(fixture::options(s.srv.url(), server_preset::vllm));
    auto g = llm.generate(chat_request());
    REQUIRE_FALSE(g);
    CHECK(g.error().code == errc::bad_response);
    CHECK(g.error().message.find(message) != std::string::npos);
  }
  // A refusal is not an empty answer either.
  fixed_answer_server refusal(R"({"choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"I cannot help with that."},"finish_reason":"stop"}]})");
  openai_backend llm(fixture::options(refusal.srv.url(), server_preset::vllm));
  auto g = llm.generate(chat_request());
  REQUIRE_FALSE(g);
  CHECK(g.error().message.find("a chat choice: the model refused: I cannot help with that.") != std::string::npos);
}

TEST_CASE("usage counts that are negative, fractional or out of range are estimated and flagged" * doctest::test_suite("hostile")) {
  const std::string answer = R"({"choices":[{"index":0,"message":{"role":"assistant","content":"twelve bytes"},"finish_reason":"stop"}],"usage":)";
  // The request's prompt is one user message "hi": (2 + 3) / 4 = 1 token + 4 for the role markers.
  const std::int64_t prompt_estimate = 5, completion_estimate = 3;
  for (const std::string u : {R"({"prompt_tokens":-100,"completion_tokens":-100})", R"({"prompt_tokens":1e300,"completion_tokens":1e300})",
                              R"({"prompt_tokens":18446744073709551615,"completion_tokens":18446744073709551615})",
                              R"({"prompt_tokens":2.5,"completion_tokens":"7"})", R"({"prompt_tokens":NaN,"completion_tokens":-Infinity})"}) {
    CAPTURE(u);
    fixed_answer_server s(answer + u + "}");
    openai_backend llm(fixture::options(s.srv.url(), server_preset::vllm));
    auto g = llm.generate(chat_request());
    REQUIRE(g);
    CHECK(g->usage.estimated);
    CHECK(g->usage.prompt_tokens == prompt_estimate);
    CHECK(g->usage.completion_tokens == completion_estimate);
  }
  {
    fixed_answer_server s(answer + R"({"prompt_tokens":9,"completion_tokens":3.0})" + "}");
    openai_backend llm(fixture::options(s.srv.url(), server_preset::vllm));
    auto g = llm.generate(chat_request());
    REQUIRE(g);
    CHECK_FALSE(g->usage.estimated);
    CHECK(g->usage.prompt_tokens == 9);
    CHECK(g->usage.completion_tokens == 3);
  }
}

TEST_CASE("a token budget holds against a server that reports negative usage" * doctest::test_suite("hostile")) {
  fixed_answer_server s(
      R"({"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":-1000,"completion_tokens":-1000}})");
  budget b;
  b.max_tokens = 20;
  auto m = std::make_shared<meter>(b);
  metered llm(openai_backend(fixture::options(s.srv.url(), server_preset::vllm)), m, "base");
  int made = 0;
  for (int i = 0; i < 40; ++i)
    if (llm.generate(chat_request())) ++made;
  // Each call is estimated at 5 prompt + 1 completion tokens: 6, 12, 18, then 24 is past 20.
  CHECK(made == 4);
  CHECK(s.calls == 4);
  CHECK(m->totals().prompt_tokens + m->totals().completion_tokens == 24);
  REQUIRE(m->overspent());
  CHECK(*m->overspent() == "the token budget of 20 tokens was exceeded: 24 tokens used");
}

TEST_CASE("calls in flight reserve their worst case against the token budget" * doctest::test_suite("hostile")) {
  fixture::loopback_server srv;
  std::atomic<int> calls{0};
  srv->Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    ++calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    res.set_content(R"({"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":20}})",
                    "application/json");
  });
  srv.start();
  budget b;
  b.max_tokens = 50;
  auto m = std::make_shared<meter>(b);
  metered llm(openai_backend(fixture::options(srv.url(), server_preset::vllm)), m, "base");
  std::vector<generation_request> reqs(16, chat_request(20));  // worst case 5 + 20 = 25 tokens each
  batch_options o;
  o.max_concurrency = 8;
  auto out = selfalign::generate_batch(llm, reqs, o);
  int ok = 0, refused = 0;
  for (const auto& r : out) {
    if (r) ++ok;
    else if (r.error().code == errc::budget_exhausted) ++refused;
  }
  // Two reservations of 25 fill the budget of 50, whatever the timing; 8 in flight used 240.
  CHECK(calls == 2);
  CHECK(ok == 2);
  CHECK(refused == 14);
  CHECK(m->totals().prompt_tokens + m->totals().completion_tokens == 60);
  CHECK(m->overspent().has_value());
}

TEST_CASE("invalid UTF-8, lone surrogates and NaN logprobs are accepted and flagged, not 'truncated'" * doctest::test_suite("hostile")) {
  {
    fixed_answer_server s("{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"caf\xC3 ok\"},\"finish_reason\":\"stop\"},"
                          "{\"index\":1,\"message\":{\"role\":\"assistant\",\"content\":\"clean\"},\"finish_reason\":\"stop\"}]}");
    openai_backend llm(fixture::options(s.srv.url(), server_preset::vllm));
    auto req = chat_request();
    req.sampling.n = 2;
    auto g = llm.generate(req);
    REQUIRE(g);
    REQUIRE(g->choices.size() == 2);
    CHECK(g->choices[0].text == "caf\xEF\xBF\xBD ok");
    CHECK(g->choices[0].invalid_utf8_replaced);
    CHECK(g->choices[1].text == "clean");
    CHECK_FALSE(g->choices[1].invalid_utf8_replaced);
  }
  {
    fixed_answer_server s(R"({"choices":[{"index":0,"message":{"role":"assistant","content":"a\ud800b"},"finish_reason":"stop"}]})");
    openai_backend llm(fixture::options(s.srv.url(), server_preset::vllm));
    auto g = llm.generate(chat_request());
    REQUIRE(g);
    CHECK(g->text() == "a\xEF\xBF\xBD" "b");
    CHECK(g->choices[0].invalid_utf8_replaced);
  }
  {
    fixed_answer_server s(
        R"({"choices":[{"index":0,"message":{"role":"assistant","content":"ab"},"finish_reason":"stop","logprobs":{"content":[)"
        R"({"token":"a","logprob":NaN,"top_logprobs":[{"token":"a","logprob":NaN},{"token":"c","logprob":-1.5}]},)"
        R"({"token":"b","logprob":-Infinity,"top_logprobs":[]}]}}]})");
    openai_backend llm(fixture::options(s.srv.url(), server_preset::vllm));
    auto req = chat_request();
    req.sampling.logprobs = 2;
    auto g = llm.generate(req);
    REQUIRE(g);
    const auto& toks = g->choices[0].tokens;
    REQUIRE(toks.size() == 2);
    CHECK(toks[0].token == "a");
    CHECK(std::isnan(toks[0].logprob));
    REQUIRE(toks[0].top.size() == 1);  // the alternative without a logprob is left out
    CHECK(toks[0].top[0].token == "c");
    CHECK(toks[0].top[0].logprob == -1.5);
    CHECK(std::isnan(toks[1].logprob));
  }
}

TEST_CASE("an API key echoed in an error body is redacted from every error the backend returns" * doctest::test_suite("hostile")) {
  const std::string key = "sk-live-0123456789abcdefghij0123456789";
  struct echo_case {
    int status;
    std::string content_type;
    std::function<std::string(const std::string&)> body;
  };
  // A long prefix puts the key across the 300-byte cut of a quoted body: no part may survive.
  const std::string padding(270, '.');
  const std::vector<echo_case> cases = {
      {401, "application/json", [](const std::string& a) { return nlohmann::json{{"error", {{"message", "bad key " + a}, {"code", a}}}}.dump(); }},
      {500, "text/plain", [&](const std::string& a) { return "upstream said: " + padding + " Authorization: " + a + " rejected"; }},
      {200, "application/json", [](const std::string& a) { return "{\"error\":{\"message\":\"in-band failure for " + a + "\"}}"; }},
      {200, "application/json", [](const std::string& a) { return "{\"choices\": [" + a + "]}"; }},
  };
  for (const auto& c : cases) {
    CAPTURE(c.status);
    fixture::loopback_server srv;
    srv->Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
      res.status = c.status;
      res.set_content(c.body(req.get_header_value("Authorization")), c.content_type);
    });
    srv.start();
    auto o = fixture::options(srv.url(), server_preset::vllm);
    o.api_key = key;
    o.retry.max_retries = 0;
    openai_backend llm(o);
    auto g = llm.generate(chat_request());
    REQUIRE_FALSE(g);
    const error& e = g.error();
    INFO(e.message);
    for (const std::string& text : {e.message, e.type, e.server_code, e.request_id}) {
      CHECK(text.find(key) == std::string::npos);
      CHECK(text.find(key.substr(0, 10)) == std::string::npos);
    }
    // (The text/plain case is cut before the redacted key: the cut never shows a part of it.)
    if (c.status != 500) CHECK(e.message.find("[redacted]") != std::string::npos);
  }
}

TEST_CASE("redact_secrets removes keys, cut keys and bearer credentials" * doctest::test_suite("hostile")) {
  const std::vector<std::string> secrets = {"sk-abcdefghijklmnop"};
  CHECK(detail::redacted("key sk-abcdefghijklmnop and sk-abcdefghijklmnop.", secrets) == "key [redacted] and [redacted].");
  CHECK(detail::redacted("quoted: Authorization: Bearer sk-abcdefgh...", secrets) == "quoted: Authorization: Bearer [redacted]...");
  CHECK(detail::redacted("cut without bearer: sk-abcdefghij...", secrets) == "cut without bearer: [redacted]...");
  CHECK(detail::redacted("{\"auth\":\"Bearer other-token-123\"}", secrets) == "{\"auth\":\"Bearer [redacted]\"}");
  CHECK(detail::redacted("nothing secret here: sk-", secrets) == "nothing secret here: sk-");
}

TEST_CASE("an answer larger than max_answer_bytes is refused with a precise error" * doctest::test_suite("hostile")) {
  const std::string big_text(3000, 'x');
  const std::string body = R"({"choices":[{"index":0,"message":{"role":"assistant","content":")" + big_text + R"("},"finish_reason":"stop"}]})";
  SUBCASE("with a Content-Length: refused before the body is read") {
    fixed_answer_server s(body);
    auto o = fixture::options(s.srv.url(), server_preset::vllm);
    o.max_answer_bytes = 2048;
    openai_backend llm(o);
    auto g = llm.generate(chat_request());
    REQUIRE_FALSE(g);
    CHECK(g.error().code == errc::bad_response);
    CHECK_FALSE(g.error().retryable);
    CHECK(g.error().message == "POST /v1/chat/completions: the answer is larger than the limit of 2048 bytes "
                               "(openai_options.max_answer_bytes; Content-Length: " + std::to_string(body.size()) + ")");
    CHECK(s.calls == 1);  // not retried
  }
  SUBCASE("chunked, without a Content-Length") {
    fixture::loopback_server srv;
    srv->Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("application/json", [&](std::size_t offset, httplib::DataSink& sink) {
        if (offset < body.size()) sink.write(body.data() + offset, std::min<std::size_t>(512, body.size() - offset));
        else sink.done();
        return true;
      });
    });
    srv.start();
    auto o = fixture::options(srv.url(), server_preset::vllm);
    o.max_answer_bytes = 2048;
    openai_backend llm(o);
    auto g = llm.generate(chat_request());
    REQUIRE_FALSE(g);
    CHECK(g.error().code == errc::bad_response);
    CHECK(g.error().message == "POST /v1/chat/completions: the answer is larger than the limit of 2048 bytes (openai_options.max_answer_bytes)");
  }
  SUBCASE("under the limit it is read whole") {
    fixed_answer_server s(body);
    auto o = fixture::options(s.srv.url(), server_preset::vllm);
    o.max_answer_bytes = body.size();
    openai_backend llm(o);
    auto g = llm.generate(chat_request());
    REQUIRE(g);
    CHECK(g->text() == big_text);
  }
  SUBCASE("a stream counts all its bytes") {
    std::vector<std::string> chunks;
    for (int i = 0; i < 40; ++i) chunks.push_back(R"({"choices":[{"index":0,"delta":{"content":")" + std::string(100, 'y') + R"("}}]})");
    fixed_answer_server s(sse(chunks), "text/event-stream");
    auto o = fixture::options(s.srv.url(), server_preset::vllm);
    o.max_answer_bytes = 2048;
    openai_backend llm(o);
    auto g = llm.generate_stream(chat_request(), [](const stream_chunk&) { return true; });
    REQUIRE_FALSE(g);
    CHECK(g.error().message.rfind("POST /v1/chat/completions: the answer is larger than the limit of 2048 bytes", 0) == 0);
  }
  CHECK(openai_options{}.max_answer_bytes == std::size_t{32} << 20);
}
