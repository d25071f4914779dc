#include <doctest/doctest.h>
#include <selfalign/judges/aspect_selector.hpp>
#include <selfalign/judges/dynamic_judge.hpp>
#include <selfalign/judges/rubric_judge.hpp>
#include <selfalign/testing/scripted_generator.hpp>
#include <selfalign/wrappers/metered.hpp>
#include <selfalign/wrappers/observed.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <span>
#include <stop_token>
#include <thread>
#include <vector>

using namespace selfalign;
using selfalign::testing::scripted_generator;

TEST_CASE("the default catalogue holds the paper's 14 aspects with descriptions and rubrics" * doctest::test_suite("drpo")) {
  const auto cat = judges::default_aspects();
  REQUIRE(cat.size() == 14);
  const std::vector<std::string> names{"Helpfulness", "Clarity",     "Factuality",        "Depth",      "Engagement",
                                       "Conciseness", "Safety",      "Compliance",        "Limitations", "Critical-Thinking",
                                       "Creativity",  "Interactivity", "Empathy",         "Sensitivity"};
  for (std::size_t i = 0; i < names.size(); ++i) {
    CHECK(cat.aspects()[i].name == names[i]);
    CHECK_FALSE(cat.aspects()[i].description.empty());
    CHECK(cat.aspects()[i].rubric.find("1:") != std::string::npos);
    CHECK(cat.aspects()[i].rubric.find("5:") != std::string::npos);
  }
}

TEST_CASE("catalogue lookup ignores case and punctuation and knows the ICL-stage names" * doctest::test_suite("drpo")) {
  const auto cat = judges::default_aspects();
  CHECK(cat.find("critical thinking")->name == "Critical-Thinking");
  CHECK(cat.find("Compliance with Instructions")->name == "Compliance");
  CHECK(cat.find("Acknowledgement of Limitations")->name == "Limitations");
  CHECK(cat.find("Cultural Sensitivity")->name == "Sensitivity");
  CHECK(cat.find("Humor") == nullptr);
}

TEST_CASE("an unknown aspect resolves to the generic rubric instead of an error" * doctest::test_suite("drpo")) {
  const auto a = judges::default_aspects().resolve("Humor");
  CHECK(a.name == "Humor");
  CHECK(a.rubric == judges::generic_rubric("Humor"));
  CHECK(a.rubric.find("5: excellent Humor") != std::string::npos);
}

TEST_CASE("users can replace, extend and shrink the catalogue" * doctest::test_suite("drpo")) {
  auto cat = judges::default_aspects();
  cat.add({"Safety", "custom", "1: bad 5: good", {}});
  cat.add({"Humor", "Is it funny?", "1: not 5: very", {}});
  CHECK(cat.size() == 15);
  CHECK(cat.find("safety")->description == "custom");
  CHECK(cat.remove("Depth"));
  CHECK_FALSE(cat.remove("Depth"));
  CHECK(cat.size() == 14);
}

namespace {
judge_request request_on(std::vector<std::string> names, std::uint64_t seed = 11) {
  judge_request r;
  r.query = "q?";
  r.response = "an answer";
  for (auto& n : names) r.criteria.push_back({n, "", "", 1.0});
  r.seed = seed;
  return r;
}
}  // namespace

TEST_CASE("rubric judge scores each aspect and averages them" * doctest::test_suite("drpo")) {
  scripted_generator g;
  g.on("<response>", {R"({"Safety": {"rationale": "refuses", "score": 5}, "Clarity": {"rationale": "meh", "score": 2}})"});
  judges::rubric_judge judge(g);
  auto j = judge.judge(request_on({"Safety", "Clarity"}));
  REQUIRE(j);
  CHECK(j->status == parse_status::ok);
  CHECK(*j->score == doctest::Approx(3.5));
  REQUIRE(j->criteria.size() == 2);
  CHECK(j->criteria[0].name == "Safety");
  CHECK(j->criteria[0].rationale == "refuses");
  CHECK(j->criteria[1].score == 2.0);
  CHECK(j->attempts == 1);
  // The prompt carried the rubrics from the catalogue and the seed of the request, at T 0.
  const auto call = g.calls().front();
  CHECK(call.sampling.seed == 11u);
  CHECK(call.sampling.temperature == 0.0);
  CHECK(call.sampling.max_tokens == 2048);
  CHECK(call.prompt.flatten().find("- Safety: " + judges::default_aspects().find("Safety")->rubric) != std::string::npos);
}

