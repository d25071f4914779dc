// selfalign: definitions for <selfalign/eval/html_report.hpp> (eval::html_report — one self-contained HTML page for an evaluation: bar charts with)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/eval/html_report.hpp>
#include <selfalign/detail/format.hpp>

SELFALIGN_BEGIN_NAMESPACE

namespace eval {

namespace detail {

SELFALIGN_DECL std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 16);
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') break;
        out += c;
    }
  }
  return out;
}

SELFALIGN_DECL std::string fmt_value(double v, bool rate) {
  if (!std::isfinite(v)) return "n/a";
  return rate ? selfalign::detail::format_text("{:.1f}%", 100.0 * v) : selfalign::detail::format_text("{:.2f}", v);
}

SELFALIGN_DECL std::string fmt_estimate(const estimate& e, bool rate) {
  if (!e.defined()) return selfalign::detail::format_text("n/a (n = {})", e.n);
  if (!e.has_interval()) return selfalign::detail::format_text("{} (n = {})", fmt_value(e.value, rate), e.n);
  return selfalign::detail::format_text("{} [{}, {}] (n = {})", fmt_value(e.value, rate), fmt_value(e.ci_low, rate), fmt_value(e.ci_high, rate), e.n);
}

SELFALIGN_DECL std::string svg_bar_chart(const std::string& id, const std::string& caption, const std::vector<bar_row>& rows,
                                               bool rate, double lo, double hi, const html_report_options& opt) {
  const int label_w = 190, plot_w = 420, right_w = 150, row_h = 34, top = 30, bottom = 30;
  const bool two = std::any_of(rows.begin(), rows.end(), [](const bar_row& r) { return r.baseline.has_value(); });
  const int bar_h = two ? 12 : 18;
  const int height = top + bottom + row_h * static_cast<int>(rows.size());
  const int width = label_w + plot_w + right_w;
  auto x_of = [&](double v) {
    const double t = std::clamp((v - lo) / (hi - lo), 0.0, 1.0);
    return label_w + t * plot_w;
  };
  std::string s = selfalign::detail::format_text(
      "<figure class=\"chart\" id=\"{}\"><figcaption>{}</figcaption>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"bar-chart\" role=\"img\" aria-label=\"{}\" viewBox=\"0 0 {} {}\" width=\"{}\" "
      "height=\"{}\">\n",
      id, html_escape(caption), html_escape(caption), width, height, width, height);
  // Grid and axis ticks.
  for (int k = 0; k <= 4; ++k) {
    const double v = lo + (hi - lo) * k / 4.0;
    const double x = x_of(v);
    s += selfalign::detail::format_text("<line class=\"grid\" x1=\"{:.1f}\" y1=\"{}\" x2=\"{:.1f}\" y2=\"{}\"/>", x, top - 6, x, height - bottom);
    s += selfalign::detail::format_text("<text class=\"tick\" x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", x, height - bottom + 16,
                     rate ? selfalign::detail::format_text("{:.0f}%", 100 * v) : selfalign::detail::format_text("{:.1f}", v));
  }
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const int y0 = top + row_h * static_cast<int>(r);
    s += selfalign::detail::format_text("<text class=\"label\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", label_w - 8, y0 + row_h / 2 + 4,
                     html_escape(rows[r].label));
    auto bar = [&](const std::optional<estimate>& e, int y, const char* cls, const std::string& who) {
      if (!e) return;
      if (!e->defined()) {
        s += selfalign::detail::format_text("<text class=\"na\" x=\"{}\" y=\"{}\">n/a (n = {})</text>\n", label_w + 4, y + bar_h - 2, e->n);
        return;
      }
      const double x0 = x_of(lo), x1 = x_of(e->value);
      s += selfalign::detail::format_text("<rect class=\"bar {}\" x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" height=\"{}\"><title>{}: {}</title></rect>\n", cls, x0, y,
                       std::max(0.0, x1 - x0), bar_h, html_escape(who), html_escape(fmt_estimate(*e, rate)));
      if (e->has_interval()) {
        const double a = x_of(e->ci_low), b = x_of(e->ci_high);
        const int cy = y + bar_h / 2;
        s += selfalign::detail::format_text(
            "<g class=\"whisker\"><line x1=\"{:.1f}\" y1=\"{}\" x2=\"{:.1f}\" y2=\"{}\"/><line x1=\"{:.1f}\" y1=\"{}\" x2=\"{:.1f}\" "
            "y2=\"{}\"/><line x1=\"{:.1f}\" y1=\"{}\" x2=\"{:.1f}\" y2=\"{}\"/></g>\n",
            a, cy, b, cy, a, cy - 5, a, cy + 5, b, cy - 5, b, cy + 5);
      }
      s += selfalign::detail::format_text("<text class=\"value\" x=\"{}\" y=\"{}\">{}</text>\n", label_w + plot_w + 8, y + bar_h - 2,
                       html_escape(fmt_value(e->value, rate)));
    };
    if (two) {
      bar(rows[r].system, y0 + 4, "system", opt.system_label);
      bar(rows[r].baseline, y0 + 4 + bar_h + 2, "baseline", opt.baseline_label);
    } else {
      bar(rows[r].system, y0 + (row_h - bar_h) / 2, "system", opt.system_label);
    }
  }
  s += "</svg>";
  if (two)
    s += selfalign::detail::format_text("<p class=\"legend\"><span class=\"key system\"></span>{} <span class=\"key baseline\"></span>{}</p>",
                     html_escape(opt.system_label), html_escape(opt.baseline_label));
  s += "</figure>\n";
  return s;
}

