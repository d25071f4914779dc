// Every request carries explicit neutral values for every sampler the server applies by default
// (issue 11, item 1): llama.cpp adds top_k 40, top_p 0.95 and min_p 0.05 to a request that omits
// them; vLLM and SGLang apply the model's generation_config.json. The preset owns the list.
#include "backends/fixture.hpp"

#include <selfalign/backends/openai.hpp>

#include <doctest/doctest.h>

#include <mutex>
#include <string>
#include <vector>

using namespace selfalign;
using nlohmann::json;

namespace {

const char* completion_answer = R"({"id":"c","object":"text_completion","model":"m","choices":[{"index":0,"text":"x","finish_reason":"length"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}})";
const char* chat_answer = R"({"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"x"},"finish_reason":"length"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}})";

/// The sampler fields of the bodies one request per endpoint sends under `preset`.
std::vector<json> bodies_for(server_preset preset, int top_k) {
  fixture::loopback_server srv;
  std::mutex m;
  std::vector<json> seen;
  srv->Post("/v1/completions", [&](const httplib::Request& r, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(m);
    seen.push_back(json::parse(r.body));
    res.set_content(completion_answer, "application/json");
  });
  srv->Post("/v1/chat/completions", [&](const httplib::Request& r, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(m);
    seen.push_back(json::parse(r.body));
    res.set_content(chat_answer, "application/json");
  });
  srv.start();
  openai_options o;
  o.base_urls = {srv.url()};
  o.preset = preset;
  o.model = "m";
  openai_backend llm(o);
  generation_request raw;
  raw.prompt = prompt("Once upon a time");
  raw.sampling.temperature = 1.0;
  raw.sampling.top_k = top_k;
  raw.sampling.max_tokens = 4;
  generation_request chat = raw;
  chat.prompt = prompt(std::vector<message>{{"user", "Hi"}});
  if (preset != server_preset::openai && preset != server_preset::tgi) REQUIRE(llm.generate(raw));
  REQUIRE(llm.generate(chat));
  return seen;
}

json samplers_of(const json& body) {
  json out = json::object();
  for (const char* k : {"temperature", "top_p", "top_k", "min_p", "typical_p", "top_n_sigma", "xtc_probability",
                        "repeat_penalty", "repetition_penalty", "presence_penalty", "frequency_penalty",
                        "dry_multiplier", "mirostat", "dynatemp_range"})
    if (body.contains(k)) out[k] = body[k];
  return out;
}

}  // namespace

TEST_CASE("llama.cpp: every request turns off each default sampler of llama-server's chain" * doctest::test_suite("backends")) {
  const json expected = json::parse(R"({"temperature":1.0,"top_p":1.0,"top_k":0,"min_p":0.0,"typical_p":1.0,"top_n_sigma":-1.0,
    "xtc_probability":0.0,"repeat_penalty":1.0,"presence_penalty":0.0,"frequency_penalty":0.0,"dry_multiplier":0.0,
    "mirostat":0,"dynatemp_range":0.0})");
  auto seen = bodies_for(server_preset::llamacpp, 0);
  REQUIRE(seen.size() == 2);
  for (const auto& b : seen) CHECK(samplers_of(b) == expected);
  // An explicit top_k wins over the neutral value.
  auto with_k = bodies_for(server_preset::llamacpp, 7);
  for (const auto& b : with_k) CHECK(b["top_k"] == 7);
  CHECK(with_k[0]["min_p"] == 0.0);
}

TEST_CASE("vllm and sglang: top_k -1, min_p 0 and neutral penalties override generation_config defaults" * doctest::test_suite("backends")) {
  const json expected = json::parse(R"({"temperature":1.0,"top_p":1.0,"top_k":-1,"min_p":0.0,"repetition_penalty":1.0,
    "presence_penalty":0.0,"frequency_penalty":0.0})");
  for (auto preset : {server_preset::vllm, server_preset::sglang}) {
    auto seen = bodies_for(preset, 0);
    REQUIRE(seen.size() == 2);
    for (const auto& b : seen) CHECK(samplers_of(b) == expected);
  }
}

TEST_CASE("ollama gets neutral penalties; openai, tgi and generic only the standard fields" * doctest::test_suite("backends")) {
  auto ollama = bodies_for(server_preset::ollama, 0);
  for (const auto& b : ollama)
    CHECK(samplers_of(b) == json::parse(R"({"temperature":1.0,"top_p":1.0,"presence_penalty":0.0,"frequency_penalty":0.0})"));
  for (auto preset : {server_preset::openai, server_preset::tgi, server_preset::generic}) {
    auto seen = bodies_for(preset, 0);
    REQUIRE_FALSE(seen.empty());
    for (const auto& b : seen) CHECK(samplers_of(b) == json::parse(R"({"temperature":1.0,"top_p":1.0})"));
  }
}

TEST_CASE("extra_body still overrides a neutral sampler value" * doctest::test_suite("backends")) {
  fixture::loopback_server srv;
  json seen;
  srv->Post("/v1/completions", [&](const httplib::Request& r, httplib::Response& res) {
    seen = json::parse(r.body);
    res.set_content(completion_answer, "application/json");
  });
  srv.start();
  openai_options o;
  o.base_urls = {srv.url()};
  o.preset = server_preset::llamacpp;
  o.model = "m";
  o.extra_body = {{"min_p", 0.1}};
  openai_backend llm(o);
  generation_request r;
  r.prompt = prompt("x");
  REQUIRE(llm.generate(r));
  CHECK(seen["min_p"] == 0.1);
  CHECK(seen["top_k"] == 0);
}
