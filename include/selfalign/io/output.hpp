// selfalign: atomic output files — written to a temporary file, flushed as results arrive,
// renamed into place on commit, so a reader never sees a half-written output
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/config.hpp>
#include <selfalign/result.hpp>

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

SELFALIGN_BEGIN_NAMESPACE
namespace io {

namespace detail {

// The temporary files of the atomic outputs still open in this process, in a fixed table that a
// signal handler may read: no allocation, no locks. A slot is free (0), being written (1) or
// holds a path (2).
struct temp_file_slot {
  std::atomic<int> state{0};
  char path[4096] = {};
};
inline constexpr std::size_t temp_file_slots = 16;
inline temp_file_slot temp_files[temp_file_slots];

// Registers a path; false when it does not fit (too long, table full): only the next run's stale
// cleanup will then remove it after a fatal signal.
inline bool register_temp_file(const std::string& path) noexcept {
  if (path.size() + 1 > sizeof(temp_file_slot::path)) return false;
  for (auto& slot : temp_files) {
    int expected = 0;
    if (!slot.state.compare_exchange_strong(expected, 1)) continue;
    std::memcpy(slot.path, path.c_str(), path.size() + 1);
    slot.state.store(2);
    return true;
  }
  return false;
}

inline void unregister_temp_file(const char* path) noexcept {
  for (auto& slot : temp_files) {
    int expected = 2;
    if (slot.state.load() == 2 && std::strcmp(path, slot.path) == 0 && slot.state.compare_exchange_strong(expected, 1)) {
      slot.path[0] = '\0';
      slot.state.store(0);
      return;
    }
  }
}

// Whether `name` is "<base>.tmp.<pid>"; the pid when it is.
inline std::optional<long> temp_file_pid(std::string_view name, std::string_view base) {
  const std::string prefix = std::string(base) + ".tmp.";
  if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) return std::nullopt;
  long pid = 0;
  for (char c : name.substr(prefix.size())) {
    if (c < '0' || c > '9' || pid > 100000000L) return std::nullopt;
    pid = pid * 10 + (c - '0');
  }
  return pid;
}

}  // namespace detail

/// Removes the temporary files of every atomic output still open in this process. Async-signal-
/// safe (only unlink(2)): a fatal-signal handler calls it before the process dies, so a killed run
/// leaves no `<out>.tmp.<pid>` behind. The outputs themselves are not committed.
inline void remove_open_temp_files() noexcept {
  for (auto& slot : detail::temp_files)
    if (slot.state.load() == 2) ::unlink(slot.path);
}

/// Removes `<path>.tmp.<pid>` files left beside `path` by processes that no longer run (a run
/// killed with SIGKILL, a crash, a power cut). A file whose pid is alive is left alone: another run
/// may be writing it. Returns the files removed.
inline std::vector<std::filesystem::path> remove_stale_temp_files(const std::filesystem::path& path) {
  std::vector<std::filesystem::path> removed;
  std::error_code ec;
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  const std::string base = path.filename().string();
  if (base.empty()) return removed;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const auto pid = detail::temp_file_pid(name, base);
    if (!pid || *pid <= 0 || *pid == static_cast<long>(::getpid())) continue;
    // kill(pid, 0) fails with ESRCH only when no such process exists.
    if (::kill(static_cast<pid_t>(*pid), 0) == 0 || errno != ESRCH) continue;
    std::error_code rm;
    if (std::filesystem::remove(it->path(), rm)) removed.push_back(it->path());
  }
  return removed;
}

/// True when `path` names something that is not a regular file: a device such as /dev/null or
/// /dev/stdout, a FIFO, a socket. Such a destination is written in place: a temporary file renamed
/// over it would replace the device with a regular file (as root, /dev/null itself).
[[nodiscard]] inline bool writes_in_place(const std::filesystem::path& path) noexcept {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  return !ec && std::filesystem::exists(st) && !std::filesystem::is_regular_file(st) && !std::filesystem::is_directory(st);
}

