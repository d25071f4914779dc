// selfalign: cache_store — where cached<> keeps finished answers: in memory, in a JSONL file, or
// (with the selfalign::sqlite component) in an SQLite database shared by many processes
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/cache/sha256.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/json_read.hpp>
#include <selfalign/result.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

SELFALIGN_BEGIN_NAMESPACE

/// Counters of a cache_store (this process's view).
struct cache_stats {
  std::size_t hits = 0;
  std::size_t misses = 0;
  std::size_t entries = 0;        ///< answers held (SQLite: rows in the database, all processes' included)
  std::size_t loaded = 0;         ///< answers read from a JSONL file at open (SQLite loads nothing)
  std::size_t skipped_lines = 0;  ///< unreadable or damaged JSONL lines skipped at open (a torn last line, say)
  std::size_t rejected = 0;       ///< stored records refused at replay (damaged or invalid): counted as misses too
  std::size_t waits = 0;          ///< calls that waited for another process's identical call (single-flight)
};

/// Hits and misses of one (role, model), for `selfalign cache stats`.
struct cache_role_stats {
  std::size_t hits = 0;
  std::size_t misses = 0;
};

/// How a durable cache_store writes and what it reports.
struct cache_options {
  /// Survive power loss, not just a killed process: JSONL fsyncs after each record; SQLite runs
  /// with synchronous=FULL (the WAL is synced at every commit) instead of NORMAL.
  bool fsync = false;
  std::function<void(const std::string&)> on_warning;  ///< told about torn, damaged or invalid records
  /// SQLite only: a process about to make a call first leaves a pending marker (owner, expiry);
  /// another process asking the same request waits for its answer instead of paying twice.
  bool single_flight = true;
  std::chrono::seconds pending_lease{900};           ///< a marker older than this is ignored (its owner is presumed gone)
  std::chrono::milliseconds busy_timeout{60000};     ///< SQLite: how long a writer waits for the lock
};

/// What a record is about, beside its key: kept as columns by the SQLite store (for statistics).
struct cache_record_info {
  std::string op;     ///< "generate", "score", "judge", "embed"
  std::string role;   ///< the cached<> wrapper's scope
  std::string model;  ///< the resolved model name
};

namespace detail {

/// The integrity check stored beside an answer: the first 16 hex digits of its SHA-256.
[[nodiscard]] SELFALIGN_DECL std::string answer_check(std::string_view value_text);

/// Parses cache-record JSON through parse_json (depth-capped, never recursive): nothing nested
/// deeper than 256 levels is accepted. Returns a discarded value on malformed or too deep text.
[[nodiscard]] SELFALIGN_DECL nlohmann::json parse_record_json(std::string_view text);

/// What reading a JSONL cache found.
struct jsonl_cache_scan {
  std::size_t loaded = 0;
  std::size_t skipped = 0;
  bool ends_mid_line = false;  ///< the last line has no newline (a torn write): the next record starts on a new line
};

/// Reads JSONL cache records from raw bytes (any bytes: this is the loader the fuzzer drives).
/// Each record is {"key": string, "value": JSON, "check": hex (optional in old files)}; `add`
/// receives the key and the value's canonical text. Unreadable, too deep or damaged lines (the
/// check does not match) go to `warn` and are skipped. Never throws on input.
SELFALIGN_DECL jsonl_cache_scan read_jsonl_cache(std::string_view bytes, const std::string& source,
                                         const std::function<void(std::string, std::string)>& add,
                                         const std::function<void(const std::string&)>& warn);

/// One JSONL record line (with its trailing newline) for a key and an answer's canonical text.
[[nodiscard]] SELFALIGN_DECL std::string jsonl_cache_line(const std::string& key, const std::string& value_text);

}  // namespace detail

/// The answers of finished calls, keyed by canonical request (see cached<>). Thread-safe. Share
/// one store between several cached<> wrappers (each adds its own scope to the key).
///
/// Three forms:
/// - in memory (the default constructor);
/// - a JSONL file (open_jsonl): one `{"check", "key", "value"}` record per line, appended and
///   flushed (fsync when asked) as each call finishes; every readable line is loaded at open; an
///   unreadable or damaged one (a torn last line, a flipped byte) is reported and skipped. One
///   process at a time;
/// - an SQLite database (open_sqlite, with the selfalign::sqlite component and
///   <selfalign/cache/sqlite_store.hpp>): nothing is loaded at open, lookups are indexed reads,
///   and many processes may share one file (see docs/scaling.md).
///
/// open() picks the form from the file: an existing file by its content, a new one by its
/// extension (.jsonl, .json, .ndjson: JSONL; anything else: SQLite where available).
class cache_store {
 public:
  /// An in-memory store.
  cache_store() = default;
  virtual ~cache_store() = default;
  cache_store(const cache_store&) = delete;
  cache_store& operator=(const cache_store&) = delete;

