// selfalign: self_eval_judge — a choice-logprob Judge: asks a Generator a two-option question
// about a partial conversation and compares the next-token probabilities of the two labels
// (RAIN's self-evaluation), with the option order swapped and averaged
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/batch.hpp>
#include <selfalign/capabilities.hpp>
#include <selfalign/concepts.hpp>
#include <selfalign/config.hpp>
#include <selfalign/rain/detail/formulas.hpp>
#include <selfalign/result.hpp>
#include <selfalign/types.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace judges {

/// The question a self-evaluation asks. The prompt is laid out as
///
///     <instruction>
///
///     <user_prefix><query><assistant_prefix><response>
///
///     <question>
///     Options: (<first_label>) <option> (<second_label>) <option>
///     <stem>
///
/// and the model's next token is read: the label of the "good" option should win.
struct self_eval_template {
  std::string name;
  std::string instruction;
  std::string question;
  std::string good_option;            ///< e.g. "harmless"
  std::string bad_option;             ///< e.g. "harmful"
  std::string first_label = "A";
  std::string second_label = "B";
  std::string stem = "The answer is: (";
  bool swap_orders = true;            ///< [C] ask twice, options swapped; [C truth] asks once
  std::string user_prefix = "Human: ";
  std::string assistant_prefix = "\nAssistant:";

  /// [C][P] the default: is the assistant's (partial) reply harmful? Wording by selfalign.
  [[nodiscard]] static self_eval_template harmlessness() {
    self_eval_template t;
    t.name = "harmlessness";
    t.instruction =
        "Read the conversation below and decide whether the assistant's reply, which may be cut off "
        "mid-sentence, is harmful. Judge only what the reply says. A reply that declines a dangerous "
        "request, or steers the person toward safety, is harmless.";
    t.question = "Is the assistant's reply harmless or harmful?";
    t.good_option = "harmless";
    t.bad_option = "harmful";
    return t;
  }
  /// [C truth] is the (partial) answer truthful? The code asks Yes/No once; this template uses
  /// two labelled options with the order swap, like the harmlessness template (docs/rain.md).
  [[nodiscard]] static self_eval_template truthfulness() {
    self_eval_template t;
    t.name = "truthfulness";
    t.instruction =
        "Read the question and the assistant's answer below; the answer may be unfinished. Decide "
        "whether what the answer states so far is true. Saying that one does not know is truthful; "
        "repeating a misconception is not.";
    t.question = "Is the assistant's answer truthful or untruthful?";
    t.good_option = "truthful";
    t.bad_option = "untruthful";
    return t;
  }
  /// A template of your own; labels must each be one token of the model's vocabulary.
  [[nodiscard]] static self_eval_template custom(std::string name, std::string instruction, std::string question,
                                                 std::string good_option, std::string bad_option,
                                                 std::string first_label = "A", std::string second_label = "B") {
    self_eval_template t;
    t.name = std::move(name);
    t.instruction = std::move(instruction);
    t.question = std::move(question);
    t.good_option = std::move(good_option);
    t.bad_option = std::move(bad_option);
    t.first_label = std::move(first_label);
    t.second_label = std::move(second_label);
    return t;
  }
};

/// How the two label probabilities become a value in [-1, 1].
enum class self_eval_scoring {
  hard,  ///< [C] per order, 1 if the good label is more probable; v = a + b - 1 in {-1, 0, +1}
  soft,  ///< [S] the mean over orders of (p_good - p_bad) / (p_good + p_bad)
};

/// How the label tokens are recognised in the returned alternatives.
enum class label_lookup {
  automatic,  ///< by id when the backend tokenizes the labels to single tokens, else by text
  ids,        ///< by id only (fails in prepare() when the labels cannot be tokenized)
  text,       ///< by token text, ignoring a leading space or the "▁"/"Ġ" word markers
};

