// selfalign: definitions for <selfalign/io/output.hpp> (atomic output files — written to a temporary file, flushed as results arrive,)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/io/output.hpp>
#include <selfalign/detail/format.hpp>
#include <selfalign/detail/file_sync.hpp>

SELFALIGN_BEGIN_NAMESPACE

namespace io {

namespace detail {

SELFALIGN_DECL bool register_temp_file(const std::string& path) noexcept {
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

SELFALIGN_DECL void unregister_temp_file(const char* path) noexcept {
  for (auto& slot : temp_files) {
    int expected = 2;
    if (slot.state.load() == 2 && std::strcmp(path, slot.path) == 0 && slot.state.compare_exchange_strong(expected, 1)) {
      slot.path[0] = '\0';
      slot.state.store(0);
      return;
    }
  }
}

SELFALIGN_DECL std::optional<long> temp_file_pid(std::string_view name, std::string_view base) {
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

SELFALIGN_DECL void remove_open_temp_files() noexcept {
  for (auto& slot : detail::temp_files)
    if (slot.state.load() == 2) selfalign::detail::remove_file_now(slot.path);
}

SELFALIGN_DECL std::vector<std::filesystem::path> remove_stale_temp_files(const std::filesystem::path& path) {
  std::vector<std::filesystem::path> removed;
  std::error_code ec;
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  const std::string base = path.filename().string();
  if (base.empty()) return removed;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const auto pid = detail::temp_file_pid(name, base);
    if (!pid || *pid <= 0 || *pid == selfalign::detail::current_process_id()) continue;
    if (selfalign::detail::process_may_exist(*pid)) continue;
    std::error_code rm;
    if (std::filesystem::remove(it->path(), rm)) removed.push_back(it->path());
  }
  return removed;
}

SELFALIGN_DECL bool writes_in_place(const std::filesystem::path& path) noexcept {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  return !ec && std::filesystem::exists(st) && !std::filesystem::is_regular_file(st) && !std::filesystem::is_directory(st);
}

SELFALIGN_DECL result<atomic_output> atomic_output::open(const std::string& path) {
  atomic_output out;
  if (path == "-") {
    out.file_ = stdout;
    out.is_stdout_ = true;
    return out;
  }
  out.final_ = path;
  if (writes_in_place(out.final_)) {
    out.file_ = std::fopen(path.c_str(), "wb");
    if (!out.file_) return fail(errc::io, selfalign::detail::format_text("cannot write {}: {}", path, std::strerror(errno)));
    out.in_place_ = true;
    return out;
  }
  (void)remove_stale_temp_files(out.final_);
  out.temp_ = path;
  out.temp_ += ".tmp.";
  out.temp_ += std::to_string(selfalign::detail::current_process_id());
  // Registered before it exists, so that no signal finds it on disk but not in the table.
  out.registered_ = detail::register_temp_file(out.temp_.string());
  out.file_ = std::fopen(out.temp_.c_str(), "wb");
  if (!out.file_) {
    const int e = errno;
    out.unregister();
    return fail(errc::io, selfalign::detail::format_text("cannot write {}: {}", out.temp_.string(), std::strerror(e)));
  }
  return out;
}

SELFALIGN_DECL result<void> atomic_output::write(std::string_view text) {
  if (!file_) return fail(errc::io, "output already committed");
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size() || std::fflush(file_) != 0)
    return fail(errc::io, selfalign::detail::format_text("cannot write {}: {}", describe(), std::strerror(errno)));
  return {};
}

SELFALIGN_DECL result<void> atomic_output::write_line(std::string_view line) {
  std::string s(line);
  s += '\n';
  return write(s);
}

SELFALIGN_DECL result<void> atomic_output::commit() {
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
    if (!ok) return fail(errc::io, selfalign::detail::format_text("cannot write {}: {}", final_.string(), std::strerror(errno)));
    return {};
  }
  (void)selfalign::detail::sync_file(file_);
  std::fclose(file_);
  file_ = nullptr;
  std::error_code ec;
  std::filesystem::rename(temp_, final_, ec);
  unregister();
  if (ec) return fail(errc::io, selfalign::detail::format_text("cannot move {} to {}: {}", temp_.string(), final_.string(), ec.message()));
  return {};
}

SELFALIGN_DECL void atomic_output::abandon() noexcept {
  if (file_ && !is_stdout_) {
    std::fclose(file_);
    std::error_code ec;
    if (!in_place_) std::filesystem::remove(temp_, ec);
  }
  file_ = nullptr;
  unregister();
}

SELFALIGN_DECL void atomic_output::unregister() noexcept {
  if (registered_) detail::unregister_temp_file(temp_.c_str());
  registered_ = false;
}

}  // namespace io
SELFALIGN_END_NAMESPACE
