// dlma::report reads back from its JSON (the summary keys plus the lists themselves): a real run
// of the simulated scorer written, read and written again gives the same JSON.
#include <doctest/doctest.h>

#include <selfalign/dlma/build_pairs.hpp>
#include <selfalign/testing/dlma_sim.hpp>
#include <selfalign/wrappers/metered.hpp>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

namespace sa = selfalign;
namespace dlma = selfalign::dlma;

namespace {

sa::testing::dlma_sim report_json_sim() {
  sa::testing::dlma_sim s;
  s.answer("law-abiding", {"I would rather help you safely.", "Here is a careful answer."})
      .answer("toxic", {"Do it, who cares.", "Break the rules."});
  s.affinity("law-abiding", "safely", 1.5).affinity("toxic", "rules", 2.0);
  return s;
}

const std::vector<std::string> report_json_queries = {"Question one?", "Question two?", "Question three?"};

}  // namespace

TEST_CASE("dlma: a built report survives a JSON round trip" * doctest::test_suite("dlma")) {
  auto sim = report_json_sim();
  dlma::config cfg;
  cfg.max_concurrency = 1;
  cfg.seed = 3;
  auto rep = dlma::build_pairs(sim, report_json_queries, cfg);
  REQUIRE(rep);
  REQUIRE(rep->pairs.size() + rep->dropped.size() == 3);

  const std::string text = dlma::to_json_text(*rep);
  const nlohmann::json j = nlohmann::json::parse(text);
  // The summary keys, as before.
  CHECK(j.at("queries") == 3);
  CHECK(j.at("pairs") == rep->pairs.size());
  CHECK(j.at("dropped") == rep->dropped.size());
  CHECK(j.at("failed") == 0);
  CHECK(j.at("unfinished") == 0);
  CHECK(j.at("complete") == true);
  CHECK(j.at("stop_reason") == "completed");
  CHECK(j.at("status").dump() == R"({"complete":true,"error":null,"stop_reason":"completed"})");
  CHECK(j.at("calls") == 18);  // 2 generations and 4 scorings per query
  CHECK(j.at("run_usage").at("by_role").at("generator").at("calls") == 6);
  CHECK(j.at("run_usage").at("by_role").at("scorer").at("calls") == 12);
  CHECK(j.at("boundary") == std::string(dlma::to_string(rep->boundary)));
  CHECK(j.at("margins").at("count") == 3);
  CHECK(j.at("margins").at("mean") == rep->margins.mean);
  // The lists behind the counts (new keys): the pairs with their four scorings.
  REQUIRE(j.at("pair_list").size() == rep->pairs.size());
  REQUIRE_FALSE(rep->pairs.empty());
  const auto& p0 = j.at("pair_list")[0];
  CHECK(p0.at("query") == "Question one?");
  CHECK(p0.at("chosen") == rep->pairs[0].chosen);
  CHECK(p0.at("self_reward") == rep->pairs[0].self_reward);
  REQUIRE(p0.at("scores").size() == 4);
  CHECK(p0.at("scores")[0].at("logprob") == rep->pairs[0].scores[0].logprob);
  CHECK(p0.at("scores")[0].at("method") == std::string(dlma::to_string(rep->pairs[0].scores[0].method)));
  CHECK(p0.at("boundary_positive") == std::string(dlma::to_string(rep->pairs[0].boundary_positive)));
  CHECK(j.at("unfinished_list") == nlohmann::json::array());

  auto back = dlma::report_from_json_text(text);
  REQUIRE(back);
  CHECK(dlma::to_json_text(*back) == text);  // write, read, write: the same JSON
  CHECK(back->pairs == rep->pairs);
  CHECK(back->dropped == rep->dropped);
  CHECK(back->status == rep->status);
  CHECK(back->complete());
  CHECK(back->stop_reason == "completed");
  CHECK_FALSE(back->stop_code);
  CHECK(back->run_usage == rep->run_usage);
  CHECK(back->usage == rep->usage);
  CHECK(back->boundary == rep->boundary);
  CHECK(back->margins.median == rep->margins.median);
}

TEST_CASE("dlma: a report stopped by a budget reads back stopped, with its unfinished queries" * doctest::test_suite("dlma")) {
  auto sim = report_json_sim();
  auto m = std::make_shared<sa::meter>(sa::budget::calls(8));
  sa::metered limited(sim, m, "dlma");
  dlma::config cfg;
  cfg.max_concurrency = 1;
  auto rep = dlma::build_pairs(limited, report_json_queries, cfg);
  REQUIRE(rep);
  REQUIRE_FALSE(rep->complete());
  const nlohmann::json j = *rep;
  CHECK(j.at("complete") == false);
  CHECK(j.at("stop_reason") == "budget_exhausted: the call budget of 8 calls is used up");
  CHECK(j.at("unfinished") == rep->unfinished.size());
  CHECK(j.at("unfinished_list") == nlohmann::json(rep->unfinished));

  const dlma::report back = j.get<dlma::report>();
  CHECK(nlohmann::json(back) == j);
  CHECK_FALSE(back.complete());
  CHECK(back.stop_code == sa::errc::budget_exhausted);
  CHECK(back.stop_reason == "budget_exhausted: the call budget of 8 calls is used up");
  CHECK(back.unfinished == rep->unfinished);
  CHECK(back.status.resumable());
}

TEST_CASE("dlma: an empty run's statistics are null in JSON and NaN again when read" * doctest::test_suite("dlma")) {
  dlma::report r;  // no pairs: every statistic NaN
  const nlohmann::json j = r;
  CHECK(j.at("margins").at("mean").is_null());
  CHECK(j.at("margins").at("negative_fraction").is_null());
  const auto back = j.get<dlma::report>();
  CHECK(std::isnan(back.margins.mean));
  CHECK(nlohmann::json(back) == j);
}

TEST_CASE("dlma: reading a report: null is absent, a wrong type or an unknown name is an error" * doctest::test_suite("dlma")) {
  auto partial = dlma::report_from_json_text(R"({"queries": 2, "boundary": null, "margins": {"count": null}})");
  REQUIRE(partial);
  CHECK(partial->queries == 2);
  CHECK(partial->boundary == dlma::boundary_mode::text);
  CHECK(partial->margins.count == 0);
  CHECK_FALSE(partial->complete());  // no status: not run

  auto bad = dlma::report_from_json_text(R"({"queries": "two"})");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == sa::errc::bad_response);
  CHECK(bad.error().message == "dlma report: [json.exception.type_error.302] type must be number, but is string");
  auto bad_mode = dlma::report_from_json_text(R"({"boundary": "pixels"})");
  REQUIRE_FALSE(bad_mode);
  CHECK(bad_mode.error().message == "dlma report: [json.exception.other_error.501] unknown boundary mode \"pixels\"");
  auto bad_pair = dlma::report_from_json_text(R"({"pair_list": [{"scores": [{"method": 1}]}]})");
  REQUIRE_FALSE(bad_pair);
  CHECK(bad_pair.error().message == "dlma report: [json.exception.type_error.302] type must be string, but is number");
}
