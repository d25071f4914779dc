// selfalign: rain_sim_model — a simulated token-level model for RAIN tests and benchmarks: a
// controllable next-token distribution over a small vocabulary, seeded sampling, top-k logprobs,
// stop strings, a tokenizer, and an answer to the A/B self-evaluation question
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/capabilities.hpp>
#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/seed.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace testing {

struct rain_sim_options {
  /// The generated part of a prompt is the text after the last occurrence of this marker.
  std::string generation_marker = "Assistant:";
  bool token_ids = true;           ///< report token-id prompts and a tokenizer in capabilities()
  bool tokenize = true;            ///< report tokenize/detokenize in capabilities()
  bool raw_text = true;            ///< report raw-text prompts in capabilities()
  int max_top_logprobs = 20;
  /// Accept several prompts in one request (generate_multi), as vLLM, SGLang and llama.cpp do on
  /// /v1/completions. Off: capabilities() says max_prompts = 1, so every prompt is its own request.
  bool multi_prompt = false;
  std::string server = "rain-sim";
  // Cost model for benchmarks: each request sleeps request_latency + token_latency * (tokens of
  // its longest choice); n choices decode in parallel, as on a batching server.
  std::chrono::microseconds request_latency{0};
  std::chrono::microseconds token_latency{0};
  // Self-evaluation behaviour: a prompt ending with eval_stem is an A/B question. The response
  // (after the last generation marker, before "Options:") is harmful when it contains a marker.
  std::string eval_stem = "The answer is: (";
  std::vector<std::string> harmful_markers;
  std::string good_option = "harmless";
  std::string bad_option = "harmful";
  double eval_confidence = 0.9;    ///< probability the model gives the right label
  double position_bias = 0.0;      ///< logit added to whichever label is listed first
};

/// A simulated model. Scripts map prompts (by a key substring) to weighted token sequences: at any
/// point of a generation the next-token distribution is the weight of the sequences consistent
/// with the text so far, split by their next token (a sequence that ends contributes to EOS).
/// Text that leaves every sequence ends the generation (EOS with probability 1). Prompts may be raw
/// text or token ids. Copies share the vocabulary, scripts and counters.
class rain_sim_model {
 public:
  static constexpr token_id eos_id = 0;
  static constexpr const char* eos_text = "</s>";

  explicit rain_sim_model(rain_sim_options options = {}) : s_(std::make_shared<state>()) {
    s_->o = std::move(options);
    s_->vocab.emplace_back(eos_text);
    for (int c = 1; c < 128; ++c) add_token(std::string(1, static_cast<char>(c)));
  }

  /// Prompts containing `key` continue with one of `sequences` (token texts, weight).
  rain_sim_model& script(std::string key, std::vector<std::pair<std::vector<std::string>, double>> sequences) {
    std::lock_guard lock(s_->mutex);
    for (const auto& [seq, w] : sequences)
      for (const auto& t : seq) add_token(t);
    s_->scripts.push_back({std::move(key), std::move(sequences)});
    return *this;
  }

  [[nodiscard]] selfalign::capabilities capabilities() const {
    selfalign::capabilities c;
    c.raw_text = s_->o.raw_text;
    c.token_ids = s_->o.token_ids;
    c.tokenize = s_->o.tokenize;
    c.max_top_logprobs = s_->o.max_top_logprobs;
    c.server = s_->o.server;
    c.max_concurrent_calls = 0;  // thread-safe
    c.max_prompts = s_->o.multi_prompt ? -1 : 1;
    return c;
  }

  [[nodiscard]] result<std::vector<token_id>> tokenize(std::string_view text, bool add_special) const {
    std::vector<token_id> out;
    if (add_special) {}  // no BOS in this vocabulary
    std::size_t i = 0;
    while (i < text.size()) {
      std::size_t best_len = 0;
      token_id best = -1;
      for (std::size_t len = std::min(s_->max_len, text.size() - i); len > 0; --len) {
        auto it = s_->ids.find(text.substr(i, len));
        if (it != s_->ids.end()) {
          best = it->second;
          best_len = len;
          break;
        }
      }
      if (best < 0) return fail(errc::invalid_argument, "rain_sim_model: a byte outside the vocabulary");
      out.push_back(best);
      i += best_len;
    }
    return out;
  }

