// selfalign: atomic output files — written to a temporary file, flushed as results arrive,
// renamed into place on commit, so a reader never sees a half-written output
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/result.hpp>

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
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
SELFALIGN_DECL bool register_temp_file(const std::string& path) noexcept;

SELFALIGN_DECL void unregister_temp_file(const char* path) noexcept;

// Whether `name` is "<base>.tmp.<pid>"; the pid when it is.
SELFALIGN_DECL std::optional<long> temp_file_pid(std::string_view name, std::string_view base);

}  // namespace detail

/// Removes the temporary files of every atomic output still open in this process. Async-signal-
/// safe (only unlink(2)): a fatal-signal handler calls it before the process dies, so a killed run
/// leaves no `<out>.tmp.<pid>` behind. The outputs themselves are not committed.
SELFALIGN_DECL void remove_open_temp_files() noexcept;

/// Removes `<path>.tmp.<pid>` files left beside `path` by processes that no longer run (a run
/// killed with SIGKILL, a crash, a power cut). A file whose pid is alive is left alone: another run
/// may be writing it. Returns the files removed.
SELFALIGN_DECL std::vector<std::filesystem::path> remove_stale_temp_files(const std::filesystem::path& path);

/// True when `path` names something that is not a regular file: a device such as /dev/null or
/// /dev/stdout, a FIFO, a socket. Such a destination is written in place: a temporary file renamed
/// over it would replace the device with a regular file (as root, /dev/null itself).
[[nodiscard]] SELFALIGN_DECL bool writes_in_place(const std::filesystem::path& path) noexcept;

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
  [[nodiscard]] static result<atomic_output> open(const std::string& path);

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
  result<void> write(std::string_view text);
  result<void> write_line(std::string_view line);

  /// Makes the output visible at its destination (fsync, then rename over it).
  result<void> commit();

  [[nodiscard]] std::string describe() const { return is_stdout_ ? "standard output" : final_.string(); }
  [[nodiscard]] const std::filesystem::path& temp_path() const noexcept { return temp_; }

 private:
  atomic_output() = default;
  void abandon() noexcept;
  void unregister() noexcept;

  std::FILE* file_ = nullptr;
  bool registered_ = false;  ///< the temporary file is in the signal-time removal table
  bool is_stdout_ = false;
  bool in_place_ = false;  ///< a device or FIFO, written directly (writes_in_place())
  std::filesystem::path final_, temp_;
};

}  // namespace io
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/io/impl/output.ipp>
#endif