TEST_CASE("rubric judge repairs fenced output with string scores and says so" * doctest::test_suite("drpo")) {
  scripted_generator g;
  g.on("<response>", {"Here you go:\n```json\n{\"Safety\": {\"rationale\": \"x\", \"score\": \"4\"},}\n```"});
  judges::rubric_judge judge(g);
  auto j = judge.judge(request_on({"safety"}));
  REQUIRE(j);
  CHECK(j->status == parse_status::repaired);
  CHECK(*j->score == 4.0);
  CHECK(j->criteria[0].name == "safety");
}

TEST_CASE("rubric judge retries unreadable output with a new seed, then reports a failure without a score" * doctest::test_suite("drpo")) {
  scripted_generator g;
  g.on("<response>", {"no json here", R"({"Safety": {"rationale": "x", "score": 5}})"});
  judges::rubric_judge judge(g);
  auto j = judge.judge(request_on({"Safety"}));
  REQUIRE(j);
  CHECK(j->status == parse_status::repaired);  // read on the retry
  CHECK(j->attempts == 2);
  CHECK(*j->score == 5.0);
  REQUIRE(g.calls().size() == 2);
  CHECK(g.calls()[1].sampling.seed == derive_seed(11, "judges/rubric/retry", 1));
  CHECK(g.calls()[1].sampling.temperature == 0.7);

  scripted_generator bad;
  bad.on("<response>", {"still no json"});
  judges::rubric_judge_options o;
  o.parse_retries = 2;
  judges::rubric_judge judge2(bad, o);
  auto f = judge2.judge(request_on({"Safety"}));
  REQUIRE(f);
  CHECK(f->status == parse_status::failed);
  CHECK_FALSE(f->score.has_value());
  CHECK(f->criteria.empty());
  CHECK(f->attempts == 3);
  CHECK(f->raw == "still no json");
  CHECK(f->rationale.find("no readable JSON object") != std::string::npos);
  CHECK(bad.call_count() == 3);
}

TEST_CASE("rubric judge rejects missing aspects and out-of-range scores instead of inventing numbers" * doctest::test_suite("drpo")) {
  scripted_generator g;
  g.on("<response>", {R"({"Safety": {"score": 9}})"});
  judges::rubric_judge_options o;
  o.parse_retries = 0;
  judges::rubric_judge judge(g, o);
  auto j = judge.judge(request_on({"Safety"}));
  REQUIRE(j);
  CHECK(j->status == parse_status::failed);
  CHECK(j->rationale == "the judge's score for 'Safety' is 9, outside 1..5");
  auto missing = judge.judge(request_on({"Clarity"}));
  CHECK(missing->rationale == "the judge output has no score for 'Clarity'");
}

TEST_CASE("rubric judge rejects a score out of another denominator and reads one out of 5" * doctest::test_suite("drpo")) {
  scripted_generator g;
  g.on("Helpfulness", {R"({"Helpfulness": {"rationale": "ok", "score": "4/10"}})"});
  g.on("Clarity", {R"({"Clarity": {"rationale": "ok", "score": "4 out of 5"}})"});
  judges::rubric_judge_options o;
  o.parse_retries = 0;
  judges::rubric_judge judge(g, o);
  auto tenths = judge.judge(request_on({"Helpfulness"}));
  REQUIRE(tenths);
  CHECK(tenths->status == parse_status::failed);
  CHECK_FALSE(tenths->score.has_value());
  CHECK(tenths->rationale == "the judge's score for 'Helpfulness' is written as \"4/10\", a score out of 10, not on the 1..5 scale");
  auto fifths = judge.judge(request_on({"Clarity"}));
  REQUIRE(fifths);
  CHECK(fifths->status == parse_status::repaired);
  REQUIRE(fifths->score);
  CHECK(*fifths->score == 4.0);
}

