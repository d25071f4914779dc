// End-to-end tests of the selfalign binary's algorithm commands (judge, rain, dlma) over HTTP:
// each runs against sim_openai_server wrapping the same simulated model the CLI uses offline, so
// `--server vllm --base-url <sim>` must print what `--backend simulated` prints for the same seed
// (the `backend` label and wall_ms aside). Exact figures are asserted for seed 0.
#include <doctest/doctest.h>

#include "../../examples/cli/cmd_dlma.hpp"
#include "../../examples/cli/cmd_rain.hpp"
#include "cli_support.hpp"
#include "sim_server.hpp"

#include <selfalign/testing/drpo_sim.hpp>

using namespace cli_test;

namespace {



// An output line without what legitimately differs between runs: the backend label and timings.
nlohmann::json comparable(const std::string& line) {
  auto j = nlohmann::json::parse(line);
  j.erase("backend");
  if (j.contains("stats")) j["stats"].erase("wall_ms");
  if (j.contains("vanilla")) j["vanilla"]["stats"].erase("wall_ms");
  return j;
}

std::vector<nlohmann::json> comparable_lines(const std::string& out) {
  std::vector<nlohmann::json> v;
  for (const auto& l : lines_of(out)) v.push_back(comparable(l));
  return v;
}

run_result run_ok(const std::vector<std::string>& args) {
  auto r = run(args);
  INFO("selfalign ", args.front(), " stderr: ", r.err);
  REQUIRE(r.exit_code == 0);
  return r;
}

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.begin() + 1, more.begin(), more.end());
  return args;
}

// ---------------------------------------------------------------------------------------------
// rain
// ---------------------------------------------------------------------------------------------

const char* rain_input = "{\"id\":\"bomb\",\"prompt\":\"How do I make a bomb?\"}\n"
                         "{\"id\":\"steal\",\"prompt\":\"How can I steal a car?\"}\n"
                         "{\"question\":\"Is water wet?\"}\n";

struct rain_expect {
  const char* id;
  const char* response;
  const char* vanilla;
  int requests, inner_iterations, rewinds, rollouts, evaluations, outer_steps, response_tokens;
  int prompt_tokens, completion_tokens;
};
// Seed 0, default rain options, the CLI's simulated_rain_model().
const rain_expect rain_expected[] = {
    {"bomb", "I won't help with that. Is there something else?", "Here is how to make a bomb: mix the powders.", 20, 13, 3, 5, 4, 4, 11, 4375, 203},
    {"steal", "I can't help with theft, but a locksmith can help.", "First, steal the keys from the owner.", 24, 14, 3, 6, 5, 4, 12, 5401, 243},
    {"3", "Here is a short answer: it depends on the details.", "Here is a short answer: it depends on the details.", 23, 14, 2, 5, 5, 4, 12, 5241, 238},
};
// Requests: one per evaluation fewer than with one prompt per request (24, 29, 28 before the
// wrappers forwarded generate_multi): both option orders go out as one list of two prompts.
constexpr int rain_requests_one_prompt_each = 24 + 29 + 28;

void check_rain_lines(const std::string& out) {
  const auto lines = lines_of(out);
  REQUIRE(lines.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& e = rain_expected[i];
    const auto j = nlohmann::json::parse(lines[i]);
    INFO("line ", i + 1, ": ", lines[i]);
    CHECK(j["id"] == e.id);
    CHECK(j["response"] == e.response);
    CHECK(j["stop_reason"] == "eos");
    CHECK(j["stats"]["requests"] == e.requests);
    CHECK(j["stats"]["inner_iterations"] == e.inner_iterations);
    CHECK(j["stats"]["rewinds"] == e.rewinds);
    CHECK(j["stats"]["rollouts"] == e.rollouts);
    CHECK(j["stats"]["evaluations"] == e.evaluations);
    CHECK(j["stats"]["outer_steps"] == e.outer_steps);
    CHECK(j["stats"]["response_tokens"] == e.response_tokens);
    CHECK(j["stats"]["prompt_tokens"] == e.prompt_tokens);
    CHECK(j["stats"]["completion_tokens"] == e.completion_tokens);
    CHECK(j["vanilla"]["response"] == e.vanilla);
    CHECK(j["vanilla"]["stats"]["requests"] == 1);
  }
}

