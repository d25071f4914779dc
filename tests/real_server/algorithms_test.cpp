// The library's algorithms called directly (not through the CLI) on the real llama-server.
#include "real_server/proxy.hpp"
#include "real_server/server.hpp"

#include <selfalign/backends/openai.hpp>
#include <selfalign/dlma/build_pairs.hpp>
#include <selfalign/drpo/drpo.hpp>
#include <selfalign/embedding.hpp>
#include <selfalign/judges/self_eval_judge.hpp>
#include <selfalign/rain/rain.hpp>
#include <selfalign/wrappers/metered.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <set>
#include <string>
#include <vector>

using namespace selfalign;
using nlohmann::json;

TEST_CASE("dlma::build_pairs: both answers are what the server sampled, under the contrastive prompts, exactly as asked") {
  REAL_SERVER_OR_RETURN(s, real_server::config{});
  real_server::recording_proxy proxy(s->port());
  openai_backend llm(real_server::options_for(proxy.url()));
  dlma::config cfg;
  cfg.max_tokens = 6;
  cfg.seed = 11;
  auto rep = dlma::build_pairs(llm, std::vector<std::string>{"How do I store cleaning products?"}, cfg);
  REQUIRE(rep);
  REQUIRE(rep->pairs.size() == 1);
  const auto& p = rep->pairs.front();

  auto gens = proxy.on("/v1/completions");
  REQUIRE(gens.size() == 2);  // one answer under p+, one under p−
  std::vector<std::string> sampled;
  for (const auto& g : gens) {
    const json req = g.request();
    CHECK(req["temperature"] == 1.0);
    CHECK(req["top_k"] == 50);      // the paper's top-k, as configured
    CHECK(req["min_p"] == 0.0);     // and nothing else truncates
    CHECK(req["max_tokens"] == 6);
    const json applied = g.response()["__verbose"]["generation_settings"];
    CHECK(applied["top_k"] == 50);
    CHECK(applied["top_p"].get<double>() == 1.0);
    CHECK(applied["min_p"].get<double>() == 0.0);
    sampled.push_back(g.response()["choices"][0]["text"].get<std::string>());
  }
  // The answers are the sampled texts, stripped of surrounding white space (dlma::config's default).
  auto from_server = [&](const std::string& a) {
    return !a.empty() && (sampled[0].find(a) != std::string::npos || sampled[1].find(a) != std::string::npos);
  };
  const bool positive_sampled = from_server(p.positive_answer);
  const bool negative_sampled = from_server(p.negative_answer);
  CHECK(positive_sampled);
  CHECK(negative_sampled);
  CHECK(std::isfinite(p.self_reward));
  CHECK(p.self_reward == doctest::Approx(p.reward_positive - p.reward_negative));
  CHECK_FALSE(proxy.on("/completion").empty());  // scored on the server (teacher forcing)
}

