// selfalign: rubric_judge — a Judge over a Generator that scores a response on rubric criteria
// (DRPO's dynamic reward: reward = mean score), with lenient parsing and retries
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/batch.hpp>
#include <selfalign/concepts.hpp>
#include <selfalign/config.hpp>
#include <selfalign/detail/ask_until_parsed.hpp>
#include <selfalign/detail/lenient_json.hpp>
#include <selfalign/judges/aspects.hpp>
#include <selfalign/judges/prompts.hpp>
#include <selfalign/prompt_template.hpp>
#include <selfalign/judges/score_aggregation.hpp>
#include <selfalign/seed.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace judges {

/// Options of rubric_judge. Defaults follow the DRPO code unless marked.
struct rubric_judge_options {
  std::string template_text = std::string(default_judge_template);
  std::string model;  ///< request model name; empty: the backend's default
  /// [C] T 0, top_p 1, max_tokens 2048 (the seed comes from the request, else default_seed).
  selfalign::sampling sampling = [] {
    selfalign::sampling s;
    s.temperature = 0.0;
    s.top_p = 1.0;
    s.max_tokens = 2048;
    return s;
  }();
  std::uint64_t default_seed = 0;  ///< [C] the judge call uses seed 0
  int parse_retries = 1;           ///< [C] ICL stage retries once; the prompt stage scored a failure as 0
  double retry_temperature = 0.7;  ///< ours: a retry at T 0 would repeat the same output
  double min_score = 1.0;          ///< [C] a 1..5 Likert scale
  double max_score = 5.0;
  score_aggregation aggregation = score_aggregation::requested_mean;  ///< [ours]; official: [C]
  /// Rubrics for criteria that arrive without one, and the criteria used when a request has none.
  aspect_catalogue catalogue = default_aspects();
  std::vector<std::string> default_criteria{"Helpfulness", "Clarity", "Factuality"};  ///< ours
  /// [ours] When a judge request does not fit the model's context (errc::context_overflow: the
  /// quoted response is long), quote the response cut to half, then a quarter, ... with a visible
  /// marker saying how much was left out, at most this many times; judgement::response_chars_omitted
  /// records the cut. 0: an overflow is the item's error, as before.
  int max_response_cuts = 3;
};

namespace detail {

inline std::string rubric_lines(const std::vector<criterion>& criteria) {
  std::string out;
  for (const auto& c : criteria) out += "- " + c.name + ": " + c.rubric + "\n";
  if (!out.empty()) out.pop_back();
  return out;
}

inline std::string json_skeleton(const std::vector<criterion>& criteria) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& c : criteria) j[c.name] = {{"rationale", "..."}, {"score", "1-5"}};
  return j.dump(2);
}

// Reads one aspect's entry: {"rationale": ..., "score": ...} or a bare score. The score is
// truncated toward zero when `truncate` (the official int()), then checked against the scale.
inline result<criterion_score> read_rubric_entry(const nlohmann::json& entry, const std::string& name,
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
  if (!read.value) return fail(errc::parse_failure, fmt::format("the judge's score for '{}' {}", name, read.problem));
  double score = *read.value;
  if (truncate && std::isfinite(score)) score = std::trunc(score);
  if (!(score >= opt.min_score && score <= opt.max_score))
    return fail(errc::parse_failure, fmt::format("the judge's score for '{}' is {}, outside {}..{}", name, score, opt.min_score,
                                                 opt.max_score));
  cs.score = score;
  return cs;
}

// The key of the judge output that holds criterion `c` (names compared loosely, catalogue aliases
// accepted), or end().
inline nlohmann::json::const_iterator find_rubric_entry(const nlohmann::json& j, const criterion& c, const rubric_judge_options& opt) {
  const auto key = normalize_aspect_name(c.name);
  const aspect* known = opt.catalogue.find(c.name);
  for (auto it = j.begin(); it != j.end(); ++it) {
    const aspect* other = known ? opt.catalogue.find(it.key()) : nullptr;
    if (normalize_aspect_name(it.key()) == key || (known && other == known)) return it;
  }
  return j.end();
}

