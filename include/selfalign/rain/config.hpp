// selfalign: rain::config — every RAIN constant, with its default and where it comes from
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/events.hpp>
#include <selfalign/result.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace rain {

// Source tags used below (see docs/rain.md): [P] the paper (Li et al., ICLR 2024, Algorithm 1 and
// Eq. 1-2); [C] the official code (SafeAILab/RAIN, HH variant); [S] selfalign's own choice where
// neither applies (an HTTP backend, a different embedder).

/// Which selection score the search uses.
enum class puct_rule {
  /// [C] qhat + c * p * sqrt(parent.n) / (1 + n), qhat = (q - minQ) / (maxQ - minQ + 1e-5), 0 if n == 0.
  code,
  /// [P] Eq. 1: v + c * p * sqrt(sum of sibling n) / (1 + n), with the raw value v.
  paper,
};

/// When the inner loop stops early.
enum class stop_rule {
  /// [C] after an iteration, when the most visited root child has real visits fn > min_iterations
  /// and value q > value_threshold (both strict).
  code,
  /// [P] Algorithm 1: when the iteration count t >= min_iterations and the most visited root
  /// child has value >= value_threshold.
  paper,
};

/// How the search names tokens when it talks to the backend.
enum class token_mode {
  automatic,  ///< token ids when the backend tokenizes and accepts id prompts, else text [S]
  ids,        ///< token-id prompts (exact prefixes; vLLM, SGLang, llama.cpp)
  text,       ///< raw-text prompts built from the token texts the backend returns (may re-tokenize)
};

