// selfalign CLI: the one-line progress display on a terminal, fed by events (the CLI's, not the
// library's: a library user renders events as their program does)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/events.hpp>
#include <selfalign/usage.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace cli {

using selfalign::event;
using selfalign::event_kind;
using selfalign::meter;

/// Counts calls, tokens and cache hits from call events and items from progress events
/// (values "done" and "total"), and redraws one status line at most ten times a second:
///   [ 12/40] calls 123 (7 cached)  tokens 45.6k  $0.0123  2m10s elapsed, ETA 1m20s
/// When `enabled` is false (standard error is not a terminal) it draws nothing. Thread-safe.
class progress_display {
 public:
  progress_display(std::FILE* out, bool enabled, std::shared_ptr<meter> m = nullptr)
      : out_(out), enabled_(enabled), meter_(std::move(m)), start_(std::chrono::steady_clock::now()) {}

  void set_total(std::size_t total) {
    std::lock_guard lock(mutex_);
    total_ = total;
  }
  void item_done() {
    std::lock_guard lock(mutex_);
    ++done_;
    draw_locked(false);
  }

  void on_event(const event& e) {
    std::lock_guard lock(mutex_);
    if (e.kind == event_kind::call_finished) {
      if (e.usage.from_cache) {
        ++cache_hits_;
      } else {
        ++calls_;
        tokens_ += e.usage.total_tokens();
      }
    } else if (e.kind == event_kind::call_failed) {
      ++failures_;
    } else if (e.kind == event_kind::progress) {
      if (auto it = e.values.find("total"); it != e.values.end()) total_ = static_cast<std::size_t>(it->second);
      if (auto it = e.values.find("done"); it != e.values.end()) done_ = static_cast<std::size_t>(it->second);
    }
    draw_locked(false);
  }

  /// Draws the final state and ends the line.
  void finish() {
    std::lock_guard lock(mutex_);
    draw_locked(true);
    if (enabled_ && drawn_) std::fputc('\n', out_);
  }

  /// The status line as it would be drawn now (for tests and logs).
  [[nodiscard]] std::string line() const {
    std::lock_guard lock(mutex_);
    return line_locked();
  }

 private:
  static std::string human(std::int64_t n) {
    if (n < 1000) return std::to_string(n);
    if (n < 1000000) return fmt::format("{:.1f}k", static_cast<double>(n) / 1e3);
    return fmt::format("{:.2f}M", static_cast<double>(n) / 1e6);
  }
  static std::string duration(double seconds) {
    const auto s = static_cast<long>(seconds + 0.5);
    if (s < 60) return fmt::format("{}s", s);
    if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
    return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  }
  std::string line_locked() const {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    std::string l = total_ ? fmt::format("[{:>{}}/{}]", done_, std::to_string(total_).size(), total_) : fmt::format("[{}]", done_);
    l += fmt::format(" calls {}", calls_);
    if (cache_hits_) l += fmt::format(" ({} cached)", cache_hits_);
    if (failures_) l += fmt::format(" {} failed", failures_);
    l += fmt::format("  tokens {}", human(tokens_));
    if (meter_) {
      const double cost = meter_->totals().cost;
      if (cost > 0) l += fmt::format("  ${:.4f}", cost);
    }
    l += fmt::format("  {} elapsed", duration(elapsed));
    if (total_ && done_ > 0 && done_ < total_)
      l += fmt::format(", ETA {}", duration(elapsed / static_cast<double>(done_) * static_cast<double>(total_ - done_)));
    return l;
  }
  void draw_locked(bool force) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (!force && drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    drawn_ = true;
    std::fprintf(out_, "\r\033[K%s", line_locked().c_str());
    std::fflush(out_);
  }

  std::FILE* out_;
  bool enabled_;
  std::shared_ptr<meter> meter_;
  std::chrono::steady_clock::time_point start_, last_draw_{};
  mutable std::mutex mutex_;
  std::size_t total_ = 0, done_ = 0;
  std::int64_t calls_ = 0, cache_hits_ = 0, failures_ = 0, tokens_ = 0;
  bool drawn_ = false;
};

}  // namespace cli
