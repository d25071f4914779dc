// selfalign: configuration of the OpenAI-compatible backend — server presets, retries, timeouts
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/capabilities.hpp>
#include <selfalign/config.hpp>
#include <selfalign/result.hpp>

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE

/// Which server speaks at the base URL; each one differs in the details (reference: docs/backends.md).
enum class server_preset {
  automatic,  ///< probe GET /v1/models (and a few known endpoints) once, then behave as that server
  openai,
  vllm,
  llamacpp,
  ollama,
  sglang,
  tgi,
  generic,  ///< the common subset; nothing server-specific is sent
};

[[nodiscard]] constexpr std::string_view to_string(server_preset p) noexcept {
  switch (p) {
    case server_preset::automatic: return "auto";
    case server_preset::openai: return "openai";
    case server_preset::vllm: return "vllm";
    case server_preset::llamacpp: return "llamacpp";
    case server_preset::ollama: return "ollama";
    case server_preset::sglang: return "sglang";
    case server_preset::tgi: return "tgi";
    case server_preset::generic: return "generic";
  }
  return "generic";
}

/// Parses "auto", "openai", "vllm", "llamacpp" (also "llama.cpp"), "ollama", "sglang", "tgi",
/// "generic"; errc::invalid_argument otherwise.
[[nodiscard]] inline result<server_preset> parse_server_preset(std::string_view s) {
  if (s == "llama.cpp" || s == "llama-server" || s == "llama_cpp") return server_preset::llamacpp;
  if (s == "" || s == "automatic") return server_preset::automatic;
  for (auto p : {server_preset::automatic, server_preset::openai, server_preset::vllm, server_preset::llamacpp,
                 server_preset::ollama, server_preset::sglang, server_preset::tgi, server_preset::generic})
    if (to_string(p) == s) return p;
  return fail(errc::invalid_argument,
              fmt::format("unknown server preset '{}' (expected auto, openai, vllm, llamacpp, ollama, sglang, tgi or generic)", s));
}

/// How failed calls are retried. Follows the official OpenAI SDK: 408, 409, 429, 5xx and connection
/// errors are retried with exponential backoff and jitter; a server-given Retry-After wins.
struct retry_policy {
  int max_retries = 2;                             ///< retries after the first attempt
  std::chrono::milliseconds base_backoff{500};     ///< first wait; doubles each retry
  std::chrono::milliseconds max_backoff{8000};     ///< cap of the exponential wait
  double jitter = 0.25;                            ///< up to this fraction is randomly taken off each wait
  std::chrono::milliseconds max_retry_after{120000};  ///< a longer Retry-After means "do not retry"
  bool retry_stale_connection = true;  ///< a reused keep-alive socket that fails before any byte: retry once, free
};

/// What a server preset implies: the wire quirks and the capabilities reported.
struct server_profile {
  server_preset preset = server_preset::generic;
  std::string chat_token_field = "max_tokens";  ///< "max_completion_tokens" on OpenAI
  bool native_n = false;              ///< honours n > 1 (else selfalign sends n parallel requests)
  int max_chat_top_logprobs = 20;
  int max_completion_logprobs = 20;   ///< legacy endpoint's `logprobs` cap (OpenAI: 5; -1: none at all)
  bool top_k = false;                 ///< accepts a `top_k` sampling field
  bool logit_bias = true;
  bool token_id_prompts = false;      ///< /v1/completions accepts token-id prompts
  /// The returned top-logprob alternatives carry token ids. llama.cpp's do; vLLM's legacy shape
  /// keys alternatives by text (return_tokens_as_token_ids trades the texts for ids), so an
  /// algorithm that steps through alternatives by id (RAIN in token mode) cannot run on it.
  bool logprob_token_ids = false;
  bool raw_completions = true;        ///< /v1/completions works for the usual models
  bool tokenize = false;              ///< /tokenize and /detokenize (at the server root)
  bool embeddings = true;
  bool include_stop_field = false;    ///< vLLM's include_stop_str_in_output / SGLang's no_stop_trim
  int max_stop = -1;
  int max_prompts = 1;                ///< prompts one /completions request may carry (-1: no limit)
  enum class scoring_method { none, prompt_logprobs, echo, teacher_forcing } scoring = scoring_method::none;
  /// The samplers this server applies by default when a request omits them (llama.cpp: top_k 40,
  /// top_p 0.95, min_p 0.05, ...; vLLM and SGLang: the model's generation_config.json), each with
  /// the value that turns it off. Every request carries all of them (a field `sampling` sets wins),
  /// so the distribution is exactly the softmax at sampling.temperature with sampling.top_p and
  /// sampling.top_k, on any server configuration. docs/backends.md lists them per server.
  nlohmann::json neutral_samplers = nlohmann::json::object();
  /// The top_k that means "no top-k truncation" here (0 on llama.cpp, -1 on vLLM and SGLang); sent
  /// when sampling.top_k is 0. Unset: top_k is only sent when sampling asks for one.
  std::optional<int> top_k_off;
};

