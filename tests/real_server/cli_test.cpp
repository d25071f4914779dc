// Every selfalign command against the real llama-server (tiny LLaMA-2 model: gibberish, near-uniform
// distributions, never JSON). Requests pass through a recording proxy, so each test checks what the
// server received and that the outputs are what it answered; exit codes are the documented ones.
#include "cli/cli_support.hpp"
#include "real_server/proxy.hpp"
#include "real_server/server.hpp"

#include <selfalign/detail/strings.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

using nlohmann::json;

namespace {

std::string write_file(const std::string& name, const std::string& text) {
  auto p = selfalign::test_support::temp_path(name);
  std::ofstream(p) << text;
  return p.string();
}

std::vector<json> jsonl(const std::string& text) {
  std::vector<json> out;
  for (const auto& l : cli_test::lines_of(text)) out.push_back(json::parse(l));
  return out;
}

const char* three_prompts = "{\"prompt\": \"How do I bake bread?\"}\n{\"prompt\": \"Name a color.\"}\n{\"prompt\": \"Say hi.\"}\n";

}  // namespace

TEST_CASE("selfalign models: the server kind, the model, the per-slot context, from the URL llama-server prints") {
  REAL_SERVER_OR_RETURN(s, real_server::config{});
  auto r = cli_test::run({"models", "--base-url", s->root_url()});  // no /v1: what llama-server prints
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = json::parse(r.out);
  CHECK(j["models"] == json::array({real_server::tiny_model()}));
  CHECK(j["capabilities"]["server"] == "llamacpp");
  CHECK(j["capabilities"]["context_size"] == s->ctx_per_slot());
  CHECK(j["capabilities"]["token_ids"] == true);
}

TEST_CASE("selfalign generate: answers are the server's, neutral samplers sent, --base-url a,b reaches both replicas") {
  REAL_SERVER_OR_RETURN(s, real_server::config{});
  real_server::recording_proxy a(s->port()), b(s->port());
  auto in = write_file("rs-generate.jsonl", std::string(three_prompts) + "{\"prompt\": \"Count to three.\"}\n");
  auto r = cli_test::run({"generate", "--base-url", a.url() + "," + b.url(""), "--max-new-tokens", "6", "--concurrency", "2",
                          "--quiet", in});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto lines = jsonl(r.out);
  REQUIRE(lines.size() == 4);
  auto chats = a.on("/v1/chat/completions");
  auto more = b.on("/v1/chat/completions");
  CHECK_FALSE(chats.empty());  // both replicas served (least in flight first)
  CHECK_FALSE(more.empty());
  CHECK(b.on("/chat/completions").empty());  // the path-less URL went to /v1
  chats.insert(chats.end(), more.begin(), more.end());
  REQUIRE(chats.size() == 4);
  for (const auto& line : lines) {
    bool found = false;
    for (const auto& c : chats) {
      const json req = c.request();
      if (req["messages"].back()["content"] != line["prompt"]) continue;
      found = true;
      const json ans = c.response();
      CHECK(line["response"] == ans["choices"][0]["message"]["content"]);
      CHECK(ans["usage"]["completion_tokens"] == 6);  // the tiny model never stops early
      CHECK(req["max_tokens"] == 6);
      CHECK(req["top_k"] == 0);
      CHECK(req["min_p"] == 0.0);
      CHECK(ans["__verbose"]["generation_settings"]["top_k"] == 0);
      CHECK(ans["__verbose"]["generation_settings"]["min_p"].get<double>() == 0.0);
    }
    CHECK(found);
  }
}

TEST_CASE("selfalign judge: the tiny model never answers in JSON; the item is recorded as failed, the run succeeds") {
  REAL_SERVER_OR_RETURN(s, real_server::config{});
  real_server::recording_proxy proxy(s->port());
  auto in = write_file("rs-judge.jsonl", "{\"prompt\": \"Say hi.\", \"response\": \"Hi!\"}\n");
  auto r = cli_test::run({"judge", "--base-url", proxy.url(), "--quiet", "--parse-retries", "1", in});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto lines = jsonl(r.out);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["status"] == "failed");
  CHECK(lines[0]["score"].is_null());
  CHECK(lines[0]["response"] == "Hi!");
  const std::string error = lines[0]["error"].get<std::string>();
  CHECK(error.rfind("no readable JSON object in the model output: \"", 0) == 0);
  // The quoted output is the start of what the server answered to the last judge call.
  auto chats = proxy.on("/v1/chat/completions");
  REQUIRE_FALSE(chats.empty());
  const std::string answered = chats.back().response()["choices"][0]["message"]["content"].get<std::string>();
  const std::string quoted = error.substr(std::string("no readable JSON object in the model output: \"").size(), 15);
  CHECK(answered.find(quoted) != std::string::npos);
}

