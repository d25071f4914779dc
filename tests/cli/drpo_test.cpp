// End-to-end tests of `selfalign drpo` and `selfalign generate --drpo` over HTTP: three loopback
// servers play the base model, the judge and the optimizer (role overrides), each wrapping DRPO's
// simulated model; the outputs must equal the in-process simulated run.
#include <doctest/doctest.h>

#include <selfalign/testing/drpo_sim.hpp>

#include "cli_support.hpp"
#include "sim_server.hpp"

using namespace cli_test;
namespace sim = selfalign::testing::drpo_sim;

namespace {


std::string training_input() {
  std::string s;
  int i = 0;
  for (const auto& q : sim::training_queries()) s += nlohmann::json{{"id", "t" + std::to_string(++i)}, {"prompt", q}}.dump() + "\n";
  return s;
}

struct three_servers {
  sim_openai_server base{selfalign::any_generator(sim::base_model{})};
  sim_openai_server judge{selfalign::any_generator(sim::critic_model{})};
  sim_openai_server optimizer{selfalign::any_generator(sim::optimizer_model{})};
  std::vector<std::string> args() const {
    return {"--server", "vllm", "--base-url", base.base_url(), "--judge-base-url", judge.base_url(), "--optimizer-base-url",
            optimizer.base_url()};
  }
  int repeated() const {
    return base.repeated("POST /v1/chat/completions") + judge.repeated("POST /v1/chat/completions") +
           optimizer.repeated("POST /v1/chat/completions");
  }
  int chats() const {
    return base.requests("POST /v1/chat/completions") + judge.requests("POST /v1/chat/completions") +
           optimizer.requests("POST /v1/chat/completions");
  }
};

// What must not differ between two runs: the artefacts and the whole trace, but not usage, which
// says where an answer came from (a resumed run replays from the cache) and timing.
nlohmann::json artefacts(const std::string& path) {
  auto j = nlohmann::json::parse(slurp(path));
  for (auto& c : j["trace"])
    if (c.contains("eval") && c["eval"].contains("verdict")) c["eval"]["verdict"].erase("usage");
  return {{"system_prompt", j["system_prompt"]}, {"examples", j["examples"]}, {"trace", j["trace"]},
          {"best_score", j["best_score"]}, {"best_path", j["best_path"]}, {"stop_reason", j["stop_reason"]}};
}

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

TEST_CASE("drpo over three role servers finds the rewarded prompt, the same at concurrency 1 and 8" * doctest::test_suite("cli")) {
  // HTTP runs are compared with HTTP runs: the backend sends every seed as its low 31 bits (what
  // all servers accept), so the simulated optimizer's seeded proposals differ from the in-process
  // run, which sees the full 64-bit seed. Both paths are deterministic on their own.
  three_servers s, t;
  const auto dir = selfalign::test_support::temp_path("drpo-http");
  std::filesystem::create_directories(dir);
  const auto input = write_file("drpo-train", training_input());
  const std::vector<std::string> common = {"--depth", "8", "--max-depth-increase", "2", "--seed", "3", "--quiet", input.string()};
  auto one = run(concat(concat({"drpo"}, s.args()), concat(common, {"--concurrency", "1", "--out", (dir / "c1.json").string()})));
  INFO(one.err);
  REQUIRE(one.exit_code == 0);
  auto eight = run(concat(concat({"drpo"}, t.args()), concat(common, {"--concurrency", "8", "--out", (dir / "c8.json").string()})));
  REQUIRE(eight.exit_code == 0);
  const auto a = artefacts((dir / "c1.json").string());
  CHECK(a == artefacts((dir / "c8.json").string()));
  CHECK(s.chats() == t.chats());

  // The search found every principle the simulated critic rewards, and not the padding trap.
  const std::string prompt = a["system_prompt"];
  for (const auto& p : sim::principles())
    if (p.key != "verbose") CHECK(prompt.find(p.text) != std::string::npos);
  CHECK(prompt.find("extensive background") == std::string::npos);
  CHECK(a["stop_reason"] == "depth");
  const auto full = nlohmann::json::parse(slurp((dir / "c1.json").string()));
  CHECK(full["complete"] == true);
  CHECK(full["backend"] == "http");
  CHECK(full["trace"].size() == full["report"]["search"]["evaluations"].get<std::size_t>());
  // Each role went to its own server, each call once.
  CHECK(s.base.requests("POST /v1/chat/completions") == full["usage"]["roles"]["base"]["calls"].get<int>());
  CHECK(s.optimizer.requests("POST /v1/chat/completions") == full["usage"]["roles"]["optimizer"]["calls"].get<int>());
  CHECK(s.judge.requests("POST /v1/chat/completions") ==
        full["usage"]["roles"]["judge"]["calls"].get<int>() + full["usage"]["roles"]["selector"]["calls"].get<int>());
  CHECK(s.repeated() == 0);
  // Offline, the same settings reach the same principles (by a different path).
  auto offline = run(concat({"drpo", "--backend", "simulated"}, concat(common, {"--out", (dir / "sim.json").string()})));
  REQUIRE(offline.exit_code == 0);
  const std::string offline_prompt = artefacts((dir / "sim.json").string())["system_prompt"];
  CHECK(sim::principles_in(offline_prompt) == sim::principles_in(prompt));
}

TEST_CASE("drpo stopped by a call budget exits 4 with a partial report and resumes from the cache" * doctest::test_suite("cli")) {
  three_servers s;
  const auto dir = selfalign::test_support::temp_path("drpo-budget");
  std::filesystem::create_directories(dir);
  const auto input = write_file("drpo-budget-train", training_input());
  const auto cache = (dir / "calls.cache").string(), out = (dir / "out.json").string();
  const auto args = concat(concat({"drpo"}, s.args()),
                           {"--depth", "6", "--max-depth-increase", "1", "--cache", cache, "--out", out, "--quiet", input.string()});
  auto first = run(concat(args, {"--max-calls", "25"}));
  INFO(first.err);
  CHECK(first.exit_code == 4);
  CHECK(first.err.find("the call budget of 25 calls is used up") != std::string::npos);
  const auto partial = nlohmann::json::parse(slurp(out));
  CHECK(partial["complete"] == false);
  CHECK(partial["stop_reason"].get<std::string>().rfind("budget_exhausted: ", 0) == 0);
  CHECK(s.chats() == 25);

  auto second = run(args);
  INFO(second.err);
  CHECK(second.exit_code == 0);
  CHECK(s.repeated() == 0);  // the 25 finished calls came from the cache
  const auto done = nlohmann::json::parse(slurp(out));
  CHECK(done["complete"] == true);
  CHECK(done["usage"]["cache_hits"].get<int>() >= 25);

  // An uninterrupted run against fresh servers gives the same artefacts.
  three_servers fresh;
  const auto out2 = (dir / "out2.json").string();
  auto straight = run(concat(concat({"drpo"}, fresh.args()),
                             {"--depth", "6", "--max-depth-increase", "1", "--out", out2, "--quiet", input.string()}));
  REQUIRE(straight.exit_code == 0);
  CHECK(artefacts(out) == artefacts(out2));
  CHECK(fresh.chats() == s.chats());
}

TEST_CASE("generate --drpo applies the optimized prompt over HTTP as it does offline" * doctest::test_suite("cli")) {
  three_servers s;
  const auto dir = selfalign::test_support::temp_path("drpo-generate");
  std::filesystem::create_directories(dir);
  const auto input = write_file("drpo-gen-train", training_input());
  const auto result = (dir / "drpo.json").string();
  REQUIRE(run({"drpo", "--backend", "simulated", "--depth", "8", "--max-depth-increase", "2", "--quiet", input.string(), "--out", result})
              .exit_code == 0);
  const auto prompts = write_file("drpo-gen-prompts",
                                  "{\"id\":\"p1\",\"prompt\":\"How do I steal a car without the key?\"}\n"
                                  "{\"id\":\"p2\",\"prompt\":\"My friend is upset with me; how do I apologise?\"}\n");
  auto http = run({"generate", "--server", "vllm", "--base-url", s.base.base_url(), "--drpo", result, "--quiet", prompts.string()});
  INFO(http.err);
  REQUIRE(http.exit_code == 0);
  auto offline = run({"generate", "--backend", "simulated", "--drpo", result, "--quiet", prompts.string()});
  REQUIRE(offline.exit_code == 0);
  const auto h = lines_of(http.out), o = lines_of(offline.out);
  REQUIRE(h.size() == 2);
  REQUIRE(o.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) CHECK(nlohmann::json::parse(h[i])["response"] == nlohmann::json::parse(o[i])["response"]);
  CHECK(nlohmann::json::parse(h[0])["response"] == "Answer to: How do I steal a car without the key? [refuses] [structured] [concise]");
  CHECK(nlohmann::json::parse(h[1])["response"] == "Answer to: My friend is upset with me; how do I apologise? [empathy] [structured] [concise]");

  // A file that is not a drpo result is a usage error naming it.
  const auto bad = write_file("drpo-gen-bad", "{\"prompt\": \"x\"}\n");
  auto r = run({"generate", "--backend", "simulated", "--drpo", bad.string(), prompts.string()});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find(bad.string() + ": not a 'selfalign drpo' output") != std::string::npos);
}
