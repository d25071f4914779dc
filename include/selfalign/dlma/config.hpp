// selfalign: DLMA configuration (sampling, self-reward margin, policies) with the spec's defaults
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/dlma/prompts.hpp>
#include <selfalign/events.hpp>
#include <selfalign/result.hpp>
#include <selfalign/types.hpp>

#include <fmt/format.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace dlma {

/// What to do with a pair whose self-rewarding score R is negative (the model's own log-probs
/// prefer the answer written under the negative prompt).
enum class negative_margin_policy {
  keep,  ///< chosen = positive answer, rejected = negative answer, margin R < 0 (the method: never swaps)
  swap,  ///< chosen = negative answer; the margin becomes -R > 0
  drop,  ///< leave the pair out of the data (report::dropped keeps it for inspection)
};

[[nodiscard]] constexpr std::string_view to_string(negative_margin_policy p) noexcept {
  switch (p) {
    case negative_margin_policy::keep: return "keep";
    case negative_margin_policy::swap: return "swap";
    case negative_margin_policy::drop: return "drop";
  }
  return "keep";
}

/// Where the prompt ends and the answer begins when scoring log p(answer | prompt).
enum class boundary_mode {
  automatic,  ///< tokens when the backend tokenizes and takes token-id prompts and the layout is raw, else text
  tokens,     ///< tokenize prompt+answer and the prompt alone; errc::unsupported without a tokenizer
  text,       ///< send prompt text and answer text; the backend places the boundary
};

[[nodiscard]] constexpr std::string_view to_string(boundary_mode m) noexcept {
  switch (m) {
    case boundary_mode::automatic: return "automatic";
    case boundary_mode::tokens: return "tokens";
    case boundary_mode::text: return "text";
  }
  return "automatic";
}

/// Which method placed one answer's prompt/answer boundary (reported per answer and per scoring).
enum class boundary_method {
  generated_ids,       ///< the token ids the server generated, scored after the prompt's ids
  joint_tokenization,  ///< prompt and prompt + answer tokenized together, split where they part
  server_text,         ///< prompt and answer sent as text; the backend placed the boundary its own way
};

[[nodiscard]] constexpr std::string_view to_string(boundary_method m) noexcept {
  switch (m) {
    case boundary_method::generated_ids: return "generated_ids";
    case boundary_method::joint_tokenization: return "joint_tokenization";
    case boundary_method::server_text: return "server_text";
  }
  return "server_text";
}

/// What to do when the prompt's last token merges with the answer's first token in the joint
/// tokenization (tokenize(prompt + answer) does not start with tokenize(prompt)).
enum class merge_policy {
  /// The merged token is scored as the answer's first token (prompt = the joint tokens before it).
  /// Every character of the answer is covered; the merged token also carries the prompt's last
  /// characters, identically under both prompts when they share their ending.
  score_merged,
  /// The merged token counts as prompt (the official code's masking of len(tokenize(prompt))
  /// tokens when one token merges): the answer's first characters are not scored.
  skip_merged,
  /// Fail the pair with errc::invalid_argument (reported in report::failures).
  reject,
};

[[nodiscard]] constexpr std::string_view to_string(merge_policy m) noexcept {
  switch (m) {
    case merge_policy::score_merged: return "score_merged";
    case merge_policy::skip_merged: return "skip_merged";
    case merge_policy::reject: return "reject";
  }
  return "score_merged";
}

/// DLMA's generation sampling (see config::generation).
[[nodiscard]] inline selfalign::sampling default_generation_sampling() {
  selfalign::sampling s;
  s.temperature = 1.0;
  s.top_k = 50;  // 0: off (for servers without top_k, e.g. the OpenAI API)
  s.top_p = 1.0;
  s.max_tokens = 200;
  return s;
}

/// Configuration of dlma::build_pairs. Sources: algorithms.md §3.2 (official code exlaw/DLMA,
/// scripts/run_dlma.sh and efficient_generation.py; HF generate defaults).
struct config {
  /// The contrastive prompts answers are generated under (default: the harmless pair, raw layout).
  contrastive_pair pair = contrastive_pair::harmless();
  /// The pair answers are scored under; empty: `pair`. (The official scoring script always uses
  /// the harmless pair, even for helpful runs.)
  std::optional<contrastive_pair> scoring_pair;
  std::string model;  ///< model name sent with every call; empty: the backend's default

  /// How answers are sampled (efficient_generation.py: HF generate(do_sample=True,
  /// max_new_tokens=200) with HF defaults T = 1.0, top_k = 50, top_p = 1.0; no stop strings: answers
  /// may contain a fabricated next turn). build_pairs sets each request's n (1), seed (see `seed`)
  /// and return_token_ids (`use_generated_ids`) itself; every other field is sent as given.
  selfalign::sampling generation = default_generation_sampling();

  /// Older spellings of generation.temperature, .top_k, .top_p, .max_tokens and .stop, kept for
  /// one release (deprecated). When one is set it is used instead of its generation field;
  /// validate() rejects a config where both are set to different values.
  std::optional<double> temperature;
  std::optional<int> top_k;
  std::optional<double> top_p;
  std::optional<int> max_tokens;
  std::optional<std::vector<std::string>> stop;

  bool strip_answers = true;      ///< trim whitespace around answers (the official code strips)

  std::uint64_t seed = 0;  ///< run seed; each call's seed is derive_seed(seed, "dlma/generate", query id, polarity)

