// docs/cli.md reproduces every command's --help exactly (scripts/update-cli-docs.sh regenerates it).
#include <doctest/doctest.h>

#include "cli_support.hpp"

using namespace cli_test;

TEST_CASE("docs/cli.md quotes the --help of every command verbatim" * doctest::test_suite("cli")) {
  const std::string doc = slurp(std::string(SELFALIGN_SOURCE_DIR) + "/docs/cli.md");
  REQUIRE_FALSE(doc.empty());
  auto top = run({"--help"});
  REQUIRE(top.exit_code == 0);
  CHECK(doc.find("<!-- help:selfalign -->\n```text\n" + top.out + "```\n<!-- /help -->") != std::string::npos);
  // Every command the binary lists has its section, and the section matches its --help.
  int commands = 0;
  for (const auto& line : lines_of(top.out)) {
    if (line.rfind("  ", 0) != 0 || line.find("  ", 2) == std::string::npos || line[2] == ' ') continue;
    const std::string cmd = line.substr(2, line.find(' ', 2) - 2);
    if (cmd.empty() || cmd[0] == '-') continue;
    ++commands;
    auto h = run({cmd, "--help"});
    INFO("command " << cmd);
    REQUIRE(h.exit_code == 0);
    CHECK(doc.find("<!-- help:" + cmd + " -->\n```text\n" + h.out + "```\n<!-- /help -->") != std::string::npos);
  }
  CHECK(commands == 9);
}
