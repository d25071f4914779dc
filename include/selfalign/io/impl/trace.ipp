// selfalign: definitions for <selfalign/io/trace.hpp> (event serialization and the JSONL trace writer (--trace FILE))
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/io/trace.hpp>
#include <selfalign/detail/format.hpp>

SELFALIGN_BEGIN_NAMESPACE

SELFALIGN_DECL void to_json(nlohmann::json& j, const event& e) {
  j = nlohmann::json::object();
  j["kind"] = to_string(e.kind);
  j["source"] = e.source;
  if (!e.role.empty()) j["role"] = e.role;
  if (e.call_id != 0) j["call_id"] = e.call_id;
  if (e.kind == event_kind::call_finished || e.kind == event_kind::call_failed) j["latency_ms"] = e.latency_ms;
  if (e.kind == event_kind::call_finished) j["usage"] = e.usage;
  if (e.error) j["error"] = *e.error;
  if (!e.message.empty()) j["message"] = e.message;
  if (!e.values.empty()) j["values"] = e.values;
}

namespace io {

SELFALIGN_DECL result<std::shared_ptr<trace_writer>> trace_writer::open(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return fail(errc::io, selfalign::detail::format_text("cannot write trace file {}: {}", path, std::strerror(errno)));
  return std::shared_ptr<trace_writer>(new trace_writer(f));
}

SELFALIGN_DECL trace_writer::~trace_writer() {
  if (file_) std::fclose(file_);
}

SELFALIGN_DECL void trace_writer::set_secrets(std::vector<std::string> secrets) {
  std::lock_guard lock(mutex_);
  secrets_ = std::move(secrets);
}

SELFALIGN_DECL void trace_writer::write(const event& e) {
  nlohmann::json j = e;
  j["t_ms"] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
  std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::lock_guard lock(mutex_);
  selfalign::detail::redact_secrets(line, secrets_);
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);
}

}  // namespace io
SELFALIGN_END_NAMESPACE
