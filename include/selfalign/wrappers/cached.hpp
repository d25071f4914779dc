// selfalign: cached<B> — replays answers keyed on everything that changes them, from memory, a
// JSONL file or an SQLite database (resume an interrupted run for free; share work between runs)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/cache/store.hpp>
#include <selfalign/cache/validate.hpp>
#include <selfalign/capabilities.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/json.hpp>
#include <selfalign/wrappers/forwarding.hpp>

// A program built with the selfalign::sqlite component opens SQLite caches through cache_store::open.
#if defined(SELFALIGN_WITH_SQLITE) && SELFALIGN_WITH_SQLITE
#include <selfalign/cache/sqlite_store.hpp>
#endif

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE

namespace detail {
/// The endpoint kind a request goes to: part of the key, since a server may answer the same text
/// differently through its chat template and its raw completion endpoint.
inline std::string endpoint_of(const generation_request& r) { return r.prompt.is_chat() ? "chat" : "completions"; }
inline std::string endpoint_of(const scoring_request&) { return "completions"; }
inline std::string endpoint_of(const embedding_request&) { return "embeddings"; }
inline std::string endpoint_of(const judge_request&) { return "judge"; }

template <class Req>
inline constexpr bool request_names_model = requires(Req r) { r.model; };
}  // namespace detail

/// Wraps a backend (Generator, ScoringGenerator, Judge or Embedder — whatever B models) and
/// answers a repeated request from the store instead of calling B.
///
/// The key is the canonical JSON of everything that changes an answer: the operation, the
/// wrapper's scope, the endpoint kind (chat or completions), the resolved model name (the
/// backend's default model when the request names none, from capabilities().default_model), the
/// whole request (prompt, every sampling field, the seed and n) and the fields the backend adds
/// to every request (capabilities().fixed_request_fields, e.g. an HTTP backend's extra body). The
/// base URL is deliberately not in it: replicas of one model share answers. Only successful
/// answers are stored; replayed answers have `usage.from_cache = true`. Requests that differ only
/// in being sampled again must differ in their seed: selfalign's algorithms derive one per call.
///
/// A stored answer is checked as strictly as a server's answer before it is replayed: an invalid
/// or damaged record is a miss (the backend is asked again and the record replaced) and a warning.
///
/// Identical requests in flight at the same time are made once: later callers wait for the first.
/// With an SQLite store shared by several processes the same holds across processes
/// (cache_options::single_flight).
template <class B>
class cached : public detail::forwarding_wrapper<cached<B>, B> {
  using base = detail::forwarding_wrapper<cached<B>, B>;
  friend base;

 public:
  /// `scope` separates roles that share a store (e.g. "base" and "judge" on different servers).
  cached(B inner, std::shared_ptr<cache_store> store, std::string scope = {})
      : base(std::forward<B>(inner)), store_(std::move(store)), scope_(std::move(scope)), shared_(std::make_shared<shared_state>()) {}
  /// An in-memory cache of its own. (A constrained template, for the reason given in forwarding_wrapper.)
  template <class U>
    requires(!std::is_base_of_v<cached, std::remove_cvref_t<U>> && std::is_constructible_v<B, U &&>)
  explicit cached(U&& inner) : cached(B(std::forward<U>(inner)), std::make_shared<cache_store>()) {}

  [[nodiscard]] cache_store& store() noexcept { return *store_; }
  [[nodiscard]] std::shared_ptr<cache_store> shared_store() const noexcept { return store_; }
  [[nodiscard]] cache_stats stats() const { return store_->stats(); }

  /// The key under which a request is stored (asks the backend for its default model when the
  /// request names none).
  template <class Req>
  [[nodiscard]] std::string key_of(std::string_view op, const Req& r) {
    return key_for(op, r, model_for(r));
  }

 private:
  struct shared_state {
    std::mutex mutex;
    std::condition_variable done;
    std::unordered_map<std::string, int> inflight;
    std::optional<capabilities> caps;  // remembered once the backend named its default model
  };

  /// The backend's default model and fixed request fields (asked until it names a model).
  capabilities backend_identity() {
    {
      std::lock_guard lock(shared_->mutex);
      if (shared_->caps) return *shared_->caps;
    }
    capabilities c = capabilities_of(this->inner_);
    if (!c.default_model.empty()) {
      std::lock_guard lock(shared_->mutex);
      shared_->caps = c;
    }
    return c;
  }

