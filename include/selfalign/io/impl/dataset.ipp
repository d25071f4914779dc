// selfalign: definitions for <selfalign/io/dataset.hpp> (reading query datasets — JSONL records and HH-style "Human:/Assistant:" transcripts)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/io/dataset.hpp>
#include <selfalign/detail/format.hpp>

SELFALIGN_BEGIN_NAMESPACE

namespace io {

namespace detail {

SELFALIGN_DECL std::string dataset_type_name(const nlohmann::json& j) { return j.type_name(); }

SELFALIGN_DECL unexpected dataset_error_at(std::string_view source, std::size_t line, std::string_view reason) {
  return fail(errc::invalid_argument, selfalign::detail::format_text("{}:{}: {}", source, line, reason));
}

SELFALIGN_DECL std::string_view exception_reason(const std::exception& e) {
  std::string_view what = e.what();
  if (selfalign::detail::starts_with(what, "[json.exception.")) {
    if (const auto close = what.find("] "); close != std::string_view::npos) what.remove_prefix(close + 2);
  }
  return what;
}

SELFALIGN_DECL result<nlohmann::json> parse_dataset_json(std::string_view text, std::string_view source, std::size_t line) {
  json_read_notes notes;
  auto capped = parse_json(text, json_read_options{}, &notes);
  if (capped) return std::move(*capped);
  if (notes.too_deep) return dataset_error_at(source, line, capped.error().message);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    return dataset_error_at(source, line, selfalign::detail::format_text("not valid JSON (column {}): {}", e.byte, selfalign::detail::excerpt(text, 60)));
  } catch (const nlohmann::json::exception& e) {
    return dataset_error_at(source, line, selfalign::detail::format_text("not valid JSON: {}", exception_reason(e)));
  }
}

SELFALIGN_DECL std::string dataset_quoted_list(const std::vector<std::string>& names) {
  std::vector<std::string> q;
  q.reserve(names.size());
  for (const auto& n : names) q.push_back(selfalign::detail::format_text("\"{}\"", n));
  return selfalign::detail::join(q, ", ");
}

}  // namespace detail
SELFALIGN_DECL result<query_record> parse_query_line(std::string_view text, std::string_view source, std::size_t line,
                                                           const read_options& options) {
  try {
    return detail::parse_query_line_unguarded(text, source, line, options);
  } catch (const std::exception& e) {
    return detail::dataset_error_at(source, line, detail::exception_reason(e));
  }
}

SELFALIGN_DECL result<query_record> detail::parse_query_line_unguarded(std::string_view text, std::string_view source, std::size_t line,
                                                               const read_options& options) {
  if (auto bad = first_invalid_utf8(text))
    return detail::dataset_error_at(source, line, selfalign::detail::format_text("invalid UTF-8 at byte {}", *bad + 1));
  auto parsed = detail::parse_dataset_json(text, source, line);
  if (!parsed) return unexpected(std::move(parsed).error());
  nlohmann::json j = std::move(*parsed);
  if (!j.is_object()) return detail::dataset_error_at(source, line, selfalign::detail::format_text("expected a JSON object, found {}", detail::dataset_type_name(j)));

  query_record r;
  r.line = line;
  std::string used;
  for (const auto& name : options.text_fields) {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) continue;
    if (!it->is_string())
      return detail::dataset_error_at(source, line, selfalign::detail::format_text("field \"{}\" is {}, expected a string", name, detail::dataset_type_name(*it)));
    r.prompt = it->get<std::string>();
    used = name;
    break;
  }
  if (used.empty()) {
    std::vector<std::string> found;
    for (const auto& [k, v] : j.items()) found.push_back(k);
    return detail::dataset_error_at(source, line,
                      selfalign::detail::format_text("no query text: expected one of the fields {} (the record has {})",
                                  detail::dataset_quoted_list(options.text_fields),
                                  found.empty() ? std::string("no fields") : detail::dataset_quoted_list(found)));
  }
  if (options.join_input && used == "instruction") {
    if (auto in = j.find("input"); in != j.end() && in->is_string() && !selfalign::detail::trim(in->get<std::string>()).empty())
      r.prompt += "\n\n" + in->get<std::string>();
  }
  if (!options.allow_empty && selfalign::detail::trim(r.prompt).empty())
    return detail::dataset_error_at(source, line, selfalign::detail::format_text("field \"{}\" is empty", used));

  if (!options.id_field.empty()) {
    if (auto it = j.find(options.id_field); it != j.end() && !it->is_null()) {
      if (it->is_string()) r.id = it->get<std::string>();
      else if (it->is_number_integer()) r.id = it->dump();
      else
        return detail::dataset_error_at(source, line, selfalign::detail::format_text("field \"{}\" is {}, expected a string or an integer", options.id_field,
                                                    detail::dataset_type_name(*it)));
    }
  }
  if (r.id.empty()) r.id = std::to_string(line);
  r.fields = std::move(j);
  return r;
}

