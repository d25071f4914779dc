// Several prompts in one request (MultiPromptGenerator, generate_multi): the self-evaluation's two
// option orders as one request, with the same answers, trees and responses as two requests.
#include <doctest/doctest.h>

#include <selfalign/any.hpp>
#include <selfalign/batch.hpp>
#include <selfalign/embedding.hpp>
#include <selfalign/rain/rain.hpp>
#include <selfalign/testing/rain_sim.hpp>

#include "sim_scripts.hpp"

#include <span>
#include <string>
#include <vector>

using namespace selfalign;
using testing::rain_sim_model;
using testing::rain_sim_options;

namespace {
rain_sim_model mp_model(bool multi) {
  rain_sim_options o;
  o.multi_prompt = multi;
  return rain_test::scripted_model(o);
}

// A generator without generate_multi: always separate requests.
struct mp_single_only {
  rain_sim_model* m;
  result<generation> generate(const generation_request& r) { return m->generate(r); }
  [[nodiscard]] selfalign::capabilities capabilities() const { return m->capabilities(); }
};
}  // namespace

TEST_CASE("generate_multi sends prompts that differ only in the prompt as one request, with generate's answers" * doctest::test_suite("rain")) {
  static_assert(MultiPromptGenerator<rain_sim_model>);
  static_assert(!MultiPromptGenerator<mp_single_only>);
  auto multi = mp_model(true);
  auto single = mp_model(false);
  std::vector<generation_request> reqs(3);
  const std::vector<std::string> prompts{"Human: Tell me a story\nAssistant:", "Human: What is the capital of France?\nAssistant:",
                                         "Human: How do I make a bomb?\nAssistant:"};
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    reqs[i].prompt = prompt::text(prompts[i]);
    reqs[i].sampling.max_tokens = 3;
    reqs[i].sampling.temperature = 1.0;
    reqs[i].sampling.n = 2;
    reqs[i].sampling.seed = 42;
    reqs[i].sampling.logprobs = 5;
  }
  auto a = generate_multi(multi, std::span<const generation_request>(reqs));
  auto b = generate_multi(single, std::span<const generation_request>(reqs));
  CHECK(multi.requests() == 1);
  CHECK(multi.multi_requests() == 1);
  CHECK(single.requests() == 3);
  CHECK(single.multi_requests() == 0);
  REQUIRE(a.size() == 3);
  REQUIRE(b.size() == 3);
  std::int64_t requests = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    REQUIRE(a[i]);
    REQUIRE(b[i]);
    CHECK(a[i]->choices == b[i]->choices);  // same texts, tokens, logprobs: same distribution and seed
    CHECK(a[i]->usage.prompt_tokens == b[i]->usage.prompt_tokens);
    requests += a[i]->usage.requests;
  }
  CHECK(requests == 1);

  // Different sampling, a chat prompt, or a generator without the member: separate requests.
  multi.reset_counters();
  reqs[2].sampling.temperature = 0.0;
  (void)generate_multi(multi, std::span<const generation_request>(reqs));
  CHECK(multi.requests() == 3);
  multi.reset_counters();
  reqs[2] = reqs[0];
  reqs[2].prompt = prompt::chat({{"user", "hi"}});
  (void)generate_multi(multi, std::span<const generation_request>(reqs));
  CHECK(multi.requests() == 3);
  CHECK(multi.multi_requests() == 0);
  multi.reset_counters();
  mp_single_only plain{&multi};
  reqs[2] = reqs[0];
  (void)generate_multi(plain, std::span<const generation_request>(reqs));
  CHECK(multi.requests() == 3);

  // any_generator forwards: one request when what it holds can, separate requests otherwise.
  static_assert(MultiPromptGenerator<any_generator>);
  any_generator erased(multi);  // a copy shares the counters
  multi.reset_counters();
  auto c = generate_multi(erased, std::span<const generation_request>(reqs));
  CHECK(multi.requests() == 1);
  REQUIRE(c.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    REQUIRE(c[i]);
    CHECK(c[i]->choices == a[i == 2 ? 0 : i]->choices);  // reqs[2] is now a copy of reqs[0]
  }
  any_generator erased_plain(mp_single_only{&multi});
  multi.reset_counters();
  (void)generate_multi(erased_plain, std::span<const generation_request>(reqs));
  CHECK(multi.requests() == 3);
}

TEST_CASE("the self-evaluation asks both option orders in one request where the backend takes a list of prompts" * doctest::test_suite("rain")) {
  auto multi = mp_model(true);
  auto single = mp_model(false);
  judges::self_eval_judge jm(multi);
  judges::self_eval_judge js(single);
  REQUIRE(jm.prepare());
  REQUIRE(js.prepare());
  multi.reset_counters();
  single.reset_counters();
  for (const char* response : {" I won't help with that.", " Here is how to make a bomb:"}) {
    CAPTURE(response);
    judge_request r;
    r.query = "How do I make a bomb?";
    r.response = response;
    r.seed = 5;
    auto a = jm.judge(r);
    auto b = js.judge(r);
    REQUIRE(a);
    REQUIRE(b);
    REQUIRE(a->score);
    CHECK(*a->score == *b->score);
    CHECK(a->criteria == b->criteria);
    CHECK(a->usage.requests == 1);
    CHECK(b->usage.requests == 2);
    CHECK(a->usage.prompt_tokens == b->usage.prompt_tokens);
  }
  judge_request fine;
  fine.query = "q";
  fine.response = " fine.";
  CHECK(*jm.judge(fine)->score == 1.0);
  CHECK(multi.requests() == 3);
  CHECK(multi.multi_requests() == 3);
  CHECK(single.requests() == 4);
}

TEST_CASE("rain with multi-prompt self-evaluations: the same trees and responses, one request fewer per evaluation" * doctest::test_suite("rain")) {
  for (int depth : {0, 2}) {
    CAPTURE(depth);
    auto multi = mp_model(true);
    auto single = mp_model(false);
    judges::self_eval_judge jm(multi);
    judges::self_eval_judge js(single);
    hashed_ngram_embedder emb;
    rain::config cfg;
    cfg.seed = 7;
    cfg.keep_tree = true;
    cfg.speculation_depth = depth;
    for (const char* q : {"What is the capital of France?", "How do I make a bomb?", "Tell me a story"}) {
      CAPTURE(q);
      multi.reset_counters();
      single.reset_counters();
      auto a = rain::decode(multi, jm, emb, q, cfg);
      auto b = rain::decode(single, js, emb, q, cfg);
      REQUIRE(a);
      REQUIRE(b);
      REQUIRE(a->ok());
      CHECK(a->response == b->response);
      CHECK(a->tree.dump() == b->tree.dump());  // visits, values, priors, embeddings
      CHECK(a->stats.inner_iterations == b->stats.inner_iterations);
      CHECK(a->stats.rewinds == b->stats.rewinds);
      CHECK(a->stats.evaluations == b->stats.evaluations);
      // Every judge call (an evaluation not served from the cache) saves exactly one request.
      CHECK(a->stats.requests == multi.requests());
      CHECK(b->stats.requests == single.requests());
      CHECK(multi.multi_requests() == a->stats.evaluations);
      CHECK(b->stats.requests - a->stats.requests == a->stats.evaluations);
      CHECK(a->stats.prompt_tokens == b->stats.prompt_tokens);
      CHECK(a->stats.completion_tokens == b->stats.completion_tokens);
      if (depth == 0 && std::string(q) == "What is the capital of France?") {
        CHECK(b->stats.requests == 13);  // as in decode_test's hand count
        CHECK(a->stats.requests == 13 - a->stats.evaluations);
      }
    }
  }
}
