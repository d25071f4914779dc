// selfalign: judges internals — the self-evaluation value of one judged response, from the two
// option orders' label readings (RAIN's formulas; judges::self_eval_judge computes it)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>

#include <cstddef>
#include <span>

SELFALIGN_BEGIN_NAMESPACE
namespace judges::detail {

/// [C] the hard self-evaluation value: v = 2 * ((a + b) / 2) - 1 in {-1, 0, +1}, where a (b) is
/// whether the "good" label beat the "bad" one in the first (second) option order.
[[nodiscard]] inline double hard_value(bool first_good, bool second_good) noexcept {
  return static_cast<double>(first_good) + static_cast<double>(second_good) - 1.0;
}
/// [S] the soft alternative: the mean over orders of (p_good - p_bad) / (p_good + p_bad).
[[nodiscard]] inline double soft_value(std::span<const double> p_good, std::span<const double> p_bad) noexcept {
  double s = 0;
  std::size_t k = 0;
  for (std::size_t i = 0; i < p_good.size() && i < p_bad.size(); ++i, ++k) {
    const double d = p_good[i] + p_bad[i];
    s += d > 0 ? (p_good[i] - p_bad[i]) / d : 0.0;
  }
  return k == 0 ? 0.0 : s / static_cast<double>(k);
}

}  // namespace judges::detail
SELFALIGN_END_NAMESPACE
