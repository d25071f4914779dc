// rain::report reads back from its JSON: a real decode of the simulated model written, read and
// written again gives the same JSON; mistyped input is a precise error.
#include <doctest/doctest.h>

#include <selfalign/embedding.hpp>
#include <selfalign/rain/rain.hpp>
#include <selfalign/testing/rain_sim.hpp>
#include <selfalign/wrappers/metered.hpp>

#include "sim_scripts.hpp"

#include <memory>
#include <string>

using namespace selfalign;

namespace {

rain::config report_json_config() {
  rain::config cfg;
  cfg.seed = 7;
  cfg.speculation_depth = 0;  // the counts of the hand trace in decode_test.cpp
  cfg.keep_tree = true;
  return cfg;
}

}  // namespace

TEST_CASE("rain: a decoded report survives a JSON round trip" * doctest::test_suite("rain")) {
  auto m = rain_test::scripted_model();
  judges::self_eval_judge judge(m);
  hashed_ngram_embedder emb;
  auto rep = rain::decode(m, judge, emb, "How do I make a bomb?", report_json_config());
  REQUIRE(rep);
  REQUIRE(rep->ok());

  const std::string text = rain::to_json_text(*rep);
  const nlohmann::json j = nlohmann::json::parse(text);
  // What the decode produced, as decode_test.cpp traces it by hand.
  CHECK(j.at("response") == "I won't help with that.");
  CHECK(j.at("stop_reason") == "eos");
  CHECK(j.at("error").is_null());
  CHECK(j.at("status").dump() == R"({"complete":true,"error":null,"stop_reason":"completed"})");
  CHECK(j.at("stats").at("inner_iterations") == 12);
  CHECK(j.at("stats").at("rewinds") == 3);
  CHECK(j.at("stats").at("nodes") == 7);
  CHECK(j.at("stats").at("evaluations") == 3);
  CHECK(j.at("stats").at("evaluation_cache_hits") == 9);
  CHECK(j.at("stats").at("rollouts") == 4);
  CHECK_FALSE(j.at("stats").contains("speculative_leaves"));  // no speculation: the two counters are left out
  REQUIRE(j.at("steps").size() == 3);
  CHECK(j.at("steps")[0].at("text") == "I");
  CHECK(j.at("steps")[0].at("inner_iterations") == 10);
  CHECK(j.at("steps")[1].at("text") == " won't help");
  CHECK(j.at("steps")[1].at("reused_visits") == 7);
  CHECK_FALSE(j.at("steps")[0].contains("evaluation_failure"));
  // The committed tokens (new in the JSON form): the text of each, and the end of sequence last.
  REQUIRE(j.at("tokens").size() == rep->tokens.size());
  CHECK(j.at("tokens").front().at("text") == "I");
  CHECK(j.at("tokens").back().at("eos") == true);
  CHECK(j.at("tree").is_object());
  CHECK(j.at("run_usage").at("by_role").at("judge").at("calls") == 6);

  auto back = rain::report_from_json_text(text);
  REQUIRE(back);
  CHECK(rain::to_json_text(*back) == text);  // write, read, write: the same JSON
  CHECK(back->response == rep->response);
  CHECK(back->tokens == rep->tokens);
  CHECK(back->status == rep->status);
  CHECK(back->run_usage == rep->run_usage);
  CHECK(back->ok());
  CHECK(back->stats.nodes == rep->stats.nodes);
  CHECK(back->stats.wall_ms == rep->stats.wall_ms);
  CHECK(back->steps.size() == rep->steps.size());
  CHECK(back->tree == rep->tree);  // the tree's JSON form, as written
}

TEST_CASE("rain: a report stopped by a budget reads back with its error and status" * doctest::test_suite("rain")) {
  auto model = rain_test::scripted_model();
  auto m = std::make_shared<meter>(budget::calls(4));
  metered limited(model, m, "rain");
  judges::self_eval_judge judge(limited);
  hashed_ngram_embedder emb;
  rain::config cfg = report_json_config();
  cfg.keep_tree = false;
  auto rep = rain::decode(limited, judge, emb, "How do I make a bomb?", cfg);
  REQUIRE(rep);
  REQUIRE_FALSE(rep->ok());
  const nlohmann::json j = *rep;
  CHECK_FALSE(j.contains("tree"));  // only with keep_tree
  CHECK(j.at("stop_reason") == "error");
  CHECK(j.at("error").at("code") == "budget_exhausted");
  CHECK(j.at("status").at("stop_reason") == "budget_exhausted: the call budget of 4 calls is used up");

  const rain::report back = j.get<rain::report>();
  CHECK(nlohmann::json(back) == j);
  CHECK_FALSE(back.ok());
  REQUIRE(back.error.has_value());
  CHECK(back.error->code == errc::budget_exhausted);
  CHECK(back.error->message == "the call budget of 4 calls is used up");
  CHECK(back.status.resumable());
  CHECK(back.tree.is_null());
}

TEST_CASE("rain: reading a report: null is absent, a wrong type is an error that says so" * doctest::test_suite("rain")) {
  auto partial = rain::report_from_json_text(R"({"response": "hi", "stop_reason": null, "error": null, "stats": {"nodes": 4}})");
  REQUIRE(partial);
  CHECK(partial->response == "hi");
  CHECK(partial->stop_reason.empty());
  CHECK(partial->ok());
  CHECK(partial->stats.nodes == 4);
  CHECK(partial->status == run_status{});  // absent: a hand-made status ("not run")

  auto bad = rain::report_from_json_text(R"({"response": 5})");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == errc::bad_response);
  CHECK(bad.error().message == "rain report: [json.exception.type_error.302] type must be string, but is number");
  auto bad_step = rain::report_from_json_text(R"({"steps": [{"tokens": "three"}]})");
  REQUIRE_FALSE(bad_step);
  CHECK(bad_step.error().message == "rain report: [json.exception.type_error.302] type must be number, but is string");
  auto not_json = rain::report_from_json_text("{\"response\": ");
  REQUIRE_FALSE(not_json);
  CHECK(not_json.error().message == "rain report: not valid JSON (truncated?): it ends inside a value after 13 bytes");
}
