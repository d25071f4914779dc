// selfalign: what a backend can do, so algorithms fail fast instead of on call 300
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/concepts.hpp>
#include <selfalign/config.hpp>
#include <selfalign/detail/strings.hpp>

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE

/// A backend's abilities. An adapter reports them with a `capabilities()` member; without one,
/// capabilities_of() assumes the documented defaults below.
struct capabilities {
  bool chat = true;              ///< accepts chat-message prompts
  bool raw_text = true;          ///< accepts raw-text prompts (no chat template)
  bool token_ids = false;        ///< accepts token-id prompts and returns token ids
  int max_top_logprobs = 20;     ///< most alternatives per token it returns (0: no logprobs)
  bool native_n = true;          ///< returns n choices from one call (else selfalign emulates)
  bool top_k = true;             ///< honours sampling.top_k
  bool include_stop = true;      ///< honours sampling.include_stop (keeps the matched stop string)
  int max_stop = -1;             ///< most stop strings per request (-1: no limit)
  bool seed = true;              ///< honours sampling.seed
  bool scoring = false;          ///< can score a given continuation (ScoringGenerator works)
  bool scoring_exact = false;    ///< scoring reads every logprob (false: teacher forcing, approximate)
  bool tokenize = false;         ///< has tokenize/detokenize
  bool embeddings = false;       ///< can embed texts
  std::string server;            ///< "vllm", "llamacpp", ... or "" when unknown
  /// Tokens one request may hold, prompt and completion together (llama.cpp: per slot); 0 unknown.
  std::int64_t context_size = 0;

  friend bool operator==(const capabilities&, const capabilities&) = default;
};

namespace detail {
struct capabilities_of_fn {
  template <class T>
  [[nodiscard]] capabilities operator()(T& backend) const {
    if constexpr (requires { { backend.capabilities() } -> std::convertible_to<capabilities>; }) {
      return backend.capabilities();
    } else {
      // Defaults: what the concepts the type models promise.
      capabilities c;
      c.scoring = ScoringGenerator<T>;
      c.scoring_exact = ScoringGenerator<T>;
      c.tokenize = Tokenizer<T>;
      c.embeddings = Embedder<T>;
      return c;
    }
  }
};
}  // namespace detail

/// capabilities_of(backend): the backend's own `capabilities()` when it has one, else defaults.
inline constexpr detail::capabilities_of_fn capabilities_of{};

/// One requirement an algorithm has of a backend, for require_capabilities().
struct capability_need {
  bool chat = false;
  bool raw_text = false;
  bool token_ids = false;
  int top_logprobs = 0;
  bool top_k = false;         ///< top-k sampling
  bool include_stop = false;  ///< keeping the matched stop string in the output
  bool scoring = false;
  bool tokenize = false;
  bool embeddings = false;
};

/// Checks a backend's capabilities against what `who` (e.g. "rain::decode") needs. Returns
/// errc::unsupported with a message that names every missing capability, or success.
[[nodiscard]] inline result<void> require_capabilities(const capabilities& have, const capability_need& need,
                                                       std::string_view who) {
  std::vector<std::string> missing;
  if (need.chat && !have.chat) missing.emplace_back("chat prompts");
  if (need.raw_text && !have.raw_text) missing.emplace_back("raw-text prompts (continuing a prefix without a chat template)");
  if (need.token_ids && !have.token_ids) missing.emplace_back("token-id prompts");
  if (need.top_logprobs > have.max_top_logprobs)
    missing.push_back(fmt::format("top-{} logprobs per token (the backend returns at most {})",
                                  need.top_logprobs, have.max_top_logprobs));
  if (need.top_k && !have.top_k) missing.emplace_back("top-k sampling");
  if (need.include_stop && !have.include_stop) missing.emplace_back("keeping the matched stop string in the output (include_stop)");
  if (need.scoring && !have.scoring)
    missing.emplace_back("continuation scoring, log p(continuation | prompt) (vLLM and SGLang can; llama.cpp approximately; OpenAI and Ollama cannot)");
  if (need.tokenize && !have.tokenize) missing.emplace_back("tokenize/detokenize");
  if (need.embeddings && !have.embeddings) missing.emplace_back("embeddings");
  if (missing.empty()) return {};
  std::string server = have.server.empty() ? std::string("this backend") : fmt::format("the '{}' backend", have.server);
  return fail(errc::unsupported, fmt::format("{} needs {}, which {} does not provide", who,
                                             detail::join(missing, "; "), server));
}

SELFALIGN_END_NAMESPACE
