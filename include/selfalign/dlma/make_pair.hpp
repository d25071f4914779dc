// selfalign: dlma::make_pair — one query's preference pair from its two answers and their four
// scorings: the self-rewarding score R, the negative-margin policy, clipping and weighting. Pure:
// no model call, so a trainer or a test can compute a pair from log-probabilities it has.
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/dlma/config.hpp>
#include <selfalign/dlma/loss.hpp>
#include <selfalign/dlma/report.hpp>
#include <selfalign/result.hpp>

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

SELFALIGN_BEGIN_NAMESPACE
namespace dlma {

/// One of a query's two sampled answers, as the pair records it.
struct sampled_answer {
  std::string text;           ///< the answer (stripped when config::strip_answers)
  std::uint64_t seed = 0;     ///< the sampling seed sent
  std::string finish_reason;  ///< "length": cut at max_tokens
};

/// What a pair is made of besides its answers: where the query is and who answered.
struct pair_source {
  std::size_t index = 0;  ///< position of the query in the input
  std::string id;         ///< the query's id
  std::string query;      ///< the bare query
  std::string model;      ///< the model that answered
};

/// The pair of one query: a1 (`positive`, sampled under p+), a2 (`negative`, under p−) and the four
/// scorings indexed by score_slot. R = [log p(a1|p+) − log p(a1|p−)] − [log p(a2|p+) − log p(a2|p−)];
/// cfg.on_negative decides what a negative R does (swap the answers, keep or drop — the caller
/// drops); the margin is clipped to [clip_min, clip_max] and weighted by margin_weight.
/// errc::bad_response when a log-probability is not finite (R would be undefined).
[[nodiscard]] inline result<preference_pair> make_pair(const pair_source& source, const sampled_answer& positive,
                                                       const sampled_answer& negative,
                                                       const std::array<continuation_score, 4>& scores, const config& cfg) {
  static constexpr std::array<std::string_view, 4> names{"log p(a1 | p+)", "log p(a1 | p-)", "log p(a2 | p+)", "log p(a2 | p-)"};
  for (std::size_t s = 0; s < 4; ++s)
    if (!std::isfinite(scores[s].logprob))
      return fail(errc::bad_response, fmt::format("the self-rewarding score is undefined: {} is {}", names[s], scores[s].logprob));

  preference_pair pair;
  pair.index = source.index;
  pair.id = source.id;
  pair.query = source.query;
  pair.model = source.model;
  pair.positive_answer = positive.text;
  pair.negative_answer = negative.text;
  pair.seed_positive = positive.seed;
  pair.seed_negative = negative.seed;
  pair.finish_positive = positive.finish_reason;
  pair.finish_negative = negative.finish_reason;
  pair.scores = scores;
  for (const auto& cs : scores) {
    pair.approximate = pair.approximate || cs.approximate;
    pair.boundary_merged = pair.boundary_merged || cs.merged;
  }
  pair.boundary_positive = scores[positive_answer_positive_prompt].method;
  pair.boundary_negative = scores[negative_answer_positive_prompt].method;

  const double a1_pos = scores[positive_answer_positive_prompt].logprob;
  const double a1_neg = scores[positive_answer_negative_prompt].logprob;
  const double a2_pos = scores[negative_answer_positive_prompt].logprob;
  const double a2_neg = scores[negative_answer_negative_prompt].logprob;
  pair.reward_positive = a1_pos - a1_neg;
  pair.reward_negative = a2_pos - a2_neg;
  pair.self_reward = self_rewarding_score(a1_pos, a1_neg, a2_pos, a2_neg);

  pair.swapped = pair.self_reward < 0.0 && cfg.on_negative == negative_margin_policy::swap;
  pair.chosen = pair.swapped ? pair.negative_answer : pair.positive_answer;
  pair.rejected = pair.swapped ? pair.positive_answer : pair.negative_answer;
  pair.margin = pair.swapped ? -pair.self_reward : pair.self_reward;
  pair.score_chosen = pair.swapped ? pair.reward_negative : pair.reward_positive;
  pair.score_rejected = pair.swapped ? pair.reward_positive : pair.reward_negative;
  pair.clipped_margin = clip_margin(pair.margin, cfg.clip_min, cfg.clip_max);
  pair.weight = cfg.margin_weight;
  pair.target_margin = cfg.margin_weight * pair.clipped_margin;
  return pair;
}

}  // namespace dlma
SELFALIGN_END_NAMESPACE
