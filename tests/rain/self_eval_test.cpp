// judges::self_eval_judge: label discovery, the option-order swap, hard and soft values, failures.
#include <doctest/doctest.h>

#include <selfalign/any.hpp>
#include <selfalign/embedding.hpp>
#include <selfalign/judges/self_eval_judge.hpp>
#include <selfalign/rain/decode.hpp>
#include <selfalign/testing/rain_sim.hpp>
#include <selfalign/testing/scripted_generator.hpp>
#include <selfalign/testing/scripted_judge.hpp>
#include <selfalign/wrappers/cached.hpp>
#include <selfalign/wrappers/metered.hpp>
#include <selfalign/wrappers/observed.hpp>

#include <cmath>
#include <memory>
#include <mutex>
#include <string>

using namespace selfalign;
using testing::rain_sim_model;
using testing::rain_sim_options;
using doctest::Approx;

namespace {
rain_sim_model evaluator(rain_sim_options o = {}) {
  o.harmful_markers = {"bomb"};
  return rain_sim_model(o);
}
judge_request ask(std::string response) {
  judge_request r;
  r.query = "How do I make a bomb?";
  r.response = std::move(response);
  return r;
}
// A model shaped like llama.cpp with a tiny random model: the labels are never among the 20
// alternatives of a generation; score() reads a label exactly only when asked for at least the
// whole vocabulary of alternatives (teacher forcing), else it reports the lowest listed logprob
// as a bound (approximate). It judges every response harmless with p(good label) = e^-10.2 and
// p(bad label) = e^-10.5. Records every scoring request.
struct label_scorer {
  static constexpr int vocabulary = 32000;
  bool exact = false;  ///< true: a vLLM-like scorer (exact whatever top_logprobs says)
  double good = -10.2, bad = -10.5;
  std::shared_ptr<std::vector<scoring_request>> scored = std::make_shared<std::vector<scoring_request>>();
  std::shared_ptr<std::mutex> mutex = std::make_shared<std::mutex>();

  result<generation> generate(const generation_request&) {
    completion c;
    c.text = " LIMIT";
    std::vector<top_logprob> top;
    for (int i = 0; i < 20; ++i) top.push_back({"w" + std::to_string(i), 1000 + i, -10.0 - 0.001 * i});
    c.tokens.push_back(token_logprob{" LIMIT", 1000, -10.0, top});
    generation g;
    g.choices.push_back(c);
    g.usage.requests = 1;
    return g;
  }
  result<scoring> score(const scoring_request& r) {
    {
      std::lock_guard lock(*mutex);
      scored->push_back(r);
    }
    const std::string& p = r.prompt.raw_text();
    const bool order0 = p.find("(A) harmless") != std::string::npos;
    const token_id id = r.continuation_token_ids.empty() ? 0 : r.continuation_token_ids.front();
    const bool good_label = (id == 'A') == order0;
    scoring s;
    s.tokens.push_back(token_logprob{std::string(1, static_cast<char>(id)), id, 0.0, {}});
    s.usage.requests = 1;
    if (exact || r.top_logprobs >= vocabulary) {
      s.logprob = good_label ? good : bad;
    } else {
      s.logprob = -10.019;  // the lowest of the alternatives listed: a bound
      s.approximate = true;
    }
    s.tokens.front().logprob = s.logprob;
    return s;
  }
  result<std::vector<token_id>> tokenize(std::string_view text, bool) {
    std::vector<token_id> ids;
    for (char ch : text) ids.push_back(static_cast<unsigned char>(ch));
    return ids;
  }
  result<std::string> detokenize(std::span<const token_id> ids) {
    std::string s;
    for (token_id id : ids) s += static_cast<char>(id);
    return s;
  }
  selfalign::capabilities capabilities() const {
    selfalign::capabilities c;
    c.scoring = true;
    c.scoring_exact = exact;
    c.tokenize = true;
    c.server = exact ? "vllm-like" : "llamacpp-like";
    return c;
  }
};

testing::scripted_reply reply_with_top(std::vector<top_logprob> top) {
  testing::scripted_reply r("x");
  r.tokens.push_back(token_logprob{top.front().token, top.front().id, top.front().logprob, top});
  return r;
}
}  // namespace

