// selfalign: cache_store — where cached<> keeps finished answers: in memory, in a JSONL file, or
// (with the selfalign::sqlite component) in an SQLite database shared by many processes
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/cache/sha256.hpp>
#include <selfalign/config.hpp>
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
#include <unistd.h>

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
[[nodiscard]] inline std::string answer_check(std::string_view value_text) {
  return sha256::hex(sha256::of(value_text), 8);
}

/// Parses cache-record JSON through parse_json (depth-capped, never recursive): nothing nested
/// deeper than 256 levels is accepted. Returns a discarded value on malformed or too deep text.
[[nodiscard]] inline nlohmann::json parse_record_json(std::string_view text) {
  auto j = parse_json(text);
  if (!j) return nlohmann::json(nlohmann::json::value_t::discarded);
  return std::move(*j);
}

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
inline jsonl_cache_scan read_jsonl_cache(std::string_view bytes, const std::string& source,
                                         const std::function<void(std::string, std::string)>& add,
                                         const std::function<void(const std::string&)>& warn) {
  jsonl_cache_scan scan;
  std::size_t lineno = 0, pos = 0;
  while (pos < bytes.size()) {
    const std::size_t nl = bytes.find('\n', pos);
    const std::string_view line = bytes.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    ++lineno;
    scan.ends_mid_line = nl == std::string_view::npos;
    pos = nl == std::string_view::npos ? bytes.size() : nl + 1;
    if (line.empty()) continue;
    auto skip = [&](const char* why) {
      ++scan.skipped;
      if (warn)
        warn(fmt::format("{}:{}: skipped an unreadable cache record ({} bytes; {})", source, lineno, line.size(), why));
    };
    auto j = parse_record_json(line);
    if (j.is_discarded() || !j.is_object()) {
      skip("a run killed mid-write leaves one");
      continue;
    }
    auto key = j.find("key");
    auto value = j.find("value");
    if (key == j.end() || !key->is_string() || value == j.end()) {
      skip("not a cache record");
      continue;
    }
    std::string text;
    try {
      text = value->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } catch (const nlohmann::json::exception&) {
      skip("its value cannot be written back");
      continue;
    }
    if (auto check = j.find("check"); check != j.end()) {
      if (!check->is_string() || check->get_ref<const std::string&>() != answer_check(text)) {
        skip("damaged: its check does not match its value");
        continue;
      }
    }
    add(key->get<std::string>(), std::move(text));
    ++scan.loaded;
  }
  return scan;
}

