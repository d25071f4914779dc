// selfalign: reading one JSON document from a file (a price table, a `selfalign drpo` result)
// without ever throwing; errors name the file and line
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/config.hpp>
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
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& ex) override {
    position_ = position;
    std::string_view what = ex.what();
    if (const auto close = what.find("] "); close != std::string_view::npos) what.remove_prefix(close + 2);
    reason_ = std::string(what);
    return false;
  }
  [[nodiscard]] std::size_t position() const noexcept { return position_; }
  [[nodiscard]] const std::string& reason() const noexcept { return reason_; }

 private:
  std::size_t position_ = 0;
  std::string reason_;
};

// The 1-based line of byte offset `byte` (1-based, as nlohmann counts) in `text`.
inline std::size_t line_of_byte(std::string_view text, std::size_t byte) {
  const std::size_t end = std::min(text.size(), byte > 0 ? byte - 1 : 0);
  return 1 + static_cast<std::size_t>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(end), '\n'));
}

}  // namespace detail

/// Parses a whole JSON document with the depth-capped reader (parse_json). Never throws:
/// errc::invalid_argument "<source>:<line>: not valid JSON: <reason>" when it is not JSON
/// (syntax, a number out of range, nesting deeper than 256 levels, an empty text).
[[nodiscard]] inline result<nlohmann::json> parse_json_document(std::string_view text, std::string_view source) {
  try {
    json_read_notes notes;
    auto j = parse_json(text, json_read_options{}, &notes);
    if (j) return std::move(*j);
    if (notes.too_deep)
      return fail(errc::invalid_argument, fmt::format("{}:{}: {}", source, detail::line_of_byte(text, notes.error_byte), j.error().message));
    detail::json_error_locator where;
    (void)nlohmann::json::sax_parse(text, &where);
    const std::string reason = where.reason().empty() ? std::string("not valid JSON") : "not valid JSON: " + where.reason();
    return fail(errc::invalid_argument, fmt::format("{}:{}: {}", source, detail::line_of_byte(text, where.position()), reason));
  } catch (const std::exception& e) {
    return fail(errc::invalid_argument, fmt::format("{}:1: cannot read: {}", source, e.what()));
  }
}

/// Reads a file holding one JSON document. errc::io when the file cannot be read; otherwise as
/// parse_json_document(), the path naming the source.
[[nodiscard]] inline result<nlohmann::json> read_json_file(const std::filesystem::path& path) {
  std::string text;
  try {
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail(errc::io, fmt::format("cannot open {}: {}", path.string(), std::strerror(errno)));
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (in.bad()) return fail(errc::io, fmt::format("{}: read error", path.string()));
  } catch (const std::exception& e) {
    return fail(errc::io, fmt::format("{}: read error: {}", path.string(), e.what()));
  }
  return parse_json_document(text, path.string());
}

}  // namespace io
SELFALIGN_END_NAMESPACE
