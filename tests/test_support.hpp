// selfalign tests: small helpers shared by the test files
#pragma once

#include <selfalign/batch.hpp>
#include <selfalign/capabilities.hpp>
#include <selfalign/wrappers/metered.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

namespace selfalign::test_support {

// GCC 12 warns about designated initializers that leave fields out, so tests build options here.
inline selfalign::batch_options width(std::size_t n) {
  selfalign::batch_options o;
  o.max_concurrency = n;
  return o;
}
inline selfalign::batch_options cancellable(std::stop_source& s) {
  selfalign::batch_options o;
  o.max_concurrency = 2;
  o.stop = s.get_token();
  return o;
}
inline selfalign::budget call_budget(std::int64_t n) {
  selfalign::budget b;
  b.max_calls = n;
  return b;
}
inline selfalign::budget token_budget(std::int64_t n) {
  selfalign::budget b;
  b.max_tokens = n;
  return b;
}
inline selfalign::budget cost_budget(double usd) {
  selfalign::budget b;
  b.max_cost = usd;
  return b;
}
inline selfalign::budget wall_budget_ms(long ms) {
  selfalign::budget b;
  b.max_wall_time = std::chrono::milliseconds(ms);
  return b;
}
inline selfalign::capability_need need_topk_and_scoring() {
  selfalign::capability_need n;
  n.top_logprobs = 10;
  n.scoring = true;
  return n;
}

/// A fresh path under $SELFALIGN_TEST_TMP (set by ctest) or the system temp directory.
/// A plain-text request with a sampling seed.
inline selfalign::generation_request ask(const std::string& text, std::uint64_t seed = 1) {
  selfalign::generation_request r;
  r.prompt = text;
  r.sampling.seed = seed;
  return r;
}

inline std::filesystem::path temp_path(const std::string& name) {
  const char* dir = std::getenv("SELFALIGN_TEST_TMP");
  auto base = dir ? std::filesystem::path(dir) : std::filesystem::temp_directory_path();
  std::filesystem::create_directories(base);
  auto p = base / (name + "." + std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  return p;
}

}  // namespace selfalign::test_support
