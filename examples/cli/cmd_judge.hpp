// selfalign CLI: `judge` — score responses with the dynamic-reward rubric judge (DRPO's reward)
// SPDX-License-Identifier: MIT
#pragma once

#include "cli.hpp"

#include <selfalign/judges/aspect_selector.hpp>
#include <selfalign/judges/rubric_judge.hpp>
#include <selfalign/testing/drpo_sim.hpp>

namespace cli {

inline io::arg_parser judge_parser() {
  io::arg_parser p("selfalign judge [options] INPUT.jsonl",
                   "Scores each response with the dynamic-reward rubric judge: the judge model first selects the\n"
                   "aspects that matter for the query (helpfulness, safety, factuality, ...), then scores the\n"
                   "response 1-5 on each with a rationale; the score is their mean. INPUT.jsonl holds the query in\n"
                   "\"prompt\" (or \"instruction\", \"question\", \"query\") and the answer in \"response\". Output: one\n"
                   "line per input, {id, prompt, response, score, aspects: {name: {score, rationale}}, status}; a\n"
                   "judge output that cannot be read after retries has \"score\": null and \"status\": \"failed\".");
  p.section("judge options")
      .option("min-aspects", "N", "fewest aspects to select per query (default 2)")
      .option("max-aspects", "N", "most aspects to select per query (default 5)")
      .option("parse-retries", "N", "judge calls repeated when the output is not readable JSON (default 1)");
  add_common_options(p, true);
  p.positionals(1, 1, "INPUT.jsonl ('-' reads standard input)")
      .example("selfalign judge --judge-base-url https://api.openai.com/v1 --judge-model gpt-4o answers.jsonl")
      .example("selfalign generate prompts.jsonl | selfalign judge -");
  return p;
}

inline int run_judge(context& c) {
  auto min_aspects = c.args.get_int("min-aspects", 1);
  auto max_aspects = c.args.get_int("max-aspects", 1);
  auto retries = c.args.get_int("parse-retries", 0);
  for (const auto* r : {&min_aspects, &max_aspects, &retries})
    if (!*r) return report_error(&c, c.command, r->error());
  auto queries = read_input(c);
  if (!queries) return report_error(&c, c.command, queries.error());
  const std::string source = c.args.positionals().front() == "-" ? "<stdin>" : c.args.positionals().front();
  for (const auto& q : *queries) {
    const auto it = q.fields.find("response");
    if (it == q.fields.end() || !it->is_string())
      return report_error(&c, c.command, error(errc::invalid_argument, fmt::format("{}:{}: needs a string \"response\" to judge", source, q.line)));
  }
  // Two stacks over the same endpoint (and the same meter and cache): one selects, one scores.
  auto select_model = make_role(c, "judge", [] { return any_generator(testing::drpo_sim::critic_model{}); });
  if (!select_model) return report_error(&c, c.command, select_model.error());
  auto judge_model = make_role(c, "judge", [] { return any_generator(testing::drpo_sim::critic_model{}); });
  if (!judge_model) return report_error(&c, c.command, judge_model.error());
  auto out = jsonl_writer::open(c);
  if (!out) return report_error(&c, c.command, out.error());

  judges::selector_options sel_opts;
  judges::rubric_judge_options judge_opts;
  judge_opts.parse_retries = static_cast<int>(retries->value_or(1));
  sel_opts.parse_retries = judge_opts.parse_retries;
  judges::llm_aspect_selector<any_generator> selector(std::move(*select_model), sel_opts);
  judges::rubric_judge<any_generator> judge(std::move(*judge_model), judge_opts);
  c.progress->set_total(queries->size());

  std::optional<error> stop;
  const std::size_t chunk = std::max<std::size_t>(c.concurrency * 4, 16);
  for (std::size_t begin = 0; begin < queries->size() && !stop; begin += chunk) {
    const std::size_t end = std::min(queries->size(), begin + chunk);
    std::vector<judges::selection_request> selections;
    for (std::size_t i = begin; i < end; ++i) {
      judges::selection_request s;
      s.query = (*queries)[i].prompt;
      s.min_aspects = static_cast<int>(min_aspects->value_or(2));
      s.max_aspects = static_cast<int>(max_aspects->value_or(5));
      s.seed = derive_seed(c.seed, "judge/select", (*queries)[i].id);
      selections.push_back(std::move(s));
    }
    auto chosen = selector.select_batch(selections, c.batch());
    std::vector<judge_request> requests;
    for (std::size_t i = begin; i < end; ++i) {
      const auto& sel = chosen[i - begin];
      if (!sel) {
        stop = sel.error();
        break;
      }
      judge_request r;
      r.query = (*queries)[i].prompt;
      r.response = (*queries)[i].fields["response"].get<std::string>();
      for (const auto& name : sel->aspects) r.criteria.push_back(criterion{name, "", "", 1.0});
      r.guidance = sel->reasoning;
      r.seed = derive_seed(c.seed, "judge/score", (*queries)[i].id);
      requests.push_back(std::move(r));
    }
    auto verdicts = judge.judge_batch(requests, c.batch());
    for (std::size_t k = 0; k < verdicts.size(); ++k) {
      const auto& q = (*queries)[begin + k];
      if (!verdicts[k]) {
        stop = verdicts[k].error();
        break;
      }
      const judgement& v = *verdicts[k];
      nlohmann::json aspects = nlohmann::json::object();
      for (const auto& cs : v.criteria) aspects[cs.name] = {{"score", cs.score}, {"rationale", cs.rationale}};
      nlohmann::json line = {{"id", q.id},
                             {"prompt", q.prompt},
                             {"response", requests[k].response},
                             {"score", v.score ? nlohmann::json(*v.score) : nlohmann::json(nullptr)},
                             {"aspects", aspects},
                             {"status", to_string(v.status)},
                             {"selection_status", to_string(chosen[k]->status)}};
      if (!v.ok()) line["error"] = v.rationale;
      if (c.simulated) line["backend"] = "simulated";
      if (auto w = out->write(line); !w) return report_error(&c, c.command, w.error());
      c.progress->item_done();
    }
  }
  if (auto committed = out->commit(); !committed) return report_error(&c, c.command, committed.error());
  c.progress->finish();
  if (stop) return report_error(&c, c.command, *stop);
  return exit_ok;
}

}  // namespace cli
