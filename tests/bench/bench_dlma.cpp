// bench_dlma: requests and tokens per preference pair of dlma::build_pairs, and the scoring
// throughput (tokens scored per second of wall time).
//
//   ./build/tests/bench/bench_dlma [queries]        (default 32)
//
// Without SELFALIGN_BASE_URL it runs on the simulated scorer (testing::dlma_sim: no latency model,
// so its throughput measures selfalign's own overhead per scored token, not a model). With
// SELFALIGN_BASE_URL (and SELFALIGN_MODEL, ...) set it runs against that server through the
// OpenAI-compatible backend, e.g. a llama-server started by scripts/llama-server.sh; then the
// throughput is the server's scoring path as selfalign drives it (on llama.cpp: teacher forcing on
// /completion, every position of a continuation in one request carrying a list of prompts, so a
// pair is 6 requests; before that change it was one request per scored token, about 2 + the
// scored tokens per pair).
//
// A pair costs 2 generations (a1 under p+, a2 under p-) and 4 scorings (each answer under both
// prompts), plus the tokenize calls that place the prompt/answer boundary. The last line is a JSON
// object with the headline figures.
#include <selfalign/backends/openai.hpp>
#include <selfalign/dlma/dlma.hpp>
#include <selfalign/testing/dlma_sim.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

using namespace selfalign;

namespace {

testing::dlma_sim make_sim() {
  testing::dlma_sim sim;
  sim.answer("law-abiding", {"I would rather help you safely, and here is how to do it without risk.",
                             "Here is a careful answer that keeps everyone safe.", "Please ask a professional first.",
                             "That is not safe; try this instead, step by step."})
      .answer("toxic", {"Do it, who cares about anyone else.", "Break the rules and take what you want.",
                        "Nobody will know, so just go ahead.", "Just take it."});
  sim.affinity("law-abiding", "safely", 1.5)
      .affinity("law-abiding", "careful", 0.75)
      .affinity("law-abiding", "rules", -1.0)
      .affinity("toxic", "rules", 2.0)
      .affinity("toxic", "safe", -0.5);
  return sim;
}

struct figures {
  std::size_t pairs = 0;
  std::size_t calls = 0;  // generate + score calls answered (the report's count)
  std::int64_t requests = 0;
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::size_t scored_tokens = 0;
  std::size_t scorings = 0;
  double wall_s = 0;
};

template <class G>
figures run(G& g, const std::vector<std::string>& queries, const dlma::config& cfg) {
  const auto t0 = std::chrono::steady_clock::now();
  auto rep = dlma::build_pairs(g, queries, cfg);
  figures f;
  f.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!rep) {
    fmt::print(stderr, "dlma failed: {}\n", rep.error().describe());
    std::exit(1);
  }
  if (!rep->failures.empty()) fmt::print(stderr, "{} queries failed; first: {}\n", rep->failures.size(), rep->failures[0].error.describe());
  f.pairs = rep->pairs.size() + rep->dropped.size();
  f.calls = rep->calls;
  f.requests = rep->usage.requests;
  f.prompt_tokens = rep->usage.prompt_tokens;
  f.completion_tokens = rep->usage.completion_tokens;
  for (const auto* list : {&rep->pairs, &rep->dropped})
    for (const auto& p : *list)
      for (const auto& s : p.scores) {
        f.scored_tokens += s.scored_tokens;
        ++f.scorings;
      }
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 32;
  std::vector<std::string> queries;
  for (int i = 0; i < n; ++i) queries.push_back(fmt::format("How do I deal with problem number {} at home?", i));
  dlma::config cfg;
  cfg.seed = 1;
  cfg.generation.max_tokens = 48;

  figures f;
  std::string where;
  if (const char* url = std::getenv("SELFALIGN_BASE_URL"); url && *url) {
    openai_backend llm(openai_options::from_env());
    where = fmt::format("server at {}", url);
    f = run(llm, queries, cfg);
  } else {
    auto sim = make_sim();
    where = "simulated scorer (testing::dlma_sim, no latency: selfalign's overhead only)";
    f = run(sim, queries, cfg);
  }
  if (f.pairs == 0) {
    fmt::print(stderr, "no pair was built\n");
    return 1;
  }
  const double pairs = static_cast<double>(f.pairs);
  fmt::print("dlma::build_pairs over {} queries on the {}; concurrency {}, max_tokens {}\n", n, where, cfg.max_concurrency,
             cfg.generation.max_tokens);
  fmt::print("pairs                       {}\n", f.pairs);
  fmt::print("model calls per pair        {:.2f}  (2 generations + {:.2f} scorings)\n", static_cast<double>(f.calls) / pairs,
             static_cast<double>(f.scorings) / pairs);
  fmt::print("requests per pair           {:.2f}  (as the backends report them: usage.requests)\n",
             static_cast<double>(f.requests) / pairs);
  fmt::print("prompt tokens per pair      {:.1f}\n", static_cast<double>(f.prompt_tokens) / pairs);
  fmt::print("generated tokens per pair   {:.1f}  (teacher-forcing requests generate one token each)\n", static_cast<double>(f.completion_tokens) / pairs);
  fmt::print("scored tokens per pair      {:.1f}\n", static_cast<double>(f.scored_tokens) / pairs);
  fmt::print("wall time                   {:.3f} s\n", f.wall_s);
  fmt::print("scored tokens per second    {:.0f}\n", static_cast<double>(f.scored_tokens) / f.wall_s);
  fmt::print("{}\n", nlohmann::json{{"requests_per_pair", static_cast<double>(f.requests) / pairs},
                                     {"scored_tokens_per_s", static_cast<double>(f.scored_tokens) / f.wall_s}}
                         .dump());
  return 0;
}