/// An output destination: a file written atomically, or standard output for "-".
///
/// For a file, lines go to `<path>.tmp.<pid>` and are flushed as they are written (so progress is
/// visible and a crash loses nothing already computed — the cache holds the calls). commit()
/// fsyncs and renames the temporary file over `path`; a destination that is never committed is
/// left untouched and the temporary file is removed. Callers commit partial results too (a budget
/// stop, Ctrl-C), so the file at `path` is always complete, valid JSON or JSONL. A destination
/// that is not a regular file (writes_in_place(): /dev/null, a FIFO) is written directly.
///
/// Temporary files never outlive their process for long: a fatal-signal handler removes them with
/// remove_open_temp_files(), and open() removes the ones of processes that no longer run (killed
/// with SIGKILL, crashed) beside the same destination (remove_stale_temp_files()).
class atomic_output {
 public:
  [[nodiscard]] static result<atomic_output> open(const std::string& path) {
    atomic_output out;
    if (path == "-") {
      out.file_ = stdout;
      out.is_stdout_ = true;
      return out;
    }
    out.final_ = path;
    if (writes_in_place(out.final_)) {
      out.file_ = std::fopen(path.c_str(), "wb");
      if (!out.file_) return fail(errc::io, fmt::format("cannot write {}: {}", path, std::strerror(errno)));
      out.in_place_ = true;
      return out;
    }
    (void)remove_stale_temp_files(out.final_);
    out.temp_ = path;
    out.temp_ += ".tmp.";
    out.temp_ += std::to_string(::getpid());
    // Registered before it exists, so that no signal finds it on disk but not in the table.
    out.registered_ = detail::register_temp_file(out.temp_.string());
    out.file_ = std::fopen(out.temp_.c_str(), "wb");
    if (!out.file_) {
      const int e = errno;
      out.unregister();
      return fail(errc::io, fmt::format("cannot write {}: {}", out.temp_.string(), std::strerror(e)));
    }
    return out;
  }

  atomic_output(atomic_output&& o) noexcept { *this = std::move(o); }
  atomic_output& operator=(atomic_output&& o) noexcept {
    if (this != &o) {
      abandon();
      file_ = std::exchange(o.file_, nullptr);
      registered_ = std::exchange(o.registered_, false);
      is_stdout_ = o.is_stdout_;
      in_place_ = o.in_place_;
      final_ = std::move(o.final_);
      temp_ = std::move(o.temp_);
    }
    return *this;
  }
  ~atomic_output() { abandon(); }

  /// Writes text and flushes it.
  result<void> write(std::string_view text) {
    if (!file_) return fail(errc::io, "output already committed");
    if (std::fwrite(text.data(), 1, text.size(), file_) != text.size() || std::fflush(file_) != 0)
      return fail(errc::io, fmt::format("cannot write {}: {}", describe(), std::strerror(errno)));
    return {};
  }
  result<void> write_line(std::string_view line) {
    std::string s(line);
    s += '\n';
    return write(s);
  }

  /// Makes the output visible at its destination (fsync, then rename over it).
  result<void> commit() {
    if (!file_) return fail(errc::io, "output already committed");
    if (is_stdout_) {
      std::fflush(stdout);
      file_ = nullptr;
      return {};
    }
    std::fflush(file_);
    if (in_place_) {
      const bool ok = std::fclose(file_) == 0;
      file_ = nullptr;
      if (!ok) return fail(errc::io, fmt::format("cannot write {}: {}", final_.string(), std::strerror(errno)));
      return {};
    }
    ::fsync(::fileno(file_));
    std::fclose(file_);
    file_ = nullptr;
    std::error_code ec;
    std::filesystem::rename(temp_, final_, ec);
    unregister();
    if (ec) return fail(errc::io, fmt::format("cannot move {} to {}: {}", temp_.string(), final_.string(), ec.message()));
    return {};
  }

  [[nodiscard]] std::string describe() const { return is_stdout_ ? "standard output" : final_.string(); }
  [[nodiscard]] const std::filesystem::path& temp_path() const noexcept { return temp_; }

 private:
  atomic_output() = default;
  void abandon() noexcept {
    if (file_ && !is_stdout_) {
      std::fclose(file_);
      std::error_code ec;
      if (!in_place_) std::filesystem::remove(temp_, ec);
    }
    file_ = nullptr;
    unregister();
  }
  void unregister() noexcept {
    if (registered_) detail::unregister_temp_file(temp_.c_str());
    registered_ = false;
  }

  std::FILE* file_ = nullptr;
  bool registered_ = false;  ///< the temporary file is in the signal-time removal table
  bool is_stdout_ = false;
  bool in_place_ = false;  ///< a device or FIFO, written directly (writes_in_place())
  std::filesystem::path final_, temp_;
};

}  // namespace io
SELFALIGN_END_NAMESPACE
