// The context window: a request that does not fit is errc::context_overflow (never retried) in
// every server's wording.
#include "backends/fixture.hpp"

#include <selfalign/backends/detail/context.hpp>
#include <selfalign/backends/openai.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <vector>
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

TEST_CASE("context_size(): vLLM's max_model_len, llama.cpp's per-slot n_ctx from /v1/models or /props" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  std::atomic<int> props_calls{0};
  std::string models = R"({"object":"list","data":[{"id":"a","owned_by":"vllm","max_model_len":4096},{"id":"b","owned_by":"vllm","max_model_len":8192}]})";
  srv->Get("/v1/models", [&](const httplib::Request&, httplib::Response& res) { res.set_content(models, "application/json"); });
  srv->Get("/props", [&](const httplib::Request&, httplib::Response& res) {
    ++props_calls;
    res.set_content(R"({"default_generation_settings":{"n_ctx":1024},"total_slots":2})", "application/json");
  });
  srv.start();
  openai_options o;
  o.base_urls = {srv.url()};
  o.preset = server_preset::vllm;
  o.model = "b";
  openai_backend vllm(o);
  CHECK(vllm.capabilities().context_size == 0);  // not asked yet: capabilities() sends nothing on a fixed preset
  CHECK(vllm.context_size().value() == 8192);
  CHECK(vllm.capabilities().context_size == 8192);

  models = R"({"object":"list","data":[{"id":"m","owned_by":"llamacpp","meta":{"n_vocab":32000,"n_ctx":1024}}]})";
  o.preset = server_preset::llamacpp;
  o.model = "";
  CHECK(openai_backend(o).context_size().value() == 1024);
  CHECK(props_calls == 0);
  models = R"({"object":"list","data":[{"id":"m","owned_by":"llamacpp"}]})";  // older llama-server: no meta
  CHECK(openai_backend(o).context_size().value() == 1024);
  CHECK(props_calls == 1);
  o.context_size = 300;  // configured: no request
  CHECK(openai_backend(o).context_size().value() == 300);
  CHECK(props_calls == 1);
}

TEST_CASE("max_tokens is cut to what fits: token prompts up front, a vLLM overflow answer once with its counts" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  std::vector<nlohmann::json> seen;
  std::mutex m;
  srv->Post("/v1/completions", [&](const httplib::Request& r, httplib::Response& res) {
    auto body = nlohmann::json::parse(r.body);
    {
      std::lock_guard<std::mutex> lock(m);
      seen.push_back(body);
    }
    if (body["max_tokens"].get<int>() > 24) {  // vLLM 0.6's answer for a 1000-token prompt in a 1024 context
      res.status = 400;
      res.set_content(nlohmann::json{{"object", "error"},
                                     {"message", "This model's maximum context length is 1024 tokens. However, you requested 1100 tokens "
                                                 "(1000 in the messages, 100 in the completion). Please reduce the length of the messages or completion."},
                                     {"type", "BadRequestError"}, {"code", 400}}.dump(),
                      "application/json");
      return;
    }
    res.set_content(R"({"choices":[{"index":0,"text":"ok","finish_reason":"length"}],"usage":{"prompt_tokens":1000,"completion_tokens":24,"total_tokens":1024}})",
                    "application/json");
  });
  srv.start();
  openai_options o;
  o.base_urls = {srv.url()};
  o.preset = server_preset::vllm;
  o.model = "m";
  o.context_size = -1;  // unknown: only the server's answer can tell
  openai_backend llm(o);
  generation_request req;
  req.prompt = prompt("a prompt the server counts as 1000 tokens");
  req.sampling.max_tokens = 100;
  auto g = llm.generate(req);
  REQUIRE(g);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0]["max_tokens"] == 100);
  CHECK(seen[1]["max_tokens"] == 24);

  // Token-id prompts are counted locally against a known context: cut before sending.
  seen.clear();
  o.context_size = 1024;
  openai_backend known(o);
  generation_request ids;
  ids.prompt = prompt(std::vector<token_id>(1000, 5));
  ids.sampling.max_tokens = 100;
  REQUIRE(known.generate(ids));
  REQUIRE(seen.size() == 1);
  CHECK(seen[0]["max_tokens"] == 24);
  // A prompt that fills the window fails locally with errc::context_overflow.
  ids.prompt = prompt(std::vector<token_id>(1024, 5));
  auto full = known.generate(ids);
  REQUIRE_FALSE(full);
  CHECK(full.error().code == errc::context_overflow);
  CHECK(full.error().message == "the prompt has 1024 tokens, which leaves no room in the model's context of 1024 tokens "
                                "(shorten the prompt or start the server with a larger context)");
  CHECK(seen.size() == 1);
}
