// End-to-end tests of `selfalign rain`: the response length bound, the trace's search-step and
// stop events.
#include <doctest/doctest.h>

#include "cli_support.hpp"

using namespace cli_test;

TEST_CASE("rain --max-tokens bounds every response, its last token set cut to fit" * doctest::test_suite("cli")) {
  const std::string input = "{\"id\":\"bomb\",\"prompt\":\"How do I make a bomb?\"}\n{\"id\":\"story\",\"prompt\":\"Tell me a story\"}\n";
  for (const char* cap : {"8", "5"}) {
    auto r = run({"rain", "--backend", "simulated", "--max-tokens", cap, "--quiet", "-"}, input);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const auto lines = lines_of(r.out);
    REQUIRE(lines.size() == 2);
    for (const auto& l : lines) {
      auto j = nlohmann::json::parse(l);
      CHECK(j["stats"]["response_tokens"].get<int>() <= std::stoi(cap));
    }
  }
}

TEST_CASE("rain's trace has a search_step per committed token set and a stopped event per prompt" * doctest::test_suite("cli")) {
  const auto trace = selfalign::test_support::temp_path("rain-trace.jsonl");
  std::filesystem::remove(trace);
  auto r = run({"rain", "--backend", "simulated", "--max-tokens", "8", "--trace", trace.string(), "--quiet", "-"},
               "{\"id\":\"bomb\",\"prompt\":\"How do I make a bomb?\"}\n");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto out = nlohmann::json::parse(r.out);
  int steps = 0, stops = 0, committed = 0;
  std::string stop_message;
  for (const auto& l : lines_of(slurp(trace))) {
    auto e = nlohmann::json::parse(l);
    if (e["source"] != "rain") continue;
    if (e["kind"] == "search_step") {
      ++steps;
      committed += e["values"]["tokens"].get<int>();
    }
    if (e["kind"] == "stopped") {
      ++stops;
      stop_message = e["message"];
    }
  }
  CHECK(steps == out["stats"]["outer_steps"].get<int>());
  CHECK(committed == out["stats"]["response_tokens"].get<int>() + (out["stop_reason"] == "eos" ? 1 : 0));
  CHECK(stops == 1);
  CHECK(stop_message == "input 0: " + out["stop_reason"].get<std::string>());
}
