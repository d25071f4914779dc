// selfalign: generate_batch / score_batch / judge_batch / embed_batch and the bounded parallel
// executor they run on
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/calls.hpp>
#include <selfalign/capabilities.hpp>
#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/result.hpp>
#include <selfalign/types.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <optional>
#include <span>
#include <stop_token>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE

/// How a batch runs. Whatever max_concurrency says, no model receives more calls at once than its
/// capabilities::max_concurrent_calls (an adapter that does not say accepts one at a time).
struct batch_options {
  std::size_t max_concurrency = 8;  ///< calls in flight at once (1: sequential, on the caller's thread)
  std::stop_token stop;             ///< when stop is requested, calls not yet started end as errc::cancelled
};

/// Runs `f(i)` for every i in [0, n) with at most `max_concurrency` calls at once and returns the
/// answers in index order. The caller's thread works too; no threads outlive the call and there is
/// no global pool. If a call throws, no new calls start, the running ones finish, and the first
/// exception is rethrown.
template <class F>
[[nodiscard]] auto parallel_map(std::size_t n, std::size_t max_concurrency, F&& f)
    -> std::vector<std::invoke_result_t<F&, std::size_t>> {
  using R = std::invoke_result_t<F&, std::size_t>;
  std::vector<std::optional<R>> slots(n);
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr first_error;
  std::mutex error_mutex;

  auto worker = [&] {
    for (;;) {
      if (failed.load(std::memory_order_relaxed)) return;
      const std::size_t i = next.fetch_add(1);
      if (i >= n) return;
      try {
        slots[i].emplace(f(i));
      } catch (...) {
        std::lock_guard lock(error_mutex);
        if (!first_error) first_error = std::current_exception();
        failed = true;
        return;
      }
    }
  };

  const std::size_t width = std::max<std::size_t>(1, std::min(max_concurrency, n));
  {
    std::vector<std::jthread> helpers;
    helpers.reserve(width - 1);
    for (std::size_t t = 1; t < width; ++t) helpers.emplace_back(worker);
    worker();
  }  // jthreads join here
  if (first_error) std::rethrow_exception(first_error);

  std::vector<R> out;
  out.reserve(n);
  for (auto& s : slots) out.push_back(std::move(*s));
  return out;
}