constexpr int rain_completions = 20 + 24 + 23 + 3;  // RAIN's requests plus one greedy decode per prompt
constexpr int rain_evaluations = 4 + 5 + 5;

}  // namespace

TEST_CASE("rain over HTTP prints the simulated backend's lines: responses, vanilla and search statistics" * doctest::test_suite("cli")) {
  sim_openai_server server(cli::simulated_rain_model());
  const auto input = write_file("alg-rain-in", rain_input);
  auto http = run_ok({"rain", "--server", "vllm", "--base-url", server.base_url(), "--compare", "--quiet", input.string()});
  auto sim = run_ok({"rain", "--backend", "simulated", "--compare", "--quiet", input.string()});
  check_rain_lines(http.out);
  check_rain_lines(sim.out);
  CHECK(comparable_lines(http.out) == comparable_lines(sim.out));
  CHECK(nlohmann::json::parse(lines_of(sim.out)[0])["backend"] == "simulated");
  CHECK_FALSE(nlohmann::json::parse(lines_of(http.out)[0]).contains("backend"));
  // Every RAIN request is one HTTP request (n > 1 sent natively, nothing retried or emulated).
  CHECK(server.requests("POST /v1/completions") == rain_completions);
  CHECK(server.repeated("POST /v1/completions") == 0);
  CHECK(server.errors().empty());
  // vLLM names top-logprob alternatives by text, so RAIN works on token texts there: every prompt
  // is raw text. The self-evaluation asks its A/B question in both option orders, 2 x (4 + 5 + 5)
  // questions, and the CLI's wrapped backend sends each pair as ONE request carrying both.
  int questions = 0, lists = 0;
  for (const auto& b : server.bodies("POST /v1/completions")) {
    const auto j = nlohmann::json::parse(b);
    if (j["prompt"].is_array()) {
      ++lists;
      REQUIRE(j["prompt"].size() == 2);
      for (const auto& p : j["prompt"]) {
        REQUIRE(p.is_string());
        questions += p.get<std::string>().find("Options: (A) ") != std::string::npos ? 1 : 0;
      }
      continue;
    }
    REQUIRE(j["prompt"].is_string());
    CHECK(j["prompt"].get<std::string>().find("Options: (A) ") == std::string::npos);
  }
  CHECK(questions == 2 * rain_evaluations);
  CHECK(lists == rain_evaluations);
  CHECK(server.requests("POST /v1/completions") == rain_requests_one_prompt_each + 3 - rain_evaluations);
}

TEST_CASE("rain over HTTP prints the same lines at --concurrency 1 and 8" * doctest::test_suite("cli")) {
  sim_openai_server server(cli::simulated_rain_model());
  const auto input = write_file("alg-rain-conc-in", rain_input);
  const std::vector<std::string> args = {"rain", "--server", "vllm", "--base-url", server.base_url(), "--compare", "--quiet", input.string()};
  auto one = run_ok(with(args, {"--concurrency", "1"}));
  CHECK(server.requests("POST /v1/completions") == rain_completions);
  auto eight = run_ok(with(args, {"--concurrency", "8"}));
  CHECK(server.requests("POST /v1/completions") == 2 * rain_completions);
  check_rain_lines(one.out);
  CHECK(comparable_lines(one.out) == comparable_lines(eight.out));
}

TEST_CASE("rain over HTTP and in process agree for other seeds too" * doctest::test_suite("cli")) {
  // RAIN masks its sampling seeds to 31 bits itself (server_safe_seed), so the HTTP client's mask
  // changes nothing and both paths sample the same candidates.
  sim_openai_server server(cli::simulated_rain_model());
  const auto input = write_file("alg-rain-seed-in", rain_input);
  for (const char* seed : {"7", "123456789012"}) {
    CAPTURE(seed);
    auto http = run_ok({"rain", "--seed", seed, "--server", "vllm", "--base-url", server.base_url(), "--quiet", input.string()});
    auto sim = run_ok({"rain", "--seed", seed, "--backend", "simulated", "--quiet", input.string()});
    CHECK(comparable_lines(http.out) == comparable_lines(sim.out));
    CHECK(lines_of(http.out).size() == 3);
  }
}

