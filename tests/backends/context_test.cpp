// The context window: a request that does not fit is errc::context_overflow (never retried) in
// every server's wording.
#include "backends/fixture.hpp"

#include <selfalign/backends/detail/context.hpp>
#include <selfalign/backends/openai.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <string>

using namespace selfalign;
using nlohmann::json;

namespace {
error http_error(int status, const std::string& body) {
  error e = detail::error_from_http(status, body, "", "POST /v1/completions");
  detail::classify_context_overflow(e);
  return e;
}
}  // namespace

TEST_CASE("context overflow in each server's wording becomes errc::context_overflow, not retryable" * doctest::test_suite("backends")) {
  // llama.cpp 0.7.0 (observed on the real server)
  auto llama = http_error(400, R"({"error":{"code":400,"message":"request (301 tokens) exceeds the available context size (256 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":301,"n_ctx":256}})");
  CHECK(llama.code == errc::context_overflow);
  CHECK_FALSE(llama.retryable);
  CHECK(llama.describe() == "context_overflow (HTTP 400): request (301 tokens) exceeds the available context size (256 tokens), try increasing it");
  auto counts = detail::parse_overflow_counts(R"({"error":{"code":400,"message":"m","type":"exceed_context_size_error","n_prompt_tokens":301,"n_ctx":256}})", "m");
  CHECK(counts.context == 256);
  CHECK(counts.prompt_tokens == 301);
  // vLLM
  const std::string vllm_msg = "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (1000 in the messages, 4000 in the completion). Please reduce the length of the messages or completion.";
  auto vllm = http_error(400, json{{"object", "error"}, {"message", vllm_msg}, {"type", "BadRequestError"}, {"param", nullptr}, {"code", 400}}.dump());
  CHECK(vllm.code == errc::context_overflow);
  auto vc = detail::parse_overflow_counts("", vllm_msg);
  CHECK(vc.context == 4096);
  CHECK(vc.prompt_tokens == 1000);
  auto vc2 = detail::parse_overflow_counts("", "'max_tokens' or 'max_completion_tokens' is too large: 4000. This model's maximum context length is 4096 tokens and your request has 1000 input tokens (4000 > 4096 - 1000).");
  CHECK(vc2.context == 4096);
  CHECK(vc2.prompt_tokens == 1000);
  // OpenAI
  auto openai = http_error(400, R"({"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}})");
  CHECK(openai.code == errc::context_overflow);
  // TGI (422)
  auto tgi = http_error(422, R"({"error":"Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 5000 `inputs` tokens and 100 `max_new_tokens`","error_type":"validation"})");
  CHECK(tgi.code == errc::context_overflow);
  // Other 400s stay what they were.
  auto other = http_error(400, R"({"error":{"code":400,"message":"invalid temperature","type":"invalid_request_error"}})");
  CHECK(other.code == errc::http_status);
  CHECK(detail::fitting_max_tokens(100, 1000, 1024) == 24);
  CHECK(detail::fitting_max_tokens(100, 1030, 1024) == 0);
  CHECK(detail::fitting_max_tokens(100, 10, 0) == 100);
}

TEST_CASE("a context overflow over HTTP is errc::context_overflow after one attempt" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  std::atomic<int> calls{0};
  srv->Post("/v1/completions", [&](const httplib::Request&, httplib::Response& res) {
    ++calls;
    res.status = 400;
    res.set_content(R"({"error":{"code":400,"message":"request (301 tokens) exceeds the available context size (256 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":301,"n_ctx":256}})",
                    "application/json");
  });
  srv.start();
  openai_options o;
  o.base_urls = {srv.url()};
  o.preset = server_preset::llamacpp;
  o.model = "m";
  o.retry.base_backoff = std::chrono::milliseconds(1);
  openai_backend llm(o);
  generation_request req;
  req.prompt = prompt("a long prompt");
  auto g = llm.generate(req);
  REQUIRE_FALSE(g);
  CHECK(g.error().code == errc::context_overflow);
  CHECK(g.error().http_status == 400);
  CHECK(g.error().type == "exceed_context_size_error");
  CHECK_FALSE(g.error().retryable);
  CHECK(calls == 1);
}