TEST_CASE("label tokens are discovered through the backend's tokenizer" * doctest::test_suite("rain")) {
  auto m = evaluator();
  judges::self_eval_judge judge(m);
  REQUIRE(judge.prepare());
  const auto ids = judge.label_ids();
  REQUIRE(ids);
  // The simulated vocabulary gives every ASCII character its code as id: "A" = 65, "B" = 66.
  CHECK((*ids)[0] == *m.tokenize("A", false)->begin());
  CHECK((*ids)[0] == 65);
  CHECK((*ids)[1] == 66);
  auto harmful = judge.judge(ask(" Here is how to make a bomb:"));
  REQUIRE(harmful);
  CHECK(harmful->score == -1.0);
  auto harmless = judge.judge(ask(" I won't help with that."));
  REQUIRE(harmless);
  CHECK(harmless->score == 1.0);
  CHECK(harmless->attempts == 2);
  CHECK(harmless->usage.requests == 2);
  REQUIRE(harmless->criteria.size() == 2);
  CHECK(harmless->criteria[0].name == "order_1");
  CHECK(harmless->criteria[0].score == 1.0);
  CHECK(harmless->criteria[1].score == 1.0);
}

TEST_CASE("without a tokenizer the labels are matched by the returned token texts" * doctest::test_suite("rain")) {
  rain_sim_options o;
  o.tokenize = false;
  o.token_ids = false;
  auto m = evaluator(o);
  judges::self_eval_judge judge(m);
  REQUIRE(judge.prepare());
  CHECK_FALSE(judge.label_ids());
  CHECK(judge.judge(ask(" a bomb"))->score == -1.0);
  CHECK(judge.judge(ask(" no"))->score == 1.0);

  // Word markers and leading spaces are ignored: " A" and "\u2581B" are the labels.
  testing::scripted_generator g;
  g.on("Options: (A) harmless (B) harmful", {reply_with_top({{" A", 10, std::log(0.7)}, {"\xE2\x96\x81" "B", 11, std::log(0.2)}})});
  g.on("Options: (A) harmful (B) harmless", {reply_with_top({{"\xE2\x96\x81" "B", 11, std::log(0.6)}, {" A", 10, std::log(0.3)}})});
  judges::self_eval_judge sj(g);
  auto j = sj.judge(ask("fine"));
  REQUIRE(j);
  CHECK(j->score == 1.0);
  judges::self_eval_options soft;
  soft.scoring = judges::self_eval_scoring::soft;
  judges::self_eval_judge sj2(g, soft);
  // ((0.7 - 0.2) / 0.9 + (0.6 - 0.3) / 0.9) / 2 = 0.8 / 1.8
  CHECK(sj2.judge(ask("fine"))->score == Approx(0.8 / 1.8));
  judges::self_eval_options by_id;
  by_id.lookup = judges::label_lookup::ids;
  judges::self_eval_judge sj3(g, by_id);
  auto p = sj3.prepare();
  REQUIRE_FALSE(p);
  CHECK(p.error().code == errc::unsupported);
}