TEST_CASE("rain stopped by a call budget exits 4; the resumed run completes identically without repeating a request" * doctest::test_suite("cli")) {
  sim_openai_server server(cli::simulated_rain_model());
  const auto dir = fresh_dir("alg-rain-budget");
  const auto input = write_file("alg-rain-budget-in", rain_input);
  const auto cache = (dir / "cache.jsonl").string(), out = (dir / "out.jsonl").string();
  const std::vector<std::string> args = {"rain", "--server", "vllm", "--base-url", server.base_url(), "--compare", "--concurrency", "1",
                                         "--cache", cache, "--out", out, "--quiet", input.string()};
  // A call is one prompt, whether or not it shares a request: the first prompt costs 24 + 1 calls
  // (in 20 + 1 requests); 30 stops the second prompt's search.
  auto first = run(with(args, {"--max-calls", "30"}));
  INFO(first.err);
  CHECK(first.exit_code == 4);
  CHECK(first.err.find("the call budget of 30 calls is used up") != std::string::npos);
  CHECK(first.err.find("rerun the same command with the same --cache to resume") != std::string::npos);
  // 30 calls in 25 requests: the budget admitted the first option order of the last evaluation and
  // refused the second, so that question went out alone.
  CHECK(server.requests("POST /v1/completions") == 25);
  const auto last = nlohmann::json::parse(server.bodies("POST /v1/completions").back());
  REQUIRE(last["prompt"].is_string());
  CHECK(last["prompt"].get<std::string>().find("Options: (A) harmless") != std::string::npos);
  const auto partial = lines_of(slurp(out));
  REQUIRE(partial.size() == 1);
  CHECK(nlohmann::json::parse(partial[0])["response"] == rain_expected[0].response);

  auto second = run(args);
  INFO(second.err);
  CHECK(second.exit_code == 0);
  // The 30 calls came from the cache; the other order of the split evaluation is one more request
  // than in an uninterrupted run (it goes out alone), so that line counts one request more.
  CHECK(server.requests("POST /v1/completions") == rain_completions + 1);
  CHECK(server.repeated("POST /v1/completions") == 0);
  auto full = lines_of(slurp(out));
  REQUIRE(full.size() == 3);
  auto steal = nlohmann::json::parse(full[1]);
  CHECK(steal["stats"]["requests"] == rain_expected[1].requests + 1);
  steal["stats"]["requests"] = rain_expected[1].requests;
  full[1] = steal.dump();
  check_rain_lines(full[0] + "\n" + full[1] + "\n" + full[2] + "\n");
  CHECK(comparable(full[0]) == comparable(partial[0]));
}

TEST_CASE("rain exits 3 naming the capability a server preset lacks" * doctest::test_suite("cli")) {
  sim_openai_server server(cli::simulated_rain_model());
  const auto input = write_file("alg-rain-caps-in", rain_input);
  // OpenAI's chat models cannot continue a raw prefix (and take no token ids): refused up front.
  auto openai = run({"rain", "--server", "openai", "--base-url", server.base_url(), "--quiet", input.string()});
  CHECK(openai.exit_code == 3);
  CHECK(openai.err.find("selfalign rain: unsupported: rain::decode needs raw-text prompts (continuing a prefix without a chat "
                        "template); top-k sampling, which the 'openai' backend does not provide") != std::string::npos);
  // TGI returns at most 5 alternatives per token; RAIN needs 10.
  auto tgi = run({"rain", "--server", "tgi", "--base-url", server.base_url(), "--quiet", input.string()});
  CHECK(tgi.exit_code == 3);
  CHECK(tgi.err.find("rain::decode needs top-10 logprobs per token (the backend returns at most 5) on the 'tgi' backend") != std::string::npos);
  CHECK(server.requests("POST /v1/completions") == 0);
  // Ollama's OpenAI layer has no top-k sampling, which RAIN's candidate sets need: refused up
  // front. (Its missing include_stop no longer matters: rollouts then cut client-side.)
  auto ollama = run({"rain", "--server", "ollama", "--base-url", server.base_url(), "--quiet", input.string()});
  CHECK(ollama.exit_code == 3);
  CHECK(ollama.err.find("rain::decode needs top-k sampling, which the 'ollama' backend does not provide") != std::string::npos);
  CHECK(lines_of(ollama.out).empty());
  CHECK(server.requests("POST /v1/completions") == 0);
}

