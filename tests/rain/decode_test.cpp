// rain::decode, decode_vanilla and decode_batch against the simulated token-level model.
#include <doctest/doctest.h>

#include <selfalign/embedding.hpp>
#include <selfalign/rain/rain.hpp>
#include <selfalign/testing/fail_after.hpp>
#include <selfalign/testing/rain_sim.hpp>
#include <selfalign/testing/scripted_judge.hpp>
#include <selfalign/wrappers/cached.hpp>

#include "sim_scripts.hpp"

#include <memory>
#include <span>
#include <stop_token>
#include <string>
#include <vector>

using namespace selfalign;
using testing::rain_sim_model;
using testing::rain_sim_options;

namespace {
// Greedy decoding walks into "Here ... bomb:", which the model's own self-evaluation calls harmful.
rain_sim_model harmful_model(rain_sim_options o = {}) {
  rain_sim_model m = rain_test::scripted_model(o);
  std::vector<std::string> counting{"Yes"};
  for (int i = 1; i <= 30; ++i) {
    counting.push_back(",");
    counting.push_back(" w" + std::to_string(i));
  }
  counting.push_back(".");
  m.script("Count for me", {{counting, 1.0}});
  return m;
}

void check_same(const rain::report& a, const rain::report& b) {
  CHECK(a.response == b.response);
  CHECK(a.stop_reason == b.stop_reason);
  CHECK(a.stats.inner_iterations == b.stats.inner_iterations);
  CHECK(a.stats.rewinds == b.stats.rewinds);
  CHECK(a.stats.nodes == b.stats.nodes);
  CHECK(a.stats.requests == b.stats.requests);
  CHECK(a.stats.prompt_tokens == b.stats.prompt_tokens);
  CHECK(a.stats.completion_tokens == b.stats.completion_tokens);
  CHECK(a.stats.evaluations == b.stats.evaluations);
  CHECK(a.stats.evaluation_cache_hits == b.stats.evaluation_cache_hits);
  REQUIRE(a.steps.size() == b.steps.size());
  for (std::size_t i = 0; i < a.steps.size(); ++i) {
    CHECK(a.steps[i].text == b.steps[i].text);
    CHECK(a.steps[i].inner_iterations == b.steps[i].inner_iterations);
    CHECK(a.steps[i].requests == b.steps[i].requests);
  }
}
}  // namespace

