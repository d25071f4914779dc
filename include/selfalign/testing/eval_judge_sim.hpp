// selfalign: eval_judge_sim — a simulated judge model for the eval protocols that answers from the
// simulated models' ground truth (pairwise verdicts, harmless labels, truthful labels, rubric
// scores), so that a wrong aggregation fails a test; optionally position-biased or unreadable
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/detail/strings.hpp>
#include <selfalign/eval/prompts.hpp>
#include <selfalign/testing/drpo_sim.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace testing {

/// The ground truth the simulated judge applies.
struct eval_judge_sim_options {
  /// An answer containing any of these is harmful: the DRPO simulation's "[complies]", the CLI's
  /// simulated assistant, RAIN's simulated harmful continuations, DLMA's simulated negative answers.
  std::vector<std::string> harmful_markers = {"[complies]", "Sure, here is how", "how to make a bomb", "steal the keys",
                                              "without getting caught", "nobody will notice"};
  /// An answer containing any of these asserts something false (the DRPO simulation's guesses).
  std::vector<std::string> untruthful_markers = {"[guesses]", "[false]"};
  /// An answer containing any of these gives no information (refusals, "I am not sure").
  std::vector<std::string> uninformative_markers = {"[refuses]", "I am not sure", "I can't help", "I won't help"};
  /// Pairwise: on a tie of ground-truth quality, answer "A" (the first position) instead of "tie".
  bool position_bias = false;
  std::string model = "eval-judge-sim";
};

/// A Generator that answers the eval prompts (and the rubric judge's prompts) from ground truth:
///   quality(answer) = 0 when harmful, else the mean of drpo_sim::score_of over the just-eval
///   aspects (a refusal counts as the simulation's "[refuses]" marker);
///   pairwise: "Verdict: A" / "B" by higher quality, "tie" when equal;
///   harmless: "Label: harmful" iff a harmful marker occurs in the response;
///   truthful: truthful iff no untruthful marker, informative iff no uninformative marker;
///   rubric: JSON scores drpo_sim::score_of(aspect, query, answer) for the listed aspects
///   (harmlessness, truthfulness, informativeness: 5 or 1 by the label rules above).
/// Responses containing a marker registered with unreadable_on() get an answer without the
/// expected line (always, or only at temperature 0: the first attempt).
class eval_judge_sim {
 public:
  explicit eval_judge_sim(eval_judge_sim_options options = {}) : s_(std::make_shared<state>()) { s_->o = std::move(options); }

  eval_judge_sim& unreadable_on(std::string marker, bool always = true) {
    std::lock_guard lock(s_->mutex);
    s_->unreadable.push_back({std::move(marker), always});
    return *this;
  }
  [[nodiscard]] std::size_t calls() const { return s_->calls.load(); }
  [[nodiscard]] const eval_judge_sim_options& options() const { return s_->o; }

  [[nodiscard]] bool harmful(std::string_view answer) const { return contains_any(answer, s_->o.harmful_markers); }

  /// The ground-truth quality of an answer (see the class comment).
  [[nodiscard]] double quality(std::string_view query, std::string_view answer) const {
    if (harmful(answer)) return 0.0;
    const std::string a = normalized(answer);
    double s = 0;
    const std::vector<std::string> aspects = {"Helpfulness", "Clarity", "Factuality", "Depth", "Engagement", "Safety"};
    for (const auto& x : aspects) s += drpo_sim::score_of(x, query, a);
    return s / static_cast<double>(aspects.size());
  }

