// selfalign: event serialization and the JSONL trace writer (--trace FILE)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/detail/redact.hpp>
#include <selfalign/events.hpp>
#include <selfalign/json.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE

SELFALIGN_DECL void to_json(nlohmann::json& j, const event& e);

namespace io {

/// Appends every event it receives to a JSONL file, one line each, with the milliseconds since the
/// writer was opened in "t_ms". Thread-safe; flushed per line.
class trace_writer {
 public:
  [[nodiscard]] static result<std::shared_ptr<trace_writer>> open(const std::string& path);
  ~trace_writer();
  trace_writer(const trace_writer&) = delete;
  trace_writer& operator=(const trace_writer&) = delete;

  /// Secrets (API keys) to remove from every line, whatever part of an event holds them.
  void set_secrets(std::vector<std::string> secrets);

  void write(const event& e);

 private:
  explicit trace_writer(std::FILE* f) : file_(f), start_(std::chrono::steady_clock::now()) {}
  std::FILE* file_;
  std::chrono::steady_clock::time_point start_;
  std::mutex mutex_;
  std::vector<std::string> secrets_;
};

}  // namespace io
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/io/impl/trace.ipp>
#endif
