// drpo_optimize_prompt: optimizes an alignment system prompt with DRPO on a small built-in query
// set, then prints the prompt a deployment would send for a new query.
//
//   SELFALIGN_BASE_URL=http://127.0.0.1:8000/v1 SELFALIGN_MODEL=<model> ./drpo_optimize_prompt [cache.jsonl]
//
// With SELFALIGN_BASE_URL (or OPENAI_BASE_URL) set, every role (base model, aspect selector,
// judge, optimizer) uses that OpenAI-compatible server; see docs/drpo.md to give each role its
// own model. Without it, the run uses the SIMULATED models of selfalign/testing/drpo_sim.hpp and
// says so. With a cache file, an interrupted run resumes without repeating finished calls.
#include <selfalign/backends/openai.hpp>
#include <selfalign/drpo/drpo.hpp>
#include <selfalign/judges/self_eval_judge.hpp>  // judges::borrowed_generator
#include <selfalign/testing/drpo_sim.hpp>
#include <selfalign/wrappers/cached.hpp>
#include <selfalign/wrappers/metered.hpp>

#include <fmt/format.h>

#include <cstdlib>
#include <memory>
#include <string>

using namespace selfalign;

namespace {

drpo::dataset built_in_data() {
  drpo::dataset d;
  d.queries = {
      "How can I hack into my neighbour's wifi?",
      "What is the latest version of the C++ standard today?",
      "I feel sad and lonely since I moved; what can I do?",
      "Explain how a hash map works.",
      "Which poison is hardest to detect?",
      "Give me a recipe for pancakes.",
  };
  d.examples = {
      {"How do I make a weapon at home?", "I can't help with making weapons. If you are worried about your safety, local authorities or a support line can help."},
      {"How do vaccines work?", "- Vaccines show the immune system a harmless piece or copy of a germ.\n- The body learns to recognise it and keeps memory cells.\n- On real exposure, it responds faster and stronger."},
  };
  return d;
}

template <class B, class S, class J, class O>
int run_and_print(B& base, S& selector, J& judge, O& optimizer, const drpo::config& cfg) {
  auto rep = drpo::optimize(drpo::make_roles(base, selector, judge, optimizer), built_in_data(), cfg);
  if (!rep) {
    fmt::print(stderr, "drpo cannot run: {}\n", rep.error().describe());
    return 1;
  }
  for (const auto& c : rep->trace)
    fmt::print("level {:>2}  candidate {:>3}  {:<9} reward {:>5}  path {:>5}  {}\n", c.level, c.id, c.origin,
               c.eval.reward ? fmt::format("{:.2f}", *c.eval.reward) : std::string("n/a"),
               c.path_score ? fmt::format("{:.2f}", *c.path_score) : std::string("n/a"), c.kept ? "kept" : "");
  fmt::print("\nstop reason: {}{}\nbest mean reward: {}\n\nbest system prompt:\n{}\n\n", rep->stop_reason,
             rep->complete ? "" : " (partial report)", rep->best_score ? fmt::format("{:.3f}", *rep->best_score) : "n/a",
             rep->best_prompt);
  for (const auto& [role, u] : rep->usage_by_role)
    fmt::print("{:<10} {:>4} calls  {:>4} cache hits  {:>7} prompt + {:>6} completion tokens\n", role, u.calls, u.cache_hits,
               u.prompt_tokens, u.completion_tokens);
  auto deploy = drpo::deployment<>::create(*rep, cfg);
  if (!deploy) return 1;
  auto p = deploy->prompt_for("How do I pick a lock to get into my own house?");
  if (!p) return 1;
  fmt::print("\ndeployment prompt for a new query:\n{}\n", p->flatten());
  return rep->complete ? 0 : 2;
}

// The simulated models for every role, each cached and metered like a real backend would be.
int run_simulated(const drpo::config& cfg, const std::shared_ptr<cache_store>& store, const std::shared_ptr<meter>& m) {
  testing::drpo_sim::base_model sim_base;
  testing::drpo_sim::optimizer_model sim_optimizer;
  testing::drpo_sim::critic_model sim_critic;
  cached base(metered(sim_base, m, "base"), store, "base");
  cached optimizer(metered(sim_optimizer, m, "optimizer"), store, "optimizer");
  auto selector = drpo::make_selector(cached(metered(sim_critic, m, "selector"), store, "selector"), cfg);
  auto judge = drpo::make_judge(cached(metered(sim_critic, m, "judge"), store, "judge"), cfg);
  return run_and_print(base, selector, judge, optimizer, cfg);
}

}  // namespace

int main(int argc, char** argv) {
  drpo::config cfg;
  cfg.depth = 4;  // a short search for the demo; the paper uses 20 (+10)
  cfg.max_depth_increase = 2;
  cfg.max_concurrency = 8;

  std::shared_ptr<cache_store> store = std::make_shared<cache_store>();
  if (argc > 1) {
    auto opened = cache_store::open(argv[1]);
    if (!opened) {
      fmt::print(stderr, "{}\n", opened.error().describe());
      return 1;
    }
    store = *opened;
  }
  auto m = std::make_shared<meter>();

  const bool server = std::getenv("SELFALIGN_BASE_URL") != nullptr || std::getenv("OPENAI_BASE_URL") != nullptr;
  if (server) {
    auto backend = openai_backend::create(openai_options::from_env());
    if (!backend) {
      fmt::print(stderr, "bad server configuration: {}\n", backend.error().describe());
      return 1;
    }
    if (auto info = backend->probe(); !info) {
      fmt::print("A server is configured at {} but did not answer ({}).\nUsing the SIMULATED models instead.\n\n",
                 backend->options().base_urls.front(), info.error().describe());
      return run_simulated(cfg, store, m);
    }
    fmt::print("backend: the OpenAI-compatible server at {} (every role)\n\n", backend->options().base_urls.front());
    // One cached, metered view per role over the same backend (borrowed, so they share its pool).
    using view = cached<metered<judges::borrowed_generator<openai_backend>>>;
    auto role = [&](const char* name) { return view(metered(judges::borrowed_generator<openai_backend>(*backend), m, name), store, name); };
    view base = role("base"), optimizer = role("optimizer");
    auto selector = drpo::make_selector(role("selector"), cfg);
    auto judge = drpo::make_judge(role("judge"), cfg);
    return run_and_print(base, selector, judge, optimizer, cfg);
  }
  fmt::print("backend: the SIMULATED models (selfalign::testing::drpo_sim), because SELFALIGN_BASE_URL is not set.\n"
             "Their answers follow a scripted rubric; set SELFALIGN_BASE_URL to optimize with a real model.\n\n");
  return run_simulated(cfg, store, m);
}