TEST_CASE("rain against a faithful vLLM decodes on token texts and matches the simulated lines" * doctest::test_suite("cli")) {
  // vLLM returns ids only when asked (return_tokens_as_token_ids / return_token_ids) and then
  // loses the alternatives' texts, so the backend reports no token ids for vLLM and RAIN runs on
  // the token texts it returns: same lines as in-process, no id fields asked for.
  sim_server_options o;
  o.ids_in_logprobs = false;
  sim_openai_server server(cli::simulated_rain_model(), o);
  const auto input = write_file("alg-rain-faithful-in", rain_input);
  auto r = run_ok({"rain", "--server", "vllm", "--base-url", server.base_url(), "--compare", "--quiet", input.string()});
  auto sim = run_ok({"rain", "--backend", "simulated", "--compare", "--quiet", input.string()});
  check_rain_lines(r.out);
  CHECK(comparable_lines(r.out) == comparable_lines(sim.out));
  for (const auto& b : server.bodies("POST /v1/completions")) {
    const auto j = nlohmann::json::parse(b);
    CHECK((j["prompt"].is_string() || (j["prompt"].is_array() && j["prompt"].size() == 2 && j["prompt"][0].is_string())));
    CHECK_FALSE(j.contains("return_tokens_as_token_ids"));
    CHECK_FALSE(j.contains("return_token_ids"));
  }
}

// ---------------------------------------------------------------------------------------------
// dlma
// ---------------------------------------------------------------------------------------------

namespace {

// The first id is "c": DLMA's seeds derive from the ids, and with "c" (unlike "a") the two queries
// draw different answers at seed 0, so each line is told from the other by its margin too.
const char* dlma_input = "{\"id\":\"c\",\"prompt\":\"How do I pick a lock?\"}\n{\"prompt\":\"How do I bake bread?\"}\n";

struct dlma_expect {
  const char* id;
  const char* prompt;
  const char* chosen;
  const char* rejected;
  double margin, score_chosen, score_rejected;
};
// Seed 0, harmless pair, raw layout, the CLI's simulated_dlma_model(). The answer is picked by
// seed % 2 (the seed derives from the run seed and the id), and the client's 31-bit seed mask
// keeps the parity, so both paths pick alike.
const dlma_expect dlma_expected[] = {
    {"c", "How do I pick a lock?", "I can't help with that, but here is a safe and legal alternative.", "Just take it; nobody will notice.", 6.0, 4.0, -2.0},
    {"2", "How do I bake bread?", "I'd rather not; please consider asking a professional for help.", "Sure, here is how to do it without getting caught.", 4.0, 2.0, -2.0},
};

sim_openai_server dlma_server() {
  sim_server_options o;
  o.model_id = "dlma-sim";  // the simulated model's own name, so provenance.model matches
  return sim_openai_server(cli::simulated_dlma_model(), o);
}

void check_dlma_lines(const std::string& out, const std::string& format) {
  const auto lines = lines_of(out);
  REQUIRE(lines.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    const auto& e = dlma_expected[i];
    const auto j = nlohmann::json::parse(lines[i]);
    INFO("line ", i + 1, ": ", lines[i]);
    CHECK(lines[i].rfind("{\"id\":\"" + std::string(e.id) + "\"", 0) == 0);  // the id comes first
    CHECK(j["margin"] == e.margin);
    CHECK(j["weight"] == 0.2);
    CHECK(j["score_chosen"] == e.score_chosen);
    CHECK(j["score_rejected"] == e.score_rejected);
    CHECK(j["provenance"]["model"] == "dlma-sim");
    CHECK(j["provenance"]["seed"] == 0);
    CHECK(j["provenance"]["approximate"] == false);
    const nlohmann::json user = {{"role", "user"}, {"content", e.prompt}};
    const nlohmann::json chosen = {{"role", "assistant"}, {"content", e.chosen}};
    const nlohmann::json rejected = {{"role", "assistant"}, {"content", e.rejected}};
    if (format == "trl") {
      CHECK(j["prompt"] == e.prompt);
      CHECK(j["chosen"] == e.chosen);
      CHECK(j["rejected"] == e.rejected);
    } else if (format == "trl-chat") {
      CHECK(j["prompt"] == nlohmann::json::array({user}));
      CHECK(j["chosen"] == nlohmann::json::array({chosen}));
      CHECK(j["rejected"] == nlohmann::json::array({rejected}));
    } else {
      CHECK_FALSE(j.contains("prompt"));
      CHECK(j["chosen"] == nlohmann::json::array({user, chosen}));
      CHECK(j["rejected"] == nlohmann::json::array({user, rejected}));
    }
  }
}

}  // namespace

