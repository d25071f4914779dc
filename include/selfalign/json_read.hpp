// selfalign: the one entry point for parsing untrusted JSON text — depth-capped, never recursive,
// with optional repair of what real servers send (invalid UTF-8, lone surrogates, NaN/Infinity)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/result.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE

/// Containers nested deeper than this are refused by parse_json(). Serialising a value (dump)
/// recurses once per level, so every JSON value read from outside must pass this cap first.
inline constexpr std::size_t default_json_max_depth = 256;

/// How parse_json() reads text.
struct json_read_options {
  std::size_t max_depth = default_json_max_depth;  ///< deeper nesting is an error that says so
  /// Invalid UTF-8 bytes and lone UTF-16 surrogate escapes ("\ud800") become U+FFFD instead of
  /// failing the whole text (servers send both when a token splits a multi-byte character).
  bool repair_text = false;
  /// The bare words NaN, Infinity and -Infinity (what Python's json module writes) read as null,
  /// i.e. as missing values, instead of failing the whole text.
  bool nonfinite_as_null = false;
  /// String values at least this many bytes long (as written in the text) are decoded straight
  /// from the text into the parsed value. nlohmann's reader holds three copies of a string while
  /// it reads one (its token buffer, its raw-token record for error messages and the value), so a
  /// 100 MB answer text cost 300 MB on top of the body; decoded directly it costs one. A string
  /// the direct decoder does not accept is left to nlohmann, so errors are unchanged. 0: never.
  std::size_t large_string_bytes = std::size_t{64} << 10;
};

/// What parse_json() found besides the value.
struct json_read_notes {
  bool text_repaired = false;       ///< a byte or escape was replaced by U+FFFD
  bool nonfinite_replaced = false;  ///< a NaN/Infinity/-Infinity was read as null
  bool truncated = false;           ///< (on failure) the text ends inside a value
  bool too_deep = false;            ///< (on failure) the nesting exceeded max_depth
  std::size_t error_byte = 0;       ///< (on failure) 1-based byte offset where reading stopped
};

namespace detail {

/// The length of the well-formed UTF-8 sequence starting at s[i] (RFC 3629), or 0.
[[nodiscard]] SELFALIGN_DECL std::size_t utf8_sequence_at(std::string_view s, std::size_t i) noexcept;

/// The length of the invalid stretch at s[i] that one U+FFFD replaces: a valid start of a
/// sequence that is cut short counts as one (the "maximal subpart" rule of Unicode).
[[nodiscard]] SELFALIGN_DECL std::size_t utf8_invalid_run(std::string_view s, std::size_t i) noexcept;

/// The value of the four hex digits at s[i..i+4), or -1.
[[nodiscard]] SELFALIGN_DECL int hex4_at(std::string_view s, std::size_t i) noexcept;

/// One linear pass over the text before nlohmann reads it: measures the nesting depth (string
/// aware, no recursion) and, when asked, writes a repaired copy. The copy is made only from the
/// first byte that needs a change, so clean text is never copied.
class json_prescan {
 public:
  json_prescan(std::string_view text, const json_read_options& o) : text_(text), o_(o) {}

  /// False when the depth cap was exceeded (notes.too_deep, notes.error_byte set).
  bool run(json_read_notes& notes);

  /// Whether the text ended inside a string or an unclosed container.
  [[nodiscard]] bool open_at_end() const noexcept { return open_at_end_; }

  /// The text to hand to the parser: the original, or the repaired copy.
  [[nodiscard]] std::string_view text() const noexcept { return copying_ ? std::string_view(copy_) : text_; }
  /// The repaired copy, when one was made (its buffer may be reused), else nullptr.
  [[nodiscard]] std::string* copy() noexcept { return copying_ ? &copy_ : nullptr; }

 private:
  void keep(std::size_t i, std::size_t len);
  void replace(std::size_t i, std::size_t, std::string_view with);