  [[nodiscard]] result<std::string> detokenize(std::span<const token_id> ids) const {
    std::string s;
    for (token_id id : ids) {
      if (id == eos_id) continue;
      if (id < 0 || static_cast<std::size_t>(id) >= s_->vocab.size())
        return fail(errc::invalid_argument, "rain_sim_model: unknown token id " + std::to_string(id));
      s += s_->vocab[static_cast<std::size_t>(id)];
    }
    return s;
  }

  [[nodiscard]] result<generation> generate(const generation_request& req) {
    std::size_t longest = 0;
    auto g = answer(req, longest);
    if (!g) return g;
    g->usage.requests = 1;
    charge(longest);
    return g;
  }

  /// Several prompts in one request (MultiPromptGenerator; used when rain_sim_options::multi_prompt
  /// is set): each answer is what generate() gives for its request, the whole call counts as ONE
  /// request (the first answer's usage carries requests = 1) and costs the request latency once
  /// plus the token latency of the longest choice over all prompts (they decode in parallel, as n
  /// choices do).
  [[nodiscard]] result<std::vector<generation>> generate_multi(std::span<const generation_request> reqs) {
    std::vector<generation> out;
    std::size_t longest = 0;
    for (const auto& r : reqs) {
      std::size_t l = 0;
      auto g = answer(r, l);
      if (!g) return unexpected(g.error());
      longest = std::max(longest, l);
      g->usage.requests = out.empty() ? 1 : 0;
      out.push_back(std::move(*g));
    }
    s_->multi_requests.fetch_add(1);
    charge(longest);
    return out;
  }

 private:
  // The answer to one request, without counting or latency; `longest` gets its longest choice.
  [[nodiscard]] result<generation> answer(const generation_request& req, std::size_t& longest) const {
    std::string prompt_text;
    if (req.prompt.is_tokens()) {
      if (!s_->o.token_ids) return fail(errc::unsupported, "rain_sim_model: token-id prompts are switched off");
      auto t = detokenize(req.prompt.token_ids());
      if (!t) return unexpected(t.error());
      prompt_text = *t;
    } else if (req.prompt.is_text()) {
      if (!s_->o.raw_text) return fail(errc::unsupported, "rain_sim_model: raw-text prompts are switched off");
      prompt_text = req.prompt.raw_text();
    } else {
      prompt_text = req.prompt.flatten();
    }
    generation g;
    g.model = "rain-sim";
    const int n = std::max(1, req.sampling.n);
    for (int i = 0; i < n; ++i) {
      completion c = sample_one(prompt_text, req.sampling, static_cast<std::uint64_t>(i));
      longest = std::max(longest, c.token_ids.size());
      g.usage.completion_tokens += static_cast<std::int64_t>(c.token_ids.size());
      g.choices.push_back(std::move(c));
    }
    auto pt = tokenize(prompt_text, false);
    g.usage.prompt_tokens = pt ? static_cast<std::int64_t>(pt->size()) : 0;
    s_->completion_tokens.fetch_add(g.usage.completion_tokens);
    return g;
  }

  // Counts one request and sleeps its latency.
  void charge(std::size_t longest) const {
    s_->requests.fetch_add(1);
    s_->generated.fetch_add(static_cast<std::int64_t>(longest));
    const auto delay = s_->o.request_latency + s_->o.token_latency * static_cast<long>(longest);
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
  }

 public:

  /// Requests answered so far (a multi-prompt request counts once).
  [[nodiscard]] std::int64_t requests() const noexcept { return s_->requests.load(); }
  /// Multi-prompt requests among them.
  [[nodiscard]] std::int64_t multi_requests() const noexcept { return s_->multi_requests.load(); }
  /// The same count in the testing kit's one vocabulary (call_count() everywhere).
  [[nodiscard]] std::size_t call_count() const noexcept { return static_cast<std::size_t>(s_->requests.load()); }
  /// Tokens of the longest choice per request, summed (what the latency model charges).
  [[nodiscard]] std::int64_t charged_tokens() const noexcept { return s_->generated.load(); }
  /// All generated tokens over all choices.
  [[nodiscard]] std::int64_t completion_tokens() const noexcept { return s_->completion_tokens.load(); }
  void reset_counters() noexcept {
    s_->requests = 0;
    s_->generated = 0;
    s_->completion_tokens = 0;
    s_->multi_requests = 0;
  }

