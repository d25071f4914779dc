// The library's HTTP backend against the real llama-server (tiny LLaMA-2 model): what the server
// received and applied (through a recording proxy; llama-server runs with --verbose, so answers
// carry __verbose.generation_settings), token counts against /tokenize, the context window.
#include "real_server/proxy.hpp"
#include "real_server/server.hpp"

#include <selfalign/backends/openai.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

using namespace selfalign;
using nlohmann::json;

namespace {

/// Sampled tokens that lie among their own position's top-20 alternatives.
int sampled_in_top20(const generation& g) {
  int in = 0;
  for (const auto& t : g.choices.at(0).tokens)
    for (const auto& alt : t.top)
      if (alt.id && t.id && *alt.id == *t.id) {
        ++in;
        break;
      }
  return in;
}

generation_request temperature_one(int max_tokens, std::uint64_t seed) {
  generation_request r;
  r.prompt = prompt("The quick brown fox");
  r.sampling.temperature = 1.0;
  r.sampling.max_tokens = max_tokens;
  r.sampling.logprobs = 20;
  r.sampling.seed = seed;
  return r;
}

}  // namespace

TEST_CASE("temperature 1 samples the whole softmax: llama-server's top_k 40 / top_p 0.95 / min_p 0.05 are turned off") {
  REAL_SERVER_OR_RETURN(s, real_server::config{});
  real_server::recording_proxy proxy(s->port());
  openai_backend llm(real_server::options_for(proxy.url()));
  CHECK(llm.capabilities().server == "llamacpp");

  // The tiny model's distribution is nearly uniform over 32,000 tokens, so a token sampled from the
  // whole softmax lands in its position's top 20 with probability ~20/32000; with llama-server's
  // defaults (top_k 40, then top_p, min_p) it is one of the top 40, i.e. in the top 20 half the time.
  int in_top = 0, total = 0;
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    auto g = llm.generate(temperature_one(32, seed));
    REQUIRE(g);
    REQUIRE(g->choices.at(0).tokens.size() == 32);
    in_top += sampled_in_top20(*g);
    total += 32;
  }
  MESSAGE("sampled tokens inside their top 20: " << in_top << " of " << total);
  CHECK(in_top <= 4);

  // What the server received and applied: every default sampler explicitly off.
  auto calls = proxy.on("/v1/completions");
  REQUIRE(calls.size() == 3);
  for (const auto& c : calls) {
    const json req = c.request();
    CHECK(req["top_k"] == 0);
    CHECK(req["top_p"] == 1.0);
    CHECK(req["min_p"] == 0.0);
    CHECK(req["temperature"] == 1.0);
    const json applied = c.response()["__verbose"]["generation_settings"];
    CHECK(applied["top_k"] == 0);
    CHECK(applied["top_p"].get<double>() == 1.0);
    CHECK(applied["min_p"].get<double>() == 0.0);
    CHECK(applied["typical_p"].get<double>() == 1.0);
    CHECK(applied["repeat_penalty"].get<double>() == 1.0);
    CHECK(applied["dry_multiplier"].get<double>() == 0.0);
    CHECK(applied["xtc_probability"].get<double>() == 0.0);
    CHECK(applied["mirostat"] == 0);
  }

  // Control: the same requests with llama-server's own defaults (what an omitted field meant
  // before selfalign sent them) do sample inside the top 40: the check above can fail.
  openai_options with_defaults = real_server::options_for(proxy.url());
  with_defaults.extra_body = {{"top_k", 40}, {"top_p", 0.95}, {"min_p", 0.05}};
  openai_backend defaults_llm(with_defaults);
  int control_in_top = 0;
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    auto g = defaults_llm.generate(temperature_one(32, seed));
    REQUIRE(g);
    control_in_top += sampled_in_top20(*g);
  }
  MESSAGE("with llama-server's defaults: " << control_in_top << " of 96 inside the top 20");
  CHECK(control_in_top >= 24);
}