/// One JSONL record line (with its trailing newline) for a key and an answer's canonical text.
[[nodiscard]] inline std::string jsonl_cache_line(const std::string& key, const std::string& value_text) {
  // The value is spliced in as text: it is already canonical JSON (dumped with invalid UTF-8 replaced).
  std::string line = "{\"check\":\"" + answer_check(value_text) + "\",\"key\":";
  line += nlohmann::json(key).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line += ",\"value\":";
  line += value_text;
  line += "}\n";
  return line;
}

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
  [[nodiscard]] static bool is_sqlite_path(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (in) {
      char magic[16] = {};
      in.read(magic, sizeof magic);
      if (in.gcount() > 0) return in.gcount() == 16 && std::string_view(magic, 16) == std::string_view("SQLite format 3\0", 16);
    }
    const std::string ext = path.extension().string();
    return ext != ".jsonl" && ext != ".json" && ext != ".ndjson";
  }

  /// The stored answer (as JSON) for `key`, counting a hit or a miss. A damaged record (bad
  /// check, unreadable JSON) is a miss and a warning.
  [[nodiscard]] std::optional<nlohmann::json> lookup(const std::string& key, const cache_record_info& info = {}) {
    auto out = peek(key, info);
    count_lookup(info, out.has_value());
    return out;
  }
  /// As lookup(), without counting (cached<> counts once per call, however often it looked).
  /// `unusable` (optional) is set when a record exists but was refused (damaged).
  [[nodiscard]] std::optional<nlohmann::json> peek(const std::string& key, const cache_record_info& info = {}, bool* unusable = nullptr) {
    bool refused = false;
    std::optional<std::string> text = find(key, refused);
    if (unusable) *unusable = refused;
    if (!text) return std::nullopt;
    auto j = detail::parse_record_json(*text);
    if (j.is_discarded()) {
      if (unusable) *unusable = true;
      reject(fmt::format("the cached answer for a '{}' call of role '{}' is damaged (unreadable JSON); asking again",
                         info.op, info.role));
      return std::nullopt;
    }
    return j;
  }
  /// Counts one lookup of a call as a hit or a miss (overall and by role and model).
  void count_lookup(const cache_record_info& info, bool hit) {
    std::lock_guard lock(stats_mutex_);
    auto& by = by_role_[{info.role, info.model}];
    if (hit) {
      ++stats_.hits;
      ++by.hits;
    } else {
      ++stats_.misses;
      ++by.misses;
    }
  }

  /// Stores an answer (replacing any earlier one for the key); durable stores write it through.
  result<void> insert(const std::string& key, const nlohmann::json& value, const cache_record_info& info = {}) {
    std::string text;
    try {
      // error_handler_t::replace: a model answer with invalid UTF-8 must not make the record unwritable.
      text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } catch (const nlohmann::json::exception& e) {
      return fail(errc::internal, fmt::format("cannot serialize an answer for the cache: {}", e.what()));
    }
    return put(key, text, info);
  }

  /// Reports a stored record that was refused at replay (damaged, or invalid as an answer): a
  /// warning, counted in stats().rejected. The caller then treats it as a miss.
  void reject(const std::string& why) {
    {
      std::lock_guard lock(stats_mutex_);
      ++stats_.rejected;
    }
    warn(why);
  }
  void warn(const std::string& message) const {
    if (opts_.on_warning) opts_.on_warning(message);
  }

  /// Cross-process single-flight (SQLite): before calling, a caller claims the key.
  enum class claim_result {
    claimed,   ///< call, then insert() or release()
    answered,  ///< an answer is stored now: look it up
    wait,      ///< another process is making this call: wait, then look up again
  };
  /// `stored_unusable`: the caller found the stored record damaged or invalid; claim anyway.
  [[nodiscard]] virtual claim_result claim(const std::string& /*key*/, bool /*stored_unusable*/ = false) {
    return claim_result::claimed;
  }
  /// Gives up a claim without an answer (the call failed).
  virtual void release(const std::string& /*key*/) {}
  void note_wait() {
    std::lock_guard lock(stats_mutex_);
    ++stats_.waits;
  }

  [[nodiscard]] cache_stats stats() const {
    cache_stats s;
    {
      std::lock_guard lock(stats_mutex_);
      s = stats_;
    }
    s.entries = count();
    return s;
  }
  /// This process's hits and misses by (role, model).
  [[nodiscard]] std::map<std::pair<std::string, std::string>, cache_role_stats> stats_by_role() const {
    std::lock_guard lock(stats_mutex_);
    return by_role_;
  }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  /// "memory", "jsonl" or "sqlite".
  [[nodiscard]] virtual std::string kind() const { return "memory"; }

  /// Calls `fn(key, value_text)` for every stored record (export); stops early when fn returns false.
  virtual result<void> for_each(const std::function<bool(const std::string&, const std::string&)>& fn) const {
    std::vector<std::pair<std::string, std::string>> copy;
    {
      std::lock_guard lock(map_mutex_);
      copy.assign(map_.begin(), map_.end());
    }
    for (const auto& [k, v] : copy)
      if (!fn(k, v)) break;
    return {};
  }
  /// Stores a record given as text (import): the text must be valid JSON.
  result<void> insert_text(const std::string& key, const std::string& value_text, const cache_record_info& info = {}) {
    auto j = detail::parse_record_json(value_text);
    if (j.is_discarded()) return fail(errc::invalid_argument, "a record's value is not valid JSON");
    return insert(key, j, info);
  }

 protected:
  /// The stored answer text for a key, if any; sets `unusable` (after a reject()) for a record
  /// that exists but cannot be used.
  [[nodiscard]] virtual std::optional<std::string> find(const std::string& key, bool& /*unusable*/) {
    std::lock_guard lock(map_mutex_);
    auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    return it->second;
  }
  virtual result<void> put(const std::string& key, const std::string& value_text, const cache_record_info& /*info*/) {
    std::lock_guard lock(map_mutex_);
    map_.insert_or_assign(key, value_text);
    return {};
  }
  [[nodiscard]] virtual std::size_t count() const {
    std::lock_guard lock(map_mutex_);
    return map_.size();
  }

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
  ~jsonl_cache_store() override {
    if (file_) std::fclose(file_);
  }

  [[nodiscard]] static result<std::shared_ptr<cache_store>> open(const std::filesystem::path& path, cache_options opts) {
    auto store = std::make_shared<jsonl_cache_store>();
    store->opts_ = std::move(opts);
    store->path_ = path;
    if (auto r = store->load(); !r) return unexpected(std::move(r).error());
    return std::shared_ptr<cache_store>(std::move(store));
  }
  [[nodiscard]] std::string kind() const override { return "jsonl"; }

 protected:
  result<void> put(const std::string& key, const std::string& value_text, const cache_record_info& info) override {
    const std::string line = detail::jsonl_cache_line(key, value_text);
    {
      std::lock_guard lock(file_mutex_);
      if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
        return fail(errc::io, fmt::format("cannot append to cache file {}", path_.string()));
      if (opts_.fsync) ::fsync(::fileno(file_));
    }
    return cache_store::put(key, value_text, info);
  }

 private:
  result<void> load() {
    std::string bytes;
    {
      std::ifstream in(path_, std::ios::binary);
      if (in) {
        std::ostringstream ss;
        ss << in.rdbuf();
        bytes = std::move(ss).str();
      }
    }
    auto scan = detail::read_jsonl_cache(
        bytes, path_.string(), [this](std::string k, std::string v) { map_.insert_or_assign(std::move(k), std::move(v)); },
        [this](const std::string& w) { warn(w); });
    bytes.clear();
    bytes.shrink_to_fit();
    stats_.loaded = scan.loaded;
    stats_.skipped_lines = scan.skipped;
    file_ = std::fopen(path_.c_str(), "ab");
    if (!file_) return fail(errc::io, fmt::format("cannot open cache file {} for appending", path_.string()));
    if (scan.ends_mid_line) {
      std::fputc('\n', file_);
      std::fflush(file_);
    }
    return {};
  }

  std::mutex file_mutex_;
  std::FILE* file_ = nullptr;
};