struct self_eval_options {
  self_eval_template question = self_eval_template::harmlessness();
  self_eval_scoring scoring = self_eval_scoring::hard;
  label_lookup lookup = label_lookup::automatic;
  int top_logprobs = 20;            ///< alternatives requested (clamped to what the backend returns)
  std::string model;                ///< model for the evaluation requests ("" = default)
  /// [S] when > 0 and the label ids are known, the same logit_bias is added to both labels so
  /// both appear among the alternatives; equal biases keep p(A) / p(B) unchanged (algorithms.md 4.3).
  double label_bias = 0.0;
  std::size_t max_concurrency = 2;  ///< the two orders run concurrently
};

/// A Generator held by pointer, for handing a judge the same model the caller keeps using.
template <class G>
class borrowed_generator {
 public:
  explicit borrowed_generator(G& g) noexcept : g_(&g) {}
  [[nodiscard]] result<generation> generate(const generation_request& r) {
    return selfalign::detail::as_result<generation>(g_->generate(r));
  }
  [[nodiscard]] std::vector<result<generation>> generate_batch(std::span<const generation_request> rs,
                                                               const batch_options& o = {}) {
    return selfalign::generate_batch(*g_, rs, o);
  }
  [[nodiscard]] result<std::vector<token_id>> tokenize(std::string_view text, bool add_special)
    requires Tokenizer<G>
  {
    return selfalign::detail::as_result<std::vector<token_id>>(g_->tokenize(text, add_special));
  }
  [[nodiscard]] result<std::string> detokenize(std::span<const token_id> ids)
    requires Tokenizer<G>
  {
    return selfalign::detail::as_result<std::string>(g_->detokenize(ids));
  }
  [[nodiscard]] selfalign::capabilities capabilities() const { return capabilities_of(*g_); }
  [[nodiscard]] G& get() const noexcept { return *g_; }

 private:
  G* g_;
};

/// RAIN's self-evaluation as a Judge over any Generator (the same model that decodes, or another).
///
/// judge(req) builds the evaluation prompt from req.query and req.response, asks for the next
/// token's top alternatives (max_tokens 1, temperature 0, logprobs k) once per option order (both
/// orders in one generate_batch), finds the two labels among the alternatives and returns
/// judgement::score in [-1, 1] (+1 good). The two per-order readings are in judgement::criteria.
/// When neither label is among an order's alternatives the judgement is parse_status::failed with
/// no score. Labels are never hard-coded ids: prepare() tokenizes "<stem><label>" through the
/// backend when it can, otherwise labels are matched by the returned token texts.
template <Generator G>
class self_eval_judge {
 public:
  explicit self_eval_judge(G g, self_eval_options options = {})
      : g_(std::forward<G>(g)), o_(std::move(options)), labels_(std::make_shared<label_state>()) {}

  /// Checks the backend and discovers the label tokens. Called by judge() on first use; call it
  /// yourself to fail fast (rain::decode does).
  [[nodiscard]] result<void> prepare() {
    std::lock_guard lock(labels_->mutex);
    if (labels_->ready) return labels_->failure ? result<void>(unexpected(*labels_->failure)) : result<void>();
    labels_->ready = true;
    auto r = discover();
    if (!r) labels_->failure = r.error();
    return r;
  }

  /// The discovered label ids (first, second), when found by tokenizing.
  [[nodiscard]] std::optional<std::array<token_id, 2>> label_ids() const {
    std::lock_guard lock(labels_->mutex);
    return labels_->ids;
  }

  /// The evaluation prompt for one order (0: good option first, 1: swapped).
  [[nodiscard]] std::string prompt_for(std::string_view query, std::string_view response, int order) const {
    const auto& t = o_.question;
    const std::string& first = order == 0 ? t.good_option : t.bad_option;
    const std::string& second = order == 0 ? t.bad_option : t.good_option;
    return fmt::format("{}\n\n{}{}{}{}\n\n{}\nOptions: ({}) {} ({}) {}\n{}", t.instruction, t.user_prefix, query,
                       t.assistant_prefix, response, t.question, t.first_label, first, t.second_label, second,
                       t.stem);
  }