namespace detail {

inline unexpected cancelled_error() { return fail(errc::cancelled, "the batch was cancelled before this call started"); }

// The executor's width for `model`: the batch's max_concurrency, capped by the model's call limit.
template <class M>
std::size_t width_for(M& model, const batch_options& options) {
  const std::size_t limit = call_limit_of(model);
  const std::size_t width = options.max_concurrency == 0 ? 1 : options.max_concurrency;
  return limit == 0 ? width : std::min(width, limit);
}

// Calls `single(request)` for each request on the bounded executor, honouring cancellation.
template <class T, class Req, class Single>
std::vector<result<T>> run_batch(std::span<const Req> requests, std::size_t width, const batch_options& options,
                                 Single&& single) {
  return parallel_map(requests.size(), width, [&](std::size_t i) -> result<T> {
    if (options.stop.stop_requested()) return cancelled_error();
    return single(requests[i]);
  });
}

struct generate_batch_fn {
  template <Generator G>
  std::vector<result<generation>> operator()(G& g, std::span<const generation_request> requests,
                                             const batch_options& options = {}) const {
    if constexpr (requires { { g.generate_batch(requests, options) } -> std::convertible_to<std::vector<result<generation>>>; }) {
      return checked_batch<G>(requests, with_call_slot(g, [&] { return g.generate_batch(requests, options); }));
    } else if constexpr (requires { { g.generate_batch(requests) } -> std::convertible_to<std::vector<result<generation>>>; }) {
      return checked_batch<G>(requests, with_call_slot(g, [&] { return g.generate_batch(requests); }));
    } else {
      return run_batch<generation>(requests, width_for(g, options), options,
                                   [&g](const generation_request& r) { return call_generate(g, r); });
    }
  }
};

// Whether `requests` can go out as one multi-prompt request to a backend that takes `max_prompts`
// prompts at once: at least two, within the limit, differing in their prompt alone (same model and
// sampling), and all raw text or all token ids (chat prompts cannot be listed).
[[nodiscard]] inline bool multi_prompt_compatible(std::span<const generation_request> requests, int max_prompts) {
  if (requests.size() < 2 || max_prompts == 1 || max_prompts == 0) return false;
  if (max_prompts > 0 && requests.size() > static_cast<std::size_t>(max_prompts)) return false;
  const generation_request& first = requests.front();
  if (first.prompt.is_chat()) return false;
  for (const auto& r : requests)
    if (r.prompt.is_chat() || r.prompt.is_text() != first.prompt.is_text() || r.model != first.model ||
        !(r.sampling == first.sampling))
      return false;
  return true;
}

struct generate_multi_fn {
  template <Generator G>
  std::vector<result<generation>> operator()(G& g, std::span<const generation_request> requests,
                                             const batch_options& options = {}) const {
    if constexpr (requires { { g.generate_multi(requests, options) } -> std::convertible_to<std::vector<result<generation>>>; }) {
      // A forwarder's own form (cached, metered, observed): one result per request, so that a
      // budget refusal or a cache hit of one prompt does not fail the others. It passes the
      // prompts it sends on to its inner model through this CPO, which decides about the list.
      if (options.stop.stop_requested()) return std::vector<result<generation>>(requests.size(), result<generation>(cancelled_error()));
      return checked_batch<G>(requests, with_call_slot(g, [&] { return g.generate_multi(requests, options); }));
    } else if constexpr (MultiPromptGenerator<G>) {
      if (multi_prompt_compatible(requests, capabilities_of(g).max_prompts)) {
        if (options.stop.stop_requested()) return std::vector<result<generation>>(requests.size(), result<generation>(cancelled_error()));
        result<std::vector<generation>> all =
            with_call_slot(g, [&] { return as_result<std::vector<generation>>(g.generate_multi(requests)); });
        std::vector<result<generation>> out;
        out.reserve(requests.size());
        if (!all) {
          for (std::size_t i = 0; i < requests.size(); ++i) out.emplace_back(unexpected(all.error()));
          return out;
        }
        for (auto& one : *all) out.emplace_back(std::move(one));
        return checked_batch<G>(requests, std::move(out));
      }
    }
    return generate_batch_fn{}(g, requests, options);
  }
};

struct score_batch_fn {
  template <ScoringGenerator G>
  std::vector<result<scoring>> operator()(G& g, std::span<const scoring_request> requests,
                                          const batch_options& options = {}) const {
    if constexpr (requires { { g.score_batch(requests, options) } -> std::convertible_to<std::vector<result<scoring>>>; }) {
      return checked_batch<G>(requests, with_call_slot(g, [&] { return g.score_batch(requests, options); }));
    } else if constexpr (requires { { g.score_batch(requests) } -> std::convertible_to<std::vector<result<scoring>>>; }) {
      return checked_batch<G>(requests, with_call_slot(g, [&] { return g.score_batch(requests); }));
    } else {
      return run_batch<scoring>(requests, width_for(g, options), options,
                                [&g](const scoring_request& r) { return call_score(g, r); });
    }
  }
};

struct judge_batch_fn {
  template <Judge J>
  std::vector<result<judgement>> operator()(J& j, std::span<const judge_request> requests,
                                            const batch_options& options = {}) const {
    if constexpr (requires { { j.judge_batch(requests, options) } -> std::convertible_to<std::vector<result<judgement>>>; }) {
      return checked_batch<J>(requests, with_call_slot(j, [&] { return j.judge_batch(requests, options); }));
    } else if constexpr (requires { { j.judge_batch(requests) } -> std::convertible_to<std::vector<result<judgement>>>; }) {
      return checked_batch<J>(requests, with_call_slot(j, [&] { return j.judge_batch(requests); }));
    } else {
      return run_batch<judgement>(requests, width_for(j, options), options,
                                  [&j](const judge_request& r) { return call_judge(j, r); });
    }
  }
};

struct embed_batch_fn {
  template <Embedder E>
  std::vector<result<embeddings>> operator()(E& e, std::span<const embedding_request> requests,
                                             const batch_options& options = {}) const {
    if constexpr (requires { { e.embed_batch(requests, options) } -> std::convertible_to<std::vector<result<embeddings>>>; }) {
      return checked_batch<E>(requests, with_call_slot(e, [&] { return e.embed_batch(requests, options); }));
    } else {
      return run_batch<embeddings>(requests, width_for(e, options), options,
                                   [&e](const embedding_request& r) { return call_embed(e, r); });
    }
  }
};

}  // namespace detail

/// generate_batch(g, requests, options): one result per request, in request order. Uses
/// `g.generate_batch(requests[, options])` when the adapter has it, else runs `g.generate` on the
/// bounded executor, never more calls at once than g accepts (capabilities::max_concurrent_calls).
/// Each answer is checked against its request (n choices, logprobs when asked): a shortfall is
/// errc::unsupported naming the adapter's type. Adapter exceptions propagate.
inline constexpr detail::generate_batch_fn generate_batch{};
/// generate_multi(g, requests, options): as generate_batch, but requests that differ only in their
/// prompt go out as ONE request carrying all the prompts when the adapter can (MultiPromptGenerator
/// and capabilities::max_prompts allow it: vLLM, SGLang, llama.cpp take a list of prompts on
/// /v1/completions). Otherwise, and for chat prompts, it is generate_batch. The answers are the same
/// either way (same distributions, same seeds); only the number of requests differs. An error of
/// the combined request is every request's error. A forwarder (cached, metered, observed) may
/// answer through a member `generate_multi(requests, options)` returning one result per request:
/// it is preferred, so that the wrapper can answer some prompts itself (a cache hit, a budget
/// refusal) and pass the others on as one list.
inline constexpr detail::generate_multi_fn generate_multi{};
/// score_batch(g, requests, options): as generate_batch, for ScoringGenerator::score.
inline constexpr detail::score_batch_fn score_batch{};
/// judge_batch(j, requests, options): as generate_batch, for Judge::judge.
inline constexpr detail::judge_batch_fn judge_batch{};
/// embed_batch(e, requests, options): as generate_batch, for Embedder::embed.
inline constexpr detail::embed_batch_fn embed_batch{};

SELFALIGN_END_NAMESPACE
