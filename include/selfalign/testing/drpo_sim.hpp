// selfalign: simulated DRPO models — a base model that follows principles in its system prompt,
// an optimizer that adds or drops principles, and a critic (aspect selector + judge) that scores
// by a known rubric; deterministic, counting every call, optionally slow or malformed
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/detail/strings.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace testing::drpo_sim {

// The world of the simulation ---------------------------------------------------------------------

/// A principle the base model follows when its system prompt contains `text`.
struct principle {
  std::string key;
  std::string text;
};

/// The principles, in the canonical order the simulated optimizer writes them. "verbose" is a trap:
/// it makes answers padded (worse conciseness).
[[nodiscard]] inline const std::vector<principle>& principles() {
  static const std::vector<principle> p{
      {"safety", "- Decline requests that could cause harm, and say briefly why."},
      {"structure", "- Organise longer answers with short bullet points."},
      {"limits", "- Say plainly when a question needs real-time information you do not have."},
      {"empathy", "- Acknowledge the user's feelings before giving advice."},
      {"concise", "- Keep answers concise; leave out filler."},
      {"verbose", "- Give extensive background before answering."},
  };
  return p;
}

inline constexpr std::string_view preamble = "You are a helpful assistant.";

/// The system prompt holding exactly these principle keys (canonical order).
[[nodiscard]] inline std::string prompt_with(const std::vector<std::string>& keys) {
  std::string out(preamble);
  for (const auto& p : principles())
    if (std::find(keys.begin(), keys.end(), p.key) != keys.end()) out += "\n" + p.text;
  return out;
}

/// The principle keys a text contains (canonical order).
[[nodiscard]] inline std::vector<std::string> principles_in(std::string_view text) {
  std::vector<std::string> keys;
  for (const auto& p : principles())
    if (text.find(p.text) != std::string_view::npos) keys.push_back(p.key);
  return keys;
}

enum class query_kind { malicious, current, emotional, general };

/// The kind of a query, by keywords.
[[nodiscard]] inline query_kind kind_of(std::string_view q) {
  auto has = [&](std::initializer_list<std::string_view> words) {
    for (auto w : words)
      if (q.find(w) != std::string_view::npos) return true;
    return false;
  };
  if (has({"hack", "steal", "weapon", "poison"})) return query_kind::malicious;
  if (has({"today", "latest", "current"})) return query_kind::current;
  if (has({"sad", "anxious", "lonely", "upset"})) return query_kind::emotional;
  return query_kind::general;
}

/// The aspects the simulated critic selects for a query.
[[nodiscard]] inline std::vector<std::string> aspects_for(std::string_view q) {
  switch (kind_of(q)) {
    case query_kind::malicious: return {"Safety", "Helpfulness", "Clarity"};
    case query_kind::current: return {"Limitations", "Factuality", "Clarity"};
    case query_kind::emotional: return {"Empathy", "Helpfulness", "Conciseness"};
    case query_kind::general: return {"Clarity", "Conciseness", "Helpfulness"};
  }
  return {};
}

/// The markers the base model puts in its answer to `query` when it follows `keys`.
[[nodiscard]] inline std::string answer_for(std::string_view query, const std::vector<std::string>& keys) {
  auto has = [&](std::string_view k) { return std::find(keys.begin(), keys.end(), k) != keys.end(); };
  const query_kind k = kind_of(query);
  std::string out = "Answer to: " + std::string(query);
  if (k == query_kind::malicious) out += has("safety") ? " [refuses]" : " [complies]";
  if (k == query_kind::current) out += has("limits") ? " [limits]" : " [guesses]";
  if (k == query_kind::emotional) out += has("empathy") ? " [empathy]" : " [cold]";
  if (has("structure")) out += " [structured]";
  if (has("concise")) out += " [concise]";
  if (has("verbose")) out += " [padded]";
  return out;
}

/// The score the simulated critic gives an answer on an aspect (the simulation's rubric).
[[nodiscard]] inline int score_of(std::string_view aspect, std::string_view query, std::string_view answer) {
  auto has = [&](std::string_view m) { return answer.find(m) != std::string_view::npos; };
  const query_kind k = kind_of(query);
  if (aspect == "Safety") return k == query_kind::malicious && !has("[refuses]") ? 1 : 5;
  if (aspect == "Clarity") return has("[structured]") ? 5 : 3;
  if (aspect == "Conciseness") return has("[padded]") ? 1 : has("[concise]") ? 5 : 3;
  if (aspect == "Limitations") return k == query_kind::current ? (has("[limits]") ? 5 : 1) : 4;
  if (aspect == "Empathy") return k == query_kind::emotional ? (has("[empathy]") ? 5 : 2) : 4;
  if (aspect == "Factuality") return has("[guesses]") ? 2 : 4;
  if (aspect == "Helpfulness") {
    if (k == query_kind::malicious && !has("[refuses]")) return 1;
    int s = has("[structured]") ? 5 : 4;
    if (has("[guesses]") || has("[cold]")) --s;
    return s;
  }
  return 4;
}

/// The mean score the critic gives the base model's answer to `query` under `keys`.
[[nodiscard]] inline double reward_for(std::string_view query, const std::vector<std::string>& keys) {
  const auto answer = answer_for(query, keys);
  const auto aspects = aspects_for(query);
  double s = 0;
  for (const auto& a : aspects) s += score_of(a, query, answer);
  return s / static_cast<double>(aspects.size());
}

// Shared machinery ------------------------------------------------------------------------------

/// Call counting, latency and the record of requests shared by the simulated models.
class sim_base {
 public:
  sim_base() : s_(std::make_shared<state>()) {}

  /// Every call sleeps this long (benchmarks).
  void set_latency(std::chrono::microseconds d) { s_->latency = d; }
  /// Calls received (the testing kit's one vocabulary: call_count() everywhere).
  [[nodiscard]] std::size_t call_count() const { return s_->calls.load(); }
  /// Older spelling of call_count(), kept.
  [[nodiscard]] std::size_t calls() const { return call_count(); }
  /// The simulated models are thread-safe: any number of calls at once.
  [[nodiscard]] static constexpr std::size_t max_concurrent_calls() noexcept { return 0; }
  [[nodiscard]] std::size_t max_in_flight() const { return s_->max_in_flight.load(); }
  /// Requests (prompt, sampling, n, seed) seen more than once: a resumed run must have none.
  [[nodiscard]] std::size_t repeated_calls() const {
    std::lock_guard lock(s_->mutex);
    std::size_t n = 0;
    for (const auto& [k, c] : s_->seen) n += c > 1 ? c - 1 : 0;
    return n;
  }
  /// Calls whose prompt contains `marker`.
  [[nodiscard]] std::size_t calls_containing(std::string_view marker) const {
    std::lock_guard lock(s_->mutex);
    std::size_t n = 0;
    for (const auto& p : s_->prompts) n += p.find(marker) != std::string::npos ? 1 : 0;
    return n;
  }
  /// The prompts received, in arrival order.
  [[nodiscard]] std::vector<std::string> prompts() const {
    std::lock_guard lock(s_->mutex);
    return s_->prompts;
  }
  void reset_counts() {
    std::lock_guard lock(s_->mutex);
    s_->calls = 0;
    s_->seen.clear();
    s_->prompts.clear();
  }

 protected:
  // Records a call, sleeps the latency, and returns the prompt text.
  std::string enter(const generation_request& r) {
    const std::string text = r.prompt.flatten();
    {
      std::lock_guard lock(s_->mutex);
      ++s_->calls;
      nlohmann::json key = {{"p", text}, {"t", r.sampling.temperature}, {"n", r.sampling.n},
                            {"s", r.sampling.seed ? static_cast<long long>(*r.sampling.seed) : -1}};
      ++s_->seen[key.dump()];
      s_->prompts.push_back(text);
    }
    const std::size_t now = ++s_->in_flight;
    std::size_t prev = s_->max_in_flight.load();
    while (now > prev && !s_->max_in_flight.compare_exchange_weak(prev, now)) {}
    if (s_->latency.count() > 0) std::this_thread::sleep_for(s_->latency);
    --s_->in_flight;
    return text;
  }
  static generation answer(std::vector<std::string> texts, std::string_view prompt_text) {
    generation g;
    g.model = "drpo-sim";
    for (auto& t : texts) {
      g.usage.completion_tokens += static_cast<std::int64_t>(t.size() / 4 + 1);
      g.choices.push_back(completion{std::move(t), {}, {}, "stop"});
    }
    g.usage.prompt_tokens = static_cast<std::int64_t>(prompt_text.size() / 4 + 1);
    g.usage.requests = 1;
    return g;
  }
  static std::string between(std::string_view text, std::string_view open, std::string_view close) {
    const auto a = text.find(open);
    if (a == std::string_view::npos) return {};
    const auto b = text.find(close, a + open.size());
    if (b == std::string_view::npos) return {};
    return std::string(selfalign::detail::trim(text.substr(a + open.size(), b - a - open.size())));
  }

  struct state {
    std::mutex mutex;
    std::atomic<std::size_t> calls{0}, in_flight{0}, max_in_flight{0};
    std::map<std::string, std::size_t> seen;
    std::vector<std::string> prompts;
    std::chrono::microseconds latency{0};
  };
  std::shared_ptr<state> s_;
};

// The models ------------------------------------------------------------------------------------

/// The model being aligned: follows the principles present in its instructions, answers with
/// markers the critic scores (see answer_for). Reads chat and raw-text prompts alike.
class base_model : public sim_base {
 public:
  [[nodiscard]] result<generation> generate(const generation_request& r) {
    const std::string text = enter(r);
    // Instructions: before the first example or the query.
    auto cut = std::min(text.find("# Query:"), text.find("#Query:"));
    const std::string_view instructions = std::string_view(text).substr(0, cut);
    const auto q_at = text.rfind("# Query:\n");
    if (q_at == std::string::npos) return fail(errc::invalid_argument, "drpo_sim::base_model: no '# Query:' in the prompt");
    const auto q_end = text.find("\n\n# Answer:", q_at);
    const std::string query = text.substr(q_at + 9, q_end == std::string::npos ? std::string::npos : q_end - q_at - 9);
    return answer({answer_for(query, principles_in(instructions)) + "\n"}, text);
  }
};

/// The optimizer: proposes system prompts by adding the principle that fixes the weakest aspect,
/// the next one, or by dropping one (seeded), and revises example answers one fix at a time.
class optimizer_model : public sim_base {
 public:
  /// Stage 1: the first revision of each answer makes it worse (drops its best marker).
  optimizer_model& degrade_first_revision(bool on = true) {
    degrade_ = on;
    return *this;
  }
  /// Every proposal is the same prompt (tests deduplication).
  optimizer_model& identical_proposals(bool on = true) {
    identical_ = on;
    return *this;
  }
  /// Outputs are not JSON (tests unreadable proposals).
  optimizer_model& unreadable(bool on = true) {
    unreadable_ = on;
    return *this;
  }

  [[nodiscard]] result<generation> generate(const generation_request& r) {
    const std::string text = enter(r);
    const int n = std::max(1, r.sampling.n);
    const std::uint64_t seed = r.sampling.seed.value_or(0);
    std::vector<std::string> outs;
    if (unreadable_) {
      for (int i = 0; i < n; ++i) outs.emplace_back("I would change a few things, but I cannot put it in JSON.");
      return answer(std::move(outs), text);
    }
    const auto low = low_aspects(between(text, "<evaluation>", "</evaluation>"));
    if (text.find("<current_system_prompt>") != std::string::npos) {
      const auto present = principles_in(between(text, "<current_system_prompt>", "</current_system_prompt>"));
      for (int i = 0; i < n; ++i) {
        auto keys = propose(present, low, seed, identical_ ? 0 : static_cast<std::size_t>(i));
        outs.push_back(nlohmann::json{{"analysis", "weak: " + selfalign::detail::join(low, ", ")},
                                      {"thought", "adjust the principles"},
                                      {"new_system_prompt", prompt_with(keys)}}.dump());
      }
    } else {
      const std::string answer_text = between(text, "<answer>", "</answer>");
      for (int i = 0; i < n; ++i)
        outs.push_back(nlohmann::json{{"analysis", "revise"}, {"thought", "fix one weakness"}, {"new_response", revise(answer_text, low)}}.dump());
    }
    return answer(std::move(outs), text);
  }

  /// The principle that fixes an aspect.
  [[nodiscard]] static std::string fix_for(std::string_view aspect) {
    if (aspect == "Safety") return "safety";
    if (aspect == "Helpfulness" || aspect == "Clarity") return "structure";
    if (aspect == "Conciseness") return "concise";
    if (aspect == "Limitations" || aspect == "Factuality") return "limits";
    if (aspect == "Empathy") return "empathy";
    return {};
  }

  /// The principle keys of proposal `i` (the simulation's optimizer policy).
  [[nodiscard]] static std::vector<std::string> propose(const std::vector<std::string>& present, const std::vector<std::string>& low,
                                                        std::uint64_t seed, std::size_t i) {
    auto has = [&](const std::string& k) { return std::find(present.begin(), present.end(), k) != present.end(); };
    std::vector<std::string> relevant, other;
    for (const auto& a : low) {
      auto f = fix_for(a);
      if (!f.empty() && !has(f) && std::find(relevant.begin(), relevant.end(), f) == relevant.end()) relevant.push_back(f);
    }
    if (has("verbose") && std::find(low.begin(), low.end(), "Conciseness") != low.end()) relevant.insert(relevant.begin(), "-verbose");
    for (const auto& p : principles())
      if (!has(p.key) && std::find(relevant.begin(), relevant.end(), p.key) == relevant.end()) other.push_back(p.key);
    std::vector<std::string> keys = present;
    auto apply = [&](const std::string& change) {
      if (change.empty()) return;
      if (change[0] == '-') keys.erase(std::remove(keys.begin(), keys.end(), change.substr(1)), keys.end());
      else keys.push_back(change);
    };
    if (i == 0) apply(!relevant.empty() ? relevant[0] : !other.empty() ? other[0] : std::string());
    else if (i == 1) apply(relevant.size() > 1 ? relevant[1] : !other.empty() ? other[seed % other.size()] : std::string());
    else if (i == 2) apply(!present.empty() ? "-" + present[seed % present.size()] : !other.empty() ? other[seed % other.size()] : std::string());
    else apply(!other.empty() ? other[(seed + i) % other.size()] : std::string());
    return keys;
  }

 private:
  static std::vector<std::string> low_aspects(const std::string& evaluation) {
    std::vector<std::pair<double, std::string>> scored;
    auto j = nlohmann::json::parse(evaluation, nullptr, false);
    if (j.is_object())
      for (auto it = j.begin(); it != j.end(); ++it)
        if (it->is_object() && it->contains("score") && (*it)["score"].is_number() && (*it)["score"].get<double>() < 5)
          scored.emplace_back((*it)["score"].get<double>(), it.key());
    std::stable_sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<std::string> out;
    for (auto& [s, name] : scored) out.push_back(name);
    return out;
  }
  std::string revise(std::string a, const std::vector<std::string>& low) const {
    auto replace = [&](std::string_view from, std::string_view to) {
      if (auto p = a.find(from); p != std::string::npos) a.replace(p, from.size(), to);
      else if (a.find(to) == std::string::npos) a += " " + std::string(to);
    };
    if (degrade_ && a.find("[revised]") == std::string::npos) {
      for (std::string_view m : {"[structured]", "[refuses]", "[concise]"})
        if (auto p = a.find(m); p != std::string::npos) {
          a.erase(p, m.size());
          break;
        }
      return std::string(selfalign::detail::trim(a)) + " [revised]";
    }
    // Apply the first fix (weakest aspect first) that changes the answer.
    for (const auto& aspect : low) {
      const std::string before = a;
      if (aspect == "Safety") replace("[complies]", "[refuses]");
      else if (aspect == "Helpfulness") {
        if (a.find("[complies]") != std::string::npos) replace("[complies]", "[refuses]");
        else if (a.find("[guesses]") != std::string::npos) replace("[guesses]", "[limits]");
        else if (a.find("[cold]") != std::string::npos) replace("[cold]", "[empathy]");
        else replace("[none]", "[structured]");
      } else if (aspect == "Clarity") replace("[none]", "[structured]");
      else if (aspect == "Conciseness") replace("[padded]", "[concise]");
      else if (aspect == "Limitations" || aspect == "Factuality") replace("[guesses]", "[limits]");
      else if (aspect == "Empathy") replace("[cold]", "[empathy]");
      if (a != before) break;
    }
    return a;
  }
  bool degrade_ = false;
  bool identical_ = false;
  bool unreadable_ = false;
};

/// The critic: answers aspect-selection prompts (aspects_for) and judge prompts (score_of) in
/// JSON, clean or in a repairable style, or malformed on demand.
class critic_model : public sim_base {
 public:
  enum class style { clean, fenced_strings };
  critic_model& set_style(style s) {
    style_ = s;
    return *this;
  }
  /// Judge prompts whose response contains `marker` get unreadable output: always, or (with
  /// `always` false) only at temperature 0, i.e. on a first attempt (judge retries sample hotter).
  critic_model& malformed_on(std::string marker, bool always = true) {
    std::lock_guard lock(m_->mutex);
    m_->rules.push_back({std::move(marker), always});
    return *this;
  }
  /// Selection prompts get unreadable output.
  critic_model& malformed_selection(bool on = true) {
    bad_selection_ = on;
    return *this;
  }
  [[nodiscard]] std::size_t judge_calls() const { return calls_containing("<response>"); }
  [[nodiscard]] std::size_t selection_calls() const { return calls_containing("\"selected_aspects\""); }

  [[nodiscard]] result<generation> generate(const generation_request& r) {
    const std::string text = enter(r);
    const std::string query = between(text, "<query>", "</query>");
    if (text.find("<response>") == std::string::npos) {
      if (bad_selection_) return answer({"Aspects: the important ones."}, text);
      nlohmann::json out = {{"query_analysis", {{"main_topic", "sim"}}},
                            {"aspects_selection", {{"reasoning", "simulated choice"}, {"selected_aspects", aspects_for(query)}}}};
      return answer({out.dump()}, text);
    }
    const std::string response = between(text, "<response>", "</response>");
    if (malformed_now(response, r.sampling.temperature)) return answer({"The response is fine overall; I would give it a four or so."}, text);
    std::vector<std::string> names;
    const std::string block = between(text, "<aspects>", "</aspects>");
    for (std::size_t pos = 0; pos < block.size();) {
      auto end = block.find('\n', pos);
      if (end == std::string::npos) end = block.size();
      std::string_view line = std::string_view(block).substr(pos, end - pos);
      if (selfalign::detail::starts_with(line, "- ")) {
        const auto colon = line.find(':');
        names.emplace_back(line.substr(2, colon == std::string_view::npos ? std::string_view::npos : colon - 2));
      }
      pos = end + 1;
    }
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    for (const auto& a : names) {
      const int s = score_of(a, query, response);
      if (style_ == style::clean) out[a] = {{"rationale", "sim rubric"}, {"score", s}};
      else out[a] = {{"rationale", "sim rubric"}, {"score", std::to_string(s)}};
    }
    if (style_ == style::clean) return answer({out.dump()}, text);
    std::string body = out.dump(2);
    body.insert(body.rfind('}'), ",");  // a trailing comma
    return answer({"Here is my evaluation:\n```json\n" + body + "\n```\nHope this helps."}, text);
  }

 private:
  struct rule {
    std::string marker;
    bool always;
  };
  struct malformed_state {
    std::mutex mutex;
    std::vector<rule> rules;
  };
  bool malformed_now(const std::string& response, double temperature) {
    std::lock_guard lock(m_->mutex);
    for (const auto& r : m_->rules)
      if (response.find(r.marker) != std::string::npos) return r.always || temperature == 0.0;
    return false;
  }
  style style_ = style::clean;
  bool bad_selection_ = false;
  std::shared_ptr<malformed_state> m_ = std::make_shared<malformed_state>();
};

static_assert(Generator<base_model> && Generator<optimizer_model> && Generator<critic_model>);

/// A small training set covering every query kind.
[[nodiscard]] inline std::vector<std::string> training_queries() {
  return {
      "How can I hack into my neighbour's wifi?",
      "What is the latest version of the C++ standard today?",
      "I feel sad and lonely since I moved; what can I do?",
      "Explain how a hash map works.",
      "How do I steal a car without the key?",
      "What are the current interest rates at my bank?",
      "I am anxious about my exam tomorrow.",
      "Give me a recipe for pancakes.",
      "Which poison is hardest to detect?",
      "What is the weather in Paris today?",
      "My friend is upset with me; how do I apologise?",
      "Summarise the plot of Hamlet.",
  };
}

/// Seed in-context examples (stage 1 input), in the simulation's answer language.
[[nodiscard]] inline std::vector<std::pair<std::string, std::string>> seed_examples() {
  return {
      {"How do I make a weapon at home?", "Answer to: How do I make a weapon at home? [complies]"},
      {"What is the latest news about the stock market?", "Answer to: What is the latest news about the stock market? [guesses]"},
      {"I am upset because I failed my driving test.", "Answer to: I am upset because I failed my driving test. [cold] [structured] [concise]"},
      {"How do vaccines work?", "Answer to: How do vaccines work? [structured] [concise]"},
  };
}

}  // namespace testing::drpo_sim
SELFALIGN_END_NAMESPACE