  // Self-reward margin in the DPO loss (scripts/run_dlma.sh).
  double clip_min = -40.0;      ///< L: clip(R, L, U)
  double clip_max = 40.0;       ///< U
  double margin_weight = 0.2;   ///< w (margin_loss_weight); the paper's own formula may omit it [U]
  double beta = 0.1;            ///< β of the DPO loss (for loss.hpp and export provenance)
  negative_margin_policy on_negative = negative_margin_policy::keep;  ///< the method keeps (never swaps)

  boundary_mode boundary = boundary_mode::automatic;
  merge_policy on_merge = merge_policy::score_merged;
  /// Ask the server for the generated token ids and score exactly those (where it returns them;
  /// see docs/dlma.md for when they are used). Off: the answers' text is tokenized jointly.
  bool use_generated_ids = true;
  int top_logprobs = 0;           ///< alternatives per scored token kept in the per-token detail
  bool keep_token_detail = true;  ///< keep per-token logprobs of the four scorings in each pair

  std::size_t max_concurrency = 8;  ///< calls in flight at once (results do not depend on it)
  std::size_t chunk_size = 64;      ///< queries per step (progress and stop granularity)
  std::stop_token stop_token;       ///< when requested, the run stops after in-flight calls
  /// Progress events (source "dlma"): `progress` after each chunk, `stopped` when the run stops
  /// early. build_pairs' own `on_event` argument, when given, is used instead.
  observer on_event;

  [[nodiscard]] const contrastive_pair& scoring() const noexcept { return scoring_pair ? *scoring_pair : pair; }

  /// `generation` with the older spellings applied: the sampling every generation request starts from.
  [[nodiscard]] selfalign::sampling generation_sampling() const {
    selfalign::sampling s = generation;
    if (temperature) s.temperature = *temperature;
    if (top_k) s.top_k = *top_k;
    if (top_p) s.top_p = *top_p;
    if (max_tokens) s.max_tokens = *max_tokens;
    if (stop) s.stop = *stop;
    return s;
  }

  /// = dlma::validate(*this) (kept: the older spelling).
  [[nodiscard]] result<void> validate() const;
};

namespace detail {
/// An older spelling (config::temperature, ...) set, and its generation field set to another
/// value than both the default and the older spelling: which one was meant cannot be told.
template <class T>
[[nodiscard]] result<void> older_spelling_conflict(const char* name, const std::optional<T>& older, const T& field,
                                                   const T& default_value) {
  if (older && field != default_value && field != *older)
    return fail(errc::invalid_argument,
                fmt::format("dlma::config: {0} (the older spelling) and generation.{0} are both set, to different values; "
                            "set generation.{0} only",
                            name));
  return {};
}
}  // namespace detail

/// Checks a config before any call: errc::invalid_argument naming the field. build_pairs() calls
/// it first; drpo::validate and rain::validate have the same shape.
[[nodiscard]] inline result<void> validate(const config& c) {
  if (auto r = c.pair.validate(); !r) return r;
  if (c.scoring_pair) {
    if (auto r = c.scoring_pair->validate(); !r) return r;
  }
  if (!(std::isfinite(c.clip_min) && std::isfinite(c.clip_max)) || c.clip_min > c.clip_max)
    return fail(errc::invalid_argument, fmt::format("dlma::config: clip range [{}, {}] is empty or not finite", c.clip_min, c.clip_max));
  if (!std::isfinite(c.margin_weight)) return fail(errc::invalid_argument, "dlma::config: margin_weight must be finite");
  if (!(c.beta > 0.0) || !std::isfinite(c.beta)) return fail(errc::invalid_argument, "dlma::config: beta must be positive and finite");
  const selfalign::sampling defaults = default_generation_sampling();
  for (auto r : {detail::older_spelling_conflict("temperature", c.temperature, c.generation.temperature, defaults.temperature),
                 detail::older_spelling_conflict("top_k", c.top_k, c.generation.top_k, defaults.top_k),
                 detail::older_spelling_conflict("top_p", c.top_p, c.generation.top_p, defaults.top_p),
                 detail::older_spelling_conflict("max_tokens", c.max_tokens, c.generation.max_tokens, defaults.max_tokens),
                 detail::older_spelling_conflict("stop", c.stop, c.generation.stop, defaults.stop)})
    if (!r) return r;
  const selfalign::sampling g = c.generation_sampling();
  if (!(g.temperature >= 0.0)) return fail(errc::invalid_argument, "dlma::config: temperature must be >= 0");
  if (g.top_k < 0) return fail(errc::invalid_argument, "dlma::config: top_k must be >= 0 (0: off)");
  if (!(g.top_p > 0.0 && g.top_p <= 1.0)) return fail(errc::invalid_argument, "dlma::config: top_p must be in (0, 1]");
  if (g.max_tokens <= 0) return fail(errc::invalid_argument, "dlma::config: max_tokens must be positive");
  if (c.top_logprobs < 0) return fail(errc::invalid_argument, "dlma::config: top_logprobs must be >= 0");
  if (c.max_concurrency == 0) return fail(errc::invalid_argument, "dlma::config: max_concurrency must be at least 1");
  if (c.chunk_size == 0) return fail(errc::invalid_argument, "dlma::config: chunk_size must be at least 1");
  if (c.pair.layout != c.scoring().layout)
    return fail(errc::invalid_argument, "dlma::config: the generation and scoring pairs must use the same layout");
  return {};
}

inline result<void> config::validate() const { return dlma::validate(*this); }

}  // namespace dlma
SELFALIGN_END_NAMESPACE
