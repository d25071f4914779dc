// selfalign: RAIN's formulas as small pure functions (selection, backup, similarity update,
// priors, stop rule, dynamic addition, self-evaluation value), each unit-tested by hand
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace rain::detail {

/// [C] qhat: the value rescaled by the root's observed range; 0 for an unvisited node.
[[nodiscard]] inline double normalized_value(double q, double n, double min_q, double max_q) noexcept {
  if (n == 0.0) return 0.0;
  return (q - min_q) / (max_q - min_q + 1e-5);
}

/// [C] selection score: qhat + c * p * sqrt(parent_n) / (1 + n).
[[nodiscard]] inline double puct_code(double q, double n, double prior, double parent_n, double min_q,
                                      double max_q, double c) noexcept {
  return normalized_value(q, n, min_q, max_q) + c * prior * std::sqrt(parent_n) / (1.0 + n);
}

/// [P] Eq. 1: v + c * p * sqrt(sum of the siblings' n, this node included) / (1 + n).
[[nodiscard]] inline double puct_paper(double v, double n, double prior, double sibling_n_sum, double c) noexcept {
  return v + c * prior * std::sqrt(sibling_n_sum) / (1.0 + n);
}

/// [C] the running-mean value update after a visit: q += (g - q) / n, n already incremented
/// (n may include fractional similarity mass, which makes the mean weighted).
[[nodiscard]] inline double updated_value(double q, double n_after, double g) noexcept {
  return q + (g - q) / n_after;
}

/// [C] the running mean of a node's embedding over its real visits: e += (x - e) / fn.
inline void update_embedding_mean(std::vector<float>& mean, std::span<const float> x, int fn) {
  if (mean.empty() || mean.size() != x.size()) {
    mean.assign(x.begin(), x.end());
    return;
  }
  for (std::size_t i = 0; i < mean.size(); ++i) mean[i] += (x[i] - mean[i]) / static_cast<float>(fn);
}

/// A sibling's (n, q) after Eq. 2.
struct visit_mass {
  double n = 0.0;
  double q = 0.0;
  friend bool operator==(const visit_mass&, const visit_mass&) = default;
};

/// [P] Eq. 2 / [C] backup: if sim >= threshold, a sibling receives weight w = gamma * sim of the
/// value g: q := (q * n + w * g) / (n + w), n := n + w. Below the threshold nothing changes.
/// (The paper writes "> threshold"; the code's test is "< threshold: skip", i.e. >=.)
[[nodiscard]] inline visit_mass similarity_update(visit_mass sibling, double sim, double g, double gamma,
                                                  double threshold) noexcept {
  if (!(sim >= threshold)) return sibling;
  const double w = gamma * sim;
  const double n = sibling.n + w;
  return {n, (sibling.q * sibling.n + w * g) / n};
}

/// Sum-normalizes weights in place (all zero: left as is).
inline void normalize(std::vector<double>& w) noexcept {
  double s = 0;
  for (double x : w) s += x;
  if (s > 0)
    for (double& x : w) x /= s;
}

/// [C] root prior mixing: p := a * p + (1 - a) / k on the priors as they are, then normalized.
/// The code mixes first: priors that do not sum to 1 (a root whose children gained a dynamic
/// addition) are not normalized beforehand. Callers that want normalized priors mixed (an
/// expansion) normalize before calling.
[[nodiscard]] inline std::vector<double> mix_root_prior(std::vector<double> p, double weight) {
  if (p.empty()) return p;
  const double u = (1.0 - weight) / static_cast<double>(p.size());
  for (double& x : p) x = weight * x + u;
  normalize(p);
  return p;
}

/// Softmax over logprobs (numerically stable). For renormalizing a server's top-k alternatives.
[[nodiscard]] inline std::vector<double> softmax(std::span<const double> logprobs) {
  std::vector<double> out(logprobs.size());
  if (logprobs.empty()) return out;
  const double m = *std::max_element(logprobs.begin(), logprobs.end());
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = std::exp(logprobs[i] - m);
  normalize(out);
  return out;
}

/// [C] log p of a chosen token under the top-k renormalized softmax: lp - log(sum exp(top lps)).
/// `top` holds the alternatives' logprobs (the chosen one among them when it is in the top-k).
[[nodiscard]] inline double renormalized_logprob(double lp, std::span<const double> top) noexcept {
  if (top.empty()) return lp;
  double m = lp;
  for (double t : top) m = std::max(m, t);
  double s = 0;
  bool found = false;
  for (double t : top) {
    s += std::exp(t - m);
    if (t == lp) found = true;
  }
  if (!found) s += std::exp(lp - m);
  return lp - (m + std::log(s));
}

/// [C] the greedy candidate's prior: max(min(p_greedy, sum P_samples), max P + min P) when
/// there are samples, else p_greedy.
[[nodiscard]] inline double greedy_prior(double p_greedy, std::span<const double> sample_p) noexcept {
  if (sample_p.empty()) return p_greedy;
  double sum = 0, mx = sample_p[0], mn = sample_p[0];
  for (double x : sample_p) {
    sum += x;
    mx = std::max(mx, x);
    mn = std::min(mn, x);
  }
  return std::max(std::min(p_greedy, sum), mx + mn);
}

/// [C] token-set length for children of a node at `depth`: schedule[depth], the last entry repeating.
[[nodiscard]] inline int token_set_length(std::span<const int> schedule, int depth) noexcept {
  if (schedule.empty()) return 1;
  const auto i = static_cast<std::size_t>(std::max(0, depth));
  return std::max(1, i < schedule.size() ? schedule[i] : schedule.back());
}

/// [C] inner-loop stop test, code variant: fn > T_m and q > V on the most visited root child.
[[nodiscard]] inline bool stop_code(int best_fn, double best_q, int min_iterations, double v) noexcept {
  return best_fn > min_iterations && best_q > v;
}
/// [P] inner-loop stop test, paper variant: t >= T_m and v(most visited) >= V, where t counts the
/// searches of this step only (visits reused from the previous step's subtree do not count).
[[nodiscard]] inline bool stop_paper(int t, double best_q, int min_iterations, double v) noexcept {
  return t >= min_iterations && best_q >= v;
}

/// [C] the L2 norm of the per-dimension unbiased variance (N - 1) of the children's embeddings,
/// as torch.var(dim=0). NaN for fewer than two children (so no addition), as in the code.
[[nodiscard]] inline double embedding_variance_norm(std::span<const std::vector<float>> embeddings) {
  const std::size_t k = embeddings.size();
  if (k < 2) return std::numeric_limits<double>::quiet_NaN();
  const std::size_t d = embeddings[0].size();
  double total = 0;
  for (std::size_t j = 0; j < d; ++j) {
    double mean = 0;
    for (const auto& e : embeddings) mean += j < e.size() ? e[j] : 0.0;
    mean /= static_cast<double>(k);
    double var = 0;
    for (const auto& e : embeddings) {
      const double x = (j < e.size() ? e[j] : 0.0) - mean;
      var += x * x;
    }
    var /= static_cast<double>(k - 1);
    total += var * var;
  }
  return std::sqrt(total);
}

/// [C] whether to add a child: fewer than max_children, every child embedded, variance norm
/// below factor * L and every child's value below the value threshold.
[[nodiscard]] inline bool should_add_child(std::size_t n_children, bool all_embedded, double variance_norm,
                                           int token_set_len, double max_child_q, int max_children,
                                           double variance_factor, double value_threshold) noexcept {
  if (n_children >= static_cast<std::size_t>(max_children) || !all_embedded) return false;
  return variance_norm < variance_factor * token_set_len && max_child_q < value_threshold;
}

/// Maps a judge score from [lo, hi] to a RAIN value in [-1, 1], clamped.
[[nodiscard]] inline double to_value(double score, double lo, double hi) noexcept {
  if (hi == lo) return 0.0;
  return std::clamp(2.0 * (score - lo) / (hi - lo) - 1.0, -1.0, 1.0);
}

/// [C] whether a text ends a clause: its last character is one of the clause ends.
[[nodiscard]] inline bool ends_clause(std::string_view text, std::span<const std::string> ends) noexcept {
  for (const auto& e : ends)
    if (!e.empty() && text.size() >= e.size() && text.substr(text.size() - e.size()) == e) return true;
  return false;
}

/// Position just past the first clause end in `text` at or after `from`, or npos.
[[nodiscard]] inline std::size_t first_clause_end(std::string_view text, std::span<const std::string> ends,
                                                  std::size_t from = 0) noexcept {
  std::size_t best = std::string_view::npos;
  for (const auto& e : ends) {
    if (e.empty()) continue;
    const auto p = text.find(e, from);
    if (p != std::string_view::npos) best = std::min(best, p + e.size());
  }
  return best;
}

}  // namespace rain::detail
SELFALIGN_END_NAMESPACE
