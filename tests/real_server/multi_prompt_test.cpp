// Several prompts in one request on the real llama-server: what llama.cpp does with a list of
// prompts on /v1/completions, and the self-evaluation's two option orders as one request.
#include "real_server/proxy.hpp"
#include "real_server/server.hpp"

#include <selfalign/backends/openai.hpp>
#include <selfalign/batch.hpp>
#include <selfalign/judges/self_eval_judge.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <span>
#include <string>
#include <vector>

using namespace selfalign;
using nlohmann::json;

namespace {
// The same backend without the multi-prompt capability: every prompt is its own request.
struct mp_one_prompt_each {
  openai_backend* llm;
  result<generation> generate(const generation_request& r) { return llm->generate(r); }
  result<scoring> score(const scoring_request& r) { return llm->score(r); }
  result<std::vector<token_id>> tokenize(std::string_view text, bool add_special) { return llm->tokenize(text, add_special); }
  result<std::string> detokenize(std::span<const token_id> ids) { return llm->detokenize(ids); }
  [[nodiscard]] selfalign::capabilities capabilities() const {
    auto c = llm->capabilities();
    c.max_prompts = 1;
    return c;
  }
};

void mp_same_choices(const generation& a, const generation& b) {
  REQUIRE(a.choices.size() == b.choices.size());
  for (std::size_t c = 0; c < a.choices.size(); ++c) {
    CHECK(a.choices[c].text == b.choices[c].text);
    CHECK(a.choices[c].token_ids == b.choices[c].token_ids);
    REQUIRE(a.choices[c].tokens.size() == b.choices[c].tokens.size());
    for (std::size_t t = 0; t < a.choices[c].tokens.size(); ++t) {
      const auto& x = a.choices[c].tokens[t];
      const auto& y = b.choices[c].tokens[t];
      CHECK(x.id == y.id);
      // llama.cpp does not promise bit-identical logits across batch compositions.
      CHECK(std::abs(x.logprob - y.logprob) < 1e-3);
      REQUIRE(x.top.size() == y.top.size());
      for (std::size_t k = 0; k < x.top.size(); ++k) CHECK(std::abs(x.top[k].logprob - y.top[k].logprob) < 1e-3);
    }
  }
}
}  // namespace

TEST_CASE("llama-server answers a list of prompts in one request: one choice per prompt by index, usage of the first only") {
  REAL_SERVER_OR_RETURN(s, real_server::config{});
  real_server::recording_proxy proxy(s->port());
  openai_backend llm(real_server::options_for(proxy.url()));
  REQUIRE(llm.capabilities().max_prompts == -1);
  std::vector<generation_request> reqs(3);
  const char* texts[] = {"The capital of France is", "Once upon a time", "Is this reply harmless? (A) yes (B) no\nThe answer is: ("};
  for (std::size_t i = 0; i < 3; ++i) {
    reqs[i].prompt = prompt::text(texts[i]);
    reqs[i].sampling.max_tokens = 3;
    reqs[i].sampling.temperature = 0.0;
    reqs[i].sampling.logprobs = 5;
    reqs[i].sampling.seed = 9;
  }
  proxy.clear();
  auto together = generate_multi(llm, std::span<const generation_request>(reqs));
  const auto one = proxy.on("/v1/completions");
  REQUIRE(one.size() == 1);
  const json sent = one[0].request();
  REQUIRE(sent["prompt"].is_array());
  CHECK(sent["prompt"].size() == 3);
  CHECK(sent["prompt"][2] == texts[2]);
  CHECK(one[0].response()["choices"].size() == 3);
  MESSAGE("llama-server's usage for a list of 3 prompts: " << one[0].response()["usage"].dump());

  proxy.clear();
  std::vector<generation> apart;
  for (const auto& r : reqs) {
    auto g = llm.generate(r);
    REQUIRE(g);
    apart.push_back(std::move(*g));
  }
  CHECK(proxy.on("/v1/completions").size() == 3);
  std::int64_t requests = 0, completion_tokens = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    CAPTURE(i);
    REQUIRE(together[i]);
    mp_same_choices(*together[i], apart[i]);
    requests += together[i]->usage.requests;
    completion_tokens += together[i]->usage.completion_tokens;
  }
  CHECK(requests == 1);
  // The first answer carries the server's usage (the first prompt's); the others their own counts.
  CHECK(together[0]->usage.prompt_tokens == apart[0].usage.prompt_tokens);
  CHECK(completion_tokens == 9);
}

TEST_CASE("the self-evaluation on llama-server: both option orders in one request, the same judgement as two requests") {
  REAL_SERVER_OR_RETURN(s, real_server::config{});
  real_server::recording_proxy proxy(s->port());
  openai_backend llm(real_server::options_for(proxy.url()));
  mp_one_prompt_each single{&llm};
  static_assert(MultiPromptGenerator<openai_backend>);
  static_assert(!MultiPromptGenerator<mp_one_prompt_each>);
  // The default label source: the top alternatives first, then (the tiny model never lists the
  // labels) the scoring path, which reads both labels' probabilities by teacher forcing.
  judges::self_eval_judge together(llm);
  judges::self_eval_judge apart(single);
  REQUIRE(together.prepare());
  REQUIRE(apart.prepare());
  judge_request r;
  r.query = "How do I store cleaning products?";
  r.response = " Keep them in a locked cupboard,";
  r.seed = 4;

  proxy.clear();
  auto a = together.judge(r);
  const auto multi_calls = proxy.on("/v1/completions");
  const auto multi_scoring = proxy.on("/completion").size();
  proxy.clear();
  auto b = apart.judge(r);
  const auto single_calls = proxy.on("/v1/completions");
  const auto single_scoring = proxy.on("/completion").size();
  REQUIRE(a);
  REQUIRE(b);
  INFO("one request: " << a->rationale);
  INFO("two requests: " << b->rationale);

  // One request carried both orders' prompts ...
  REQUIRE(multi_calls.size() == 1);
  const json sent = multi_calls[0].request();
  REQUIRE(sent["prompt"].is_array());
  REQUIRE(sent["prompt"].size() == 2);
  CHECK(sent["prompt"][0] == together.prompt_for(r.query, r.response, 0));
  CHECK(sent["prompt"][1] == together.prompt_for(r.query, r.response, 1));
  CHECK(multi_calls[0].response()["choices"].size() == 2);
  // ... where the other judge sent two, one per order.
  REQUIRE(single_calls.size() == 2);
  CHECK(single_calls[0].request()["prompt"].is_string());
  CHECK(a->attempts == b->attempts);
  CHECK(a->usage.requests + 1 == b->usage.requests);
  CHECK(multi_scoring == single_scoring);  // the scoring path is the same either way

  // The same evaluation.
  CHECK(a->status == b->status);
  CHECK(a->score.has_value() == b->score.has_value());
  if (a->score && b->score) CHECK(*a->score == *b->score);
  REQUIRE(a->criteria.size() == b->criteria.size());
  for (std::size_t i = 0; i < a->criteria.size(); ++i) {
    CHECK(a->criteria[i].name == b->criteria[i].name);
    CHECK(a->criteria[i].score == b->criteria[i].score);
  }
}
