// selfalign CLI: `judge` — score responses with the dynamic-reward rubric judge (DRPO's reward)
// SPDX-License-Identifier: MIT
#pragma once

#include "cli.hpp"

#include <selfalign/judges/aspect_selector.hpp>
#include <selfalign/judges/rubric_judge.hpp>
#include <selfalign/testing/drpo_sim.hpp>

namespace cli {

inline command_line judge_parser() {
  command_line p("selfalign judge [options] INPUT.jsonl",
                   "Scores each response with the dynamic-reward rubric judge: the judge model first selects the\n"
                   "aspects that matter for the query (helpfulness, safety, factuality, ...), then scores the\n"
                   "response 1-5 on each with a rationale; the score is their mean. INPUT.jsonl holds the query in\n"
                   "\"prompt\" (or \"instruction\", \"question\", \"query\") and the answer in \"response\". Output: one\n"
                   "line per input, {id, prompt, response, score, aspects: {name: {score, rationale}}, status}; a\n"
                   "judge output that cannot be read after retries has \"score\": null and \"status\": \"failed\".");
  p.section("judge options")
      .option("min-aspects", "N", "fewest aspects to select per query (default 2)")
      .option("max-aspects", "N", "most aspects to select per query (default 5)")
      .option("parse-retries", "N", "judge calls repeated when the output is not readable JSON (default 1)")
      .option("max-tokens", "N", "most tokens per judge answer, aspect selection and scoring (default 2048)")
      .alias("judge-max-tokens", "max-tokens");
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
  auto max_tokens = c.args.get_int("max-tokens", 1);
  for (const auto* r : {&min_aspects, &max_aspects, &retries, &max_tokens})
    if (!*r) return report_error(&c, c.command, r->error());
  auto queries = read_input(c);
  if (!queries) return report_error(&c, c.command, queries.error());
  const std::string source = c.args.positionals().front() == "-" ? "<stdin>" : c.args.positionals().front();
  for (const auto& q : *queries) {
    const auto it = q.fields.find("response");
    if (it == q.fields.end() || !it->is_string())
      return report_error(&c, c.command, error(errc::invalid_argument, fmt::format("{}:{}: needs a string \"response\" to judge", source, q.line)));
  }
  auto model = make_role(c, "judge", [] { return any_generator(testing::drpo_sim::critic_model{}); });
  if (!model) return report_error(&c, c.command, model.error());
  auto out = jsonl_writer::open(c);
  if (!out) return report_error(&c, c.command, out.error());

  // Selection and scoring share the judge role's backend (and so its cache and meter).
  judges::selector_options sel_opts;
  judges::rubric_judge_options judge_opts;
  judge_opts.parse_retries = static_cast<int>(retries->value_or(1));
  sel_opts.parse_retries = judge_opts.parse_retries;
  if (*max_tokens) {
    judge_opts.sampling.max_tokens = static_cast<int>(std::min<std::int64_t>(**max_tokens, 1 << 30));
    sel_opts.sampling.max_tokens = judge_opts.sampling.max_tokens;
  }
  judges::llm_aspect_selector<any_generator&> selector(*model, sel_opts);
  judges::rubric_judge<any_generator&> judge(*model, judge_opts);
  c.progress->set_total(queries->size());

  return write_lines_in_order(c, *out, queries->size(), default_chunk(c), [&](std::size_t begin, std::size_t end) {
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
    // Items are judged up to the first failed selection (the loop stops there anyway).
    std::vector<judge_request> requests;
    for (std::size_t i = begin; i < end && chosen[i - begin]; ++i) {
      judge_request r;
      r.query = (*queries)[i].prompt;
      r.response = (*queries)[i].fields["response"].get<std::string>();
      for (const auto& name : chosen[i - begin]->aspects) r.criteria.push_back(criterion{name, "", "", 1.0});
      r.guidance = chosen[i - begin]->reasoning;
      r.seed = derive_seed(c.seed, "judge/score", (*queries)[i].id);
      requests.push_back(std::move(r));
    }
    auto verdicts = judge.judge_batch(requests, c.batch());
    std::vector<result<nlohmann::json>> lines;
    for (std::size_t k = 0; k < verdicts.size(); ++k) {
      if (!verdicts[k]) {
        lines.emplace_back(unexpected(verdicts[k].error()));
        continue;
      }
      const auto& q = (*queries)[begin + k];
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
      lines.emplace_back(std::move(line));
    }
    if (requests.size() < end - begin) lines.emplace_back(unexpected(chosen[requests.size()].error()));
    return lines;
  });
}

}  // namespace cli