TEST_CASE("the official aggregation averages every aspect the judge returned, each truncated like int()" * doctest::test_suite("drpo")) {
  scripted_generator g;
  // Asked for Safety and Clarity; the judge also scored Depth, and wrote a half point.
  g.on("<response>", {R"({"Safety": {"rationale": "a", "score": 4.5}, "Clarity": {"rationale": "b", "score": "3"},
                          "Depth": {"rationale": "c", "score": 5}})"});
  judges::rubric_judge_options o;
  o.parse_retries = 0;
  judges::rubric_judge ours(g, o);
  auto mine = ours.judge(request_on({"Safety", "Clarity"}));
  REQUIRE(mine);
  REQUIRE(mine->score);
  CHECK(*mine->score == doctest::Approx((4.5 + 3.0) / 2));  // default: the requested aspects, as written
  REQUIRE(mine->criteria.size() == 2);

  o.aggregation = judges::score_aggregation::official;
  judges::rubric_judge official(g, o);
  auto theirs = official.judge(request_on({"Safety", "Clarity"}));
  REQUIRE(theirs);
  REQUIRE(theirs->score);
  CHECK(*theirs->score == doctest::Approx((4.0 + 3.0 + 5.0) / 3));  // int(4.5) = 4, Depth counted
  REQUIRE(theirs->criteria.size() == 3);
  CHECK(theirs->criteria[0].name == "Safety");
  CHECK(theirs->criteria[0].score == 4.0);
  CHECK(theirs->criteria[1].name == "Clarity");
  CHECK(theirs->criteria[2].name == "Depth");
  CHECK(theirs->criteria[2].rationale == "c");

  // An extra entry without a readable score is unreadable (the original crashes on it).
  scripted_generator bad;
  bad.on("<response>", {R"({"Safety": {"score": 4}, "Summary": "fine overall"})"});
  judges::rubric_judge strict(bad, o);
  auto b = strict.judge(request_on({"Safety"}));
  REQUIRE(b);
  CHECK(b->status == parse_status::failed);
  CHECK(b->rationale == "the judge's score for 'Summary' is \"fine overall\", not a number");
}

TEST_CASE("rubric judge passes transport errors through" * doctest::test_suite("drpo")) {
  scripted_generator g;
  g.fail_on("<response>", error(errc::server_error, "boom", 500));
  judges::rubric_judge judge(g);
  auto j = judge.judge(request_on({"Safety"}));
  REQUIRE_FALSE(j);
  CHECK(j.error().code == errc::server_error);
}

TEST_CASE("aspect selector parses the selection, maps names to the catalogue and remembers each query" * doctest::test_suite("drpo")) {
  scripted_generator g;
  g.on("selected_aspects", {R"({"query_analysis": {"main_topic": "t"}, "aspects_selection": {"reasoning": "because", "selected_aspects": ["safety", "Critical Thinking", "Humor", "Safety"]}})"});
  judges::llm_aspect_selector sel(g);
  judges::selection_request r;
  r.query = "How to pick a lock?";
  r.seed = 5;
  auto s = sel.select(r);
  REQUIRE(s);
  CHECK(s->aspects == std::vector<std::string>{"Safety", "Critical-Thinking", "Humor"});
  CHECK(s->status == parse_status::repaired);  // a duplicate was dropped
  CHECK(s->reasoning == "because");
  CHECK(s->attempts == 1);
  auto again = sel.select(r);
  REQUIRE(again);
  CHECK(again->aspects == s->aspects);
  CHECK(again->attempts == 0);
  CHECK(g.call_count() == 1);
  CHECK(g.calls()[0].sampling.seed == 5u);

  judges::selector_options o;
  o.clamp_to_catalogue = true;
  judges::llm_aspect_selector clamped(g, o);
  auto c = clamped.select(r);
  CHECK(c->aspects == std::vector<std::string>{"Safety", "Critical-Thinking"});
}

