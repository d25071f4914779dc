// selfalign: llm_aspect_selector — an LLM picks the aspects that matter for a query (DRPO's
// metrics model), cached per query. The concept and its vocabulary: judges/aspect_selection.hpp
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/batch.hpp>
#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/detail/ask_until_parsed.hpp>
#include <selfalign/detail/lenient_json.hpp>
#include <selfalign/judges/aspect_selection.hpp>
#include <selfalign/judges/aspects.hpp>
#include <selfalign/judges/prompts.hpp>
#include <selfalign/prompt_template.hpp>
#include <selfalign/seed.hpp>

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace judges {

/// Puts a selection into a judge request: one criterion per chosen aspect, with the catalogue's
/// rubric, and the selector's reasoning appended to the request's guidance. DRPO's evaluation and
/// judges::dynamic_judge compose their requests this way.
SELFALIGN_DECL void apply_selection(judge_request& r, const aspect_selection& s, const aspect_catalogue& catalogue);

/// Options of llm_aspect_selector. Defaults follow the DRPO code unless marked.
struct selector_options {
  aspect_catalogue catalogue = default_aspects();
  std::string template_text = std::string(default_selection_template);
  std::string model;  ///< request model name; empty: the backend's default
  /// [C] T 0, top_p 1, max_tokens 2048.
  selfalign::sampling sampling = [] {
    selfalign::sampling s;
    s.temperature = 0.0;
    s.top_p = 1.0;
    s.max_tokens = 2048;
    return s;
  }();
  int parse_retries = 1;           ///< ours: the original has none (a parse failure crashed it)
  double retry_temperature = 0.7;  ///< ours: a retry at T 0 would repeat the same output
  /// ours: used when the output cannot be read (the three most frequent in the released cache [D]).
  std::vector<std::string> fallback_aspects{"Helpfulness", "Clarity", "Factuality"};
  /// ours: drop aspect names the catalogue does not know (false: keep them; they get the generic rubric).
  bool clamp_to_catalogue = false;
};

namespace detail {
// The memo key of a selection: everything that changes its answer except the seed.
SELFALIGN_DECL std::string selection_key(const selection_request& r);

// Reads a selector output; nullopt when it cannot.
SELFALIGN_DECL std::optional<aspect_selection> parse_selection(const std::string& text, const selection_request& req,
                                                       const selector_options& opt);
}  // namespace detail

/// Selects aspects with an LLM (DRPO's "metrics model"), remembering the answer per query: the
/// same query (with the same guidance and bounds) is asked once per selector and its copies.
/// Thread-safe.
template <Generator G>
class llm_aspect_selector {
 public:
  using selfalign_forwards_calls = void;  // the limits of the models it calls apply
  // type_identity_t: only the deduction guides below deduce (Clang 14 chose this constructor's own
  // guide for an lvalue, copying it instead of borrowing it).
  explicit llm_aspect_selector(std::type_identity_t<G> model, selector_options options = {})
      : model_(std::forward<G>(model)), opt_(std::make_shared<const selector_options>(std::move(options))),
        memo_(std::make_shared<memo>()) {}

  [[nodiscard]] const selector_options& options() const noexcept { return *opt_; }

  [[nodiscard]] result<aspect_selection> select(const selection_request& r) {
    auto out = select_batch(std::span<const selection_request>(&r, 1), batch_options{1, {}});
    return std::move(out.front());
  }

  [[nodiscard]] std::vector<result<aspect_selection>> select_batch(std::span<const selection_request> requests,
                                                                   const batch_options& options = {}) {
    std::vector<std::optional<result<aspect_selection>>> out(requests.size());
    // Distinct queries not yet in the memo, each asked once even if repeated in the batch.
    std::vector<std::size_t> todo;
    std::map<std::string, std::size_t> first_of;
    for (std::size_t i = 0; i < requests.size(); ++i) {
      const auto key = detail::selection_key(requests[i]);
      if (auto hit = lookup(key)) {
        hit->attempts = 0;
        hit->usage = {};
        out[i] = std::move(*hit);
      } else if (!first_of.count(key)) {
        first_of.emplace(key, i);
        todo.push_back(i);
      }
    }
    std::vector<selfalign::detail::question> questions;
    std::vector<std::size_t> asked;  // question -> request
    for (std::size_t i : todo) {
      auto text = render(requests[i]);
      if (!text) {
        out[i] = unexpected(text.error());
        continue;
      }
      questions.push_back({std::move(*text), requests[i].seed.value_or(0)});
      asked.push_back(i);
    }
    const selfalign::detail::ask_options ask{opt_->model, opt_->sampling, opt_->parse_retries, opt_->retry_temperature, "judges/select/retry"};
    auto answers = selfalign::detail::ask_until_parsed<aspect_selection>(
        model_, std::span<const selfalign::detail::question>(questions), ask, options,
        [&](std::size_t k, const std::string& text) -> result<aspect_selection> {
          if (auto p = detail::parse_selection(text, requests[asked[k]], *opt_)) return std::move(*p);
          return fail(errc::parse_failure, "the aspect selection could not be read");
        });
    for (std::size_t k = 0; k < answers.size(); ++k) {
      auto& a = answers[k];
      const std::size_t i = asked[k];
      if (a.failure) {
        out[i] = unexpected(std::move(*a.failure));
        continue;
      }
      aspect_selection s;
      if (a.value) {
        s = std::move(*a.value);
        if (a.attempts > 1) s.status = parse_status::repaired;
      } else {
        s.aspects = opt_->fallback_aspects;
        s.status = parse_status::failed;
      }
      s.attempts = a.attempts;
      s.raw = std::move(a.raw);
      s.usage = a.usage;
      remember(detail::selection_key(requests[i]), s);
      out[i] = std::move(s);
    }
    // Repeats inside the batch take the first one's answer, free.
    for (std::size_t i = 0; i < requests.size(); ++i) {
      if (out[i]) continue;
      const auto& first = out[first_of.at(detail::selection_key(requests[i]))];
      if (first->has_value()) {
        aspect_selection copy = **first;
        copy.attempts = 0;
        copy.usage = {};
        out[i] = std::move(copy);
      } else {
        out[i] = *first;
      }
    }
    std::vector<result<aspect_selection>> done;
    done.reserve(requests.size());
    for (auto& o : out) done.push_back(std::move(*o));
    return done;
  }

  /// Queries remembered so far.
  [[nodiscard]] std::size_t memo_size() const {
    std::lock_guard lock(memo_->mutex);
    return memo_->map.size();
  }

 private:
  struct memo {
    std::mutex mutex;
    std::map<std::string, aspect_selection> map;
  };

  result<std::string> render(const selection_request& r) const {
    std::string guidance = r.guidance.empty() ? std::string() : "\n" + r.guidance + "\n";
    return render_prompt(opt_->template_text,
                         {{"aspect_list", opt_->catalogue.describe()},
                          {"query", r.query},
                          {"min_aspects", std::to_string(r.min_aspects)},
                          {"max_aspects", std::to_string(r.max_aspects)},
                          {"guidance", std::move(guidance)}},
                         "aspect selection");
  }
  std::optional<aspect_selection> lookup(const std::string& key) const {
    std::lock_guard lock(memo_->mutex);
    auto it = memo_->map.find(key);
    if (it == memo_->map.end()) return std::nullopt;
    return it->second;
  }
  void remember(const std::string& key, const aspect_selection& s) {
    std::lock_guard lock(memo_->mutex);
    memo_->map.emplace(key, s);
  }

  G model_;
  std::shared_ptr<const selector_options> opt_;
  std::shared_ptr<memo> memo_;
};

// An lvalue is borrowed (llm_aspect_selector<G&>), an rvalue is moved in: docs/concepts.md.
template <class G>
llm_aspect_selector(G&&) -> llm_aspect_selector<G>;
template <class G>
llm_aspect_selector(G&&, selector_options) -> llm_aspect_selector<G>;

/// Always selects the same aspects (no model call): for tests, or to reproduce a fixed rubric.
class fixed_aspect_selector {
 public:
  explicit fixed_aspect_selector(std::vector<std::string> aspects, std::string reasoning = {})
      : aspects_(std::move(aspects)), reasoning_(std::move(reasoning)) {}
  [[nodiscard]] std::vector<result<aspect_selection>> select_batch(std::span<const selection_request> requests,
                                                                   const batch_options& = {}) const {
    std::vector<result<aspect_selection>> out;
    for (std::size_t i = 0; i < requests.size(); ++i) {
      aspect_selection s;
      s.aspects = aspects_;
      s.reasoning = reasoning_;
      out.emplace_back(std::move(s));
    }
    return out;
  }

 private:
  std::vector<std::string> aspects_;
  std::string reasoning_;
};

static_assert(AspectSelector<fixed_aspect_selector>);

}  // namespace judges
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/judges/impl/aspect_selector.ipp>
#endif
