// selfalign: definitions for <selfalign/detail/lenient_json.hpp> (lenient JSON extraction from model output (code fences, prose, trailing commas))
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/lenient_json.hpp>

SELFALIGN_BEGIN_NAMESPACE

namespace detail {

namespace lenient {

SELFALIGN_DECL std::optional<std::string_view> fenced_body(std::string_view text) {
  const auto open = text.find("```");
  if (open == std::string_view::npos) return std::nullopt;
  auto body_start = text.find('\n', open + 3);
  if (body_start == std::string_view::npos) return std::nullopt;
  ++body_start;
  auto close = text.find("```", body_start);
  if (close == std::string_view::npos) close = text.size();  // an unclosed fence: take the rest
  return text.substr(body_start, close - body_start);
}

SELFALIGN_DECL std::optional<std::string_view> balanced_span(std::string_view text) {
  const auto start = text.find_first_of("{[");
  if (start == std::string_view::npos) return std::nullopt;
  std::vector<char> stack;
  bool in_string = false, escaped = false;
  for (std::size_t i = start; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') stack.push_back(c == '{' ? '}' : ']');
    else if (c == '}' || c == ']') {
      if (stack.empty() || stack.back() != c) return std::nullopt;
      stack.pop_back();
      if (stack.empty()) return text.substr(start, i - start + 1);
    }
  }
  return std::nullopt;
}

SELFALIGN_DECL std::string clean(std::string_view text, bool& changed) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false, escaped = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      } else if (c == '\n' || c == '\r' || c == '\t') {
        out += c == '\n' ? "\\n" : c == '\r' ? "\\r" : "\\t";
        changed = true;
        continue;
      }
      out += c;
      continue;
    }
    if (c == '"') in_string = true;
    if (c == ',') {
      std::size_t j = i + 1;
      while (j < text.size() && std::isspace(static_cast<unsigned char>(text[j]))) ++j;
      if (j < text.size() && (text[j] == '}' || text[j] == ']')) {
        changed = true;
        continue;
      }
    }
    out += c;
  }
  return out;
}

SELFALIGN_DECL std::optional<nlohmann::json> try_parse(std::string_view text) {
  json_read_options o;
  o.nonfinite_as_null = true;
  auto j = parse_json(text, o);
  if (!j) return std::nullopt;
  return std::move(*j);
}

}  // namespace lenient
SELFALIGN_DECL result<lenient_json> parse_lenient_json(std::string_view text) {
  lenient_json out;
  if (auto strict = lenient::try_parse(trim(text)); strict && (strict->is_object() || strict->is_array())) {
    out.value = std::move(*strict);
    return out;
  }
  out.repaired = true;
  std::string_view body = text;
  if (auto fenced = lenient::fenced_body(text)) {
    body = *fenced;
    out.repairs.emplace_back("code fence");
  }
  std::string_view span = trim(body);
  if (auto b = lenient::balanced_span(body)) {
    if (trim(*b).size() != trim(body).size()) out.repairs.emplace_back("surrounding prose");
    span = *b;
  }
  if (auto j = lenient::try_parse(span); j && (j->is_object() || j->is_array())) {
    out.value = std::move(*j);
    return out;
  }
  bool changed = false;
  const std::string cleaned = lenient::clean(span, changed);
  if (changed) out.repairs.emplace_back("trailing commas or raw control characters");
  // Cleaning can make an unbalanced span balanced (a comma before a bracket was not the issue,
  // but an escaped newline was), so look for the span again.
  std::string_view again = cleaned;
  if (auto b = lenient::balanced_span(cleaned)) again = *b;
  if (auto j = lenient::try_parse(again); j && (j->is_object() || j->is_array())) {
    out.value = std::move(*j);
    return out;
  }
  // A text nested too deep says so (it is refused, not parsed: dumping it would recurse).
  json_read_options o;
  o.nonfinite_as_null = true;
  json_read_notes notes;
  if (auto why = parse_json(again, o, &notes); !why && notes.too_deep)
    return fail(errc::parse_failure, "no readable JSON object in the model output: " + why.error().message);
  return fail(errc::parse_failure, "no readable JSON object in the model output: \"" + excerpt(trim(text), 160) + "\"");
}

namespace lenient {

SELFALIGN_DECL std::size_t skip_blanks(std::string_view s, std::size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return i;
}

SELFALIGN_DECL bool continues_with(std::string_view s, std::size_t i, std::string_view word) {
  if (s.size() - i < word.size()) return false;
  for (std::size_t k = 0; k < word.size(); ++k)
    if (std::tolower(static_cast<unsigned char>(s[i + k])) != word[k]) return false;
  return true;
}

}  // namespace lenient
SELFALIGN_DECL lenient_score read_lenient_score(const nlohmann::json& v, double lo, double hi) {
  lenient_score out;
  if (v.is_number()) {
    out.value = v.get<double>();
    return out;
  }
  if (v.is_array() && v.size() == 1) {
    out = read_lenient_score(v.front(), lo, hi);
    out.repaired = true;
    return out;
  }
  if (!v.is_string()) {
    out.problem = fmt::format("is {}, not a number", v.type_name());
    return out;
  }
  out.repaired = true;
  const std::string& s = v.get_ref<const std::string&>();
  const auto is_digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  std::size_t i = 0;
  while (i < s.size() && !(is_digit(s[i]) || (s[i] == '-' && i + 1 < s.size() && is_digit(s[i + 1])))) ++i;
  const std::string shown = excerpt(s, 40);
  if (i == s.size()) {
    out.problem = fmt::format("is \"{}\", not a number", shown);
    return out;
  }
  const char* begin = s.c_str() + i;
  char* end = nullptr;
  const double x = std::strtod(begin, &end);
  if (end == begin) {
    out.problem = fmt::format("is \"{}\", not a number", shown);
    return out;
  }
  std::size_t rest = static_cast<std::size_t>(end - s.c_str());
  // A denominator: "/ 5" or "out of 5".
  std::size_t after = lenient::skip_blanks(s, rest);
  std::size_t denom_at = std::string::npos;
  if (after < s.size() && s[after] == '/') denom_at = lenient::skip_blanks(s, after + 1);
  else if (lenient::continues_with(s, after, "out of")) denom_at = lenient::skip_blanks(s, after + 6);
  if (denom_at != std::string::npos) {
    const char* dbegin = s.c_str() + denom_at;
    char* dend = nullptr;
    const double d = denom_at < s.size() && is_digit(s[denom_at]) ? std::strtod(dbegin, &dend) : 0.0;
    if (dend == nullptr || dend == dbegin) {
      out.problem = fmt::format("is \"{}\", a fraction without a denominator", shown);
      return out;
    }
    if (d != hi) {
      out.problem = fmt::format("is written as \"{}\", a score out of {}, not on the {}..{} scale", shown, d, lo, hi);
      return out;
    }
    rest = static_cast<std::size_t>(dend - s.c_str());
  }
  for (std::size_t k = rest; k < s.size(); ++k)
    if (is_digit(s[k])) {
      out.problem = fmt::format("is \"{}\", more than one number", shown);
      return out;
    }
  out.value = x;
  return out;
}

SELFALIGN_DECL std::optional<double> lenient_number(const nlohmann::json& v, bool& repaired,
                                                         std::optional<double> out_of) {
  // Without a scale, NaN matches no denominator.
  const auto r = read_lenient_score(v, 0.0, out_of.value_or(std::numeric_limits<double>::quiet_NaN()));
  if (r.value && r.repaired) repaired = true;
  return r.value;
}

}  // namespace detail
SELFALIGN_END_NAMESPACE