  std::string_view text_;
  const json_read_options& o_;
  bool copying_ = false;
  bool open_at_end_ = false;
  std::string copy_;
};

/// Decodes the inside of a JSON string literal (the bytes between the quotes) through `put(ptr,
/// len)`, as nlohmann's strict reader would. False for anything it would reject (a control
/// character, a bad escape, a lone surrogate, invalid UTF-8). Reads `raw` strictly forwards and
/// never writes more bytes than it has read, so it may decode a buffer into itself.
template <class Put>
[[nodiscard]] bool decode_json_string_to(std::string_view raw, Put&& put) {
  const std::size_t n = raw.size();
  std::size_t i = 0;
  auto code_point = [&put](std::uint32_t cp) {
    char b[4];
    std::size_t len = 0;
    if (cp < 0x80) {
      b[len++] = static_cast<char>(cp);
    } else if (cp < 0x800) {
      b[len++] = static_cast<char>(0xC0 | (cp >> 6));
      b[len++] = static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      b[len++] = static_cast<char>(0xE0 | (cp >> 12));
      b[len++] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      b[len++] = static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      b[len++] = static_cast<char>(0xF0 | (cp >> 18));
      b[len++] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      b[len++] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      b[len++] = static_cast<char>(0x80 | (cp & 0x3F));
    }
    put(b, len);
  };
  while (i < n) {
    // The plain stretch up to the next escape, quote, control or non-ASCII byte, in one piece.
    std::size_t j = i;
    while (j < n) {
      const auto b = static_cast<unsigned char>(raw[j]);
      if (b < 0x20 || b == '"' || b == '\\' || b >= 0x80) break;
      ++j;
    }
    if (j > i) put(raw.data() + i, j - i);
    i = j;
    if (i == n) break;
    const auto b = static_cast<unsigned char>(raw[i]);
    if (b >= 0x80) {
      const std::size_t len = utf8_sequence_at(raw, i);
      if (len == 0) return false;
      put(raw.data() + i, len);
      i += len;
      continue;
    }
    if (b != '\\' || i + 1 >= n) return false;  // a control character or a quote inside, or a trailing backslash
    const char e = raw[i + 1];
    i += 2;
    char c = 0;
    switch (e) {
      case '"': c = '"'; break;
      case '\\': c = '\\'; break;
      case '/': c = '/'; break;
      case 'b': c = '\b'; break;
      case 'f': c = '\f'; break;
      case 'n': c = '\n'; break;
      case 'r': c = '\r'; break;
      case 't': c = '\t'; break;
      case 'u': {
        const int v = hex4_at(raw, i);
        if (v < 0) return false;
        i += 4;
        auto cp = static_cast<std::uint32_t>(v);
        if (cp >= 0xDC00 && cp <= 0xDFFF) return false;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (i + 1 >= n || raw[i] != '\\' || raw[i + 1] != 'u') return false;
          const int low = hex4_at(raw, i + 2);
          if (low < 0xDC00 || low > 0xDFFF) return false;
          i += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (static_cast<std::uint32_t>(low) - 0xDC00);
        }
        code_point(cp);
        continue;
      }
      default: return false;
    }
    put(&c, 1);
  }
  return true;
}

/// decode_json_string_to() into a new string (`out` is unspecified when it returns false).
[[nodiscard]] SELFALIGN_DECL bool decode_json_string(std::string_view raw, std::string& out);

/// Decodes the string literal's inside at buf[begin, end) within `buf` itself and makes it the
/// whole of `buf` (moved to its front), so that the decoded text reuses the buffer. Only for a
/// literal decode_json_string_to() accepts.
SELFALIGN_DECL void decode_json_string_in_place(std::string& buf, std::size_t begin, std::size_t end);

