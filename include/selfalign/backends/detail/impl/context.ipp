// selfalign: definitions for <selfalign/backends/detail/context.hpp> (context windows and context-overflow errors)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/backends/detail/context.hpp>

SELFALIGN_BEGIN_NAMESPACE
namespace detail {

[[nodiscard]] SELFALIGN_DECL std::optional<std::int64_t> positive_int(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return std::nullopt;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  const double v = it->get<double>();
  if (!(v >= 1.0 && v < 1e12)) return std::nullopt;
  return static_cast<std::int64_t>(v);
}

[[nodiscard]] SELFALIGN_DECL std::optional<std::int64_t> context_from_props(const nlohmann::json& props) {
  if (!props.is_object()) return std::nullopt;
  auto it = props.find("default_generation_settings");
  if (it != props.end())
    if (auto n = positive_int(*it, "n_ctx")) return n;
  return positive_int(props, "n_ctx");
}

[[nodiscard]] SELFALIGN_DECL std::optional<std::int64_t> context_from_models(const nlohmann::json& models, const std::string& model) {
  if (!models.is_object()) return std::nullopt;
  auto data = models.find("data");
  if (data == models.end() || !data->is_array() || data->empty()) return std::nullopt;
  const nlohmann::json* pick = &(*data)[0];
  for (const auto& m : *data)
    if (m.is_object() && m.contains("id") && m["id"].is_string() && m["id"].get<std::string>() == model) pick = &m;
  if (auto n = positive_int(*pick, "max_model_len")) return n;
  if (pick->is_object())
    if (auto meta = pick->find("meta"); meta != pick->end())
      if (auto n = positive_int(*meta, "n_ctx")) return n;
  return std::nullopt;
}

SELFALIGN_DECL bool contains_text(std::string_view hay, std::string_view needle) { return hay.find(needle) != std::string_view::npos; }

SELFALIGN_DECL bool classify_context_overflow(error& e) {
  if (e.http_status != 400 && e.http_status != 413 && e.http_status != 422) return false;
  const std::string_view m = e.message;
  const bool overflow = e.type == "exceed_context_size_error" || e.server_code == "context_length_exceeded" ||
                        contains_text(m, "maximum context length") || contains_text(m, "exceeds the available context size") ||
                        contains_text(m, "exceeds the maximum allowed length") ||
                        contains_text(m, "longer than the model's context length") ||
                        (contains_text(m, "max_new_tokens") && contains_text(m, "must be <="));
  if (!overflow) return false;
  e.code = errc::context_overflow;
  e.retryable = false;
  return true;
}

[[nodiscard]] SELFALIGN_DECL std::optional<std::int64_t> number_after(std::string_view text, std::string_view marker) {
  const auto at = text.find(marker);
  if (at == std::string_view::npos) return std::nullopt;
  std::size_t i = at + marker.size();
  while (i < text.size() && (text[i] < '0' || text[i] > '9')) {
    if (i - at - marker.size() > 8) return std::nullopt;  // the number must follow closely
    ++i;
  }
  std::int64_t v = 0;
  bool any = false;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9' && v < (std::int64_t{1} << 40)) {
    v = v * 10 + (text[i++] - '0');
    any = true;
  }
  return any ? std::optional<std::int64_t>(v) : std::nullopt;
}

[[nodiscard]] SELFALIGN_DECL overflow_counts parse_overflow_counts(std::string_view body, std::string_view message) {
  overflow_counts out;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    const nlohmann::json& e = j.contains("error") && j["error"].is_object() ? j["error"] : j;
    out.context = positive_int(e, "n_ctx");
    out.prompt_tokens = positive_int(e, "n_prompt_tokens");
  }
  if (!out.context) out.context = number_after(message, "maximum context length is ");
  if (!out.prompt_tokens) out.prompt_tokens = number_after(message, "your request has ");
  if (!out.prompt_tokens && contains_text(message, " in the messages"))
    out.prompt_tokens = number_after(message, "tokens (");  // "you requested N tokens (P in the messages, C in the completion)"
  return out;
}

}  // namespace detail
SELFALIGN_END_NAMESPACE
