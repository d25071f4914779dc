// A C++ user's own adapter is safe by default (issue 17): an adapter that does not describe itself
// is assumed to offer plain generation only and is called one call at a time; every answer is
// checked against what was asked, and a shortfall fails at once naming the adapter's type.
//
// The adapter between the //[readme_adapter markers is README.md's, character for character
// (tests/unit/docs_test.cpp checks it), given to RAIN, DRPO and DLMA.
#include <doctest/doctest.h>
#include <selfalign/drpo/drpo.hpp>
#include <selfalign/dlma/dlma.hpp>
#include <selfalign/judges/rubric_judge.hpp>
#include <selfalign/judges/self_eval_judge.hpp>
#include <selfalign/rain/rain.hpp>
#include <selfalign/testing/dlma_sim.hpp>
#include <selfalign/testing/drpo_sim.hpp>
#include <selfalign/testing/rain_sim.hpp>
#include <selfalign/testing/scripted_generator.hpp>
#include <selfalign/wrappers/metered.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

// Calls in flight inside an adapter, and the most ever seen at once. Each call sleeps a little so
// that calls which could overlap do.
struct flight {
  std::atomic<int> now{0}, peak{0}, calls{0};
  void enter() {
    ++calls;
    const int n = ++now;
    int p = peak.load();
    while (n > p && !peak.compare_exchange_weak(p, n)) {}
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  void leave() { --now; }
  struct scope {
    flight& f;
    explicit scope(flight& fl) : f(fl) { f.enter(); }
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;
    ~scope() { f.leave(); }
  };
};

flight readme_engine_flight;

// What README.md's adapter calls: a rule-based engine over the simulated DRPO models, so that the
// README adapter can play every DRPO role. One call answers one choice.
namespace drpo_sim = selfalign::testing::drpo_sim;
drpo_sim::base_model readme_base;
drpo_sim::critic_model readme_critic;
drpo_sim::optimizer_model readme_optimizer;

}  // namespace

std::string run_my_model(const std::string& prompt, const selfalign::sampling& s) {
  flight::scope in(readme_engine_flight);
  selfalign::generation_request r;
  r.prompt = prompt;
  r.sampling = s;
  r.sampling.n = 1;
  selfalign::result<selfalign::generation> g;
  if (prompt.find("<evaluation>") != std::string::npos) g = readme_optimizer.generate(r);
  else if (prompt.find("<query>") != std::string::npos) g = readme_critic.generate(r);
  else g = readme_base.generate(r);
  return g ? g->text() : std::string("(engine error)");
}

//[readme_adapter
#include <selfalign/core.hpp>

#include <string>

std::string run_my_model(const std::string& prompt, const selfalign::sampling& s);  // your engine

struct my_llama {                       // wraps your in-process model
  selfalign::result<selfalign::generation> generate(const selfalign::generation_request& req) {
    selfalign::generation g;
    for (int i = 0; i < req.sampling.n; ++i)
      g.choices.push_back({run_my_model(req.prompt.flatten(), req.sampling), {}, {}, "stop"});
    return g;                           // or: return selfalign::fail(selfalign::errc::timeout, "...");
  }
};
static_assert(selfalign::Generator<my_llama>);   // a readable diagnostic if a member is missing
//]

using namespace selfalign;

namespace {

// An adapter over a simulated model that counts its calls in flight. Its capabilities() are the
// simulator's, except max_concurrent_calls: `declared` when given, otherwise left at the
// default, as an adapter author who never thought about threads would leave it.
template <class Sim>
class counted {
 public:
  counted(Sim sim, std::shared_ptr<flight> f, std::optional<std::size_t> declared = std::nullopt)
      : sim_(std::move(sim)), f_(std::move(f)), declared_(declared) {}