TEST_CASE("vanilla decoding walks into the harmful continuation and rain rewinds to the harmless one" * doctest::test_suite("rain")) {
  auto m = harmful_model();
  judges::self_eval_judge judge(m);
  hashed_ngram_embedder emb;
  rain::config cfg;
  cfg.seed = 7;
  cfg.speculation_depth = 0;  // the hand trace below counts the searches' own calls (speculation: further down)

  auto van = rain::decode_vanilla(m, "How do I make a bomb?", cfg);
  REQUIRE(van);
  CHECK(van->response == "Here is how to make a bomb: mix the powders.");
  CHECK(van->stop_reason == "eos");
  CHECK(van->stats.requests == 1);
  CHECK(van->stats.response_tokens == 12);

  m.reset_counters();
  auto r = rain::decode(m, judge, emb, "How do I make a bomb?", cfg);
  REQUIRE(r);
  REQUIRE(r->ok());
  CHECK(r->response == "I won't help with that.");
  CHECK(r->stop_reason == "eos");
  // Hand trace of step 1 (c = 2, priors 0.575 / 0.425 after root mixing, minQ/maxQ = -1/+1):
  //  1 root: no rollout (the context ends with ':'), eval "" = +1, expand top-k: Here, I
  //  2 Here (1.15 > 0.85): rollout " is how to make a bomb:", eval -1, expand L=2 " is how"
  //  3 I (1.20 > 0.81): rollout " won't help with that.", eval +1, expand " won't help"
  //  4 I > Here: " won't help" rollout " with that." (eval cached), expand L=4 " with that.<eos>"
  //  5-7 I: the EOS leaf, terminal, eval cached
  //  8 Here (1.52 > 1.38): " is how", rollout " to make a bomb:" (cached), expand L=4
  //  9-10 I: cached; after 10, I has fn = 7 > 6 and q = 1 > 0.8: commit "I"
  // Steps 2 and 3 reuse the subtree (7 visits) and need one search each.
  REQUIRE(r->steps.size() == 3);
  CHECK(r->steps[0].text == "I");
  CHECK(r->steps[0].inner_iterations == 10);
  CHECK(r->steps[0].rewinds == 3);  // iterations 3, 8 and 9 left the previous line
  CHECK(r->steps[0].reused_visits == 0);
  CHECK(r->steps[1].text == " won't help");
  CHECK(r->steps[1].inner_iterations == 1);
  CHECK(r->steps[1].reused_visits == 7);
  CHECK(r->steps[2].text == " with that.");
  CHECK(r->steps[2].inner_iterations == 1);
  CHECK(r->stats.inner_iterations == 12);
  CHECK(r->stats.rewinds == 3);
  CHECK(r->stats.nodes == 7);
  CHECK(r->stats.evaluations == 3);            // "", the bomb clause, the refusal
  CHECK(r->stats.evaluation_cache_hits == 9);  // the other 9 searches
  CHECK(r->stats.rollouts == 4);
  CHECK(r->stats.embedding_calls == 11);       // every search but the first ends below the root
  // 3 evaluations x 2 orders + 1 top-k + 4 rollouts + 4 expansions x (greedy + samples)
  CHECK(r->stats.requests == 19);
  CHECK(m.requests() == 19);
  CHECK(r->steps[0].requests == 19);
  CHECK(r->steps[1].requests == 0);
  CHECK(r->stats.response_tokens == 6);
}

TEST_CASE("on a harmless prompt rain commits without rewinding at the minimum number of searches" * doctest::test_suite("rain")) {
  auto m = harmful_model();
  judges::self_eval_judge judge(m);
  hashed_ngram_embedder emb;
  rain::config cfg;
  auto r = rain::decode(m, judge, emb, "What is the capital of France?", cfg);
  REQUIRE(r);
  REQUIRE(r->ok());
  CHECK(r->response == "Paris is the capital of France.");
  CHECK(r->stats.rewinds == 0);
  REQUIRE(r->steps.size() == 4);
  // Step 1: the root's own search plus T_m + 1 = 7 visits of the best child (fn > T_m).
  CHECK(r->steps[0].inner_iterations == cfg.min_iterations + 2);
  CHECK(r->steps[0].text == "Paris");
  for (std::size_t i = 1; i < r->steps.size(); ++i) CHECK(r->steps[i].inner_iterations == 1);
  CHECK(r->steps[1].text == " is the");
  CHECK(r->steps[2].text == " capital of France.");
  CHECK(r->steps[3].tokens == 1);  // the EOS set
  CHECK(r->stop_reason == "eos");
  auto van = rain::decode_vanilla(m, "What is the capital of France?", cfg);
  REQUIRE(van);
  CHECK(van->response == r->response);
}

TEST_CASE("the paper's stop rule counts this step's searches, not the visits reused from the previous step" * doctest::test_suite("rain")) {
  auto m = harmful_model();
  judges::self_eval_judge judge(m);
  hashed_ngram_embedder emb;
  rain::config cfg;
  cfg.stopping = rain::stop_rule::paper;
  auto r = rain::decode(m, judge, emb, "What is the capital of France?", cfg);
  REQUIRE(r);
  REQUIRE(r->ok());
  CHECK(r->response == "Paris is the capital of France.");
  // Every evaluation is +1, so q = 1 >= V after any search: each step stops exactly when its own
  // search count t reaches T_m = 6, reused subtree visits or not (they made later steps stop after
  // one search).
  REQUIRE(r->steps.size() >= 2);
  for (std::size_t i = 0; i < r->steps.size(); ++i) {
    CAPTURE(i);
    CHECK(r->steps[i].inner_iterations == cfg.min_iterations);
  }
  CHECK(r->steps[1].reused_visits > 0);
}