  template <class Req>
  std::string model_for(const Req& r) {
    if constexpr (detail::request_names_model<Req>) {
      if (!r.model.empty()) return r.model;
    }
    return backend_identity().default_model;
  }

  template <class Req>
  std::string key_for(std::string_view op, const Req& r, const std::string& model) {
    nlohmann::json request = r;
    if constexpr (detail::request_names_model<Req>) request["model"] = model;
    nlohmann::json k = {{"op", op}, {"scope", scope_}, {"endpoint", detail::endpoint_of(r)}, {"model", model}, {"request", std::move(request)}};
    const auto fixed = backend_identity().fixed_request_fields;
    if (!fixed.empty()) k["backend"] = fixed;
    return k.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }

  template <class T, class Req, class Call>
  result<T> through(std::string_view op, const Req& r, Call&& call) {
    const std::string model = model_for(r);
    const std::string key = key_for(op, r, model);
    const cache_record_info info{std::string(op), scope_, model};
    {
      // Wait while an identical request is in flight in this process, then claim the key.
      std::unique_lock lock(shared_->mutex);
      shared_->done.wait(lock, [&] { return shared_->inflight.find(key) == shared_->inflight.end(); });
      shared_->inflight.emplace(key, 1);
    }
    struct release_local {
      shared_state& s;
      const std::string& k;
      ~release_local() {
        { std::lock_guard l(s.mutex); s.inflight.erase(k); }
        s.done.notify_all();
      }
    } local_guard{*shared_, key};

    // Across processes: the first to claim the key calls; the others wait for its answer.
    auto delay = std::chrono::milliseconds(5);
    bool waited = false, answered = false;
    for (;;) {
      bool unusable = false;
      if (auto hit = replay<T>(key, info, r, unusable)) {
        store_->count_lookup(info, true);
        return std::move(*hit);
      }
      // A refused record, or "answered" followed by a failed replay: claim anyway, to replace it.
      const auto claim = store_->claim(key, unusable || answered);
      answered = claim == cache_store::claim_result::answered;
      if (claim == cache_store::claim_result::claimed) break;
      if (claim == cache_store::claim_result::wait) {
        if (!waited) store_->note_wait();
        waited = true;
        std::this_thread::sleep_for(delay);
        delay = std::min(delay * 2, std::chrono::milliseconds(200));
      }
    }

    store_->count_lookup(info, false);
    result<T> answer = call();
    if (!answer) {
      store_->release(key);
      return answer;
    }
    if (auto stored = store_->insert(key, nlohmann::json(*answer), info); !stored) {
      store_->release(key);
      return unexpected(std::move(stored).error());
    }
    return answer;
  }

