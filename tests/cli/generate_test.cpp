// End-to-end tests of the selfalign binary: generate and models, exit codes, budgets, Ctrl-C and
// resume, atomic output, --help.
#include <doctest/doctest.h>

#include "cli_support.hpp"

using namespace cli_test;

namespace {
const char* three_prompts = "{\"id\":\"a\",\"prompt\":\"first\"}\n{\"id\":\"b\",\"instruction\":\"second\"}\n{\"question\":\"third\"}\n";

}  // namespace

TEST_CASE("generate writes one line per input in input order with id, prompt, response and usage" * doctest::test_suite("cli")) {
  fake_openai_server server;
  const auto input = write_file("gen-in", three_prompts);
  auto r = run({"generate", "--base-url", server.base_url(), "--system", "be kind", "--quiet", input.string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto lines = lines_of(r.out);
  REQUIRE(lines.size() == 3);
  auto first = nlohmann::json::parse(lines[0]);
  CHECK(first["id"] == "a");
  CHECK(first["prompt"] == "first");
  CHECK(first["response"] == "[be kind] answer to first");
  CHECK(first["usage"]["prompt_tokens"] == 10);
  CHECK(first["usage"]["completion_tokens"] == 3);
  CHECK(nlohmann::json::parse(lines[1])["response"] == "[be kind] answer to second");
  CHECK(nlohmann::json::parse(lines[2])["id"] == "3");  // no id: the line number
  CHECK(server.chat_requests() == 3);
  // Each request carries its derived seed and the model the endpoint listed first.
  auto body = nlohmann::json::parse(server.bodies()[0]);
  CHECK(body["model"] == "fake-model");
  CHECK(body.contains("seed"));
}

TEST_CASE("a malformed input line exits 2 naming the file and line" * doctest::test_suite("cli")) {
  const auto input = write_file("bad-in", "{\"prompt\":\"ok\"}\n{\"prompt\": \n");
  auto r = run({"generate", "--backend", "simulated", input.string()});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find(input.string() + ":2: not valid JSON") != std::string::npos);
  const auto missing = write_file("missing-in", "{\"text\":\"no known field\"}\n");
  auto m = run({"generate", "--backend", "simulated", missing.string()});
  CHECK(m.exit_code == 2);
  CHECK(m.err.find(missing.string() + ":1:") != std::string::npos);
}

TEST_CASE("an unreachable server exits 3 with the transport error" * doctest::test_suite("cli")) {
  const auto input = write_file("unreach-in", three_prompts);
  auto r = run({"generate", "--base-url", "http://127.0.0.1:9/v1", "--retries", "0", "--quiet", input.string()});
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("selfalign generate: transport: cannot connect to http://127.0.0.1:9/v1") != std::string::npos);
}

TEST_CASE("a non-retryable server error exits 3 quoting the server's message" * doctest::test_suite("cli")) {
  fake_openai_server server;
  server.set_fail_status(400);
  const auto input = write_file("http400-in", three_prompts);
  auto r = run({"generate", "--base-url", server.base_url(), "--quiet", input.string()});
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("the model is on fire") != std::string::npos);
  CHECK(r.err.find("HTTP 400") != std::string::npos);
}

