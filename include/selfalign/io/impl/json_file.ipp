// selfalign: definitions for <selfalign/io/json_file.hpp> (reading one JSON document from a file (a price table, a `selfalign drpo` result))
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/io/json_file.hpp>
#include <selfalign/detail/format.hpp>

SELFALIGN_BEGIN_NAMESPACE

namespace io {

namespace detail {

SELFALIGN_DECL bool json_error_locator::parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& ex) {
  position_ = position;
  std::string_view what = ex.what();
  if (const auto close = what.find("] "); close != std::string_view::npos) what.remove_prefix(close + 2);
  reason_ = std::string(what);
  return false;
}

SELFALIGN_DECL std::size_t line_of_byte(std::string_view text, std::size_t byte) {
  const std::size_t end = std::min(text.size(), byte > 0 ? byte - 1 : 0);
  return 1 + static_cast<std::size_t>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(end), '\n'));
}

}  // namespace detail
SELFALIGN_DECL result<nlohmann::json> parse_json_document(std::string_view text, std::string_view source) {
  try {
    json_read_notes notes;
    auto j = parse_json(text, json_read_options{}, &notes);
    if (j) return std::move(*j);
    if (notes.too_deep)
      return fail(errc::invalid_argument, selfalign::detail::format_text("{}:{}: {}", source, detail::line_of_byte(text, notes.error_byte), j.error().message));
    detail::json_error_locator where;
    (void)nlohmann::json::sax_parse(text, &where);
    const std::string reason = where.reason().empty() ? std::string("not valid JSON") : "not valid JSON: " + where.reason();
    return fail(errc::invalid_argument, selfalign::detail::format_text("{}:{}: {}", source, detail::line_of_byte(text, where.position()), reason));
  } catch (const std::exception& e) {
    return fail(errc::invalid_argument, selfalign::detail::format_text("{}:1: cannot read: {}", source, e.what()));
  }
}

SELFALIGN_DECL result<nlohmann::json> read_json_file(const std::filesystem::path& path) {
  std::string text;
  try {
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail(errc::io, selfalign::detail::format_text("cannot open {}: {}", path.string(), std::strerror(errno)));
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (in.bad()) return fail(errc::io, selfalign::detail::format_text("{}: read error", path.string()));
  } catch (const std::exception& e) {
    return fail(errc::io, selfalign::detail::format_text("{}: read error: {}", path.string(), e.what()));
  }
  return parse_json_document(text, path.string());
}

}  // namespace io
SELFALIGN_END_NAMESPACE
