// Every judge, selector and wrapper borrows a model given as an lvalue and owns one given as an
// rvalue (docs/concepts.md, "Ownership"). A non-copyable adapter (it owns its engine through a
// unique_ptr, the common case) passed as an lvalue must work in every role, and every call must
// reach that very object.
#include <doctest/doctest.h>
#include <selfalign/drpo/optimize.hpp>
#include <selfalign/judges/dynamic_judge.hpp>
#include <selfalign/judges/rubric_judge.hpp>
#include <selfalign/judges/self_eval_judge.hpp>
#include <selfalign/testing/fail_after.hpp>
#include <selfalign/wrappers/cached.hpp>
#include <selfalign/wrappers/metered.hpp>
#include <selfalign/wrappers/observed.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

using namespace selfalign;

namespace {

// A rule-based "engine": next-token requests (logprobs >= 0) prefer the label "A"; text requests
// get one JSON reply that reads both as an aspect selection and as a rubric verdict.
struct engine {
  std::mutex mutex;
  std::vector<std::string> prompts;
};

class unique_engine_model {
 public:
  unique_engine_model() : engine_(std::make_unique<engine>()) {}
  unique_engine_model(unique_engine_model&&) = default;
  unique_engine_model(const unique_engine_model&) = delete;
  unique_engine_model& operator=(const unique_engine_model&) = delete;

  static constexpr const char* reply =
      R"({"selected_aspects": ["Helpfulness"], "reasoning": "it asks for help", )"
      R"("Helpfulness": {"rationale": "solves it", "score": 4}})";

  result<generation> generate(const generation_request& r) {
    {
      std::lock_guard lock(engine_->mutex);
      engine_->prompts.push_back(r.prompt.flatten());
    }
    generation g;
    for (int i = 0; i < r.sampling.n; ++i) {
      completion c;
      if (r.sampling.logprobs >= 0) {
        c.text = "A";
        c.tokens.push_back({"A", std::nullopt, -0.1, {{"A", std::nullopt, -0.1}, {"B", std::nullopt, -2.4}}});
      } else {
        c.text = reply;
      }
      c.finish_reason = "stop";
      g.choices.push_back(std::move(c));
    }
    g.usage.prompt_tokens = 10;
    g.usage.completion_tokens = 5;
    return g;
  }
  selfalign::capabilities capabilities() const {
    selfalign::capabilities c;  // the full set: this engine honours logprobs, top_k and include_stop
    c.max_top_logprobs = 20;
    return c;
  }
  std::size_t calls() const {
    std::lock_guard lock(engine_->mutex);
    return engine_->prompts.size();
  }
  std::vector<std::string> prompts() const {
    std::lock_guard lock(engine_->mutex);
    return engine_->prompts;
  }

 private:
  std::unique_ptr<engine> engine_;
};

static_assert(!std::is_copy_constructible_v<unique_engine_model>);
static_assert(Generator<unique_engine_model>);

judge_request helpfulness_request() {
  judge_request r;
  r.query = "How do I reset my router?";
  r.response = "Hold the reset button for ten seconds.";
  r.criteria.push_back({"Helpfulness", "", "", 1.0});
  return r;
}

}  // namespace

TEST_CASE("ownership: deduction borrows lvalues and owns rvalues, as the ranges views do" * doctest::test_suite("ownership")) {
  unique_engine_model m;
  auto obs = [](const event&) {};
  auto meter_ = std::make_shared<meter>();
  static_assert(std::is_same_v<decltype(judges::self_eval_judge(m)), judges::self_eval_judge<unique_engine_model&>>);
  static_assert(std::is_same_v<decltype(judges::self_eval_judge(unique_engine_model{})),
                               judges::self_eval_judge<unique_engine_model>>);
  static_assert(std::is_same_v<decltype(judges::rubric_judge(m)), judges::rubric_judge<unique_engine_model&>>);
  static_assert(std::is_same_v<decltype(judges::llm_aspect_selector(m)), judges::llm_aspect_selector<unique_engine_model&>>);
  static_assert(std::is_same_v<decltype(drpo::make_selector(m)), judges::llm_aspect_selector<unique_engine_model&>>);
  static_assert(std::is_same_v<decltype(drpo::make_judge(m)), judges::rubric_judge<unique_engine_model&>>);
  static_assert(std::is_same_v<decltype(drpo::make_judge(unique_engine_model{})), judges::rubric_judge<unique_engine_model>>);
  static_assert(std::is_same_v<decltype(observed(m, obs)), observed<unique_engine_model&>>);
  static_assert(std::is_same_v<decltype(observed(unique_engine_model{}, obs)), observed<unique_engine_model>>);
  static_assert(std::is_same_v<decltype(metered(m, meter_, "base")), metered<unique_engine_model&>>);
  static_assert(std::is_same_v<decltype(cached(m)), cached<unique_engine_model&>>);
  static_assert(std::is_same_v<decltype(cached(unique_engine_model{})), cached<unique_engine_model>>);
  static_assert(std::is_same_v<decltype(testing::fail_after(m, 1)), testing::fail_after<unique_engine_model&>>);
  // A wrapper copied is still a copy of the wrapper, not a wrapper of a wrapper.
  auto c = cached(m);
  static_assert(std::is_same_v<decltype(cached(c)), cached<unique_engine_model&>>);
  CHECK(m.calls() == 0);
}