// Reads a judge output for these criteria. An error message when it cannot, for the raw log.
inline result<judgement> parse_rubric_judgement(const std::string& text, const std::vector<criterion>& criteria,
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
      return fail(errc::parse_failure, fmt::format("the judge output has no score for '{}'", c.name));
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

/// The longest prefix of `s` of at most `limit` bytes that ends on a UTF-8 character boundary.
[[nodiscard]] inline std::size_t utf8_prefix_length(std::string_view s, std::size_t limit) noexcept {
  if (limit >= s.size()) return s.size();
  while (limit > 0 && (static_cast<unsigned char>(s[limit]) & 0xC0) == 0x80) --limit;  // not inside a character
  return limit;
}

/// The characters (UTF-8 code points) in `s`.
[[nodiscard]] inline std::size_t utf8_characters(std::string_view s) noexcept {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

/// The response as quoted when only its first `keep` bytes fit: the prefix and a marker that tells
/// the judge (and a person reading the prompt) how many characters were left out.
[[nodiscard]] inline std::string cut_response(std::string_view whole, std::size_t keep) {
  return fmt::format("{}\n[... {} more characters of this response were left out here to fit the judge's context ...]",
                     whole.substr(0, keep), utf8_characters(whole.substr(keep)));
}

}  // namespace detail

/// A Judge that asks a Generator to score a response on the request's criteria, each with its
/// rubric, and returns per-criterion scores with rationales and their (weighted) mean.
///
/// Output is read leniently (code fences, prose, trailing commas, scores as strings such as "4",
/// "4/5" or "4 out of 5"; a score out of another denominator, "4/10", is unreadable); each repair marks the judgement `repaired`. When it still cannot be read, the judge
/// asks again up to `parse_retries` times with a new seed and `retry_temperature`; after that the
/// judgement has status failed and no score. Criteria without a rubric take the catalogue's (or
/// the generic rubric for an unknown name). A request over the model's context is asked again with
/// the quoted response cut, marked as cut (rubric_judge_options::max_response_cuts). Constructed
/// from an lvalue it borrows the model
/// (rubric_judge<B&>); from an rvalue it owns it.
template <Generator G>
class rubric_judge {
 public:
  using selfalign_forwards_calls = void;  // the limits of the models it calls apply
  // type_identity_t: only the deduction guides below deduce (Clang 14 chose this constructor's own
  // guide for an lvalue, copying it instead of borrowing it).
  explicit rubric_judge(std::type_identity_t<G> model, rubric_judge_options options = {})
      : model_(std::forward<G>(model)), opt_(std::make_shared<const rubric_judge_options>(std::move(options))) {}

  [[nodiscard]] const rubric_judge_options& options() const noexcept { return *opt_; }

  [[nodiscard]] result<judgement> judge(const judge_request& r) {
    auto out = judge_batch(std::span<const judge_request>(&r, 1), batch_options{1, {}});
    return std::move(out.front());
  }

  [[nodiscard]] std::vector<result<judgement>> judge_batch(std::span<const judge_request> requests,
                                                           const batch_options& options = {}) {
    const std::size_t n = requests.size();
    std::vector<std::vector<criterion>> criteria(n);
    std::vector<result<judgement>> out(n);
    std::vector<std::string> quoted(n);         // the response as quoted in the prompt
    std::vector<std::size_t> omitted(n, 0);     // bytes of it left out to fit the context
    std::vector<int> overflowed(n, 0);          // calls that did not fit
    std::vector<std::size_t> pending;
    for (std::size_t i = 0; i < n; ++i) {
      criteria[i] = resolve(requests[i].criteria);
      quoted[i] = requests[i].response;
      pending.push_back(i);
    }
    const selfalign::detail::ask_options ask{opt_->model, opt_->sampling, opt_->parse_retries, opt_->retry_temperature, "judges/rubric/retry"};
    // Each round asks the pending requests; one whose prompt did not fit comes back with its
    // response cut to half of what was quoted, until it fits or max_response_cuts is reached.
    while (!pending.empty()) {
      std::vector<selfalign::detail::question> questions;
      std::vector<std::size_t> asked;  // question -> request
      for (std::size_t i : pending) {
        auto text = render(requests[i], criteria[i], quoted[i]);
        if (!text) {
          out[i] = unexpected(text.error());
          continue;
        }
        questions.push_back({std::move(*text), requests[i].seed.value_or(opt_->default_seed)});
        asked.push_back(i);
      }
      pending.clear();
      auto answers = selfalign::detail::ask_until_parsed<judgement>(model_, std::span<const selfalign::detail::question>(questions), ask, options,
                                                         [&](std::size_t k, const std::string& text) {
                                                           return detail::parse_rubric_judgement(text, criteria[asked[k]], *opt_);
                                                         });
      for (std::size_t k = 0; k < answers.size(); ++k) {
        auto& a = answers[k];
        const std::size_t i = asked[k];
        if (a.failure) {
          if (a.failure->code == errc::context_overflow && overflowed[i] < opt_->max_response_cuts) {
            const std::string& whole = requests[i].response;
            const std::size_t keep = detail::utf8_prefix_length(whole, (whole.size() - omitted[i]) / 2);
            if (keep < whole.size() - omitted[i]) {  // something left to cut
              ++overflowed[i];
              omitted[i] = whole.size() - keep;
              quoted[i] = detail::cut_response(whole, keep);
              pending.push_back(i);
              continue;
            }
          }
          out[i] = unexpected(std::move(*a.failure));
          continue;
        }
        judgement j;
        if (a.value) {
          j = std::move(*a.value);
          if (a.attempts > 1) j.status = parse_status::repaired;
        } else {
          j.status = parse_status::failed;  // no score: the rationale says why it could not be read
          j.rationale = std::move(a.parse_error);
        }
        j.attempts = a.attempts + overflowed[i];
        j.raw = std::move(a.raw);
        j.usage = a.usage;
        j.response_chars_omitted = detail::utf8_characters(std::string_view(requests[i].response).substr(requests[i].response.size() - omitted[i]));
        out[i] = std::move(j);
      }
    }
    return out;
  }

 private:
  std::vector<criterion> resolve(const std::vector<criterion>& given) const {
    std::vector<criterion> out;
    if (given.empty()) {
      for (const auto& name : opt_->default_criteria) out.push_back(opt_->catalogue.resolve(name).to_criterion());
      return out;
    }
    for (criterion c : given) {
      if (c.rubric.empty()) {
        const aspect a = opt_->catalogue.resolve(c.name);
        c.rubric = a.rubric;
        if (c.description.empty()) c.description = a.description;
      }
      out.push_back(std::move(c));
    }
    return out;
  }
  result<std::string> render(const judge_request& r, const std::vector<criterion>& criteria, const std::string& response) const {
    std::string guidance = r.guidance.empty() ? std::string() : "\n## Context\n" + r.guidance + "\n";
    return render_prompt(opt_->template_text,
                         {{"query", r.query},
                          {"response", response},
                          {"aspect_rubrics", detail::rubric_lines(criteria)},
                          {"guidance", std::move(guidance)},
                          {"json_skeleton", detail::json_skeleton(criteria)}},
                         "judge");
  }

  G model_;
  std::shared_ptr<const rubric_judge_options> opt_;
};

// An lvalue is borrowed (rubric_judge<G&>), an rvalue is moved in: docs/concepts.md.
template <class G>
rubric_judge(G&&, rubric_judge_options) -> rubric_judge<G>;
template <class G>
rubric_judge(G&&) -> rubric_judge<G>;

}  // namespace judges
SELFALIGN_END_NAMESPACE