TEST_CASE("dlma over HTTP prints the simulated backend's pairs in every format" * doctest::test_suite("cli")) {
  auto server = dlma_server();
  const auto input = write_file("alg-dlma-in", dlma_input);
  for (const std::string format : {"trl", "trl-chat", "openrlhf"}) {
    CAPTURE(format);
    server.clear();
    auto http = run_ok({"dlma", "--format", format, "--server", "vllm", "--base-url", server.base_url(), "--quiet", input.string()});
    auto sim = run_ok({"dlma", "--format", format, "--backend", "simulated", "--quiet", input.string()});
    check_dlma_lines(http.out, format);
    check_dlma_lines(sim.out, format);
    CHECK(comparable_lines(http.out) == comparable_lines(sim.out));
    // Per query: two answers, then both answers scored under both prompts (prompt_logprobs).
    CHECK(server.requests("POST /v1/completions") == 12);
    int scorings = 0;
    for (const auto& b : server.bodies("POST /v1/completions")) {
      const auto j = nlohmann::json::parse(b);
      if (!j.contains("prompt_logprobs")) continue;
      ++scorings;
      CHECK(j["prompt"].is_array());
      CHECK(j["max_tokens"] == 1);
      CHECK(j["temperature"] == 0);
    }
    CHECK(scorings == 8);
    CHECK(server.repeated("POST /v1/completions") == 0);
    CHECK(server.errors().empty());
  }
}

TEST_CASE("dlma's statistics file agrees between the two paths and the runs agree at --concurrency 1 and 8" * doctest::test_suite("cli")) {
  auto server = dlma_server();
  const auto dir = fresh_dir("alg-dlma-stats");
  const auto input = write_file("alg-dlma-stats-in", dlma_input);
  const auto http_stats = dir / "http.json", sim_stats = dir / "sim.json";
  auto one = run_ok({"dlma", "--server", "vllm", "--base-url", server.base_url(), "--concurrency", "1", "--stats", http_stats.string(),
                     "--quiet", input.string()});
  auto eight = run_ok({"dlma", "--server", "vllm", "--base-url", server.base_url(), "--concurrency", "8", "--quiet", input.string()});
  auto sim = run_ok({"dlma", "--backend", "simulated", "--stats", sim_stats.string(), "--quiet", input.string()});
  check_dlma_lines(one.out, "trl");
  CHECK(one.out == eight.out);
  CHECK(comparable_lines(one.out) == comparable_lines(sim.out));
  auto h = nlohmann::json::parse(slurp(http_stats)), s = nlohmann::json::parse(slurp(sim_stats));
  CHECK(h["pairs"] == 2);
  CHECK(h["stop_reason"] == "completed");
  CHECK(h["margins"]["mean"] == 5.0);
  CHECK(h["margins"]["min"] == 4.0);
  CHECK(h["margins"]["max"] == 6.0);
  CHECK(h["margins"]["negative"] == 0);
  CHECK(h["margins"] == s["margins"]);
  CHECK(h["usage"]["calls"] == 12);
  CHECK(s["usage"]["calls"] == 12);
  CHECK(h["usage"]["backend"] == "http");
  CHECK(s["usage"]["backend"] == "simulated");
}

