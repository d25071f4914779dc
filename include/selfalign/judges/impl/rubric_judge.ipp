// selfalign: definitions for <selfalign/judges/rubric_judge.hpp> (rubric judge output parsing)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/aspect_json_text.hpp>
#include <selfalign/judges/rubric_judge.hpp>
#include <selfalign/detail/format.hpp>

SELFALIGN_BEGIN_NAMESPACE
namespace judges::detail {

SELFALIGN_DECL std::string rubric_lines(const std::vector<criterion>& criteria) {
  std::string out;
  for (const auto& c : criteria) out += "- " + c.name + ": " + c.rubric + "\n";
  if (!out.empty()) out.pop_back();
  return out;
}

SELFALIGN_DECL std::string json_skeleton(const std::vector<criterion>& criteria) {
  std::vector<selfalign::detail::aspect_json_entry> entries;
  for (const auto& c : criteria) entries.push_back({c.name, "\"...\"", "\"1-5\""});
  return selfalign::detail::aspect_json_text(entries);
}

SELFALIGN_DECL result<criterion_score> read_rubric_entry(const nlohmann::json& entry, const std::string& name,
                                                 const rubric_judge_options& opt, bool truncate, bool& repaired) {
  criterion_score cs;
  cs.name = name;
  selfalign::detail::lenient_score read;
  if (entry.is_object()) {
    if (entry.contains("score")) read = selfalign::detail::read_lenient_score(entry["score"], opt.min_score, opt.max_score);
    else read.problem = "is missing";
    if (entry.contains("rationale") && entry["rationale"].is_string()) cs.rationale = entry["rationale"].get<std::string>();
  } else {
    read = selfalign::detail::read_lenient_score(entry, opt.min_score, opt.max_score);
    repaired = true;
  }
  repaired = repaired || read.repaired;
  if (!read.value) return fail(errc::parse_failure, selfalign::detail::format_text("the judge's score for '{}' {}", name, read.problem));
  double score = *read.value;
  if (truncate && std::isfinite(score)) score = std::trunc(score);
  if (!(score >= opt.min_score && score <= opt.max_score))
    return fail(errc::parse_failure, selfalign::detail::format_text("the judge's score for '{}' is {}, outside {}..{}", name, score, opt.min_score,
                                                 opt.max_score));
  cs.score = score;
  return cs;
}

SELFALIGN_DECL nlohmann::json::const_iterator find_rubric_entry(const nlohmann::json& j, const criterion& c, const rubric_judge_options& opt) {
  const auto key = normalize_aspect_name(c.name);
  const aspect* known = opt.catalogue.find(c.name);
  for (auto it = j.begin(); it != j.end(); ++it) {
    const aspect* other = known ? opt.catalogue.find(it.key()) : nullptr;
    if (normalize_aspect_name(it.key()) == key || (known && other == known)) return it;
  }
  return j.end();
}

SELFALIGN_DECL result<judgement> parse_rubric_judgement(const std::string& text, const std::vector<criterion>& criteria,
                                                const rubric_judge_options& opt) {
  auto parsed = selfalign::detail::parse_lenient_json(text);
  if (!parsed) return unexpected(parsed.error());
  if (!parsed->value.is_object()) return fail(errc::parse_failure, "the judge output is JSON but not an object");
  const nlohmann::json& j = parsed->value;
  bool repaired = parsed->repaired;
  const bool official = opt.aggregation == score_aggregation::official;
  judgement out;
  double sum = 0, weights = 0;
  std::vector<std::string> used;  // keys already read (official: the rest are read afterwards)
  for (const auto& c : criteria) {
    const auto it = find_rubric_entry(j, c, opt);
    if (it == j.end()) {
      if (official) continue;
      return fail(errc::parse_failure, selfalign::detail::format_text("the judge output has no score for '{}'", c.name));
    }
    used.push_back(it.key());
    auto cs = read_rubric_entry(it.value(), c.name, opt, official, repaired);
    if (!cs) return unexpected(cs.error());
    const double w = official ? 1.0 : c.weight;
    sum += w * cs->score;
    weights += w;
    out.criteria.push_back(std::move(*cs));
  }
  if (official) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (std::find(used.begin(), used.end(), it.key()) != used.end()) continue;
      auto cs = read_rubric_entry(it.value(), it.key(), opt, true, repaired);
      if (!cs) return unexpected(cs.error());
      sum += cs->score;
      weights += 1.0;
      out.criteria.push_back(std::move(*cs));
    }
    if (out.criteria.empty()) return fail(errc::parse_failure, "the judge output scores no aspect");
  }
  if (weights <= 0) return fail(errc::parse_failure, "no criteria to score");
  out.score = sum / weights;
  out.status = repaired ? parse_status::repaired : parse_status::ok;
  return out;
}

[[nodiscard]] SELFALIGN_DECL std::size_t utf8_prefix_length(std::string_view s, std::size_t limit) noexcept {
  if (limit >= s.size()) return s.size();
  while (limit > 0 && (static_cast<unsigned char>(s[limit]) & 0xC0) == 0x80) --limit;  // not inside a character
  return limit;
}

[[nodiscard]] SELFALIGN_DECL std::size_t utf8_characters(std::string_view s) noexcept {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

[[nodiscard]] SELFALIGN_DECL std::string cut_response(std::string_view whole, std::size_t keep) {
  return selfalign::detail::format_text("{}\n[... {} more characters of this response were left out here to fit the judge's context ...]",
                     whole.substr(0, keep), utf8_characters(whole.substr(keep)));
}

}  // namespace judges::detail
SELFALIGN_END_NAMESPACE
