// selfalign: run_status — how a run of any algorithm ended, in one shape: complete or not, why,
// and the error that stopped it. DRPO, RAIN and DLMA reports each carry one as `status`.
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/json.hpp>
#include <selfalign/result.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>

SELFALIGN_BEGIN_NAMESPACE

/// How a run ended. `stop_reason` has one format for every algorithm: "completed" when the run
/// reached its end, otherwise "<code>: <message>" with the error code's name
/// ("budget_exhausted: the call budget of 40 calls is used up", "cancelled: ...",
/// "context_overflow: ..."). What a completed run produced and why it ended there (DRPO's "depth",
/// RAIN's "eos") stays in the algorithm's own report fields.
///
/// A default-constructed run_status claims nothing: `complete` is false and `stop_reason` is
/// "not run" (with no error), so a report made by hand, or one a run never filled in, does not read
/// as a finished run. Every algorithm sets its report's status to completed() or stopped().
struct run_status {
  bool complete = false;
  std::string stop_reason = "not run";
  std::optional<selfalign::error> error;  ///< what stopped an incomplete run

  /// A run that reached its end.
  [[nodiscard]] static run_status completed() {
    run_status s;
    s.complete = true;
    s.stop_reason = "completed";
    return s;
  }
  /// A run that `e` stopped early; what it produced so far is in the report.
  [[nodiscard]] static run_status stopped(const selfalign::error& e);
  /// stopped(*e) when `e` holds an error, else completed().
  [[nodiscard]] static run_status from(const std::optional<selfalign::error>& e) { return e ? stopped(*e) : completed(); }

  /// Stopped by a budget or a cancellation: rerunning with the same cache resumes.
  [[nodiscard]] bool resumable() const noexcept;
  friend bool operator==(const run_status&, const run_status&) = default;
};

SELFALIGN_DECL void to_json(nlohmann::json& j, const run_status& s);
SELFALIGN_DECL void from_json(const nlohmann::json& j, run_status& s);

SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/impl/run_status.ipp>
#endif
