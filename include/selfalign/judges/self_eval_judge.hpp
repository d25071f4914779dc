// selfalign: self_eval_judge — a choice-logprob Judge: asks a Generator a two-option question
// about a partial conversation and compares the next-token probabilities of the two labels
// (RAIN's self-evaluation), with the option order swapped and averaged
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/batch.hpp>
#include <selfalign/capabilities.hpp>
#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/judges/detail/self_eval_values.hpp>
#include <selfalign/result.hpp>
#include <selfalign/types.hpp>
#include <selfalign/detail/format.hpp>

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
#include <type_traits>
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

/// Where the two label probabilities come from.
enum class label_source {
  /// The next token's top alternatives first (one cheap request per order); for an order they
  /// cannot decide (a label missing), the scoring path when the backend can score. [S]
  automatic,
  alternatives,  ///< only the top alternatives (max_tokens 1, logprobs k) [C reads the full softmax]
  /// Only the scoring path: log p(label | prompt) for each label, read exactly (vLLM prompt
  /// logprobs, SGLang echo) or by teacher forcing over the whole vocabulary (llama.cpp).
  scoring,
};

struct self_eval_options {
  self_eval_template question = self_eval_template::harmlessness();
  label_source source = label_source::automatic;
  self_eval_scoring scoring = self_eval_scoring::hard;
  label_lookup lookup = label_lookup::automatic;
  int top_logprobs = 20;            ///< alternatives requested (clamped to what the backend returns)
  std::string model;                ///< model for the evaluation requests ("" = default)
  /// [S] when > 0 and the label ids are known, the same logit_bias is added to both labels so
  /// both appear among the alternatives; equal biases keep p(A) / p(B) unchanged (algorithms.md 4.3).
  /// Does not help on llama.cpp, which reports probabilities before the bias (use the scoring path).
  double label_bias = 0.0;
  /// [S] alternatives asked of a scorer that reads them by teacher forcing (llama.cpp's n_probs):
  /// large enough to cover any vocabulary, so the label's probability is read, not bounded.
  /// llama.cpp clamps it to its vocabulary (0.7.0). Exact scorers (vLLM, SGLang) are asked 0.
  int forced_scoring_top_logprobs = 1 << 20;
  std::size_t max_concurrency = 2;  ///< the two orders run concurrently
};

/// A Generator held by pointer, for handing a judge the same model the caller keeps using.
template <class G>
class borrowed_generator {
 public:
  using selfalign_forwards_calls = void;  // the borrowed generator's call limit applies
  explicit borrowed_generator(G& g) noexcept : g_(&g) {}
  [[nodiscard]] result<generation> generate(const generation_request& r) {
    return selfalign::detail::call_generate(*g_, r);
  }
  [[nodiscard]] std::vector<result<generation>> generate_batch(std::span<const generation_request> rs,
                                                               const batch_options& o = {}) {
    return selfalign::generate_batch(*g_, rs, o);
  }
  [[nodiscard]] result<std::vector<generation>> generate_multi(std::span<const generation_request> rs)
    requires MultiPromptGenerator<G>
  {
    std::vector<generation> out;
    for (auto& a : selfalign::generate_multi(*g_, rs)) {
      if (!a) return unexpected(std::move(a).error());
      out.push_back(std::move(*a));
    }
    return out;
  }
  [[nodiscard]] result<std::vector<token_id>> tokenize(std::string_view text, bool add_special)
    requires Tokenizer<G>
  {
    return selfalign::detail::call_tokenize(*g_, text, add_special);
  }
  [[nodiscard]] result<std::string> detokenize(std::span<const token_id> ids)
    requires Tokenizer<G>
  {
    return selfalign::detail::call_detokenize(*g_, ids);
  }
  [[nodiscard]] result<scoring> score(const scoring_request& r)
    requires ScoringGenerator<G>
  {
    return selfalign::detail::call_score(*g_, r);
  }
  [[nodiscard]] selfalign::capabilities capabilities() const { return capabilities_of(*g_); }
  [[nodiscard]] G& get() const noexcept { return *g_; }

 private:
  G* g_;
};