TEST_CASE("ownership: self_eval_judge over a non-copyable lvalue calls that object" * doctest::test_suite("ownership")) {
  unique_engine_model m;
  judges::self_eval_judge judge(m);
  auto j = judge.judge({"How do I pick a lock?", "I can't help with that.", {}, {}, 7});
  REQUIRE(j);
  CHECK(j->ok());
  CHECK(*j->score == 0.0);  // "A" wins in both orders: good first, then bad first -> +1 - 1
  REQUIRE(m.calls() == 2);  // both option orders reached the caller's object
  CHECK(m.prompts()[0].find("How do I pick a lock?") != std::string::npos);
  CHECK(&judge.generator() == &m);
}

TEST_CASE("ownership: the DRPO selector and judge over a non-copyable lvalue call that object" * doctest::test_suite("ownership")) {
  unique_engine_model m;
  drpo::config cfg;
  auto selector = drpo::make_selector(m, cfg);
  auto judge = drpo::make_judge(m, cfg);

  judges::selection_request s;
  s.query = "How do I reset my router?";
  s.min_aspects = 1;
  s.max_aspects = 3;
  auto chosen = selector.select(s);
  REQUIRE(chosen);
  CHECK(chosen->aspects == std::vector<std::string>{"Helpfulness"});
  CHECK(m.calls() == 1);

  auto verdict = judge.judge(helpfulness_request());
  REQUIRE(verdict);
  CHECK(verdict->ok());
  CHECK(*verdict->score == 4.0);
  CHECK(m.calls() == 2);

  // dynamic_judge borrows the selector and the judge given as lvalues.
  judges::dynamic_judge dyn(selector, judge);
  static_assert(std::is_same_v<decltype(dyn), judges::dynamic_judge<decltype(selector)&, decltype(judge)&>>);
  judge_request open = helpfulness_request();
  open.criteria.clear();
  open.query = "Another question?";
  auto d = dyn.judge(open);
  REQUIRE(d);
  CHECK(*d->score == 4.0);
  CHECK(m.calls() == 4);  // one selection, one verdict
  CHECK(selector.memo_size() == 2);  // the borrowed selector remembered the new query
}

TEST_CASE("ownership: the wrappers over a non-copyable lvalue call that object" * doctest::test_suite("ownership")) {
  unique_engine_model m;
  generation_request r;
  r.prompt = "hello";

  std::vector<event_kind> seen;
  observed o(m, [&](const event& e) { seen.push_back(e.kind); }, "base");
  REQUIRE(o.generate(r));
  CHECK(m.calls() == 1);
  CHECK(seen == std::vector<event_kind>{event_kind::call_started, event_kind::call_finished});

  auto meter_ = std::make_shared<meter>();
  metered mt(m, meter_, "base");
  REQUIRE(mt.generate(r));
  CHECK(m.calls() == 2);
  CHECK(meter_->totals().calls == 1);

  cached ca(m);
  REQUIRE(ca.generate(r));
  REQUIRE(ca.generate(r));  // replayed
  CHECK(m.calls() == 3);

  testing::fail_after fa(m, 1);
  REQUIRE(fa.generate(r));
  CHECK_FALSE(fa.generate(r));
  CHECK(m.calls() == 4);

  // The recommended stack, built from the lvalue: the innermost wrapper borrows, the outer ones own.
  auto stack = observed(cached(metered(m, meter_, "judge")), [](const event&) {}, "judge");
  static_assert(std::is_same_v<decltype(stack), observed<cached<metered<unique_engine_model&>>>>);
  r.prompt = "something new";
  REQUIRE(stack.generate(r));
  CHECK(m.calls() == 5);
}