TEST_CASE("generate: the answer is the server's, usage matches /tokenize, the model runs to max_tokens") {
  REAL_SERVER_OR_RETURN(s, real_server::config{});
  real_server::recording_proxy proxy(s->port());
  openai_backend llm(real_server::options_for(proxy.url()));
  generation_request r;
  r.prompt = prompt("Hello world, this is a test.");
  r.sampling.temperature = 0.0;
  r.sampling.max_tokens = 9;
  auto g = llm.generate(r);
  REQUIRE(g);
  auto calls = proxy.on("/v1/completions");
  REQUIRE(calls.size() == 1);
  const json answer = calls[0].response();
  CHECK(g->text() == answer["choices"][0]["text"].get<std::string>());
  CHECK(g->choices[0].finish_reason == "length");
  CHECK(g->usage.completion_tokens == 9);
  auto ids = llm.tokenize("Hello world, this is a test.", true);
  REQUIRE(ids);
  CHECK(ids->front() == 1);  // BOS
  CHECK(g->usage.prompt_tokens == static_cast<std::int64_t>(ids->size()));
  // Greedy decoding is deterministic: the same request gives the same text.
  auto again = llm.generate(r);
  REQUIRE(again);
  CHECK(again->text() == g->text());
}

TEST_CASE("tokenize and detokenize: the real LLaMA-2 vocabulary") {
  REAL_SERVER_OR_RETURN(s, real_server::config{});
  openai_options o = real_server::options_for(s->base_url());
  o.preset = server_preset::llamacpp;
  openai_backend llm(o);
  auto ids = llm.tokenize("Hello world", true);
  REQUIRE(ids);
  CHECK(*ids == std::vector<token_id>{1, 15043, 3186});
  auto plain = llm.tokenize("Hello world", false);
  REQUIRE(plain);
  CHECK(*plain == std::vector<token_id>{15043, 3186});
  auto text = llm.detokenize(*plain);
  REQUIRE(text);
  CHECK(text->find("Hello world") != std::string::npos);
}

TEST_CASE("score: one log-probability per continuation token, each a real softmax value") {
  REAL_SERVER_OR_RETURN(s, real_server::config{});
  openai_backend llm(real_server::options_for(s->base_url()));
  scoring_request req;
  req.prompt = prompt("The capital of France is");
  req.continuation = " Paris";
  auto sc = llm.score(req);
  REQUIRE(sc);
  // The continuation is scored as the model reads it after the prompt: the joint sequence's ids
  // past the prompt's (" Paris" tokenized alone gains SentencePiece's dummy-prefix space and has
  // one token more).
  auto joint = llm.tokenize("The capital of France is Paris", false);
  auto head = llm.tokenize("The capital of France is", false);
  REQUIRE(joint);
  REQUIRE(head);
  REQUIRE(joint->size() > head->size());
  REQUIRE(sc->tokens.size() == joint->size() - head->size());
  double sum = 0;
  for (const auto& t : sc->tokens) {
    CHECK(std::isfinite(t.logprob));
    CHECK(t.logprob < 0.0);
    CHECK(t.logprob > -30.0);
    sum += t.logprob;
  }
  CHECK(sc->logprob == doctest::Approx(sum));
}

