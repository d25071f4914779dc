// DLMA: build self-rewarded preference pairs for a few built-in queries and write them as TRL
// JSONL. Uses the OpenAI-compatible HTTP backend when a server is configured (SELFALIGN_BASE_URL
// or OPENAI_BASE_URL, plus SELFALIGN_MODEL / SELFALIGN_SERVER) and answers; otherwise, or when
// the server cannot score continuations, a simulated model. It always says which one it used.
//
//   SELFALIGN_BASE_URL=http://127.0.0.1:8000/v1 SELFALIGN_SERVER=vllm ./dlma_build_pairs [out.jsonl]
#include <selfalign/backends/openai.hpp>
#include <selfalign/core.hpp>
#include <selfalign/dlma/build_pairs.hpp>
#include <selfalign/dlma/export.hpp>
#include <selfalign/io/preference_validate.hpp>
#include <selfalign/testing/dlma_sim.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace sa = selfalign;
namespace dlma = selfalign::dlma;

namespace {

const std::vector<std::string> queries = {
    "How can I get into my neighbour's wifi without the password?",
    "What should I do if I find a wallet on the street?",
    "Write a short insult for my coworker.",
    "How do I store cleaning products safely at home?",
};

// A stand-in model: per query, a polite answer under the positive prompt and a rude one under
// the negative prompt; its log-probabilities favour polite words under the positive prompt.
sa::testing::dlma_sim simulated_model() {
  const std::vector<std::pair<std::string, std::string>> answers = {
      {"Ask the owner for the password, or use a public hotspot.", "Just guess their password, nobody checks."},
      {"Take it to the police so the owner can get it back.", "Keep the cash, throw the rest away."},
      {"I would rather help you talk to your coworker calmly.", "Tell them they are useless."},
      {"Keep them high up, closed, and away from food.", "Mix them all in one bottle, it saves space."},
  };
  sa::testing::dlma_sim sim;
  for (std::size_t i = 0; i < queries.size(); ++i) {
    // The raw prompt is "USER: <query>\nASSISTANT(<tag>):\n": match the query and the tag's start.
    sim.answer(queries[i] + "\nASSISTANT(law", {answers[i].first});
    sim.answer(queries[i] + "\nASSISTANT(ill", {answers[i].second});
  }
  sim.affinity("law-abiding", "owner", 1.0)
      .affinity("law-abiding", "police", 1.5)
      .affinity("law-abiding", "calmly", 1.25)
      .affinity("law-abiding", "closed", 1.0)
      .affinity("toxic", "useless", 2.0)
      .affinity("toxic", "Keep", 0.5)
      .affinity("law-abiding", "guess", -0.75);
  return sim;
}

bool server_configured() {
  for (const char* name : {"SELFALIGN_BASE_URL", "OPENAI_BASE_URL"}) {
    const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read once at start
    if (v && *v) return true;
  }
  return false;
}

template <class G>
int run(G& model, const char* which, const std::filesystem::path& out) {
  dlma::config cfg;  // harmless pair, T = 1.0, top_k = 50, 200 tokens, clip [-40, 40], w = 0.2
  cfg.seed = 2024;
  cfg.max_concurrency = 4;
  sa::observer progress = [](const sa::event& e) {
    if (e.kind == sa::event_kind::progress) std::printf("  progress: %s\n", e.message.c_str());
  };
  auto rep = dlma::build_pairs(model, queries, cfg, progress);
  if (!rep) {
    std::fprintf(stderr, "dlma failed with %s: %s\n", which, rep.error().describe().c_str());
    return 1;
  }
  std::printf("model: %s; boundary: %s; %zu pairs, %zu failed, stop: %s\n", which,
              std::string(to_string(rep->boundary)).c_str(), rep->pairs.size(), rep->failures.size(),
              rep->stop_reason.c_str());
  for (const auto& p : rep->pairs)
    std::printf("  [%s] R = %+.3f  target margin w*clip(R) = %+.3f\n    chosen:   %s\n    rejected: %s\n", p.id.c_str(),
                p.self_reward, p.target_margin, p.chosen.c_str(), p.rejected.c_str());
  for (const auto& f : rep->failures) std::printf("  [%s] failed (%s): %s\n", f.id.c_str(), f.stage.c_str(), f.error.describe().c_str());
  std::printf("margins: mean %.3f, median %.3f, R < 0 in %.0f%% of pairs\n", rep->margins.mean, rep->margins.median,
              100.0 * rep->margins.negative_fraction);

  const auto records = dlma::to_preference_records(rep->pairs, cfg);
  for (const auto& f : sa::io::validate_preferences(records)) std::printf("  check: %s\n", f.message.c_str());
  if (auto ok = sa::io::write_preferences(out, records); !ok) {
    std::fprintf(stderr, "%s\n", ok.error().describe().c_str());
    return 1;
  }
  std::printf("wrote %zu TRL preference lines to %s\n", records.size(), out.string().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::filesystem::path out =
      argc > 1 ? std::filesystem::path(argv[1]) : std::filesystem::temp_directory_path() / "dlma_pairs.jsonl";

  if (server_configured()) {
    sa::openai_backend llm(sa::openai_options::from_env());
    auto info = llm.probe();
    if (!info) {
      std::printf("A server is configured but did not answer (%s).\nUsing the SIMULATED model instead.\n",
                  info.error().describe().c_str());
    } else if (auto ok = sa::require_capabilities(llm.capabilities(), dlma::needs(dlma::config{}), "DLMA"); !ok) {
      std::printf("The server answered but %s.\nUsing the SIMULATED model instead.\n", ok.error().message.c_str());
    } else {
      std::printf("Using the HTTP backend at %s (%s).\n", llm.options().base_urls.front().c_str(),
                  std::string(to_string(info->preset)).c_str());
      return run(llm, "HTTP backend", out);
    }
  } else {
    std::printf("No server configured (set SELFALIGN_BASE_URL). Using the SIMULATED model.\n");
  }
  auto sim = simulated_model();
  return run(sim, "simulated model (testing::dlma_sim)", out);
}
