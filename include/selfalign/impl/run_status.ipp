// selfalign: definitions for <selfalign/run_status.hpp> (run_status — how a run of any algorithm ended, in one shape: complete or not, why,)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/run_status.hpp>
#include <selfalign/detail/format.hpp>

SELFALIGN_BEGIN_NAMESPACE

SELFALIGN_DECL run_status run_status::stopped(const selfalign::error& e) {
  run_status s;
  s.complete = false;
  s.stop_reason = selfalign::detail::format_text("{}: {}", to_string(e.code), e.message);
  s.error = e;
  return s;
}

SELFALIGN_DECL bool run_status::resumable() const noexcept {
  return error && (error->code == errc::budget_exhausted || error->code == errc::cancelled);
}

SELFALIGN_DECL void to_json(nlohmann::json& j, const run_status& s) {
  j = nlohmann::json::object();
  j["complete"] = s.complete;
  j["stop_reason"] = s.stop_reason;
  j["error"] = s.error ? nlohmann::json(*s.error) : nlohmann::json(nullptr);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, run_status& s) {
  detail::get_if_present(j, "complete", s.complete);
  detail::get_if_present(j, "stop_reason", s.stop_reason);
  detail::get_if_present(j, "error", s.error);
}

SELFALIGN_END_NAMESPACE
