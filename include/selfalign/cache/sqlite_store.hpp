// selfalign: the SQLite form of cache_store — one database file that many processes and threads
// share, with nothing loaded at open (component selfalign::sqlite; needs libsqlite3)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/cache/sha256.hpp>
#include <selfalign/cache/store.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/version.hpp>
#include <selfalign/detail/file_sync.hpp>
#include <selfalign/result.hpp>
#include <selfalign/detail/format.hpp>

#include <fmt/format.h>
#include <sqlite3.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>

SELFALIGN_BEGIN_NAMESPACE

/// The SQLite form of cache_store.
///
/// Schema (one file; `selfalign cache stats` reads it):
/// - answers(hash BLOB PRIMARY KEY, request, answer, answer_check, op, role, model, created, version):
///   hash is the SHA-256 of the canonical request; the request itself is kept to rule out a hash
///   collision and to export; answer_check (first 8 bytes of the answer's SHA-256) catches a
///   damaged record, which is then a miss and a warning.
/// - pending(hash PRIMARY KEY, owner, expires): single-flight markers of calls in progress.
/// - hits(role, model, hits, misses): lookups counted by each process, added at close.
///
/// Concurrency: WAL journal (readers never wait for the writer), a busy timeout for writers, one
/// short transaction per write; a record is visible to every process once its transaction
/// commits. Within a process one connection serves all threads, under a mutex.
///
/// Durability: synchronous=NORMAL by default: a committed record survives the process being
/// killed (SIGKILL, a crash) but the last commits may be lost on power loss or an OS crash
/// (never the database's consistency). cache_options::fsync selects synchronous=FULL, which
/// survives power loss at the cost of one fsync per record. The file must be on a local disk:
/// WAL needs shared memory between the processes (not available over NFS).
class sqlite_cache_store final : public cache_store {
 public:
  [[nodiscard]] static result<std::shared_ptr<cache_store>> open(const std::filesystem::path& path, cache_options opts) {
    auto store = std::shared_ptr<sqlite_cache_store>(new sqlite_cache_store());
    store->opts_ = std::move(opts);
    store->path_ = path;
    if (auto r = store->connect(); !r) return unexpected(std::move(r).error());
    return std::shared_ptr<cache_store>(std::move(store));
  }

  ~sqlite_cache_store() override {
    if (!db_) return;
    std::lock_guard lock(db_mutex_);
    // Best effort: add this process's hit counts and drop its own pending markers.
    if (begin_immediate()) {
      for (const auto& [rm, c] : stats_by_role()) {
        if (c.hits == 0 && c.misses == 0) continue;
        statement s(db_, "INSERT INTO hits(role, model, hits, misses) VALUES(?1, ?2, ?3, ?4) "
                         "ON CONFLICT(role, model) DO UPDATE SET hits = hits + ?3, misses = misses + ?4");
        s.text(1, rm.first).text(2, rm.second).integer(3, static_cast<std::int64_t>(c.hits)).integer(4, static_cast<std::int64_t>(c.misses));
        (void)s.step();
      }
      statement del(db_, "DELETE FROM pending WHERE owner = ?1");
      del.text(1, owner_);
      (void)del.step();
      exec("COMMIT");
    }
    sqlite3_close_v2(db_);
  }

  [[nodiscard]] std::string kind() const override { return "sqlite"; }

  [[nodiscard]] claim_result claim(const std::string& key, bool stored_unusable = false) override {
    if (!opts_.single_flight) return claim_result::claimed;
    const auto h = sha256::of(key);
    std::lock_guard lock(db_mutex_);
    if (!begin_immediate()) return claim_result::claimed;  // the lock is unavailable: at worst a duplicate call
    claim_result out = claim_result::claimed;
    if (!stored_unusable) {
      statement has(db_, "SELECT 1 FROM answers WHERE hash = ?1");
      has.blob(1, h);
      if (has.step() == SQLITE_ROW) out = claim_result::answered;
    }
    if (out == claim_result::claimed) {
      statement p(db_, "SELECT owner, expires FROM pending WHERE hash = ?1");
      p.blob(1, h);
      if (p.step() == SQLITE_ROW) {
        const std::string owner = p.column_text(0);
        const double expires = sqlite3_column_double(p.get(), 1);
        if (expires > now_seconds() && owner_alive(owner)) out = claim_result::wait;
      }
    }
    if (out == claim_result::claimed) {
      statement ins(db_, "INSERT OR REPLACE INTO pending(hash, owner, expires) VALUES(?1, ?2, ?3)");
      ins.blob(1, h).text(2, owner_).real(3, now_seconds() + static_cast<double>(opts_.pending_lease.count()));
      (void)ins.step();
    }
    exec("COMMIT");
    return out;
  }

