// selfalign: cached<B> — replays answers keyed on the full canonical request, in memory and
// optionally from an append-only file (resume an interrupted run for free)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/config.hpp>
#include <selfalign/json.hpp>
#include <selfalign/wrappers/forwarding.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unistd.h>

SELFALIGN_BEGIN_NAMESPACE

/// Counters of a cache_store.
struct cache_stats {
  std::size_t hits = 0;
  std::size_t misses = 0;
  std::size_t entries = 0;        ///< answers held
  std::size_t loaded = 0;         ///< answers read from the file at open
  std::size_t skipped_lines = 0;  ///< unreadable lines skipped at open (a torn last line, say)
};

/// How a durable cache_store writes and what it reports.
struct cache_options {
  bool fsync = false;  ///< fsync after each record (survives power loss, not just a killed process)
  std::function<void(const std::string&)> on_warning;  ///< told about torn or unreadable lines
};

/// The answers of finished calls, keyed by canonical request. Thread-safe. Share one store
/// between several cached<> wrappers (each wrapper adds its own scope to the key).
///
/// The durable form is a JSONL file, one `{"key": ..., "value": ...}` record per line, appended
/// and flushed (fflush, and fsync when asked) as each call finishes. At open, every readable
/// line is loaded; an unreadable one (the torn last line of a killed run) is reported through
/// the warning callback and skipped, and later records start on a fresh line.
class cache_store {
 public:
  /// An in-memory store.
  cache_store() = default;

  /// Opens (creating if needed) a durable store at `path`.
  [[nodiscard]] static result<std::shared_ptr<cache_store>> open(const std::filesystem::path& path, cache_options opts = {}) {
    auto store = std::make_shared<cache_store>();
    store->opts_ = std::move(opts);
    if (auto r = store->load(path); !r) return unexpected(std::move(r).error());
    return store;
  }

  /// The stored answer (as JSON) for `key`, counting a hit or a miss.
  [[nodiscard]] std::optional<nlohmann::json> lookup(const std::string& key) {
    std::lock_guard lock(mutex_);
    auto it = map_.find(key);
    if (it == map_.end()) {
      ++stats_.misses;
      return std::nullopt;
    }
    ++stats_.hits;
    return it->second;
  }

  /// Stores an answer; appends it to the file when the store is durable.
  result<void> insert(const std::string& key, nlohmann::json value) {
    std::lock_guard lock(mutex_);
    if (file_) {
      // error_handler_t::replace: a model answer with invalid UTF-8 must not make the record unwritable.
      std::string line = nlohmann::json{{"key", key}, {"value", value}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      line += '\n';
      if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
        return fail(errc::io, fmt::format("cannot append to cache file {}", path_.string()));
      if (opts_.fsync) ::fsync(::fileno(file_));
    }
    map_.insert_or_assign(key, std::move(value));
    return {};
  }

  [[nodiscard]] cache_stats stats() const {
    std::lock_guard lock(mutex_);
    cache_stats s = stats_;
    s.entries = map_.size();
    return s;
  }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

  cache_store(const cache_store&) = delete;
  cache_store& operator=(const cache_store&) = delete;
  ~cache_store() {
    if (file_) std::fclose(file_);
  }

 private:
  result<void> load(const std::filesystem::path& path) {
    path_ = path;
    bool needs_newline = false;
    {
      std::ifstream in(path, std::ios::binary);
      if (in) {
        std::string line;
        std::size_t lineno = 0;
        while (std::getline(in, line)) {
          ++lineno;
          needs_newline = in.eof();  // the last line had no '\n': a torn write
          if (line.empty()) continue;
          auto j = nlohmann::json::parse(line, nullptr, false);
          if (j.is_discarded() || !j.is_object() || !j.contains("key") || !j["key"].is_string() || !j.contains("value")) {
            ++stats_.skipped_lines;
            if (opts_.on_warning)
              opts_.on_warning(fmt::format("{}:{}: skipped an unreadable cache record ({} bytes; a run killed mid-write leaves one)",
                                           path.string(), lineno, line.size()));
            continue;
          }
          map_.insert_or_assign(j["key"].get<std::string>(), std::move(j["value"]));
          ++stats_.loaded;
        }
      }
    }
    file_ = std::fopen(path.c_str(), "ab");
    if (!file_) return fail(errc::io, fmt::format("cannot open cache file {} for appending", path.string()));
    if (needs_newline) {
      std::fputc('\n', file_);
      std::fflush(file_);
    }
    return {};
  }

  mutable std::mutex mutex_;
  std::unordered_map<std::string, nlohmann::json> map_;
  cache_stats stats_;
  cache_options opts_;
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
};

/// Wraps a backend (Generator, ScoringGenerator, Judge or Embedder — whatever B models) and
/// answers a repeated request from the store instead of calling B.
///
/// The key is the operation, the wrapper's scope and the canonical JSON of the whole request
/// (model, prompt, every sampling field, the seed and n), so two calls share an answer only when
/// every field that can change the answer is equal. Only successful answers are stored; replayed
/// answers have `usage.from_cache = true`. Requests that differ only in being sampled again must
/// differ in their seed: selfalign's algorithms derive one per call (see derive_seed).
///
/// Identical requests in flight at the same time are made once: later callers wait for the first.
template <class B>
class cached : public detail::forwarding_wrapper<cached<B>, B> {
  using base = detail::forwarding_wrapper<cached<B>, B>;
  friend base;

