// selfalign: how the library calls a model — never more calls at once than the model accepts
// (capabilities::max_concurrent_calls), and every answer checked against what was asked
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/capabilities.hpp>
#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/result.hpp>
#include <selfalign/types.hpp>

#include <fmt/format.h>

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace detail {

/// Library types that only pass calls on to a model they hold (wrappers, type erasure, judges
/// over a Generator) say so with this member type: the library then limits the calls that reach
/// the model they hold, not the calls into them.
template <class T>
concept forwards_calls = requires { typename std::remove_cvref_t<T>::selfalign_forwards_calls; };

/// How many calls `obj` accepts at once (0: any number): its max_concurrent_calls() member, else
/// unlimited for a forwarder, else its capabilities(), else 1.
template <class T>
[[nodiscard]] std::size_t call_limit_of(T& obj) {
  if constexpr (declares_call_limit<T>) {
    return static_cast<std::size_t>(obj.max_concurrent_calls());
  } else if constexpr (forwards_calls<T>) {
    return 0;
  } else if constexpr (describes_itself<T>) {
    return selfalign::capabilities(obj.capabilities()).max_concurrent_calls;
  } else {
    return 1;
  }
}

/// Calls in flight per model object, process-wide, so that every executor and every role that
/// shares one object shares its limit.
class call_gates {
 public:
  static call_gates& instance() {
    static call_gates gates;
    return gates;
  }
  void acquire(const void* key, std::size_t limit) {
    std::unique_lock lock(mutex_);
    freed_.wait(lock, [&] {
      auto it = in_flight_.find(key);
      return it == in_flight_.end() || it->second < limit;
    });
    ++in_flight_[key];
  }
  void release(const void* key) {
    {
      std::lock_guard lock(mutex_);
      auto it = in_flight_.find(key);
      if (it != in_flight_.end() && --it->second == 0) in_flight_.erase(it);
    }
    freed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable freed_;
  std::unordered_map<const void*, std::size_t> in_flight_;
};

/// Runs `f()` (one call into `obj`) once `obj` has a free call slot.
template <class T, class F>
decltype(auto) with_call_slot(T& obj, F&& f) {
  const std::size_t limit = call_limit_of(obj);
  if (limit == 0) return std::forward<F>(f)();
  struct slot {
    const void* key;
    explicit slot(const void* k, std::size_t n) : key(k) { call_gates::instance().acquire(key, n); }
    slot(const slot&) = delete;
    slot& operator=(const slot&) = delete;
    ~slot() { call_gates::instance().release(key); }
  } held(static_cast<const void*>(std::addressof(obj)), limit);
  return std::forward<F>(f)();
}

// What an answer lacks of what its request asked for, or nothing. The adapter-facing contract is
// docs/adapters.md; these are the parts a wrong adapter gets wrong silently.
[[nodiscard]] inline std::optional<std::string> generation_shortfall(const generation_request& req, const generation& g) {
  const int n = req.sampling.n < 1 ? 1 : req.sampling.n;
  if (static_cast<int>(g.choices.size()) != n)
    return fmt::format("answered a request for {} choice{} (sampling.n) with {} (generation::choices)", n,
                       n == 1 ? "" : "s", g.choices.size());
  if (req.sampling.logprobs >= 0) {
    bool any_top = false, any_tokens = false;
    for (const auto& c : g.choices) {
      if (!c.text.empty() && c.tokens.empty())
        return fmt::format("answered a request for logprobs (sampling.logprobs = {}) without them: "
                           "completion::tokens is empty although the text is not",
                           req.sampling.logprobs);
      for (const auto& t : c.tokens) {
        any_tokens = true;
        any_top = any_top || !t.top.empty();
      }
    }
    if (req.sampling.logprobs > 0 && any_tokens && !any_top)
      return fmt::format("answered a request for the top {} alternatives per token (sampling.logprobs) without "
                         "any: token_logprob::top is empty for every token",
                         req.sampling.logprobs);
  }
  return std::nullopt;
}

[[nodiscard]] inline std::optional<std::string> scoring_shortfall(const scoring_request& req, const scoring& s) {
  if ((!req.continuation.empty() || !req.continuation_token_ids.empty()) && s.tokens.empty())
    return std::string("answered a scoring request without per-token logprobs: scoring::tokens is empty although "
                       "the continuation is not");
  return std::nullopt;
}

[[nodiscard]] inline std::optional<std::string> embedding_shortfall(const embedding_request& req, const embeddings& e) {
  if (e.vectors.size() != req.texts.size())
    return fmt::format("answered a request to embed {} text{} with {} vector{} (embeddings::vectors)", req.texts.size(),
                       req.texts.size() == 1 ? "" : "s", e.vectors.size(), e.vectors.size() == 1 ? "" : "s");
  return std::nullopt;
}

template <class B, class T>
[[nodiscard]] result<T> refuse_shortfall(result<T> answer, const std::optional<std::string>& shortfall) {
  if (!shortfall) return answer;
  return fail(errc::unsupported,
              fmt::format("{} {}; docs/adapters.md lists what each answer must contain", type_name<B>(), *shortfall));
}

template <class B, class Req, class T>
[[nodiscard]] result<T> checked(const Req& req, result<T> answer) {
  if (!answer) return answer;
  if constexpr (std::is_same_v<T, generation>) {
    auto s = generation_shortfall(req, *answer);
    return refuse_shortfall<B>(std::move(answer), s);
  } else if constexpr (std::is_same_v<T, scoring>) {
    auto s = scoring_shortfall(req, *answer);
    return refuse_shortfall<B>(std::move(answer), s);
  } else if constexpr (std::is_same_v<T, embeddings>) {
    auto s = embedding_shortfall(req, *answer);
    return refuse_shortfall<B>(std::move(answer), s);
  } else {
    return answer;
  }
}

/// One generate call as every part of selfalign makes it: within the model's call limit, the
/// answer checked against the request.
template <class G>
[[nodiscard]] result<generation> call_generate(G& g, const generation_request& r) {
  return checked<G>(r, with_call_slot(g, [&] { return as_result<generation>(g.generate(r)); }));
}
template <class G>
[[nodiscard]] result<scoring> call_score(G& g, const scoring_request& r) {
  return checked<G>(r, with_call_slot(g, [&] { return as_result<scoring>(g.score(r)); }));
}
template <class J>
[[nodiscard]] result<judgement> call_judge(J& j, const judge_request& r) {
  return with_call_slot(j, [&] { return as_result<judgement>(j.judge(r)); });
}
template <class E>
[[nodiscard]] result<embeddings> call_embed(E& e, const embedding_request& r) {
  return checked<E>(r, with_call_slot(e, [&] { return as_result<embeddings>(e.embed(r)); }));
}
template <class T>
[[nodiscard]] result<std::vector<token_id>> call_tokenize(T& t, std::string_view text, bool add_special) {
  return with_call_slot(t, [&] { return as_result<std::vector<token_id>>(t.tokenize(text, add_special)); });
}
template <class T>
[[nodiscard]] result<std::string> call_detokenize(T& t, std::span<const token_id> ids) {
  return with_call_slot(t, [&] { return as_result<std::string>(t.detokenize(ids)); });
}

/// Checks each answer of an adapter's own batch member against its request.
template <class B, class Req, class T>
[[nodiscard]] std::vector<result<T>> checked_batch(std::span<const Req> requests, std::vector<result<T>> answers) {
  if (answers.size() != requests.size()) {
    std::vector<result<T>> out;
    out.reserve(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i)
      out.emplace_back(fail(errc::unsupported, fmt::format("{} answered a batch of {} requests with {} results",
                                                           type_name<B>(), requests.size(), answers.size())));
    return out;
  }
  for (std::size_t i = 0; i < answers.size(); ++i) answers[i] = checked<B>(requests[i], std::move(answers[i]));
  return answers;
}

}  // namespace detail
SELFALIGN_END_NAMESPACE