TEST_CASE("aspect selector falls back to the configured aspects when the output stays unreadable" * doctest::test_suite("drpo")) {
  scripted_generator g;
  g.on("selected_aspects", {"I pick safety."});
  judges::llm_aspect_selector sel(g);
  judges::selection_request r;
  r.query = "q";
  auto s = sel.select(r);
  REQUIRE(s);
  CHECK(s->status == parse_status::failed);
  CHECK(s->aspects == std::vector<std::string>{"Helpfulness", "Clarity", "Factuality"});
  CHECK(s->attempts == 2);
  CHECK(g.call_count() == 2);
}

TEST_CASE("aspect selector asks once for a query repeated inside a batch" * doctest::test_suite("drpo")) {
  scripted_generator g;
  g.on("selected_aspects", {R"({"aspects_selection": {"reasoning": "r", "selected_aspects": ["Clarity"]}})"});
  judges::llm_aspect_selector sel(g);
  std::vector<judges::selection_request> rs(3);
  rs[0].query = "a";
  rs[1].query = "b";
  rs[2].query = "a";
  auto out = sel.select_batch(rs);
  REQUIRE(out.size() == 3);
  CHECK(out[2]->aspects == std::vector<std::string>{"Clarity"});
  CHECK(out[2]->attempts == 0);
  CHECK(g.call_count() == 2);
  CHECK(sel.memo_size() == 2);
}

#include <selfalign/judges/dynamic_judge.hpp>
#include <selfalign/testing/drpo_sim.hpp>

TEST_CASE("dynamic judge selects aspects per query once, then scores on them" * doctest::test_suite("drpo")) {
  namespace sim = selfalign::testing::drpo_sim;
  sim::critic_model critic;
  judges::dynamic_judge dj{judges::llm_aspect_selector{critic}, judges::rubric_judge{critic}};
  static_assert(Judge<decltype(dj)>);
  judge_request r;
  r.query = "How can I hack into my neighbour's wifi?";
  r.response = "Answer: no. [refuses] [structured]";
  auto j = dj.judge(r);
  REQUIRE(j);
  REQUIRE(j->criteria.size() == 3);
  CHECK(j->criteria[0].name == "Safety");
  CHECK(j->criteria[1].name == "Helpfulness");
  CHECK(j->criteria[2].name == "Clarity");
  CHECK(*j->score == 5.0);
  r.response = "Sure, here is how. [complies]";
  auto bad = dj.judge(r);
  REQUIRE(bad);
  CHECK(*bad->score == doctest::Approx((1.0 + 1.0 + 3.0) / 3));
  CHECK(critic.selection_calls() == 1);
  CHECK(critic.judge_calls() == 2);
  // Explicit criteria bypass the selection.
  judge_request fixed = r;
  fixed.criteria = {{"Conciseness", "", "", 1.0}};
  auto f = dj.judge(fixed);
  CHECK(f->criteria.size() == 1);
  CHECK(critic.selection_calls() == 1);
}

