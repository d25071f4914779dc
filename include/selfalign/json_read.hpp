// selfalign: the one entry point for parsing untrusted JSON text — depth-capped, never recursive,
// with optional repair of what real servers send (invalid UTF-8, lone surrogates, NaN/Infinity)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/config.hpp>
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
[[nodiscard]] inline std::size_t utf8_sequence_at(std::string_view s, std::size_t i) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c == 0xE0) { len = 3; lo = 0xA0; }
  else if (c == 0xED) { len = 3; hi = 0x9F; }
  else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) len = 3;
  else if (c == 0xF0) { len = 4; lo = 0x90; }
  else if (c >= 0xF1 && c <= 0xF3) len = 4;
  else if (c == 0xF4) { len = 4; hi = 0x8F; }
  else return 0;
  if (i + len > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < len; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  return len;
}

/// The length of the invalid stretch at s[i] that one U+FFFD replaces: a valid start of a
/// sequence that is cut short counts as one (the "maximal subpart" rule of Unicode).
[[nodiscard]] inline std::size_t utf8_invalid_run(std::string_view s, std::size_t i) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c == 0xE0) { len = 3; lo = 0xA0; }
  else if (c == 0xED) { len = 3; hi = 0x9F; }
  else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) len = 3;
  else if (c == 0xF0) { len = 4; lo = 0x90; }
  else if (c >= 0xF1 && c <= 0xF3) len = 4;
  else if (c == 0xF4) { len = 4; hi = 0x8F; }
  else return 1;
  std::size_t k = 1;
  if (i + 1 < s.size() && byte(i + 1) >= lo && byte(i + 1) <= hi) {
    k = 2;
    while (k < len && i + k < s.size() && byte(i + k) >= 0x80 && byte(i + k) <= 0xBF) ++k;
  }
  return k < len ? k : 1;
}