  void release(const std::string& key) override {
    if (!opts_.single_flight) return;
    const auto h = sha256::of(key);
    std::lock_guard lock(db_mutex_);
    statement del(db_, "DELETE FROM pending WHERE hash = ?1 AND owner = ?2");
    del.blob(1, h).text(2, owner_);
    (void)del.step();
  }

  result<void> for_each(const std::function<bool(const std::string&, const std::string&)>& fn) const override {
    // A read transaction of its own (a second connection), so that the store stays usable meanwhile.
    sqlite3* rd = nullptr;
    if (sqlite3_open_v2(path_.c_str(), &rd, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
      if (rd) sqlite3_close_v2(rd);
      return fail(errc::io, selfalign::detail::format_text("cannot read the SQLite cache {}", path_.string()));
    }
    sqlite3_busy_timeout(rd, static_cast<int>(opts_.busy_timeout.count()));
    statement s(rd, "SELECT request, answer, answer_check FROM answers ORDER BY rowid");
    int rc = SQLITE_ROW;
    while ((rc = s.step()) == SQLITE_ROW) {
      std::string answer = s.column_text(1);
      if (detail::answer_check(answer) != s.column_text(2)) {
        warn(selfalign::detail::format_text("{}: skipped a damaged record (its check does not match its answer)", path_.string()));
        continue;
      }
      if (!fn(s.column_text(0), answer)) break;
    }
    std::string err = rc == SQLITE_DONE || rc == SQLITE_ROW ? std::string{} : sqlite3_errmsg(rd);
    s.reset_handle();
    sqlite3_close_v2(rd);
    if (!err.empty()) return fail(errc::io, selfalign::detail::format_text("reading the SQLite cache {}: {}", path_.string(), err));
    return {};
  }

  /// Rows by (role, model) with the hits and misses every closed process added: for `cache stats`.
  struct role_summary {
    std::size_t entries = 0;
    std::size_t hits = 0;
    std::size_t misses = 0;
  };
  [[nodiscard]] result<std::map<std::pair<std::string, std::string>, role_summary>> summary() const {
    std::lock_guard lock(db_mutex_);
    std::map<std::pair<std::string, std::string>, role_summary> out;
    {
      statement s(db_, "SELECT role, model, COUNT(*) FROM answers GROUP BY role, model");
      while (s.step() == SQLITE_ROW) out[{s.column_text(0), s.column_text(1)}].entries = static_cast<std::size_t>(sqlite3_column_int64(s.get(), 2));
    }
    statement h(db_, "SELECT role, model, hits, misses FROM hits");
    while (h.step() == SQLITE_ROW) {
      auto& r = out[{h.column_text(0), h.column_text(1)}];
      r.hits = static_cast<std::size_t>(sqlite3_column_int64(h.get(), 2));
      r.misses = static_cast<std::size_t>(sqlite3_column_int64(h.get(), 3));
    }
    return out;
  }
  /// Pending markers now in the file (calls in progress, or left by killed processes).
  [[nodiscard]] std::size_t pending_count() const {
    std::lock_guard lock(db_mutex_);
    statement s(db_, "SELECT COUNT(*) FROM pending");
    return s.step() == SQLITE_ROW ? static_cast<std::size_t>(sqlite3_column_int64(s.get(), 0)) : 0;
  }

  /// Compaction: drops expired pending markers, checkpoints the WAL into the database and
  /// rebuilds the file without free pages (VACUUM). Other processes may keep reading.
  result<void> vacuum() {
    std::lock_guard lock(db_mutex_);
    {
      statement s(db_, "DELETE FROM pending WHERE expires < ?1");
      s.real(1, now_seconds());
      (void)s.step();
    }
    if (!exec("VACUUM")) return fail(errc::io, selfalign::detail::format_text("VACUUM of {} failed: {}", path_.string(), sqlite3_errmsg(db_)));
    if (!exec("PRAGMA wal_checkpoint(TRUNCATE)"))
      return fail(errc::io, selfalign::detail::format_text("checkpoint of {} failed: {}", path_.string(), sqlite3_errmsg(db_)));
    return {};
  }

 protected:
  std::optional<std::string> find(const std::string& key, bool& unusable) override {
    const auto h = sha256::of(key);
    std::optional<std::string> out;
    std::string why;
    {
      std::lock_guard lock(db_mutex_);
      statement s(db_, "SELECT request, answer, answer_check FROM answers WHERE hash = ?1");
      s.blob(1, h);
      const int rc = s.step();
      if (rc == SQLITE_ROW) {
        if (s.column_text(0) != key) {
          why = "a different request has the same hash (a SHA-256 collision or a damaged request)";
        } else {
          std::string answer = s.column_text(1);
          if (detail::answer_check(answer) != s.column_text(2)) why = "its check does not match its answer";
          else out = std::move(answer);
        }
      } else if (rc != SQLITE_DONE) {
        why = selfalign::detail::format_text("reading it failed: {}", sqlite3_errmsg(db_));
      }
    }
    unusable = !why.empty();
    if (!why.empty()) reject(selfalign::detail::format_text("{}: a cached answer is unusable ({}); asking again", path_.string(), why));
    return out;
  }

  result<void> put(const std::string& key, const std::string& value_text, const cache_record_info& info) override {
    const auto h = sha256::of(key);
    std::lock_guard lock(db_mutex_);
    if (!begin_immediate())
      return fail(errc::io, selfalign::detail::format_text("cannot write to the SQLite cache {}: {}", path_.string(), sqlite3_errmsg(db_)));
    statement ins(db_, "INSERT OR REPLACE INTO answers(hash, request, answer, answer_check, op, role, model, created, version) "
                       "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    ins.blob(1, h).text(2, key).text(3, value_text).text(4, detail::answer_check(value_text)).text(5, info.op).text(6, info.role)
        .text(7, info.model).real(8, now_seconds()).text(9, version_string);
    const int rc = ins.step();
    statement del(db_, "DELETE FROM pending WHERE hash = ?1");
    del.blob(1, h);
    if (rc != SQLITE_DONE || del.step() != SQLITE_DONE) {
      std::string err = sqlite3_errmsg(db_);
      exec("ROLLBACK");
      return fail(errc::io, selfalign::detail::format_text("cannot write to the SQLite cache {}: {}", path_.string(), err));
    }
    if (!exec("COMMIT")) {
      std::string err = sqlite3_errmsg(db_);
      exec("ROLLBACK");
      return fail(errc::io, selfalign::detail::format_text("cannot commit to the SQLite cache {}: {}", path_.string(), err));
    }
    return {};
  }

  std::size_t count() const override {
    std::lock_guard lock(db_mutex_);
    statement s(db_, "SELECT COUNT(*) FROM answers");
    return s.step() == SQLITE_ROW ? static_cast<std::size_t>(sqlite3_column_int64(s.get(), 0)) : 0;
  }

 private:
  sqlite_cache_store() = default;

  /// A prepared statement, finalized on scope exit. Prepared statements are cached by SQLite's
  /// own page cache; preparing per call costs microseconds, well below a model call.
  class statement {
   public:
    statement(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
    ~statement() { reset_handle(); }
    statement(const statement&) = delete;
    statement& operator=(const statement&) = delete;
    statement& blob(int i, const sha256::digest& d) {
      sqlite3_bind_blob(s_, i, d.data(), static_cast<int>(d.size()), SQLITE_TRANSIENT);
      return *this;
    }
    statement& text(int i, const std::string& t) {
      sqlite3_bind_text64(s_, i, t.data(), t.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
      return *this;
    }
    statement& integer(int i, std::int64_t v) {
      sqlite3_bind_int64(s_, i, v);
      return *this;
    }
    statement& real(int i, double v) {
      sqlite3_bind_double(s_, i, v);
      return *this;
    }
    int step() { return s_ ? sqlite3_step(s_) : SQLITE_ERROR; }
    [[nodiscard]] std::string column_text(int i) const {
      const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, i));
      return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, i))) : std::string{};
    }
    [[nodiscard]] sqlite3_stmt* get() const { return s_; }
    void reset_handle() {
      if (s_) sqlite3_finalize(s_);
      s_ = nullptr;
    }