TEST_CASE("a failing judge ends the decode with the error and the committed part of the response" * doctest::test_suite("rain")) {
  auto m = harmful_model();
  testing::scripted_judge inner(1.0);
  // Step 1 makes 8 distinct evaluations (every rollout ends at a new comma); the 9th call fails.
  testing::fail_after<testing::scripted_judge> judge(inner, 8, errc::server_error);
  hashed_ngram_embedder emb;
  rain::config cfg;
  cfg.speculation_depth = 0;  // the call order below is the searches' own
  auto r = rain::decode(m, judge, emb, "Count for me", cfg);
  REQUIRE(r);  // the decode started: failures after that are in the report
  CHECK_FALSE(r->ok());
  REQUIRE(r->error);
  CHECK(r->error->code == errc::server_error);
  CHECK(r->error->message == "fail_after: injected server_error on call 9 (judge; 8 calls allowed)");
  CHECK(r->stop_reason == "error");
  CHECK(r->response == "Yes");
  REQUIRE(r->steps.size() == 1);
  CHECK(r->steps[0].inner_iterations == 8);
  CHECK(r->stats.evaluations == 9);
  CHECK(inner.call_count() == 8);
}

namespace {
// A backend that claims token ids but names its top-logprob alternatives by text alone (as vLLM
// does unless asked for ids): token-id mode must refuse it, not drop the ids from later prompts.
struct alternatives_without_ids {
  rain_sim_model inner;
  result<generation> generate(const generation_request& r) {
    auto g = inner.generate(r);
    if (g)
      for (auto& c : g->choices)
        for (auto& t : c.tokens)
          for (auto& alt : t.top) alt.id.reset();
    return g;
  }
  result<std::vector<token_id>> tokenize(std::string_view text, bool add_special) { return inner.tokenize(text, add_special); }
  result<std::string> detokenize(std::span<const token_id> ids) { return inner.detokenize(ids); }
  selfalign::capabilities capabilities() const { return inner.capabilities(); }
};
}  // namespace

TEST_CASE("token-id mode refuses alternatives without ids instead of decoding from a broken prompt" * doctest::test_suite("rain")) {
  alternatives_without_ids m{harmful_model()};
  judges::self_eval_judge<judges::borrowed_generator<rain_sim_model>> judge{judges::borrowed_generator<rain_sim_model>(m.inner)};
  hashed_ngram_embedder emb;
  rain::config cfg;
  cfg.tokens = rain::token_mode::ids;
  auto r = rain::decode(m, judge, emb, "How do I make a bomb?", cfg);
  REQUIRE(r);
  REQUIRE(r->error);
  CHECK(r->error->code == errc::bad_response);
  CHECK(r->error->message.rfind("rain: the backend returned a next-token alternative without its id in token-id mode", 0) == 0);
  CHECK(r->response.empty());
}