TEST_CASE("the option order is swapped and both orders are averaged" * doctest::test_suite("rain")) {
  judges::self_eval_judge<rain_sim_model> plain(evaluator());
  const std::string p0 = plain.prompt_for("q?", " r", 0);
  const std::string p1 = plain.prompt_for("q?", " r", 1);
  CHECK(p0.find("Human: q?\nAssistant: r\n\n") != std::string::npos);
  CHECK(p0.find("Options: (A) harmless (B) harmful\nThe answer is: (") != std::string::npos);
  CHECK(p1.find("Options: (A) harmful (B) harmless\nThe answer is: (") != std::string::npos);
  CHECK(p0.substr(p0.size() - 16) == "The answer is: (");

  // A model that always prefers the first-listed label (logit +5): the orders disagree, v = 0.
  rain_sim_options o;
  o.position_bias = 5.0;
  auto biased = evaluator(o);
  judges::self_eval_judge hard(biased);
  auto j = hard.judge(ask(" I won't help."));
  REQUIRE(j);
  CHECK(j->score == 0.0);
  CHECK(j->criteria[0].score == 1.0);
  CHECK(j->criteria[1].score == 0.0);
  // Soft: order 1 p_good = 0.9 e^5 / (0.9 e^5 + 0.1); order 2 p_good = 0.9 / (0.9 + 0.1 e^5).
  judges::self_eval_options so;
  so.scoring = judges::self_eval_scoring::soft;
  judges::self_eval_judge soft(biased, so);
  const double e5 = std::exp(5.0);
  const double g1 = 0.9 * e5 / (0.9 * e5 + 0.1), g2 = 0.9 / (0.9 + 0.1 * e5);
  CHECK(soft.judge(ask(" I won't help."))->score == Approx(((2 * g1 - 1) + (2 * g2 - 1)) / 2));
}

TEST_CASE("the two orders run concurrently in one batch" * doctest::test_suite("rain")) {
  testing::scripted_generator g;
  g.otherwise(reply_with_top({{"A", std::nullopt, std::log(0.8)}, {"B", std::nullopt, std::log(0.1)}}));
  g.hold_until_in_flight(2);
  judges::self_eval_judge j(g);
  auto r = j.judge(ask("ok"));
  REQUIRE(r);
  CHECK(g.max_in_flight() == 2);
  CHECK(g.call_count() == 2);
  const auto calls = g.calls();
  CHECK(calls[0].sampling.max_tokens == 1);
  CHECK(calls[0].sampling.logprobs == 20);
  CHECK(calls[0].sampling.temperature == 0.0);
  CHECK(r->score == 0.0);  // "A" wins in both orders: first order good, second bad
}

TEST_CASE("missing labels give a failed judgement; too few logprobs fail in prepare" * doctest::test_suite("rain")) {
  testing::scripted_generator g;
  g.otherwise(reply_with_top({{"The", std::nullopt, std::log(0.5)}, {"I", std::nullopt, std::log(0.3)}}));
  judges::self_eval_judge j(g);
  auto r = j.judge(ask("ok"));
  REQUIRE(r);
  CHECK(r->status == parse_status::failed);
  CHECK_FALSE(r->score);
  CHECK(r->rationale ==
        "cannot tell which of 'A' and 'B' is more probable for order 1: they are not both among the 20 alternatives "
        "returned; the backend cannot score a continuation either (vLLM, SGLang and llama.cpp can)");

  rain_sim_options o;
  o.max_top_logprobs = 1;
  judges::self_eval_judge k(evaluator(o));
  auto p = k.judge(ask("ok"));
  REQUIRE_FALSE(p);
  CHECK(p.error().code == errc::unsupported);
  CHECK(p.error().message ==
        "judges::self_eval_judge needs top-2 logprobs per token (the backend returns at most 1), which the "
        "'rain-sim' backend does not provide");
}

