// selfalign: what a backend can do, so algorithms fail fast instead of on call 300
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/detail/strings.hpp>

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE

/// A backend's abilities. An adapter reports them with a `capabilities()` member (start from
/// `capabilities c;` — the full set below — and switch off what it lacks); an adapter without one
/// is assumed to offer only what its concepts prove: capabilities::plain().
struct capabilities {
  bool chat = true;              ///< accepts chat-message prompts
  bool raw_text = true;          ///< accepts raw-text prompts (no chat template)
  bool token_ids = false;        ///< accepts token-id prompts and returns token ids
  bool token_id_prompts = false; ///< accepts token-id prompts (token_ids implies it): scoring can send exact ids
  int max_top_logprobs = 20;     ///< most alternatives per token it returns (0: no logprobs)
  bool native_n = true;          ///< returns n choices from one call (else selfalign emulates)
  bool top_k = true;             ///< honours sampling.top_k
  bool include_stop = true;      ///< honours sampling.include_stop (keeps the matched stop string)
  int max_stop = -1;             ///< most stop strings per request (-1: no limit)
  /// Prompts one request may carry, for an adapter with a generate_multi member
  /// (MultiPromptGenerator; -1: no limit, 1: one prompt per request, so generate_multi falls back
  /// to separate requests). vLLM, SGLang and llama.cpp take a list of prompts on /v1/completions.
  int max_prompts = -1;
  bool seed = true;              ///< honours sampling.seed
  bool scoring = false;          ///< can score a given continuation (ScoringGenerator works)
  bool scoring_exact = false;    ///< scoring reads every logprob (false: teacher forcing, approximate)
  bool tokenize = false;         ///< has tokenize/detokenize
  bool embeddings = false;       ///< can embed texts
  std::string server;            ///< "vllm", "llamacpp", ... or "" when unknown
  std::string default_model;     ///< the model a request that names none goes to ("" when unknown); part of cache keys
  std::string fixed_request_fields;  ///< JSON of fields the backend adds to every request (e.g. an extra body); part of cache keys
  /// Tokens one request may hold, prompt and completion together (llama.cpp: per slot); 0 unknown.
  std::int64_t context_size = 0;
  /// Calls the adapter accepts at once, from different threads (0: any number). Every executor in
  /// selfalign honours it whatever the configs say; an adapter that does not say gets 1.
  std::size_t max_concurrent_calls = 1;

  /// What an adapter without a capabilities() member is assumed to offer: plain generation (chat
  /// and raw-text prompts, n choices), no logprobs, no top-k, no include_stop, no seed, and one
  /// call at a time.
  [[nodiscard]] static capabilities plain();

  friend bool operator==(const capabilities&, const capabilities&) = default;
};

namespace detail {
template <class T>
concept describes_itself = requires(T& backend) {
  { backend.capabilities() } -> std::convertible_to<capabilities>;
};
template <class T>
concept declares_call_limit = requires(T& backend) {
  { backend.max_concurrent_calls() } -> std::convertible_to<std::size_t>;
};

struct capabilities_of_fn {
  template <class T>
  [[nodiscard]] capabilities operator()(T& backend) const {
    if constexpr (describes_itself<T>) {
      capabilities c = backend.capabilities();
      if constexpr (declares_call_limit<T>) c.max_concurrent_calls = backend.max_concurrent_calls();
      return c;
    } else {
      // Only what the concepts the type models prove.
      capabilities c = capabilities::plain();
      c.scoring = ScoringGenerator<T>;
      c.scoring_exact = ScoringGenerator<T>;
      c.tokenize = Tokenizer<T>;
      c.embeddings = Embedder<T>;
      c.max_prompts = MultiPromptGenerator<T> ? -1 : 1;
      if constexpr (declares_call_limit<T>) c.max_concurrent_calls = backend.max_concurrent_calls();
      return c;
    }
  }
};

/// The C++ name of T as the compiler spells it ("my_llama", "selfalign::observed<my_llama&>"),
/// for messages that must name the adapter at fault.
template <class T>
[[nodiscard]] std::string_view type_name() noexcept {
#if defined(__GNUC__) || defined(__clang__)
  const std::string_view f = __PRETTY_FUNCTION__;  // GCC: "... [with T = X; ...]", Clang: "... [T = X]"
  const auto start = f.find("T = ");
  if (start == std::string_view::npos) return "the adapter";
  const auto end = f.find_first_of(";]", start + 4);
  return f.substr(start + 4, end == std::string_view::npos ? std::string_view::npos : end - start - 4);
#else
  return "the adapter";
#endif
}
}  // namespace detail

/// capabilities_of(backend): the backend's own `capabilities()` when it has one, else
/// capabilities::plain() plus what its concepts prove (scoring, tokenizing, embedding). A
/// `max_concurrent_calls()` member, when present, gives max_concurrent_calls.
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
[[nodiscard]] SELFALIGN_DECL result<void> require_capabilities(const capabilities& have, const capability_need& need,
                                                       std::string_view who);

namespace detail {
/// Names a backend in a capability message: "the 'tgi' backend" when it says which server it is,
/// else its C++ type, with a hint when the type does not describe itself.
template <class B>
[[nodiscard]] std::string backend_name(const capabilities& have) {
  if (!have.server.empty()) return fmt::format("the '{}' backend", have.server);
  if constexpr (requires { typename std::remove_cvref_t<B>::selfalign_forwards_calls; }) return "this backend";
  std::string name(type_name<B>());
  if constexpr (!describes_itself<B>)
    name += " (it has no capabilities() member, so only plain generation is assumed: no logprobs, no top-k, "
            "no include_stop; if it can do more, say so in capabilities() as docs/adapters.md shows)";
  return name;
}
}  // namespace detail

/// As above, for the backend itself: the message names the server, or else the backend's C++ type
/// (and says when only plain generation was assumed because the type has no capabilities()).
template <class B>
  requires(!std::is_same_v<std::remove_cv_t<B>, capabilities>)
[[nodiscard]] result<void> require_capabilities(B& backend, const capability_need& need, std::string_view who) {
  const capabilities have = capabilities_of(backend);
  auto ok = require_capabilities(have, need, who);
  // A server name says more than a C++ type; so does "this backend" more than a type-erasing or
  // forwarding library type (any_generator, a wrapper), which mark themselves as forwarders.
  if (ok || !have.server.empty()) return ok;
  if constexpr (requires { typename std::remove_cvref_t<B>::selfalign_forwards_calls; }) return ok;
  std::string message = ok.error().message;
  const std::string generic = "this backend does not provide";
  if (auto at = message.rfind(generic); at != std::string::npos)
    message.replace(at, generic.size(), detail::backend_name<B>(have) + " does not provide");
  return fail(errc::unsupported, std::move(message));
}

SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/impl/capabilities.ipp>
#endif