TEST_CASE("a judge without a score is a failed evaluation recorded in the step, not a made-up value nor the end" * doctest::test_suite("rain")) {
  auto m = harmful_model();
  testing::scripted_judge judge(1.0);
  judge.unparseable_on("Paris");
  hashed_ngram_embedder emb;
  std::vector<event> events;
  rain::config cfg;
  cfg.on_event = [&](const event& e) { events.push_back(e); };
  auto r = rain::decode(m, judge, emb, "What is the capital of France?", cfg);
  REQUIRE(r);
  CHECK_FALSE(r->error);
  CHECK(r->stop_reason == "eos");
  CHECK_FALSE(r->response.empty());
  REQUIRE_FALSE(r->steps.empty());
  CHECK(r->stats.failed_evaluations > 0);
  int failed = 0;
  std::string first;
  for (const auto& st : r->steps) {
    failed += st.failed_evaluations;
    if (first.empty()) first = st.evaluation_failure;
  }
  CHECK(failed == r->stats.failed_evaluations);
  CHECK(first == "the judge gave no score for the partial response \"Paris is the capital of France.\" (failed)");
  // Failed evaluations are not cached as values and not counted as scored evaluations' values.
  CHECK(r->stats.evaluations >= r->stats.failed_evaluations);
  const nlohmann::json j = *r;
  CHECK(j["stats"]["failed_evaluations"] == r->stats.failed_evaluations);
  CHECK(j["steps"][0]["evaluation_failure"] == first);
  // The trace: one search_step per committed token set, then `stopped` with the reason.
  REQUIRE(events.size() == r->steps.size() + 1);
  CHECK(events[0].kind == event_kind::search_step);
  CHECK(events[0].source == "rain");
  CHECK(events[0].values.at("tokens") == r->steps[0].tokens);
  CHECK(events[0].values.at("inner_iterations") == r->steps[0].inner_iterations);
  CHECK(events.back().kind == event_kind::stopped);
  CHECK(events.back().message == "input 0: eos");
  CHECK(events.back().values.at("failed_evaluations") == r->stats.failed_evaluations);
}

TEST_CASE("decode_batch gives identical results at concurrency 1 and 8" * doctest::test_suite("rain")) {
  auto m = harmful_model();
  judges::self_eval_judge judge(m);
  hashed_ngram_embedder emb;
  const std::vector<rain::input> inputs{"How do I make a bomb?", "Tell me a story", "What is the capital of France?",
                                        "Tell me a story about animals"};
  rain::config one;
  one.seed = 42;
  one.max_concurrency = 1;
  one.speculation_depth = 0;  // speculation (off at concurrency 1) would add requests at 8: tested below
  rain::config eight = one;
  eight.max_concurrency = 8;
  auto a = rain::decode_batch(m, judge, emb, std::span<const rain::input>(inputs), one, batch_options{1, {}});
  auto b = rain::decode_batch(m, judge, emb, std::span<const rain::input>(inputs), eight, batch_options{8, {}});
  REQUIRE(a.size() == 4);
  REQUIRE(b.size() == 4);
  for (std::size_t i = 0; i < a.size(); ++i) {
    REQUIRE(a[i]);
    REQUIRE(b[i]);
    CHECK(a[i]->ok());
    check_same(*a[i], *b[i]);
  }
  CHECK(a[0]->response == "I won't help with that.");
  // The same story prompt at another index draws other seeds; both are complete stories.
  CHECK(a[1]->stop_reason == "eos");
  CHECK(a[3]->stop_reason == "eos");
}

TEST_CASE("text mode and token-id mode decode the same response" * doctest::test_suite("rain")) {
  auto m = harmful_model();
  judges::self_eval_judge judge(m);
  hashed_ngram_embedder emb;
  rain::config ids;
  ids.tokens = rain::token_mode::ids;
  rain::config text = ids;
  text.tokens = rain::token_mode::text;
  auto a = rain::decode(m, judge, emb, "How do I make a bomb?", ids);
  auto b = rain::decode(m, judge, emb, "How do I make a bomb?", text);
  REQUIRE(a);
  REQUIRE(b);
  check_same(*a, *b);
  REQUIRE_FALSE(a->tokens.empty());
  CHECK(a->tokens.front().id.has_value());
}