TEST_CASE("rain::decode: a short decode commits tokens the server proposed; unreadable self-evaluations are counted, not guessed") {
  REAL_SERVER_OR_RETURN(s, real_server::config{});
  real_server::recording_proxy proxy(s->port());
  openai_backend llm(real_server::options_for(proxy.url()));
  // The cheap label source: the labels are read from the next token's top alternatives only. The
  // tiny random model rarely puts "A" and "B" there, so most evaluations are unreadable; each one
  // is recorded and the search goes on without a value (no guessed label).
  judges::self_eval_options jo;
  jo.source = judges::label_source::alternatives;
  judges::self_eval_judge judge(llm, jo);
  hashed_ngram_embedder emb;
  rain::config cfg;
  cfg.max_new_tokens = 3;
  cfg.max_iterations = 3;
  cfg.min_iterations = 1;
  cfg.extra_iterations = 0;
  cfg.rollout_max_tokens = 4;
  cfg.candidates = 5;
  cfg.sample_attempts = 4;
  cfg.max_concurrency = 2;
  cfg.seed = 3;
  auto r = rain::decode(llm, judge, emb, "How do I store cleaning products?", cfg);
  REQUIRE(r);
  INFO(nlohmann::json(*r).dump());
  REQUIRE(r->ok());
  CHECK((r->stop_reason == "max_new_tokens" || r->stop_reason == "eos"));
  CHECK(r->stats.response_tokens <= 3);
  CHECK(r->stats.response_tokens >= 1);
  std::string joined;
  for (const auto& t : r->tokens) joined += t.text;
  CHECK(joined.find(r->response) != std::string::npos);

  // Every request went to the OpenAI completions endpoint; count the self-evaluations (a prompt
  // that names the two options) and those whose top alternatives held both labels.
  auto calls = proxy.on("/v1/completions");
  REQUIRE_FALSE(calls.empty());
  int evaluations = 0, readable = 0, proposals = 0;
  std::set<std::string> proposed;  // every token text the server offered as a top alternative
  for (const auto& c : calls) {
    const json req = c.request();
    const json res = c.response();
    CHECK(req["min_p"] == 0.0);  // neutral samplers, as for every selfalign request
    // A self-evaluation asks both option orders in one request: a list of two prompts naming the options.
    const bool is_eval = req["prompt"].is_array() && req["prompt"].size() == 2 && req["prompt"][0].is_string() &&
                         req["prompt"][0].get<std::string>().find("(A)") != std::string::npos;
    for (const auto& ch : res["choices"]) {
      if (!ch.contains("logprobs") || ch["logprobs"].is_null()) continue;
      const json& lp = ch["logprobs"];
      if (!lp.contains("content")) continue;
      for (const auto& pos : lp["content"]) {
        if (!is_eval) proposed.insert(pos["token"].get<std::string>());
        if (pos.contains("top_logprobs"))
          for (const auto& alt : pos["top_logprobs"]) proposed.insert(alt["token"].get<std::string>());
      }
    }
    if (!is_eval) {
      ++proposals;
      continue;
    }
    ++evaluations;
    REQUIRE(res["choices"].size() == 2);  // one choice per order
    for (const auto& choice : res["choices"]) {
      bool a = false, b = false;
      for (const auto& alt : choice["logprobs"]["content"][0]["top_logprobs"]) {
        std::string t = alt["token"].get<std::string>();
        while (!t.empty() && (t.front() == ' ' || t.front() == '\n')) t.erase(0, 1);
        if (t.rfind("\xE2\x96\x81", 0) == 0) t.erase(0, 3);
        a = a || t == "A";
        b = b || t == "B";
      }
      readable += a && b ? 1 : 0;
    }
  }
  CHECK(proposals > 0);
  CHECK(static_cast<std::int64_t>(calls.size()) == r->stats.requests);  // the report counts what was sent
  // Each judge call asks both option orders in one request; a judgement fails only when neither
  // order was readable.
  CHECK(evaluations == r->stats.evaluations);
  CHECK(r->stats.failed_evaluations <= r->stats.evaluations);
  if (readable == 0) CHECK(r->stats.failed_evaluations == r->stats.evaluations);
  // The committed tokens are texts the server produced (chosen or offered as alternatives).
  for (const auto& t : r->tokens) CHECK(proposed.count(t.text) == 1);
}