/// The profile of a preset (automatic resolves to generic until probed).
[[nodiscard]] inline server_profile profile_for(server_preset p) {
  server_profile s;
  s.preset = p;
  using sm = server_profile::scoring_method;
  switch (p) {
    case server_preset::openai:
      s.chat_token_field = "max_completion_tokens";
      s.native_n = true;
      s.max_completion_logprobs = 5;
      s.raw_completions = false;  // legacy instruct models only
      s.max_stop = 4;
      break;
    case server_preset::vllm:
      s.native_n = true;
      s.top_k = true;
      s.token_id_prompts = true;
      s.tokenize = true;
      s.include_stop_field = true;
      s.scoring = sm::prompt_logprobs;
      s.max_prompts = -1;
      // vLLM >= 0.8 applies the model's generation_config.json (e.g. top_k, min_p, repetition_penalty).
      s.neutral_samplers = {{"min_p", 0.0}, {"repetition_penalty", 1.0}, {"presence_penalty", 0.0}, {"frequency_penalty", 0.0}};
      s.top_k_off = -1;
      break;
    case server_preset::sglang:
      s.native_n = true;
      s.top_k = true;
      s.token_id_prompts = true;
      s.tokenize = true;
      s.include_stop_field = true;
      s.scoring = sm::echo;
      s.max_prompts = -1;
      s.neutral_samplers = {{"min_p", 0.0}, {"repetition_penalty", 1.0}, {"presence_penalty", 0.0}, {"frequency_penalty", 0.0}};
      s.top_k_off = -1;
      break;
    case server_preset::llamacpp:
      s.top_k = true;  // n is emulated: older builds reject n != 1
      s.token_id_prompts = true;
      s.logprob_token_ids = true;  // n_probs entries carry "id"
      s.tokenize = true;
      s.scoring = sm::teacher_forcing;
      s.max_prompts = -1;  // a list of prompts on /v1/completions: one choice per prompt, by index (0.7.0)
      // Every sampler of llama-server's chain (penalties, dry, top_n_sigma, top_k, typical, top_p,
      // min_p, xtc, temperature, mirostat), off; the server's own defaults are top_k 40, top_p 0.95,
      // min_p 0.05, and `llama-server --repeat-penalty ...` etc. can change the rest.
      s.neutral_samplers = {{"min_p", 0.0},          {"typical_p", 1.0},        {"top_n_sigma", -1.0},
                            {"xtc_probability", 0.0}, {"repeat_penalty", 1.0},   {"presence_penalty", 0.0},
                            {"frequency_penalty", 0.0}, {"dry_multiplier", 0.0}, {"mirostat", 0},
                            {"dynatemp_range", 0.0}};
      s.top_k_off = 0;
      break;
    case server_preset::ollama:
      s.logit_bias = false;  // silently ignored by Ollama
      // Ollama's /v1 endpoints take only these two of its samplers; the model's top_k, min_p and
      // repeat_penalty (Modelfile) still apply (docs/backends.md).
      s.neutral_samplers = {{"presence_penalty", 0.0}, {"frequency_penalty", 0.0}};
      break;
    case server_preset::tgi:
      s.max_chat_top_logprobs = 5;
      s.max_completion_logprobs = -1;  // no logprobs field on TGI's /v1/completions
      s.embeddings = false;
      s.logit_bias = false;
      break;
    case server_preset::automatic:
    case server_preset::generic:
      s.preset = server_preset::generic;
      break;
  }
  return s;
}

/// The capabilities a profile gives (what capabilities() reports).
[[nodiscard]] inline capabilities capabilities_for(const server_profile& s) {
  capabilities c;
  c.chat = true;
  c.raw_text = s.raw_completions;
  // "token ids" means both directions: prompts in ids and ids back for every alternative. A server
  // that takes id prompts but names alternatives by text still scores exactly (the backend finds
  // the boundary itself), and algorithms work on token texts there.
  c.token_ids = s.token_id_prompts && s.logprob_token_ids;
  c.token_id_prompts = s.token_id_prompts;
  c.max_top_logprobs = s.max_chat_top_logprobs;
  c.native_n = s.native_n;
  c.top_k = s.top_k;
  c.include_stop = s.include_stop_field;
  c.max_stop = s.max_stop;
  c.max_prompts = s.max_prompts;
  c.seed = true;
  c.scoring = s.scoring != server_profile::scoring_method::none;
  c.scoring_exact = s.scoring == server_profile::scoring_method::prompt_logprobs ||
                    s.scoring == server_profile::scoring_method::echo;
  c.tokenize = s.tokenize;
  c.embeddings = s.embeddings;
  c.server = std::string(to_string(s.preset));
  return c;  // context_size: the backend fills it in once the server told it
}

