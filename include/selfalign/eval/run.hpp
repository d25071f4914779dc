// selfalign: eval run settings and the loop shared by the judged protocols — chunked, concurrent
// judge questions with parse retries; a call failure stops the run with the finished items kept
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/batch.hpp>
#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/detail/ask_until_parsed.hpp>
#include <selfalign/eval/evaluation.hpp>
#include <selfalign/judges/prompts.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace eval {

/// Controls every protocol shares.
struct run_settings {
  std::uint64_t seed = 0;  ///< each judge call's seed derives from it and the item id
  std::size_t max_concurrency = 8;
  std::size_t chunk_size = 64;  ///< items per step: the granularity of progress and of stopping
  std::stop_token stop;         ///< when requested, the run stops after the calls in flight
  bootstrap_options bootstrap;  ///< interval procedure (its own seed: same seed, same intervals)
  /// Called after each chunk with (items done, items total), for progress lines.
  std::function<void(std::size_t, std::size_t)> on_progress;
};

/// The judge model's request settings for the label protocols.
struct judge_call_options {
  std::string model;  ///< request model name; empty: the backend's default
  selfalign::sampling sampling = [] {
    selfalign::sampling s;
    s.temperature = 0.0;
    s.max_tokens = 1024;
    return s;
  }();
  int parse_retries = 1;           ///< further asks when an answer cannot be read
  double retry_temperature = 0.7;  ///< a retry at T 0 would repeat the same output
};

namespace detail {

/// A template error (a {{placeholder}} without a value), found before any call.
[[nodiscard]] SELFALIGN_DECL std::optional<selfalign::error> template_error(std::string_view tpl, const std::vector<std::string>& names,
                                                                  std::string_view who);

/// What every protocol starts from: an evaluation named `protocol` with one item record per
/// input, in input order; `answer` and `baseline` pick an input's two texts (baseline may be null).
template <class Input>
[[nodiscard]] evaluation start_evaluation(std::string protocol, std::span<const Input> inputs, const run_settings& rs,
                                          std::string Input::*answer, std::string Input::*baseline = nullptr) {
  evaluation ev;
  ev.protocol = std::move(protocol);
  ev.bootstrap = rs.bootstrap;
  ev.items.reserve(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    item_record it;
    it.index = i;
    it.id = inputs[i].id;
    it.query = inputs[i].query;
    it.response = inputs[i].*answer;
    if (baseline) it.baseline = inputs[i].*baseline;
    ev.items.push_back(std::move(it));
  }
  return ev;
}

/// After an item's calls: a call over the judge's context fails the item alone (recorded in
/// it.failure); any other failed call stops the run (`stop` keeps the first). True when the item's
/// answers can be used.
SELFALIGN_DECL bool item_calls_succeeded(item_record& it, const std::optional<selfalign::error>& failed,
                                 std::optional<selfalign::error>& stop);

/// Records how the run ended in ev.status (first stop wins) and counts failures/unfinished.
SELFALIGN_DECL void finish_run(evaluation& ev, const std::optional<selfalign::error>& stop);

/// Asks `per_item` questions about every item of ev.items through ask_until_parsed, chunk by
/// chunk, and hands each item's parsed answers to finish(item, answers). An item with a failed
/// call stays unfinished and stops the run after its chunk (its error goes to ev.status).
template <class T, Generator G>
void judge_items(G& model, evaluation& ev, std::size_t per_item,
                 const std::function<selfalign::detail::question(const item_record&, std::size_t)>& ask,
                 const std::function<result<T>(const std::string&)>& parse,
                 const std::function<void(item_record&, std::vector<selfalign::detail::parsed_answer<T>>&)>& finish,
                 const judge_call_options& call, std::string_view retry_tag, const run_settings& rs) {
  std::optional<selfalign::error> stop;
  const std::size_t n = ev.items.size();
  const std::size_t chunk = rs.chunk_size == 0 ? 1 : rs.chunk_size;
  const selfalign::detail::ask_options ask_opt{call.model, call.sampling, call.parse_retries, call.retry_temperature, retry_tag};
  const batch_options batch{rs.max_concurrency == 0 ? 1 : rs.max_concurrency, rs.stop};
  for (std::size_t begin = 0; begin < n && !stop; begin += chunk) {
    if (rs.stop.stop_requested()) {
      stop = selfalign::error(errc::cancelled, "the evaluation was stopped");
      break;
    }
    const std::size_t end = std::min(n, begin + chunk);
    std::vector<selfalign::detail::question> questions;
    for (std::size_t i = begin; i < end; ++i)
      for (std::size_t k = 0; k < per_item; ++k) questions.push_back(ask(ev.items[i], k));
    auto answers = selfalign::detail::ask_until_parsed<T>(model, std::span<const selfalign::detail::question>(questions), ask_opt, batch,
                                                        [&](std::size_t, const std::string& text) { return parse(text); });
    for (std::size_t i = begin; i < end; ++i) {
      std::vector<selfalign::detail::parsed_answer<T>> mine;
      std::optional<selfalign::error> failed;
      for (std::size_t k = 0; k < per_item; ++k) {
        auto& a = answers[(i - begin) * per_item + k];
        if (a.failure && !failed) failed = a.failure;
        mine.push_back(std::move(a));
      }
      if (!item_calls_succeeded(ev.items[i], failed, stop)) continue;
      for (const auto& a : mine) ev.items[i].judge_usage += a.usage;
      finish(ev.items[i], mine);
    }
    if (rs.on_progress) rs.on_progress(end, n);
  }
  finish_run(ev, stop);
}

}  // namespace detail
}  // namespace eval
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/eval/impl/run.ipp>
#endif
