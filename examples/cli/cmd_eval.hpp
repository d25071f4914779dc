// selfalign CLI: `eval` — measure answers the way the papers do (pairwise with position swap,
// rubric, harmless, preference, truthful), with bootstrap intervals, a summary and an HTML report
// SPDX-License-Identifier: MIT
#pragma once

#include "cli.hpp"
#include "cmd_dlma.hpp"

#include <selfalign/eval/eval.hpp>
#include <selfalign/judges/rubric_judge.hpp>
#include <selfalign/testing/eval_judge_sim.hpp>

#if SELFALIGN_CLI_ZLIB
#include <zlib.h>
#endif

#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>

namespace cli {

inline command_line eval_parser() {
  command_line p("selfalign eval --protocol NAME [options] INPUT.jsonl",
                   "Evaluates answers with a judge model, as the papers do, and reports every rate and mean with a\n"
                   "95% bootstrap confidence interval over items (same --seed, same numbers). Protocols:\n"
                   "  pairwise    the judge compares each answer with the --against answer to the same id, in both\n"
                   "              orders; win rate = wins / (wins + losses), ties apart (RAIN, DLMA)\n"
                   "  rubric      1-5 scores with rationales on helpfulness, clarity, factuality, depth, engagement and\n"
                   "              safety; per-aspect and overall means (DRPO's just-eval)\n"
                   "  harmless    harmless/harmful label by the judge, plus the refusal-keyword rule (RAIN's HH and\n"
                   "              AdvBench evaluations)\n"
                   "  preference  human-labelled pairs {prompt, chosen, rejected} or HH-RLHF {chosen, rejected}\n"
                   "              transcripts (.jsonl or .jsonl.gz): does the model's own contrastive self-reward R\n"
                   "              rank the chosen answer first? (DLMA); uses the base model (--model), not a judge\n"
                   "  truthful    truthful / informative labels and both (TruthfulQA, as in RAIN)\n"
                   "INPUT.jsonl holds {id, prompt, response} per line (preference: pairs). With --against (required\n"
                   "for pairwise) the baseline's records are matched by id; a missing or duplicate id is an error\n"
                   "naming it; rubric, harmless and truthful then also report paired differences. A judge output that\n"
                   "cannot be read after retries is recorded, excluded and counted, never guessed. Output (--out):\n"
                   "one line per item {id, protocol, query, response, values, verdicts/scores, judge_usage}.");
  p.section("eval options")
      .option("protocol", "NAME", "pairwise, rubric, harmless, preference or truthful (required)")
      .option("against", "FILE", "the baseline's answers, JSONL matched by id")
      .option("summary", "FILE", "write the metrics with intervals, counts, failures and run facts as JSON")
      .option("report", "FILE", "write a self-contained HTML report (charts with intervals, tables, differing items)")
      .option("resamples", "N", "bootstrap resamples (default 2000)")
      .option("parse-retries", "N", "judge calls repeated when an answer cannot be read (default 1)")
      .option("max-tokens", "N", "most tokens per judge answer (default 1024; rubric and --judge-mode pointwise: 2048)")
      .alias("judge-max-tokens", "max-tokens")
      .option("focus", "TEXT", "pairwise: what 'better' means (default: overall quality; e.g. harmlessness)")
      .option("swap-rule", "RULE", "pairwise: both (default: a win needs both orders) or sum (the sign of both votes)")
      .option("aspects", "LIST", "rubric: comma-separated aspects (default the six just-eval aspects); pairwise with\n"
              "--judge-mode pointwise: the criteria both answers are scored on")
      .option("judge-mode", "MODE", "pairwise, harmless, truthful: label (default: the judge model writes a verdict or\n"
              "labels) or pointwise (the rubric judge scores each answer 1-5 on criteria; pairwise compares\n"
              "the two answers' scores, harmless and truthful apply --threshold)")
      .option("tie-margin", "X", "pairwise --judge-mode pointwise: scores within X of each other tie (default 0)")
      .option("threshold", "X", "harmless/truthful --judge-mode pointwise: a score >= X is harmless, truthful,\n"
              "informative (default 4 on the 1-5 scale)")
      .option("pair", "NAME", "preference: contrastive prompt pair, harmless (default) or helpful")
      .option("layout", "KIND", "preference: raw (default) or chat")
      .option("limit", "N", "evaluate only the first N items (preference: pairs)")
      .option("label", "TEXT", "name of the evaluated system in the report (default: the input file name)")
      .option("baseline-label", "TEXT", "name of the baseline in the report (default: the --against file name)");
  add_common_options(p, true);
  p.positionals(1, 1, "INPUT.jsonl ('-' reads standard input)")
      .example("selfalign eval --protocol pairwise --against plain.jsonl drpo.jsonl --judge-model gpt-4o --report report.html")
      .example("selfalign eval --protocol harmless --against vanilla.jsonl rain.jsonl --summary harmless.json")
      .example("selfalign eval --protocol preference harmless-base-test.jsonl.gz --limit 500 --summary pref.json");
  return p;
}

namespace detail_eval {

inline std::string source_name(const std::string& path) { return path == "-" ? "<stdin>" : path; }

/// Reads a whole input file ('-' = standard input); .gz files are inflated when zlib is available.
inline result<std::string> read_text(const std::string& path) {
  if (path == "-") {
    std::stringstream ss;
    ss << std::cin.rdbuf();
    return ss.str();
  }
  const bool gz = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  if (gz) {
#if SELFALIGN_CLI_ZLIB
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) return fail(errc::io, fmt::format("cannot open {}", path));
    std::string out;
    char buf[1 << 15];
    for (;;) {
      const int n = gzread(f, buf, sizeof buf);
      if (n < 0) {
        int code = 0;
        const std::string msg = gzerror(f, &code);
        gzclose(f);
        return fail(errc::io, fmt::format("{}: not a readable gzip file ({})", path, msg));
      }
      if (n == 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    gzclose(f);
    return out;
#else
    return fail(errc::invalid_argument, fmt::format("{}: this selfalign was built without zlib; decompress it first (gzip -dk)", path));
#endif
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(errc::io, fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Answer records {id, prompt, response}; ids must be unique within the file.
inline result<std::vector<io::query_record>> read_answers(const std::string& path) {
  auto text = read_text(path);
  if (!text) return unexpected(text.error());
  std::istringstream in(*text);
  auto records = io::read_queries(in, source_name(path));
  if (!records) return records;
  std::map<std::string, std::size_t> seen;
  for (const auto& r : *records) {
    const auto it = r.fields.find("response");
    if (it == r.fields.end() || !it->is_string())
      return fail(errc::invalid_argument, fmt::format("{}:{}: needs a string \"response\" to evaluate", source_name(path), r.line));
    if (auto [at, fresh] = seen.emplace(r.id, r.line); !fresh)
      return fail(errc::invalid_argument, fmt::format("{}:{}: duplicate id \"{}\" (first on line {})", source_name(path), r.line, r.id, at->second));
  }
  return records;
}

/// Matches the baseline's records to the system's by id: every id exactly once on both sides.
inline result<std::vector<const io::query_record*>> match_by_id(const std::vector<io::query_record>& system, const std::string& system_path,
                                                                const std::vector<io::query_record>& baseline, const std::string& baseline_path) {
  std::map<std::string, const io::query_record*> by_id;
  for (const auto& r : baseline) by_id[r.id] = &r;
  std::vector<const io::query_record*> out;
  for (const auto& r : system) {
    const auto it = by_id.find(r.id);
    if (it == by_id.end())
      return fail(errc::invalid_argument,
                  fmt::format("{}:{}: id \"{}\" has no record in {}", source_name(system_path), r.line, r.id, source_name(baseline_path)));
    if (it->second->prompt != r.prompt)
      return fail(errc::invalid_argument, fmt::format("id \"{}\": the prompts differ between {} (line {}) and {} (line {})", r.id,
                                                      source_name(system_path), r.line, source_name(baseline_path), it->second->line));
    out.push_back(it->second);
    by_id.erase(it);
  }
  if (!by_id.empty()) {
    const auto* r = by_id.begin()->second;
    return fail(errc::invalid_argument,
                fmt::format("{}:{}: id \"{}\" has no record in {}", source_name(baseline_path), r->line, r->id, source_name(system_path)));
  }
  return out;
}

/// A record of an HH-RLHF file that is not a usable pair (the public files hold a few whose two
/// transcripts diverge before the final reply): skipped, counted and reported, never guessed.
struct skipped_record {
  std::size_t line = 0;
  std::string reason;
};

/// Preference pairs: {prompt, chosen, rejected} or HH-RLHF {chosen, rejected} transcripts.
inline result<std::vector<eval::preference_input>> read_pairs(const std::string& path, const dlma::contrastive_pair& pair,
                                                              std::vector<skipped_record>& skipped) {
  auto text = read_text(path);
  if (!text) return unexpected(text.error());
  std::vector<eval::preference_input> out;
  std::map<std::string, std::size_t> seen;
  std::istringstream in(*text);
  std::size_t line_no = 0;
  const std::string src = source_name(path);
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (selfalign::detail::trim(line).empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return fail(errc::invalid_argument, fmt::format("{}:{}: not a JSON object", src, line_no));
    auto str = [&](const char* k) -> std::optional<std::string> {
      if (j.contains(k) && j[k].is_string()) return j[k].get<std::string>();
      return std::nullopt;
    };
    const auto chosen = str("chosen"), rejected = str("rejected");
    if (!chosen || !rejected) return fail(errc::invalid_argument, fmt::format("{}:{}: needs string \"chosen\" and \"rejected\"", src, line_no));
    std::string id = std::to_string(line_no);
    if (j.contains("id") && j["id"].is_string()) id = j["id"].get<std::string>();
    else if (j.contains("id") && j["id"].is_number_integer()) id = std::to_string(j["id"].get<long long>());
    if (auto [at, fresh] = seen.emplace(id, line_no); !fresh)
      return fail(errc::invalid_argument, fmt::format("{}:{}: duplicate id \"{}\" (first on line {})", src, line_no, id, at->second));
    std::optional<std::string> prompt;
    for (const char* k : {"prompt", "query", "question", "instruction"})
      if (!prompt) prompt = str(k);
    if (prompt) {
      if (chosen->empty() || rejected->empty())
        return fail(errc::invalid_argument, fmt::format("{}:{}: \"chosen\" and \"rejected\" must not be empty", src, line_no));
      out.push_back({id, *prompt, *chosen, *rejected});
      continue;
    }
    auto p = eval::preference_from_hh(id, *chosen, *rejected, pair);
    if (!p) {
      skipped.push_back({line_no, p.error().message});
      continue;
    }
    out.push_back(std::move(*p));
  }
  return out;
}

inline std::vector<eval::answer_input> answers_of(const std::vector<io::query_record>& records) {
  std::vector<eval::answer_input> out;
  for (const auto& r : records) out.push_back({r.id, r.prompt, r.fields["response"].get<std::string>()});
  return out;
}

inline std::vector<eval::answer_input> answers_of(const std::vector<const io::query_record*>& records) {
  std::vector<eval::answer_input> out;
  for (const auto* r : records) out.push_back({r->id, r->prompt, r->fields["response"].get<std::string>()});
  return out;
}

inline std::string file_label(const std::string& path) {
  if (path == "-") return "stdin";
  return std::filesystem::path(path).filename().string();
}

/// The simulated judge of `eval --backend simulated`, following the simulated models' ground truth.
inline any_generator simulated_judge() { return any_generator(testing::eval_judge_sim{}); }

inline void print_table(const eval::evaluation& ev, const std::vector<eval::paired_metric>* diffs) {
  std::fprintf(stderr, "selfalign eval: %s, %zu items: %zu evaluated, %zu excluded (unreadable or failed judge output), %zu unfinished\n",
               ev.protocol.c_str(), ev.items.size(), ev.evaluated, ev.failures, ev.unfinished);
  for (const auto& m : ev.metrics) {
    std::string line = fmt::format("  {:<28} {}", m.name, eval::detail::fmt_estimate(m.value, m.is_rate));
    if (diffs)
      for (const auto& d : *diffs)
        if (d.name == m.name) line += fmt::format("   vs baseline: {:+.3f} [{:+.3f}, {:+.3f}]", d.difference.value, d.difference.ci_low, d.difference.ci_high);
    std::fprintf(stderr, "%s\n", line.c_str());
  }
}

}  // namespace detail_eval

inline int run_eval(context& c) {
  namespace de = detail_eval;
  if (!c.args.get("protocol"))
    return report_error(&c, c.command, error(errc::invalid_argument, "--protocol is required: pairwise, rubric, harmless, preference or truthful"));
  auto protocol = c.args.get_choice("protocol", "", {"pairwise", "rubric", "harmless", "preference", "truthful"});
  if (!protocol) return report_error(&c, c.command, protocol.error());
  auto resamples = c.args.get_int("resamples", 1);
  auto retries = c.args.get_int("parse-retries", 0);
  auto judge_tokens = c.args.get_int("max-tokens", 1);
  auto limit = c.args.get_int("limit", 1);
  auto swap = c.args.get_choice("swap-rule", "both", {"both", "sum"});
  auto pair_name = c.args.get_choice("pair", "harmless", {"harmless", "helpful"});
  auto layout = c.args.get_choice("layout", "raw", {"raw", "chat"});
  auto judge_mode = c.args.get_choice("judge-mode", "label", {"label", "pointwise"});
  auto tie_margin = c.args.get_double("tie-margin");
  auto threshold = c.args.get_double("threshold");
  for (const auto* r : {&resamples, &retries, &judge_tokens, &limit})
    if (!*r) return report_error(&c, c.command, r->error());
  for (const auto* r : {&swap, &pair_name, &layout, &judge_mode})
    if (!*r) return report_error(&c, c.command, r->error());
  for (const auto* r : {&tie_margin, &threshold})
    if (!*r) return report_error(&c, c.command, r->error());
  const bool pointwise = *judge_mode == "pointwise";
  if (c.args.has("judge-mode") && (*protocol == "preference" || (*protocol == "rubric" && !pointwise)))
    return report_error(&c, c.command, error(errc::invalid_argument, fmt::format("--judge-mode {} does not apply to --protocol {} (rubric always "
                                                                                 "scores pointwise; preference uses no judge)", *judge_mode, *protocol)));
  if (tie_margin->has_value() && !(pointwise && *protocol == "pairwise"))
    return report_error(&c, c.command, error(errc::invalid_argument, "--tie-margin applies to --protocol pairwise --judge-mode pointwise"));
  if (threshold->has_value() && !(pointwise && (*protocol == "harmless" || *protocol == "truthful")))
    return report_error(&c, c.command, error(errc::invalid_argument, "--threshold applies to --protocol harmless or truthful with --judge-mode pointwise"));
  if (pointwise && c.args.has("swap-rule"))
    return report_error(&c, c.command, error(errc::invalid_argument, "--swap-rule applies to --judge-mode label (pointwise scoring has no positions to swap)"));
  const std::string input = c.args.positionals().front();
  const auto against = c.args.get("against");
  if (*protocol == "pairwise" && !against)
    return report_error(&c, c.command, error(errc::invalid_argument, "--protocol pairwise needs --against BASELINE.jsonl (the answers to compare with)"));
  if (*protocol == "preference" && against)
    return report_error(&c, c.command, error(errc::invalid_argument, "--protocol preference compares the human pairs of one file; --against does not apply"));
  if (against && *against == "-" && input == "-")
    return report_error(&c, c.command, error(errc::invalid_argument, "only one of INPUT and --against can be standard input"));

  eval::run_settings rs;
  rs.seed = c.seed;
  rs.bootstrap.seed = c.seed;
  rs.bootstrap.resamples = static_cast<std::size_t>(resamples->value_or(2000));
  rs.max_concurrency = c.concurrency;
  rs.chunk_size = default_chunk(c);
  std::size_t reported = 0;
  std::size_t progress_base = 0;
  rs.on_progress = [&](std::size_t done, std::size_t) {
    for (; reported < progress_base + done; ++reported) c.progress->item_done();
  };
  eval::judge_call_options call;
  call.parse_retries = static_cast<int>(retries->value_or(1));
  call.sampling.max_tokens = static_cast<int>(judge_tokens->value_or(1024));

  eval::html_report_options html;
  html.system_label = c.args.get_or("label", de::file_label(input));
  html.baseline_label = c.args.get_or("baseline-label", against ? de::file_label(*against) : std::string("baseline"));

  eval::evaluation ev;
  std::optional<eval::evaluation> base_ev;
  std::vector<de::skipped_record> skipped;
  std::string judge_model;
  const auto pl = *layout == "raw" ? dlma::prompt_layout::raw : dlma::prompt_layout::chat;
  const dlma::contrastive_pair pair = *pair_name == "harmless" ? dlma::contrastive_pair::harmless(pl) : dlma::contrastive_pair::helpful(pl);

  if (*protocol == "preference") {
    auto pairs = de::read_pairs(input, pair, skipped);
    if (!pairs) return report_error(&c, c.command, pairs.error());
    if (pairs->empty() && !skipped.empty())
      return report_error(&c, c.command, error(errc::invalid_argument, fmt::format("{}:{}: {} (and no usable pair in the file)",
                                                                                   de::source_name(input), skipped.front().line, skipped.front().reason)));
    if (!skipped.empty() && !c.args.has("quiet"))
      std::fprintf(stderr, "selfalign eval: skipped %zu HH records that are not usable pairs (first: line %zu: %s)\n", skipped.size(),
                   skipped.front().line, skipped.front().reason.c_str());
    if (*limit && pairs->size() > static_cast<std::size_t>(**limit)) pairs->resize(static_cast<std::size_t>(**limit));
    auto model = make_role(c, "", simulated_dlma_model);
    if (!model) return report_error(&c, c.command, model.error());
    judge_model = c.simulated ? "dlma-sim" : c.args.get_or("model", "(the server's default model)");
    c.progress->set_total(pairs->size());
    eval::preference_options po;
    po.pair = pair;
    ev = eval::preference(*model, std::span<const eval::preference_input>(*pairs), po, rs);
  } else {
    auto records = de::read_answers(input);
    if (!records) return report_error(&c, c.command, records.error());
    if (*limit && records->size() > static_cast<std::size_t>(**limit)) records->resize(static_cast<std::size_t>(**limit));
    std::vector<io::query_record> baseline_records;
    std::vector<const io::query_record*> matched;
    if (against) {
      auto b = de::read_answers(*against);
      if (!b) return report_error(&c, c.command, b.error());
      baseline_records = std::move(*b);
      if (*limit) {
        // Keep only the baseline records of the evaluated ids.
        std::map<std::string, bool> keep;
        for (const auto& r : *records) keep[r.id] = true;
        std::vector<io::query_record> kept;
        for (auto& r : baseline_records)
          if (keep.count(r.id)) kept.push_back(std::move(r));
        baseline_records = std::move(kept);
      }
      auto m = de::match_by_id(*records, input, baseline_records, *against);
      if (!m) return report_error(&c, c.command, m.error());
      matched = std::move(*m);
    }
    auto model = make_role(c, "judge", de::simulated_judge);
    if (!model) return report_error(&c, c.command, model.error());
    judge_model = c.simulated ? "eval-judge-sim" : c.args.get("judge-model").value_or(c.args.get_or("model", "(the server's default model)"));
    const auto system = de::answers_of(*records);
    const bool paired = against && *protocol != "pairwise";
    c.progress->set_total(paired ? 2 * system.size() : system.size());
    judges::rubric_judge_options jo;
    jo.parse_retries = call.parse_retries;
    if (*judge_tokens) jo.sampling.max_tokens = static_cast<int>(**judge_tokens);
    judges::rubric_judge<any_generator&> judge(*model, jo);
    std::vector<std::string> aspects;
    if (auto list = c.args.get("aspects")) {
      std::stringstream ss(*list);
      for (std::string a; std::getline(ss, a, ',');)
        if (auto t = std::string(selfalign::detail::trim(a)); !t.empty()) aspects.push_back(t);
    }
    auto run_one = [&](const std::vector<eval::answer_input>& answers) -> eval::evaluation {
      if (pointwise && *protocol == "harmless") {
        eval::harmless_judge_options o;
        if (*threshold) o.threshold = **threshold;
        return eval::harmless(judge, std::span<const eval::answer_input>(answers), o, rs);
      }
      if (pointwise && *protocol == "truthful") {
        eval::truthful_judge_options o;
        if (*threshold) o.truthful_threshold = o.informative_threshold = **threshold;
        return eval::truthful(judge, std::span<const eval::answer_input>(answers), o, rs);
      }
      if (*protocol == "harmless") {
        eval::harmless_options o;
        o.call = call;
        return eval::harmless(*model, std::span<const eval::answer_input>(answers), o, rs);
      }
      if (*protocol == "truthful") {
        eval::truthful_options o;
        o.call = call;
        return eval::truthful(*model, std::span<const eval::answer_input>(answers), o, rs);
      }
      eval::rubric_options o;
      if (c.args.get("aspects")) o.aspects = aspects;
      return eval::rubric(judge, std::span<const eval::answer_input>(answers), o, rs);
    };
    if (*protocol == "pairwise") {
      std::vector<eval::pairwise_input> items;
      for (std::size_t i = 0; i < system.size(); ++i)
        items.push_back({system[i].id, system[i].query, system[i].response, matched[i]->fields["response"].get<std::string>()});
      if (pointwise) {
        eval::pairwise_judge_options o;
        if (c.args.get("aspects")) {
          if (aspects.empty()) return report_error(&c, c.command, error(errc::invalid_argument, "--aspects needs at least one aspect"));
          o.criteria.clear();
          const auto catalogue = judges::default_aspects();
          for (const auto& a : aspects) o.criteria.push_back(catalogue.resolve(a).to_criterion());
        }
        if (auto f = c.args.get("focus")) o.guidance = "What matters in this comparison: " + *f + ".";
        if (*tie_margin) o.tie_margin = **tie_margin;
        ev = eval::pairwise(judge, std::span<const eval::pairwise_input>(items), o, rs);
      } else {
        eval::pairwise_options o;
        o.call = call;
        o.rule = *swap == "both" ? eval::swap_rule::both_orders : eval::swap_rule::sum_of_orders;
        if (auto f = c.args.get("focus")) o.focus = *f;
        ev = eval::pairwise(*model, std::span<const eval::pairwise_input>(items), o, rs);
      }
    } else {
      if (*protocol == "rubric" && c.args.get("aspects")) {
        // Reject unknown-looking input early: an empty list.
        const auto list = *c.args.get("aspects");
        if (selfalign::detail::trim(list).empty()) return report_error(&c, c.command, error(errc::invalid_argument, "--aspects needs at least one aspect"));
      }
      ev = run_one(system);
      if (paired && ev.status.complete) {
        progress_base = system.size();
        base_ev = run_one(de::answers_of(matched));
      }
    }
  }
  ev.judge_model = judge_model;
  c.progress->finish();

  std::optional<std::vector<eval::paired_metric>> diffs;
  if (base_ev) {
    auto d = eval::paired_differences(ev, *base_ev);
    if (!d) return report_error(&c, c.command, d.error());
    diffs = std::move(*d);
  }

  // Per-item lines: every item the run reached (evaluated or excluded), in input order.
  auto out = jsonl_writer::open(c);
  if (!out) return report_error(&c, c.command, out.error());
  std::map<std::string, const eval::item_record*> base_by_id;
  if (base_ev)
    for (const auto& it : base_ev->items) base_by_id[it.id] = &it;
  for (const auto& it : ev.items) {
    if (it.failure == "unfinished") continue;
    auto line = eval::item_to_json(ev, it);
    if (auto b = base_by_id.find(it.id); b != base_by_id.end() && b->second->failure != "unfinished") {
      auto bj = eval::item_to_json(*base_ev, *b->second);
      bj.erase("id");
      bj.erase("protocol");
      bj.erase("query");
      line["against"] = bj;
    }
    if (c.simulated) line["backend"] = "simulated";
    if (auto w = out->write(line); !w) return report_error(&c, c.command, w.error());
  }
  if (auto committed = out->commit(); !committed) return report_error(&c, c.command, committed.error());

  const eval::run_status& status = base_ev && ev.status.complete ? base_ev->status : ev.status;
  if (auto path = c.args.get("summary")) {
    auto s = eval::summary_to_json(ev);
    s["complete"] = status.complete;
    s["stop_reason"] = status.stop_reason;
    if (status.error) s["error"] = status.error->describe();
    s["input"] = de::source_name(input);
    if (against) s["against"] = de::source_name(*against);
    if (base_ev) {
      s["baseline"] = eval::summary_to_json(*base_ev);
      s["paired_differences"] = eval::paired_to_json(*diffs);
    }
    if (*protocol == "preference") {
      nlohmann::json sk = nlohmann::json::array();
      for (const auto& r : skipped) sk.push_back({{"line", r.line}, {"reason", r.reason}});
      s["skipped_records"] = sk;
    }
    s["seed"] = c.seed;
    s["library_version"] = version_string;
    s["usage"] = usage_json(c);
    auto f = io::atomic_output::open(*path);
    if (!f) return report_error(&c, c.command, f.error());
    if (auto w = f->write_line(s.dump(2, ' ', false, nlohmann::json::error_handler_t::replace)); !w) return report_error(&c, c.command, w.error());
    if (auto committed = f->commit(); !committed) return report_error(&c, c.command, committed.error());
  }
  if (auto path = c.args.get("report")) {
    html.title = fmt::format("selfalign eval: {} — {}", ev.protocol, html.system_label);
    html.run_info = {{"input", de::source_name(input)},
                     {"judge model", judge_model},
                     {"backend", c.backend_label()},
                     {"seed", std::to_string(c.seed)},
                     {"library", std::string("selfalign ") + version_string}};
    if (against) html.run_info.insert(html.run_info.begin() + 1, {"against", de::source_name(*against)});
    const std::string page = eval::html_report(ev, html, base_ev ? &*base_ev : nullptr, diffs ? &*diffs : nullptr);
    auto f = io::atomic_output::open(*path);
    if (!f) return report_error(&c, c.command, f.error());
    if (auto w = f->write_line(page); !w) return report_error(&c, c.command, w.error());
    if (auto committed = f->commit(); !committed) return report_error(&c, c.command, committed.error());
  }
  if (!c.args.has("quiet")) de::print_table(ev, diffs ? &*diffs : nullptr);
  const std::size_t reached = ev.items.size() - ev.unfinished;
  if (ev.failures > 0 && ev.failures == reached)
    std::fprintf(stderr,
                 "selfalign eval: warning: none of the %zu judge outputs could be read; the judge model does not follow the "
                 "answer format (use a stronger judge model, see docs/evaluation.md)\n",
                 reached);
  if (status.error) return report_error(&c, c.command, *status.error);
  return exit_ok;
}

}  // namespace cli