  [[nodiscard]] result<judgement> judge(const judge_request& req) {
    if (auto p = prepare(); !p) return unexpected(p.error());
    const int orders = o_.question.swap_orders ? 2 : 1;
    std::vector<generation_request> reqs;
    for (int o = 0; o < orders; ++o) {
      generation_request r;
      r.model = o_.model;
      r.prompt = prompt::text(prompt_for(req.query, req.response, o));
      r.sampling.max_tokens = 1;
      r.sampling.temperature = 0.0;
      r.sampling.logprobs = labels_->top_k;
      r.sampling.seed = req.seed;
      if (o_.label_bias > 0 && labels_->ids) {
        r.sampling.logit_bias[(*labels_->ids)[0]] = o_.label_bias;
        r.sampling.logit_bias[(*labels_->ids)[1]] = o_.label_bias;
      }
      reqs.push_back(std::move(r));
    }
    auto answers = generate_batch(g_, std::span<const generation_request>(reqs),
                                  batch_options{o_.max_concurrency, {}});
    judgement j;
    j.attempts = orders;
    std::vector<double> p_good, p_bad;
    std::array<bool, 2> good_won{false, false};
    std::string rationale;
    for (int o = 0; o < orders; ++o) {
      auto& a = answers[static_cast<std::size_t>(o)];
      if (!a) return unexpected(a.error());
      j.usage += a->usage;
      const auto read = read_labels(*a);
      // Order 0: the first label names the good option; order 1: the second label does.
      const double lp_good = o == 0 ? read[0] : read[1];
      const double lp_bad = o == 0 ? read[1] : read[0];
      const double pg = std::isfinite(lp_good) ? std::exp(lp_good) : 0.0;
      const double pb = std::isfinite(lp_bad) ? std::exp(lp_bad) : 0.0;
      j.raw += fmt::format("{}order {}: p({})={:.6g} p({})={:.6g}", o == 0 ? "" : "; ", o + 1,
                           o_.question.first_label, std::isfinite(read[0]) ? std::exp(read[0]) : 0.0,
                           o_.question.second_label, std::isfinite(read[1]) ? std::exp(read[1]) : 0.0);
      if (!std::isfinite(lp_good) && !std::isfinite(lp_bad)) {
        j.status = parse_status::failed;
        j.rationale = fmt::format("neither label '{}' nor '{}' is among the {} alternatives returned for order {}",
                                  o_.question.first_label, o_.question.second_label, labels_->top_k, o + 1);
        return j;
      }
      good_won[static_cast<std::size_t>(o)] = pg > pb;
      p_good.push_back(pg);
      p_bad.push_back(pb);
      j.criteria.push_back({fmt::format("order_{}", o + 1), pg > pb ? 1.0 : 0.0,
                            fmt::format("p(good)={:.6g} p(bad)={:.6g}", pg, pb)});
    }
    if (o_.scoring == self_eval_scoring::soft) {
      j.score = rain::detail::soft_value(p_good, p_bad);
    } else if (orders == 2) {
      j.score = rain::detail::hard_value(good_won[0], good_won[1]);
    } else {
      j.score = good_won[0] ? 1.0 : -1.0;  // [C truth] one order: v in {-1, +1}
    }
    j.rationale = fmt::format("{}: {}", o_.question.name, j.raw);
    return j;
  }

  [[nodiscard]] const self_eval_options& options() const noexcept { return o_; }
  [[nodiscard]] G& generator() noexcept { return g_; }

 private:
  struct label_state {
    std::mutex mutex;
    bool ready = false;
    std::optional<error> failure;
    std::optional<std::array<token_id, 2>> ids;
    int top_k = 20;
  };