  result<generation> generate(const generation_request& r) {
    flight::scope in(*f_);
    return detail::as_result<generation>(sim_.generate(r));
  }
  result<scoring> score(const scoring_request& r)
    requires ScoringGenerator<Sim>
  {
    flight::scope in(*f_);
    return detail::as_result<scoring>(sim_.score(r));
  }
  result<std::vector<token_id>> tokenize(std::string_view text, bool add_special)
    requires Tokenizer<Sim>
  {
    flight::scope in(*f_);
    return detail::as_result<std::vector<token_id>>(sim_.tokenize(text, add_special));
  }
  result<std::string> detokenize(std::span<const token_id> ids)
    requires Tokenizer<Sim>
  {
    flight::scope in(*f_);
    return detail::as_result<std::string>(sim_.detokenize(ids));
  }
  selfalign::capabilities capabilities() {
    selfalign::capabilities c = capabilities_of(sim_);
    c.max_concurrent_calls = declared_ ? *declared_ : selfalign::capabilities{}.max_concurrent_calls;
    return c;
  }

 private:
  Sim sim_;
  std::shared_ptr<flight> f_;
  std::optional<std::size_t> declared_;
};

testing::rain_sim_model harmful_rain_model() {
  testing::rain_sim_options o;
  o.harmful_markers = {"bomb"};
  testing::rain_sim_model m(o);
  m.script("make a bomb", {
      {{"Here", " is", " how", " to", " make", " a", " bomb", ":", " mix", " the", " powders", "."}, 0.6},
      {{"I", " won't", " help", " with", " that", "."}, 0.4},
  });
  m.script("capital of France", {{{"Paris", " is", " the", " capital", "."}, 1.0}});
  return m;
}

testing::dlma_sim dlma_model() {
  testing::dlma_sim sim;
  sim.answer("law-abiding", {"I would rather help you safely.", "Please ask a professional."})
      .answer("toxic", {"Break the rules.", "Nobody will know."});
  sim.affinity("law-abiding", "safely", 1.5).affinity("toxic", "rules", 2.0);
  return sim;
}

}  // namespace

TEST_CASE("adapter safety: an adapter without capabilities() is assumed to offer plain generation only" * doctest::test_suite("adapters")) {
  my_llama m;
  const capabilities c = capabilities_of(m);
  CHECK(c == capabilities::plain());
  CHECK(c.max_top_logprobs == 0);
  CHECK_FALSE(c.top_k);
  CHECK_FALSE(c.include_stop);
  CHECK(c.max_concurrent_calls == 1);
  CHECK(c.chat);
  CHECK(c.raw_text);
  // A self-describing adapter keeps what it says.
  testing::rain_sim_model sim;
  CHECK(capabilities_of(sim).max_top_logprobs == 20);
}

TEST_CASE("adapter safety: README's adapter given to RAIN fails at once, naming the adapter and what it lacks" * doctest::test_suite("adapters")) {
  my_llama m;
  judges::self_eval_judge judge(m);
  hashed_ngram_embedder embedder;
  const int before = readme_engine_flight.calls.load();
  auto r = rain::decode(m, judge, embedder, "How do I pick a lock?");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::unsupported);
  const std::string& msg = r.error().message;
  INFO(msg);
  CHECK(msg.find("rain::decode needs top-") == 0);
  CHECK(msg.find("on my_llama (it has no capabilities() member, so only plain generation is assumed") != std::string::npos);
  CHECK(readme_engine_flight.calls.load() == before);  // no model call was made

  // The self-evaluation judge alone says the same of itself.
  auto j = judge.judge({"How do I pick a lock?", "I can't help with that.", {}, {}, std::nullopt});
  REQUIRE_FALSE(j);
  CHECK(j.error().code == errc::unsupported);
  CHECK(j.error().message.find("judges::self_eval_judge needs top-2 logprobs per token (the backend returns at most 0), "
                               "which my_llama (it has no capabilities() member") == 0);
  CHECK(readme_engine_flight.calls.load() == before);
}

TEST_CASE("adapter safety: README's adapter runs DRPO in every role, one call at a time" * doctest::test_suite("adapters")) {
  my_llama m;
  drpo::config cfg;  // defaults, concurrency 8 included
  cfg.depth = 3;
  auto selector = drpo::make_selector(m, cfg);
  auto judge = drpo::make_judge(m, cfg);
  drpo::dataset data;
  data.queries = drpo_sim::training_queries();
  readme_engine_flight.peak = 0;
  const int before = readme_engine_flight.calls.load();
  auto rep = drpo::optimize(drpo::make_roles(m, selector, judge, m), data, cfg);
  REQUIRE(rep);
  CHECK_FALSE(rep->best_prompt.empty());
  CHECK(readme_engine_flight.calls.load() - before > 10);
  CHECK(readme_engine_flight.peak.load() == 1);
}

