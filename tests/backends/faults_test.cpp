// openai_backend under faults: 429 with Retry-After, 5xx then success, resets, cut bodies,
// silence past the deadline, an unreachable port, stale keep-alive sockets; and the pool's
// concurrency, counted at the server.
#include "backends/fixture.hpp"

#include <selfalign/backends/openai.hpp>
#include <selfalign/batch.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <vector>

using namespace selfalign;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::string ok_body =
    R"({"id":"c","object":"chat.completion","model":"test-model","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}})";

using fixture::chat_request;

std::string http_ok(const std::string& body, bool keep_alive = true) {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         (keep_alive ? "\r\nConnection: keep-alive" : "\r\nConnection: close") + "\r\n\r\n" + body;
}

batch_options batch_opts(std::size_t width) {
  batch_options b;
  b.max_concurrency = width;
  return b;
}

}  // namespace

TEST_CASE("429 with Retry-After is retried after the server's wait and then succeeds" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  std::atomic<int> calls{0};
  srv->Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    if (++calls <= 2) {
      res.status = 429;
      res.set_header("retry-after-ms", "5");
      res.set_header("Retry-After", "100");  // retry-after-ms wins
      res.set_content(R"({"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}})", "application/json");
      return;
    }
    res.set_content(ok_body, "application/json");
  });
  srv.start();
  openai_backend llm(fixture::options(srv.url(), server_preset::openai));
  const auto t0 = std::chrono::steady_clock::now();
  auto g = llm.generate(chat_request());
  REQUIRE(g);
  CHECK(g->text() == "ok");
  CHECK(calls == 3);
  CHECK(llm.stats().attempts == 3);
  CHECK(llm.stats().retries == 2);
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);  // the 100 s Retry-After was not used
}

TEST_CASE("429 on every attempt ends as rate_limited after max_retries with the server's message" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  std::atomic<int> calls{0};
  srv->Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    ++calls;
    res.status = 429;
    res.set_header("Retry-After", "0");
    res.set_header("x-request-id", "req_abc");
    res.set_content(R"({"error":"Model is overloaded","error_type":"overloaded"})", "application/json");
  });
  srv.start();
  auto o = fixture::options(srv.url(), server_preset::tgi);
  o.retry.max_retries = 3;
  openai_backend llm(o);
  auto g = llm.generate(chat_request());
  REQUIRE_FALSE(g);
  CHECK(calls == 4);
  CHECK(g.error().code == errc::rate_limited);
  CHECK(g.error().http_status == 429);
  CHECK(g.error().message == "Model is overloaded (after 4 attempts)");
  CHECK(g.error().type == "overloaded");
  CHECK(g.error().request_id == "req_abc");
  CHECK(g.error().retryable);
}

TEST_CASE("a Retry-After beyond the cap and x-should-retry false stop retries at once" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  std::atomic<int> calls{0};
  srv->Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    ++calls;
    res.status = 503;
    if (json::parse(req.body)["model"] == "slow") res.set_header("Retry-After", "3600");
    else res.set_header("x-should-retry", "false");
    res.set_content(R"({"error":{"message":"busy","type":"unavailable_error","code":503}})", "application/json");
  });
  srv.start();
  openai_backend llm(fixture::options(srv.url(), server_preset::llamacpp));
  auto r = chat_request();
  r.model = "slow";
  auto a = llm.generate(r);
  REQUIRE_FALSE(a);
  CHECK(a.error().code == errc::server_error);
  CHECK(a.error().message == "busy");
  CHECK(calls == 1);
  r.model = "other";
  auto b = llm.generate(r);
  REQUIRE_FALSE(b);
  CHECK(calls == 2);
}

TEST_CASE("500 then success: one retry with backoff" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  std::atomic<int> calls{0};
  srv->Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    if (++calls == 1) {
      res.status = 500;
      res.set_content("Internal Server Error", "text/plain");
      return;
    }
    res.set_content(ok_body, "application/json");
  });
  srv.start();
  openai_backend llm(fixture::options(srv.url(), server_preset::vllm));
  auto g = llm.generate(chat_request());
  REQUIRE(g);
  CHECK(calls == 2);
  CHECK(llm.stats().retries == 1);
}