SELFALIGN_DECL result<std::vector<query_record>> read_queries(std::istream& in, std::string_view source,
                                                                    const read_options& options) {
  std::vector<query_record> out;
  std::unordered_map<std::string, std::size_t> first_line_of;
  std::string line;
  std::size_t lineno = 0;
  // A stream that throws (exceptions() set by the caller, an allocation failure) is reported at
  // the line being read, like any other bad line.
  std::size_t at = 1;  // the line being read or parsed
  try {
    for (;;) {
      at = lineno + 1;
      if (!std::getline(in, line)) break;
      ++lineno;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      std::string_view text(line);
      if (lineno == 1 && selfalign::detail::starts_with(text, "\xEF\xBB\xBF")) text.remove_prefix(3);
      if (selfalign::detail::trim(text).empty()) continue;
      auto rec = parse_query_line(text, source, lineno, options);
      if (!rec) return unexpected(std::move(rec).error());
      auto [it, inserted] = first_line_of.emplace(rec->id, lineno);
      if (!inserted)
        return detail::dataset_error_at(source, lineno, selfalign::detail::format_text("duplicate id \"{}\" (first on line {})", rec->id, it->second));
      out.push_back(std::move(*rec));
    }
  } catch (const std::exception& e) {
    return fail(errc::io, selfalign::detail::format_text("{}:{}: read error: {}", source, at, detail::exception_reason(e)));
  }
  if (in.bad()) return fail(errc::io, selfalign::detail::format_text("{}: read error after line {}", source, lineno));
  return out;
}

SELFALIGN_DECL result<std::vector<query_record>> read_queries(const std::filesystem::path& path,
                                                                    const read_options& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(errc::io, selfalign::detail::format_text("cannot open {}: {}", path.string(), std::strerror(errno)));
  return read_queries(in, path.string(), options);
}

SELFALIGN_DECL result<std::vector<message>> parse_hh_transcript(std::string_view transcript) {
  static constexpr std::string_view human = "Human:";
  static constexpr std::string_view assistant = "Assistant:";
  std::vector<message> turns;
  // Markers count at the start of the text or after "\n\n".
  auto marker_at = [&](std::size_t pos) -> std::string_view {
    std::string_view rest = transcript.substr(pos);
    if (selfalign::detail::starts_with(rest, human)) return human;
    if (selfalign::detail::starts_with(rest, assistant)) return assistant;
    return {};
  };
  auto next_marker = [&](std::size_t from) -> std::size_t {
    for (std::size_t p = transcript.find("\n\n", from); p != std::string_view::npos; p = transcript.find("\n\n", p + 1))
      if (!marker_at(p + 2).empty()) return p;
    return std::string_view::npos;
  };
  std::size_t pos = 0;
  const std::string_view lead = selfalign::detail::trim(transcript);
  if (lead.empty()) return fail(errc::invalid_argument, "HH transcript is empty");
  if (marker_at(0).empty()) {
    pos = next_marker(0);
    if (pos == std::string_view::npos || !selfalign::detail::trim(transcript.substr(0, pos)).empty())
      return fail(errc::invalid_argument,
                  selfalign::detail::format_text("HH transcript does not start with \"Human:\": {}", selfalign::detail::excerpt(transcript, 60)));
    pos += 2;
  }
  while (pos != std::string_view::npos && pos < transcript.size()) {
    const std::string_view m = marker_at(pos);
    const std::size_t body = pos + m.size();
    const std::size_t end = next_marker(body);
    const std::string_view content = transcript.substr(body, end == std::string_view::npos ? std::string_view::npos : end - body);
    turns.push_back(message{m == human ? "user" : "assistant", std::string(selfalign::detail::trim(content))});
    pos = end == std::string_view::npos ? end : end + 2;
  }
  return turns;
}

SELFALIGN_DECL result<std::string> hh_query(std::string_view transcript, std::string_view user_label,
                                                  std::string_view assistant_label) {
  auto turns = parse_hh_transcript(transcript);
  if (!turns) return unexpected(std::move(turns).error());
  std::vector<message>& t = *turns;
  if (!t.empty() && t.back().role == "assistant") t.pop_back();
  if (t.empty()) return fail(errc::invalid_argument, "HH transcript has no Human turn");
  if (t.back().role != "user") return fail(errc::invalid_argument, "HH transcript does not end on a Human turn before the reply");
  std::string out = t.front().role == "user" ? t.front().content : selfalign::detail::format_text("{}: {}", assistant_label, t.front().content);
  for (std::size_t i = 1; i < t.size(); ++i)
    out += selfalign::detail::format_text("\n{}: {}", t[i].role == "user" ? user_label : assistant_label, t[i].content);
  return out;
}

SELFALIGN_DECL result<std::vector<query_record>> read_hh_queries(std::istream& in, std::string_view source,
                                                                       std::string field) {
  read_options opts;
  opts.text_fields = {field};
  auto records = read_queries(in, source, opts);
  if (!records) return records;
  for (auto& r : *records) {
    auto q = hh_query(r.prompt);
    if (!q) return detail::dataset_error_at(source, r.line, selfalign::detail::format_text("field \"{}\": {}", field, q.error().message));
    r.prompt = std::move(*q);
  }
  return records;
}

SELFALIGN_DECL result<std::vector<query_record>> read_hh_queries(const std::filesystem::path& path,
                                                                       std::string field) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(errc::io, selfalign::detail::format_text("cannot open {}: {}", path.string(), std::strerror(errno)));
  return read_hh_queries(in, path.string(), std::move(field));
}

SELFALIGN_DECL std::vector<query_record> queries_from_strings(const std::vector<std::string>& texts) {
  std::vector<query_record> out;
  out.reserve(texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i)
    out.push_back(query_record{std::to_string(i + 1), texts[i], nlohmann::json{{"prompt", texts[i]}}, 0});
  return out;
}

}  // namespace io
SELFALIGN_END_NAMESPACE