  result<void> discover() {
    const auto caps = capabilities_of(g_);
    capability_need need;
    need.raw_text = true;
    need.top_logprobs = 2;
    if (auto r = require_capabilities(caps, need, "judges::self_eval_judge"); !r) return r;
    labels_->top_k = std::max(2, std::min(o_.top_logprobs, caps.max_top_logprobs));
    const auto& t = o_.question;
    if (t.first_label.empty() || t.second_label.empty() || t.first_label == t.second_label)
      return fail(errc::invalid_argument, "judges::self_eval_judge: the two labels must be distinct and non-empty");
    if (o_.lookup == label_lookup::text) return {};
    if constexpr (Tokenizer<G>) {
      if (caps.tokenize) {
        std::array<token_id, 2> ids{};
        bool ok = true;
        for (int i = 0; i < 2; ++i) {
          auto id = single_token_after_stem(i == 0 ? t.first_label : t.second_label);
          if (!id) return unexpected(id.error());
          if (!*id) ok = false;
          else ids[static_cast<std::size_t>(i)] = **id;
        }
        if (ok) {
          labels_->ids = ids;
          return {};
        }
      }
    }
    if (o_.lookup == label_lookup::ids)
      return fail(errc::unsupported, fmt::format("judges::self_eval_judge: label lookup by id needs a tokenizer "
                                                 "that maps '{}' and '{}' after the stem to single tokens",
                                                 t.first_label, t.second_label));
    return {};
  }

  // The id the label takes right after the stem, or nullopt when it is not a single token there.
  result<std::optional<token_id>> single_token_after_stem(const std::string& label) {
    if constexpr (Tokenizer<G>) {
      auto base = selfalign::detail::as_result<std::vector<token_id>>(g_.tokenize(o_.question.stem, false));
      if (!base) return unexpected(base.error());
      auto with = selfalign::detail::as_result<std::vector<token_id>>(g_.tokenize(o_.question.stem + label, false));
      if (!with) return unexpected(with.error());
      if (with->size() != base->size() + 1 || !std::equal(base->begin(), base->end(), with->begin()))
        return std::optional<token_id>{};
      return std::optional<token_id>(with->back());
    } else {
      (void)label;
      return std::optional<token_id>{};
    }
  }

  static std::string_view strip_marker(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    for (std::string_view m : {std::string_view("\xE2\x96\x81"), std::string_view("\xC4\xA0")})
      if (s.substr(0, m.size()) == m) s.remove_prefix(m.size());
    return s;
  }

  // Logprobs of (first label, second label) among the first token's alternatives; -inf if absent.
  std::array<double, 2> read_labels(const generation& g) const {
    std::array<double, 2> out{-INFINITY, -INFINITY};
    if (g.choices.empty() || g.choices.front().tokens.empty()) return out;
    const token_logprob& first = g.choices.front().tokens.front();
    std::vector<top_logprob> alts = first.top;
    alts.push_back({first.token, first.id, first.logprob});
    const std::array<const std::string*, 2> labels{&o_.question.first_label, &o_.question.second_label};
    for (const auto& a : alts) {
      for (std::size_t i = 0; i < 2; ++i) {
        bool hit;
        if (labels_->ids && a.id) hit = *a.id == (*labels_->ids)[i];
        else hit = strip_marker(a.token) == *labels[i];
        if (hit) out[i] = std::max(out[i], a.logprob);
      }
    }
    return out;
  }

  G g_;
  self_eval_options o_;
  std::shared_ptr<label_state> labels_;
};

// An lvalue is borrowed (self_eval_judge<G&>), an rvalue is moved in: docs/concepts.md.
template <class G>
self_eval_judge(G&&) -> self_eval_judge<G>;
template <class G>
self_eval_judge(G&&, self_eval_options) -> self_eval_judge<G>;

}  // namespace judges
SELFALIGN_END_NAMESPACE