/// Every RAIN parameter. Defaults follow the official code (HH variant) unless noted.
struct config {
  // --- search -------------------------------------------------------------------------------
  double c_puct = 2.0;                  ///< exploration constant c [P][C] (c = 2 in all experiments)
  puct_rule selection = puct_rule::code;  ///< selection formula [C] (paper variant available)
  int max_iterations = 50;              ///< T, inner-loop bound [P][C] (maxT = 50)
  int min_iterations = 6;               ///< T_m [P][C] (minT = 6 HH; 5 adv; 16 truth)
  int extra_iterations = 15;            ///< [C] the inner loop runs to max(T, it0 + 15)
  double value_threshold = 0.8;         ///< V [P][C] (Vt = 0.8 on q in [-1, 1])
  stop_rule stopping = stop_rule::code; ///< stop test [C] (paper variant available)
  double backup_discount = 1.0;         ///< [C] gamma in g = gamma * v + reward while backing up
  bool reuse_subtree = true;            ///< [C] keep the committed child's subtree; its visits count toward T
  double root_prior_weight = 0.75;      ///< [C] root prior = 0.75 * p + 0.25 * uniform
  // --- similarity update ----------------------------------------------------------------------
  bool similarity_update = true;        ///< Eq. 2 [P][C]
  double similarity_gamma = 0.2;        ///< gamma [P][C] (sim_gamma = 0.2)
  /// Cosine threshold for the sibling update [C] (sim_the = 0.95, tied to all-MiniLM-L6-v2;
  /// the paper only says "predetermined"). Re-calibrate for another embedder: docs/rain.md.
  double similarity_threshold = 0.95;
  // --- dynamic node addition ------------------------------------------------------------------
  bool dynamic_addition = true;         ///< [P][C]
  int max_children = 20;                ///< [C] no addition at 20 children
  /// [C] add when ||Var(child embeddings)||_2 < variance_factor * L (L = token-set length) and
  /// every child value < addition_value_threshold. 0.03 is tied to MiniLM: docs/rain.md.
  double variance_factor = 0.03;
  double addition_value_threshold = 0.0;  ///< [C] "max child q < 0"
  int addition_samples = 2;             ///< [C] candidates sampled for an addition (greedy + 1)
  // --- expansion ------------------------------------------------------------------------------
  /// Token-set length by node depth [C]: 1, 2, 4, then 10 (the last entry repeats).
  std::vector<int> length_schedule{1, 2, 4, 10};
  int candidates = 10;                  ///< [C] top-10 tokens at L = 1; greedy + up to 9 unique samples otherwise
  int candidate_top_k = 15;             ///< [C] candidates are drawn from the top-15 renormalized softmax
  double candidate_temperature = 1.0;   ///< [C] 1.0 (adv variant: 2.0)
  /// [C] probabilities are renormalized over the top-k (top-10 at L = 1, top-15 for sampled sets).
  /// Servers return raw logprobs; selfalign renormalizes client-side over the returned alternatives.
  bool renormalize_top_k = true;
  /// [C] 9 sampling attempts (one request with n = candidates - 1); the adv variant uses 2k - 1.
  int sample_attempts = 9;
  // --- simulation (rollout to the end of the clause) ------------------------------------------
  bool rollout = true;                  ///< [C] sample to the clause end before evaluating ([P] evaluates the node)
  std::vector<std::string> clause_ends{",", ".", "?", ":", ";", "\n"};  ///< [C]
  double rollout_temperature = 1.0;     ///< [C] full softmax, T = 1
  int rollout_max_tokens = 64;          ///< [S] cap per rollout request (the code samples up to maxlen)
  // --- stopping and text ----------------------------------------------------------------------
  /// [S] response cap (the code's maxlen = 2048 counts the whole context). The token-set schedule
  /// is cut to what is left, so a response never has more tokens than this.
  int max_new_tokens = 256;
  int max_context_tokens = 2048;        ///< [C] maxlen: stop when context + response exceed it (ids mode)
  /// [C] a new turn marker ends the response ("Human:" beyond the query). Matched in the response only.
  std::vector<std::string> turn_markers{"Human:"};
  bool stop_at_eos = true;              ///< [C adv/truth] stop at EOS (the HH variant ignores EOS in a move)
  /// End-of-sequence token texts as backends print them; an id in eos_ids also counts.
  std::vector<std::string> eos_texts{"</s>", "<|endoftext|>", "<|eot_id|>", "<|im_end|>", "<|end|>", "<eos>"};
  std::vector<std::int32_t> eos_ids;
  // --- context --------------------------------------------------------------------------------
  /// [S] Text before the conversation when an input has no explicit context. The official code uses
  /// 4 benign example exchanges here; selfalign ships a one-line preamble (write your own examples).
  std::string preamble = "A conversation between a human and a helpful, honest and harmless AI assistant.\n\n";
  std::string user_prefix = "Human: ";        ///< [C] turn labels of the generation context
  std::string assistant_prefix = "\nAssistant:";
  /// How the judge's score maps to a value in [-1, 1]: v = 2 * (s - lo) / (hi - lo) - 1 [S].
  /// The self-evaluation judge already scores in [-1, 1].
  double judge_score_low = -1.0;
  double judge_score_high = 1.0;
  // --- model access ---------------------------------------------------------------------------
  token_mode tokens = token_mode::automatic;
  std::string model;                    ///< model name sent with every generation request ("" = default)
  std::string embedding_model;          ///< model name sent with embedding requests
  std::uint64_t seed = 0;               ///< run seed; every call's seed derives from it and the call's identity
  std::size_t max_concurrency = 4;      ///< [S] calls in flight within one iteration (rollout+eval || expansion)
  /// [S] speculation: when a search expands a leaf, the work of the search that would next reach
  /// its best-prior child (rollout, evaluation, embeddings, expansion, with the seeds that search
  /// would use) starts at once, up to this many levels below the deepest leaf a search has reached.
  /// A search that reaches such a child takes the result instead of asking again, so the responses
  /// and the tree are the same as without speculation; work never taken costs requests. 0 turns it
  /// off (the default, so that the statistics stay the same at every concurrency); it is off when
  /// max_concurrency < 2. 2 is the value measured in docs/rain.md, "Speculation".
  int speculation_depth = 0;
  bool cache_evaluations = true;        ///< [C] cache self-evaluations by text
  bool cache_distributions = true;      ///< [C] cache next-token distributions by prefix
  bool keep_tree = false;               ///< put the final tree into report::tree as JSON
  /// [S] events (source "rain"): a search_step per committed token set (values: step, tokens,
  /// inner_iterations, failed_evaluations, response_tokens) and `stopped` with the stop reason.
  observer on_event;
  /// [S] when requested, the decode stops before its next search (the calls in flight finish
  /// first): the report keeps the tokens committed so far, `stop_reason` "cancelled" and `error`
  /// errc::cancelled. decode_batch also stops on its batch_options::stop when this one is unset.
  std::stop_token stop_token;
};

/// Checks a config before any call: errc::invalid_argument naming the field. decode(),
/// decode_vanilla() and decode_batch() call it first; drpo::validate and dlma::validate have the
/// same shape.
[[nodiscard]] inline result<void> validate(const config& c) {
  auto bad = [](std::string m) { return fail(errc::invalid_argument, "rain::config: " + std::move(m)); };
  if (c.max_iterations < 1) return bad("max_iterations must be at least 1");
  if (c.min_iterations < 0) return bad("min_iterations must not be negative");
  if (c.candidates < 1) return bad("candidates must be at least 1");
  if (c.candidate_top_k < 1) return bad("candidate_top_k must be at least 1");
  if (c.length_schedule.empty()) return bad("length_schedule must not be empty");
  for (int l : c.length_schedule)
    if (l < 1) return bad("every length_schedule entry must be at least 1");
  if (c.root_prior_weight < 0 || c.root_prior_weight > 1) return bad("root_prior_weight must be in [0, 1]");
  if (c.max_new_tokens < 1) return bad("max_new_tokens must be at least 1");
  if (c.judge_score_high == c.judge_score_low) return bad("judge_score_low and judge_score_high must differ");
  return {};
}

}  // namespace rain
SELFALIGN_END_NAMESPACE