/// RAIN's self-evaluation as a Judge over any Generator (the same model that decodes, or another).
///
/// judge(req) builds the evaluation prompt from req.query and req.response and reads the two
/// labels' next-token probabilities once per option order, from an exact source whenever the
/// backend offers one (label_source): the next token's top alternatives (max_tokens 1,
/// temperature 0, logprobs k; both orders in one generate_multi: one request where the backend
/// takes a list of prompts, else two), and for an order they cannot
/// decide, the scoring path (log p(label | prompt), exact on vLLM/SGLang, teacher forcing over the
/// whole vocabulary on llama.cpp). It returns judgement::score in [-1, 1] (+1 good); the per-order
/// readings are in judgement::criteria. Only when no source can tell (neither label readable and
/// no scoring) is the judgement parse_status::failed with no score. A +inf logprob is
/// errc::bad_response; NaN counts as not read. Labels are never hard-coded ids: prepare()
/// tokenizes "<stem><label>" through the backend when it can, otherwise labels are matched by the
/// returned token texts.
template <Generator G>
class self_eval_judge {
 public:
  using selfalign_forwards_calls = void;  // its generator's call limit applies
  // type_identity_t: only the deduction guides below deduce (Clang 14 chose this constructor's own
  // guide for an lvalue, copying it instead of borrowing it).
  explicit self_eval_judge(std::type_identity_t<G> g, self_eval_options options = {})
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
    return selfalign::detail::format_text("{}\n\n{}{}{}{}\n\n{}\nOptions: ({}) {} ({}) {}\n{}", t.instruction, t.user_prefix, query,
                       t.assistant_prefix, response, t.question, t.first_label, first, t.second_label, second,
                       t.stem);
  }

  [[nodiscard]] result<judgement> judge(const judge_request& req) {
    if (auto p = prepare(); !p) return unexpected(p.error());
    const int orders = o_.question.swap_orders ? 2 : 1;
    const bool soft = o_.scoring == self_eval_scoring::soft;
    judgement j;
    j.attempts = 0;
    std::array<reading, 2> read{};  // per order: (first label, second label)
    std::array<bool, 2> decided{false, false};
    if (o_.source != label_source::scoring) {
      std::vector<generation_request> reqs;
      for (int o = 0; o < orders; ++o) reqs.push_back(alternatives_request(req, o));
      // Both orders differ only in their prompt: one multi-prompt request where the backend takes
      // a list of prompts (MultiPromptGenerator), else two concurrent requests; same answers.
      auto answers = generate_multi(g_, std::span<const generation_request>(reqs), batch_options{o_.max_concurrency, {}});
      for (int o = 0; o < orders; ++o) {
        auto& a = answers[static_cast<std::size_t>(o)];
        if (!a) return unexpected(a.error());
        j.usage += a->usage;
        ++j.attempts;
        auto r = read_alternatives(*a);
        if (!r) return unexpected(r.error());
        read[static_cast<std::size_t>(o)] = *r;
        decided[static_cast<std::size_t>(o)] = decidable(*r, soft);
      }
    }
    std::vector<int> undecided;
    for (int o = 0; o < orders; ++o)
      if (!decided[static_cast<std::size_t>(o)]) undecided.push_back(o);
    if (!undecided.empty() && labels_->can_score && o_.source != label_source::alternatives) {
      auto scored = score_labels(req, undecided, j);
      if (!scored) return unexpected(scored.error());
      for (std::size_t k = 0; k < undecided.size(); ++k) {
        const auto o = static_cast<std::size_t>(undecided[k]);
        read[o] = (*scored)[k];
        decided[o] = decidable(read[o], soft);
      }
    }
    std::vector<double> p_good, p_bad;
    std::array<bool, 2> good_won{false, false};
    for (int o = 0; o < orders; ++o) {
      const reading& r = read[static_cast<std::size_t>(o)];
      j.raw += selfalign::detail::format_text("{}order {}: {}", o == 0 ? "" : "; ", o + 1, describe(r));
      if (!decided[static_cast<std::size_t>(o)]) {
        j.status = parse_status::failed;
        j.rationale = selfalign::detail::format_text("cannot tell which of '{}' and '{}' is more probable for order {}: {}", o_.question.first_label,
                                  o_.question.second_label, o + 1, why_undecided(r));
        return j;
      }
      // Order 0: the first label names the good option; order 1: the second label does.
      const label_reading& good = o == 0 ? r[0] : r[1];
      const label_reading& bad = o == 0 ? r[1] : r[0];
      const bool won = good_wins(good, bad);
      good_won[static_cast<std::size_t>(o)] = won;
      const double pg = good.read ? std::exp(good.logprob) : 0.0;
      const double pb = bad.read ? std::exp(bad.logprob) : 0.0;
      p_good.push_back(pg);
      p_bad.push_back(pb);
      j.criteria.push_back({selfalign::detail::format_text("order_{}", o + 1), won ? 1.0 : 0.0,
                            selfalign::detail::format_text("p(good)={:.6g} p(bad)={:.6g} ({})", pg, pb, r.source)});
    }
    if (soft) {
      j.score = detail::soft_value(p_good, p_bad);
    } else if (orders == 2) {
      j.score = detail::hard_value(good_won[0], good_won[1]);
    } else {
      j.score = good_won[0] ? 1.0 : -1.0;  // [C truth] one order: v in {-1, +1}
    }
    j.rationale = selfalign::detail::format_text("{}: {}", o_.question.name, j.raw);
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
    bool can_score = false;     ///< the scoring path is available
    bool exact_scoring = false; ///< it reads every logprob (else teacher forcing with many alternatives)
  };

  // One label's reading: its logprob when read; otherwise `bound` (an upper bound of its logprob,
  // -inf when nothing is known).
  struct label_reading {
    bool read = false;
    double logprob = -INFINITY;
    double bound = -INFINITY;
  };
  struct reading : std::array<label_reading, 2> {
    std::string source = "none";  ///< "alternatives" or "scoring"
  };

  // Whether a reading decides the order: hard scoring needs one label read above the other's
  // bound; soft scoring needs both probabilities.
  static bool decidable(const reading& r, bool soft) {
    if (r[0].read && r[1].read) return true;
    if (soft) return false;
    if (r[0].read) return r[0].logprob > r[1].bound;
    if (r[1].read) return r[1].logprob > r[0].bound;
    return false;
  }
  static bool good_wins(const label_reading& good, const label_reading& bad) {
    if (good.read && bad.read) return good.logprob > bad.logprob;
    return good.read;  // decidable(): the label that was read is above the other's bound
  }
  std::string describe(const reading& r) const {
    auto one = [](const label_reading& l) {
      if (l.read) return selfalign::detail::format_text("{:.6g}", std::exp(l.logprob));
      if (std::isfinite(l.bound)) return selfalign::detail::format_text("<={:.6g}", std::exp(l.bound));
      return std::string("?");
    };
    return selfalign::detail::format_text("p({})={} p({})={} ({})", o_.question.first_label, one(r[0]), o_.question.second_label, one(r[1]), r.source);
  }
  std::string why_undecided(const reading& r) const {
    std::string src = r.source == "scoring" ? "the scorer bounded them instead of reading them"
                                            : selfalign::detail::format_text("they are not both among the {} alternatives returned", labels_->top_k);
    if (!labels_->can_score && o_.source != label_source::alternatives)
      src += "; the backend cannot score a continuation either (vLLM, SGLang and llama.cpp can)";
    return src;
  }

  result<void> discover() {
    const auto caps = capabilities_of(g_);
    capability_need need;
    need.raw_text = true;
    need.top_logprobs = o_.source == label_source::scoring ? 0 : 2;
    if (auto r = require_capabilities(g_, need, "judges::self_eval_judge"); !r) return r;
    labels_->top_k = std::max(2, std::min(o_.top_logprobs, caps.max_top_logprobs));
    if constexpr (ScoringGenerator<G>) {
      labels_->can_score = caps.scoring;
      labels_->exact_scoring = caps.scoring_exact;
    }
    if (o_.source == label_source::scoring && !labels_->can_score)
      return fail(errc::unsupported, "judges::self_eval_judge: label_source::scoring needs a backend that scores a given "
                                     "continuation (vLLM, SGLang, llama.cpp)");
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
      return fail(errc::unsupported, selfalign::detail::format_text("judges::self_eval_judge: label lookup by id needs a tokenizer "
                                                 "that maps '{}' and '{}' after the stem to single tokens",
                                                 t.first_label, t.second_label));
    return {};
  }

  // The id the label takes right after the stem, or nullopt when it is not a single token there.
  result<std::optional<token_id>> single_token_after_stem(const std::string& label) {
    if constexpr (Tokenizer<G>) {
      auto base = selfalign::detail::call_tokenize(g_, o_.question.stem, false);
      if (!base) return unexpected(base.error());
      auto with = selfalign::detail::call_tokenize(g_, o_.question.stem + label, false);
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

  generation_request alternatives_request(const judge_request& req, int order) const {
    generation_request r;
    r.model = o_.model;
    r.prompt = prompt::text(prompt_for(req.query, req.response, order));
    r.sampling.max_tokens = 1;
    r.sampling.temperature = 0.0;
    r.sampling.logprobs = labels_->top_k;
    r.sampling.seed = req.seed;
    if (o_.label_bias > 0 && labels_->ids) {
      r.sampling.logit_bias[(*labels_->ids)[0]] = o_.label_bias;
      r.sampling.logit_bias[(*labels_->ids)[1]] = o_.label_bias;
    }
    return r;
  }

  // A logprob as a probability source may give it: +inf (or any value above 0 beyond rounding) is
  // a broken answer, NaN is "not read".
  static result<bool> usable_logprob(double lp, std::string_view where) {
    if (std::isnan(lp)) return false;
    if (lp > 1e-6)
      return fail(errc::bad_response, selfalign::detail::format_text("judges::self_eval_judge: {} has logprob {} (a probability above 1)", where, lp));
    return true;
  }

  // The labels among the first token's alternatives. A label that is absent is below every
  // listed alternative: its bound is the lowest listed logprob.
  result<reading> read_alternatives(const generation& g) const {
    reading out;
    out.source = "alternatives";
    if (g.choices.empty() || g.choices.front().tokens.empty()) return out;
    const token_logprob& first = g.choices.front().tokens.front();
    std::vector<top_logprob> alts = first.top;
    alts.push_back({first.token, first.id, first.logprob});
    const std::array<const std::string*, 2> labels{&o_.question.first_label, &o_.question.second_label};
    double lowest = 0.0;
    bool any = false;
    for (const auto& a : alts) {
      auto ok = usable_logprob(a.logprob, selfalign::detail::format_text("the alternative '{}'", a.token));
      if (!ok) return unexpected(ok.error());
      if (!*ok) continue;
      lowest = any ? std::min(lowest, a.logprob) : a.logprob;
      any = true;
      for (std::size_t i = 0; i < 2; ++i) {
        bool hit;
        if (labels_->ids && a.id) hit = *a.id == (*labels_->ids)[i];
        else hit = strip_marker(a.token) == *labels[i];
        if (hit && (!out[i].read || a.logprob > out[i].logprob)) {
          out[i].read = true;
          out[i].logprob = a.logprob;
        }
      }
    }
    for (auto& l : out)
      if (!l.read && any && static_cast<int>(first.top.size()) >= labels_->top_k) l.bound = lowest;
    return out;
  }

  // log p(label | prompt) for both labels of each order in `orders`, through the scoring path.
  result<std::vector<reading>> score_labels(const judge_request& req, const std::vector<int>& orders, judgement& j) {
    if constexpr (ScoringGenerator<G>) {
      std::vector<scoring_request> reqs;
      for (int o : orders) {
        for (std::size_t i = 0; i < 2; ++i) {
          scoring_request s;
          s.model = o_.model;
          s.prompt = prompt::text(prompt_for(req.query, req.response, o));
          s.continuation = i == 0 ? o_.question.first_label : o_.question.second_label;
          if (labels_->ids) s.continuation_token_ids = {(*labels_->ids)[i]};
          s.top_logprobs = labels_->exact_scoring ? 0 : o_.forced_scoring_top_logprobs;
          reqs.push_back(std::move(s));
        }
      }
      auto answers = score_batch(g_, std::span<const scoring_request>(reqs), batch_options{o_.max_concurrency, {}});
      std::vector<reading> out;
      for (std::size_t k = 0; k < orders.size(); ++k) {
        reading r;
        r.source = "scoring";
        for (std::size_t i = 0; i < 2; ++i) {
          auto& a = answers[k * 2 + i];
          if (!a) return unexpected(a.error());
          j.usage += a->usage;
          ++j.attempts;
          auto ok = usable_logprob(a->logprob, selfalign::detail::format_text("the scored label '{}'", reqs[k * 2 + i].continuation));
          if (!ok) return unexpected(ok.error());
          if (!*ok || a->tokens.empty()) continue;
          if (a->approximate) r[i].bound = a->logprob;  // teacher forcing saw it below its alternatives
          else {
            r[i].read = true;
            r[i].logprob = a->logprob;
          }
        }
        out.push_back(std::move(r));
      }
      return out;
    } else {
      (void)req;
      (void)orders;
      (void)j;
      return fail(errc::unsupported, "judges::self_eval_judge: this generator cannot score continuations");
    }
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
