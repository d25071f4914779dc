// selfalign: reading one JSON document from a file (a price table, a `selfalign drpo` result)
// without ever throwing; errors name the file and line
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/detail/strings.hpp>
#include <selfalign/json_read.hpp>
#include <selfalign/result.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

SELFALIGN_BEGIN_NAMESPACE
namespace io {

namespace detail {

// Finds where a text stops being JSON: nlohmann reports the byte offset of every refusal (a
// syntax error, a number out of range such as 1e400) to a SAX handler, even where its exception
// message has no position. Builds nothing.
class json_error_locator final : public nlohmann::json_sax<nlohmann::json> {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& ex) override;
  [[nodiscard]] std::size_t position() const noexcept { return position_; }
  [[nodiscard]] const std::string& reason() const noexcept { return reason_; }

 private:
  std::size_t position_ = 0;
  std::string reason_;
};

// The 1-based line of byte offset `byte` (1-based, as nlohmann counts) in `text`.
SELFALIGN_DECL std::size_t line_of_byte(std::string_view text, std::size_t byte);

}  // namespace detail

/// Parses a whole JSON document with the depth-capped reader (parse_json). Never throws:
/// errc::invalid_argument "<source>:<line>: not valid JSON: <reason>" when it is not JSON
/// (syntax, a number out of range, nesting deeper than 256 levels, an empty text).
[[nodiscard]] SELFALIGN_DECL result<nlohmann::json> parse_json_document(std::string_view text, std::string_view source);

/// Reads a file holding one JSON document. errc::io when the file cannot be read; otherwise as
/// parse_json_document(), the path naming the source.
[[nodiscard]] SELFALIGN_DECL result<nlohmann::json> read_json_file(const std::filesystem::path& path);

}  // namespace io
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/io/impl/json_file.ipp>
#endif
