// selfalign: the vocabulary types every backend, judge and algorithm speaks
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE

/// A vocabulary index. Backends that cannot name ids leave token ids empty.
using token_id = std::int32_t;

/// One chat turn. The role is free text ("system", "user", "assistant", "developer", ...).
struct message {
  std::string role;
  std::string content;

  [[nodiscard]] static message system(std::string text) { return {"system", std::move(text)}; }
  [[nodiscard]] static message user(std::string text) { return {"user", std::move(text)}; }
  [[nodiscard]] static message assistant(std::string text) { return {"assistant", std::move(text)}; }
  friend bool operator==(const message&, const message&) = default;
};

/// What the model continues: chat messages (the server applies its chat template), raw text
/// (no template), or token ids (exact; only for backends that accept them).
struct prompt {
  std::variant<std::vector<message>, std::string, std::vector<token_id>> content;

  prompt() : content(std::string{}) {}
  prompt(std::vector<message> messages) : content(std::move(messages)) {}  // NOLINT: implicit on purpose
  prompt(std::string text) : content(std::move(text)) {}                    // NOLINT
  prompt(const char* text) : content(std::string(text)) {}                  // NOLINT
  prompt(std::vector<token_id> ids) : content(std::move(ids)) {}            // NOLINT

  [[nodiscard]] static prompt chat(std::vector<message> messages) { return prompt(std::move(messages)); }
  [[nodiscard]] static prompt text(std::string raw) { return prompt(std::move(raw)); }
  [[nodiscard]] static prompt tokens(std::vector<token_id> ids) { return prompt(std::move(ids)); }

  [[nodiscard]] bool is_chat() const noexcept { return content.index() == 0; }
  [[nodiscard]] bool is_text() const noexcept { return content.index() == 1; }
  [[nodiscard]] bool is_tokens() const noexcept { return content.index() == 2; }
  [[nodiscard]] const std::vector<message>& messages() const { return std::get<0>(content); }
  [[nodiscard]] const std::string& raw_text() const { return std::get<1>(content); }
  [[nodiscard]] const std::vector<token_id>& token_ids() const { return std::get<2>(content); }

  /// All text in the prompt joined with newlines (chat: the message contents). For matching and
  /// display; never sent to a server.
  [[nodiscard]] std::string flatten() const;
  friend bool operator==(const prompt&, const prompt&) = default;
};

/// Sampling and output controls of one generation call.
struct sampling {
  double temperature = 1.0;
  double top_p = 1.0;
  int top_k = 0;                  ///< 0: no top-k truncation
  int max_tokens = 256;           ///< 0: score or echo only, generate nothing (where supported)
  std::vector<std::string> stop;  ///< stop strings
  bool include_stop = false;      ///< keep the matched stop string at the end of the text
  std::optional<std::uint64_t> seed;
  int n = 1;          ///< number of choices
  int logprobs = -1;  ///< -1: none; 0: the chosen token's logprob; k > 0: plus the top k alternatives
  std::map<token_id, double> logit_bias;
  /// Ask the server for the ids of the generated tokens (completion::token_ids) where it can
  /// return them (vLLM, llama.cpp), so that a later scoring sees exactly the generated sequence.
  bool return_token_ids = false;
  friend bool operator==(const sampling&, const sampling&) = default;
};

/// One request to a Generator.
struct generation_request {
  std::string model;  ///< empty: the backend's default model
  selfalign::prompt prompt;
  selfalign::sampling sampling;
  friend bool operator==(const generation_request&, const generation_request&) = default;
};

/// An alternative token at one position, with its log-probability.
struct top_logprob {
  std::string token;
  std::optional<token_id> id;
  double logprob = 0.0;
  friend bool operator==(const top_logprob&, const top_logprob&) = default;
};

/// One generated (or scored) token: its text, id when known, logprob and top alternatives.
struct token_logprob {
  std::string token;
  std::optional<token_id> id;
  double logprob = 0.0;
  std::vector<top_logprob> top;  ///< best first, as many as were requested and returned
  friend bool operator==(const token_logprob&, const token_logprob&) = default;
};

/// Token accounting. `from_cache` marks an answer replayed from a cache: nothing was billed.
struct usage {
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t cached_prompt_tokens = 0;  ///< prompt tokens the server served from its prefix cache
  std::int64_t requests = 0;              ///< HTTP requests (or model calls) that produced this answer
  bool from_cache = false;
  /// The server reported no usable count (missing, negative, fractional, out of range) and the
  /// counts were estimated from the text (about 4 bytes a token) so that budgets still hold.
  bool estimated = false;

  [[nodiscard]] std::int64_t total_tokens() const noexcept { return prompt_tokens + completion_tokens; }
  usage& operator+=(const usage& o) noexcept {
    prompt_tokens += o.prompt_tokens;
    completion_tokens += o.completion_tokens;
    cached_prompt_tokens += o.cached_prompt_tokens;
    requests += o.requests;
    estimated = estimated || o.estimated;
    return *this;
  }
  friend bool operator==(const usage&, const usage&) = default;
};

/// One choice of a generation.
struct completion {
  std::string text;
  std::vector<token_logprob> tokens;  ///< per-token logprobs; empty unless requested
  std::vector<token_id> token_ids;    ///< generated token ids when the backend returns them
  std::string finish_reason;          ///< "stop", "length", ... as the server said
  /// The server sent bytes that are not UTF-8 (or a lone surrogate escape) in this choice; each
  /// invalid stretch was replaced by U+FFFD in `text`.
  bool invalid_utf8_replaced = false;
  friend bool operator==(const completion&, const completion&) = default;
};