  /// The next-token distribution after `text` (token id, probability), for tests.
  [[nodiscard]] std::vector<std::pair<token_id, double>> distribution(std::string_view text) const {
    return next_distribution(text);
  }

 private:
  struct script_t {
    std::string key;
    std::vector<std::pair<std::vector<std::string>, double>> sequences;
  };
  struct state {
    std::mutex mutex;
    rain_sim_options o;
    std::vector<std::string> vocab;
    std::map<std::string, token_id, std::less<>> ids;
    std::size_t max_len = 1;
    std::vector<script_t> scripts;
    std::atomic<std::int64_t> requests{0}, generated{0}, completion_tokens{0}, multi_requests{0};
  };

  void add_token(const std::string& t) {
    if (t.empty() || s_->ids.count(t)) return;
    s_->ids[t] = static_cast<token_id>(s_->vocab.size());
    s_->vocab.push_back(t);
    s_->max_len = std::max(s_->max_len, t.size());
  }

  [[nodiscard]] token_id id_of(const std::string& t) const {
    auto it = s_->ids.find(t);
    return it == s_->ids.end() ? -1 : it->second;
  }

  // The next-token distribution after the full text (prompt + generated so far).
  [[nodiscard]] std::vector<std::pair<token_id, double>> next_distribution(std::string_view text) const {
    const auto& o = s_->o;
    if (!o.eval_stem.empty() && text.size() >= o.eval_stem.size() &&
        text.substr(text.size() - o.eval_stem.size()) == o.eval_stem)
      return eval_distribution(text);
    const script_t* sc = nullptr;
    for (const auto& s : s_->scripts)
      if (text.find(s.key) != std::string_view::npos) {
        sc = &s;
        break;
      }
    const auto m = text.rfind(o.generation_marker);
    if (!sc || m == std::string_view::npos) return {{eos_id, 1.0}};
    std::string_view rest = text.substr(m + o.generation_marker.size());
    std::vector<std::size_t> active;
    for (std::size_t i = 0; i < sc->sequences.size(); ++i) active.push_back(i);
    for (std::size_t d = 0;; ++d) {
      if (rest.empty()) {
        std::vector<std::pair<token_id, double>> out;
        double total = 0;
        for (std::size_t i : active) total += sc->sequences[i].second;
        auto add = [&](token_id id, double w) {
          for (auto& [k, v] : out)
            if (k == id) {
              v += w;
              return;
            }
          out.emplace_back(id, w);
        };
        for (std::size_t i : active) {
          const auto& [seq, w] = sc->sequences[i];
          add(d < seq.size() ? id_of(seq[d]) : eos_id, w / total);
        }
        return out.empty() ? std::vector<std::pair<token_id, double>>{{eos_id, 1.0}} : out;
      }
      // The longest next token that the remaining text starts with.
      std::string best;
      for (std::size_t i : active) {
        const auto& seq = sc->sequences[i].first;
        if (d < seq.size() && rest.substr(0, seq[d].size()) == seq[d] && seq[d].size() > best.size()) best = seq[d];
      }
      if (best.empty()) return {{eos_id, 1.0}};
      std::vector<std::size_t> keep;
      for (std::size_t i : active)
        if (d < sc->sequences[i].first.size() && sc->sequences[i].first[d] == best) keep.push_back(i);
      active = std::move(keep);
      rest.remove_prefix(best.size());
    }
  }

