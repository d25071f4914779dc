// selfalign: the OpenAI-compatible wire format — request bodies per server preset and tolerant
// parsers for every response shape the servers send (no sockets)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/backends/detail/errors.hpp>
#include <selfalign/backends/options.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/json_read.hpp>
#include <selfalign/result.hpp>
#include <selfalign/seed.hpp>
#include <selfalign/types.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE

/// One piece of a streamed answer, handed to the streaming callback.
struct stream_chunk {
  std::size_t index = 0;              ///< which choice (n > 1 streams interleave)
  std::string text;                   ///< the new text of that choice
  std::vector<token_logprob> tokens;  ///< logprobs of the new tokens, when requested
  std::string finish_reason;          ///< set on the choice's last chunk
};

/// A model the server lists at GET /v1/models.
struct model_info {
  std::string id;
  std::string owned_by;
  std::int64_t max_model_len = 0;  ///< vLLM and SGLang report it; 0 when unknown
};

namespace detail {

using json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------------------------

/// Merges `extra` into `body`: objects merge recursively, other values replace.
SELFALIGN_DECL void merge_extra(json& body, const json& extra);

/// Rejects what the server would silently ignore or refuse, so no answer is quietly wrong.
[[nodiscard]] SELFALIGN_DECL result<void> check_sampling(const server_profile& p, const sampling& s, bool chat);

SELFALIGN_DECL void put_sampling(json& body, const server_profile& p, const sampling& s, std::string_view token_field,
                         std::optional<std::uint64_t> seed, int n);

/// Asks for the generated token ids (sampling::return_token_ids). vLLM: `return_token_ids` (newer
/// versions add `token_ids` to each choice) and, when no logprobs were asked, `logprobs` 0 with
/// `return_tokens_as_token_ids` (older versions: the ids come spelled "token_id:N"). llama.cpp:
/// logprobs of 1 alternative, whose entries carry `id`. Others: nothing (no ids come back).
SELFALIGN_DECL void put_token_id_request(json& body, const server_profile& p, const sampling& s, bool chat);

/// Whether completion_body asked the server for more alternatives than the caller wanted (llama.cpp
/// and logprobs 0), so that the answer must be cut back with keep_alternatives.
[[nodiscard]] SELFALIGN_DECL bool asked_more_alternatives(const server_profile& p, const sampling& s);

/// Cuts every token's alternatives to `k` (k < 0: leaves them).
SELFALIGN_DECL void keep_alternatives(generation& g, int k);

/// The body of POST /chat/completions.
[[nodiscard]] SELFALIGN_DECL json chat_body(const server_profile& p, std::string_view token_field, const std::string& model,
                                    const std::vector<message>& messages, const sampling& s,
                                    std::optional<std::uint64_t> seed, int n, bool stream);

/// The body of POST /completions for a raw-text or token-id prompt.
[[nodiscard]] SELFALIGN_DECL json completion_body(const server_profile& p, const std::string& model, const prompt& pr,
                                          const sampling& s, std::optional<std::uint64_t> seed, int n, bool stream);

/// The `prompt` of one /completions request carrying several prompts: a list of strings, or a list
/// of token-id lists (all of one kind: generate_multi checks it).
[[nodiscard]] SELFALIGN_DECL json prompt_list(std::span<const generation_request> reqs);

// ---------------------------------------------------------------------------------------------
// Response parsing. Every parser tolerates unknown fields, nulls and missing optional parts, and
// reports a wrong shape as errc::bad_response (never an exception, never a made-up number).
// ---------------------------------------------------------------------------------------------

[[nodiscard]] SELFALIGN_DECL const json* field(const json& j, const char* key);
[[nodiscard]] SELFALIGN_DECL std::string str_field(const json& j, const char* key);
[[nodiscard]] SELFALIGN_DECL std::optional<double> num_field(const json& j, const char* key);
/// A token id: an integer in [0, 2^31); nullopt for anything else (no wrap-around, no float cast).
[[nodiscard]] SELFALIGN_DECL std::optional<token_id> as_token_id(const json& v);
[[nodiscard]] SELFALIGN_DECL std::optional<token_id> id_field(const json& j, const char* key);

/// More tokens than one answer can hold on any model; a larger count is a broken server.
inline constexpr std::int64_t max_plausible_tokens = 1'000'000'000;

/// A count as a server reported it: a non-negative integer (an integral float such as 12.0 too)
/// up to `max`; nullopt for anything else (negative, fractional, 1e300, 2^64-1, text). Never
/// converts an out-of-range float to an integer (undefined behaviour).
[[nodiscard]] SELFALIGN_DECL std::optional<std::int64_t> count_value(const json& v, std::int64_t max = max_plausible_tokens);

/// A rough token count of a text (about 4 bytes a token), for servers that report no usage.
[[nodiscard]] SELFALIGN_DECL std::int64_t estimate_tokens(std::string_view text) noexcept;

/// vLLM's `return_tokens_as_token_ids` spells tokens "token_id:123".
[[nodiscard]] SELFALIGN_DECL std::optional<token_id> id_from_token_text(std::string_view t);

/// The token, id and logprob of a chat-shape entry or alternative ({token|tok_str, id?, logprob|prob});
/// false when it carries neither a logprob nor a probability.
[[nodiscard]] SELFALIGN_DECL bool read_token_fields(const json& e, std::string& token, std::optional<token_id>& id, double& logprob);

/// One entry of the chat shape: {token, logprob, bytes?, id?, top_logprobs?: [{token, logprob, id?}]}.
/// llama.cpp's native /completion uses the same shape; its older builds send {tok_str, prob}.
[[nodiscard]] SELFALIGN_DECL result<token_logprob> parse_chat_logprob_entry(const json& e);

/// A legacy `top_logprobs[i]` map {token_text: logprob}, best first.
[[nodiscard]] SELFALIGN_DECL std::vector<top_logprob> parse_top_map(const json& m);

/// Reads a choice's `logprobs`, whichever shape it has:
///   chat:   {"content": [entry...]}            (chat endpoint; llama.cpp and Ollama completions)
///   legacy: {"tokens", "token_logprobs", "top_logprobs", "text_offset"}   (OpenAI, vLLM, SGLang)
///   TGI:    [float...]                          (TGI completions; no token texts)
/// Legacy entries whose logprob is null (the first echoed prompt token) get NaN.
[[nodiscard]] SELFALIGN_DECL result<std::vector<token_logprob>> parse_logprobs(const json& lp);

/// usage: prompt/completion tokens and cached prompt tokens; `requests` = 1 (one HTTP answer).
/// Every count is validated (count_value). A count that is present but unusable, or absent when
/// an estimate is given (>= 0), is replaced by the estimate and `estimated` is set; absent
/// without an estimate it stays 0 (an endpoint that bills nothing of that kind).
[[nodiscard]] SELFALIGN_DECL usage parse_usage(const json& body, std::int64_t prompt_estimate = -1, std::int64_t completion_estimate = -1);

/// The text of a chat message's `content`: a string, or the OpenAI content-parts array whose
/// "text" parts are concatenated. Anything else is errc::bad_response (never an empty answer).
/// A null or missing content is "" unless the message is a refusal or a tool call.
[[nodiscard]] SELFALIGN_DECL result<std::string> message_text(const json& msg, const char* where);

/// What the caller knows about an answer that the body does not say.
struct answer_context {
  std::int64_t prompt_tokens_estimate = -1;  ///< used when the server reports no usable prompt count
  bool text_repaired = false;                ///< parse_json replaced invalid UTF-8 in this body
};

/// Whether a text holds U+FFFD (where a repaired body's replacement went).
[[nodiscard]] SELFALIGN_DECL bool has_replacement_char(std::string_view t) noexcept;

/// A chat or completions answer. Choices are ordered by their `index`.
/// A usage that is missing or unusable is estimated from the request (ctx) and the choices' text.
/// `move_texts`: the caller owns `body` and gives it up, so the texts are moved out, not copied.
[[nodiscard]] SELFALIGN_DECL result<generation> parse_generation_from(const json& body, bool chat, const answer_context& ctx,
                                                              bool move_texts);
[[nodiscard]] SELFALIGN_DECL result<generation> parse_generation(const json& body, bool chat, const answer_context& ctx = {});
[[nodiscard]] SELFALIGN_DECL result<generation> parse_generation(json&& body, bool chat, const answer_context& ctx = {});

/// The answer to one /completions request that carried `prompt_tokens.size()` prompts with `n`
/// choices each, split into one generation per prompt. The choices are in `index` order
/// (parse_generation sorts them) and prompt major: index = prompt * n + choice (vLLM, SGLang,
/// llama.cpp 0.7.0); any other count is errc::bad_response. The request's usage goes to the first
/// generation (requests = 1), the others carry requests = 0. When the server's usage covers only
/// the first prompt (`usage_covers_all` false: llama.cpp 0.7.0 reports the first task's counts),
/// each other generation carries its own counts: `prompt_tokens[i]` (exact for token-id prompts,
/// an estimate for text: then `estimated` is set) and its choices' tokens.
[[nodiscard]] SELFALIGN_DECL result<std::vector<generation>> split_multi_answer(generation all, std::span<const std::int64_t> prompt_tokens,
                                                                        int n, bool usage_covers_all, bool prompts_are_ids = false);

/// POST /embeddings: {"data": [{"index", "embedding": [float]}], "usage"}.
[[nodiscard]] SELFALIGN_DECL result<embeddings> parse_embeddings(const json& body, std::size_t expected);

/// GET /models: {"object": "list", "data": [{"id", "owned_by", "max_model_len"?}]}. Ollama's
/// native /api/tags shape {"models": [{"name"}]} is accepted too.
[[nodiscard]] SELFALIGN_DECL result<std::vector<model_info>> parse_models(const json& body);

/// Token ids from a /tokenize answer: {"tokens": [int | {"id", "piece"}]} (vLLM, SGLang, llama.cpp)
/// or TGI's [{"id", "text"}].
[[nodiscard]] SELFALIGN_DECL result<std::vector<token_id>> parse_tokenize(const json& body);

/// Text from a /detokenize answer: "prompt" (vLLM), "content" (llama.cpp) or "text" (SGLang).
[[nodiscard]] SELFALIGN_DECL result<std::string> parse_detokenize(const json& body);

/// vLLM's `prompt_logprobs`: one entry per prompt position, null or {"<id>": {logprob, rank,
/// decoded_token}} holding the actual token plus the top k. Reads positions [start, start+ids.size())
/// where the actual tokens are `ids`; `k` alternatives (by rank) go to `top`.
[[nodiscard]] SELFALIGN_DECL result<std::vector<token_logprob>> parse_prompt_logprobs(const json& plp, std::size_t start,
                                                                             std::span<const token_id> ids, int k);

/// One teacher-forcing step on llama.cpp's native /completion: reads `target`'s logprob from the
/// first predicted position's top-N. Found: exact. Not found: the smallest listed logprob, an
/// upper bound, and `exact` false.
struct forced_step {
  token_logprob token;
  bool exact = false;
};
[[nodiscard]] SELFALIGN_DECL result<forced_step> parse_teacher_step(const json& body, token_id target, int k);

/// llama.cpp's /completion usage: tokens_evaluated / tokens_predicted (or an OpenAI usage object).
[[nodiscard]] SELFALIGN_DECL usage parse_native_usage(const json& body);

// ---------------------------------------------------------------------------------------------
// Streaming: folds chunks into a generation and reports each delta.
// ---------------------------------------------------------------------------------------------

class stream_accumulator {
 public:
  /// `n`: the choices requested; a chunk for any other index is errc::bad_response.
  /// `prompt_tokens_estimate`: the prompt's size when the stream reports no usable usage.
  stream_accumulator(bool chat, std::size_t n, std::int64_t prompt_tokens_estimate = -1)
      : chat_(chat), prompt_estimate_(prompt_tokens_estimate) {
    gen_.choices.resize(n);
  }

  /// Applies one `data:` payload (not "[DONE]"). Returns the deltas it carried, or the error it
  /// reported (an error inside a 200 stream) or errc::bad_response when it is not a chunk.
  [[nodiscard]] SELFALIGN_DECL result<std::vector<stream_chunk>> apply(std::string_view payload);

  [[nodiscard]] bool all_finished() const noexcept { return finished_ >= gen_.choices.size(); }
  [[nodiscard]] bool saw_usage() const noexcept { return saw_usage_; }
  [[nodiscard]] SELFALIGN_DECL generation take();

 private:
  bool chat_;
  std::int64_t prompt_estimate_ = -1;
  json usage_body_ = json::object();
  generation gen_;
  std::size_t finished_ = 0;
  bool saw_usage_ = false;
};

}  // namespace detail
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/backends/detail/impl/wire.ipp>
#endif
