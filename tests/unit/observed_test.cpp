#include <doctest/doctest.h>
#include <selfalign/testing/scripted_generator.hpp>
#include <selfalign/wrappers/observed.hpp>
#include <selfalign/batch.hpp>
#include <selfalign/wrappers/cached.hpp>
#include <selfalign/wrappers/metered.hpp>
#include "list_generator.hpp"

#include <fmt/format.h>
#include <string>

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

namespace {
std::string event_line(const event& e) {
  const char* kind = e.kind == event_kind::call_started ? "started" : e.kind == event_kind::call_finished ? "finished" : "failed";
  return fmt::format("{}#{} {} {}", e.source, e.call_id, kind, e.usage.prompt_tokens);
}
}  // namespace

TEST_CASE("observed reports every prompt of a list as one call and passes the list on as one request" * doctest::test_suite("observed")) {
  selfalign_test::list_generator inner;
  std::vector<std::string> seen;
  observed<selfalign_test::list_generator&> g(inner, [&](const event& e) { seen.push_back(event_line(e)); }, "judge");
  static_assert(MultiPromptGenerator<observed<selfalign_test::list_generator&>>);
  const auto reqs = selfalign_test::list_requests({"a", "bb", "ccc"});
  auto out = generate_multi(g, std::span<const generation_request>(reqs));
  REQUIRE(out.size() == 3);
  CHECK(inner.log->lists == std::vector<std::vector<std::string>>{{"a", "bb", "ccc"}});
  CHECK(inner.log->singles.empty());
  CHECK(out[1]->choices[0].text == "re:bb");
  CHECK(seen == std::vector<std::string>{"generate#1 started 0", "generate#2 started 0", "generate#3 started 0",
                                         "generate#1 finished 1", "generate#2 finished 2", "generate#3 finished 3"});
  seen.clear();
  const auto bad = selfalign_test::list_requests({"fail", "x"});
  auto failed = generate_multi(g, std::span<const generation_request>(bad));
  CHECK(inner.log->lists.size() == 2);
  CHECK(seen == std::vector<std::string>{"generate#4 started 0", "generate#5 started 0", "generate#4 failed 0", "generate#5 failed 0"});
}

TEST_CASE("the CLI's stack observed(cached(metered(B))) sends a list as one request, and a repeated list as none" * doctest::test_suite("observed")) {
  selfalign_test::list_generator inner;
  auto m = std::make_shared<meter>();
  int started = 0;
  observed g(cached(metered<selfalign_test::list_generator&>(inner, m, "base"), std::make_shared<cache_store>(), "base"),
             [&](const event& e) { started += e.kind == event_kind::call_started ? 1 : 0; }, "base");
  static_assert(MultiPromptGenerator<decltype(g)>);
  const auto reqs = selfalign_test::list_requests({"one", "two"});
  auto first = generate_multi(g, std::span<const generation_request>(reqs));
  auto second = generate_multi(g, std::span<const generation_request>(reqs));
  CHECK(inner.log->lists == std::vector<std::vector<std::string>>{{"one", "two"}});
  CHECK(inner.log->singles.empty());
  CHECK(m->totals().calls == 2);
  CHECK(started == 4);  // observed is outside the cache: it sees the replays too
  REQUIRE(second[0]);
  CHECK(second[0]->usage.from_cache);
  CHECK(second[1]->choices[0].text == first[1]->choices[0].text);
}
