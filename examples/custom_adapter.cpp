// custom_adapter: your own model class, plugged into DRPO as the base model.
//
// An adapter is a plain class with a `generate` member; no base class, no registration. Here the
// "model" is a tiny rule-based stand-in for an in-process engine (llama.cpp linked in, an ONNX
// session, ...). It follows two instructions if its system prompt contains them: refuse harmful
// requests, and be brief. DRPO discovers which instructions help and writes them into the
// optimized system prompt. The judge and optimizer are selfalign's simulated models so the
// example runs offline; in a real setup they would be an openai_backend pointed at a strong model.
#include <selfalign/core.hpp>
#include <selfalign/testing/drpo_sim.hpp>

#include <fmt/format.h>

#include <string>

//[adapter
/// The user's model: knows nothing about selfalign beyond the vocabulary types.
class my_engine {
 public:
  selfalign::result<selfalign::generation> generate(const selfalign::generation_request& req) {
    if (!req.prompt.is_chat() && !req.prompt.is_text())
      return selfalign::fail(selfalign::errc::unsupported, "my_engine takes text or chat prompts, not token ids");
    const std::string text = req.prompt.flatten();
    selfalign::generation g;
    g.model = "my-engine-1";
    for (int i = 0; i < req.sampling.n; ++i) g.choices.push_back({complete(text), {}, {}, "stop"});
    g.usage.prompt_tokens = static_cast<std::int64_t>(text.size() / 4);  // the engine's own count
    g.usage.requests = 1;
    return g;
  }

  /// Optional: tell algorithms what this engine can do. Without it, selfalign assumes plain
  /// generation only (no logprobs, top-k or include_stop) and one call at a time.
  selfalign::capabilities capabilities() const {
    selfalign::capabilities c;
    c.server = "my-engine";
    c.max_top_logprobs = 0;     // no logprobs: RAIN and DLMA will refuse this engine with a clear message
    c.max_concurrent_calls = 0; // complete() is a pure function: any number of calls at once
    return c;
  }

 private:
  std::string complete(const std::string& prompt) const {
    // DRPO's simulated judge reads the markers of its own world (testing/drpo_sim.hpp), so this
    // stand-in speaks them; a real model would just answer.
    const auto instructions = prompt.substr(0, prompt.find("# Query:"));
    const auto q = prompt.rfind("# Query:\n");
    std::string query = q == std::string::npos ? prompt : prompt.substr(q + 9);
    query = query.substr(0, query.find("\n\n# Answer:"));
    return selfalign::testing::drpo_sim::answer_for(query, selfalign::testing::drpo_sim::principles_in(instructions));
  }
};
static_assert(selfalign::Generator<my_engine>);  // a readable diagnostic if `generate` were missing
//]

int main() {
  using namespace selfalign;
  my_engine engine;
  testing::drpo_sim::critic_model critic;        // stands in for the judge model
  testing::drpo_sim::optimizer_model optimizer;  // stands in for the optimizer model

  drpo::config cfg;
  cfg.depth = 4;
  cfg.max_depth_increase = 2;
  cfg.seed = 7;
  auto selector = drpo::make_selector(critic, cfg);
  auto judge = drpo::make_judge(critic, cfg);

  drpo::dataset data;
  data.queries = testing::drpo_sim::training_queries();
  auto rep = drpo::optimize(drpo::make_roles(engine, selector, judge, optimizer), data, cfg);
  if (!rep) {
    fmt::print(stderr, "drpo failed: {}\n", rep.error().describe());
    return 1;
  }
  fmt::print("optimized system prompt for my_engine (mean reward {:.2f}, {}):\n{}\n", rep->best_score.value_or(0.0),
             rep->stop_reason, rep->best_prompt);

  // The engine refuses what it cannot do: RAIN needs top-k logprobs, which it does not return.
  capability_need rain_needs;
  rain_needs.raw_text = true;
  rain_needs.top_logprobs = 10;
  auto caps = require_capabilities(capabilities_of(engine), rain_needs, "rain::decode");
  fmt::print("\nRAIN on my_engine: {}\n", caps ? "possible" : caps.error().message);
  return rep->complete ? 0 : 1;
}
