// selfalign: definitions for <selfalign/io/preference_export.hpp> (preference data out — TRL standard / conversational and OpenRLHF-style JSONL)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/io/preference_export.hpp>
#include <selfalign/detail/format.hpp>

SELFALIGN_BEGIN_NAMESPACE

namespace io {

SELFALIGN_DECL result<preference_format> parse_preference_format(std::string_view s) {
  for (auto f : {preference_format::trl_standard, preference_format::trl_conversational, preference_format::openrlhf})
    if (to_string(f) == s) return f;
  return fail(errc::invalid_argument,
              selfalign::detail::format_text("unknown preference format '{}' (expected trl, trl-conversational or openrlhf)", s));
}

namespace detail {

SELFALIGN_DECL result<void> preference_check_text(std::string_view field, std::string_view text, std::size_t record) {
  if (auto bad = first_invalid_utf8(text))
    return fail(errc::invalid_argument, selfalign::detail::format_text("record {}: {} has invalid UTF-8 at byte {}", record, field, *bad + 1));
  return {};
}

SELFALIGN_DECL nlohmann::ordered_json preference_messages_json(std::string_view system, std::string_view user, const std::string* assistant) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  auto add = [&list](std::string_view role, std::string_view content) {
    nlohmann::ordered_json m;
    m["role"] = role;
    m["content"] = content;
    list.push_back(std::move(m));
  };
  if (!system.empty()) add("system", system);
  if (!user.empty() || assistant == nullptr) add("user", user);
  if (assistant) add("assistant", *assistant);
  return list;
}

}  // namespace detail
SELFALIGN_DECL result<std::string> to_jsonl_line(const preference_record& r, const export_options& o,
                                                       std::size_t record_number) {
  for (auto [field, text] : {std::pair<std::string_view, std::string_view>{"prompt", r.prompt}, {"chosen", r.chosen},
                             {"rejected", r.rejected}})
    if (auto ok = detail::preference_check_text(field, text, record_number); !ok) return unexpected(std::move(ok).error());
  nlohmann::ordered_json j;
  switch (o.format) {
    case preference_format::trl_standard:
      j["prompt"] = r.prompt;
      j["chosen"] = r.chosen;
      j["rejected"] = r.rejected;
      break;
    case preference_format::trl_conversational: {
      j["prompt"] = detail::preference_messages_json(o.system_prompt, r.prompt, nullptr);
      nlohmann::ordered_json c = nlohmann::ordered_json::array(), x = nlohmann::ordered_json::array();
      c.push_back({{"role", "assistant"}, {"content", r.chosen}});
      x.push_back({{"role", "assistant"}, {"content", r.rejected}});
      j["chosen"] = std::move(c);
      j["rejected"] = std::move(x);
      break;
    }
    case preference_format::openrlhf:
      j["chosen"] = detail::preference_messages_json(o.system_prompt, r.prompt, &r.chosen);
      j["rejected"] = detail::preference_messages_json(o.system_prompt, r.prompt, &r.rejected);
      break;
  }
  auto number = [&](const char* key, const std::optional<double>& v) -> result<void> {
    if (!v) return {};
    if (!std::isfinite(*v)) return fail(errc::invalid_argument, selfalign::detail::format_text("record {}: {} is {}", record_number, key, *v));
    j[key] = *v;
    return {};
  };
  if (o.margin) {
    if (auto ok = number("margin", r.margin); !ok) return unexpected(std::move(ok).error());
  }
  if (o.weight) {
    if (auto ok = number("weight", r.weight); !ok) return unexpected(std::move(ok).error());
  }
  if (o.scores) {
    if (auto ok = number("score_chosen", r.score_chosen); !ok) return unexpected(std::move(ok).error());
    if (auto ok = number("score_rejected", r.score_rejected); !ok) return unexpected(std::move(ok).error());
  }
  if (o.provenance && r.provenance) {
    const auto& p = *r.provenance;
    nlohmann::ordered_json pj;
    pj["library"] = "selfalign";
    pj["version"] = p.library_version;
    pj["method"] = p.method;
    pj["model"] = p.model;
    pj["prompt_pair"] = p.prompt_pair;
    pj["seed"] = p.seed ? nlohmann::ordered_json(*p.seed) : nlohmann::ordered_json(nullptr);
    pj["query_id"] = p.query_id;
    pj["approximate"] = p.approximate;
    j["provenance"] = std::move(pj);
  }
  return j.dump();
}

SELFALIGN_DECL result<std::string> render_preferences(std::span<const preference_record> records,
                                                             const export_options& o) {
  std::string text;
  for (std::size_t i = 0; i < records.size(); ++i) {
    auto line = to_jsonl_line(records[i], o, i + 1);
    if (!line) return unexpected(std::move(line).error());
    text += *line;
    text += '\n';
  }
  return text;
}

SELFALIGN_DECL result<void> write_preferences(std::ostream& out, std::span<const preference_record> records,
                                                    const export_options& o) {
  auto text = render_preferences(records, o);
  if (!text) return unexpected(std::move(text).error());
  out.write(text->data(), static_cast<std::streamsize>(text->size()));
  out.flush();
  if (!out) return fail(errc::io, "cannot write the preference data");
  return {};
}

SELFALIGN_DECL result<void> write_preferences(const std::filesystem::path& path, std::span<const preference_record> records,
                                                    const export_options& o) {
  auto text = render_preferences(records, o);
  if (!text) return unexpected(std::move(text).error());
  auto out = atomic_output::open(path.string());
  if (!out) return unexpected(std::move(out).error());
  if (auto w = out->write(*text); !w) return w;
  return out->commit();
}

}  // namespace io
SELFALIGN_END_NAMESPACE
