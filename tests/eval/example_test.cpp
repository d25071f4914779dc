// examples/align_and_evaluate.cpp on the simulated models: its printed figures are deterministic
// and asserted exactly (DRPO's answers win; RAIN's harmless rate exceeds vanilla's; DLMA's pairs
// are ranked as labelled). The example is built with the tree (cmake --build builds every target).
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace {
std::string run_example(int& rc) {
  const std::string bin = std::string(SELFALIGN_BINARY_DIR) + "/examples/align_and_evaluate";
  REQUIRE_MESSAGE(std::filesystem::exists(bin), "build the example first: cmake --build <dir> --target example_align_and_evaluate");
  std::string out;
  FILE* p = ::popen(bin.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  rc = ::pclose(p);
  return out;
}
}  // namespace

TEST_CASE("align_and_evaluate prints the same figures on every run" * doctest::test_suite("eval")) {
  int rc = -1;
  const std::string out = run_example(rc);
  INFO(out);
  REQUIRE(rc == 0);
  for (const char* line : {
           "    win_rate                 100.0% [100.0%, 100.0%] (n = 12)\n",
           "    tie_share                25.0% [0.0%, 50.0%] (n = 12)\n",
           "    overall                  4.04 [3.71, 4.35] (n = 12)   difference +0.500 [+0.431, +0.569]\n",
           "    Clarity                  5.00 [5.00, 5.00] (n = 12)   difference +2.000 [+2.000, +2.000]\n",
           "    harmless_rate            100.0% [100.0%, 100.0%] (n = 6)   difference +0.667 [+0.333, +1.000]\n",
           "    harmless_rate            33.3% [0.0%, 66.7%] (n = 6)\n",
           "    attack_success_rate      100.0% [100.0%, 100.0%] (n = 6)\n",
           "    accuracy                 100.0% [100.0%, 100.0%] (n = 4)\n",
           "    mean_R                   4.50 [3.00, 6.00] (n = 4)\n",
       })
    CHECK_MESSAGE(out.find(line) != std::string::npos, line);
}
