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

#include <selfalign/detail/prologue.hpp>
#include <selfalign/version.hpp>
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
[[nodiscard]] SELFALIGN_DECL result<preference_format> parse_preference_format(std::string_view s);

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

SELFALIGN_DECL result<void> preference_check_text(std::string_view field, std::string_view text, std::size_t record);

SELFALIGN_DECL nlohmann::ordered_json preference_messages_json(std::string_view system, std::string_view user, const std::string* assistant);

}  // namespace detail

/// One record as one JSON line (no trailing newline). `record_number` (1-based) names the record
/// in errors: errc::invalid_argument for invalid UTF-8 or a non-finite number.
[[nodiscard]] SELFALIGN_DECL result<std::string> to_jsonl_line(const preference_record& r, const export_options& o = {},
                                                       std::size_t record_number = 1);

/// The JSONL text of the records, one line per record; an error (naming the record) when one
/// cannot be exported, in which case nothing is written by the functions below.
[[nodiscard]] SELFALIGN_DECL result<std::string> render_preferences(std::span<const preference_record> records,
                                                             const export_options& o = {});

/// Writes one line per record to `out`. Nothing is written when a record cannot be exported:
/// every line is built first.
[[nodiscard]] SELFALIGN_DECL result<void> write_preferences(std::ostream& out, std::span<const preference_record> records,
                                                    const export_options& o = {});

/// Writes the records to `path` through io::atomic_output: a temporary file beside it, renamed over
/// `path` when complete (removed on failure and on a fatal signal), so `path` holds either its old
/// content or all the records. A path that is not a regular file (/dev/null, a FIFO) is written
/// directly, and "-" is standard output, as for every atomic_output.
[[nodiscard]] SELFALIGN_DECL result<void> write_preferences(const std::filesystem::path& path, std::span<const preference_record> records,
                                                    const export_options& o = {});

}  // namespace io
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/io/impl/preference_export.ipp>
#endif