TEST_CASE("dlma's chat layout over HTTP renders the prompt through /tokenize and agrees with the simulated backend" * doctest::test_suite("cli")) {
  auto server = dlma_server();
  const auto input = write_file("alg-dlma-chat-in", dlma_input);
  auto http = run_ok({"dlma", "--layout", "chat", "--server", "vllm", "--base-url", server.base_url(), "--quiet", input.string()});
  auto sim = run_ok({"dlma", "--layout", "chat", "--backend", "simulated", "--quiet", input.string()});
  CHECK(comparable_lines(http.out) == comparable_lines(sim.out));
  // The simulated model answers the chat layout's system prompts as it answers the raw tags, with
  // the same words favoured: the same pairs and margins as the raw layout.
  check_dlma_lines(http.out, "trl");
  // Answers are chats; each of the 8 scorings renders its chat prompt by POST /tokenize with
  // messages (the chat template is the server's) and the prompt with the answer as a continued
  // assistant message (joint tokenization: the answer is never tokenized alone), then scores ids.
  CHECK(server.requests("POST /v1/chat/completions") == 4);
  int chat_tokenize = 0, continued = 0;
  for (const auto& body : server.bodies("POST /tokenize")) {
    const auto b = nlohmann::json::parse(body);
    chat_tokenize += b.contains("messages") ? 1 : 0;
    continued += b.value("continue_final_message", false) ? 1 : 0;
  }
  CHECK(chat_tokenize == 16);
  CHECK(continued == 8);
  CHECK(server.requests("POST /v1/completions") == 8);
}

TEST_CASE("dlma's helpful pair over HTTP agrees with the simulated backend, in both layouts" * doctest::test_suite("cli")) {
  auto server = dlma_server();
  const auto input = write_file("alg-dlma-helpful-in", dlma_input);
  for (const std::string layout : {"raw", "chat"}) {
    CAPTURE(layout);
    auto http = run_ok({"dlma", "--pair", "helpful", "--layout", layout, "--server", "vllm", "--base-url", server.base_url(), "--quiet",
                        input.string()});
    auto sim = run_ok({"dlma", "--pair", "helpful", "--layout", layout, "--backend", "simulated", "--quiet", input.string()});
    CHECK(comparable_lines(http.out) == comparable_lines(sim.out));
    const auto lines = lines_of(http.out);
    REQUIRE(lines.size() == 2);
    for (const auto& l : lines) {
      const auto j = nlohmann::json::parse(l);
      // Four favoured pieces in the chosen answer under x+ (clear, step, step, example), two in the
      // rejected one under x- (Figure, yourself), each worth 1 nat.
      CHECK(j["chosen"] == "Here is a clear, step by step answer with an example.");
      CHECK(j["rejected"] == "Figure it out yourself.");
      CHECK(j["score_chosen"] == 4.0);
      CHECK(j["score_rejected"] == -2.0);
      CHECK(j["margin"] == 6.0);
      CHECK(j["provenance"]["prompt_pair"] == "helpful");
    }
  }
}

TEST_CASE("dlma over HTTP and in process agree for another seed" * doctest::test_suite("cli")) {
  // The simulated model picks an answer by seed % 2; the client's 31-bit seed mask keeps the
  // parity, so the paths agree (a model that read all 64 bits of the seed would not).
  auto server = dlma_server();
  const auto input = write_file("alg-dlma-seed-in", dlma_input);
  auto http = run_ok({"dlma", "--seed", "5", "--server", "vllm", "--base-url", server.base_url(), "--quiet", input.string()});
  auto sim = run_ok({"dlma", "--seed", "5", "--backend", "simulated", "--quiet", input.string()});
  auto seed0 = run_ok({"dlma", "--backend", "simulated", "--quiet", input.string()});
  CHECK(comparable_lines(http.out) == comparable_lines(sim.out));
  CHECK(comparable_lines(sim.out) != comparable_lines(seed0.out));  // the seed matters
  CHECK(nlohmann::json::parse(lines_of(http.out)[0])["provenance"]["seed"] == 5);
}

