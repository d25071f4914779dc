#include <doctest/doctest.h>
#include <selfalign/testing/scripted_generator.hpp>
#include <selfalign/wrappers/observed.hpp>

#include <vector>

using namespace selfalign;

TEST_CASE("observed reports start, finish with usage, and failures" * doctest::test_suite("observed")) {
  selfalign::testing::scripted_generator backend;
  backend.on("ok", {"fine answer"});
  backend.fail_on("bad", error(errc::rate_limited, "slow down", 429));
  std::vector<event> events;
  observed g(backend, [&](const event& e) { events.push_back(e); }, "judge");
  generation_request r;
  r.prompt = "ok please";
  REQUIRE(g.generate(r));
  r.prompt = "bad please";
  REQUIRE_FALSE(g.generate(r));

  REQUIRE(events.size() == 4);
  CHECK(events[0].kind == event_kind::call_started);
  CHECK(events[0].source == "generate");
  CHECK(events[0].role == "judge");
  CHECK(events[1].kind == event_kind::call_finished);
  CHECK(events[1].call_id == events[0].call_id);
  CHECK(events[1].usage.prompt_tokens == 2);
  CHECK(events[1].usage.completion_tokens == 2);
  CHECK(events[1].latency_ms >= 0.0);
  CHECK(events[2].call_id != events[0].call_id);
  CHECK(events[3].kind == event_kind::call_failed);
  REQUIRE(events[3].error.has_value());
  CHECK(events[3].error->code == errc::rate_limited);
  CHECK(events[3].message == "rate_limited (HTTP 429): slow down");
}
