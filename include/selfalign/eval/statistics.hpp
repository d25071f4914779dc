// selfalign: eval statistics — point estimates with seeded bootstrap confidence intervals over
// items, and paired differences between two systems on the same items
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/config.hpp>
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
  std::uint64_t next() noexcept {
    state_ += 0x9e3779b97f4a7c15ULL;
    std::uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, n) without modulo bias (step 2); n > 0.
  std::size_t below(std::size_t n) noexcept {
    const std::uint64_t m = static_cast<std::uint64_t>(n);
    const std::uint64_t threshold = (0 - m) % m;  // 2^64 mod m
    std::uint64_t x = next();
    while (x < threshold) x = next();
    return static_cast<std::size_t>(x % m);
  }

 private:
  std::uint64_t state_;
};

/// The type-7 quantile of sorted data (step 4).
[[nodiscard]] inline double quantile_sorted(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double h = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(h));
  if (lo + 1 >= sorted.size()) return sorted.back();
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[lo + 1] - sorted[lo]);
}

}  // namespace detail

/// A statistic of a resample: given the chosen item indices, its value, or nothing when it is
/// undefined on that resample (a win rate with neither wins nor losses).
using resample_statistic = std::function<std::optional<double>(std::span<const std::size_t>)>;

/// The bootstrap of any statistic over n items (see bootstrap_options for the procedure).
[[nodiscard]] inline estimate bootstrap(std::size_t n, const resample_statistic& statistic, const bootstrap_options& opt = {}) {
  estimate e;
  e.n = n;
  if (n == 0) return e;
  std::vector<std::size_t> idx(n);
  for (std::size_t i = 0; i < n; ++i) idx[i] = i;
  const auto full = statistic(idx);
  if (!full || !std::isfinite(*full)) return e;
  e.value = *full;
  detail::splitmix64 rng(opt.seed);
  std::vector<double> stats;
  stats.reserve(opt.resamples);
  for (std::size_t b = 0; b < opt.resamples; ++b) {
    for (std::size_t i = 0; i < n; ++i) idx[i] = rng.below(n);
    const auto s = statistic(idx);
    if (s && std::isfinite(*s)) stats.push_back(*s);
  }
  if (stats.empty()) return e;
  std::sort(stats.begin(), stats.end());
  const double alpha = (1.0 - opt.level) / 2.0;
  e.ci_low = detail::quantile_sorted(stats, alpha);
  e.ci_high = detail::quantile_sorted(stats, 1.0 - alpha);
  return e;
}

/// The mean of per-item values with its bootstrap interval (a rate when the values are 0/1).
[[nodiscard]] inline estimate bootstrap_mean(std::span<const double> values, const bootstrap_options& opt = {}) {
  return bootstrap(
      values.size(),
      [values](std::span<const std::size_t> idx) -> std::optional<double> {
        double s = 0;
        for (std::size_t i : idx) s += values[i];
        return s / static_cast<double>(idx.size());
      },
      opt);
}

/// sum(numerator) / sum(denominator) over items, resampling items (a win rate: numerator 1 for a
/// win, denominator 1 for a win or a loss). Undefined where the denominator sums to 0. `n` is the
/// number of items, ties included.
[[nodiscard]] inline estimate bootstrap_ratio(std::span<const double> numerator, std::span<const double> denominator,
                                              const bootstrap_options& opt = {}) {
  const std::size_t n = std::min(numerator.size(), denominator.size());
  return bootstrap(
      n,
      [numerator, denominator](std::span<const std::size_t> idx) -> std::optional<double> {
        double a = 0, b = 0;
        for (std::size_t i : idx) {
          a += numerator[i];
          b += denominator[i];
        }
        if (b == 0) return std::nullopt;
        return a / b;
      },
      opt);
}

/// The paired difference mean(a - b) of two systems measured on the same items (a[i] and b[i]
/// belong to item i), with the interval of resampling items, so that item difficulty cancels.
[[nodiscard]] inline result<estimate> paired_difference(std::span<const double> a, std::span<const double> b,
                                                        const bootstrap_options& opt = {}) {
  if (a.size() != b.size())
    return fail(errc::invalid_argument, fmt::format("paired_difference: {} values against {}; pairs need the same items", a.size(), b.size()));
  std::vector<double> d(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  return bootstrap_mean(d, opt);
}

/// Items needed for a 95% interval of half-width `half_width` on a rate near `rate` (normal
/// approximation: n = 1.96^2 p (1 - p) / w^2, rounded up). For planning, not for reporting.
[[nodiscard]] inline std::size_t items_for_half_width(double rate, double half_width) {
  if (!(half_width > 0) || !(rate >= 0 && rate <= 1)) return 0;
  const double p = std::clamp(rate, 0.0, 1.0);
  return static_cast<std::size_t>(std::ceil(1.96 * 1.96 * p * (1 - p) / (half_width * half_width)));
}

}  // namespace eval
SELFALIGN_END_NAMESPACE