  [[nodiscard]] result<generation> generate(const generation_request& r) {
    ++s_->calls;
    const std::string text = r.prompt.flatten();
    const bool first_attempt = r.sampling.temperature == 0.0;
    if (text.find("<answer_a>") != std::string::npos) {
      const std::string q = between(text, "<query>\n", "\n</query>");
      const std::string a = between(text, "<answer_a>\n", "\n</answer_a>");
      const std::string b = between(text, "<answer_b>\n", "\n</answer_b>");
      if (unreadable(a, first_attempt) || unreadable(b, first_attempt)) return reply("Both answers have merits; hard to say.");
      const double qa = quality(q, a), qb = quality(q, b);
      std::string v = qa > qb ? "A" : qb > qa ? "B" : (s_->o.position_bias ? "A" : "tie");
      return reply("Comparing the two answers on the ground truth.\nVerdict: " + v);
    }
    if (text.find("Label: harmful") != std::string::npos) {
      const std::string resp = between(text, "<response>\n", "\n</response>");
      if (unreadable(resp, first_attempt)) return reply("It depends on how you look at it.");
      return reply(std::string("Reviewed.\nLabel: ") + (harmful(resp) ? "harmful" : "harmless"));
    }
    if (text.find("Informative: yes or no") != std::string::npos) {
      const std::string resp = between(text, "<answer>\n", "\n</answer>");
      if (unreadable(resp, first_attempt)) return reply("Partly right, I think.");
      const bool t = !contains_any(resp, s_->o.untruthful_markers);
      const bool i = !contains_any(resp, s_->o.uninformative_markers);
      return reply(std::string("Checked.\nTruthful: ") + (t ? "yes" : "no") + "\nInformative: " + (i ? "yes" : "no"));
    }
    if (text.find("<aspects>") != std::string::npos) {
      const std::string q = between(text, "<query>\n", "\n</query>");
      const std::string resp = between(text, "<response>\n", "\n</response>");
      if (unreadable(resp, first_attempt)) return reply("A solid response; four out of five overall.");
      nlohmann::ordered_json out = nlohmann::ordered_json::object();
      const std::string block = between(text, "<aspects>\n", "\n</aspects>");
      for (std::size_t pos = 0; pos < block.size();) {
        auto end = block.find('\n', pos);
        if (end == std::string::npos) end = block.size();
        std::string_view line = std::string_view(block).substr(pos, end - pos);
        if (selfalign::detail::starts_with(line, "- ")) {
          const auto colon = line.find(':');
          const std::string name(line.substr(2, colon == std::string_view::npos ? std::string_view::npos : colon - 2));
          out[name] = {{"rationale", "simulated ground truth"}, {"score", aspect_score(name, q, resp)}};
        }
        pos = end + 1;
      }
      return reply(out.dump());
    }
    return reply("I do not recognise this evaluation prompt.");
  }

 private:
  // The rubric score of one aspect: the pointwise eval criteria (harmlessness, truthfulness,
  // informativeness) follow the same ground truth as the labels (5 or 1); the just-eval aspects
  // follow drpo_sim::score_of, with Safety and Helpfulness 1 for a harmful answer.
  int aspect_score(const std::string& name, const std::string& query, const std::string& response) const {
    if (name == "harmlessness") return harmful(response) ? 1 : 5;
    if (name == "truthfulness") return contains_any(response, s_->o.untruthful_markers) ? 1 : 5;
    if (name == "informativeness") return contains_any(response, s_->o.uninformative_markers) ? 1 : 5;
    if (harmful(response) && (name == "Safety" || name == "Helpfulness")) return 1;
    return drpo_sim::score_of(name, query, normalized(response));
  }
  struct rule {
    std::string marker;
    bool always;
  };
  struct state {
    eval_judge_sim_options o;
    std::mutex mutex;
    std::vector<rule> unreadable;
    std::atomic<std::size_t> calls{0};
  };
  static bool contains_any(std::string_view text, const std::vector<std::string>& markers) {
    for (const auto& m : markers)
      if (!m.empty() && text.find(m) != std::string_view::npos) return true;
    return false;
  }
  // A refusal in plain words counts as the DRPO simulation's refusal marker.
  static std::string normalized(std::string_view answer) {
    std::string a(answer);
    if (eval::refusal_phrase(a, eval::default_refusal_phrases()) && a.find("[refuses]") == std::string::npos) a += " [refuses]";
    return a;
  }
  bool unreadable(const std::string& response, bool first_attempt) const {
    std::lock_guard lock(s_->mutex);
    for (const auto& r : s_->unreadable)
      if (response.find(r.marker) != std::string::npos) return r.always || first_attempt;
    return false;
  }
  static std::string between(const std::string& text, std::string_view open, std::string_view close) {
    const auto a = text.find(open);
    if (a == std::string::npos) return {};
    const auto b = text.find(close, a + open.size());
    if (b == std::string::npos) return {};
    return text.substr(a + open.size(), b - a - open.size());
  }
  result<generation> reply(std::string text) const {
    generation g;
    g.model = s_->o.model;
    g.usage.prompt_tokens = 50;
    g.usage.completion_tokens = static_cast<std::int64_t>(text.size() / 4 + 1);
    g.usage.requests = 1;
    g.choices.push_back(completion{std::move(text), {}, {}, "stop"});
    return g;
  }
  std::shared_ptr<state> s_;
};

static_assert(Generator<eval_judge_sim>);

}  // namespace testing
SELFALIGN_END_NAMESPACE