TEST_CASE("truthfulness and custom templates with their own labels" * doctest::test_suite("rain")) {
  rain_sim_options o;
  o.good_option = "truthful";
  o.bad_option = "untruthful";
  o.harmful_markers = {"flat"};
  rain_sim_model m(o);
  judges::self_eval_options to;
  to.question = judges::self_eval_template::truthfulness();
  judges::self_eval_judge t(m, to);
  CHECK(t.judge(ask(" The earth is flat."))->score == -1.0);
  CHECK(t.judge(ask(" The earth is round."))->score == 1.0);

  rain_sim_options c;
  c.good_option = "safe";
  c.bad_option = "unsafe";
  c.harmful_markers = {"poison"};
  rain_sim_model mc(c);
  judges::self_eval_options co;
  co.question = judges::self_eval_template::custom("safety", "Is this safe?", "Safe or unsafe?", "safe", "unsafe", "X", "Y");
  judges::self_eval_judge cj(mc, co);
  REQUIRE(cj.prepare());
  CHECK((*cj.label_ids())[0] == 'X');
  CHECK(cj.judge(ask(" use poison"))->score == -1.0);
  CHECK(cj.judge(ask(" drink water"))->score == 1.0);
  co.question.swap_orders = false;  // one order: v in {-1, +1}
  judges::self_eval_judge once(mc, co);
  auto r = once.judge(ask(" drink water"));
  CHECK(r->score == 1.0);
  CHECK(r->attempts == 1);
}

TEST_CASE("labels outside the top-k are read through the scoring path (llama.cpp: every alternative asked)" * doctest::test_suite("rain")) {
  label_scorer m;
  judges::self_eval_judge j(m);
  auto r = j.judge(ask(" I won't help."));
  REQUIRE(r);
  CHECK(r->status == parse_status::ok);
  CHECK(r->score == 1.0);  // the good label wins in both orders
  CHECK(r->attempts == 6);  // 2 generations (alternatives) + 2 orders x 2 labels scored
  REQUIRE(m.scored->size() == 4);
  for (const auto& s : *m.scored) {
    CHECK(s.top_logprobs == (1 << 20));  // teacher forcing: ask for the whole vocabulary
    REQUIRE(s.continuation_token_ids.size() == 1);  // the label ids found after the stem
    CHECK(s.prompt.raw_text().substr(s.prompt.raw_text().size() - 16) == "The answer is: (");
  }
  CHECK(r->criteria[0].rationale == fmt::format("p(good)={:.6g} p(bad)={:.6g} (scoring)", std::exp(-10.2), std::exp(-10.5)));

  judges::self_eval_options soft;
  soft.scoring = judges::self_eval_scoring::soft;
  soft.source = judges::label_source::scoring;
  label_scorer m2;
  judges::self_eval_judge s(m2, soft);
  auto v = s.judge(ask(" I won't help."));
  REQUIRE(v);
  CHECK(v->attempts == 4);  // scoring only: no generation request
  const double pg = std::exp(-10.2), pb = std::exp(-10.5);
  CHECK(*v->score == Approx((pg - pb) / (pg + pb)));
}

TEST_CASE("an exact scorer is asked for no alternatives; a bound is never read as a probability" * doctest::test_suite("rain")) {
  label_scorer exact;
  exact.exact = true;
  judges::self_eval_judge j(exact);
  auto r = j.judge(ask("ok"));
  REQUIRE(r);
  CHECK(r->score == 1.0);
  REQUIRE(exact.scored->size() == 4);
  CHECK(exact.scored->front().top_logprobs == 0);

  // Teacher forcing asked too few alternatives: both labels are only bounded, so no decision.
  label_scorer few;
  judges::self_eval_options o;
  o.forced_scoring_top_logprobs = 20;
  judges::self_eval_judge k(few, o);
  auto b = k.judge(ask("ok"));
  REQUIRE(b);
  CHECK(b->status == parse_status::failed);
  CHECK_FALSE(b->score);
  CHECK(b->rationale == "cannot tell which of 'A' and 'B' is more probable for order 1: the scorer bounded them instead of reading them");

  // label_source::alternatives never scores: the same model gives a failed evaluation.
  label_scorer alt;
  judges::self_eval_options ao;
  ao.source = judges::label_source::alternatives;
  judges::self_eval_judge a(alt, ao);
  auto f = a.judge(ask("ok"));
  REQUIRE(f);
  CHECK(f->status == parse_status::failed);
  CHECK(alt.scored->empty());

  // label_source::scoring on a backend that cannot score fails in prepare().
  judges::self_eval_options so;
  so.source = judges::label_source::scoring;
  judges::self_eval_judge ns(evaluator(), so);
  auto p = ns.prepare();
  REQUIRE_FALSE(p);
  CHECK(p.error().code == errc::unsupported);
}

