// selfalign: atomic output files — written to a temporary file, flushed as results arrive,
// renamed into place on commit, so a reader never sees a half-written output
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/config.hpp>
#include <selfalign/result.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unistd.h>
#include <utility>

SELFALIGN_BEGIN_NAMESPACE
namespace io {

/// An output destination: a file written atomically, or standard output for "-".
///
/// For a file, lines go to `<path>.tmp.<pid>` and are flushed as they are written (so progress is
/// visible and a crash loses nothing already computed — the cache holds the calls). commit()
/// fsyncs and renames the temporary file over `path`; a destination that is never committed is
/// left untouched and the temporary file is removed. Callers commit partial results too (a budget
/// stop, Ctrl-C), so the file at `path` is always complete, valid JSON or JSONL.
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
    out.temp_ = path + ".tmp." + std::to_string(::getpid());
    out.file_ = std::fopen(out.temp_.c_str(), "wb");
    if (!out.file_)
      return fail(errc::io, fmt::format("cannot write {}: {}", out.temp_.string(), std::strerror(errno)));
    return out;
  }

  atomic_output(atomic_output&& o) noexcept { *this = std::move(o); }
  atomic_output& operator=(atomic_output&& o) noexcept {
    if (this != &o) {
      abandon();
      file_ = std::exchange(o.file_, nullptr);
      is_stdout_ = o.is_stdout_;
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
    ::fsync(::fileno(file_));
    std::fclose(file_);
    file_ = nullptr;
    std::error_code ec;
    std::filesystem::rename(temp_, final_, ec);
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
      std::filesystem::remove(temp_, ec);
    }
    file_ = nullptr;
  }

  std::FILE* file_ = nullptr;
  bool is_stdout_ = false;
  std::filesystem::path final_, temp_;
};

}  // namespace io
SELFALIGN_END_NAMESPACE