 public:
  /// `scope` separates roles that share a store (e.g. "base" and "judge" on different servers).
  cached(B inner, std::shared_ptr<cache_store> store, std::string scope = {})
      : base(std::forward<B>(inner)), store_(std::move(store)), scope_(std::move(scope)), inflight_(std::make_shared<inflight_table>()) {}
  /// An in-memory cache of its own. (A constrained template, for the reason given in forwarding_wrapper.)
  template <class U>
    requires(!std::is_base_of_v<cached, std::remove_cvref_t<U>> && std::is_constructible_v<B, U &&>)
  explicit cached(U&& inner) : cached(B(std::forward<U>(inner)), std::make_shared<cache_store>()) {}

  [[nodiscard]] cache_store& store() noexcept { return *store_; }
  [[nodiscard]] std::shared_ptr<cache_store> shared_store() const noexcept { return store_; }
  [[nodiscard]] cache_stats stats() const { return store_->stats(); }

  /// The key under which a request is stored (useful to inspect a cache file).
  template <class Req>
  [[nodiscard]] std::string key_of(std::string_view op, const Req& r) const {
    return fmt::format("{}|{}|{}", op, scope_, nlohmann::json(r).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }

 private:
  struct inflight_table {
    std::mutex mutex;
    std::condition_variable done;
    std::unordered_map<std::string, int> keys;
  };

  template <class T, class Req, class Call>
  result<T> through(std::string_view op, const Req& r, Call&& call) {
    const std::string key = key_of(op, r);
    {
      // Wait while an identical request is in flight, then claim the key.
      std::unique_lock lock(inflight_->mutex);
      inflight_->done.wait(lock, [&] { return inflight_->keys.find(key) == inflight_->keys.end(); });
      if (auto hit = replay<T>(key)) return std::move(*hit);
      inflight_->keys.emplace(key, 1);
    }
    struct release {
      inflight_table& t;
      const std::string& k;
      ~release() {
        { std::lock_guard l(t.mutex); t.keys.erase(k); }
        t.done.notify_all();
      }
    } guard{*inflight_, key};

    result<T> answer = call();
    if (answer) {
      if (auto stored = store_->insert(key, nlohmann::json(*answer)); !stored) return unexpected(std::move(stored).error());
    }
    return answer;
  }

  template <class T>
  std::optional<result<T>> replay(const std::string& key) {
    auto j = store_->lookup(key);
    if (!j) return std::nullopt;
    try {
      T value = j->template get<T>();
      value.usage.from_cache = true;
      return result<T>(std::move(value));
    } catch (const nlohmann::json::exception&) {
      return std::nullopt;  // a record from an incompatible version: ask the backend again
    }
  }

  std::shared_ptr<cache_store> store_;
  std::string scope_;
  std::shared_ptr<inflight_table> inflight_;
};

// An lvalue is borrowed (cached<B&>), an rvalue is moved in (cached<B>): docs/concepts.md.
template <class B>
cached(B&&) -> cached<B>;
template <class B>
cached(B&&, std::shared_ptr<cache_store>) -> cached<B>;
template <class B>
cached(B&&, std::shared_ptr<cache_store>, std::string) -> cached<B>;

SELFALIGN_END_NAMESPACE