TEST_CASE("dlma stopped by a call budget exits 4; the resumed run completes identically without repeating a request" * doctest::test_suite("cli")) {
  auto server = dlma_server();
  const auto dir = fresh_dir("alg-dlma-budget");
  const auto input = write_file("alg-dlma-budget-in", dlma_input);
  const auto cache = (dir / "cache.jsonl").string(), out = (dir / "out.jsonl").string();
  const std::vector<std::string> args = {"dlma", "--server", "vllm", "--base-url", server.base_url(), "--concurrency", "1",
                                         "--cache", cache, "--out", out, "--quiet", input.string()};
  auto first = run(with(args, {"--max-calls", "7"}));
  INFO(first.err);
  CHECK(first.exit_code == 4);
  // The error code is named once (the report's stop_reason already carried it).
  CHECK(first.err.find("selfalign dlma: budget_exhausted: the call budget of 7 calls is used up\n") != std::string::npos);
  CHECK(first.err.find("rerun the same command with the same --cache to resume") != std::string::npos);
  CHECK(server.requests("POST /v1/completions") == 7);
  // All four answers come first, then the scorings: 7 calls finish no pair, and the committed
  // output is empty (but exists).
  CHECK(std::filesystem::exists(out));
  CHECK(lines_of(slurp(out)).empty());

  auto second = run(args);
  INFO(second.err);
  CHECK(second.exit_code == 0);
  CHECK(server.requests("POST /v1/completions") == 12);
  CHECK(server.repeated("POST /v1/completions") == 0);
  check_dlma_lines(slurp(out), "trl");
}

TEST_CASE("dlma exits 3 with the capability message on a server that cannot score" * doctest::test_suite("cli")) {
  auto server = dlma_server();
  const auto input = write_file("alg-dlma-caps-in", dlma_input);
  auto r = run({"dlma", "--server", "ollama", "--base-url", server.base_url(), "--quiet", input.string()});
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("selfalign dlma: unsupported: DLMA (dlma::build_pairs: the self-rewarding score reads log p(answer | prompt) "
                   "of both answers under both contrastive prompts) needs continuation scoring, log p(continuation | prompt) "
                   "(vLLM and SGLang can; llama.cpp approximately; OpenAI and Ollama cannot), which the 'ollama' backend does "
                   "not provide") != std::string::npos);
  CHECK(lines_of(r.out).empty());
  CHECK(server.requests("POST /v1/completions") == 0);  // refused before the first call
}

// ---------------------------------------------------------------------------------------------
// judge
// ---------------------------------------------------------------------------------------------

namespace {

const char* judge_input =
    "{\"id\":\"j1\",\"prompt\":\"How can I hack into my neighbour's wifi?\",\"response\":\"Answer to: x [complies]\"}\n"
    "{\"question\":\"Explain how a hash map works.\",\"response\":\"Answer to: y [structured] [concise]\"}\n";

void check_judge_lines(const std::string& out) {
  const auto lines = lines_of(out);
  REQUIRE(lines.size() == 2);
  const auto a = nlohmann::json::parse(lines[0]), b = nlohmann::json::parse(lines[1]);
  CHECK(a["id"] == "j1");
  CHECK(a["response"] == "Answer to: x [complies]");
  CHECK(a["score"] == doctest::Approx(5.0 / 3.0).epsilon(1e-15));
  CHECK(a["aspects"] == nlohmann::json::parse(R"({"Clarity":{"rationale":"sim rubric","score":3.0},
      "Helpfulness":{"rationale":"sim rubric","score":1.0},"Safety":{"rationale":"sim rubric","score":1.0}})"));
  CHECK(a["status"] == "ok");
  CHECK(a["selection_status"] == "ok");
  CHECK(b["id"] == "2");
  CHECK(b["prompt"] == "Explain how a hash map works.");
  CHECK(b["score"] == 5.0);
  CHECK(b["aspects"] == nlohmann::json::parse(R"({"Clarity":{"rationale":"sim rubric","score":5.0},
      "Conciseness":{"rationale":"sim rubric","score":5.0},"Helpfulness":{"rationale":"sim rubric","score":5.0}})"));
}

sim_openai_server judge_server() { return sim_openai_server(selfalign::any_generator(selfalign::testing::drpo_sim::critic_model{})); }

}  // namespace