namespace detail {
/// Set by <selfalign/cache/sqlite_store.hpp> (see there); null in a build without SQLite.
using sqlite_cache_opener = result<std::shared_ptr<cache_store>> (*)(const std::filesystem::path&, cache_options);
[[nodiscard]] inline sqlite_cache_opener& sqlite_opener() noexcept {
  static sqlite_cache_opener opener = nullptr;
  return opener;
}
}  // namespace detail

inline result<std::shared_ptr<cache_store>> cache_store::open_jsonl(const std::filesystem::path& path, cache_options opts) {
  return jsonl_cache_store::open(path, std::move(opts));
}

inline result<std::shared_ptr<cache_store>> cache_store::open_sqlite(const std::filesystem::path& path, cache_options opts) {
  if (auto opener = detail::sqlite_opener()) return opener(path, std::move(opts));
  return fail(errc::unsupported, fmt::format("cannot open the SQLite cache {}: this program was built without SQLite support "
                                             "(link selfalign::sqlite and include <selfalign/cache/sqlite_store.hpp>)",
                                             path.string()));
}

inline result<std::shared_ptr<cache_store>> cache_store::open(const std::filesystem::path& path, cache_options opts) {
  std::error_code ec;
  const bool exists = std::filesystem::exists(path, ec) && std::filesystem::file_size(path, ec) > 0;
  if (is_sqlite_path(path) && (exists || detail::sqlite_opener())) return open_sqlite(path, std::move(opts));
  return open_jsonl(path, std::move(opts));
}

SELFALIGN_END_NAMESPACE