TEST_CASE("a 400 is never retried and keeps the server's message and code" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  std::atomic<int> calls{0};
  srv->Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    ++calls;
    res.status = 400;
    res.set_content(R"({"error":{"message":"temperature must be non-negative, got -1.0.","type":"BadRequestError","param":null,"code":400}})", "application/json");
  });
  srv.start();
  openai_backend llm(fixture::options(srv.url(), server_preset::vllm));
  auto g = llm.generate(chat_request());
  REQUIRE_FALSE(g);
  CHECK(calls == 1);
  CHECK(g.error().code == errc::http_status);
  CHECK(g.error().message == "temperature must be non-negative, got -1.0.");
  CHECK(g.error().server_code == "400");
  CHECK_FALSE(g.error().retryable);
}

TEST_CASE("a 400 that says the context is exceeded is errc::context_overflow, never retried, message kept" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  std::atomic<int> calls{0};
  srv->Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    ++calls;
    res.status = 400;
    res.set_content(R"({"error":{"message":"This model's maximum context length is 4096 tokens.","type":"BadRequestError","param":null,"code":400}})", "application/json");
  });
  srv.start();
  openai_backend llm(fixture::options(srv.url(), server_preset::vllm));
  auto g = llm.generate(chat_request());
  REQUIRE_FALSE(g);
  CHECK(calls == 1);
  CHECK(g.error().code == errc::context_overflow);
  CHECK(g.error().message.find("This model's maximum context length is 4096 tokens.") != std::string::npos);
  CHECK_FALSE(g.error().retryable);
}

TEST_CASE("a connection reset before the answer is retried on a new connection" * doctest::test_suite("backends")) {
  fixture::raw_server srv([](int fd, const std::string&, int index) {
    if (index == 0) return true;  // RST without answering
    fixture::raw_server::write_all(fd, http_ok(ok_body, false));
    return false;
  });
  openai_backend llm(fixture::options(srv.url(), server_preset::vllm));
  auto g = llm.generate(chat_request());
  REQUIRE(g);
  CHECK(g->text() == "ok");
  CHECK(srv.connections() == 2);
  CHECK(llm.stats().retries == 1);
  CHECK(llm.stats().stale_retries == 0);  // a fresh connection is not "stale"
}

TEST_CASE("resets on every attempt end as a transport error after 1 + max_retries attempts" * doctest::test_suite("backends")) {
  fixture::raw_server srv([](int, const std::string&, int) { return true; });
  openai_backend llm(fixture::options(srv.url(), server_preset::vllm));
  auto g = llm.generate(chat_request());
  REQUIRE_FALSE(g);
  CHECK(g.error().code == errc::transport);
  CHECK(srv.connections() == 3);
  CHECK(g.error().message.find("POST /v1/chat/completions to " + srv.url() + ": the connection was closed or reset") == 0);
  CHECK(g.error().message.find("(after 3 attempts)") != std::string::npos);
}

