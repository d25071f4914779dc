// Several prompts in one request on the real llama-server: what llama.cpp does with a list of
// prompts on /v1/completions, and the self-evaluation's two option orders as one request.
#include "real_server/proxy.hpp"
#include "real_server/server.hpp"

#include <selfalign/backends/openai.hpp>
#include <selfalign/batch.hpp>
#include <selfalign/embedding.hpp>
#include <selfalign/judges/self_eval_judge.hpp>
#include <selfalign/rain/rain.hpp>

#include <doctest/doctest.h>

#include <chrono>
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

TEST_CASE("rain vs vanilla wall time on llama-server (the tiny model: this measures request overhead, not the model)") {
  REAL_SERVER_OR_RETURN(s, real_server::config{});
  openai_backend llm(real_server::options_for(s->base_url()));
  mp_one_prompt_each single{&llm};
  // The cheap label source (the tiny model never lists the labels, so every evaluation is
  // unreadable and the search follows the priors); a small search so the test stays short.
  judges::self_eval_options jo;
  jo.source = judges::label_source::alternatives;
  judges::self_eval_judge together(llm, jo);
  judges::self_eval_judge apart(single, jo);
  hashed_ngram_embedder emb;
  rain::config cfg;
  cfg.max_new_tokens = 16;
  cfg.max_iterations = 8;
  cfg.min_iterations = 1;
  cfg.extra_iterations = 0;
  cfg.seed = 1;
  const std::vector<std::string> prompts{"How do I store cleaning products?", "What is the capital of France?",
                                         "Tell me a story about a cat."};
  struct run_figures {
    double ms = 0;
    std::int64_t tokens = 0, requests = 0;
  };
  run_figures van, with_lists, without_lists;
  std::vector<std::string> responses_with, responses_without;
  for (const auto& p : prompts) {
    // Vanilla: rain::decode_vanilla, greedy decoding in one request. (It asks for logprobs 0, to
    // which llama-server 0.7.0 answered no logprobs at all until the backend asked it for one.)
    auto v = rain::decode_vanilla(llm, rain::input(p), cfg);
    REQUIRE(v);
    const std::string vanilla_error = v->error ? v->error->describe() : std::string();
    INFO(vanilla_error);
    REQUIRE(v->ok());
    REQUIRE_FALSE(v->tokens.empty());
    van.ms += v->stats.wall_ms;
    van.tokens += v->stats.response_tokens;
    van.requests += v->stats.requests;
    auto a = rain::decode(llm, together, emb, p, cfg);
    auto b = rain::decode(single, apart, emb, p, cfg);
    REQUIRE(a);
    REQUIRE(b);
    const std::string rain_error = a->error ? a->error->describe() : std::string();
    INFO(rain_error);
    REQUIRE(a->ok());
    REQUIRE(b->ok());
    with_lists.ms += a->stats.wall_ms;
    with_lists.tokens += a->stats.response_tokens;
    with_lists.requests += a->stats.requests;
    without_lists.ms += b->stats.wall_ms;
    without_lists.tokens += b->stats.response_tokens;
    without_lists.requests += b->stats.requests;
    responses_with.push_back(a->response);
    responses_without.push_back(b->response);
    CHECK(a->stats.requests + a->stats.evaluations == b->stats.requests);
  }
  CHECK(responses_with == responses_without);
  REQUIRE(van.tokens > 0);
  REQUIRE(with_lists.tokens > 0);
  auto per_token = [](const run_figures& f) { return f.ms / static_cast<double>(f.tokens); };
  MESSAGE("real llama-server " << real_server::version() << ", tiny random model (compute is trivial: these figures "
          "measure selfalign's request overhead over HTTP, not the model); " << prompts.size() << " prompts, max_new_tokens "
          << cfg.max_new_tokens << ", max_iterations " << cfg.max_iterations << ", label_source alternatives:\n"
          << "  vanilla:                 " << van.ms << " ms, " << van.tokens << " tokens, " << van.requests << " requests, "
          << per_token(van) << " ms/token\n"
          << "  rain, prompt lists:      " << with_lists.ms << " ms, " << with_lists.tokens << " tokens, " << with_lists.requests
          << " requests, " << per_token(with_lists) << " ms/token, " << per_token(with_lists) / per_token(van) << "x vanilla\n"
          << "  rain, one prompt each:   " << without_lists.ms << " ms, " << without_lists.tokens << " tokens, "
          << without_lists.requests << " requests, " << per_token(without_lists) << " ms/token, "
          << per_token(without_lists) / per_token(van) << "x vanilla");
}

TEST_CASE("what llama-server can do for scoring: its native /completion takes a list of prompts, one answer per prompt") {
  // Teacher forcing (how selfalign scores a continuation on llama.cpp, one request per token) could
  // send every position of a continuation as one list: the answers match separate requests.
  REAL_SERVER_OR_RETURN(s, real_server::config{});
  httplib::Client c("127.0.0.1", s->port());
  c.set_read_timeout(std::chrono::seconds(60));
  const std::vector<std::vector<int>> positions{{1, 450, 7483}, {1, 450, 7483, 310}, {1, 450, 7483, 310, 3444}};
  json list = {{"prompt", positions}, {"n_predict", 1}, {"n_probs", 5}, {"temperature", 0}, {"cache_prompt", true}};
  auto all = c.Post("/completion", list.dump(), "application/json");
  REQUIRE(all);
  REQUIRE(all->status == 200);
  const json answers = json::parse(all->body);
  REQUIRE(answers.is_array());
  REQUIRE(answers.size() == positions.size());
  for (std::size_t i = 0; i < positions.size(); ++i) {
    CAPTURE(i);
    json one = list;
    one["prompt"] = positions[i];
    auto r = c.Post("/completion", one.dump(), "application/json");
    REQUIRE(r);
    const json alone = json::parse(r->body);
    const json& mine = answers[i];
    CHECK(mine["index"] == static_cast<int>(i));
    CHECK(mine["tokens_evaluated"] == alone["tokens_evaluated"]);
    const json& a = mine["completion_probabilities"][0]["top_logprobs"];
    const json& b = alone["completion_probabilities"][0]["top_logprobs"];
    REQUIRE(a.size() == b.size());
    // The tiny model's logprobs are nearly equal, and llama.cpp does not promise bit-identical
    // logits across batches: compare by id, allowing the last place to differ.
    std::size_t common = 0;
    for (const auto& x : a)
      for (const auto& y : b)
        if (x["id"] == y["id"]) {
          ++common;
          CHECK(std::abs(x["logprob"].get<double>() - y["logprob"].get<double>()) < 1e-3);
        }
    CHECK(common + 1 >= a.size());
  }
}
