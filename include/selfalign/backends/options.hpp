// selfalign: configuration of the OpenAI-compatible backend — server presets, retries, timeouts
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/capabilities.hpp>
#include <selfalign/detail/prologue.hpp>
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
[[nodiscard]] SELFALIGN_DECL result<server_preset> parse_server_preset(std::string_view s);

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
[[nodiscard]] SELFALIGN_DECL server_profile profile_for(server_preset p);

/// The capabilities a profile gives (what capabilities() reports).
[[nodiscard]] SELFALIGN_DECL capabilities capabilities_for(const server_profile& s);

/// Splits a base-URL list: URLs separated by commas (spaces around them ignored, empty entries
/// skipped). The one rule for SELFALIGN_BASE_URL, OPENAI_BASE_URL and the CLI's --base-url.
[[nodiscard]] SELFALIGN_DECL std::vector<std::string> split_base_urls(std::string_view list);

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

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/backends/impl/options.ipp>
#endif
