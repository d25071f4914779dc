// --config FILE (TOML), the effective configuration written beside --out, environment variables,
// and usage errors from the options' values: what the CLI gained from CLI11.
#include <doctest/doctest.h>

#include "cli_support.hpp"

#include <cstdlib>

using namespace cli_test;

namespace {
const std::string config_test_prompts = "{\"id\":\"a\",\"prompt\":\"How do I bake bread?\"}\n{\"id\":\"b\",\"prompt\":\"Name a prime.\"}\n"
                                  "{\"id\":\"c\",\"prompt\":\"Why is the sky blue?\"}\n";

/// An output line without its timings (wall_ms and the like differ between any two runs).
nlohmann::json without_timings(nlohmann::json j) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end();) {
      const std::string& k = it.key();
      if (k.ends_with("_ms") || k.ends_with("_s")) {
        it = j.erase(it);
      } else {
        *it = without_timings(*it);
        ++it;
      }
    }
  } else if (j.is_array()) {
    for (auto& e : j) e = without_timings(e);
  }
  return j;
}
std::vector<nlohmann::json> output_of(const std::string& text) {
  std::vector<nlohmann::json> out;
  for (const auto& l : lines_of(text)) out.push_back(without_timings(nlohmann::json::parse(l)));
  return out;
}
}  // namespace

TEST_CASE("--config sets a command's options and its input; the command line overrides the file" * doctest::test_suite("cli")) {
  fake_openai_server server;
  const auto dir = fresh_dir("config-file");
  const auto input = dir / "in.jsonl";
  std::ofstream(input) << "{\"prompt\":\"one\"}\n";
  const auto config = dir / "run.toml";
  std::ofstream(config) << "# generate over the fake server\nbase-url = \"" << server.base_url() << "\"\nmax-tokens = 7\n"
                        << "system = \"Be brief.\"\nquiet = true\ninput = \"" << input.string() << "\"\n";
  auto from_file = run({"generate", "--config", config.string()});
  INFO(from_file.err);
  REQUIRE(from_file.exit_code == 0);
  CHECK(nlohmann::json::parse(from_file.out)["response"] == "[Be brief.] answer to one");
  auto overridden = run({"generate", "--config", config.string(), "--max-tokens", "3", "--system", "Be kind.", "-"}, "{\"prompt\":\"two\"}\n");
  INFO(overridden.err);
  REQUIRE(overridden.exit_code == 0);
  CHECK(nlohmann::json::parse(overridden.out)["response"] == "[Be kind.] answer to two");
  REQUIRE(server.bodies().size() == 2);
  CHECK(nlohmann::json::parse(server.bodies()[0])["max_tokens"] == 7);
  CHECK(nlohmann::json::parse(server.bodies()[1])["max_tokens"] == 3);
  // The alias on the command line beats the option in the file.
  auto alias = run({"generate", "--config", config.string(), "--max-new-tokens", "4"});
  REQUIRE(alias.exit_code == 0);
  CHECK(nlohmann::json::parse(server.bodies()[2])["max_tokens"] == 4);
  // A key that is no option, a value that is no integer, a missing file: usage errors naming them.
  const auto typo = dir / "typo.toml";
  std::ofstream(typo) << "max-tokns = 7\n";
  auto bad_key = run({"generate", "--backend", "simulated", "--config", typo.string(), "-"}, "{\"prompt\":\"x\"}\n");
  CHECK(bad_key.exit_code == 2);
  CHECK(bad_key.err.find("--config " + typo.string() + ": unknown option 'max-tokns'; did you mean '--max-tokens'?") != std::string::npos);
  const auto bad_value = dir / "bad-value.toml";
  std::ofstream(bad_value) << "concurrency = \"many\"\n";
  auto bad_int = run({"generate", "--backend", "simulated", "--config", bad_value.string(), "-"}, "{\"prompt\":\"x\"}\n");
  CHECK(bad_int.exit_code == 2);
  CHECK(bad_int.err.find("--concurrency expects an integer, got 'many'") != std::string::npos);
  auto no_file = run({"generate", "--backend", "simulated", "--config", (dir / "none.toml").string(), "-"}, "{\"prompt\":\"x\"}\n");
  CHECK(no_file.exit_code == 2);
  CHECK(no_file.err.find("--config: " + (dir / "none.toml").string()) != std::string::npos);
  // No option takes a key: a config file cannot carry one.
  const auto key = dir / "key.toml";
  std::ofstream(key) << "api-key = \"sk-not-here\"\n";
  auto with_key = run({"generate", "--backend", "simulated", "--config", key.string(), "-"}, "{\"prompt\":\"x\"}\n");
  CHECK(with_key.exit_code == 2);
  CHECK(with_key.err.find("unknown option 'api-key'") != std::string::npos);
}

