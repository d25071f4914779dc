// selfalign: drpo::report — the artefacts (best prompt, optimized examples), the full trace,
// usage and cost per role, and why the run stopped; with JSON round trip
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/config.hpp>
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

inline void to_json(nlohmann::json& j, const icl_example& e) { j = {{"query", e.query}, {"answer", e.answer}}; }
inline void from_json(const nlohmann::json& j, icl_example& e) {
  selfalign::detail::get_if_present(j, "query", e.query);
  selfalign::detail::get_if_present(j, "answer", e.answer);
}
inline void to_json(nlohmann::json& j, const evaluation& e) {
  j = {{"aspects", e.aspects}, {"selection_reasoning", e.selection_reasoning}, {"selection_status", e.selection_status},
       {"verdict", e.verdict}};
  j["reward"] = e.reward ? nlohmann::json(*e.reward) : nlohmann::json(nullptr);
  if (e.error) j["error"] = *e.error;
}
inline void from_json(const nlohmann::json& j, evaluation& e) {
  selfalign::detail::get_if_present(j, "aspects", e.aspects);
  selfalign::detail::get_if_present(j, "selection_reasoning", e.selection_reasoning);
  selfalign::detail::get_if_present(j, "selection_status", e.selection_status);
  selfalign::detail::get_if_present(j, "verdict", e.verdict);
  selfalign::detail::get_if_present(j, "reward", e.reward);
  selfalign::detail::get_if_present(j, "error", e.error);
}
inline void to_json(nlohmann::json& j, const candidate& c) {
  j = {{"id", c.id}, {"level", c.level}, {"beam_index", c.beam_index}, {"candidate_index", c.candidate_index},
       {"origin", c.origin}, {"system_prompt", c.system_prompt}, {"query_index", c.query_index}, {"query", c.query},
       {"response", c.response}, {"eval", c.eval}, {"kept", c.kept}};
  j["parent"] = c.parent ? nlohmann::json(*c.parent) : nlohmann::json(nullptr);
  j["path_score"] = c.path_score ? nlohmann::json(*c.path_score) : nlohmann::json(nullptr);
  j["reused_from"] = c.reused_from ? nlohmann::json(*c.reused_from) : nlohmann::json(nullptr);
}
inline void from_json(const nlohmann::json& j, candidate& c) {
  selfalign::detail::get_if_present(j, "id", c.id);
  selfalign::detail::get_if_present(j, "parent", c.parent);
  selfalign::detail::get_if_present(j, "level", c.level);
  selfalign::detail::get_if_present(j, "beam_index", c.beam_index);
  selfalign::detail::get_if_present(j, "candidate_index", c.candidate_index);
  selfalign::detail::get_if_present(j, "origin", c.origin);
  selfalign::detail::get_if_present(j, "system_prompt", c.system_prompt);
  selfalign::detail::get_if_present(j, "query_index", c.query_index);
  selfalign::detail::get_if_present(j, "query", c.query);
  selfalign::detail::get_if_present(j, "response", c.response);
  selfalign::detail::get_if_present(j, "eval", c.eval);
  selfalign::detail::get_if_present(j, "path_score", c.path_score);
  selfalign::detail::get_if_present(j, "kept", c.kept);
  selfalign::detail::get_if_present(j, "reused_from", c.reused_from);
}
inline void to_json(nlohmann::json& j, const rejected_proposal& r) {
  j = {{"level", r.level}, {"parent", r.parent}, {"candidate_index", r.candidate_index}, {"reason", r.reason}, {"text", r.text}};
}
inline void from_json(const nlohmann::json& j, rejected_proposal& r) {
  selfalign::detail::get_if_present(j, "level", r.level);
  selfalign::detail::get_if_present(j, "parent", r.parent);
  selfalign::detail::get_if_present(j, "candidate_index", r.candidate_index);
  selfalign::detail::get_if_present(j, "reason", r.reason);
  selfalign::detail::get_if_present(j, "text", r.text);
}
inline void to_json(nlohmann::json& j, const icl_round& r) {
  j = {{"round", r.round}, {"answer", r.answer}, {"eval", r.eval}, {"best", r.best}, {"note", r.note}};
  j["total"] = r.total ? nlohmann::json(*r.total) : nlohmann::json(nullptr);
}
inline void from_json(const nlohmann::json& j, icl_round& r) {
  selfalign::detail::get_if_present(j, "round", r.round);
  selfalign::detail::get_if_present(j, "answer", r.answer);
  selfalign::detail::get_if_present(j, "eval", r.eval);
  selfalign::detail::get_if_present(j, "total", r.total);
  selfalign::detail::get_if_present(j, "best", r.best);
  selfalign::detail::get_if_present(j, "note", r.note);
}
inline void to_json(nlohmann::json& j, const icl_trace& t) {
  j = {{"index", t.index}, {"query", t.query}, {"seed_answer", t.seed_answer}, {"best_answer", t.best_answer},
       {"rounds", t.rounds}, {"stop_reason", t.stop_reason}};
  j["best_total"] = t.best_total ? nlohmann::json(*t.best_total) : nlohmann::json(nullptr);
}
inline void from_json(const nlohmann::json& j, icl_trace& t) {
  selfalign::detail::get_if_present(j, "index", t.index);
  selfalign::detail::get_if_present(j, "query", t.query);
  selfalign::detail::get_if_present(j, "seed_answer", t.seed_answer);
  selfalign::detail::get_if_present(j, "best_answer", t.best_answer);
  selfalign::detail::get_if_present(j, "best_total", t.best_total);
  selfalign::detail::get_if_present(j, "rounds", t.rounds);
  selfalign::detail::get_if_present(j, "stop_reason", t.stop_reason);
}
inline void to_json(nlohmann::json& j, const report& r) {
  nlohmann::json stats = {{"levels", r.search.levels}, {"final_max_depth", r.search.final_max_depth},
                          {"depth_increases", r.search.depth_increases}, {"expansions", r.search.expansions},
                          {"evaluations", r.search.evaluations}};
  j = {{"best_prompt", r.best_prompt}, {"best_path", r.best_path}, {"examples", r.examples}, {"icl", r.icl},
       {"trace", r.trace}, {"rejected", r.rejected}, {"strategy", r.strategy}, {"search", stats},
       {"status", r.status}, {"run_usage", r.run_usage},
       {"usage_by_role", r.usage_by_role}, {"total", r.total}, {"cache_hits", r.cache_hits},
       {"stop_reason", r.stop_reason}, {"complete", r.complete}, {"wall_seconds", r.wall_seconds}, {"seed", r.seed},
       {"base_answers", r.base_answers}, {"base_answers_cut", r.base_answers_cut}};
  j["best_score"] = r.best_score ? nlohmann::json(*r.best_score) : nlohmann::json(nullptr);
  j["error"] = r.error ? nlohmann::json(*r.error) : nlohmann::json(nullptr);
}
inline void from_json(const nlohmann::json& j, report& r) {
  using selfalign::detail::get_if_present;
  get_if_present(j, "best_prompt", r.best_prompt);
  get_if_present(j, "best_score", r.best_score);
  get_if_present(j, "best_path", r.best_path);
  get_if_present(j, "examples", r.examples);
  get_if_present(j, "icl", r.icl);
  get_if_present(j, "trace", r.trace);
  get_if_present(j, "rejected", r.rejected);
  get_if_present(j, "strategy", r.strategy);
  if (auto it = j.find("search"); it != j.end() && it->is_object()) {
    get_if_present(*it, "levels", r.search.levels);
    get_if_present(*it, "final_max_depth", r.search.final_max_depth);
    get_if_present(*it, "depth_increases", r.search.depth_increases);
    get_if_present(*it, "expansions", r.search.expansions);
    get_if_present(*it, "evaluations", r.search.evaluations);
  }
  get_if_present(j, "status", r.status);
  get_if_present(j, "run_usage", r.run_usage);
  get_if_present(j, "usage_by_role", r.usage_by_role);
  get_if_present(j, "total", r.total);
  get_if_present(j, "cache_hits", r.cache_hits);
  get_if_present(j, "stop_reason", r.stop_reason);
  get_if_present(j, "complete", r.complete);
  get_if_present(j, "error", r.error);
  get_if_present(j, "wall_seconds", r.wall_seconds);
  get_if_present(j, "seed", r.seed);
  get_if_present(j, "base_answers", r.base_answers);
  get_if_present(j, "base_answers_cut", r.base_answers_cut);
  // A report written before `status` and `run_usage` existed: the same facts from the older fields.
  if (!j.contains("status")) r.status = r.complete ? run_status::completed() : run_status::from(r.error);
  if (!j.contains("run_usage")) r.run_usage = usage_summary{r.usage_by_role, r.total};
}

/// Reports are equal when their JSON forms are (every field, numbers exactly).
[[nodiscard]] inline bool operator==(const report& a, const report& b) { return nlohmann::json(a) == nlohmann::json(b); }

/// The report as JSON text (indent -1: one line).
[[nodiscard]] inline std::string to_json_text(const report& r, int indent = 2) {
  return nlohmann::json(r).dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}
/// Reads a report written by to_json_text; errc::bad_response when it is not one.
[[nodiscard]] inline result<report> report_from_json_text(std::string_view text) {
  return parse_json_as<report>(text, "drpo report");
}

}  // namespace drpo
SELFALIGN_END_NAMESPACE
