// selfalign: eval statistics — point estimates with seeded bootstrap confidence intervals over
// items, and paired differences between two systems on the same items
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/result.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace eval {

/// A statistic with its confidence interval. `n` counts the items it was computed from. When
/// n is 0 (or the statistic is undefined on the data) every number is NaN, written as null.
struct estimate {
  double value = std::numeric_limits<double>::quiet_NaN();
  double ci_low = std::numeric_limits<double>::quiet_NaN();
  double ci_high = std::numeric_limits<double>::quiet_NaN();
  std::size_t n = 0;

  [[nodiscard]] bool defined() const noexcept { return std::isfinite(value); }
  [[nodiscard]] bool has_interval() const noexcept { return std::isfinite(ci_low) && std::isfinite(ci_high); }
};

/// How intervals are computed. The procedure is fixed so that anyone can recompute it
/// (docs/evaluation.md, "Statistics"):
///   1. a SplitMix64 stream starts from `seed` (state += 0x9e3779b97f4a7c15, then the usual mix);
///   2. each of `resamples` resamples draws n item indices in [0, n), each as x % n from the next
///      stream value x, redrawing while x < 2^64 mod n (no modulo bias);
///   3. the statistic is computed on each resample; resamples where it is undefined are skipped;
///   4. the interval is the (1-level)/2 and (1+level)/2 quantiles of the sorted resample
///      statistics, linearly interpolated between order statistics at position q*(m-1) (the
///      "type 7" quantile); the point value is the statistic on the full data.
struct bootstrap_options {
  std::uint64_t seed = 0;
  std::size_t resamples = 2000;
  double level = 0.95;
};

namespace detail {

/// The SplitMix64 generator of bootstrap_options (step 1).
class splitmix64 {
 public:
  explicit splitmix64(std::uint64_t seed) noexcept : state_(seed) {}
  std::uint64_t next() noexcept;
  /// Uniform in [0, n) without modulo bias (step 2); n > 0.
  std::size_t below(std::size_t n) noexcept;

 private:
  std::uint64_t state_;
};

/// The type-7 quantile of sorted data (step 4).
[[nodiscard]] SELFALIGN_DECL double quantile_sorted(const std::vector<double>& sorted, double q);

}  // namespace detail

/// A statistic of a resample: given the chosen item indices, its value, or nothing when it is
/// undefined on that resample (a win rate with neither wins nor losses).
using resample_statistic = std::function<std::optional<double>(std::span<const std::size_t>)>;

/// The bootstrap of any statistic over n items (see bootstrap_options for the procedure).
[[nodiscard]] SELFALIGN_DECL estimate bootstrap(std::size_t n, const resample_statistic& statistic, const bootstrap_options& opt = {});

/// The mean of per-item values with its bootstrap interval (a rate when the values are 0/1).
[[nodiscard]] SELFALIGN_DECL estimate bootstrap_mean(std::span<const double> values, const bootstrap_options& opt = {});

/// sum(numerator) / sum(denominator) over items, resampling items (a win rate: numerator 1 for a
/// win, denominator 1 for a win or a loss). Undefined where the denominator sums to 0. `n` is the
/// number of items, ties included.
[[nodiscard]] SELFALIGN_DECL estimate bootstrap_ratio(std::span<const double> numerator, std::span<const double> denominator,
                                              const bootstrap_options& opt = {});

/// The paired difference mean(a - b) of two systems measured on the same items (a[i] and b[i]
/// belong to item i), with the interval of resampling items, so that item difficulty cancels.
[[nodiscard]] SELFALIGN_DECL result<estimate> paired_difference(std::span<const double> a, std::span<const double> b,
                                                        const bootstrap_options& opt = {});

/// Items needed for a 95% interval of half-width `half_width` on a rate near `rate` (normal
/// approximation: n = 1.96^2 p (1 - p) / w^2, rounded up). For planning, not for reporting.
[[nodiscard]] SELFALIGN_DECL std::size_t items_for_half_width(double rate, double half_width);

}  // namespace eval
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/eval/impl/statistics.ipp>
#endif