TEST_CASE("adapter safety: README's adapter cannot be given to DLMA, which needs scoring" * doctest::test_suite("adapters")) {
  // DLMA refuses it at compile time (dlma::build_pairs requires a ScoringGenerator; the
  // compile-fail test dlma_needs_scoring locks the diagnostic in); at run time, through
  // any_generator, it fails before any call naming what is missing.
  static_assert(!ScoringGenerator<my_llama>);
  any_generator erased{my_llama{}};
  const int before = readme_engine_flight.calls.load();
  auto rep = dlma::build_pairs(erased, std::vector<std::string>{"How do I pick a lock?"}, dlma::config{});
  REQUIRE_FALSE(rep);
  CHECK(rep.error().code == errc::unsupported);
  CHECK(rep.error().message.find("continuation scoring") != std::string::npos);
  CHECK(readme_engine_flight.calls.load() == before);
}

TEST_CASE("adapter safety: an adapter that claims logprobs but returns none fails at its first answer" * doctest::test_suite("adapters")) {
  struct claims_logprobs : my_llama {
    selfalign::capabilities capabilities() const { return selfalign::capabilities{}; }  // the full set
  };
  claims_logprobs m;
  judges::self_eval_judge judge(m);
  hashed_ngram_embedder embedder;
  const int before = readme_engine_flight.calls.load();
  auto r = rain::decode(m, judge, embedder, "How do I pick a lock?");
  // decode() started, so it returns a report whose error names the adapter and the field.
  REQUIRE(r);
  REQUIRE(r->error);
  CHECK(r->error->code == errc::unsupported);
  INFO(r->error->message);
  CHECK(r->error->message.find("claims_logprobs answered a request for") != std::string::npos);
  CHECK(r->error->message.find("completion::tokens is empty") != std::string::npos);
  CHECK(r->response.empty());
  CHECK(readme_engine_flight.calls.load() - before <= 20);  // the first request's choices, no more
}

TEST_CASE("adapter safety: answers are checked against their requests" * doctest::test_suite("adapters")) {
  struct one_choice_only {
    result<generation> generate(const generation_request&) {
      generation g;
      g.choices.push_back({"only one", {}, {}, "stop"});
      return g;
    }
  };
  one_choice_only g;
  generation_request r;
  r.sampling.n = 3;
  auto a = generate_batch(g, std::span<const generation_request>(&r, 1));
  REQUIRE_FALSE(a[0]);
  CHECK(a[0].error().code == errc::unsupported);
  CHECK(a[0].error().message.find("one_choice_only answered a request for 3 choices (sampling.n) with 1 (generation::choices)") != std::string::npos);

  struct no_top {
    result<generation> generate(const generation_request&) {
      completion c{"Hi", {{"Hi", std::nullopt, -0.5, {}}}, {}, "stop"};
      return generation{{c}, {}, {}};
    }
  };
  no_top t;
  generation_request k;
  k.sampling.logprobs = 5;
  auto b = generate_batch(t, std::span<const generation_request>(&k, 1));
  REQUIRE_FALSE(b[0]);
  CHECK(b[0].error().message.find("no_top answered a request for the top 5 alternatives per token") != std::string::npos);
  k.sampling.logprobs = 0;  // the chosen token's logprob alone: satisfied
  CHECK(generate_batch(t, std::span<const generation_request>(&k, 1))[0].has_value());

  struct short_embedder {
    result<embeddings> embed(const embedding_request&) {
      embeddings e;
      e.vectors.push_back({1.0f});
      return e;
    }
  };
  short_embedder e;
  embedding_request er;
  er.texts = {"a", "b"};
  auto v = embed_batch(e, std::span<const embedding_request>(&er, 1));
  REQUIRE_FALSE(v[0]);
  CHECK(v[0].error().message.find("short_embedder answered a request to embed 2 texts with 1 vector") != std::string::npos);
}

