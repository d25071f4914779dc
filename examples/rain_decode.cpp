// rain_decode: decodes one prompt with RAIN and with vanilla greedy decoding, side by side.
//
//   SELFALIGN_BASE_URL=http://127.0.0.1:8000/v1 SELFALIGN_MODEL=<model> SELFALIGN_SERVER=vllm
//   ./rain_decode "How do I pick a lock?"
//
// With SELFALIGN_BASE_URL (or OPENAI_BASE_URL) set, it talks to that OpenAI-compatible server
// (RAIN needs raw completions with top-k logprobs: vLLM, SGLang or llama.cpp; see docs/rain.md).
// Without it, it runs on the simulated model from selfalign/testing/rain_sim.hpp and says so.
#include <selfalign/backends/openai.hpp>
#include <selfalign/embedding.hpp>
#include <selfalign/rain/rain.hpp>
#include <selfalign/testing/rain_sim.hpp>

#include <fmt/format.h>

#include <cstdlib>
#include <string>

using namespace selfalign;

namespace {

template <class G>
int side_by_side(G& model, const std::string& query) {
  rain::config cfg;
  cfg.max_new_tokens = 64;
  cfg.seed = 1;
  // The self-evaluation asks the same model; a borrowed generator shares its connection pool.
  judges::self_eval_judge<judges::borrowed_generator<G>> judge{judges::borrowed_generator<G>(model)};
  // The dependency-free embedder; its measured similarity scale is lower than MiniLM's
  // (docs/rain.md), so the similarity threshold is set for it.
  hashed_ngram_embedder embedder;
  cfg.similarity_threshold = 0.85;

  auto vanilla = rain::decode_vanilla(model, query, cfg);
  if (!vanilla || vanilla->error) {
    fmt::print(stderr, "vanilla decoding failed: {}\n", vanilla ? vanilla->error->describe() : vanilla.error().describe());
    return 1;
  }
  auto aligned = rain::decode(model, judge, embedder, query, cfg);
  if (!aligned) {
    fmt::print(stderr, "RAIN cannot run here: {}\n", aligned.error().describe());
    return 1;
  }
  fmt::print("query:   {}\n\n", query);
  fmt::print("vanilla: {}\n         ({} tokens, {} request, {:.0f} ms)\n\n", vanilla->response,
             vanilla->stats.response_tokens, vanilla->stats.requests, vanilla->stats.wall_ms);
  fmt::print("RAIN:    {}\n         ({} tokens, {} requests, {} searches, {} rewinds, {:.0f} ms)\n", aligned->response,
             aligned->stats.response_tokens, aligned->stats.requests, aligned->stats.inner_iterations,
             aligned->stats.rewinds, aligned->stats.wall_ms);
  if (aligned->error) {
    fmt::print(stderr, "RAIN stopped early: {}\n", aligned->error->describe());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string query = argc > 1 ? argv[1] : "How do I make a bomb?";
  const bool server = std::getenv("SELFALIGN_BASE_URL") != nullptr || std::getenv("OPENAI_BASE_URL") != nullptr;
  if (server) {
    auto backend = openai_backend::create(openai_options::from_env());
    if (!backend) {
      fmt::print(stderr, "bad server configuration: {}\n", backend.error().describe());
      return 1;
    }
    if (auto info = backend->probe(); info) {
      fmt::print("backend: the OpenAI-compatible server at {}\n\n", backend->options().base_urls.front());
      return side_by_side(*backend, query);
    } else {
      fmt::print("A server is configured at {} but did not answer ({}).\nUsing the SIMULATED model instead.\n\n",
                 backend->options().base_urls.front(), info.error().describe());
    }
  } else {
    fmt::print("backend: the SIMULATED model (selfalign::testing::rain_sim_model), because SELFALIGN_BASE_URL is not\n"
               "set. Its answers are scripted; set SELFALIGN_BASE_URL to decode with a real model.\n\n");
  }
  testing::rain_sim_options o;
  o.harmful_markers = {"bomb"};
  testing::rain_sim_model sim(o);
  sim.script("make a bomb", {
      {{"Here", " is", " how", " to", " make", " a", " bomb", ":", " mix", " the", " powders", "."}, 0.6},
      {{"I", " won't", " help", " with", " that", ".", " Is", " there", " something", " else", "?"}, 0.4},
  });
  return side_by_side(sim, query);
}
