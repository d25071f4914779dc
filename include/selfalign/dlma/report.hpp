// selfalign: DLMA results — scored preference pairs, failures, margin statistics, the run report
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/dlma/config.hpp>
#include <selfalign/json.hpp>
#include <selfalign/result.hpp>
#include <selfalign/run_status.hpp>
#include <selfalign/types.hpp>
#include <selfalign/usage.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace dlma {

/// log p(answer | prompt) for one (answer, prompt) combination, with how it was measured.
struct continuation_score {
  double logprob = 0.0;               ///< sum over the scored tokens
  std::vector<token_logprob> tokens;  ///< per-token detail (empty when config::keep_token_detail is off)
  bool approximate = false;           ///< the backend bounded some term (teacher forcing with top-k)
  boundary_mode boundary = boundary_mode::text;  ///< tokens or text: the mode of the run
  boundary_method method = boundary_method::server_text;  ///< what placed the boundary of this scoring
  bool merged = false;                ///< joint tokenization: the prompt's last token merged with the answer's first
  std::size_t prompt_tokens = 0;      ///< tokens conditioned on (0 when the backend does not say)
  std::size_t scored_tokens = 0;      ///< tokens scored
  friend bool operator==(const continuation_score&, const continuation_score&) = default;
};

/// Index of each of the four scorings in preference_pair::scores.
enum score_slot : std::size_t {
  positive_answer_positive_prompt = 0,  ///< log p(a1 | p+)
  positive_answer_negative_prompt = 1,  ///< log p(a1 | p-)
  negative_answer_positive_prompt = 2,  ///< log p(a2 | p+)
  negative_answer_negative_prompt = 3,  ///< log p(a2 | p-)
};

/// R = [log p(a1|p+) − log p(a1|p−)] − [log p(a2|p+) − log p(a2|p−)] (algorithms.md §3.2).
[[nodiscard]] constexpr double self_rewarding_score(double a1_pos, double a1_neg, double a2_pos, double a2_neg) noexcept {
  return (a1_pos - a1_neg) - (a2_pos - a2_neg);
}

/// One query's preference pair. `chosen`/`rejected` follow the negative_margin_policy; the
/// oriented `margin` is R when not swapped and −R when swapped.
struct preference_pair {
  std::size_t index = 0;  ///< position of the query in the input
  std::string id;         ///< the query's id
  std::string query;      ///< the bare query (the DPO prompt: the method trains without the contrastive prompt)
  std::string positive_answer;  ///< a1, sampled under p+ (stripped when configured)
  std::string negative_answer;  ///< a2, sampled under p−
  std::string chosen;
  std::string rejected;
  bool swapped = false;
  double reward_positive = 0.0;  ///< log p(a1|p+) − log p(a1|p−)
  double reward_negative = 0.0;  ///< log p(a2|p+) − log p(a2|p−)
  double self_reward = 0.0;      ///< R = reward_positive − reward_negative (positive-answer orientation)
  double margin = 0.0;           ///< R oriented chosen-vs-rejected
  double clipped_margin = 0.0;   ///< clip(margin, L, U)
  double weight = 0.0;           ///< w
  double target_margin = 0.0;    ///< w · clip(margin): what enters −log σ(β(h − ·))
  double score_chosen = 0.0;     ///< reward of the chosen answer
  double score_rejected = 0.0;   ///< reward of the rejected answer
  bool approximate = false;      ///< some scoring was approximate
  bool boundary_merged = false;  ///< some scoring met a merged boundary token
  std::array<continuation_score, 4> scores;  ///< indexed by score_slot
  boundary_method boundary_positive = boundary_method::server_text;  ///< how a1's boundary was placed (both its scorings)
  boundary_method boundary_negative = boundary_method::server_text;  ///< how a2's boundary was placed
  std::uint64_t seed_positive = 0;  ///< the sampling seeds sent
  std::uint64_t seed_negative = 0;
  std::string finish_positive;  ///< finish reasons ("length" means the answer was cut at max_tokens)
  std::string finish_negative;
  std::string model;  ///< the model that answered (as reported) or the configured one
  friend bool operator==(const preference_pair&, const preference_pair&) = default;
};

/// A query that produced no pair, and why.
struct pair_failure {
  std::size_t index = 0;
  std::string id;
  selfalign::error error;
  std::string stage;  ///< "generate", "tokenize", "score" or "reward"
};

/// The distribution of the self-rewarding score R over all scored pairs (before the
/// negative-margin policy). Statistics of an empty set are NaN, never a made-up 0.
struct margin_summary {
  std::size_t count = 0;
  double min = std::numeric_limits<double>::quiet_NaN();
  double max = std::numeric_limits<double>::quiet_NaN();
  double mean = std::numeric_limits<double>::quiet_NaN();
  double stddev = std::numeric_limits<double>::quiet_NaN();  ///< population standard deviation
  double p05 = std::numeric_limits<double>::quiet_NaN();     ///< quantiles, linear interpolation between order statistics
  double p25 = std::numeric_limits<double>::quiet_NaN();
  double median = std::numeric_limits<double>::quiet_NaN();
  double p75 = std::numeric_limits<double>::quiet_NaN();
  double p95 = std::numeric_limits<double>::quiet_NaN();
  std::size_t negative = 0;  ///< pairs with R < 0
  double negative_fraction = std::numeric_limits<double>::quiet_NaN();
  std::size_t clipped_low = 0;   ///< pairs with R < L
  std::size_t clipped_high = 0;  ///< pairs with R > U
};