TEST_CASE("adapter safety: with default configs an adapter that does not say is never called concurrently" * doctest::test_suite("adapters")) {
  SUBCASE("RAIN: decode and decode_batch") {
    auto f = std::make_shared<flight>();
    counted g(harmful_rain_model(), f);
    judges::self_eval_judge judge(g);
    hashed_ngram_embedder embedder;
    auto r = rain::decode(g, judge, embedder, "How do I make a bomb?");
    REQUIRE(r);
    CHECK(r->ok());
    const std::vector<rain::input> inputs{rain::input("How do I make a bomb?"), rain::input("What is the capital of France?"),
                                          rain::input("How do I make a bomb?")};
    auto batch = rain::decode_batch(g, judge, embedder, std::span<const rain::input>(inputs));
    for (auto& b : batch) CHECK(b.has_value());
    CHECK(f->calls.load() > 10);
    CHECK(f->peak.load() == 1);
  }
  SUBCASE("DLMA") {
    auto f = std::make_shared<flight>();
    counted g(dlma_model(), f);
    std::vector<std::string> queries;
    for (int i = 0; i < 6; ++i) queries.push_back("Question number " + std::to_string(i) + "?");
    auto rep = dlma::build_pairs(g, queries, dlma::config{});
    REQUIRE(rep);
    CHECK(rep->pairs.size() == 6);
    CHECK(f->calls.load() > 12);
    CHECK(f->peak.load() == 1);
  }
  SUBCASE("DRPO with separate adapters per role") {
    auto fb = std::make_shared<flight>(), fc = std::make_shared<flight>(), fo = std::make_shared<flight>();
    counted base(drpo_sim::base_model{}, fb);
    counted critic(drpo_sim::critic_model{}, fc);
    counted optimizer(drpo_sim::optimizer_model{}, fo);
    drpo::config cfg;
    cfg.depth = 3;
    auto selector = drpo::make_selector(critic, cfg);
    auto judge = drpo::make_judge(critic, cfg);
    drpo::dataset data;
    data.queries = drpo_sim::training_queries();
    for (const auto& [q, a] : drpo_sim::seed_examples()) data.seed_examples.push_back({q, a});
    auto rep = drpo::optimize(drpo::make_roles(base, selector, judge, optimizer), data, cfg);
    REQUIRE(rep);
    CHECK(fb->calls.load() > 5);
    CHECK(fc->calls.load() > 5);
    CHECK(fb->peak.load() == 1);
    CHECK(fc->peak.load() == 1);  // the selector and the judge share one critic object
    CHECK(fo->peak.load() == 1);
  }
  SUBCASE("the judges, batched") {
    auto f = std::make_shared<flight>();
    counted critic(drpo_sim::critic_model{}, f);
    judges::rubric_judge judge(critic);
    std::vector<judge_request> reqs;
    for (int i = 0; i < 8; ++i)
      reqs.push_back({"<query>Question " + std::to_string(i) + "</query>", "An answer.", {{"Helpfulness", "", "", 1.0}}, {}, std::nullopt});
    auto verdicts = judge_batch(judge, std::span<const judge_request>(reqs));  // batch_options: 8 at once
    for (auto& v : verdicts) CHECK(v.has_value());
    CHECK(f->calls.load() == 8);
    CHECK(f->peak.load() == 1);

    auto g = std::make_shared<flight>();
    counted evaluator(harmful_rain_model(), g);
    judges::self_eval_judge self_eval(evaluator);  // asks both option orders at once by default
    for (int i = 0; i < 3; ++i) CHECK(self_eval.judge({"How do I make a bomb?", "I won't help", {}, {}, std::nullopt}));
    CHECK(g->calls.load() >= 6);
    CHECK(g->peak.load() == 1);
  }
}