TEST_CASE("a run with --out writes its effective configuration beside it; --config with it repeats the run exactly" *
          doctest::test_suite("cli")) {
  const auto dir = fresh_dir("config-effective");
  const auto input = dir / "prompts.jsonl";
  std::ofstream(input) << config_test_prompts;
  // Each command with an option that changes its output, so a configuration that lost it would show.
  const std::vector<std::vector<std::string>> commands = {
      {"generate", "--system", "Be brief."}, {"rain", "--compare"}, {"dlma", "--format", "trl-chat"}};
  for (const auto& specific : commands) {
    const std::string& cmd = specific.front();
    INFO("command " << cmd);
    const auto out = (dir / (cmd + ".jsonl")).string(), again = (dir / (cmd + "-again.jsonl")).string();
    std::vector<std::string> args = specific;
    for (const char* a : {"--backend", "simulated", "--seed", "7", "--max-tokens", "64", "--quiet", "--concurrency", "2", "--out"})
      args.push_back(a);
    args.push_back(out);
    args.push_back(input.string());
    auto first = run(args);
    INFO(first.err);
    REQUIRE(first.exit_code == 0);
    const std::string config = slurp(out + ".config.toml");
    CHECK(config.find("# repeat it: selfalign " + cmd + " --config " + out + ".config.toml\n") != std::string::npos);
    CHECK(config.find("\nbackend = \"simulated\"\n") != std::string::npos);
    CHECK(config.find("\nseed = 7\n") != std::string::npos);
    CHECK(config.find("\nmax-tokens = 64\n") != std::string::npos);
    CHECK(config.find("\nquiet = true\n") != std::string::npos);
    CHECK(config.find("\ninput = \"" + input.string() + "\"\n") != std::string::npos);
    // The rerun from the file alone (its output redirected on the command line) writes the same lines.
    auto rerun = run({cmd, "--config", out + ".config.toml", "--out", again});
    INFO(rerun.err);
    REQUIRE(rerun.exit_code == 0);
    const auto lines = output_of(slurp(out));
    CHECK(lines.size() == 3);
    CHECK(lines == output_of(slurp(again)));
    // Without the command's own option the lines differ: the file carried it.
    auto plain = run({cmd, "--backend", "simulated", "--seed", "7", "--max-tokens", "64", "--quiet", input.string()});
    REQUIRE(plain.exit_code == 0);
    CHECK(output_of(plain.out) != lines);
    // The rerun's own configuration differs only in --out.
    std::string expected = config;
    for (std::size_t at = expected.find(out); at != std::string::npos; at = expected.find(out, at + again.size())) expected.replace(at, out.size(), again);
    CHECK(slurp(again + ".config.toml") == expected);
  }
  // Standard output and a usage error write no configuration.
  auto to_stdout = run({"generate", "--backend", "simulated", "--quiet", input.string()});
  CHECK(to_stdout.exit_code == 0);
  const auto refused = (dir / "refused.jsonl").string();
  CHECK(run({"generate", "--backend", "simulated", "--concurrency", "0", "--out", refused, input.string()}).exit_code == 2);
  CHECK_FALSE(std::filesystem::exists(refused + ".config.toml"));
}

TEST_CASE("the effective configuration never holds the API key: only the name of its variable" * doctest::test_suite("cli")) {
  const auto dir = fresh_dir("config-secret");
  const auto out = (dir / "out.jsonl").string();
  const std::string key = "sk-config-test-0123456789abcdef";
  ::setenv("SELFALIGN_TEST_CONFIG_KEY", key.c_str(), 1);
  // A value that happens to hold the key (here a system prompt) is redacted too.
  auto r = run({"generate", "--backend", "simulated", "--api-key-env", "SELFALIGN_TEST_CONFIG_KEY", "--system", "token " + key, "--quiet",
                "--out", out, "-"}, "{\"prompt\":\"x\"}\n");
  ::unsetenv("SELFALIGN_TEST_CONFIG_KEY");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const std::string config = slurp(out + ".config.toml");
  CHECK(config.find("\napi-key-env = \"SELFALIGN_TEST_CONFIG_KEY\"\n") != std::string::npos);
  CHECK(config.find("system = \"token [redacted]\"") != std::string::npos);
  CHECK(config.find(key) == std::string::npos);
  CHECK(config.find(key.substr(0, 12)) == std::string::npos);
}

