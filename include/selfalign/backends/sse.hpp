// selfalign: an incremental Server-Sent Events parser for streamed completions (no sockets)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

SELFALIGN_BEGIN_NAMESPACE

/// One dispatched SSE event. `data` joins several `data:` lines with '\n'.
struct sse_event {
  std::string event;  ///< the `event:` field ("" for the default "message")
  std::string data;
  std::string id;
};

/// Parses an SSE byte stream fed in arbitrary pieces (a line, a CRLF pair or a UTF-8 sequence may
/// be split across network reads). Lines end in "\n", "\r\n" or "\r"; comment lines (":" first,
/// llama.cpp's pings) are counted and skipped; an event is dispatched at a blank line when it has
/// data. The callback returns false to stop: feed() then returns false and ignores later input.
class sse_parser {
 public:
  using callback = std::function<bool(const sse_event&)>;

  explicit sse_parser(callback on_event, std::size_t max_buffer = std::size_t{16} << 20)
      : on_event_(std::move(on_event)), max_buffer_(max_buffer) {}

  /// Feeds bytes; returns false when the callback asked to stop or a line exceeded max_buffer.
  bool feed(std::string_view bytes) {
    if (stopped_) return false;
    buffer_.append(bytes);
    std::size_t pos = 0;
    for (;;) {
      const std::size_t eol = buffer_.find_first_of("\r\n", pos);
      if (eol == std::string::npos) break;
      // A trailing '\r' may be the first half of "\r\n": wait for the next byte.
      if (buffer_[eol] == '\r' && eol + 1 == buffer_.size()) break;
      const std::string_view line(buffer_.data() + pos, eol - pos);
      const std::size_t next = eol + ((buffer_[eol] == '\r' && buffer_[eol + 1] == '\n') ? 2 : 1);
      if (!process_line(line)) {
        stopped_ = true;
        buffer_.clear();
        return false;
      }
      pos = next;
    }
    buffer_.erase(0, pos);
    if (buffer_.size() > max_buffer_) {
      overflow_ = true;
      stopped_ = true;
      return false;
    }
    return true;
  }

  /// At end of stream: a final line without its terminator, and an event without its blank line,
  /// are still delivered (some servers close right after the last "data:" line).
  bool finish() {
    if (stopped_) return false;
    if (!buffer_.empty()) {
      std::string rest;
      rest.swap(buffer_);
      if (!rest.empty() && rest.back() == '\r') rest.pop_back();
      if (!process_line(rest)) return stopped_ = true, false;
    }
    if (!process_line({})) return stopped_ = true, false;
    return true;
  }

  [[nodiscard]] std::size_t events() const noexcept { return events_; }
  [[nodiscard]] std::size_t comments() const noexcept { return comments_; }
  [[nodiscard]] bool stopped() const noexcept { return stopped_; }
  /// True when a line longer than max_buffer arrived (a runaway or non-SSE body).
  [[nodiscard]] bool overflowed() const noexcept { return overflow_; }

 private:
  bool process_line(std::string_view line) {
    if (first_line_) {
      first_line_ = false;
      if (line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);  // UTF-8 BOM
    }
    if (line.empty()) return dispatch();
    if (line.front() == ':') {
      ++comments_;
      return true;
    }
    std::string_view field = line;
    std::string_view value;
    if (const auto colon = line.find(':'); colon != std::string_view::npos) {
      field = line.substr(0, colon);
      value = line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    if (field == "data") {
      if (has_data_) current_.data += '\n';
      current_.data.append(value);
      has_data_ = true;
    } else if (field == "event") {
      current_.event.assign(value);
    } else if (field == "id") {
      current_.id.assign(value);
    }
    // "retry" and unknown fields are ignored, as the SSE specification says.
    return true;
  }

  bool dispatch() {
    if (!has_data_) {
      current_.event.clear();
      return true;
    }
    ++events_;
    const bool go_on = on_event_(current_);
    current_.data.clear();
    current_.event.clear();
    has_data_ = false;
    return go_on;
  }

  callback on_event_;
  std::size_t max_buffer_;
  std::string buffer_;
  sse_event current_;
  bool has_data_ = false;
  bool first_line_ = true;
  bool stopped_ = false;
  bool overflow_ = false;
  std::size_t events_ = 0;
  std::size_t comments_ = 0;
};

SELFALIGN_END_NAMESPACE