TEST_CASE("the capability check fails fast and names what is missing" * doctest::test_suite("rain")) {
  rain_sim_options o;
  o.raw_text = false;
  o.token_ids = false;
  auto m = harmful_model(o);
  testing::scripted_judge judge(1.0);
  hashed_ngram_embedder emb;
  auto r = rain::decode(m, judge, emb, "How do I make a bomb?", rain::config{});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::unsupported);
  CHECK(r.error().message ==
        "rain::decode needs raw-text prompts (continuing a prefix without a chat template), which the 'rain-sim' "
        "backend does not provide");
  CHECK(m.requests() == 0);

  rain_sim_options few;
  few.max_top_logprobs = 5;
  auto m2 = harmful_model(few);
  auto r2 = rain::decode(m2, judge, emb, "How do I make a bomb?", rain::config{});
  REQUIRE_FALSE(r2);
  CHECK(r2.error().message == "rain::decode needs top-10 logprobs per token (the backend returns at most 5) on the 'rain-sim' backend");
  CHECK(m2.requests() == 0);
  CHECK(judge.call_count() == 0);

  rain::config ids;
  ids.tokens = rain::token_mode::ids;
  rain_sim_options no_ids;
  no_ids.token_ids = false;
  auto m3 = harmful_model(no_ids);
  auto r3 = rain::decode(m3, judge, emb, "How do I make a bomb?", ids);
  REQUIRE_FALSE(r3);
  CHECK(r3.error().message == "rain::decode needs token-id prompts, which the 'rain-sim' backend does not provide");

  rain::config bad;
  bad.length_schedule.clear();
  auto r4 = rain::decode(m2, judge, emb, "x", bad);
  REQUIRE_FALSE(r4);
  CHECK(r4.error().code == errc::invalid_argument);
}

TEST_CASE("the tree can be returned as json" * doctest::test_suite("rain")) {
  auto m = harmful_model();
  judges::self_eval_judge judge(m);
  hashed_ngram_embedder emb;
  rain::config cfg;
  cfg.keep_tree = true;
  auto r = rain::decode(m, judge, emb, "How do I make a bomb?", cfg);
  REQUIRE(r);
  REQUIRE(r->tree.is_object());
  REQUIRE(r->tree["children"].size() == 2);
  CHECK(r->tree["children"][0]["text"] == "Here");
  CHECK(r->tree["children"][0]["q"] == -1.0);
  CHECK(r->tree["children"][1]["text"] == "I");
  const nlohmann::json j = *r;
  CHECK(j["stats"]["nodes"] == 7);
}

TEST_CASE("max_new_tokens bounds the response: the token-set schedule is cut to what is left" * doctest::test_suite("rain")) {
  auto m = harmful_model();
  judges::self_eval_judge judge(m);
  hashed_ngram_embedder emb;
  for (const auto& cap_and_sets : {std::pair<int, std::vector<int>>{8, {1, 2, 4, 1}}, {5, {1, 2, 2}}, {1, {1}}}) {
    const int cap = cap_and_sets.first;  // not structured bindings: Clang 14 cannot capture those (INFO)
    const std::vector<int>& sets = cap_and_sets.second;
    rain::config cfg;
    cfg.max_new_tokens = cap;
    cfg.seed = 3;
    auto r = rain::decode(m, judge, emb, "Count for me", cfg);
    REQUIRE(r);
    INFO("max_new_tokens " << cap << ": " << r->response);
    CHECK(r->ok());
    CHECK(r->stop_reason == "max_new_tokens");
    CHECK(r->stats.response_tokens == cap);
    CHECK(static_cast<int>(r->tokens.size()) == cap);
    std::vector<int> got;
    for (const auto& st : r->steps) got.push_back(st.tokens);
    CHECK(got == sets);
  }
}

namespace {
// Passes judgements through and requests a stop at its `after`-th one.
struct stopping_judge {
  judges::self_eval_judge<rain_sim_model&>* inner;
  std::stop_source* source;
  int after;
  std::shared_ptr<int> seen = std::make_shared<int>(0);
  result<judgement> judge(const judge_request& r) {
    if (++*seen == after) source->request_stop();
    return inner->judge(r);
  }
};
}  // namespace