TEST_CASE("a body cut in half is a bad_response quoting its first bytes" * doctest::test_suite("backends")) {
  SUBCASE("the connection closes before Content-Length bytes arrived") {
    fixture::raw_server srv([](int fd, const std::string&, int) {
      const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(ok_body.size()) + "\r\n\r\n";
      fixture::raw_server::write_all(fd, head + ok_body.substr(0, ok_body.size() / 2));
      return false;
    });
    openai_backend llm(fixture::options(srv.url(), server_preset::vllm));
    auto g = llm.generate(chat_request());
    REQUIRE_FALSE(g);
    CHECK(g.error().code == errc::bad_response);
    CHECK(g.error().message.find("POST /v1/chat/completions: the answer was cut off after " + std::to_string(ok_body.size() / 2) +
                                 " bytes (body starts: \"{\"id\":\"c\"") == 0);
    CHECK(srv.connections() == 1);
  }
  SUBCASE("a complete HTTP answer whose JSON is cut") {
    fixture::raw_server srv([](int fd, const std::string&, int) {
      fixture::raw_server::write_all(fd, http_ok(ok_body.substr(0, 40), false));
      return false;
    });
    openai_backend llm(fixture::options(srv.url(), server_preset::vllm));
    auto g = llm.generate(chat_request());
    REQUIRE_FALSE(g);
    CHECK(g.error().code == errc::bad_response);
    CHECK(g.error().message == "POST /chat/completions: the answer is not valid JSON (truncated?): it ends inside a value after 40 bytes (body starts: \"" + ok_body.substr(0, 40) + "\")");
  }
  SUBCASE("valid JSON of the wrong shape") {
    fixture::raw_server srv([](int fd, const std::string&, int) {
      fixture::raw_server::write_all(fd, http_ok(R"({"result":"ok"})", false));
      return false;
    });
    openai_backend llm(fixture::options(srv.url(), server_preset::vllm));
    auto g = llm.generate(chat_request());
    REQUIRE_FALSE(g);
    CHECK(g.error().code == errc::bad_response);
    CHECK(g.error().message == "POST /chat/completions: the answer has no `choices` array (body starts: \"{\"result\":\"ok\"}\")");
  }
}

TEST_CASE("a server that never answers ends at the call deadline as a timeout" * doctest::test_suite("backends")) {
  std::mutex m;
  std::condition_variable cv;
  bool quit = false;
  {
    fixture::raw_server srv([&](int, const std::string&, int) {
      std::unique_lock lock(m);
      cv.wait_for(lock, 10s, [&] { return quit; });
      return false;
    });
    auto o = fixture::options(srv.url(), server_preset::vllm);
    o.deadline = 300ms;
    o.read_timeout = 60s;  // only the deadline can end this call
    openai_backend llm(o);
    const auto t0 = std::chrono::steady_clock::now();
    auto g = llm.generate(chat_request());
    const auto took = std::chrono::steady_clock::now() - t0;
    REQUIRE_FALSE(g);
    CHECK(g.error().code == errc::timeout);
    CHECK(g.error().message == "POST /v1/chat/completions did not finish within the call deadline of 300 ms");
    CHECK(took < 5s);
    CHECK(srv.connections() == 1);  // no retry once the deadline passed
    {
      std::lock_guard lock(m);
      quit = true;
    }
    cv.notify_all();
  }
}

TEST_CASE("an unreachable port is a transport error naming the URL, after the retries" * doctest::test_suite("backends")) {
  // A port nobody listens on: bind, read the port, close.
  int port = 0;
  {
    fixture::raw_server probe([](int, const std::string&, int) { return false; });
    port = std::stoi(probe.url().substr(std::string("http://127.0.0.1:").size()));
  }
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  openai_backend llm(fixture::options(url, server_preset::vllm));
  auto g = llm.generate(chat_request());
  REQUIRE_FALSE(g);
  CHECK(g.error().code == errc::transport);
  CHECK(g.error().message == "cannot connect to " + url + " (refused or unreachable) (after 3 attempts)");
  CHECK(llm.stats().attempts == 3);
  CHECK(llm.stats().retries == 2);
}

TEST_CASE("a stale keep-alive socket is retried once for free on a new connection" * doctest::test_suite("backends")) {
  fixture::raw_server srv([](int fd, const std::string&, int index) {
    fixture::raw_server::write_all(fd, http_ok(ok_body, true));
    if (index == 0) {
      // Keep the socket open; when the next request arrives on it, drop it without answering.
      char buf[4096];
      (void)::recv(fd, buf, sizeof buf, 0);
      return true;
    }
    return false;
  });
  auto o = fixture::options(srv.url(), server_preset::vllm);
  o.max_concurrency = 1;
  o.retry.max_retries = 0;  // the free stale retry must not need the retry budget
  openai_backend llm(o);
  REQUIRE(llm.generate(chat_request()));
  auto g = llm.generate(chat_request());
  REQUIRE(g);
  CHECK(srv.connections() == 2);
  CHECK(llm.stats().stale_retries == 1);
  CHECK(llm.stats().retries == 0);
  CHECK(llm.stats().attempts == 3);
}