  // A list of prompts for one request (generate_multi): each prompt is looked up under the key its
  // single request has (so answers are shared between lists and single calls, and a resumed run
  // repeats none); the cached ones are answered from the store and the others go out together, in
  // their order, as one list. Identical prompts of one list are asked once (the repeats replay the
  // first answer, as a repeated single call would). The keys of the list are claimed in this
  // process all at once (no two lists can wait on each other); a key another process is answering
  // (a shared SQLite store) is left out of the list and asked afterwards as a single call, which
  // waits for that answer.
  template <class T, class Req, class CallMulti>
  std::vector<result<T>> through_multi(std::string_view op, std::span<const Req> rs, const batch_options&, CallMulti&& call_multi) {
    const std::size_t n = rs.size();
    std::vector<std::optional<result<T>>> out(n);
    std::vector<std::string> keys;
    std::vector<cache_record_info> infos;
    keys.reserve(n);
    infos.reserve(n);
    for (const Req& r : rs) {
      std::string model = model_for(r);
      keys.push_back(key_for(op, r, model));
      infos.push_back(cache_record_info{std::string(op), scope_, std::move(model)});
    }
    std::vector<std::size_t> first(n);  // the first request of the list with the same key
    std::vector<std::size_t> unique;
    {
      std::unordered_map<std::string_view, std::size_t> seen;
      for (std::size_t i = 0; i < n; ++i) {
        auto [it, fresh] = seen.emplace(keys[i], i);
        first[i] = it->second;
        if (fresh) unique.push_back(i);
      }
    }
    std::vector<std::size_t> deferred;  // claimed by another process: asked as single calls afterwards
    {
      {
        std::unique_lock lock(shared_->mutex);
        shared_->done.wait(lock, [&] {
          for (std::size_t u : unique)
            if (shared_->inflight.find(keys[u]) != shared_->inflight.end()) return false;
          return true;
        });
        for (std::size_t u : unique) shared_->inflight.emplace(keys[u], 1);
      }
      struct release_local {
        shared_state& s;
        const std::vector<std::string>& keys;
        const std::vector<std::size_t>& claimed;
        ~release_local() {
          {
            std::lock_guard l(s.mutex);
            for (std::size_t u : claimed) s.inflight.erase(keys[u]);
          }
          s.done.notify_all();
        }
      } local_guard{*shared_, keys, unique};

      std::vector<std::size_t> send;
      for (std::size_t u : unique) {
        bool unusable = false;
        if (auto hit = replay<T>(keys[u], infos[u], rs[u], unusable)) {
          store_->count_lookup(infos[u], true);
          out[u] = std::move(*hit);
          continue;
        }
        if (store_->claim(keys[u], unusable) == cache_store::claim_result::claimed) {
          send.push_back(u);
        } else {
          deferred.push_back(u);
        }
      }
      if (!send.empty()) {
        std::vector<Req> subset;
        subset.reserve(send.size());
        for (std::size_t u : send) {
          store_->count_lookup(infos[u], false);
          subset.push_back(rs[u]);
        }
        std::vector<result<T>> answers;
        try {
          answers = call_multi(std::span<const Req>(subset));
        } catch (...) {
          for (std::size_t u : send) store_->release(keys[u]);
          throw;
        }
        for (std::size_t k = 0; k < send.size(); ++k) {
          const std::size_t u = send[k];
          if (k >= answers.size()) {  // a short answer: the CPOs' checks make this unreachable
            store_->release(keys[u]);
            out[u] = result<T>(fail(errc::internal, "the inner model answered fewer results than requests"));
            continue;
          }
          result<T>& a = answers[k];
          if (!a) {
            store_->release(keys[u]);
          } else if (auto stored = store_->insert(keys[u], nlohmann::json(*a), infos[u]); !stored) {
            store_->release(keys[u]);
            out[u] = result<T>(unexpected(std::move(stored).error()));
            continue;
          }
          out[u] = std::move(a);
        }
      }
    }  // the list's keys are released here, before the deferred single calls claim theirs
    for (std::size_t u : deferred) {
      out[u] = through<T>(op, rs[u], [&]() -> result<T> {
        auto one = call_multi(rs.subspan(u, 1));
        if (one.size() != 1) return fail(errc::internal, fmt::format("the inner model answered a list of 1 prompt with {} results", one.size()));
        return std::move(one.front());
      });
    }
    std::vector<result<T>> answers;
    answers.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      if (first[i] == i) {
        answers.push_back(std::move(*out[i]));
        continue;
      }
      // A repeat within the list: the first one's answer, replayed (counted as a hit, as a
      // repeated single call would be).
      result<T> again = answers[first[i]];
      if (again) {
        again->usage.from_cache = true;
        store_->count_lookup(infos[i], true);
      }
      answers.push_back(std::move(again));
    }
    return answers;
  }

  template <class T, class Req>
  std::optional<result<T>> replay(const std::string& key, const cache_record_info& info, const Req& r, bool& unusable) {
    auto j = store_->peek(key, info, &unusable);
    if (!j) return std::nullopt;
    auto value = detail::read_cached_answer<T>(*j, r);
    if (!value) {
      unusable = true;
      store_->reject(fmt::format("a cached '{}' answer of role '{}' (model '{}') is invalid ({}); asking the backend again",
                                 info.op, info.role, info.model, value.error().message));
      return std::nullopt;
    }
    value->usage.from_cache = true;
    return result<T>(std::move(*value));
  }

  std::shared_ptr<cache_store> store_;
  std::string scope_;
  std::shared_ptr<shared_state> shared_;
};

// An lvalue is borrowed (cached<B&>), an rvalue is moved in (cached<B>): docs/concepts.md.
template <class B>
cached(B&&) -> cached<B>;
template <class B>
cached(B&&, std::shared_ptr<cache_store>) -> cached<B>;
template <class B>
cached(B&&, std::shared_ptr<cache_store>, std::string) -> cached<B>;

SELFALIGN_END_NAMESPACE
