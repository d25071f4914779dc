// selfalign: preference data out — TRL standard / conversational and OpenRLHF-style JSONL
// SPDX-License-Identifier: MIT
#pragma once

// One JSON object per line, keys in a fixed order so that files are byte-for-byte reproducible.
//
//   trl_standard        {"prompt": "q", "chosen": "a", "rejected": "b", ...}
//   trl_conversational  {"prompt": [{"role":"user","content":"q"}],
//                        "chosen": [{"role":"assistant","content":"a"}], "rejected": [...], ...}
//   openrlhf            {"chosen": [{"role":"user",...},{"role":"assistant","content":"a"}],
//                        "rejected": [{"role":"user",...},{"role":"assistant","content":"b"}], ...}
//
// followed by the optional columns "margin", "weight", "score_chosen", "score_rejected" and a
// "provenance" object. See docs/dlma.md for how TRL and OpenRLHF read them.

#include <selfalign/config.hpp>
#include <selfalign/io/output.hpp>
#include <selfalign/io/utf8.hpp>
#include <selfalign/result.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <utility>

SELFALIGN_BEGIN_NAMESPACE
namespace io {

/// Where a preference record came from.
struct preference_provenance {
  std::string method;       ///< "dlma", ...
  std::string model;        ///< the model that wrote and scored the answers
  std::string prompt_pair;  ///< the contrastive prompt pair's name
  std::optional<std::uint64_t> seed;  ///< the run seed
  std::string query_id;
  bool approximate = false;  ///< the scores were approximate (teacher forcing with top-k)
  std::string library_version = version_string;
  friend bool operator==(const preference_provenance&, const preference_provenance&) = default;
};

/// One preference example, independent of the method that produced it.
struct preference_record {
  std::string prompt;
  std::string chosen;
  std::string rejected;
  std::optional<double> margin;
  std::optional<double> weight;
  std::optional<double> score_chosen;
  std::optional<double> score_rejected;
  std::optional<preference_provenance> provenance;
  friend bool operator==(const preference_record&, const preference_record&) = default;
};

/// The layout of the exported lines.
enum class preference_format {
  trl_standard,        ///< TRL "standard" preference: strings, explicit prompt
  trl_conversational,  ///< TRL "conversational" preference: message lists, explicit prompt
  openrlhf,            ///< full conversations under chosen/rejected (OpenRLHF --apply_chat_template without --prompt_key)
};

[[nodiscard]] constexpr std::string_view to_string(preference_format f) noexcept {
  switch (f) {
    case preference_format::trl_standard: return "trl";
    case preference_format::trl_conversational: return "trl-conversational";
    case preference_format::openrlhf: return "openrlhf";
  }
  return "trl";
}

/// Parses "trl", "trl-conversational" or "openrlhf".
[[nodiscard]] inline result<preference_format> parse_preference_format(std::string_view s) {
  for (auto f : {preference_format::trl_standard, preference_format::trl_conversational, preference_format::openrlhf})
    if (to_string(f) == s) return f;
  return fail(errc::invalid_argument,
              fmt::format("unknown preference format '{}' (expected trl, trl-conversational or openrlhf)", s));
}

/// What goes into each line.
struct export_options {
  preference_format format = preference_format::trl_standard;
  bool margin = true;      ///< "margin" column (when the record has one)
  bool weight = true;      ///< "weight" column
  bool scores = true;      ///< "score_chosen" / "score_rejected" columns
  bool provenance = true;  ///< "provenance" object
  std::string system_prompt;  ///< message formats: a system message before the user turn (empty: none)
};

namespace detail {

inline result<void> preference_check_text(std::string_view field, std::string_view text, std::size_t record) {
  if (auto bad = first_invalid_utf8(text))
    return fail(errc::invalid_argument, fmt::format("record {}: {} has invalid UTF-8 at byte {}", record, field, *bad + 1));
  return {};
}

inline nlohmann::ordered_json preference_messages_json(std::string_view system, std::string_view user, const std::string* assistant) {
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

/// One record as one JSON line (no trailing newline). `record_number` (1-based) names the record
/// in errors: errc::invalid_argument for invalid UTF-8 or a non-finite number.
[[nodiscard]] inline result<std::string> to_jsonl_line(const preference_record& r, const export_options& o = {},
                                                       std::size_t record_number = 1) {
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
    if (!std::isfinite(*v)) return fail(errc::invalid_argument, fmt::format("record {}: {} is {}", record_number, key, *v));
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

/// The JSONL text of the records, one line per record; an error (naming the record) when one
/// cannot be exported, in which case nothing is written by the functions below.
[[nodiscard]] inline result<std::string> render_preferences(std::span<const preference_record> records,
                                                             const export_options& o = {}) {
  std::string text;
  for (std::size_t i = 0; i < records.size(); ++i) {
    auto line = to_jsonl_line(records[i], o, i + 1);
    if (!line) return unexpected(std::move(line).error());
    text += *line;
    text += '\n';
  }
  return text;
}

/// Writes one line per record to `out`. Nothing is written when a record cannot be exported:
/// every line is built first.
[[nodiscard]] inline result<void> write_preferences(std::ostream& out, std::span<const preference_record> records,
                                                    const export_options& o = {}) {
  auto text = render_preferences(records, o);
  if (!text) return unexpected(std::move(text).error());
  out.write(text->data(), static_cast<std::streamsize>(text->size()));
  out.flush();
  if (!out) return fail(errc::io, "cannot write the preference data");
  return {};
}

/// Writes the records to `path` through io::atomic_output: a temporary file beside it, renamed over
/// `path` when complete (removed on failure and on a fatal signal), so `path` holds either its old
/// content or all the records. A path that is not a regular file (/dev/null, a FIFO) is written
/// directly, and "-" is standard output, as for every atomic_output.
[[nodiscard]] inline result<void> write_preferences(const std::filesystem::path& path, std::span<const preference_record> records,
                                                    const export_options& o = {}) {
  auto text = render_preferences(records, o);
  if (!text) return unexpected(std::move(text).error());
  auto out = atomic_output::open(path.string());
  if (!out) return unexpected(std::move(out).error());
  if (auto w = out->write(*text); !w) return w;
  return out->commit();
}

}  // namespace io
SELFALIGN_END_NAMESPACE