TEST_CASE("a call budget exits 4 with partial output; rerunning with the cache resumes without repeated calls" * doctest::test_suite("cli")) {
  fake_openai_server server;
  // The same run against both cache stores.
  std::string ext;
  SUBCASE("SQLite cache") { ext = "sqlite"; }
  SUBCASE("JSONL cache") { ext = "jsonl"; }
  const auto dir = selfalign::test_support::temp_path(std::string("budget") + "-" + ext);
  std::filesystem::create_directories(dir);
  std::string five;
  for (int i = 0; i < 5; ++i) five += "{\"id\":\"q" + std::to_string(i) + "\",\"prompt\":\"question " + std::to_string(i) + "\"}\n";
  const auto input = write_file("budget-in", five);
  const auto cache = (dir / ("cache." + ext)).string(), out = (dir / "out.jsonl").string();
  const std::vector<std::string> args = {"generate", "--base-url", server.base_url(), "--concurrency", "1", "--cache", cache,
                                         "--out", out, "--quiet", input.string()};
  auto with_budget = args;
  with_budget.insert(with_budget.begin() + 1, {"--max-calls", "2"});
  auto first = run(with_budget);
  INFO(first.err);
  CHECK(first.exit_code == 4);
  CHECK(first.err.find("the call budget of 2 calls is used up") != std::string::npos);
  CHECK(first.err.find("rerun the same command with the same --cache to resume") != std::string::npos);
  CHECK(server.chat_requests() == 2);
  const auto partial = lines_of(slurp(out));
  REQUIRE(partial.size() == 2);  // the finished prefix, committed atomically
  CHECK(nlohmann::json::parse(partial[1])["response"] == "answer to question 1");

  auto second = run(args);
  INFO(second.err);
  CHECK(second.exit_code == 0);
  CHECK(server.chat_requests() == 5);  // the 2 finished calls came from the cache
  CHECK(server.repeated_requests() == 0);
  const auto full = lines_of(slurp(out));
  REQUIRE(full.size() == 5);
  for (std::size_t i = 0; i < partial.size(); ++i) CHECK(full[i] == partial[i].substr(0, partial[i].find("\"usage\"")) + full[i].substr(full[i].find("\"usage\"")));
  CHECK(nlohmann::json::parse(full[0])["usage"]["from_cache"] == true);
  CHECK(nlohmann::json::parse(full[4])["response"] == "answer to question 4");
}