TEST_CASE("generate_batch holds max_concurrency requests in flight at the server" * doctest::test_suite("backends")) {
  constexpr int n = 12;
  fixture::loopback_server srv;
  fixture::gate all_in(n);
  std::atomic<int> inside{0}, peak{0};
  srv->Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    const int now = ++inside;
    int p = peak.load();
    while (now > p && !peak.compare_exchange_weak(p, now)) {}
    all_in.arrive_and_wait();
    --inside;
    res.set_content(ok_body, "application/json");
  });
  srv.start();
  auto o = fixture::options(srv.url(), server_preset::vllm);
  o.max_concurrency = n;
  openai_backend llm(o);
  std::vector<generation_request> reqs(n * 2, chat_request());
  auto out = selfalign::generate_batch(llm, reqs, batch_opts(64));
  REQUIRE(out.size() == reqs.size());
  for (const auto& g : out) CHECK(g);
  CHECK(all_in.peak() == n);
  CHECK(peak == n);
}

TEST_CASE("the pool never exceeds max_concurrency and reuses its keep-alive connections" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  fixture::gate pair(2);
  std::atomic<int> inside{0}, peak{0};
  std::mutex m;
  std::set<int> client_ports;
  srv->Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    {
      std::lock_guard lock(m);
      client_ports.insert(req.remote_port);
    }
    const int now = ++inside;
    int p = peak.load();
    while (now > p && !peak.compare_exchange_weak(p, now)) {}
    pair.arrive_and_wait();
    --inside;
    res.set_content(ok_body, "application/json");
  });
  srv.start();
  auto o = fixture::options(srv.url(), server_preset::vllm);
  o.max_concurrency = 2;
  openai_backend llm(o);
  std::vector<generation_request> reqs(10, chat_request());
  auto out = llm.generate_batch(reqs, batch_opts(8));
  for (const auto& g : out) CHECK(g);
  CHECK(peak == 2);
  CHECK(client_ports.size() == 2);  // two sockets served all ten requests
}

TEST_CASE("replicas: requests spread over several base URLs by least in flight" * doctest::test_suite("backends")) {
  fixture::loopback_server a, b;
  fixture::gate four(4);
  std::atomic<int> at_a{0}, at_b{0};
  auto handler = [&](std::atomic<int>& count) {
    return [&](const httplib::Request&, httplib::Response& res) {
      ++count;
      four.arrive_and_wait();
      res.set_content(ok_body, "application/json");
    };
  };
  a->Post("/v1/chat/completions", handler(at_a));
  b->Post("/v1/chat/completions", handler(at_b));
  a.start();
  b.start();
  auto o = fixture::options(a.url(), server_preset::vllm);
  o.base_urls = {a.url(), b.url()};
  o.max_concurrency = 2;
  openai_backend llm(o);
  std::vector<generation_request> reqs(4, chat_request());
  auto out = llm.generate_batch(reqs, batch_opts(4));
  for (const auto& g : out) CHECK(g);
  CHECK(four.peak() == 4);
  CHECK(at_a == 2);
  CHECK(at_b == 2);
}

TEST_CASE("n emulation and batches share the bounded pool without deadlock" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  std::atomic<int> calls{0};
  srv->Post("/v1/chat/completions", [&](const httplib::Request&, httplib::Response& res) {
    ++calls;
    res.set_content(ok_body, "application/json");
  });
  srv.start();
  auto o = fixture::options(srv.url(), server_preset::ollama);
  o.max_concurrency = 2;
  openai_backend llm(o);
  auto r = chat_request();
  r.sampling.n = 4;
  std::vector<generation_request> reqs(5, r);
  auto out = llm.generate_batch(reqs, batch_opts(5));
  for (const auto& g : out) {
    REQUIRE(g);
    CHECK(g->choices.size() == 4);
  }
  CHECK(calls == 20);
}
