// selfalign: definitions for <selfalign/json_read.hpp> (the one entry point for parsing untrusted JSON text — depth-capped, never recursive,)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/json_read.hpp>

SELFALIGN_BEGIN_NAMESPACE

namespace detail {

SELFALIGN_DECL std::size_t utf8_sequence_at(std::string_view s, std::size_t i) noexcept {
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

SELFALIGN_DECL std::size_t utf8_invalid_run(std::string_view s, std::size_t i) noexcept {
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

SELFALIGN_DECL int hex4_at(std::string_view s, std::size_t i) noexcept {
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

SELFALIGN_DECL bool json_prescan::run(json_read_notes& notes) {
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

SELFALIGN_DECL void json_prescan::keep(std::size_t i, std::size_t len) {
  if (copying_) copy_.append(text_.substr(i, len));
}

SELFALIGN_DECL void json_prescan::replace(std::size_t i, std::size_t, std::string_view with) {
  if (!copying_) {
    copying_ = true;
    copy_.reserve(text_.size() + 16);
    copy_.assign(text_.substr(0, i));
  }
  copy_.append(with);
}

SELFALIGN_DECL bool decode_json_string(std::string_view raw, std::string& out) {
  out.clear();
  out.reserve(raw.size());
  return decode_json_string_to(raw, [&out](const char* p, std::size_t n) { out.append(p, n); });
}

SELFALIGN_DECL void decode_json_string_in_place(std::string& buf, std::size_t begin, std::size_t end) {
  char* const base = buf.data();
  std::size_t written = 0;
  const bool ok = decode_json_string_to(std::string_view(base + begin, end - begin), [&](const char* p, std::size_t n) {
    std::memmove(base + written, p, n);  // never ahead of the reading position
    written += n;
  });
  buf.resize(ok ? written : 0);
}

SELFALIGN_DECL large_strings extract_large_strings(std::string_view t, std::size_t min_bytes, bool last_in_place) {
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

SELFALIGN_DECL bool json_dom_builder::null() { return put(json(nullptr)); }

SELFALIGN_DECL bool json_dom_builder::boolean(bool v) { return put(json(v)); }

SELFALIGN_DECL bool json_dom_builder::number_integer(number_integer_t v) { return put(json(v)); }

SELFALIGN_DECL bool json_dom_builder::number_unsigned(number_unsigned_t v) { return put(json(v)); }

SELFALIGN_DECL bool json_dom_builder::number_float(number_float_t v, const string_t&) { return put(json(v)); }

SELFALIGN_DECL bool json_dom_builder::string(string_t& v) {
  if (next_ < large_.ordinals.size() && large_.ordinals[next_] == ordinal_) {
    json* node = place(json(std::move(large_.values[next_])));
    if (++next_ == large_.ordinals.size() && large_.in_place_end > 0) large_.in_place_slot = &node->get_ref<string_t&>();
  } else {
    put(json(std::move(v)));
  }
  ++ordinal_;
  return true;
}

SELFALIGN_DECL bool json_dom_builder::binary(binary_t& v) { return put(json::binary(std::move(v))); }

SELFALIGN_DECL bool json_dom_builder::start_object(std::size_t) {
  stack_.push_back(place(json(json::value_t::object)));
  return true;
}

SELFALIGN_DECL bool json_dom_builder::key(string_t& k) {
  json& object = *stack_.back();
  // A repeated key: the last value wins, as in nlohmann. Its earlier value is destroyed, and with
  // it any string slot pointing into it, so the in-place decode is then not attempted.
  if (object.contains(k)) repeated_key_ = true;
  member_ = &object[std::move(k)];
  return true;
}

SELFALIGN_DECL bool json_dom_builder::end_object() {
  stack_.pop_back();
  return true;
}

SELFALIGN_DECL bool json_dom_builder::start_array(std::size_t) {
  stack_.push_back(place(json(json::value_t::array)));
  return true;
}

SELFALIGN_DECL bool json_dom_builder::end_array() {
  stack_.pop_back();
  return true;
}

SELFALIGN_DECL bool json_dom_builder::put(json&& v) {
  place(std::move(v));
  return true;
}

SELFALIGN_DECL json_dom_builder::json* json_dom_builder::place(json&& v) {
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

SELFALIGN_DECL result<nlohmann::json> parse_json_text(std::string_view text, const json_read_options& o,
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
SELFALIGN_DECL result<nlohmann::json> parse_json(std::string_view text, const json_read_options& o,
                                                        json_read_notes* notes) {
  return detail::parse_json_text(text, o, notes, nullptr);
}

namespace detail {

SELFALIGN_DECL result<nlohmann::json> parse_json_taking(std::string& text, const json_read_options& o,
                                                               json_read_notes* notes) {
  return parse_json_text(text, o, notes, &text);
}

}  // namespace detail
SELFALIGN_DECL result<nlohmann::json> parse_json(std::string_view text, std::size_t max_depth) {
  json_read_options o;
  o.max_depth = max_depth;
  return parse_json(text, o);
}

SELFALIGN_DECL json_read_options server_json_options() {
  json_read_options o;
  o.repair_text = true;
  o.nonfinite_as_null = true;
  return o;
}

SELFALIGN_END_NAMESPACE