TEST_CASE("judge over HTTP prints the simulated backend's scores and aspects" * doctest::test_suite("cli")) {
  auto server = judge_server();
  const auto input = write_file("alg-judge-in", judge_input);
  // --server auto: the sim server lists its model as owned by vllm, which the probe recognises.
  auto http = run_ok({"judge", "--base-url", server.base_url(), "--quiet", input.string()});
  auto sim = run_ok({"judge", "--backend", "simulated", "--quiet", input.string()});
  check_judge_lines(http.out);
  check_judge_lines(sim.out);
  CHECK(comparable_lines(http.out) == comparable_lines(sim.out));
  // One selection and one scoring call per input, as chats.
  CHECK(server.requests("POST /v1/chat/completions") == 4);
  CHECK(server.requests("POST /v1/completions") == 0);
  CHECK(server.repeated("POST /v1/chat/completions") == 0);
  for (const auto& b : server.bodies("POST /v1/chat/completions")) {
    const auto j = nlohmann::json::parse(b);
    CHECK(j["model"] == "sim-model");
    CHECK(j["temperature"] == 0);
    CHECK(j["seed"].get<std::uint64_t>() <= 0x7fffffffULL);  // 31-bit seeds on the wire
  }
}

TEST_CASE("judge over HTTP prints the same lines at --concurrency 1 and 8" * doctest::test_suite("cli")) {
  auto server = judge_server();
  const auto input = write_file("alg-judge-conc-in", judge_input);
  auto one = run_ok({"judge", "--server", "vllm", "--base-url", server.base_url(), "--concurrency", "1", "--quiet", input.string()});
  auto eight = run_ok({"judge", "--server", "vllm", "--base-url", server.base_url(), "--concurrency", "8", "--quiet", input.string()});
  check_judge_lines(one.out);
  CHECK(one.out == eight.out);
  CHECK(server.requests("POST /v1/chat/completions") == 8);
}

TEST_CASE("judge stopped by a call budget exits 4; the resumed run completes identically without repeating a request" * doctest::test_suite("cli")) {
  auto server = judge_server();
  const auto dir = fresh_dir("alg-judge-budget");
  const auto input = write_file("alg-judge-budget-in", judge_input);
  const auto cache = (dir / "cache.jsonl").string(), out = (dir / "out.jsonl").string();
  const std::vector<std::string> args = {"judge", "--server", "vllm", "--base-url", server.base_url(), "--concurrency", "1",
                                         "--cache", cache, "--out", out, "--quiet", input.string()};
  // Both selections, then the first scoring; the second scoring is refused.
  auto first = run(with(args, {"--max-calls", "3"}));
  INFO(first.err);
  CHECK(first.exit_code == 4);
  CHECK(server.requests("POST /v1/chat/completions") == 3);
  const auto partial = lines_of(slurp(out));
  REQUIRE(partial.size() == 1);
  CHECK(nlohmann::json::parse(partial[0])["id"] == "j1");

  auto second = run(args);
  INFO(second.err);
  CHECK(second.exit_code == 0);
  CHECK(server.requests("POST /v1/chat/completions") == 4);
  CHECK(server.repeated("POST /v1/chat/completions") == 0);
  const auto full = slurp(out);
  check_judge_lines(full);
  CHECK(lines_of(full)[0] == partial[0]);
}
