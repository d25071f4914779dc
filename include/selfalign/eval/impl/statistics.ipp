// selfalign: definitions for <selfalign/eval/statistics.hpp> (eval statistics — point estimates with seeded bootstrap confidence intervals over)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/eval/statistics.hpp>
#include <selfalign/detail/format.hpp>

SELFALIGN_BEGIN_NAMESPACE

namespace eval {

namespace detail {

SELFALIGN_DECL std::uint64_t splitmix64::next() noexcept {
  state_ += 0x9e3779b97f4a7c15ULL;
  std::uint64_t z = state_;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

SELFALIGN_DECL std::size_t splitmix64::below(std::size_t n) noexcept {
  const std::uint64_t m = static_cast<std::uint64_t>(n);
  const std::uint64_t threshold = (0 - m) % m;  // 2^64 mod m
  std::uint64_t x = next();
  while (x < threshold) x = next();
  return static_cast<std::size_t>(x % m);
}

SELFALIGN_DECL double quantile_sorted(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double h = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(h));
  if (lo + 1 >= sorted.size()) return sorted.back();
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[lo + 1] - sorted[lo]);
}

}  // namespace detail
SELFALIGN_DECL estimate bootstrap(std::size_t n, const resample_statistic& statistic, const bootstrap_options& opt) {
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

SELFALIGN_DECL estimate bootstrap_mean(std::span<const double> values, const bootstrap_options& opt) {
  return bootstrap(
      values.size(),
      [values](std::span<const std::size_t> idx) -> std::optional<double> {
        double s = 0;
        for (std::size_t i : idx) s += values[i];
        return s / static_cast<double>(idx.size());
      },
      opt);
}

SELFALIGN_DECL estimate bootstrap_ratio(std::span<const double> numerator, std::span<const double> denominator,
                                              const bootstrap_options& opt) {
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

SELFALIGN_DECL result<estimate> paired_difference(std::span<const double> a, std::span<const double> b,
                                                        const bootstrap_options& opt) {
  if (a.size() != b.size())
    return fail(errc::invalid_argument, selfalign::detail::format_text("paired_difference: {} values against {}; pairs need the same items", a.size(), b.size()));
  std::vector<double> d(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  return bootstrap_mean(d, opt);
}

SELFALIGN_DECL std::size_t items_for_half_width(double rate, double half_width) {
  if (!(half_width > 0) || !(rate >= 0 && rate <= 1)) return 0;
  const double p = std::clamp(rate, 0.0, 1.0);
  return static_cast<std::size_t>(std::ceil(1.96 * 1.96 * p * (1 - p) / (half_width * half_width)));
}

}  // namespace eval
SELFALIGN_END_NAMESPACE