/// The answer to a generation_request: `sampling.n` choices plus usage.
struct generation {
  std::vector<completion> choices;
  selfalign::usage usage;
  std::string model;  ///< the model that answered, as reported

  /// The first choice's text, or "" when there is none.
  [[nodiscard]] const std::string& text() const noexcept;
  friend bool operator==(const generation&, const generation&) = default;
};

/// Asks for log p(continuation | prompt) with the continuation given, not generated.
struct scoring_request {
  std::string model;
  selfalign::prompt prompt;
  std::string continuation;                     ///< the text to score
  std::vector<token_id> continuation_token_ids; ///< optional exact ids (then `continuation` is informative)
  int top_logprobs = 0;                         ///< alternatives to return per scored token
  friend bool operator==(const scoring_request&, const scoring_request&) = default;
};

/// How a scorer placed the boundary between the prompt's tokens and the continuation's.
enum class scoring_boundary {
  unknown,             ///< the scorer's own business (an in-process model scoring text, say)
  given_ids,           ///< the request's continuation_token_ids, scored after the prompt's ids
  joint_tokenization,  ///< prompt and prompt + continuation tokenized together, split where they part
  separate,            ///< the continuation tokenized on its own (token-id prompt with a text continuation)
};

[[nodiscard]] constexpr std::string_view to_string(scoring_boundary b) noexcept {
  switch (b) {
    case scoring_boundary::unknown: return "unknown";
    case scoring_boundary::given_ids: return "given_ids";
    case scoring_boundary::joint_tokenization: return "joint_tokenization";
    case scoring_boundary::separate: return "separate";
  }
  return "unknown";
}

/// The answer to a scoring_request.
struct scoring {
  double logprob = 0.0;               ///< sum of the continuation's token logprobs
  std::vector<token_logprob> tokens;  ///< one per continuation token
  bool approximate = false;  ///< true when some token's logprob was bounded, not read (teacher forcing with top-k)
  selfalign::usage usage;
  scoring_boundary boundary = scoring_boundary::unknown;  ///< how the backend placed the boundary
  bool boundary_merged = false;  ///< joint tokenization: the prompt's last token merged with the continuation's first
  std::size_t prompt_tokens = 0; ///< tokens conditioned on, when the backend knows them
  friend bool operator==(const scoring&, const scoring&) = default;
};

/// Texts to embed.
struct embedding_request {
  std::string model;
  std::vector<std::string> texts;
  friend bool operator==(const embedding_request&, const embedding_request&) = default;
};

/// One vector per input text, in order.
struct embeddings {
  std::vector<std::vector<float>> vectors;
  selfalign::usage usage;
  friend bool operator==(const embeddings&, const embeddings&) = default;
};

/// A criterion a judge scores on, with the rubric it should apply.
struct criterion {
  std::string name;
  std::string description;  ///< one line: what this criterion is about
  std::string rubric;       ///< how to score it (e.g. what 1..5 mean)
  double weight = 1.0;
  friend bool operator==(const criterion&, const criterion&) = default;
};

/// Asks a Judge to evaluate a response to a query on some criteria.
struct judge_request {
  std::string query;
  std::string response;
  std::vector<criterion> criteria;  ///< empty: the judge's own default criteria
  std::string guidance;             ///< extra context for the judge (e.g. why these criteria)
  std::optional<std::uint64_t> seed;
  friend bool operator==(const judge_request&, const judge_request&) = default;
};

/// Whether a judge's output could be read.
enum class parse_status {
  ok,        ///< read as produced
  repaired,  ///< read after a repair (code fences stripped, trailing commas, scores as strings)
  failed,    ///< could not be read; scores are absent
};

[[nodiscard]] constexpr std::string_view to_string(parse_status s) noexcept {
  switch (s) {
    case parse_status::ok: return "ok";
    case parse_status::repaired: return "repaired";
    case parse_status::failed: return "failed";
  }
  return "failed";
}

/// The score a judge gave on one criterion.
struct criterion_score {
  std::string name;
  double score = 0.0;
  std::string rationale;
  friend bool operator==(const criterion_score&, const criterion_score&) = default;
};

/// A Judge's verdict. `score` is empty when the output could not be parsed: never a made-up number.
struct judgement {
  std::optional<double> score;            ///< overall score (e.g. mean of criteria), absent on failure
  std::vector<criterion_score> criteria;  ///< per-criterion scores, in the judge's order
  std::string rationale;
  parse_status status = parse_status::ok;
  int attempts = 1;  ///< judge calls made (retries on parse failure included)
  std::string raw;   ///< the judge's raw output (the last attempt), for inspection
  selfalign::usage usage;
  /// Characters of the response left out of the judge's prompt so that it fit the model's context
  /// (the judge saw a marked prefix; judges::rubric_judge_options::max_response_cuts). 0: all of it.
  std::size_t response_chars_omitted = 0;

  [[nodiscard]] bool ok() const noexcept { return status != parse_status::failed && score.has_value(); }
  friend bool operator==(const judgement&, const judgement&) = default;
};

SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/impl/types.ipp>
#endif