TEST_CASE("SIGINT mid-run exits 130 with valid partial output, and a resumed run completes identically" * doctest::test_suite("cli")) {
  fake_openai_server server;
  server.set_delay(std::chrono::milliseconds(150));
  // The same run against both cache stores.
  std::string ext;
  SUBCASE("SQLite cache") { ext = "sqlite"; }
  SUBCASE("JSONL cache") { ext = "jsonl"; }
  const auto dir = selfalign::test_support::temp_path(std::string("sigint") + "-" + ext);
  std::filesystem::create_directories(dir);
  std::string many;
  for (int i = 0; i < 12; ++i) many += "{\"id\":\"q" + std::to_string(i) + "\",\"prompt\":\"question " + std::to_string(i) + "\"}\n";
  const auto input = write_file("sigint-in", many);
  const auto cache = (dir / ("cache." + ext)).string(), out = (dir / "out.jsonl").string();
  const std::vector<std::string> args = {"generate", "--base-url", server.base_url(), "--concurrency", "1", "--cache", cache,
                                         "--out", out, "--quiet", input.string()};
  child_process child(args);
  for (int i = 0; i < 400 && server.chat_requests() < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(server.chat_requests() >= 3);
  child.signal(SIGINT);
  auto interrupted = child.wait();
  INFO(interrupted.err);
  CHECK(interrupted.exit_code == 130);
  CHECK(interrupted.err.find("partial output written") != std::string::npos);
  CHECK(interrupted.err.find("interrupted; finishing the calls in flight") != std::string::npos);  // even with --quiet
  const auto partial = lines_of(slurp(out));
  CHECK(partial.size() < 12);
  for (const auto& l : partial) CHECK_FALSE(nlohmann::json::parse(l, nullptr, false).is_discarded());

  server.set_delay(std::chrono::milliseconds(0));
  auto resumed = run(args);
  INFO(resumed.err);
  CHECK(resumed.exit_code == 0);
  CHECK(server.chat_requests() == 12);
  CHECK(server.repeated_requests() == 0);
  const auto full = lines_of(slurp(out));
  REQUIRE(full.size() == 12);
  for (int i = 0; i < 12; ++i)
    CHECK(nlohmann::json::parse(full[static_cast<std::size_t>(i)])["response"] == "answer to question " + std::to_string(i));
}

TEST_CASE("models lists what the endpoint serves and its capabilities" * doctest::test_suite("cli")) {
  fake_openai_server server;
  auto r = run({"models", "--base-url", server.base_url(), "--server", "vllm"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["models"] == nlohmann::json::array({"fake-model"}));
  CHECK(j["capabilities"]["server"] == "vllm");
  CHECK(j["capabilities"]["scoring"] == true);
}

TEST_CASE("every command answers --help with its usage, and bad usage exits 2" * doctest::test_suite("cli")) {
  for (const char* cmd : {"generate", "models"}) {
    auto r = run({cmd, "--help"});
    CHECK(r.exit_code == 0);
    CHECK(r.out.find(std::string("usage: selfalign ") + cmd) == 0);
    CHECK(r.out.find("--base-url URL") != std::string::npos);
    CHECK(r.out.find("examples:") != std::string::npos);
  }
  auto top = run({"--help"});
  CHECK(top.exit_code == 0);
  CHECK(top.out.find("commands:") != std::string::npos);
  CHECK(run({"frobnicate"}).exit_code == 2);
  auto bad = run({"generate", "--concurrency", "0", "-"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("--concurrency must be at least 1, got 0") != std::string::npos);
  CHECK(run({}).exit_code == 2);
}

TEST_CASE("the simulated backend is labelled in the output and on standard error" * doctest::test_suite("cli")) {
  auto r = run({"generate", "--backend", "simulated", "-"}, "{\"prompt\":\"hello\"}\n");
  REQUIRE(r.exit_code == 0);
  CHECK(nlohmann::json::parse(r.out)["backend"] == "simulated");
  CHECK(r.err.find("SIMULATED") != std::string::npos);
}

TEST_CASE("--max-tokens is the most tokens per response (--max-new-tokens its alias); --max-total-tokens is the token budget" * doctest::test_suite("cli")) {
  fake_openai_server server;
  auto per_response = run({"generate", "--base-url", server.base_url(), "--max-tokens", "7", "--quiet", "-"}, "{\"prompt\":\"one\"}\n");
  INFO(per_response.err);
  REQUIRE(per_response.exit_code == 0);
  auto alias = run({"generate", "--base-url", server.base_url(), "--max-new-tokens", "9", "--quiet", "-"}, "{\"prompt\":\"two\"}\n");
  INFO(alias.err);
  REQUIRE(alias.exit_code == 0);
  REQUIRE(server.bodies().size() == 2);
  CHECK(nlohmann::json::parse(server.bodies()[0])["max_tokens"] == 7);
  CHECK(nlohmann::json::parse(server.bodies()[1])["max_tokens"] == 9);
  // The token budget: each answer bills 13 tokens, so a 20-token budget stops the run with exit 4.
  std::string five;
  for (int i = 0; i < 5; ++i) five += "{\"prompt\":\"budget " + std::to_string(i) + "\"}\n";
  auto budget = run({"generate", "--base-url", server.base_url(), "--concurrency", "1", "--max-tokens", "3",
                     "--max-total-tokens", "20", "--quiet", "-"}, five);
  INFO(budget.err);
  CHECK(budget.exit_code == 4);
  CHECK(budget.err.find("the token budget of 20 tokens is used up") != std::string::npos);
  CHECK(lines_of(budget.out).size() < 5);
  auto both = run({"generate", "--backend", "simulated", "--max-tokens", "3", "--max-new-tokens", "4", "-"}, "{\"prompt\":\"x\"}\n");
  CHECK(both.exit_code == 2);
  CHECK(both.err.find("--max-new-tokens is another name for --max-tokens; give only one") != std::string::npos);
}

TEST_CASE("generate: a prompt over the context is a failed line, the others run, exit 5; finish_reason is in every line" * doctest::test_suite("cli")) {
  fake_openai_server server;
  const auto dir = selfalign::test_support::temp_path("overflow");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto input = write_file("overflow-in", "{\"id\":\"a\",\"prompt\":\"short\"}\n{\"id\":\"b\",\"prompt\":\"TOO-LONG text\"}\n"
                                                "{\"id\":\"c\",\"prompt\":\"please CUT\"}\n");
  const auto cache = (dir / "cache.jsonl").string(), out = (dir / "out.jsonl").string();
  const std::vector<std::string> args = {"generate", "--base-url", server.base_url(), "--concurrency", "1", "--cache", cache,
                                         "--out", out, "--quiet", input.string()};
  for (int attempt = 0; attempt < 2; ++attempt) {  // a rerun with the same cache gets past it too
    auto r = run(args);
    INFO(r.err);
    CHECK(r.exit_code == 5);
    CHECK(r.err.find("selfalign generate: 1 of 3 item(s) failed; their output lines carry \"error\" (exit code 5)") != std::string::npos);
    const auto lines = lines_of(slurp(out));
    REQUIRE(lines.size() == 3);
    auto a = nlohmann::json::parse(lines[0]), b = nlohmann::json::parse(lines[1]), c = nlohmann::json::parse(lines[2]);
    CHECK(a["response"] == "answer to short");
    CHECK(a["finish_reason"] == "stop");
    CHECK(b["id"] == "b");
    CHECK(b["response"].is_null());
    CHECK(b["error"]["code"] == "context_overflow");
    CHECK(b["error"]["http_status"] == 400);
    CHECK(b["error"]["message"] == "request (5000 tokens) exceeds the available context size (2048 tokens), try increasing it");
    CHECK(c["response"] == "answer to please CUT");
    CHECK(c["finish_reason"] == "length");  // cut at max_tokens: no longer looks finished
  }
  CHECK(server.chat_requests() == 4);  // the second run: only the failed prompt is asked again
}

TEST_CASE("the resume hint names --cache only when the run had one" * doctest::test_suite("cli")) {
  fake_openai_server server;
  const std::string two = "{\"prompt\":\"one\"}\n{\"prompt\":\"two\"}\n";
  auto no_cache = run({"generate", "--base-url", server.base_url(), "--concurrency", "1", "--max-calls", "1", "--quiet", "-"}, two);
  CHECK(no_cache.exit_code == 4);
  CHECK(no_cache.err.find("same --cache") == std::string::npos);
  CHECK(no_cache.err.find("selfalign generate: partial output written (run with --cache FILE to be able to resume)") != std::string::npos);
  const auto cache = selfalign::test_support::temp_path("hint-cache.jsonl");
  std::filesystem::remove(cache);
  auto with_cache = run({"generate", "--base-url", server.base_url(), "--concurrency", "1", "--max-calls", "1", "--cache", cache.string(),
                         "--quiet", "-"}, two);
  CHECK(with_cache.exit_code == 4);
  CHECK(with_cache.err.find("rerun the same command with the same --cache to resume") != std::string::npos);
}

TEST_CASE("generate --drpo refuses a drpo.json from a run that did not complete" * doctest::test_suite("cli")) {
  const auto failed = write_file("failed-drpo.json", "{\"system_prompt\":\"Be safe.\",\"examples\":[],\"complete\":false,"
                                                      "\"stop_reason\":\"error: transport: connection refused\"}\n");
  auto r = run({"generate", "--backend", "simulated", "--drpo", failed.string(), "-"}, "{\"prompt\":\"hi\"}\n");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find(failed.string() + ": the drpo run did not complete (stop reason: error: transport: connection refused); rerun "
                   "'selfalign drpo' (with the same --cache it resumes) before deploying its prompt") != std::string::npos);
  CHECK(lines_of(r.out).empty());
  const auto ok = write_file("ok-drpo.json", "{\"system_prompt\":\"Be safe.\",\"examples\":[],\"complete\":true,\"stop_reason\":\"depth\"}\n");
  CHECK(run({"generate", "--backend", "simulated", "--drpo", ok.string(), "-"}, "{\"prompt\":\"hi\"}\n").exit_code == 0);
}