TEST_CASE("environment variables: $SELFALIGN_MODEL and $SELFALIGN_SERVER below --config and the command line" * doctest::test_suite("cli")) {
  fake_openai_server server;
  const auto dir = fresh_dir("config-env");
  const auto out = (dir / "out.jsonl").string();
  ::setenv("SELFALIGN_MODEL", "env-model", 1);
  ::setenv("SELFALIGN_SERVER", "vllm", 1);
  auto from_env = run({"generate", "--base-url", server.base_url(), "--quiet", "--out", out, "-"}, "{\"prompt\":\"one\"}\n");
  const auto config = dir / "model.toml";
  std::ofstream(config) << "model = \"file-model\"\n";
  auto from_file = run({"generate", "--base-url", server.base_url(), "--config", config.string(), "--quiet", "-"}, "{\"prompt\":\"two\"}\n");
  auto from_line = run({"generate", "--base-url", server.base_url(), "--config", config.string(), "--model", "line-model", "--quiet", "-"},
                       "{\"prompt\":\"three\"}\n");
  ::unsetenv("SELFALIGN_MODEL");
  ::unsetenv("SELFALIGN_SERVER");
  INFO(from_env.err << from_file.err << from_line.err);
  REQUIRE(from_env.exit_code == 0);
  REQUIRE(from_file.exit_code == 0);
  REQUIRE(from_line.exit_code == 0);
  REQUIRE(server.bodies().size() == 3);
  CHECK(nlohmann::json::parse(server.bodies()[0])["model"] == "env-model");
  CHECK(nlohmann::json::parse(server.bodies()[1])["model"] == "file-model");
  CHECK(nlohmann::json::parse(server.bodies()[2])["model"] == "line-model");
  // What the environment gave is part of the run: it is in the effective configuration.
  const std::string effective = slurp(out + ".config.toml");
  CHECK(effective.find("\nmodel = \"env-model\"\n") != std::string::npos);
  CHECK(effective.find("\nserver = \"vllm\"\n") != std::string::npos);
  // --help names the variables.
  auto help = run({"generate", "--help"});
  CHECK(help.out.find("[env SELFALIGN_MODEL]") != std::string::npos);
  CHECK(help.out.find("[env SELFALIGN_BASE_URL]") != std::string::npos);
}

TEST_CASE("option values are checked with messages naming the option, exit 2; --help exits 0; unknown command exits 2" *
          doctest::test_suite("cli")) {
  const std::string in = "{\"prompt\":\"x\"}\n";
  struct bad_case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<bad_case> cases = {
      {{"generate", "--backend", "simulated", "--max-tokens", "many", "-"}, "--max-tokens expects an integer, got 'many'"},
      {{"generate", "--backend", "simulated", "--max-tokens", "0", "-"}, "--max-tokens must be at least 1, got 0"},
      {{"generate", "--backend", "simulated", "--temperature", "hot", "-"}, "--temperature expects a number, got 'hot'"},
      {{"generate", "--backend", "quantum", "-"}, "--backend must be http or simulated, got 'quantum'"},
      {{"dlma", "--backend", "simulated", "--format", "csv", "-"}, "--format must be trl, trl-chat or openrlhf, got 'csv'"},
      {{"rain", "--backend", "simulated", "--template", "rude", "-"}, "--template must be"},
      {{"generate", "--backend", "simulated", "--max-tokns", "3", "-"}, "unknown option '--max-tokns'; did you mean '--max-tokens'?"},
      {{"generate", "--backend", "simulated", "--out"}, "--out needs a value (FILE)"},
      {{"generate", "--backend", "simulated", "a.jsonl", "b.jsonl"}, "too many arguments"},
      {{"generate", "--backend", "simulated"}, "missing INPUT.jsonl"},
      {{"models", "--backend", "simulated", "extra"}, "unexpected argument 'extra'"},
  };
  for (const auto& c : cases) {
    auto r = run(c.args, in);
    INFO(c.args[1] << " " << c.args.back() << ": " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(c.message) != std::string::npos);
  }
  for (const char* cmd : {"generate", "drpo", "judge", "rain", "dlma", "eval", "models", "cache", "merge"}) {
    auto h = run({cmd, "--help"});
    INFO(cmd);
    CHECK(h.exit_code == 0);
    CHECK(h.out.find("--config FILE") != std::string::npos);
    CHECK(run({cmd, "-h"}).exit_code == 0);
  }
  CHECK(run({"frobnicate", "--help"}).exit_code == 2);
}