TEST_CASE("adapter safety: an adapter that declares N calls at once gets N, whatever the config says" * doctest::test_suite("adapters")) {
  testing::scripted_generator g;
  g.otherwise("ok");
  capabilities c;
  c.max_concurrent_calls = 3;
  g.with_capabilities(c).hold_until_in_flight(3, std::chrono::seconds(2));
  std::vector<generation_request> reqs(12);
  batch_options wide;
  wide.max_concurrency = 8;
  auto out = generate_batch(g, std::span<const generation_request>(reqs), wide);
  for (auto& o : out) CHECK(o.has_value());
  CHECK(g.max_in_flight() == 3);  // counted, not timed: every call waits until 3 are in flight

  // The same limit holds across roles and executors sharing the object: RAIN over a model that
  // declares 2 sees at most 2.
  auto f = std::make_shared<flight>();
  counted m(harmful_rain_model(), f, std::size_t{2});
  judges::self_eval_judge judge(m);
  hashed_ngram_embedder embedder;
  const std::vector<rain::input> inputs{rain::input("How do I make a bomb?"), rain::input("What is the capital of France?"),
                                        rain::input("How do I make a bomb?"), rain::input("What is the capital of France?")};
  auto batch = rain::decode_batch(m, judge, embedder, std::span<const rain::input>(inputs));
  for (auto& b : batch) CHECK(b.has_value());
  CHECK(f->peak.load() <= 2);
  CHECK(f->peak.load() >= 1);
}

TEST_CASE("adapter safety: DRPO reports the share of base answers cut at max_tokens and warns when high" * doctest::test_suite("adapters")) {
  // A base adapter that never reports an end: every answer runs to max_tokens.
  struct never_ends {
    drpo_sim::base_model sim;
    result<generation> generate(const generation_request& r) {
      auto g = sim.generate(r);
      if (g)
        for (auto& c : g->choices) c.finish_reason = "length";
      return g;
    }
  };
  never_ends base;
  drpo_sim::critic_model critic;
  drpo_sim::optimizer_model optimizer;
  std::vector<std::string> warnings;
  drpo::config cfg;
  cfg.depth = 2;
  cfg.on_event = [&](const event& e) {
    if (e.kind == event_kind::warning) warnings.push_back(e.message);
  };
  auto selector = drpo::make_selector(critic, cfg);
  auto judge = drpo::make_judge(critic, cfg);
  drpo::dataset data;
  data.queries = drpo_sim::training_queries();
  auto rep = drpo::optimize(drpo::make_roles(base, selector, judge, optimizer), data, cfg);
  REQUIRE(rep);
  CHECK(rep->base_answers >= 4);
  CHECK(rep->base_answers_cut == rep->base_answers);
  CHECK(nlohmann::json(*rep)["base_answers_cut"] == rep->base_answers_cut);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0] == fmt::format("{} of {} base answers ended at max_tokens (finish_reason \"length\"): the judge scored "
                                   "cut-off answers; raise base_sampling.max_tokens, or check that the base model's "
                                   "adapter reports the end of its answers (docs/adapters.md)",
                                   rep->base_answers, rep->base_answers));

  // The simulated base model ends its answers: no warning, nothing cut.
  drpo_sim::base_model ending;
  warnings.clear();
  auto ok = drpo::optimize(drpo::make_roles(ending, selector, judge, optimizer), data, cfg);
  REQUIRE(ok);
  CHECK(ok->base_answers == rep->base_answers);
  CHECK(ok->base_answers_cut == 0);
  CHECK(warnings.empty());
}

TEST_CASE("adapter safety: budget::calls and friends build a budget without designated initializers" * doctest::test_suite("adapters")) {
  const budget b = budget::calls(2).and_tokens(1000).and_cost(0.5).and_wall_time(std::chrono::minutes(1));
  CHECK(b.max_calls == 2);
  CHECK(b.max_tokens == 1000);
  CHECK(b.max_cost == 0.5);
  CHECK(b.max_wall_time == std::chrono::milliseconds(60000));
  CHECK_FALSE(budget::tokens(5).max_calls.has_value());
  auto m = std::make_shared<meter>(budget::calls(2));
  testing::scripted_generator g;
  g.otherwise("ok");
  metered limited(g, m, "base");
  generation_request r;
  CHECK(limited.generate(r));
  CHECK(limited.generate(r));
  auto third = limited.generate(r);
  REQUIRE_FALSE(third);
  CHECK(third.error().code == errc::budget_exhausted);
  CHECK(g.call_count() == 2);
}
