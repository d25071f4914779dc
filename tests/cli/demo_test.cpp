// scripts/demo.sh: each step's real exit code is reported, and the demo fails when a step fails.
#include <doctest/doctest.h>

#include "cli_support.hpp"

#include <cstdlib>
#include <sys/wait.h>

using namespace cli_test;

namespace {
// Runs the demo with SELFALIGN_DEMO_BIN = `bin` (no install, no build); returns exit code and stderr.
run_result run_demo(const std::string& bin, const std::string& name) {
  const auto dir = selfalign::test_support::temp_path("demo-" + name);
  std::filesystem::create_directories(dir);
  const std::string cmd = "env -u SELFALIGN_BASE_URL -u OPENAI_BASE_URL SELFALIGN_DEMO_BIN='" + bin + "' SELFALIGN_DEMO_OUT='" +
                          (dir / "out").string() + "' bash '" + std::string(SELFALIGN_SOURCE_DIR) + "/scripts/demo.sh' >'" +
                          (dir / "stdout").string() + "' 2>'" + (dir / "stderr").string() + "'";
  const int status = std::system(cmd.c_str());
  run_result r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(dir / "stdout");
  r.err = slurp(dir / "stderr");
  return r;
}
}  // namespace

TEST_CASE("demo.sh reports a failed step with its real exit code and exits 1" * doctest::test_suite("cli")) {
  // A stand-in CLI: every command succeeds but rain, which exits 3 (as RAIN did on the real server).
  const auto fake = selfalign::test_support::temp_path("demo-fake-selfalign");
  std::ofstream(fake) << "#!/usr/bin/env bash\ncase \"$1\" in rain) echo 'rain: backend failure' >&2; exit 3 ;; esac\nexit 0\n";
  std::filesystem::permissions(fake, std::filesystem::perms::owner_all);
  auto r = run_demo(fake.string(), "failing");
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("(rain stopped with exit code 3; see the message above)") != std::string::npos);
  CHECK(r.err.find("the demo FAILED: rain (exit 3)") != std::string::npos);
  CHECK(r.err.find("(drpo stopped") == std::string::npos);
  CHECK(r.err.find("(dlma stopped") == std::string::npos);
  CHECK(r.err.find("== DLMA") != std::string::npos);  // the steps after the failed one still ran
}

TEST_CASE("demo.sh with the real CLI on the simulated model runs every step and exits 0" * doctest::test_suite("cli")) {
  auto r = run_demo(child_process::binary(), "simulated");
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("stopped with exit code") == std::string::npos);
  CHECK(r.err.find("== done: outputs in") != std::string::npos);
  CHECK(r.out.find("\"response\"") != std::string::npos);
}