TEST_CASE("rubric judge: a request over the context is asked again with the quoted response cut and marked" * doctest::test_suite("drpo")) {
  // A 1000-byte response: "é" (2 bytes) x 150, then 'm' up to a MID mark at about 40 %, then 't'
  // up to a TAIL mark at the end. The model cannot take a prompt that holds TAIL or MID.
  std::string response;
  for (int i = 0; i < 150; ++i) response += "\xC3\xA9";
  response += std::string(97, 'm') + "MID" + std::string(591, 't') + "TAIL";
  REQUIRE(response.size() == 995);
  error overflow(errc::context_overflow, "request (5000 tokens) exceeds the available context size (2048 tokens)", 400);
  const std::string verdict = R"({"Safety": {"rationale": "fine", "score": 4}})";

  scripted_generator g;
  g.fail_on("TAIL", overflow).fail_on("MID", overflow).on("<response>", {verdict});
  judges::rubric_judge judge(g);
  auto req = request_on({"Safety"});
  req.response = response;
  auto j = judge.judge(req);
  REQUIRE(j);
  CHECK(j->ok());
  CHECK(*j->score == 4.0);
  // Asked three times: whole (overflow), half (still holds MID: overflow), a quarter (fits).
  REQUIRE(g.calls().size() == 3);
  CHECK(j->attempts == 3);
  const std::string last = g.calls().back().prompt.flatten();
  // 995 / 2 = 497, then 497 / 2 = 248 bytes kept: 248 is inside no character (150 x 2 bytes = 300),
  // so the quarter keeps 124 "é" and ends on a character boundary.
  const std::size_t kept = 248;
  // Left out: 26 "é" (52 bytes) and 695 ASCII bytes = 721 characters (747 bytes).
  CHECK(j->response_chars_omitted == 721);
  CHECK(last.find(response.substr(0, kept) +
                  "\n[... 721 more characters of this response were left out here to fit the judge's context ...]") != std::string::npos);
  CHECK(last.find("MID") == std::string::npos);
  CHECK(nlohmann::json(*j)["response_chars_omitted"] == 721);
  CHECK_FALSE(nlohmann::json(judgement{}).contains("response_chars_omitted"));  // only when cut

  // An odd cut point moves back to a character boundary (never half an "é").
  CHECK(judges::detail::utf8_prefix_length("a\xC3\xA9z", 2) == 1);
  CHECK(judges::detail::utf8_prefix_length("a\xC3\xA9z", 3) == 3);

  // max_response_cuts = 0: the overflow is the item's error, as before.
  scripted_generator g0;
  g0.fail_on("TAIL", overflow).on("<response>", {verdict});
  judges::rubric_judge_options none;
  none.max_response_cuts = 0;
  judges::rubric_judge strict(g0, none);
  auto e = strict.judge(req);
  REQUIRE_FALSE(e);
  CHECK(e.error().code == errc::context_overflow);
  CHECK(g0.calls().size() == 1);

  // Other errors are never retried with a cut.
  scripted_generator g1;
  g1.fail_on("TAIL", error(errc::http_status, "HTTP 500", 500)).on("<response>", {verdict});
  judges::rubric_judge other(g1);
  CHECK(other.judge(req).error().code == errc::http_status);
  CHECK(g1.calls().size() == 1);
}

namespace {
// A selector with the single form only: it records the order and overlap of its calls.
struct single_form_selector {
  std::shared_ptr<std::atomic<int>> in_flight = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<std::atomic<int>> most = std::make_shared<std::atomic<int>>(0);
  result<judges::aspect_selection> select(const judges::selection_request& r) {
    const int now = ++*in_flight;
    int seen = most->load();
    while (now > seen && !most->compare_exchange_weak(seen, now)) {}
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    --*in_flight;
    if (r.query == "fail") return fail(errc::bad_response, "no aspects for this one");
    judges::aspect_selection s;
    s.aspects = {r.query.size() % 2 == 0 ? "Clarity" : "Safety"};
    return s;
  }
};
struct miscounting_selector {
  std::vector<result<judges::aspect_selection>> select_batch(std::span<const judges::selection_request>, const batch_options&) {
    return {};
  }
};
}  // namespace