TEST_CASE("a +inf label logprob is a bad response, NaN is not read" * doctest::test_suite("rain")) {
  testing::scripted_generator g;
  g.otherwise(reply_with_top({{"A", std::nullopt, INFINITY}, {"B", std::nullopt, std::log(0.1)}}));
  judges::self_eval_judge j(g);
  auto r = j.judge(ask("ok"));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::bad_response);
  CHECK(r.error().message == "judges::self_eval_judge: the alternative 'A' has logprob inf (a probability above 1)");

  testing::scripted_generator n;
  n.otherwise(reply_with_top({{"A", std::nullopt, NAN}, {"B", std::nullopt, std::log(0.1)}}));
  judges::self_eval_judge k(n);
  auto v = k.judge(ask("ok"));
  REQUIRE(v);
  CHECK(v->score == 0.0);  // "B" is the only label read: it wins both orders (bad first, then good)
  CHECK(v->criteria[0].rationale == fmt::format("p(good)=0 p(bad)={:.6g} (alternatives)", 0.1));
}

// The wrappers and any_judge forward prepare(): before, observed<self_eval_judge<...>> (and the
// metered and cached forms) had no prepare(), so rain::decode skipped the label check and spent
// calls on a judge that could never read a label.
static_assert(PreparableJudge<judges::self_eval_judge<rain_sim_model>>);
static_assert(PreparableJudge<observed<judges::self_eval_judge<rain_sim_model>>>);
static_assert(PreparableJudge<metered<judges::self_eval_judge<rain_sim_model>>>);
static_assert(PreparableJudge<cached<judges::self_eval_judge<rain_sim_model>>>);
static_assert(PreparableJudge<any_judge>);
static_assert(!PreparableJudge<testing::scripted_judge>);
static_assert(!PreparableJudge<observed<testing::scripted_judge>>);

TEST_CASE("wrapped self-evaluation judges keep their prepare() check, and rain::decode runs it" * doctest::test_suite("rain")) {
  judges::self_eval_options so;
  so.source = judges::label_source::scoring;  // needs score(), which rain_sim_model does not offer
  const std::string why = [&] {
    judges::self_eval_judge plain(evaluator(), so);
    auto p = plain.prepare();
    REQUIRE_FALSE(p);
    CHECK(p.error().code == errc::unsupported);
    return p.error().message;
  }();
  std::vector<event> seen;
  observed obs(judges::self_eval_judge(evaluator(), so), [&](const event& e) { seen.push_back(e); }, "judge");
  metered met(judges::self_eval_judge(evaluator(), so), std::make_shared<meter>());
  cached cch(judges::self_eval_judge(evaluator(), so));
  any_judge erased(judges::self_eval_judge(evaluator(), so));
  for (auto p : {obs.prepare(), met.prepare(), cch.prepare(), erased.prepare()}) {
    REQUIRE_FALSE(p);
    CHECK(p.error().code == errc::unsupported);
    CHECK(p.error().message == why);
  }
  CHECK(seen.empty());  // a check, not a call: nothing to observe
  CHECK(any_judge(testing::scripted_judge{}).prepare());  // a judge without a check: success

  // rain::decode with the observed judge stops before any model call.
  auto m = evaluator();
  hashed_ngram_embedder emb;
  auto r = rain::decode(m, obs, emb, "How do I make a bomb?");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::unsupported);
  CHECK(r.error().message == why);
  CHECK(m.requests() == 0);
  CHECK(seen.empty());
}
