// End-to-end tests of the durable cache through the selfalign binary: what the key holds (model,
// default model), invalid records, several runs sharing one SQLite cache (also killed with
// SIGKILL), and `selfalign cache stats|export|import|vacuum`.
#include <doctest/doctest.h>

#include "cli_support.hpp"

using namespace cli_test;

namespace {
std::string prompts(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += "{\"id\":\"q" + std::to_string(i) + "\",\"prompt\":\"question " + std::to_string(i) + "\"}\n";
  return s;
}
int count_of(const std::vector<std::string>& bodies, const std::string& needle) {
  int n = 0;
  for (const auto& b : bodies) n += b.find(needle) != std::string::npos ? 1 : 0;
  return n;
}
}  // namespace

TEST_CASE("the cache key holds the model: --model B does not replay model A's answers" * doctest::test_suite("cli")) {
  for (const std::string ext : {"jsonl", "sqlite"}) {
    CAPTURE(ext);
    fake_openai_server server;
    const auto dir = make_dir("model-key-" + ext);
    const auto input = dir / "in.jsonl";
    std::ofstream(input) << prompts(3);
    const auto cache = (dir / ("cache." + ext)).string();
    auto a = run({"generate", "--base-url", server.base_url(), "--model", "model-a", "--cache", cache, "--quiet", input.string()});
    REQUIRE(a.exit_code == 0);
    CHECK(server.chat_requests() == 3);
    auto b = run({"generate", "--base-url", server.base_url(), "--model", "model-b", "--cache", cache, "--quiet", input.string()});
    INFO(b.err);
    REQUIRE(b.exit_code == 0);
    CHECK(server.chat_requests() == 6);
    CHECK(count_of(server.bodies(), "\"model\":\"model-b\"") == 3);
    // The same model again: all from the cache.
    auto again = run({"generate", "--base-url", server.base_url(), "--model", "model-b", "--cache", cache, "--quiet", input.string()});
    REQUIRE(again.exit_code == 0);
    CHECK(server.chat_requests() == 6);
  }
}

TEST_CASE("the cache key holds the default model the server lists, but not the base URL" * doctest::test_suite("cli")) {
  for (const std::string ext : {"jsonl", "sqlite"}) {
    CAPTURE(ext);
    fake_openai_server first, replica, other;
    other.set_listed_model("other-model");
    const auto dir = make_dir("default-key-" + ext);
    const auto input = dir / "in.jsonl";
    std::ofstream(input) << prompts(3);
    const auto cache = (dir / ("cache." + ext)).string();
    REQUIRE(run({"generate", "--base-url", first.base_url(), "--cache", cache, "--quiet", input.string()}).exit_code == 0);
    CHECK(first.chat_requests() == 3);
    // A replica of the same model at another URL shares the answers.
    REQUIRE(run({"generate", "--base-url", replica.base_url(), "--cache", cache, "--quiet", input.string()}).exit_code == 0);
    CHECK(replica.chat_requests() == 0);
    // A server whose default model is another one does not.
    auto r = run({"generate", "--base-url", other.base_url(), "--cache", cache, "--quiet", input.string()});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(other.chat_requests() == 3);
    CHECK(count_of(other.bodies(), "\"model\":\"other-model\"") == 3);
  }
}

