// selfalign: eval::html_report — one self-contained HTML page for an evaluation: bar charts with
// confidence-interval whiskers (inline SVG), the per-aspect table, and the items where the two
// systems differ most; no scripts, no external assets
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>
#include <selfalign/version.hpp>
#include <selfalign/eval/evaluation.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace eval {

/// What the page shows besides the evaluation itself.
struct html_report_options {
  std::string title = "selfalign evaluation";
  std::string system_label = "system";
  std::string baseline_label = "baseline";
  std::size_t max_items = 10;  ///< items in "where the systems differ most"
  /// Key/value lines for the run box (judge model, seed, backend, library version, ...).
  std::vector<std::pair<std::string, std::string>> run_info;
};

namespace detail {

/// Escapes text for HTML element content and attribute values; control characters other than
/// newline and tab are dropped.
[[nodiscard]] SELFALIGN_DECL std::string html_escape(std::string_view s);

[[nodiscard]] SELFALIGN_DECL std::string fmt_value(double v, bool rate);

[[nodiscard]] SELFALIGN_DECL std::string fmt_estimate(const estimate& e, bool rate);

/// One bar of a chart: a label, up to two series (system, baseline) with whiskers.
struct bar_row {
  std::string label;
  std::optional<estimate> system;
  std::optional<estimate> baseline;
};

/// A horizontal bar chart in inline SVG. Rates run 0..1 (shown as %); scores run lo..hi.
[[nodiscard]] SELFALIGN_DECL std::string svg_bar_chart(const std::string& id, const std::string& caption, const std::vector<bar_row>& rows,
                                               bool rate, double lo, double hi, const html_report_options& opt);

/// An item worth a look, with how strongly the two systems differ on it.
struct differing_item {
  const item_record* item = nullptr;
  const item_record* other = nullptr;  ///< the baseline's record (evaluations of two systems)
  double magnitude = 0;
  std::string verdict;
};

[[nodiscard]] SELFALIGN_DECL std::vector<differing_item> differing_items(const evaluation& ev, const evaluation* baseline);

inline constexpr std::string_view report_css = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:980px;color:#1d2327;line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.run{background:#f6f7f7;border:1px solid #e0e0e0;border-radius:6px;padding:.6rem 1rem;font-size:.9rem}
.run dt{font-weight:600;float:left;clear:left;width:11rem}.run dd{margin-left:11.5rem}
.status-ok{color:#1a7f37}.status-stopped{color:#b35900;font-weight:600}
figure.chart{margin:1rem 0}figcaption{font-weight:600;margin-bottom:.3rem}
svg.bar-chart{max-width:100%;height:auto;font-size:12px}
svg .grid{stroke:#e3e3e3}svg .tick{fill:#666}svg .label{fill:#1d2327}svg .value{fill:#1d2327;font-weight:600}svg .na{fill:#999}
svg .bar.system{fill:#3b7dd8}svg .bar.baseline{fill:#b0b8c1}svg .whisker line{stroke:#1d2327;stroke-width:1.5}
.legend{font-size:.85rem}.key{display:inline-block;width:.9rem;height:.9rem;vertical-align:middle;margin:0 .3rem 0 .8rem}
.key.system{background:#3b7dd8}.key.baseline{background:#b0b8c1}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{border:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f7f7}td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
.item{border:1px solid #e0e0e0;border-radius:6px;padding:.6rem 1rem;margin:.8rem 0}
.item .q{font-weight:600}.item .verdict{color:#3b5;font-weight:600}.answers{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
.answers pre{white-space:pre-wrap;word-break:break-word;background:#fafafa;border:1px solid #eee;padding:.4rem;margin:.2rem 0;font-size:.85rem}
.note{color:#555;font-size:.9rem}
)";

}  // namespace detail

/// Renders an evaluation as one HTML page. `baseline` (the same protocol on the baseline's
/// answers) and `diffs` (paired_differences) are optional; with them the charts show both
/// systems and the tables the paired differences.
[[nodiscard]] SELFALIGN_DECL std::string html_report(const evaluation& ev, const html_report_options& opt = {},
                                             const evaluation* baseline = nullptr, const std::vector<paired_metric>* diffs = nullptr);

}  // namespace eval
SELFALIGN_END_NAMESPACE

#if defined(SELFALIGN_HEADER_ONLY)
#include <selfalign/eval/impl/html_report.ipp>
#endif