  [[nodiscard]] std::vector<std::pair<token_id, double>> eval_distribution(std::string_view text) const {
    const auto& o = s_->o;
    const auto opt = text.rfind("Options:");
    const auto gen = text.rfind(o.generation_marker, opt);
    std::string_view response;
    if (opt != std::string_view::npos && gen != std::string_view::npos)
      response = text.substr(gen + o.generation_marker.size(), opt - gen - o.generation_marker.size());
    bool harmful = false;
    for (const auto& mk : o.harmful_markers)
      if (!mk.empty() && response.find(mk) != std::string_view::npos) harmful = true;
    std::string_view options = opt == std::string_view::npos ? std::string_view{} : text.substr(opt);
    auto label_for = [&](const std::string& option) -> std::pair<std::string, std::size_t> {
      // "(X) option" followed by a space, newline or end.
      for (std::size_t p = options.find(") " + option); p != std::string_view::npos;
           p = options.find(") " + option, p + 1)) {
        const std::size_t end = p + 2 + option.size();
        if (end < options.size() && options[end] != ' ' && options[end] != '\n') continue;
        const auto open = options.rfind('(', p);
        if (open == std::string_view::npos) continue;
        return {std::string(options.substr(open + 1, p - open - 1)), open};
      }
      return {"", std::string_view::npos};
    };
    const auto [good, good_pos] = label_for(o.good_option);
    const auto [bad, bad_pos] = label_for(o.bad_option);
    const token_id gid = id_of(good), bid = id_of(bad);
    if (gid < 0 || bid < 0) return {{id_of("I"), 1.0}};
    double lg = std::log(harmful ? 1.0 - o.eval_confidence : o.eval_confidence);
    double lb = std::log(harmful ? o.eval_confidence : 1.0 - o.eval_confidence);
    (good_pos < bad_pos ? lg : lb) += o.position_bias;
    const double m = std::max(lg, lb);
    const double pg = std::exp(lg - m), pb = std::exp(lb - m);
    return {{gid, pg / (pg + pb)}, {bid, pb / (pg + pb)}};
  }

  completion sample_one(const std::string& prompt_text, const sampling& sp, std::uint64_t choice) const {
    completion c;
    std::uint64_t rng = derive_seed(sp.seed.value_or(0), "rain_sim", choice);
    auto uniform = [&rng] {
      rng += 0x9e3779b97f4a7c15ULL;
      std::uint64_t z = rng;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      z ^= z >> 31;
      return static_cast<double>(z >> 11) * (1.0 / 9007199254740992.0);
    };
    std::string text = prompt_text;
    std::string generated;
    c.finish_reason = "length";
    for (int step = 0; step < std::max(0, sp.max_tokens); ++step) {
      auto dist = next_distribution(text);
      for (auto& [id, p] : dist)
        if (auto b = sp.logit_bias.find(id); b != sp.logit_bias.end()) p *= std::exp(b->second);
      double total = 0;
      for (const auto& [id, p] : dist) total += p;
      for (auto& [id, p] : dist) p /= total;
      // Best first, ties by id: the order of top alternatives and of top-k truncation.
      std::stable_sort(dist.begin(), dist.end(), [](const auto& a, const auto& b) {
        return a.second > b.second || (a.second == b.second && a.first < b.first);
      });
      std::size_t pick = 0;
      if (sp.temperature > 0) {
        std::size_t k = dist.size();
        if (sp.top_k > 0) k = std::min(k, static_cast<std::size_t>(sp.top_k));
        std::vector<double> w(k);
        double s = 0;
        for (std::size_t i = 0; i < k; ++i) s += (w[i] = std::pow(dist[i].second, 1.0 / sp.temperature));
        double r = uniform() * s;
        pick = k - 1;
        for (std::size_t i = 0; i < k; ++i) {
          if (r < w[i]) {
            pick = i;
            break;
          }
          r -= w[i];
        }
      }
      const token_id id = dist[pick].first;
      const std::string piece = id == eos_id ? std::string(eos_text) : s_->vocab[static_cast<std::size_t>(id)];
      if (sp.logprobs >= 0) {
        token_logprob t{piece, id, std::log(dist[pick].second), {}};
        for (std::size_t i = 0; i < dist.size() && static_cast<int>(i) < sp.logprobs; ++i) {
          const token_id a = dist[i].first;
          t.top.push_back({a == eos_id ? std::string(eos_text) : s_->vocab[static_cast<std::size_t>(a)], a,
                           std::log(dist[i].second)});
        }
        c.tokens.push_back(std::move(t));
      }
      c.token_ids.push_back(id);
      if (id == eos_id) {
        c.finish_reason = "stop";
        break;
      }
      text += piece;
      generated += piece;
      bool stopped = false;
      for (const auto& st : sp.stop) {
        const auto p = st.empty() ? std::string::npos : generated.find(st);
        if (p == std::string::npos) continue;
        generated.resize(sp.include_stop ? p + st.size() : p);
        stopped = true;
      }
      if (stopped) {
        c.finish_reason = "stop";
        break;
      }
    }
    c.text = generated;
    return c;
  }

  std::shared_ptr<state> s_;
};

static_assert(Generator<rain_sim_model> && Tokenizer<rain_sim_model> && MultiPromptGenerator<rain_sim_model>);

}  // namespace testing
SELFALIGN_END_NAMESPACE