TEST_CASE("context window: discovered per slot, a prompt that does not fit is errc::context_overflow") {
  real_server::config cfg;
  cfg.ctx = 512;
  cfg.slots = 2;  // 256 tokens per request
  REAL_SERVER_OR_RETURN(s, cfg);
  real_server::recording_proxy proxy(s->port());
  openai_backend llm(real_server::options_for(proxy.url()));
  auto ctx = llm.context_size();
  REQUIRE(ctx);
  CHECK(*ctx == 256);
  CHECK(llm.capabilities().context_size == 256);

  std::string long_prompt;
  for (int i = 0; i < 300; ++i) long_prompt += " hello";
  generation_request r;
  r.prompt = prompt(std::vector<message>{{"user", long_prompt}});  // chat: left to the server to count
  r.sampling.max_tokens = 8;
  auto g = llm.generate(r);
  REQUIRE_FALSE(g);
  CHECK(g.error().code == errc::context_overflow);
  CHECK(g.error().http_status == 400);
  CHECK(g.error().type == "exceed_context_size_error");
  CHECK(g.error().message.find("exceeds the available context size (256 tokens)") != std::string::npos);
  CHECK(proxy.on("/v1/chat/completions").size() == 1);  // not retried

  // Raw text near the window: counted through /tokenize, max_tokens cut to what fits.
  std::string near;
  for (int i = 0; i < 250; ++i) near += " hello";
  generation_request fit;
  fit.prompt = prompt(near);
  fit.sampling.temperature = 0.0;
  fit.sampling.max_tokens = 100;
  proxy.clear();
  auto cut = llm.generate(fit);
  REQUIRE(cut);
  auto sent = proxy.on("/v1/completions");
  REQUIRE(sent.size() == 1);
  auto counted = llm.tokenize(near, true);
  REQUIRE(counted);
  const auto n = static_cast<std::int64_t>(counted->size());
  REQUIRE(n < 256);
  REQUIRE(n + 100 > 256);
  CHECK(proxy.on("/tokenize").size() == 2);  // the backend's own count, then ours
  CHECK(sent[0].request()["max_tokens"] == 256 - n);
  CHECK(cut->usage.prompt_tokens == n);
  CHECK(cut->usage.completion_tokens == 256 - n);
  // Raw text over the window: errc::context_overflow before any generation request.
  proxy.clear();
  auto over = llm.generate([&] {
    generation_request big = fit;
    big.prompt = prompt(long_prompt);
    return big;
  }());
  REQUIRE_FALSE(over);
  CHECK(over.error().code == errc::context_overflow);
  CHECK(proxy.on("/v1/completions").empty());
}

TEST_CASE("the base URL llama-server prints (no /v1) works: requests reach /v1, never the native /completions") {
  REAL_SERVER_OR_RETURN(s, real_server::config{});
  real_server::recording_proxy proxy(s->port());
  openai_backend llm(real_server::options_for(proxy.url("")));
  generation_request r;
  r.prompt = prompt("Hello");
  r.sampling.max_tokens = 3;
  auto g = llm.generate(r);
  REQUIRE(g);
  CHECK(g->usage.completion_tokens == 3);
  CHECK(proxy.on("/v1/completions").size() == 1);
  CHECK(proxy.on("/completions").empty());
  CHECK(proxy.on("/completion").empty());
}

TEST_CASE("embed: a server started with --embeddings --pooling mean returns one 8-wide vector per text") {
  real_server::config cfg;
  cfg.extra = {"--embeddings", "--pooling", "mean"};
  REAL_SERVER_OR_RETURN(s, cfg);
  openai_backend llm(real_server::options_for(s->base_url()));
  embedding_request req;
  req.texts = {"first text", "second text", "first text"};
  auto e = llm.embed(req);
  REQUIRE(e);
  REQUIRE(e->vectors.size() == 3);
  CHECK(e->vectors[0].size() == 8);  // the tiny model's embedding width
  CHECK(e->vectors[0] == e->vectors[2]);
  CHECK(e->vectors[0] != e->vectors[1]);
}

TEST_CASE("embed on a server without --embeddings: errc::unsupported at once, no retries") {
  REAL_SERVER_OR_RETURN(s, real_server::config{});
  real_server::recording_proxy proxy(s->port());
  openai_options o = real_server::options_for(proxy.url());
  o.retry.max_retries = 2;
  o.retry.base_backoff = std::chrono::milliseconds(1);
  openai_backend llm(o);
  embedding_request req;
  req.texts = {"x"};
  auto e = llm.embed(req);
  REQUIRE_FALSE(e);
  MESSAGE(e.error().describe());
  CHECK(e.error().code == errc::unsupported);
  CHECK_FALSE(e.error().retryable);
  CHECK(proxy.on("/v1/embeddings").size() == 1);
}
