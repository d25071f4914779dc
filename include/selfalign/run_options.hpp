// selfalign: run_options — the controls every algorithm's config has under the same names (seed,
// max_concurrency, stop_token, on_event), set for any of them with one call
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/events.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stop_token>

SELFALIGN_BEGIN_NAMESPACE

/// A config with the common run controls: drpo::config, rain::config and dlma::config.
template <class Config>
concept RunConfig = requires(Config& c) {
  { c.seed } -> std::convertible_to<std::uint64_t>;
  { c.max_concurrency } -> std::convertible_to<std::size_t>;
  { c.stop_token } -> std::convertible_to<std::stop_token>;
  { c.on_event } -> std::convertible_to<observer>;
};

/// The run controls a caller driving several algorithms sets once. Unset fields leave the
/// algorithm's own value (its defaults differ: RAIN decodes with 4 calls in flight, DRPO and DLMA 8).
struct run_options {
  std::optional<std::uint64_t> seed;           ///< every call's seed derives from it
  std::optional<std::size_t> max_concurrency;  ///< calls in flight at once
  std::stop_token stop_token;                  ///< request a stop: the run ends with its partial report
  observer on_event;                           ///< progress, step and stop events

  /// Copies the fields that are set into `cfg`.
  template <RunConfig Config>
  void apply_to(Config& cfg) const {
    if (seed) cfg.seed = *seed;
    if (max_concurrency) cfg.max_concurrency = *max_concurrency;
    if (stop_token.stop_possible()) cfg.stop_token = stop_token;
    if (on_event) cfg.on_event = on_event;
  }
};

SELFALIGN_END_NAMESPACE