   private:
    sqlite3_stmt* s_ = nullptr;
  };

  result<void> connect() {
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path_.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
      std::string err = db_ ? sqlite3_errmsg(db_) : "out of memory";
      if (db_) sqlite3_close_v2(db_);
      db_ = nullptr;
      return fail(errc::io, selfalign::detail::format_text("cannot open the SQLite cache {}: {}", path_.string(), err));
    }
    sqlite3_busy_timeout(db_, static_cast<int>(opts_.busy_timeout.count()));
    sqlite3_extended_result_codes(db_, 1);
    auto bad = [&](const char* what) {
      return fail(errc::io, selfalign::detail::format_text("cannot open the SQLite cache {} ({}): {}", path_.string(), what, sqlite3_errmsg(db_)));
    };
    // WAL: readers never block the writer nor each other; persistent once set on the file. Switching
    // the mode needs the file to itself, and SQLite answers SQLITE_BUSY at once (no busy handler) when
    // several processes open a new cache together: retry until the busy timeout.
    {
      const auto deadline = std::chrono::steady_clock::now() + opts_.busy_timeout;
      for (;;) {
        statement wal(db_, "PRAGMA journal_mode=WAL");
        const int rc = wal.step();
        if (rc == SQLITE_ROW && wal.column_text(0) == "wal") break;
        const int why = rc == SQLITE_ERROR ? sqlite3_errcode(db_) : rc;  // a failed prepare reports on the handle
        const bool busy = (why & 0xff) == SQLITE_BUSY || (why & 0xff) == SQLITE_LOCKED;
        if (!busy || std::chrono::steady_clock::now() >= deadline)
          return bad(busy ? "the file stayed locked for the whole busy timeout while switching to WAL"
                          : "WAL journal mode is unavailable; is the file on NFS?");
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    if (!exec(opts_.fsync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL")) return bad("synchronous");
    if (!exec("PRAGMA cache_size=-8192")) return bad("cache_size");  // 8 MiB of page cache, whatever the file's size
    if (!begin_immediate()) return bad("schema lock");
    const bool ok = exec("CREATE TABLE IF NOT EXISTS answers(hash BLOB PRIMARY KEY, request TEXT NOT NULL, answer TEXT NOT NULL, "
                         "answer_check TEXT NOT NULL, op TEXT, role TEXT, model TEXT, created REAL, version TEXT)") &&
                    exec("CREATE TABLE IF NOT EXISTS pending(hash BLOB PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL)") &&
                    exec("CREATE TABLE IF NOT EXISTS hits(role TEXT NOT NULL, model TEXT NOT NULL, hits INTEGER NOT NULL, "
                         "misses INTEGER NOT NULL, PRIMARY KEY(role, model))") &&
                    exec("CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT)") &&
                    exec("INSERT OR IGNORE INTO meta(name, value) VALUES('schema', '1')");
    if (!ok) {
      auto e = bad("schema");
      exec("ROLLBACK");
      return e;
    }
    if (!exec("COMMIT")) return bad("schema commit");
    {
      statement s(db_, "SELECT value FROM meta WHERE name = 'schema'");
      if (s.step() != SQLITE_ROW || s.column_text(0) != "1")
        return fail(errc::io, selfalign::detail::format_text("{}: an SQLite cache of another schema version", path_.string()));
    }
    host_ = detail::host_name();
    std::random_device rd;
    owner_ = selfalign::detail::format_text("{}:{}:{:08x}", host_, detail::current_process_id(), rd());
    return {};
  }

  bool exec(const char* sql) const { return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK; }
  bool begin_immediate() const { return exec("BEGIN IMMEDIATE"); }

  /// False only for a marker of a process on this host that no longer exists (killed mid-call).
  [[nodiscard]] bool owner_alive(const std::string& owner) const {
    const auto c1 = owner.find(':');
    const auto c2 = owner.find(':', c1 == std::string::npos ? owner.size() : c1 + 1);
    if (c1 == std::string::npos || c2 == std::string::npos) return true;
    if (owner.compare(0, c1, host_) != 0) return true;  // another machine: trust the expiry
    long pid = 0;
    try {
      pid = std::stol(owner.substr(c1 + 1, c2 - c1 - 1));
    } catch (...) {
      return true;
    }
    if (pid <= 0) return true;
    return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
  }

  static double now_seconds() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  }

  mutable std::mutex db_mutex_;
  sqlite3* db_ = nullptr;
  std::string owner_;
  std::string host_;
};

namespace detail {
inline result<std::shared_ptr<cache_store>> open_sqlite_cache(const std::filesystem::path& path, cache_options opts) {
  return sqlite_cache_store::open(path, std::move(opts));
}
/// Including this header makes cache_store::open and open_sqlite able to open SQLite files.
inline const bool sqlite_cache_registered = (sqlite_opener() = &open_sqlite_cache, true);
}  // namespace detail

SELFALIGN_END_NAMESPACE