TEST_CASE("rain::decode stops before its next search when its stop token is requested; the report says cancelled" * doctest::test_suite("rain")) {
  auto m = harmful_model();
  judges::self_eval_judge<rain_sim_model&> inner(m);
  hashed_ngram_embedder emb;
  rain::config cfg;
  cfg.seed = 7;
  cfg.max_concurrency = 1;
  std::stop_source source;
  cfg.stop_token = source.get_token();
  std::vector<std::string> events;
  cfg.on_event = [&](const event& e) { events.push_back(e.message); };
  stopping_judge judge{&inner, &source, 3};
  auto r = rain::decode(m, judge, emb, "How do I make a bomb?", cfg);
  REQUIRE(r);  // a report, not an error: what was done is kept
  CHECK_FALSE(r->ok());
  CHECK(r->error->code == errc::cancelled);
  CHECK(r->error->message == "rain::decode was cancelled");
  CHECK(r->stop_reason == "cancelled");
  CHECK(r->response.empty());  // step 1 commits after 10 searches (see the hand trace above)
  REQUIRE(r->steps.size() == 1);
  CHECK(r->steps[0].inner_iterations == 3);  // the third search's evaluation asked to stop
  CHECK(r->steps[0].tokens == 0);
  CHECK(*judge.seen == 3);
  const auto requests = m.requests();
  CHECK(r->stats.requests == requests);
  REQUIRE_FALSE(events.empty());
  CHECK(events.back().find("cancelled") != std::string::npos);

  // decode_batch: its batch stop reaches decodes in flight.
  m.reset_counters();
  std::stop_source batch_stop;
  rain::config plain;
  plain.seed = 7;
  plain.max_concurrency = 1;
  stopping_judge judge2{&inner, &batch_stop, 3};
  const std::vector<rain::input> inputs{"How do I make a bomb?", "How do I make a bomb?"};
  auto all = rain::decode_batch(m, judge2, emb, std::span<const rain::input>(inputs), plain, batch_options{1, batch_stop.get_token()});
  REQUIRE(all.size() == 2);
  REQUIRE(all[0]);
  CHECK(all[0]->stop_reason == "cancelled");
  REQUIRE_FALSE(all[1]);
  CHECK(all[1].error().code == errc::cancelled);
}

namespace {
std::vector<result<rain::report>> decode_all(rain_sim_model& m, rain::config cfg) {
  judges::self_eval_judge judge(m);
  hashed_ngram_embedder emb;
  cfg.keep_tree = true;
  const std::vector<rain::input> inputs{"How do I make a bomb?", "Tell me a story", "What is the capital of France?",
                                        "Count for me"};
  return rain::decode_batch(m, judge, emb, std::span<const rain::input>(inputs), cfg, batch_options{2, {}});
}
}  // namespace

TEST_CASE("speculation changes no response, tree or search, and its requests are the same at concurrency 2 and 8" * doctest::test_suite("rain")) {
  auto m = harmful_model();
  rain::config off;
  off.seed = 11;
  off.speculation_depth = 0;
  rain::config two = off;
  two.speculation_depth = 2;
  two.max_concurrency = 2;
  rain::config eight = two;
  eight.max_concurrency = 8;
  auto a = decode_all(m, off);
  auto b = decode_all(m, two);
  auto c = decode_all(m, eight);
  for (std::size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    REQUIRE(a[i]);
    REQUIRE(b[i]);
    REQUIRE(c[i]);
    REQUIRE(a[i]->ok());
    // The same search: responses, steps, searches, rewinds and the whole final tree (visits,
    // values, priors, embeddings).
    CHECK(a[i]->response == b[i]->response);
    CHECK(a[i]->stats.inner_iterations == b[i]->stats.inner_iterations);
    CHECK(a[i]->stats.rewinds == b[i]->stats.rewinds);
    CHECK(a[i]->stats.nodes == b[i]->stats.nodes);
    CHECK(a[i]->stats.failed_evaluations == b[i]->stats.failed_evaluations);
    REQUIRE(a[i]->steps.size() == b[i]->steps.size());
    for (std::size_t s = 0; s < a[i]->steps.size(); ++s) CHECK(a[i]->steps[s].text == b[i]->steps[s].text);
    CHECK(a[i]->tree.dump() == b[i]->tree.dump());
    CHECK(b[i]->stats.speculation_hits > 0);
    CHECK(b[i]->stats.speculation_hits <= b[i]->stats.speculative_leaves);
    CHECK(a[i]->stats.speculative_leaves == 0);
    // Speculation can only add requests (work never taken), never remove a search's own.
    CHECK(b[i]->stats.requests >= a[i]->stats.requests);
    // Which leaves run ahead does not depend on timing: the same requests, statistics and steps.
    check_same(*b[i], *c[i]);
    CHECK(b[i]->stats.speculative_leaves == c[i]->stats.speculative_leaves);
    CHECK(b[i]->stats.speculation_hits == c[i]->stats.speculation_hits);
    CHECK(b[i]->stats.rollouts == c[i]->stats.rollouts);
    CHECK(b[i]->tree.dump() == c[i]->tree.dump());
  }
}

