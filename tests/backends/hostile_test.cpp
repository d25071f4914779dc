// openai_backend against hostile servers: deep nesting, huge indices and answers, lying usage,
// invalid text, echoed secrets. Nothing a server sends may crash the process or yield a silently
// wrong number (issue 10).
#include "backends/fixture.hpp"

#include <selfalign/backends/openai.hpp>

#include <doctest/doctest.h>

#include <string>

using namespace selfalign;

namespace {

generation_request chat_request(int max_tokens = 4) {
  generation_request r;
  r.prompt = prompt::chat({message::user("hi")});
  r.sampling.max_tokens = max_tokens;
  return r;
}

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
