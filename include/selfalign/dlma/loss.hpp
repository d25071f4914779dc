// selfalign: the DPO loss with DLMA's self-reward margin, and its gradient (pure functions)
// SPDX-License-Identifier: MIT
#pragma once

// loss(h, R) = -log σ(β · (h − w · clip(R, L, U)))
// where h = [log πθ(a1|q) − log πref(a1|q)] − [log πθ(a2|q) − log πref(a2|q)] (summed token
// log-probs, chosen minus rejected) and R is the self-rewarding score. Defaults from the official
// scripts/run_dlma.sh: β = 0.1, w = 0.2, [L, U] = [-40, 40] (algorithms.md §3.2).

#include <selfalign/detail/prologue.hpp>
#include <selfalign/result.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace dlma {

/// Parameters of the margin loss.
struct loss_params {
  double beta = 0.1;           ///< β
  double margin_weight = 0.2;  ///< w
  double clip_min = -40.0;     ///< L
  double clip_max = 40.0;      ///< U
};

/// One example's loss and its derivative with respect to h.
struct loss_value {
  double loss = 0.0;
  double grad_h = 0.0;  ///< d loss / d h = −β · σ(−z), z = β · (h − w · clip(R))
};

/// clip(R, L, U); NaN stays NaN (it is never silently turned into a bound).
[[nodiscard]] constexpr double clip_margin(double r, double lo, double hi) noexcept {
  return r < lo ? lo : (r > hi ? hi : r);
}

/// log(1 + e^x) without overflow for large x or loss of precision for very negative x.
[[nodiscard]] inline double softplus(double x) noexcept {
  return x > 0.0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

/// σ(x) = 1 / (1 + e^-x) without overflow in either direction.
[[nodiscard]] inline double sigmoid(double x) noexcept {
  if (x >= 0.0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

/// −log σ(β · (h − w · clip(R))) and its gradient with respect to h.
[[nodiscard]] inline loss_value margin_dpo_loss(double h, double r, const loss_params& p = {}) noexcept {
  const double z = p.beta * (h - p.margin_weight * clip_margin(r, p.clip_min, p.clip_max));
  // −log σ(z) = softplus(−z); d/dz = −σ(−z); dz/dh = β.
  return {softplus(-z), -p.beta * sigmoid(-z)};
}

/// Loss over a batch.
struct batch_loss {
  std::vector<double> losses;  ///< per example
  std::vector<double> grad_h;  ///< per example: d loss_i / d h_i (the mean's gradient is grad_h[i] / n)
  double mean = 0.0;           ///< mean loss (NaN for an empty batch)
};

/// The loss of each (h[i], r[i]) and their mean. errc::invalid_argument when the spans differ
/// in length.
[[nodiscard]] inline result<batch_loss> margin_dpo_loss(std::span<const double> h, std::span<const double> r,
                                                        const loss_params& p = {}) {
  if (h.size() != r.size())
    return fail(errc::invalid_argument,
                fmt::format("dlma::margin_dpo_loss: {} policy margins but {} self-reward scores", h.size(), r.size()));
  batch_loss out;
  out.losses.reserve(h.size());
  out.grad_h.reserve(h.size());
  double sum = 0.0;
  for (std::size_t i = 0; i < h.size(); ++i) {
    const loss_value v = margin_dpo_loss(h[i], r[i], p);
    out.losses.push_back(v.loss);
    out.grad_h.push_back(v.grad_h);
    sum += v.loss;
  }
  out.mean = h.empty() ? std::nan("") : sum / static_cast<double>(h.size());
  return out;
}

}  // namespace dlma
SELFALIGN_END_NAMESPACE