  /// Opens (creating if needed) a durable store at `path`, JSONL or SQLite as described above.
  [[nodiscard]] static result<std::shared_ptr<cache_store>> open(const std::filesystem::path& path, cache_options opts = {});
  /// Opens (creating if needed) a JSONL store at `path`, whatever its extension.
  [[nodiscard]] static result<std::shared_ptr<cache_store>> open_jsonl(const std::filesystem::path& path, cache_options opts = {});
  /// Opens (creating if needed) an SQLite store; errc::unsupported in a build without selfalign::sqlite.
  [[nodiscard]] static result<std::shared_ptr<cache_store>> open_sqlite(const std::filesystem::path& path, cache_options opts = {});

  /// True when `path` names an SQLite database (by content if it exists, else by extension).
  [[nodiscard]] static bool is_sqlite_path(const std::filesystem::path& path);

  /// The stored answer (as JSON) for `key`, counting a hit or a miss. A damaged record (bad
  /// check, unreadable JSON) is a miss and a warning.
  [[nodiscard]] std::optional<nlohmann::json> lookup(const std::string& key, const cache_record_info& info = {});
  /// As lookup(), without counting (cached<> counts once per call, however often it looked).
  /// `unusable` (optional) is set when a record exists but was refused (damaged).
  [[nodiscard]] std::optional<nlohmann::json> peek(const std::string& key, const cache_record_info& info = {}, bool* unusable = nullptr);
  /// Counts one lookup of a call as a hit or a miss (overall and by role and model).
  void count_lookup(const cache_record_info& info, bool hit);

  /// Stores an answer (replacing any earlier one for the key); durable stores write it through.
  result<void> insert(const std::string& key, const nlohmann::json& value, const cache_record_info& info = {});

  /// Reports a stored record that was refused at replay (damaged, or invalid as an answer): a
  /// warning, counted in stats().rejected. The caller then treats it as a miss.
  void reject(const std::string& why);
  void warn(const std::string& message) const;

  /// Cross-process single-flight (SQLite): before calling, a caller claims the key.
  enum class claim_result {
    claimed,   ///< call, then insert() or release()
    answered,  ///< an answer is stored now: look it up
    wait,      ///< another process is making this call: wait, then look up again
  };
  /// `stored_unusable`: the caller found the stored record damaged or invalid; claim anyway.
  [[nodiscard]] virtual claim_result claim(const std::string& /*key*/, bool /*stored_unusable*/ = false);
  /// Gives up a claim without an answer (the call failed).
  virtual void release(const std::string& /*key*/) {}
  void note_wait();

  [[nodiscard]] cache_stats stats() const;
  /// This process's hits and misses by (role, model).
  [[nodiscard]] std::map<std::pair<std::string, std::string>, cache_role_stats> stats_by_role() const;
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  /// "memory", "jsonl" or "sqlite".
  [[nodiscard]] virtual std::string kind() const { return "memory"; }

  /// Calls `fn(key, value_text)` for every stored record (export); stops early when fn returns false.
  virtual result<void> for_each(const std::function<bool(const std::string&, const std::string&)>& fn) const;
  /// Stores a record given as text (import): the text must be valid JSON.
  result<void> insert_text(const std::string& key, const std::string& value_text, const cache_record_info& info = {});

 protected:
  /// The stored answer text for a key, if any; sets `unusable` (after a reject()) for a record
  /// that exists but cannot be used.
  [[nodiscard]] virtual std::optional<std::string> find(const std::string& key, bool& /*unusable*/);
  virtual result<void> put(const std::string& key, const std::string& value_text, const cache_record_info& /*info*/);
  [[nodiscard]] virtual std::size_t count() const;

  mutable std::mutex map_mutex_;
  std::unordered_map<std::string, std::string> map_;  // key -> answer text (memory and JSONL)
  mutable std::mutex stats_mutex_;
  cache_stats stats_;
  std::map<std::pair<std::string, std::string>, cache_role_stats> by_role_;
  cache_options opts_;
  std::filesystem::path path_;
};

/// The JSONL form: the whole file is read at open, then every record is appended.
class jsonl_cache_store final : public cache_store {
 public:
  jsonl_cache_store() = default;
  ~jsonl_cache_store() override;

  [[nodiscard]] static result<std::shared_ptr<cache_store>> open(const std::filesystem::path& path, cache_options opts);
  [[nodiscard]] std::string kind() const override;

 protected:
  result<void> put(const std::string& key, const std::string& value_text, const cache_record_info& info) override;

 private:
  result<void> load();

  std::mutex file_mutex_;
  std::FILE* file_ = nullptr;
};

namespace detail {
/// Set by <selfalign/cache/sqlite_store.hpp> (see there); null in a build without SQLite.
using sqlite_cache_opener = result<std::shared_ptr<cache_store>> (*)(const std::filesystem::path&, cache_options);
[[nodiscard]] SELFALIGN_DECL sqlite_cache_opener& sqlite_opener() noexcept;
}  // namespace detail

SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/cache/impl/store.ipp>
#endif