TEST_CASE("an invalid cache record is asked again with a warning, never replayed as an empty answer" * doctest::test_suite("cli")) {
  fake_openai_server server;
  const auto dir = make_dir("invalid-record");
  const auto input = dir / "in.jsonl";
  std::ofstream(input) << prompts(2);
  const auto cache = dir / "cache.jsonl";
  REQUIRE(run({"generate", "--base-url", server.base_url(), "--cache", cache.string(), "--quiet", input.string()}).exit_code == 0);
  // Empty every stored answer's choices ("{"choices":[{}]}") and drop the checks (as an older writer would).
  std::string text = slurp(cache), damaged;
  for (const auto& line : lines_of(text)) {
    auto j = nlohmann::json::parse(line);
    j.erase("check");
    j["value"] = {{"choices", {nlohmann::json::object()}}};
    damaged += j.dump() + "\n";
  }
  std::ofstream(cache, std::ios::trunc) << damaged;
  auto r = run({"generate", "--base-url", server.base_url(), "--cache", cache.string(), "--quiet", input.string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(server.chat_requests() == 4);
  const auto out = lines_of(r.out);
  REQUIRE(out.size() == 2);
  CHECK(nlohmann::json::parse(out[0])["response"] == "answer to question 0");
  CHECK(r.err.find("selfalign: warning: a cached 'generate' answer of role 'base' (model 'fake-model') is invalid "
                   "(a choice has no string `text`); asking the backend again") != std::string::npos);
}

namespace {
// Starts `n` concurrent `generate` runs over one cache, run p writing dir/out<p>.jsonl.
std::vector<std::unique_ptr<child_process>> start_generate_runs(int n, const fake_openai_server& server, const std::string& cache,
                                                                const std::filesystem::path& dir, const std::filesystem::path& input) {
  std::vector<std::unique_ptr<child_process>> runs;
  for (int p = 0; p < n; ++p)
    runs.push_back(std::make_unique<child_process>(std::vector<std::string>{
        "generate", "--base-url", server.base_url(), "--concurrency", "4", "--cache", cache, "--quiet",
        "--out", (dir / ("out" + std::to_string(p) + ".jsonl")).string(), input.string()}));
  return runs;
}
}  // namespace

TEST_CASE("four concurrent runs over one SQLite cache, then a fifth that makes no request" * doctest::test_suite("cli")) {
  fake_openai_server server;
  server.set_delay(std::chrono::milliseconds(20));
  const auto dir = make_dir("four-runs");
  const auto input = dir / "in.jsonl";
  std::ofstream(input) << prompts(40);
  const auto cache = (dir / "cache.sqlite").string();
  auto runs = start_generate_runs(4, server, cache, dir, input);
  for (auto& c : runs) {
    auto r = c->wait();
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.err.find("warning") == std::string::npos);
  }
  const int paid = server.chat_requests();
  CHECK(paid >= 40);
  CHECK(server.repeated_requests() == paid - 40);  // any extra call is a duplicate, never a different request
  auto fifth = run({"generate", "--base-url", server.base_url(), "--cache", cache, "--quiet", input.string()});
  INFO(fifth.err);
  REQUIRE(fifth.exit_code == 0);
  CHECK(server.chat_requests() == paid);
  CHECK(fifth.err.find("warning") == std::string::npos);
  const auto lines = lines_of(fifth.out);
  REQUIRE(lines.size() == 40);
  for (int i = 0; i < 40; ++i) {
    auto j = nlohmann::json::parse(lines[static_cast<std::size_t>(i)]);
    CHECK(j["response"] == "answer to question " + std::to_string(i));
    CHECK(j["usage"]["from_cache"] == true);
  }
  for (int p = 0; p < 4; ++p) CHECK(slurp(dir / ("out" + std::to_string(p) + ".jsonl")).size() > 0);
}

TEST_CASE("runs killed with SIGKILL mid-write leave an SQLite cache the next run completes from" * doctest::test_suite("cli")) {
  fake_openai_server server;
  server.set_delay(std::chrono::milliseconds(30));
  const auto dir = make_dir("sigkill-runs");
  const auto input = dir / "in.jsonl";
  std::ofstream(input) << prompts(60);
  const auto cache = (dir / "cache.sqlite").string();
  auto runs = start_generate_runs(4, server, cache, dir, input);
  for (int i = 0; i < 1000 && server.chat_requests() < 12; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  REQUIRE(server.chat_requests() >= 12);
  for (auto& c : runs) c->signal(SIGKILL);
  for (auto& c : runs) CHECK(c->wait().exit_code == 128 + SIGKILL);
  const int before = server.chat_requests();
  REQUIRE(before < 60);

  server.set_delay(std::chrono::milliseconds(0));
  const auto start = std::chrono::steady_clock::now();
  auto fifth = run({"generate", "--base-url", server.base_url(), "--cache", cache, "--quiet", input.string()});
  INFO(fifth.err);
  REQUIRE(fifth.exit_code == 0);
  // No damaged record was read, and the killed runs' pending markers did not hold the run up.
  CHECK(fifth.err.find("warning") == std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));
  const auto lines = lines_of(fifth.out);
  REQUIRE(lines.size() == 60);
  int from_cache = 0;
  for (int i = 0; i < 60; ++i) {
    auto j = nlohmann::json::parse(lines[static_cast<std::size_t>(i)]);
    CHECK(j["response"] == "answer to question " + std::to_string(i));
    from_cache += j["usage"]["from_cache"] == true ? 1 : 0;
  }
  // Every call the killed runs finished (and committed) was replayed; the rest were asked once.
  CHECK(server.chat_requests() - before == 60 - from_cache);
  CHECK(from_cache > 0);

  // And a sixth run: everything from the cache.
  auto sixth = run({"generate", "--base-url", server.base_url(), "--cache", cache, "--quiet", input.string()});
  REQUIRE(sixth.exit_code == 0);
  CHECK(server.chat_requests() == before + 60 - from_cache);
}