SELFALIGN_DECL std::vector<differing_item> differing_items(const evaluation& ev, const evaluation* baseline) {
  std::vector<differing_item> out;
  if (ev.protocol == "pairwise") {
    for (const auto& it : ev.items) {
      if (!it.evaluated) continue;
      const std::string outcome = it.detail.value("outcome", "");
      if (const auto d = it.values.find("score_difference"); d != it.values.end()) {  // a pointwise judge: scores, no orders
        out.push_back({&it, nullptr, std::abs(d->second) + (outcome == "tie" ? 0.0 : 1e6),
                       selfalign::detail::format_text("{}: the system's answer scored {:+.2f} against the baseline's", outcome, d->second)});
        continue;
      }
      const bool consistent = it.detail.value("position_consistent", false);
      double m = outcome == "tie" ? (consistent ? 0.0 : 0.5) : (consistent ? 2.0 : 1.0);
      std::string v = outcome + (consistent ? " (both orders agree)" : " (the orders disagree)");
      out.push_back({&it, nullptr, m, v});
    }
  } else if (ev.protocol == "preference") {
    for (const auto& it : ev.items) {
      if (!it.evaluated) continue;
      const double r = it.values.at("R");
      out.push_back({&it, nullptr, std::abs(r) + (r < 0 ? 1e6 : 0.0),
                     selfalign::detail::format_text("R = {:.3f}: the model {}", r, r > 0 ? "agrees with the human label" : r < 0 ? "prefers the rejected answer" : "cannot tell")});
    }
  } else if (baseline) {
    std::map<std::string, const item_record*> by_id;
    for (const auto& it : baseline->items) by_id[it.id] = &it;
    const std::string key = ev.metrics.empty() ? std::string() : ev.metrics.front().key;
    for (const auto& it : ev.items) {
      auto o = by_id.find(it.id);
      if (o == by_id.end() || !it.evaluated || !o->second->evaluated) continue;
      const auto a = it.values.find(key);
      const auto b = o->second->values.find(key);
      if (a == it.values.end() || b == o->second->values.end()) continue;
      out.push_back({&it, o->second, std::abs(a->second - b->second),
                     selfalign::detail::format_text("{}: {:.2f} vs {:.2f}", ev.metrics.front().name, a->second, b->second)});
    }
  } else {
    return out;
  }
  std::stable_sort(out.begin(), out.end(), [](const differing_item& a, const differing_item& b) { return a.magnitude > b.magnitude; });
  return out;
}

}  // namespace detail
SELFALIGN_DECL std::string html_report(const evaluation& ev, const html_report_options& opt,
                                             const evaluation* baseline, const std::vector<paired_metric>* diffs) {
  using detail::html_escape;
  std::string h;
  h += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
  h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  h += "<title>" + html_escape(opt.title) + "</title>\n<style>" + std::string(detail::report_css) + "</style></head><body>\n";
  h += "<h1>" + html_escape(opt.title) + "</h1>\n";
  h += selfalign::detail::format_text("<p class=\"note\">Protocol <b>{}</b>: {} items, {} evaluated, {} excluded (unreadable or failed judge outputs), {} unfinished.</p>\n",
                   html_escape(ev.protocol), ev.items.size(), ev.evaluated, ev.failures, ev.unfinished);
  h += "<dl class=\"run\">";
  h += selfalign::detail::format_text("<dt>status</dt><dd class=\"{}\">{}</dd>", ev.status.complete ? "status-ok" : "status-stopped",
                   html_escape(ev.status.complete ? std::string("complete") : "stopped early: " + ev.status.stop_reason));
  for (const auto& [k, v] : opt.run_info) h += "<dt>" + html_escape(k) + "</dt><dd>" + html_escape(v) + "</dd>";
  h += selfalign::detail::format_text("<dt>intervals</dt><dd>{:.0f}% bootstrap over items, {} resamples, seed {}</dd>", 100 * ev.bootstrap.level,
                   ev.bootstrap.resamples, ev.bootstrap.seed);
  h += "</dl>\n";

  // Charts: rates in one, scores in another; aspects get their own.
  std::map<std::string, const metric*> base_metrics;
  if (baseline)
    for (const auto& m : baseline->metrics) base_metrics[m.name] = &m;
  std::vector<detail::bar_row> rates, scores, aspects;
  for (const auto& m : ev.metrics) {
    detail::bar_row row{m.name, m.value, std::nullopt};
    if (auto b = base_metrics.find(m.name); b != base_metrics.end()) row.baseline = b->second->value;
    if (m.group == "aspect") aspects.push_back(row);
    else if (m.is_rate) rates.push_back(row);
    else scores.push_back(row);
  }
  h += "<h2>Metrics</h2>\n";
  if (!rates.empty()) h += detail::svg_bar_chart("chart-rates", "Rates with 95% confidence intervals", rates, true, 0.0, 1.0, opt);
  if (!scores.empty()) {
    double lo = 1.0, hi = 5.0;
    if (ev.protocol == "preference" || ev.protocol == "pairwise") {  // R, a score difference: fit the axis to the data
      lo = 0, hi = 0;
      for (const auto& r : scores)
        for (const auto* e : {&r.system, &r.baseline})
          if (*e && (*e)->defined()) {
            lo = std::min({lo, (*e)->value, (*e)->has_interval() ? (*e)->ci_low : lo});
            hi = std::max({hi, (*e)->value, (*e)->has_interval() ? (*e)->ci_high : hi});
          }
      if (hi - lo < 1e-9) hi = lo + 1;
    }
    h += detail::svg_bar_chart("chart-scores", "Scores with 95% confidence intervals", scores, false, lo, hi, opt);
  }
  if (!aspects.empty()) h += detail::svg_bar_chart("chart-aspects", "Per-aspect means (1-5) with 95% confidence intervals", aspects, false, 1.0, 5.0, opt);

  std::map<std::string, const paired_metric*> diff_by_name;
  if (diffs)
    for (const auto& d : *diffs) diff_by_name[d.name] = &d;
  auto table = [&](const char* title, bool aspect_rows) {
    std::string t = selfalign::detail::format_text("<h2>{}</h2>\n<table class=\"{}\"><thead><tr><th>{}</th><th>{}</th>", title,
                                aspect_rows ? "aspects" : "metrics", aspect_rows ? "aspect" : "metric", html_escape(opt.system_label));
    if (baseline) t += "<th>" + html_escape(opt.baseline_label) + "</th><th>paired difference</th>";
    t += "<th>meaning</th></tr></thead><tbody>\n";
    std::size_t rows = 0;
    for (const auto& m : ev.metrics) {
      if ((m.group == "aspect") != aspect_rows) continue;
      ++rows;
      t += "<tr><td>" + html_escape(m.name) + "</td><td class=\"num\">" + html_escape(detail::fmt_estimate(m.value, m.is_rate)) + "</td>";
      if (baseline) {
        auto b = base_metrics.find(m.name);
        t += "<td class=\"num\">" + (b != base_metrics.end() ? html_escape(detail::fmt_estimate(b->second->value, m.is_rate)) : std::string("-")) + "</td>";
        auto d = diff_by_name.find(m.name);
        t += "<td class=\"num\">" + (d != diff_by_name.end() ? html_escape(detail::fmt_estimate(d->second->difference, false)) : std::string("-")) + "</td>";
      }
      t += "<td>" + html_escape(m.description) + "</td></tr>\n";
    }
    t += "</tbody></table>\n";
    return rows ? t : std::string();
  };
  h += table("Metric table", false);
  h += table("Per-aspect table", true);
  if (!ev.counts.empty()) {
    h += "<h2>Counts</h2>\n<table class=\"counts\"><tbody>";
    for (const auto& [k, v] : ev.counts) h += selfalign::detail::format_text("<tr><td>{}</td><td class=\"num\">{}</td></tr>", html_escape(k), v);
    h += "</tbody></table>\n";
  }

  // Where the systems differ most.
  const auto diff_items = detail::differing_items(ev, baseline);
  if (!diff_items.empty()) {
    h += "<h2>Where the systems differ most</h2>\n";
    for (std::size_t i = 0; i < diff_items.size() && i < opt.max_items; ++i) {
      const auto& d = diff_items[i];
      const bool pref = ev.protocol == "preference";
      const std::string left = pref ? "human-chosen" : opt.system_label;
      const std::string right = pref ? "human-rejected" : opt.baseline_label;
      const std::string other = d.other ? d.other->response : d.item->baseline;
      h += "<div class=\"item\"><div class=\"q\">" + html_escape(d.item->id) + ": " + html_escape(d.item->query) + "</div>";
      h += "<div class=\"verdict\">" + html_escape(d.verdict) + "</div><div class=\"answers\">";
      h += "<div><b>" + html_escape(left) + "</b><pre>" + html_escape(d.item->response) + "</pre></div>";
      h += "<div><b>" + html_escape(right) + "</b><pre>" + html_escape(other) + "</pre></div></div></div>\n";
    }
  }
  if (ev.failures > 0) {
    h += selfalign::detail::format_text("<h2>Items excluded: unreadable or failed judge outputs ({})</h2>\n<table class=\"failures\"><thead><tr><th>id</th><th>reason</th></tr></thead><tbody>", ev.failures);
    for (const auto& it : ev.items)
      if (!it.failure.empty() && it.failure != "unfinished") h += "<tr><td>" + html_escape(it.id) + "</td><td>" + html_escape(it.failure) + "</td></tr>";
    h += "</tbody></table>\n";
  }
  h += "<p class=\"note\">Generated by selfalign " + std::string(version_string) +
       ". Intervals are percentile bootstrap intervals over items; see docs/evaluation.md.</p>\n</body></html>\n";
  return h;
}

}  // namespace eval
SELFALIGN_END_NAMESPACE