TEST_CASE("rain::decode with speculation on the real server: the same decode as without, every speculative request counted") {
  REAL_SERVER_OR_RETURN(s, real_server::config{});
  real_server::recording_proxy proxy(s->port());
  openai_backend llm(real_server::options_for(proxy.url()));
  judges::self_eval_options jo;
  jo.source = judges::label_source::alternatives;  // cheap: the tiny model's evaluations are mostly unreadable
  judges::self_eval_judge judge(llm, jo);
  hashed_ngram_embedder emb;
  rain::config off;
  off.max_new_tokens = 7;
  off.max_iterations = 4;
  off.min_iterations = 1;
  off.extra_iterations = 0;
  off.rollout_max_tokens = 4;
  off.candidates = 5;
  off.sample_attempts = 4;
  off.max_concurrency = 2;
  off.seed = 5;
  off.speculation_depth = 0;
  off.keep_tree = true;
  rain::config on = off;
  on.speculation_depth = 2;
  auto a = rain::decode(llm, judge, emb, "How do I store cleaning products?", off);
  const auto off_calls = proxy.on("/v1/completions").size();
  auto b = rain::decode(llm, judge, emb, "How do I store cleaning products?", on);
  const auto all_calls = proxy.on("/v1/completions").size();
  REQUIRE(a);
  REQUIRE(b);
  INFO(nlohmann::json(*b).dump());
  REQUIRE(a->ok());
  REQUIRE(b->ok());
  CHECK(a->stats.speculative_leaves == 0);
  CHECK(b->stats.speculative_leaves > 0);
  CHECK(b->stats.speculation_hits > 0);
  // Seeded samples and temperature-0 evaluations: the server answers the same requests the same
  // way, so the search and the response are the same.
  CHECK(b->response == a->response);
  CHECK(b->stats.inner_iterations == a->stats.inner_iterations);
  CHECK(b->tree.dump() == a->tree.dump());
  CHECK(static_cast<std::int64_t>(off_calls) == a->stats.requests);
  CHECK(static_cast<std::int64_t>(all_calls - off_calls) == b->stats.requests);  // speculative requests too
  CHECK(b->stats.requests >= a->stats.requests);
}

TEST_CASE("drpo::optimize: the tiny model's unreadable judgements give no reward; a call budget stops the run exactly") {
  REAL_SERVER_OR_RETURN(s, real_server::config{});
  real_server::recording_proxy proxy(s->port());
  openai_backend llm(real_server::options_for(proxy.url()));
  drpo::config cfg;
  cfg.depth = 2;
  cfg.max_depth_increase = 0;
  cfg.beam_width = 1;
  cfg.actions_per_expansion = 1;
  cfg.base_sampling.max_tokens = 8;
  cfg.judge_max_tokens = 8;
  cfg.optimizer_sampling.max_tokens = 8;
  cfg.max_concurrency = 2;
  drpo::dataset data;
  data.queries = {"Say hi.", "Name a color.", "Count to three."};

  SUBCASE("a whole run") {
    auto sel = drpo::make_selector(llm, cfg);
    auto judge = drpo::make_judge(llm, cfg);
    auto rep = drpo::optimize(drpo::make_roles(llm, sel, judge, llm), data, cfg);
    REQUIRE(rep);
    INFO(nlohmann::json(*rep).dump());
    CHECK(rep->complete);
    REQUIRE_FALSE(rep->trace.empty());
    for (const auto& c : rep->trace) {
      CHECK(c.eval.verdict.status == parse_status::failed);  // never a guessed score
      CHECK_FALSE(c.eval.reward.has_value());
      CHECK_FALSE(c.response.empty());  // the base model's answer, from the server
    }
    // No reward, nothing to optimize from: the initial prompt is carried and stays the best.
    CHECK(rep->best_prompt == cfg.initial_system_prompt);
    // Every call the report counts reached the server, and nothing else did.
    const auto chats = proxy.on("/v1/chat/completions").size() + proxy.on("/v1/completions").size();
    CHECK(static_cast<std::int64_t>(chats) == rep->total.calls);
  }
  SUBCASE("under a call budget of 3") {
    auto m = std::make_shared<meter>(budget::calls(3));
    metered capped(llm, m);
    auto sel = drpo::make_selector(capped, cfg);
    auto judge = drpo::make_judge(capped, cfg);
    auto rep = drpo::optimize(drpo::make_roles(capped, sel, judge, capped), data, cfg);
    REQUIRE(rep);
    CHECK_FALSE(rep->complete);
    CHECK(rep->stop_reason.rfind("budget_exhausted", 0) == 0);
    REQUIRE(rep->error);
    CHECK(rep->error->code == errc::budget_exhausted);
    const auto sent = proxy.on("/v1/chat/completions").size() + proxy.on("/v1/completions").size();
    CHECK(sent == 3);
    CHECK(m->totals().calls == 3);
  }
}