/// Splits a base-URL list: URLs separated by commas (spaces around them ignored, empty entries
/// skipped). The one rule for SELFALIGN_BASE_URL, OPENAI_BASE_URL and the CLI's --base-url.
[[nodiscard]] inline std::vector<std::string> split_base_urls(std::string_view list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t comma = std::min(list.find(',', start), list.size());
    std::string_view one = list.substr(start, comma - start);
    while (!one.empty() && (one.back() == ' ' || one.back() == '\t')) one.remove_suffix(1);
    while (!one.empty() && (one.front() == ' ' || one.front() == '\t')) one.remove_prefix(1);
    if (!one.empty()) out.emplace_back(one);
    start = comma + 1;
  }
  return out;
}

/// Everything the OpenAI-compatible backend needs. Defaults suit a local server.
struct openai_options {
  /// One or more base URLs with their path prefix ("http://127.0.0.1:8000/v1"). Several URLs are
  /// replicas serving the same model: requests go to the one with the fewest in flight. A URL
  /// without a path ("http://127.0.0.1:8080", what llama-server prints at start-up) means its /v1,
  /// where every OpenAI-compatible server answers; a URL with a path is used as it is.
  std::vector<std::string> base_urls{"http://127.0.0.1:8080/v1"};
  std::string model;  ///< used when a request's model is empty
  server_preset preset = server_preset::automatic;
  std::optional<std::string> api_key;          ///< explicit key; wins over api_key_env. Never logged.
  std::string api_key_env = "OPENAI_API_KEY";  ///< environment variable read when api_key is unset ("" = none)
  std::vector<std::pair<std::string, std::string>> headers;  ///< extra headers on every request
  std::size_t max_concurrency = 8;  ///< keep-alive connections (= requests in flight) per base URL
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds read_timeout{600000};  ///< per socket read (a long prefill is one long read)
  std::chrono::milliseconds write_timeout{30000};
  std::chrono::milliseconds deadline{1800000};     ///< whole call, retries and waits included (0: none)
  retry_policy retry;
  nlohmann::json extra_body = nlohmann::json::object();  ///< merged into every JSON request body
  std::string token_limit_field;  ///< override of the chat token-limit field name ("" = preset's)
  /// n_probs per step when scoring by teacher forcing (llama.cpp): a token outside the top n is
  /// bounded (approximate). 0 or less: the whole vocabulary (exact; far more bytes per step).
  int teacher_forcing_top_k = 20;
  /// Tokens per request (prompt + completion) of the served model: 0 = ask the server
  /// (openai_backend::context_size()); -1 = unknown, never cut max_tokens.
  std::int64_t context_size = 0;
  /// The largest answer body read (a stream: all its bytes together). A larger answer is
  /// errc::bad_response, not retried; a larger Content-Length is refused before the body is read.
  std::size_t max_answer_bytes = std::size_t{32} << 20;
  bool verify_tls = true;         ///< verify the server certificate on https:// URLs
  std::string ca_cert_path;       ///< CA bundle file for https:// ("" = system store)

  /// Reads SELFALIGN_BASE_URL (then OPENAI_BASE_URL; default http://127.0.0.1:8080/v1; several
  /// URLs may be separated by commas), SELFALIGN_MODEL and SELFALIGN_SERVER (a preset name).
  [[nodiscard]] static openai_options from_env() {
    openai_options o;
    auto env = [](const char* name) -> std::string {
      const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read once at setup
      return v ? std::string(v) : std::string();
    };
    std::string urls = env("SELFALIGN_BASE_URL");
    if (urls.empty()) urls = env("OPENAI_BASE_URL");
    if (!urls.empty()) {
      o.base_urls = split_base_urls(urls);
      if (o.base_urls.empty()) o.base_urls.emplace_back("http://127.0.0.1:8080/v1");
    }
    o.model = env("SELFALIGN_MODEL");
    if (auto p = parse_server_preset(env("SELFALIGN_SERVER")); p) o.preset = *p;
    return o;
  }
};

SELFALIGN_END_NAMESPACE
