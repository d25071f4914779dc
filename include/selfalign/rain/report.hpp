// selfalign: rain::input, rain::report and its statistics
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/json.hpp>
#include <selfalign/rain/input.hpp>
#include <selfalign/rain/tree.hpp>
#include <selfalign/result.hpp>
#include <selfalign/run_status.hpp>
#include <selfalign/types.hpp>
#include <selfalign/usage.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace rain {

/// What one outer step (one committed token set) cost.
struct step_stats {
  std::string text;             ///< the committed token set's text
  int tokens = 0;               ///< tokens in it
  int inner_iterations = 0;     ///< searches run in this step
  int reused_visits = 0;        ///< it0: real visits inherited from the previous step's subtree [C]
  int rewinds = 0;              ///< searches that left the line the previous search had extended
  /// Evaluations the judge could not give (no score): nothing was backed up for them, the search
  /// went on. `evaluation_failure` holds the first one's reason.
  int failed_evaluations = 0;
  std::string evaluation_failure;
  std::int64_t requests = 0;    ///< model requests (generation + judge)
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
};

/// Totals over a decode.
struct statistics {
  int outer_steps = 0;
  int inner_iterations = 0;
  int rewinds = 0;
  std::size_t nodes = 0;             ///< nodes created (the tree's size, reused or not)
  int dynamic_additions = 0;         ///< children added by dynamic node addition
  std::int64_t requests = 0;         ///< generation requests issued plus the judge's reported requests
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  int rollouts = 0;                  ///< simulation requests
  int evaluations = 0;               ///< judge calls made
  int evaluation_cache_hits = 0;     ///< evaluations answered from the by-text cache
  int failed_evaluations = 0;        ///< judge answers without a score (the search went on without them)
  int distribution_cache_hits = 0;   ///< next-token top-k answered from the by-prefix cache
  int speculative_leaves = 0;        ///< leaves whose work speculation started (config::speculation_depth)
  int speculation_hits = 0;          ///< searches that took their leaf's work from speculation
  int embedding_calls = 0;
  int response_tokens = 0;
  double wall_ms = 0.0;
};

/// The result of rain::decode (or decode_vanilla). When `error` is set the decode stopped early
/// and `response` holds what was committed until then.
struct report {
  std::string response;
  std::vector<token> tokens;       ///< committed tokens (an EOS token last when the model ended)
  std::string stop_reason;         ///< "eos", "turn_marker", "max_new_tokens", "max_length", "no_candidates", "cancelled" (config::stop_token), "error"
  statistics stats;
  std::vector<step_stats> steps;
  std::optional<selfalign::error> error;  ///< = status.error (kept for one release)
  nlohmann::json tree;             ///< the final tree when config.keep_tree, else null
  /// How the decode ended, in the shape every algorithm's report shares: complete unless an error
  /// or a cancellation stopped it ("<code>: <message>"); `stop_reason` above says why the text ended.
  run_status status;
  /// Requests and tokens by role ("generator", "judge", "embedder") and in total.
  usage_summary run_usage;

  [[nodiscard]] bool ok() const noexcept { return !error.has_value(); }
};

// JSON ------------------------------------------------------------------------------------------
// A report reads back from what it writes (write, read, write gives the same JSON), through the
// field tables in impl/report.ipp. `tree` is kept as the JSON it was written as: a report read
// back holds the tree's JSON form, not a search tree to continue from.

SELFALIGN_DECL void to_json(nlohmann::json& j, const token& t);
SELFALIGN_DECL void from_json(const nlohmann::json& j, token& t);
SELFALIGN_DECL void to_json(nlohmann::json& j, const step_stats& s);
SELFALIGN_DECL void from_json(const nlohmann::json& j, step_stats& s);
SELFALIGN_DECL void to_json(nlohmann::json& j, const statistics& s);
SELFALIGN_DECL void from_json(const nlohmann::json& j, statistics& s);
SELFALIGN_DECL void to_json(nlohmann::json& j, const report& r);
SELFALIGN_DECL void from_json(const nlohmann::json& j, report& r);

/// The report as JSON text (indent -1: one line).
[[nodiscard]] SELFALIGN_DECL std::string to_json_text(const report& r, int indent = 2);
/// Reads a report written by to_json_text (or to_json); errc::bad_response when it is not one.
[[nodiscard]] SELFALIGN_DECL result<report> report_from_json_text(std::string_view text);

}  // namespace rain
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/rain/impl/report.ipp>
#endif
