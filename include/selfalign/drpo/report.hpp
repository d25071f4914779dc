// selfalign: drpo::report — the artefacts (best prompt, optimized examples), the full trace,
// usage and cost per role, and why the run stopped; with JSON round trip
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/drpo/layout.hpp>
#include <selfalign/json.hpp>
#include <selfalign/result.hpp>
#include <selfalign/run_status.hpp>
#include <selfalign/search/common.hpp>
#include <selfalign/types.hpp>
#include <selfalign/usage.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace drpo {

/// The dynamic reward of one response: the aspects chosen for the query and the judge's verdict.
struct evaluation {
  std::vector<std::string> aspects;
  std::string selection_reasoning;
  parse_status selection_status = parse_status::ok;  ///< failed: the fallback aspects were used
  judgement verdict;             ///< per-aspect scores and rationales, parse status, attempts, raw output
  std::optional<double> reward;  ///< mean aspect score; absent when the verdict could not be read
  /// [ours] the call that failed for this item alone (the base answer or the judge request did not
  /// fit the model's context: errc::context_overflow); then there is no reward and the run went on.
  std::optional<selfalign::error> error;
  friend bool operator==(const evaluation&, const evaluation&) = default;
};

/// One evaluated system prompt of the stage-2 search.
struct candidate {
  std::size_t id = 0;
  std::optional<std::size_t> parent;  ///< the candidate it was derived from (none for the initial prompt)
  std::size_t level = 0;              ///< 0: the initial prompt
  std::size_t beam_index = 0;         ///< position of the parent in the level's batch
  std::size_t candidate_index = 0;    ///< which proposal of the parent
  std::string origin;                 ///< "initial", "proposed", "carried" (skip), "fallback" (no readable proposal)
  std::string system_prompt;
  std::size_t query_index = 0;
  std::string query;
  std::string response;
  evaluation eval;
  std::optional<double> path_score;  ///< the beam's score of the path ending here, when it was ranked
  bool kept = false;                 ///< kept in the beam after its level
  /// [ours] the earlier candidate with the same prompt and query whose answer and evaluation this one
  /// reuses (the economical search makes no call for it); none when it was evaluated itself.
  std::optional<std::size_t> reused_from;
  friend bool operator==(const candidate&, const candidate&) = default;
};

/// An optimizer output that did not become a candidate.
struct rejected_proposal {
  std::size_t level = 0;
  std::size_t parent = 0;
  std::size_t candidate_index = 0;
  std::string reason;  ///< "unreadable: ...", "duplicate of an earlier proposal", "the optimizer request failed: ..." (e.g. over the context), "cannot enter the beam: ..." (not evaluated)
  std::string text;    ///< the proposal (or the raw output when unreadable)
  friend bool operator==(const rejected_proposal&, const rejected_proposal&) = default;
};

/// One round of stage 1 for one example.
struct icl_round {
  std::size_t round = 0;  ///< 0: the seed answer
  std::string answer;
  evaluation eval;
  std::optional<double> total;  ///< sum of the aspect scores (the original's criterion)
  bool best = false;            ///< became the best answer
  std::string note;             ///< e.g. "unreadable proposal"
  friend bool operator==(const icl_round&, const icl_round&) = default;
};

/// Stage 1 for one seed example.
struct icl_trace {
  std::size_t index = 0;
  std::string query;
  std::string seed_answer;
  std::string best_answer;
  std::optional<double> best_total;
  std::vector<icl_round> rounds;
  std::string stop_reason;  ///< "perfect", "rounds", "perfect seed", "context overflow" (a revision request did not fit)
  friend bool operator==(const icl_trace&, const icl_trace&) = default;
};

/// Everything a DRPO run produced.
struct report {
  std::string best_prompt;
  std::optional<double> best_score;      ///< the best path's score (mean reward along it by default)
  std::vector<std::size_t> best_path;    ///< candidate ids from the initial prompt to the best
  std::vector<icl_example> examples;     ///< the in-context examples (optimized when stage 1 ran)
  std::vector<icl_trace> icl;            ///< stage 1, per example
  std::vector<candidate> trace;          ///< stage 2, every evaluated candidate, by id
  std::vector<rejected_proposal> rejected;
  std::string strategy;                  ///< "beam", "greedy", "mcts", or a user strategy
  search::search_stats search;
  /// How the run ended, in the shape every algorithm's report shares ("completed" or "<code>: <message>").
  run_status status;
  /// Usage and cost by role ("base", "selector", "judge", "optimizer", "embedder") and in total.
  usage_summary run_usage;
  // The fields below predate `status` and `run_usage` and say the same (kept for one release):
  std::map<std::string, usage_totals> usage_by_role;  ///< = run_usage.by_role
  usage_totals total;                    ///< = run_usage.total
  std::int64_t cache_hits = 0;           ///< = run_usage.total.cache_hits: answers that came from a cache
  /// Why the run ended: how a complete search ended ("depth", "examples optimized", ...), else
  /// "budget_exhausted: ...", "cancelled: ...", "error: ..." (status.stop_reason is the common form).
  std::string stop_reason;
  bool complete = false;                 ///< = status.complete; false: stopped early, the artefacts are the best so far
  std::optional<selfalign::error> error; ///< = status.error: what stopped an incomplete run
  double wall_seconds = 0.0;
  std::uint64_t seed = 0;
  /// Base-model answers received, and how many of them ended at sampling.max_tokens
  /// (finish_reason "length"): a high share means the answers the judge scored were cut off,
  /// often an adapter that never reports an end of sequence. optimize() warns from one half on.
  std::size_t base_answers = 0;
  std::size_t base_answers_cut = 0;
};

// JSON ------------------------------------------------------------------------------------------

SELFALIGN_DECL void to_json(nlohmann::json& j, const icl_example& e);
SELFALIGN_DECL void from_json(const nlohmann::json& j, icl_example& e);
SELFALIGN_DECL void to_json(nlohmann::json& j, const evaluation& e);
SELFALIGN_DECL void from_json(const nlohmann::json& j, evaluation& e);
SELFALIGN_DECL void to_json(nlohmann::json& j, const candidate& c);
SELFALIGN_DECL void from_json(const nlohmann::json& j, candidate& c);
SELFALIGN_DECL void to_json(nlohmann::json& j, const rejected_proposal& r);
SELFALIGN_DECL void from_json(const nlohmann::json& j, rejected_proposal& r);
SELFALIGN_DECL void to_json(nlohmann::json& j, const icl_round& r);
SELFALIGN_DECL void from_json(const nlohmann::json& j, icl_round& r);
SELFALIGN_DECL void to_json(nlohmann::json& j, const icl_trace& t);
SELFALIGN_DECL void from_json(const nlohmann::json& j, icl_trace& t);
SELFALIGN_DECL void to_json(nlohmann::json& j, const report& r);
SELFALIGN_DECL void from_json(const nlohmann::json& j, report& r);

/// Reports are equal when their JSON forms are (every field, numbers exactly).
[[nodiscard]] SELFALIGN_DECL bool operator==(const report& a, const report& b);

/// The report as JSON text (indent -1: one line).
[[nodiscard]] SELFALIGN_DECL std::string to_json_text(const report& r, int indent = 2);
/// Reads a report written by to_json_text; errc::bad_response when it is not one.
[[nodiscard]] SELFALIGN_DECL result<report> report_from_json_text(std::string_view text);

}  // namespace drpo
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/drpo/impl/report.ipp>
#endif