/// The q-quantile (0 ≤ q ≤ 1) of sorted values, interpolating linearly between order statistics
/// (Hyndman–Fan type 7, NumPy's default).
[[nodiscard]] SELFALIGN_DECL double quantile_sorted(std::span<const double> sorted, double q) noexcept;

/// Summarises self-rewarding scores.
[[nodiscard]] SELFALIGN_DECL margin_summary summarize_margins(std::vector<double> r, double clip_min, double clip_max);

/// What dlma::build_pairs returns: the pairs (in input order), what did not become a pair, the
/// margin statistics and the usage. A run stopped by a budget or a cancellation still returns
/// its finished pairs, with `status` saying why and `unfinished` listing what is left.
struct report {
  /// How the run ended, in the shape every algorithm's report shares ("completed" or
  /// "<code>: <message>"); a report made by hand says "not run".
  run_status status;
  std::vector<preference_pair> pairs;    ///< kept pairs, in input order
  std::vector<preference_pair> dropped;  ///< pairs left out by negative_margin_policy::drop
  std::vector<pair_failure> failures;    ///< queries whose calls failed (not budget/cancel)
  std::vector<std::size_t> unfinished;   ///< query indices not finished because the run stopped
  margin_summary margins;                ///< over pairs + dropped
  std::size_t queries = 0;
  std::size_t swapped = 0;
  std::size_t approximate = 0;      ///< pairs with an approximate scoring
  std::size_t merged_boundary = 0;  ///< pairs where a boundary token merged
  std::size_t truncated = 0;        ///< pairs with an answer cut at max_tokens (finish_reason "length")
  boundary_mode boundary = boundary_mode::text;  ///< the boundary mode used (resolved from automatic)
  /// Answers (two per pair, kept or dropped) by the method that placed their boundary.
  struct boundary_counts {
    std::size_t generated_ids = 0;
    std::size_t joint_tokenization = 0;
    std::size_t server_text = 0;
  } boundary_methods;
  /// Usage by role ("generator": the two answers, "scorer": the four scorings) and in total;
  /// `calls` counts billed calls, replays from a cache are `cache_hits`, failed calls `failed`.
  usage_summary run_usage;
  // The fields below predate `status` and `run_usage` (kept for one release); build_pairs sets them
  // from `status`, and a report made by hand says "not run" in them too:
  std::string stop_reason = "not run";  ///< = status.stop_reason
  std::optional<errc> stop_code;        ///< = status.error's code: errc::budget_exhausted / errc::cancelled when stopped early
  selfalign::usage usage;           ///< summed over every answered generate/score call, replays included
  std::size_t calls = 0;            ///< generate + score calls answered (of every query, finished or not), replays included
  std::size_t cache_hits = 0;       ///< of those, answered from a cache

  /// = status.complete (kept for one release).
  [[nodiscard]] bool complete() const noexcept { return status.complete; }
  /// Sets `status` and the older fields that say the same.
  void set_status(run_status s) {
    stop_reason = s.stop_reason;
    stop_code = s.error ? std::optional<errc>(s.error->code) : std::nullopt;
    status = std::move(s);
  }
};

// JSON ------------------------------------------------------------------------------------------

SELFALIGN_DECL void to_json(nlohmann::json& j, boundary_mode m);
/// A name that is not a boundary_mode throws nlohmann::json::other_error (501).
SELFALIGN_DECL void from_json(const nlohmann::json& j, boundary_mode& m);
SELFALIGN_DECL void to_json(nlohmann::json& j, boundary_method m);
/// A name that is not a boundary_method throws nlohmann::json::other_error (501).
SELFALIGN_DECL void from_json(const nlohmann::json& j, boundary_method& m);
SELFALIGN_DECL void to_json(nlohmann::json& j, const continuation_score& s);
SELFALIGN_DECL void from_json(const nlohmann::json& j, continuation_score& s);
SELFALIGN_DECL void to_json(nlohmann::json& j, const preference_pair& p);
SELFALIGN_DECL void from_json(const nlohmann::json& j, preference_pair& p);
SELFALIGN_DECL void to_json(nlohmann::json& j, const pair_failure& f);
SELFALIGN_DECL void from_json(const nlohmann::json& j, pair_failure& f);
/// Statistics that are not finite (NaN: no pairs) are written as null and read back as NaN.
SELFALIGN_DECL void to_json(nlohmann::json& j, const margin_summary& s);
SELFALIGN_DECL void from_json(const nlohmann::json& j, margin_summary& s);
SELFALIGN_DECL void to_json(nlohmann::json& j, const report::boundary_counts& c);
SELFALIGN_DECL void from_json(const nlohmann::json& j, report::boundary_counts& c);

/// The report: the summary the CLI shows (counts "pairs", "dropped", "failed" and "unfinished",
/// statistics, usage, failures, the stop reason, "complete") and, for reading it back, the pairs
/// themselves ("pair_list", "dropped_list") and the unfinished query indices ("unfinished_list").
SELFALIGN_DECL void to_json(nlohmann::json& j, const report& r);
/// Reads what to_json writes. The counts and "complete" are not read: they follow from the lists
/// and from "status". A summary written before the lists existed reads back without its pairs.
SELFALIGN_DECL void from_json(const nlohmann::json& j, report& r);

/// The report as JSON text (indent -1: one line).
[[nodiscard]] SELFALIGN_DECL std::string to_json_text(const report& r, int indent = 2);
/// Reads a report written by to_json_text (or to_json); errc::bad_response when it is not one.
[[nodiscard]] SELFALIGN_DECL result<report> report_from_json_text(std::string_view text);

}  // namespace dlma
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/dlma/impl/report.ipp>
#endif