/// The text with every long string value (at least `min_bytes` between its quotes, not an object
/// key) that decode_json_string() accepts replaced by "", and those strings decoded, in document
/// order with their ordinal among all string values. Leaves `compact` empty when none qualifies.
/// With `last_in_place`, the last of them is only checked, not decoded: `in_place_begin/end` mark
/// its inside in `t`, for decode_json_string_in_place() once the rest has parsed.
struct large_strings {
  std::string compact;
  std::vector<std::string> values;  // the last one empty when it is to be decoded in place
  std::vector<std::size_t> ordinals;
  std::size_t in_place_begin = 0, in_place_end = 0;  // in_place_end > 0: the last value is decoded in place
  std::string* in_place_slot = nullptr;              // the parsed value's string that takes it
};
[[nodiscard]] SELFALIGN_DECL large_strings extract_large_strings(std::string_view t, std::size_t min_bytes, bool last_in_place = false);

/// An nlohmann SAX handler that builds the value as nlohmann's own does, but moves each string
/// out of the reader's buffer instead of copying it, and puts the decoded long strings
/// (extract_large_strings) in place of their "" stand-ins.
class json_dom_builder {
 public:
  using json = nlohmann::json;
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  json_dom_builder(json& root, large_strings& large) : root_(root), large_(large) {}

  bool null();
  bool boolean(bool v);
  bool number_integer(number_integer_t v);
  bool number_unsigned(number_unsigned_t v);
  bool number_float(number_float_t v, const string_t&);
  bool string(string_t& v);
  bool binary(binary_t& v);
  bool start_object(std::size_t);
  bool key(string_t& k);
  /// Whether an object repeated a key (an earlier value was replaced).
  [[nodiscard]] bool repeated_key() const noexcept { return repeated_key_; }
  bool end_object();
  bool start_array(std::size_t);
  bool end_array();
  bool parse_error(std::size_t, const std::string&, const json::exception&) { return false; }

 private:
  bool put(json&& v);
  json* place(json&& v);

  json& root_;
  large_strings& large_;
  std::vector<json*> stack_;
  json* member_ = nullptr;
  std::size_t ordinal_ = 0, next_ = 0;
  bool repeated_key_ = false;
};

/// parse_json(), where `owned` (when not null) is the string `text` views and may be consumed on
/// success.
[[nodiscard]] SELFALIGN_DECL result<nlohmann::json> parse_json_text(std::string_view text, const json_read_options& o,
                                                             json_read_notes* notes, std::string* owned);

}  // namespace detail

/// Parses JSON text from outside the program (a server's answer, a file, model output) without
/// ever recursing on it: nesting deeper than `o.max_depth` is refused before nlohmann's parser
/// sees the text. Errors are errc::bad_response with a message that says what is wrong (each
/// starts with "not", so "the answer is " + message reads well): "not JSON: the text is empty",
/// "not valid JSON: nested deeper than 256 levels (at byte 257)", "not valid JSON (truncated?):
/// it ends inside a value after N bytes", "not valid JSON at byte N: <parser's reason>".
[[nodiscard]] SELFALIGN_DECL result<nlohmann::json> parse_json(std::string_view text, const json_read_options& o,
                                                        json_read_notes* notes = nullptr);

namespace detail {
/// parse_json() of a text the caller gives up when it succeeds: the buffer of `text` may then
/// hold the value's last long string (decoded where it lay, never copied), `text` left empty.
/// On failure `text` is unchanged, for the error message to quote.
[[nodiscard]] SELFALIGN_DECL result<nlohmann::json> parse_json_taking(std::string& text, const json_read_options& o,
                                                               json_read_notes* notes = nullptr);
}  // namespace detail

/// parse_json() with the default options and only a depth cap: strict JSON otherwise.
[[nodiscard]] SELFALIGN_DECL result<nlohmann::json> parse_json(std::string_view text, std::size_t max_depth = default_json_max_depth);

/// The options for a server's answer: depth cap, invalid text repaired, NaN/Infinity as null.
[[nodiscard]] SELFALIGN_DECL json_read_options server_json_options();

SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/impl/json_read.ipp>
#endif
