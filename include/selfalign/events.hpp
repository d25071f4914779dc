// selfalign: events that wrappers and algorithms report to an observer
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/result.hpp>
#include <selfalign/types.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

SELFALIGN_BEGIN_NAMESPACE

enum class event_kind {
  call_started,   ///< a model call is about to be made
  call_finished,  ///< a model call answered (latency and usage set)
  call_failed,    ///< a model call returned an error (error set)
  progress,       ///< an algorithm finished a unit of work (values: "done", "total")
  search_step,    ///< a search level or candidate was scored (values hold the scores)
  warning,        ///< something recoverable happened (a torn cache line, a parse retry)
  stopped,        ///< an algorithm stopped (message: the stop reason)
};

[[nodiscard]] constexpr std::string_view to_string(event_kind k) noexcept {
  switch (k) {
    case event_kind::call_started: return "call_started";
    case event_kind::call_finished: return "call_finished";
    case event_kind::call_failed: return "call_failed";
    case event_kind::progress: return "progress";
    case event_kind::search_step: return "search_step";
    case event_kind::warning: return "warning";
    case event_kind::stopped: return "stopped";
  }
  return "unknown";
}

/// One event. Fields that do not apply to a kind keep their defaults.
struct event {
  event_kind kind = event_kind::progress;
  std::string source;     ///< who reports: an operation ("generate", "score", "judge", "embed") or an algorithm ("drpo")
  std::string role;       ///< the role label of the wrapped backend ("base", "judge", "optimizer"), if any
  std::uint64_t call_id = 0;      ///< pairs call_started with its call_finished / call_failed
  double latency_ms = 0.0;        ///< call_finished / call_failed
  selfalign::usage usage;         ///< call_finished
  std::optional<selfalign::error> error;  ///< call_failed
  std::string message;            ///< free text (stop reason, warning text, step description)
  std::map<std::string, double> values;   ///< numbers (scores, counts)
};

/// Receives events. selfalign calls an observer from one thread at a time per wrapper or
/// algorithm, but different wrappers may call it concurrently: make it thread-safe if shared.
using observer = std::function<void(const event&)>;

/// Sends an algorithm's event (progress, search step, warning, stop) to `on_event`; nothing when
/// no observer is set. DRPO, RAIN and DLMA build their events through this one function.
SELFALIGN_DECL void emit_event(const observer& on_event, std::string_view source, event_kind kind, std::string message,
                       std::map<std::string, double> values = {});

SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/impl/events.ipp>
#endif
