// The selfalign binary against hostile servers: an echoed API key never reaches stderr or the
// trace file; a run that ends over its token budget exits 4 (issue 10 item 5, issue 11 2.8).
#include <doctest/doctest.h>

#include "cli_support.hpp"

#include <cstdlib>

using namespace cli_test;

namespace {

const std::string secret_key = "sk-test-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c";


// A server whose every chat answer quotes the Authorization header it received, as some proxies
// do: in a JSON error (status 401) or in a text/plain body (status 500).
class echoing_server {
 public:
  explicit echoing_server(bool json) {
    server_.Get("/v1/models", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"object":"list","data":[{"id":"echo-model","owned_by":"tests"}]})", "application/json");
    });
    server_.Post("/v1/chat/completions", [json](const httplib::Request& req, httplib::Response& res) {
      const std::string auth = req.get_header_value("Authorization");
      if (json) {
        res.status = 401;
        res.set_content(nlohmann::json{{"error", {{"message", "Invalid credentials: " + auth}, {"type", "auth"}, {"code", auth}}}}.dump(),
                        "application/json");
      } else {
        res.status = 500;
        res.set_content("proxy failure while forwarding request with header Authorization: " + auth + " to upstream", "text/plain");
      }
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~echoing_server() {
    server_.stop();
    thread_.join();
  }
  [[nodiscard]] std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace

TEST_CASE("an API key echoed by the server appears neither on stderr nor in the trace" * doctest::test_suite("cli")) {
  ::setenv("SELFALIGN_HOSTILE_TEST_KEY", secret_key.c_str(), 1);
  for (bool json : {true, false}) {
    CAPTURE(json);
    echoing_server server(json);
    const auto input = write_file("echo-in", "{\"prompt\":\"hello\"}\n");
    const auto trace = selfalign::test_support::temp_path(json ? "echo-trace-json.jsonl" : "echo-trace-text.jsonl");
    auto r = run({"generate", "--base-url", server.base_url(), "--api-key-env", "SELFALIGN_HOSTILE_TEST_KEY", "--retries", "0",
                  "--trace", trace.string(), "--quiet", input.string()});
    INFO(r.err);
    CHECK(r.exit_code == 3);
    CHECK(r.err.find(json ? "HTTP 401" : "HTTP 500") != std::string::npos);
    CHECK(r.err.find("Bearer [redacted]") != std::string::npos);  // the message is still quoted, minus the key
    const std::string traced = slurp(trace);
    CHECK(traced.find("call_failed") != std::string::npos);
    CHECK(traced.find("[redacted]") != std::string::npos);
    // No part of the key: not whole, and not the start of it that a cut message would keep.
    for (const std::string& text : {r.err, r.out, traced}) {
      CHECK(text.find(secret_key) == std::string::npos);
      CHECK(text.find(secret_key.substr(0, 12)) == std::string::npos);
    }
  }
  ::unsetenv("SELFALIGN_HOSTILE_TEST_KEY");
}

TEST_CASE("concurrent calls cannot overshoot the token budget, and a run that ends over it exits 4" * doctest::test_suite("cli")) {
  std::string eight;
  for (int i = 0; i < 8; ++i) eight += "{\"prompt\":\"question " + std::to_string(i) + "\"}\n";
  {
    // Each call reserves about 7 prompt + 8 new tokens; the server bills 13 a call. At most four
    // reservations fit under 50, so no more than four calls are made (eight were, before).
    fake_openai_server server;
    const auto input = write_file("tok-in", eight);
    auto r = run({"generate", "--base-url", server.base_url(), "--max-total-tokens", "50", "--concurrency", "8", "--max-tokens", "8",
                  "--quiet", input.string()});
    INFO(r.err);
    CHECK(r.exit_code == 4);
    CHECK(server.chat_requests() <= 4);
    CHECK(r.err.find("token budget of 50 tokens") != std::string::npos);
  }
  {
    // Three calls, one at a time, each admitted while under 30: 13, 26, 39 tokens. Every line is
    // written, but the run used more than its budget: exit 4, saying by how much.
    fake_openai_server server;
    const auto input = write_file("tok3-in", "{\"prompt\":\"a\"}\n{\"prompt\":\"b\"}\n{\"prompt\":\"c\"}\n");
    auto r = run({"generate", "--base-url", server.base_url(), "--max-total-tokens", "30", "--concurrency", "1", "--max-tokens", "4",
                  "--quiet", input.string()});
    INFO(r.err);
    CHECK(r.exit_code == 4);
    CHECK(server.chat_requests() == 3);
    CHECK(lines_of(r.out).size() == 3);
    CHECK(r.err.find("the token budget of 30 tokens was exceeded: 39 tokens used") != std::string::npos);
  }
}