TEST_CASE("speculation: exact requests on the harmless and the harmful prompt" * doctest::test_suite("rain")) {
  auto m = harmful_model();
  judges::self_eval_judge judge(m);
  hashed_ngram_embedder emb;
  rain::config off;
  off.seed = 7;
  off.speculation_depth = 0;
  rain::config on = off;
  on.speculation_depth = 2;
  for (const char* q : {"What is the capital of France?", "How do I make a bomb?"}) {
    CAPTURE(q);
    m.reset_counters();
    auto a = rain::decode(m, judge, emb, q, off);
    const auto off_requests = m.requests();
    m.reset_counters();
    auto b = rain::decode(m, judge, emb, q, on);
    const auto on_requests = m.requests();
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->response == b->response);
    CHECK(a->stats.requests == off_requests);
    CHECK(b->stats.requests == on_requests);  // every speculative request is in the report
    if (std::string(q) == "What is the capital of France?") {
      // The searches follow the greedy line: every leaf started ahead is taken; no extra request.
      CHECK(off_requests == 13);
      CHECK(on_requests == 13);
      CHECK(b->stats.speculative_leaves == 4);
      CHECK(b->stats.speculation_hits == 4);
    } else {
      // The search turns from "Here" to "I": two leaves started ahead are never taken (5 more
      // requests: their rollouts, evaluations and expansions).
      CHECK(off_requests == 19);
      CHECK(on_requests == 24);
      CHECK(b->stats.speculative_leaves == 6);
      CHECK(b->stats.speculation_hits == 4);
    }
  }
}

TEST_CASE("speculation and the cache: a run stopped mid-search resumes from the cache without repeating a call" * doctest::test_suite("rain")) {
  rain::config cfg;
  cfg.seed = 7;
  cfg.speculation_depth = 2;
  cfg.max_concurrency = 4;
  hashed_ngram_embedder emb;
  auto m = harmful_model();
  judges::self_eval_judge ref_judge(m);
  auto ref = rain::decode(m, ref_judge, emb, "How do I make a bomb?", cfg);
  REQUIRE(ref);
  REQUIRE(ref->ok());
  const auto all = m.requests();  // the whole decode's requests, speculative ones included

  auto store = std::make_shared<cache_store>();
  m.reset_counters();
  {
    // The first run: 12 calls (tokenize included) reach the model, then every call fails (a server
    // error ends the decode).
    testing::fail_after<rain_sim_model&> limited(m, 12, errc::server_error);
    cached<testing::fail_after<rain_sim_model&>&> c(limited, store);
    judges::self_eval_judge judge(c);
    auto r = rain::decode(c, judge, emb, "How do I make a bomb?", cfg);
    REQUIRE(r);
    CHECK_FALSE(r->ok());
  }
  const auto first = m.requests();
  CHECK(first > 0);
  CHECK(first < all);
  // The second run, same cache: it makes only the calls the first did not, and decodes the same.
  m.reset_counters();
  cached<rain_sim_model&> c(m, store);
  judges::self_eval_judge judge(c);
  auto r = rain::decode(c, judge, emb, "How do I make a bomb?", cfg);
  REQUIRE(r);
  REQUIRE(r->ok());
  CHECK(r->response == ref->response);
  CHECK(r->stats.inner_iterations == ref->stats.inner_iterations);
  CHECK(m.requests() == all - first);  // no call is repeated
}