TEST_CASE("selfalign drpo under a call budget: exit 4 after exactly the budget; a rerun resumes from the cache") {
  REAL_SERVER_OR_RETURN(s, real_server::config{});
  real_server::recording_proxy proxy(s->port());
  auto in = write_file("rs-drpo.jsonl", "{\"prompt\": \"Say hi.\"}\n{\"prompt\": \"Name a color.\"}\n");
  auto cache = selfalign::test_support::temp_path("rs-drpo-cache.jsonl").string();
  auto out = selfalign::test_support::temp_path("rs-drpo-out.json").string();
  const std::vector<std::string> args = {"drpo", "--base-url", proxy.url(), "--quiet", "--max-calls", "2", "--depth", "2",
                                         "--beam-width", "1", "--actions", "1", "--icl-rounds", "1", "--max-tokens", "16",
                                         "--judge-max-tokens", "16", "--optimizer-max-tokens", "16", "--cache", cache,
                                         "--out", out, in};
  auto r = cli_test::run(args);
  INFO(r.err);
  CHECK(r.exit_code == 4);
  CHECK(r.err.find("budget_exhausted: the call budget of 2 calls is used up") != std::string::npos);
  auto first = proxy.on("/v1/chat/completions");
  CHECK(first.size() == 2);
  // The same command again: the two answered calls come from the cache, two new ones are made.
  proxy.clear();
  auto again = cli_test::run(args);
  INFO(again.err);
  CHECK(again.exit_code == 4);
  auto second = proxy.on("/v1/chat/completions");
  CHECK(second.size() == 2);
  for (const auto& a : first)
    for (const auto& b : second) CHECK(a.body != b.body);  // no request repeated
}

TEST_CASE("selfalign dlma: pairs from the server's answers, scored by the server") {
  REAL_SERVER_OR_RETURN(s, real_server::config{});
  real_server::recording_proxy proxy(s->port());
  auto in = write_file("rs-dlma.jsonl", "{\"prompt\": \"Say hi.\"}\n");
  auto r = cli_test::run({"dlma", "--base-url", proxy.url(), "--quiet", "--max-new-tokens", "4", in});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto lines = jsonl(r.out);
  REQUIRE(lines.size() == 1);
  // Both answers are texts the server generated, without their surrounding white space (dlma's
  // default strip_answers).
  std::vector<std::string> generated;
  for (const auto& c : proxy.on("/v1/completions")) {
    const json ans = c.response();
    if (!ans.contains("choices")) continue;
    generated.emplace_back(selfalign::detail::trim(ans["choices"][0]["text"].get<std::string>()));
  }
  INFO("generated: " << json(generated).dump());
  INFO("pair: " << lines[0].dump());
  REQUIRE(generated.size() == 2);
  auto is_generated = [&](const json& v) {
    for (const auto& g : generated)
      if (v.is_string() && v.get<std::string>() == g) return true;
    return false;
  };
  CHECK(is_generated(lines[0]["chosen"]));
  CHECK(is_generated(lines[0]["rejected"]));
  CHECK_FALSE(proxy.on("/completion").empty());  // scoring by teacher forcing on the native endpoint
}

TEST_CASE("selfalign rain --embedder http on a server without embeddings fails at once, before decoding") {
  REAL_SERVER_OR_RETURN(s, real_server::config{});
  real_server::recording_proxy proxy(s->port());
  auto in = write_file("rs-rain-embed.jsonl", "{\"prompt\": \"Say hi.\"}\n");
  auto r = cli_test::run({"rain", "--base-url", proxy.url(), "--quiet", "--embedder", "http", "--max-new-tokens", "4", in});
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("--embedder http: the server at " + proxy.url() + " cannot embed (unsupported (HTTP 501): This server does not "
                   "support embeddings. Start it with `--embeddings`); start llama-server with --embeddings --pooling mean, "
                   "or point --embedder-base-url at a server that serves /v1/embeddings") != std::string::npos);
  CHECK(proxy.on("/v1/embeddings").size() == 1);  // probed once, not retried
  CHECK(proxy.on("/v1/completions").empty());     // nothing decoded
}

TEST_CASE("selfalign rain --embedder-base-url: a second server with --embeddings --pooling mean is probed before decoding") {
  REAL_SERVER_OR_RETURN(s, real_server::config{});
  real_server::config ecfg;
  ecfg.extra = {"--embeddings", "--pooling", "mean"};
  REAL_SERVER_OR_RETURN(e, ecfg);
  real_server::recording_proxy gen(s->port()), emb(e->port());
  auto in = write_file("rs-rain.jsonl", "{\"prompt\": \"Say hi.\"}\n");
  auto r = cli_test::run({"rain", "--base-url", gen.url(), "--embedder", "http", "--embedder-base-url", emb.url(), "--quiet",
                          "--max-new-tokens", "4", "--min-iterations", "1", "--max-iterations", "2", in});
  INFO(r.out);
  INFO(r.err);
  auto probes = emb.on("/v1/embeddings");
  REQUIRE_FALSE(probes.empty());
  CHECK(probes.front().request()["input"] == json::array({"embedding probe"}));
  CHECK(probes.front().status == 200);
  CHECK(gen.on("/v1/embeddings").empty());  // only the embedder server embeds
  CHECK(emb.on("/v1/completions").empty());
  CHECK_FALSE(gen.on("/v1/completions").empty());  // decoding went to the generating server
}
