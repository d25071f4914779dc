// eval HTML report: structure, escaping and self-containment (the browser test is chromium_test)
#include <doctest/doctest.h>
#include <selfalign/eval/html_report.hpp>
#include <selfalign/eval/pairwise.hpp>
#include <selfalign/eval/rubric.hpp>
#include <selfalign/judges/rubric_judge.hpp>
#include <selfalign/testing/drpo_sim.hpp>
#include <selfalign/testing/eval_judge_sim.hpp>

#include <string>
#include <vector>

using namespace selfalign;
namespace sim = selfalign::testing::drpo_sim;

namespace {
std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}
}  // namespace

TEST_CASE("the pairwise report has a rate chart with whiskers, a metric table and the decided items" * doctest::test_suite("eval")) {
  testing::eval_judge_sim judge;
  std::vector<eval::pairwise_input> items;
  for (const auto& q : sim::training_queries()) items.push_back({q, q, sim::answer_for(q, {"safety", "structure"}), sim::answer_for(q, {})});
  items[0].query = "<script>alert('x')</script> & \"quotes\"";
  const auto ev = eval::pairwise(judge, std::span<const eval::pairwise_input>(items));
  eval::html_report_options o;
  o.run_info = {{"judge model", "eval-judge-sim"}};
  const std::string h = eval::html_report(ev, o);
  CHECK(h.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(count(h, "<svg") == 1);
  CHECK(count(h, "class=\"bar system\"") == 4);  // win_rate, tie_share, win_share, loss_share
  CHECK(count(h, "class=\"whisker\"") >= 3);
  CHECK(h.find("id=\"chart-rates\"") != std::string::npos);
  CHECK(h.find("Where the systems differ most") != std::string::npos);
  CHECK(h.find("<script>") == std::string::npos);
  CHECK(h.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quotes&quot;") != std::string::npos);
  // Self-contained: no external references of any kind.
  CHECK(h.find("src=") == std::string::npos);
  CHECK(h.find("href=") == std::string::npos);
  CHECK(h.find("@import") == std::string::npos);
  CHECK(h.find("url(") == std::string::npos);
}

TEST_CASE("the rubric report with a baseline shows both systems, the per-aspect table and paired differences" *
          doctest::test_suite("eval")) {
  testing::eval_judge_sim model;
  judges::rubric_judge<testing::eval_judge_sim&> judge(model);
  std::vector<eval::answer_input> a, b;
  for (const auto& q : sim::training_queries()) {
    a.push_back({q, q, sim::answer_for(q, {"safety", "structure", "limits"})});
    b.push_back({q, q, sim::answer_for(q, {})});
  }
  const auto ea = eval::rubric(judge, std::span<const eval::answer_input>(a));
  const auto eb = eval::rubric(judge, std::span<const eval::answer_input>(b));
  auto diffs = eval::paired_differences(ea, eb);
  REQUIRE(diffs);
  eval::html_report_options o;
  o.system_label = "DRPO prompt";
  o.baseline_label = "plain prompt";
  const std::string h = eval::html_report(ea, o, &eb, &*diffs);
  CHECK(count(h, "<svg") == 2);  // overall score, aspects
  CHECK(h.find("id=\"chart-aspects\"") != std::string::npos);
  CHECK(count(h, "class=\"bar system\"") == 7);
  CHECK(count(h, "class=\"bar baseline\"") == 7);
  CHECK(h.find("<table class=\"aspects\">") != std::string::npos);
  CHECK(h.find("paired difference") != std::string::npos);
  CHECK(h.find("DRPO prompt") != std::string::npos);
}

TEST_CASE("an evaluation without any readable judgement still renders, saying n/a" * doctest::test_suite("eval")) {
  testing::eval_judge_sim judge;
  judge.unreadable_on("Answer");
  std::vector<eval::pairwise_input> items = {{"1", "q", "Answer one", "Answer two"}};
  const auto ev = eval::pairwise(judge, std::span<const eval::pairwise_input>(items));
  const std::string h = eval::html_report(ev);
  CHECK(h.find("n/a (n = 0)") != std::string::npos);
  CHECK(h.find("unreadable or failed judge outputs (1)") != std::string::npos);
}