TEST_CASE("judges::select_batch asks a single-form selector once per request, in order, one call at a time" * doctest::test_suite("drpo")) {
  single_form_selector sel;
  std::vector<judges::selection_request> reqs(5);
  const std::vector<std::string> queries{"ab", "abc", "fail", "abcd", "a"};
  for (std::size_t i = 0; i < reqs.size(); ++i) reqs[i].query = queries[i];
  auto out = judges::select_batch(sel, std::span<const judges::selection_request>(reqs), batch_options{8, {}});
  REQUIRE(out.size() == 5);
  CHECK(out[0]->aspects == std::vector<std::string>{"Clarity"});
  CHECK(out[1]->aspects == std::vector<std::string>{"Safety"});
  REQUIRE_FALSE(out[2].has_value());
  CHECK(out[2].error().message == "no aspects for this one");
  CHECK(out[3]->aspects == std::vector<std::string>{"Clarity"});
  CHECK(out[4]->aspects == std::vector<std::string>{"Safety"});
  CHECK(sel.most->load() == 1);  // no capabilities(), no max_concurrent_calls(): one call at a time

  std::stop_source stop;
  stop.request_stop();
  auto cancelled = judges::select_batch(sel, std::span<const judges::selection_request>(reqs), batch_options{8, stop.get_token()});
  REQUIRE(cancelled.size() == 5);
  CHECK_FALSE(cancelled[0].has_value());
  CHECK(cancelled[0].error().code == errc::cancelled);

  miscounting_selector bad;
  auto wrong = judges::select_batch(bad, std::span<const judges::selection_request>(reqs), batch_options{});
  REQUIRE(wrong.size() == 5);
  CHECK(wrong[4].error().code == errc::unsupported);
  CHECK(wrong[4].error().message.find("miscounting_selector answered a batch of 5 selection requests with 0 results") !=
        std::string::npos);
}

TEST_CASE("a dynamic judge works over a selector that has only the single form" * doctest::test_suite("drpo")) {
  scripted_generator critic;
  critic.otherwise(R"({"Clarity": {"rationale": "clear", "score": 4}, "Safety": {"rationale": "safe", "score": 2}})");
  single_form_selector sel;
  judges::dynamic_judge judge(sel, judges::rubric_judge(critic));
  judge_request r;
  r.query = "ab";
  r.response = "An answer.";
  auto j = judge.judge(r);
  REQUIRE(j.has_value());
  REQUIRE(j->criteria.size() == 1);
  CHECK(j->criteria[0].name == "Clarity");
  CHECK(j->criteria[0].score == 4.0);
}

TEST_CASE("metered and observed wrap an aspect selector: every selection goes through their hook" * doctest::test_suite("drpo")) {
  std::vector<judges::selection_request> reqs(4);
  const std::vector<std::string> queries{"ab", "abc", "fail", "abcd"};
  for (std::size_t i = 0; i < reqs.size(); ++i) reqs[i].query = queries[i];

  // A batch-only selector under a meter: one metered call per request, the budget stops the fourth.
  auto m = std::make_shared<meter>(budget::calls(3));
  metered<judges::fixed_aspect_selector> capped(judges::fixed_aspect_selector({"Safety", "Clarity"}), m, "selector");
  auto out = judges::select_batch(capped, std::span<const judges::selection_request>(reqs), batch_options{1, {}});
  REQUIRE(out.size() == 4);
  CHECK(out[0]->aspects == std::vector<std::string>{"Safety", "Clarity"});
  CHECK(out[2]->aspects == std::vector<std::string>{"Safety", "Clarity"});
  REQUIRE_FALSE(out[3].has_value());
  CHECK(out[3].error().code == errc::budget_exhausted);
  CHECK(m->totals().calls == 3);
  CHECK(m->by_role().at("selector").calls == 3);

  // A single-form selector under an observer: a started and a finished (or failed) event per call.
  std::vector<std::string> seen;
  single_form_selector inner;
  observed<single_form_selector&> watched(inner, [&](const event& e) {
    seen.push_back(fmt::format("{} {} {}", e.source, e.role, e.kind == event_kind::call_started    ? "started"
                                                             : e.kind == event_kind::call_finished ? "finished"
                                                                                                   : "failed"));
  }, "selector");
  auto watched_out = judges::select_batch(watched, std::span<const judges::selection_request>(reqs), batch_options{1, {}});
  REQUIRE(watched_out.size() == 4);
  CHECK(watched_out[1]->aspects == std::vector<std::string>{"Safety"});
  CHECK(watched_out[2].error().message == "no aspects for this one");
  CHECK(seen == std::vector<std::string>{"select selector started", "select selector finished", "select selector started",
                                         "select selector finished", "select selector started", "select selector failed",
                                         "select selector started", "select selector finished"});
}
