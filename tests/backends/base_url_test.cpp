// Base URLs (issue 11, item 7): one comma rule for SELFALIGN_BASE_URL and --base-url, and a URL
// without /v1 — what llama-server prints at start-up — works instead of reaching its native
// endpoints or a 404.
#include "backends/fixture.hpp"

#include <selfalign/backends/openai.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <string>

using namespace selfalign;

TEST_CASE("split_base_urls: commas separate replicas; spaces and empty entries are ignored" * doctest::test_suite("backends")) {
  CHECK(split_base_urls("http://a:1/v1") == std::vector<std::string>{"http://a:1/v1"});
  CHECK(split_base_urls(" http://a:1/v1 , http://b:2/v1,,") == std::vector<std::string>{"http://a:1/v1", "http://b:2/v1"});
  CHECK(split_base_urls(" , ").empty());
  ::setenv("SELFALIGN_BASE_URL", "http://a:1/v1,http://b:2", 1);
  auto o = openai_options::from_env();
  ::unsetenv("SELFALIGN_BASE_URL");
  CHECK(o.base_urls == std::vector<std::string>{"http://a:1/v1", "http://b:2"});
}

TEST_CASE("a base URL without a path means its /v1; a wrong path's 404 says to add /v1" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  std::atomic<int> v1_calls{0}, native_calls{0};
  srv->Post("/v1/completions", [&](const httplib::Request&, httplib::Response& res) {
    ++v1_calls;
    res.set_content(R"({"choices":[{"index":0,"text":"ok","finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}})",
                    "application/json");
  });
  srv->Post("/completions", [&](const httplib::Request&, httplib::Response& res) {  // llama.cpp's native shape
    ++native_calls;
    res.set_content(R"({"content":"native","tokens_predicted":1})", "application/json");
  });
  srv.start();
  generation_request req;
  req.prompt = prompt("x");
  for (const std::string& url : {srv.url(""), srv.url("") + "/"}) {
    openai_options o;
    o.base_urls = {url};
    o.preset = server_preset::llamacpp;
    o.model = "m";
    auto g = openai_backend(o).generate(req);
    REQUIRE(g);
    CHECK(g->choices.at(0).text == "ok");
  }
  CHECK(v1_calls == 2);
  CHECK(native_calls == 0);

  openai_options wrong;
  wrong.base_urls = {srv.url("/api")};
  wrong.preset = server_preset::llamacpp;
  wrong.model = "m";
  auto g = openai_backend(wrong).generate(req);
  REQUIRE_FALSE(g);
  CHECK(g.error().http_status == 404);
  CHECK(g.error().message.find("does not end in /v1") != std::string::npos);
  CHECK(g.error().message.find("add /v1 to the base URL") != std::string::npos);
}

TEST_CASE("HTTP 501 (llama-server without --embeddings) is unsupported and not retried" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  std::atomic<int> calls{0};
  srv->Post("/v1/embeddings", [&](const httplib::Request&, httplib::Response& res) {
    ++calls;
    res.status = 501;
    res.set_content(R"({"error":{"code":501,"message":"This server does not support embeddings. Start it with `--embeddings`","type":"not_supported_error"}})",
                    "application/json");
  });
  srv.start();
  openai_options o;
  o.base_urls = {srv.url()};
  o.preset = server_preset::llamacpp;
  o.model = "m";
  o.retry.base_backoff = std::chrono::milliseconds(1);
  embedding_request req;
  req.texts = {"a"};
  auto e = openai_backend(o).embed(req);
  REQUIRE_FALSE(e);
  CHECK(e.error().code == errc::unsupported);
  CHECK(e.error().http_status == 501);
  CHECK_FALSE(e.error().retryable);
  CHECK(calls == 1);
}
