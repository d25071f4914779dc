// selfalign: reading query datasets — JSONL records and HH-style "Human:/Assistant:" transcripts
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/detail/strings.hpp>
#include <selfalign/io/utf8.hpp>
#include <selfalign/json_read.hpp>
#include <selfalign/result.hpp>
#include <selfalign/types.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <istream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace io {

/// One query read from a dataset.
struct query_record {
  std::string id;         ///< the record's "id" (a string, or an integer as text); else its line number
  std::string prompt;     ///< the query text
  nlohmann::json fields;  ///< the whole JSON object of the line (other columns travel with the query)
  std::size_t line = 0;   ///< 1-based line in the source; 0 when the record was not read from text
};

/// How read_queries reads a JSONL dataset.
struct read_options {
  /// Fields tried, in order, for the query text; the first present (and not null) one is used.
  std::vector<std::string> text_fields = {"prompt", "instruction", "question", "query"};
  std::string id_field = "id";  ///< empty: ids are always line numbers
  /// Alpaca-style records: when the text came from "instruction" and "input" is a non-empty
  /// string, the prompt is instruction + "\n\n" + input.
  bool join_input = true;
  bool allow_empty = false;  ///< accept an empty (all-whitespace) query text
};

namespace detail {

SELFALIGN_DECL std::string dataset_type_name(const nlohmann::json& j);

SELFALIGN_DECL unexpected dataset_error_at(std::string_view source, std::size_t line, std::string_view reason);

// An exception's message without nlohmann's "[json.exception.out_of_range.406] " prefix.
SELFALIGN_DECL std::string_view exception_reason(const std::exception& e);

// One JSONL line as JSON, through the depth-capped reader (nesting deeper than 256 levels is
// refused before anything recurses on it). On failure the line is read again to say why: syntax
// errors name the column; anything else the parser refuses (a number out of range such as 1e400)
// says what it was.
SELFALIGN_DECL result<nlohmann::json> parse_dataset_json(std::string_view text, std::string_view source, std::size_t line);

SELFALIGN_DECL std::string dataset_quoted_list(const std::vector<std::string>& names);

}  // namespace detail

namespace detail {
inline result<query_record> parse_query_line_unguarded(std::string_view text, std::string_view source, std::size_t line,
                                                       const read_options& options);
}  // namespace detail

/// Parses one JSONL line into a query_record. Errors are errc::invalid_argument with a message
/// "<source>:<line>: <reason>"; it never throws.
[[nodiscard]] SELFALIGN_DECL result<query_record> parse_query_line(std::string_view text, std::string_view source, std::size_t line,
                                                           const read_options& options = {});


/// Reads a JSONL dataset: one JSON object per line, blank lines skipped, "\r\n" accepted, a
/// UTF-8 byte-order mark accepted on the first line. The first malformed line stops the read
/// with errc::invalid_argument "<source>:<line>: <reason>" (not JSON, not an object, no text
/// field, a text field that is not a string, an empty text, a duplicate id).
[[nodiscard]] SELFALIGN_DECL result<std::vector<query_record>> read_queries(std::istream& in, std::string_view source = "<input>",
                                                                    const read_options& options = {});

/// Reads a JSONL dataset file; errc::io when it cannot be opened.
[[nodiscard]] SELFALIGN_DECL result<std::vector<query_record>> read_queries(const std::filesystem::path& path,
                                                                    const read_options& options = {});

// --- HH-style transcripts -----------------------------------------------------------------------

/// Splits an Anthropic-HH-style transcript ("\n\nHuman: ...\n\nAssistant: ...") into turns with
/// roles "user" and "assistant" (contents trimmed). The leading "\n\n" may be missing. A final
/// "Assistant:" with no text is kept as an empty assistant turn (the HH prompt ending).
[[nodiscard]] SELFALIGN_DECL result<std::vector<message>> parse_hh_transcript(std::string_view transcript);

/// The DLMA query of an HH transcript: the conversation before the last assistant reply, turns
/// joined as the official code processed HH data: "<h1>\nASSISTANT: <a1>\nUSER: <h2>" (labels
/// configurable; match them to the contrastive pair's). errc::invalid_argument when no human
/// turn is left or the conversation does not end on a human turn.
[[nodiscard]] SELFALIGN_DECL result<std::string> hh_query(std::string_view transcript, std::string_view user_label = "USER",
                                                  std::string_view assistant_label = "ASSISTANT");

/// Reads HH-style JSONL (Anthropic/hh-rlhf: {"chosen": transcript, "rejected": transcript}): each
/// record's prompt is hh_query(record[field]). Errors as read_queries, "<source>:<line>: ...".
[[nodiscard]] SELFALIGN_DECL result<std::vector<query_record>> read_hh_queries(std::istream& in, std::string_view source = "<input>",
                                                                       std::string field = "chosen");

[[nodiscard]] SELFALIGN_DECL result<std::vector<query_record>> read_hh_queries(const std::filesystem::path& path,
                                                                       std::string field = "chosen");

/// Records from plain strings (ids "1", "2", ...), for code that has its queries in memory.
[[nodiscard]] SELFALIGN_DECL std::vector<query_record> queries_from_strings(const std::vector<std::string>& texts);

}  // namespace io
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/io/impl/dataset.ipp>
#endif
