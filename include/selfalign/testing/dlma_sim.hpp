// selfalign: dlma_sim — a simulated scoring model with known, prompt-dependent token log-probs
// SPDX-License-Identifier: MIT
#pragma once

// For testing DLMA (and anything else that scores continuations) without a server. Everything
// it does is a small documented formula, so a test can recompute every number independently:
//
// Tokenizer: text is cut into pieces, left to right: a configured merge string (longest first)
//   if one starts here; else a run of ASCII letters/digits (bytes >= 0x80 count as letters, so
//   UTF-8 stays whole); else one byte. tokenize(text, true) prepends the BOS id 0 (text "").
//   Piece ids are 1 + FNV-1a(piece) mod 2^30.
// Log-probabilities: log p(piece | prompt) = base_logprob(piece) + the sum of the deltas of
//   every affinity(marker, piece, delta) whose marker occurs in the prompt's text, where
//   base_logprob(piece) = -0.5 - 0.25 * bytes(piece). Independent of the position.
// Sampling: the first answer rule whose marker occurs in the prompt answers with
//   answers[seed % answers.size()] (seed 0 when absent), cut to max_tokens pieces
//   (finish_reason "length") else finish_reason "stop".

#include <selfalign/capabilities.hpp>
#include <selfalign/concepts.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/result.hpp>
#include <selfalign/types.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace testing {

/// Options of dlma_sim.
struct dlma_sim_options {
  bool tokenizer = true;             ///< offer tokenize/detokenize and token-id prompts (capabilities say so)
  std::vector<std::string> merges;   ///< multi-byte pieces, e.g. "\nI" to make a prompt's "\n" merge with "I..."
  bool approximate = false;          ///< flag every scoring approximate (a teacher-forcing backend)
  std::string model = "dlma-sim";    ///< reported model name when the request names none
};

