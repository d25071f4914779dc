// selfalign: definitions for <selfalign/run_status.hpp> (run_status — how a run of any algorithm ended, in one shape: complete or not, why,)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/json_fields.hpp>
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

namespace detail {
inline constexpr auto run_status_fields = json_fields(
    json_field("complete", &run_status::complete),
    json_field("stop_reason", &run_status::stop_reason),
    json_field("error", &run_status::error));  // null when none
}  // namespace detail

SELFALIGN_DECL void to_json(nlohmann::json& j, const run_status& s) {
  detail::write_json_fields(j, s, detail::run_status_fields);
}

SELFALIGN_DECL void from_json(const nlohmann::json& j, run_status& s) {
  detail::read_json_fields(j, s, detail::run_status_fields);
}

SELFALIGN_END_NAMESPACE