/// The value of the four hex digits at s[i..i+4), or -1.
[[nodiscard]] inline int hex4_at(std::string_view s, std::size_t i) noexcept {
  if (i + 4 > s.size()) return -1;
  int v = 0;
  for (std::size_t k = i; k < i + 4; ++k) {
    const char c = s[k];
    int d = -1;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/// One linear pass over the text before nlohmann reads it: measures the nesting depth (string
/// aware, no recursion) and, when asked, writes a repaired copy. The copy is made only from the
/// first byte that needs a change, so clean text is never copied.
class json_prescan {
 public:
  json_prescan(std::string_view text, const json_read_options& o) : text_(text), o_(o) {}

  /// False when the depth cap was exceeded (notes.too_deep, notes.error_byte set).
  bool run(json_read_notes& notes) {
    bool in_string = false;
    std::size_t depth = 0;
    std::size_t i = 0;
    const std::size_t n = text_.size();
    while (i < n) {
      const char c = text_[i];
      const auto uc = static_cast<unsigned char>(c);
      if (in_string) {
        if (c == '\\' && i + 1 < n) {
          if (text_[i + 1] == 'u' && o_.repair_text) {
            const int v = hex4_at(text_, i + 2);
            if (v >= 0xD800 && v <= 0xDBFF) {
              const int low = (i + 7 < n && text_[i + 6] == '\\' && text_[i + 7] == 'u') ? hex4_at(text_, i + 8) : -1;
              if (low >= 0xDC00 && low <= 0xDFFF) {
                keep(i, 12);
                i += 12;
                continue;
              }
              replace(i, 6, "\\ufffd");
              notes.text_repaired = true;
              i += 6;
              continue;
            }
            if (v >= 0xDC00 && v <= 0xDFFF) {
              replace(i, 6, "\\ufffd");
              notes.text_repaired = true;
              i += 6;
              continue;
            }
          }
          keep(i, 2);
          i += 2;
          continue;
        }
        if (c == '"') in_string = false;
        if (uc >= 0x80) {
          const std::size_t len = utf8_sequence_at(text_, i);
          if (len == 0 && o_.repair_text) {
            const std::size_t bad = utf8_invalid_run(text_, i);
            replace(i, bad, "\xEF\xBF\xBD");
            notes.text_repaired = true;
            i += bad;
            continue;
          }
          const std::size_t take = len == 0 ? 1 : len;
          keep(i, take);
          i += take;
          continue;
        }
        keep(i, 1);
        ++i;
        continue;
      }
      if (c == '"') {
        in_string = true;
      } else if (c == '[' || c == '{') {
        if (++depth > o_.max_depth) {
          notes.too_deep = true;
          notes.error_byte = i + 1;
          return false;
        }
      } else if (c == ']' || c == '}') {
        if (depth > 0) --depth;
      } else if (o_.nonfinite_as_null && (c == 'N' || c == 'I' || c == '-')) {
        std::size_t len = 0;
        if (text_.substr(i, 3) == "NaN") len = 3;
        else if (text_.substr(i, 8) == "Infinity") len = 8;
        else if (text_.substr(i, 9) == "-Infinity") len = 9;
        if (len > 0) {
          replace(i, len, "null");
          notes.nonfinite_replaced = true;
          i += len;
          continue;
        }
      }
      keep(i, 1);
      ++i;
    }
    open_at_end_ = in_string || depth > 0;
    return true;
  }

  /// Whether the text ended inside a string or an unclosed container.
  [[nodiscard]] bool open_at_end() const noexcept { return open_at_end_; }

  /// The text to hand to the parser: the original, or the repaired copy.
  [[nodiscard]] std::string_view text() const noexcept { return copying_ ? std::string_view(copy_) : text_; }
  /// The repaired copy, when one was made (its buffer may be reused), else nullptr.
  [[nodiscard]] std::string* copy() noexcept { return copying_ ? &copy_ : nullptr; }

 private:
  void keep(std::size_t i, std::size_t len) {
    if (copying_) copy_.append(text_.substr(i, len));
  }
  void replace(std::size_t i, std::size_t, std::string_view with) {
    if (!copying_) {
      copying_ = true;
      copy_.reserve(text_.size() + 16);
      copy_.assign(text_.substr(0, i));
    }
    copy_.append(with);
  }

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
[[nodiscard]] inline bool decode_json_string(std::string_view raw, std::string& out) {
  out.clear();
  out.reserve(raw.size());
  return decode_json_string_to(raw, [&out](const char* p, std::size_t n) { out.append(p, n); });
}

/// Decodes the string literal's inside at buf[begin, end) within `buf` itself and makes it the
/// whole of `buf` (moved to its front), so that the decoded text reuses the buffer. Only for a
/// literal decode_json_string_to() accepts.
inline void decode_json_string_in_place(std::string& buf, std::size_t begin, std::size_t end) {
  char* const base = buf.data();
  std::size_t written = 0;
  const bool ok = decode_json_string_to(std::string_view(base + begin, end - begin), [&](const char* p, std::size_t n) {
    std::memmove(base + written, p, n);  // never ahead of the reading position
    written += n;
  });
  buf.resize(ok ? written : 0);
}

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
[[nodiscard]] inline large_strings extract_large_strings(std::string_view t, std::size_t min_bytes, bool last_in_place = false) {
  large_strings out;
  const std::size_t n = t.size();
  std::size_t i = 0, copied = 0, ordinal = 0;
  std::size_t pending_begin = 0, pending_end = 0;  // a checked string not decoded yet (last_in_place)
  auto decode_pending = [&] {
    if (pending_end == 0) return;
    std::string v;
    (void)decode_json_string(t.substr(pending_begin, pending_end - pending_begin), v);  // checked already
    out.values.back() = std::move(v);
    pending_end = 0;
  };
  while (i < n) {
    if (t[i] != '"') {
      ++i;
      continue;
    }
    std::size_t j = i + 1;  // find the closing quote
    while (j < n && t[j] != '"') j += t[j] == '\\' ? 2 : 1;
    if (j >= n) break;  // unterminated: nlohmann reports it
    std::size_t k = j + 1;
    while (k < n && (t[k] == ' ' || t[k] == '\t' || t[k] == '\n' || t[k] == '\r')) ++k;
    const bool is_key = k < n && t[k] == ':';
    if (!is_key) {
      if (min_bytes > 0 && j - i - 1 >= min_bytes) {
        const std::string_view inside = t.substr(i + 1, j - i - 1);
        std::string v;
        const bool ok = last_in_place ? decode_json_string_to(inside, [](const char*, std::size_t) {})
                                      : decode_json_string(inside, v);
        if (ok) {
          decode_pending();  // an earlier one was not the last after all
          out.compact.append(t.substr(copied, i + 1 - copied));  // up to and with the opening quote
          copied = j;                                             // the closing quote comes next
          out.values.push_back(std::move(v));
          out.ordinals.push_back(ordinal);
          if (last_in_place) {
            pending_begin = i + 1;
            pending_end = j;
          }
        }
      }
      ++ordinal;
    }
    i = j + 1;
  }
  if (!out.values.empty()) out.compact.append(t.substr(copied));
  if (pending_end > 0) {
    out.in_place_begin = pending_begin;
    out.in_place_end = pending_end;
  }
  return out;
}

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

  bool null() { return put(json(nullptr)); }
  bool boolean(bool v) { return put(json(v)); }
  bool number_integer(number_integer_t v) { return put(json(v)); }
  bool number_unsigned(number_unsigned_t v) { return put(json(v)); }
  bool number_float(number_float_t v, const string_t&) { return put(json(v)); }
  bool string(string_t& v) {
    if (next_ < large_.ordinals.size() && large_.ordinals[next_] == ordinal_) {
      json* node = place(json(std::move(large_.values[next_])));
      if (++next_ == large_.ordinals.size() && large_.in_place_end > 0) large_.in_place_slot = &node->get_ref<string_t&>();
    } else {
      put(json(std::move(v)));
    }
    ++ordinal_;
    return true;
  }
  bool binary(binary_t& v) { return put(json::binary(std::move(v))); }
  bool start_object(std::size_t) {
    stack_.push_back(place(json(json::value_t::object)));
    return true;
  }
  bool key(string_t& k) {
    json& object = *stack_.back();
    // A repeated key: the last value wins, as in nlohmann. Its earlier value is destroyed, and with
    // it any string slot pointing into it, so the in-place decode is then not attempted.
    if (object.contains(k)) repeated_key_ = true;
    member_ = &object[std::move(k)];
    return true;
  }
  /// Whether an object repeated a key (an earlier value was replaced).
  [[nodiscard]] bool repeated_key() const noexcept { return repeated_key_; }
  bool end_object() {
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) {
    stack_.push_back(place(json(json::value_t::array)));
    return true;
  }
  bool end_array() {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const json::exception&) { return false; }

 private:
  bool put(json&& v) {
    place(std::move(v));
    return true;
  }
  json* place(json&& v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    if (stack_.back()->is_array()) {
      stack_.back()->push_back(std::move(v));
      return &stack_.back()->back();
    }
    *member_ = std::move(v);
    return member_;
  }

  json& root_;
  large_strings& large_;
  std::vector<json*> stack_;
  json* member_ = nullptr;
  std::size_t ordinal_ = 0, next_ = 0;
  bool repeated_key_ = false;
};

/// parse_json(), where `owned` (when not null) is the string `text` views and may be consumed on
/// success.
[[nodiscard]] inline result<nlohmann::json> parse_json_text(std::string_view text, const json_read_options& o,
                                                             json_read_notes* notes, std::string* owned) {
  json_read_notes local;
  json_read_notes& out = notes ? *notes : local;
  out = {};
  std::size_t first = 0;
  while (first < text.size() && (text[first] == ' ' || text[first] == '\t' || text[first] == '\n' || text[first] == '\r')) ++first;
  if (first == text.size()) {
    out.truncated = false;
    return fail(errc::bad_response, "not JSON: the text is empty");
  }
  json_prescan scan(text, o);
  if (!scan.run(out))
    return fail(errc::bad_response, fmt::format("not valid JSON: nested deeper than {} levels (at byte {})", o.max_depth, out.error_byte));
  if (o.large_string_bytes > 0) {
    // Long strings decoded straight from the text (see json_read_options::large_string_bytes);
    // nlohmann reads the rest, which is then small. Should that fail, the whole text is read
    // again below, so that the error names the same byte as always.
    // A buffer of our own (the repaired copy, or a text given up by the caller) becomes the
    // last long string's: decoded where it lies, it is never held twice.
    std::string* buffer = scan.copy() ? scan.copy() : owned;
    auto large = extract_large_strings(scan.text(), o.large_string_bytes, buffer != nullptr);
    if (!large.values.empty()) {
      nlohmann::json value;
      json_dom_builder builder(value, large);
      bool ok = false;
      try {
        ok = nlohmann::json::sax_parse(std::string_view(large.compact), &builder, nlohmann::json::input_format_t::json, true, false);
      } catch (const nlohmann::json::exception&) {
        ok = false;
      }
      if (ok && large.in_place_end > 0) {
        if (!large.in_place_slot || !buffer || builder.repeated_key()) {
          // No slot (cannot happen: the parse met every string it was told of), or a repeated key
          // may have destroyed it: the text, still untouched, is read the usual way below.
          ok = false;
        } else {
          decode_json_string_in_place(*buffer, large.in_place_begin, large.in_place_end);
          *large.in_place_slot = std::move(*buffer);
          buffer->clear();
        }
      }
      if (ok) return value;
    }
  }
  try {
    return nlohmann::json::parse(scan.text(), nullptr, true, false);
  } catch (const nlohmann::json::parse_error& e) {
    const std::string_view what = e.what();
    out.error_byte = e.byte;
    // A text cut inside a value fails at its last byte ("unexpected end of input" or, inside a
    // string, "missing closing quote"); an error earlier on is a malformed text.
    if (what.find("end of input") != std::string_view::npos || (scan.open_at_end() && e.byte + 1 >= scan.text().size())) {
      out.truncated = true;
      return fail(errc::bad_response, fmt::format("not valid JSON (truncated?): it ends inside a value after {} bytes", text.size()));
    }
    // "[json.exception.parse_error.101] parse error at line 1, column 5: syntax error ..." -> the reason.
    std::string_view reason = what;
    if (const auto colon = reason.find(": "); colon != std::string_view::npos) reason.remove_prefix(colon + 2);
    return fail(errc::bad_response, fmt::format("not valid JSON at byte {}: {}", e.byte, reason));
  } catch (const nlohmann::json::exception& e) {
    return fail(errc::bad_response, fmt::format("not valid JSON: {}", e.what()));
  }
}

}  // namespace detail

/// Parses JSON text from outside the program (a server's answer, a file, model output) without
/// ever recursing on it: nesting deeper than `o.max_depth` is refused before nlohmann's parser
/// sees the text. Errors are errc::bad_response with a message that says what is wrong (each
/// starts with "not", so "the answer is " + message reads well): "not JSON: the text is empty",
/// "not valid JSON: nested deeper than 256 levels (at byte 257)", "not valid JSON (truncated?):
/// it ends inside a value after N bytes", "not valid JSON at byte N: <parser's reason>".
[[nodiscard]] inline result<nlohmann::json> parse_json(std::string_view text, const json_read_options& o,
                                                        json_read_notes* notes = nullptr) {
  return detail::parse_json_text(text, o, notes, nullptr);
}

namespace detail {
/// parse_json() of a text the caller gives up when it succeeds: the buffer of `text` may then
/// hold the value's last long string (decoded where it lay, never copied), `text` left empty.
/// On failure `text` is unchanged, for the error message to quote.
[[nodiscard]] inline result<nlohmann::json> parse_json_taking(std::string& text, const json_read_options& o,
                                                               json_read_notes* notes = nullptr) {
  return parse_json_text(text, o, notes, &text);
}
}  // namespace detail

/// parse_json() with the default options and only a depth cap: strict JSON otherwise.
[[nodiscard]] inline result<nlohmann::json> parse_json(std::string_view text, std::size_t max_depth = default_json_max_depth) {
  json_read_options o;
  o.max_depth = max_depth;
  return parse_json(text, o);
}

/// The options for a server's answer: depth cap, invalid text repaired, NaN/Infinity as null.
[[nodiscard]] inline json_read_options server_json_options() {
  json_read_options o;
  o.repair_text = true;
  o.nonfinite_as_null = true;
  return o;
}

SELFALIGN_END_NAMESPACE