/// A simulated ScoringGenerator + Tokenizer. Copies share rules, vocabulary and call records.
class dlma_sim {
 public:
  explicit dlma_sim(dlma_sim_options options = {}) : s_(std::make_shared<state>()) {
    s_->options = std::move(options);
    std::sort(s_->options.merges.begin(), s_->options.merges.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  }

  /// Prompts containing `marker` are answered with one of `answers`, chosen by the seed.
  dlma_sim& answer(std::string marker, std::vector<std::string> answers) {
    std::lock_guard lock(s_->mutex);
    s_->answer_rules.push_back({std::move(marker), std::move(answers)});
    return *this;
  }
  /// Answers for prompts no rule matches.
  dlma_sim& otherwise(std::vector<std::string> answers) {
    std::lock_guard lock(s_->mutex);
    s_->fallback = std::move(answers);
    return *this;
  }
  /// When the prompt contains `marker`, the piece `piece` gets `delta` added to its log-prob.
  dlma_sim& affinity(std::string marker, std::string piece, double delta) {
    std::lock_guard lock(s_->mutex);
    s_->affinities.push_back({std::move(marker), std::move(piece), delta});
    return *this;
  }

  /// The prompt-independent part of a piece's log-prob.
  [[nodiscard]] static constexpr double base_logprob(std::string_view piece) noexcept {
    return -0.5 - 0.25 * static_cast<double>(piece.size());
  }

  /// The tokenizer's pieces of `text` (no BOS).
  [[nodiscard]] std::vector<std::string> pieces(std::string_view text) const {
    std::vector<std::string> out;
    std::size_t i = 0;
    auto wordish = [](unsigned char c) { return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    while (i < text.size()) {
      bool merged = false;
      for (const auto& m : s_->options.merges) {
        if (!m.empty() && text.substr(i, m.size()) == m) {
          out.emplace_back(m);
          i += m.size();
          merged = true;
          break;
        }
      }
      if (merged) continue;
      std::size_t j = i;
      while (j < text.size() && wordish(static_cast<unsigned char>(text[j]))) ++j;
      if (j == i) j = i + 1;
      out.emplace_back(text.substr(i, j - i));
      i = j;
    }
    return out;
  }

  [[nodiscard]] static constexpr token_id id_of(std::string_view piece) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (char c : piece) {
      h ^= static_cast<unsigned char>(c);
      h *= 0x100000001b3ULL;
    }
    return static_cast<token_id>(1 + (h % (1ULL << 30)));
  }
  static constexpr token_id bos_id = 0;

  // --- Generator ---------------------------------------------------------------------------------
  [[nodiscard]] result<generation> generate(const generation_request& req) {
    ++s_->generate_calls;
    const std::string prompt_text = text_of(req.prompt);
    std::vector<std::string> answers;
    {
      std::lock_guard lock(s_->mutex);
      s_->generate_log.push_back(req);
      for (const auto& r : s_->answer_rules)
        if (prompt_text.find(r.marker) != std::string::npos) {
          answers = r.answers;
          break;
        }
      if (answers.empty()) answers = s_->fallback;
    }
    if (answers.empty())
      return fail(errc::invalid_argument, "dlma_sim: no answer rule matches the prompt: " + prompt_text.substr(0, 120));
    const std::uint64_t seed = req.sampling.seed.value_or(0);
    std::string text = answers[static_cast<std::size_t>(seed % answers.size())];
    std::vector<std::string> ps = pieces(text);
    completion c;
    c.finish_reason = "stop";
    if (req.sampling.max_tokens > 0 && ps.size() > static_cast<std::size_t>(req.sampling.max_tokens)) {
      ps.resize(static_cast<std::size_t>(req.sampling.max_tokens));
      text.clear();
      for (const auto& p : ps) text += p;
      c.finish_reason = "length";
    }
    c.text = text;
    // Asked for logprobs or the generated ids (a server would return them): the pieces' ids, and
    // each piece's log-probability by the documented formula.
    if (req.sampling.logprobs >= 0 || req.sampling.return_token_ids) {
      for (const auto& p : ps) {
        const token_id id = id_of(p);
        {
          std::lock_guard lock(s_->mutex);
          s_->vocab.emplace(id, p);
        }
        if (req.sampling.return_token_ids) c.token_ids.push_back(id);
        if (req.sampling.logprobs >= 0) {
          token_logprob t;
          t.token = p;
          t.id = id;
          t.logprob = logprob_of(p, prompt_text);
          c.tokens.push_back(std::move(t));
        }
      }
    }
    generation g;
    g.model = req.model.empty() ? s_->options.model : req.model;
    g.usage.prompt_tokens = static_cast<std::int64_t>(pieces(prompt_text).size());
    g.usage.completion_tokens = static_cast<std::int64_t>(ps.size());
    g.usage.requests = 1;
    g.choices.push_back(std::move(c));
    return g;
  }

  // --- ScoringGenerator ----------------------------------------------------------------------------
  [[nodiscard]] result<scoring> score(const scoring_request& req) {
    ++s_->score_calls;
    {
      std::lock_guard lock(s_->mutex);
      s_->score_log.push_back(req);
    }
    if (req.prompt.is_tokens() && !s_->options.tokenizer)
      return fail(errc::unsupported, "dlma_sim: token-id prompts need the tokenizer option");
    const std::string prompt_text = text_of(req.prompt);
    std::vector<std::string> cont;
    if (!req.continuation_token_ids.empty()) {
      for (token_id id : req.continuation_token_ids) {
        auto p = piece_of(id);
        if (!p) return fail(errc::invalid_argument, fmt::format("dlma_sim: unknown token id {}", id));
        cont.push_back(std::move(*p));
      }
    } else {
      cont = pieces(req.continuation);
    }
    scoring out;
    for (const auto& p : cont) {
      token_logprob t;
      t.token = p;
      t.id = id_of(p);
      t.logprob = logprob_of(p, prompt_text);
      out.logprob += t.logprob;
      out.tokens.push_back(std::move(t));
    }
    out.approximate = s_->options.approximate;
    out.usage.prompt_tokens = static_cast<std::int64_t>(pieces(prompt_text).size() + cont.size());
    out.usage.requests = 1;
    return out;
  }

  /// log p(piece | prompt) by the documented formula.
  [[nodiscard]] double logprob_of(std::string_view piece, std::string_view prompt_text) const {
    double lp = base_logprob(piece);
    std::lock_guard lock(s_->mutex);
    for (const auto& a : s_->affinities)
      if (a.piece == piece && prompt_text.find(a.marker) != std::string_view::npos) lp += a.delta;
    return lp;
  }

  // --- Tokenizer -------------------------------------------------------------------------------------
  [[nodiscard]] result<std::vector<token_id>> tokenize(std::string_view text, bool add_special) {
    ++s_->tokenize_calls;
    if (!s_->options.tokenizer) return fail(errc::unsupported, "dlma_sim: built without a tokenizer");
    std::vector<token_id> ids;
    if (add_special) ids.push_back(bos_id);
    std::lock_guard lock(s_->mutex);
    for (const auto& p : pieces(text)) {
      const token_id id = id_of(p);
      s_->vocab.emplace(id, p);
      ids.push_back(id);
    }
    return ids;
  }
  [[nodiscard]] result<std::string> detokenize(std::span<const token_id> ids) {
    if (!s_->options.tokenizer) return fail(errc::unsupported, "dlma_sim: built without a tokenizer");
    std::string out;
    for (token_id id : ids) {
      if (id == bos_id) continue;
      auto p = piece_of(id);
      if (!p) return fail(errc::invalid_argument, fmt::format("dlma_sim: unknown token id {}", id));
      out += *p;
    }
    return out;
  }

  [[nodiscard]] selfalign::capabilities capabilities() const {
    selfalign::capabilities c;
    c.token_ids = s_->options.tokenizer;
    c.tokenize = s_->options.tokenizer;
    c.scoring = true;
    c.scoring_exact = !s_->options.approximate;
    c.server = "dlma-sim";
    c.max_concurrent_calls = 0;  // thread-safe
    return c;
  }

  // --- records ---------------------------------------------------------------------------------------
  /// Calls received, all operations (the testing kit's one vocabulary: call_count() everywhere).
  [[nodiscard]] std::size_t call_count() const noexcept {
    return s_->generate_calls.load() + s_->score_calls.load() + s_->tokenize_calls.load();
  }
  [[nodiscard]] std::size_t generate_call_count() const noexcept { return s_->generate_calls.load(); }
  [[nodiscard]] std::size_t score_call_count() const noexcept { return s_->score_calls.load(); }
  [[nodiscard]] std::size_t tokenize_call_count() const noexcept { return s_->tokenize_calls.load(); }
  // Older spellings, kept.
  [[nodiscard]] std::size_t generate_calls() const noexcept { return generate_call_count(); }
  [[nodiscard]] std::size_t score_calls() const noexcept { return score_call_count(); }
  [[nodiscard]] std::size_t tokenize_calls() const noexcept { return tokenize_call_count(); }
  [[nodiscard]] std::vector<generation_request> generate_log() const {
    std::lock_guard lock(s_->mutex);
    return s_->generate_log;
  }
  [[nodiscard]] std::vector<scoring_request> score_log() const {
    std::lock_guard lock(s_->mutex);
    return s_->score_log;
  }

 private:
  struct answer_rule {
    std::string marker;
    std::vector<std::string> answers;
  };
  struct affinity_rule {
    std::string marker;
    std::string piece;
    double delta = 0.0;
  };
  struct state {
    mutable std::mutex mutex;
    dlma_sim_options options;
    std::vector<answer_rule> answer_rules;
    std::vector<std::string> fallback;
    std::vector<affinity_rule> affinities;
    std::map<token_id, std::string> vocab;
    std::vector<generation_request> generate_log;
    std::vector<scoring_request> score_log;
    std::atomic<std::size_t> generate_calls{0}, score_calls{0}, tokenize_calls{0};
  };

  [[nodiscard]] std::optional<std::string> piece_of(token_id id) const {
    std::lock_guard lock(s_->mutex);
    auto it = s_->vocab.find(id);
    if (it == s_->vocab.end()) return std::nullopt;
    return it->second;
  }

  // The prompt's text: raw text, chat contents joined by "\n", or detokenized ids (BOS dropped).
  [[nodiscard]] std::string text_of(const prompt& p) const {
    if (!p.is_tokens()) return p.flatten();
    std::string out;
    for (token_id id : p.token_ids()) {
      if (id == bos_id) continue;
      if (auto piece = piece_of(id)) out += *piece;
    }
    return out;
  }

  std::shared_ptr<state> s_;
};

static_assert(ScoringGenerator<dlma_sim> && Tokenizer<dlma_sim>);

}  // namespace testing
SELFALIGN_END_NAMESPACE
