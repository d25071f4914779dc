// selfalign: rubric_judge — a Judge over a Generator that scores a response on rubric criteria
// (DRPO's dynamic reward: reward = mean score), with lenient parsing and retries
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/batch.hpp>
#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>
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

SELFALIGN_DECL std::string rubric_lines(const std::vector<criterion>& criteria);

SELFALIGN_DECL std::string json_skeleton(const std::vector<criterion>& criteria);

// Reads one aspect's entry: {"rationale": ..., "score": ...} or a bare score. The score is
// truncated toward zero when `truncate` (the official int()), then checked against the scale.
SELFALIGN_DECL result<criterion_score> read_rubric_entry(const nlohmann::json& entry, const std::string& name,
                                                 const rubric_judge_options& opt, bool truncate, bool& repaired);

// The key of the judge output that holds criterion `c` (names compared loosely, catalogue aliases
// accepted), or end().
SELFALIGN_DECL nlohmann::json::const_iterator find_rubric_entry(const nlohmann::json& j, const criterion& c, const rubric_judge_options& opt);

// Reads a judge output for these criteria. An error message when it cannot, for the raw log.
SELFALIGN_DECL result<judgement> parse_rubric_judgement(const std::string& text, const std::vector<criterion>& criteria,
                                                const rubric_judge_options& opt);

/// The longest prefix of `s` of at most `limit` bytes that ends on a UTF-8 character boundary.
[[nodiscard]] SELFALIGN_DECL std::size_t utf8_prefix_length(std::string_view s, std::size_t limit) noexcept;

/// The characters (UTF-8 code points) in `s`.
[[nodiscard]] SELFALIGN_DECL std::size_t utf8_characters(std::string_view s) noexcept;

/// The response as quoted when only its first `keep` bytes fit: the prefix and a marker that tells
/// the judge (and a person reading the prompt) how many characters were left out.
[[nodiscard]] SELFALIGN_DECL std::string cut_response(std::string_view whole, std::size_t keep);

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

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/judges/impl/rubric_judge.ipp>
#endif
