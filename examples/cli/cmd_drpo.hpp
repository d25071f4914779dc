// selfalign CLI: `drpo` — optimize a system prompt (and in-context examples) for a model
// SPDX-License-Identifier: MIT
#pragma once

#include "cli.hpp"

#include <selfalign/drpo/drpo.hpp>
#include <selfalign/embedding.hpp>
#include <selfalign/testing/drpo_sim.hpp>

namespace cli {

inline command_line drpo_parser() {
  command_line p("selfalign drpo [options] INPUT.jsonl",
                   "Searches for a model-specific alignment system prompt with DRPO: an optimizer model proposes\n"
                   "prompts, the base model answers the next training query under each, and a judge scores the\n"
                   "answers on aspects it selects per query (the dynamic reward). INPUT.jsonl holds the training\n"
                   "queries (in order). With --icl FILE, stage 1 first optimizes in-context examples (lines with a\n"
                   "query and an \"answer\"). Output: one JSON object {system_prompt, examples, trace, usage,\n"
                   "stop_reason, ...}; feed it to 'selfalign generate --drpo FILE'.");
  p.section("drpo options")
      .option("icl", "FILE", "seed in-context examples to optimize first (JSONL: query text and \"answer\")")
      .option("strategy", "NAME", "beam (default, the paper's), greedy or mcts")
      .option("beam-width", "N", "prompts kept per level (default 2)")
      .option("actions", "N", "prompts proposed per expansion (default 3)")
      .option("depth", "N", "prompts on a path (default 20; grows by one per skipped level, up to --max-depth-increase)")
      .option("max-depth-increase", "N", "most extra levels (default 10)")
      .option("initial-prompt", "TEXT", "the starting system prompt (default \"You are a helpful assistant.\")")
      .option("icl-rounds", "N", "revisions per in-context example in stage 1 (default 5)")
      .option("max-tokens", "N", "most tokens per base-model answer (default 2048, as the original)")
      .alias("max-new-tokens", "max-tokens")
      .option("judge-max-tokens", "N", "most tokens per judge answer, aspect selection and scoring (default 2048)")
      .option("optimizer-max-tokens", "N", "most tokens per optimizer answer, both stages (default 2048)")
      .flag("keep-duplicates", "evaluate identical proposed prompts again, as the original code does")
      .flag("original-search", "evaluate every candidate and run to the depth budget, as the original code does");
  add_common_options(p, true);
  p.positionals(1, 1, "INPUT.jsonl ('-' reads standard input)")
      .example("selfalign drpo --base-url http://127.0.0.1:8000/v1 --judge-base-url https://api.openai.com/v1 \\\n"
               "      --judge-model gpt-4o --optimizer-base-url https://api.openai.com/v1 --optimizer-model gpt-4o \\\n"
               "      --cache drpo.cache --max-cost 10 --prices prices.json train.jsonl --out drpo.json")
      .example("selfalign drpo --backend simulated --depth 4 train.jsonl --out drpo.json");
  return p;
}

/// Reads in-context examples: JSONL lines with the query (prompt/instruction/question/query) and an
/// "answer" (or "response").
inline result<std::vector<drpo::icl_example>> read_examples(const std::string& path) {
  auto records = io::read_queries(std::filesystem::path(path));
  if (!records) return unexpected(records.error());
  std::vector<drpo::icl_example> out;
  for (const auto& r : *records) {
    const nlohmann::json* answer = nullptr;
    for (const char* key : {"answer", "response"})
      if (auto it = r.fields.find(key); it != r.fields.end() && it->is_string()) answer = &*it;
    if (!answer) return fail(errc::invalid_argument, fmt::format("{}:{}: needs a string \"answer\" (or \"response\")", path, r.line));
    out.push_back({r.prompt, answer->get<std::string>()});
  }
  return out;
}

inline int run_drpo(context& c) {
  drpo::config cfg;
  cfg.seed = c.seed;
  cfg.max_concurrency = c.concurrency;
  cfg.on_event = c.events();
  struct size_option {
    const char* name;
    std::size_t* field;
  };
  for (const auto& [name, field] : {size_option{"beam-width", &cfg.beam_width}, size_option{"actions", &cfg.actions_per_expansion},
                                    size_option{"depth", &cfg.depth}, size_option{"max-depth-increase", &cfg.max_depth_increase},
                                    size_option{"icl-rounds", &cfg.icl_rounds}}) {
    auto v = c.args.get_int(name, std::string_view(name) == "max-depth-increase" || std::string_view(name) == "icl-rounds" ? 0 : 1);
    if (!v) return report_error(&c, c.command, v.error());
    if (*v) *field = static_cast<std::size_t>(**v);
  }
  for (const auto& [name, field] : {std::pair<const char*, int*>{"max-tokens", &cfg.base_sampling.max_tokens},
                                    {"judge-max-tokens", &cfg.judge_max_tokens},
                                    {"optimizer-max-tokens", &cfg.optimizer_sampling.max_tokens}}) {
    auto v = c.args.get_int(name, 1);
    if (!v) return report_error(&c, c.command, v.error());
    if (*v) *field = static_cast<int>(std::min<std::int64_t>(**v, 1 << 30));
  }
  cfg.icl_optimizer_sampling.max_tokens = cfg.optimizer_sampling.max_tokens;
  if (auto p = c.args.get("initial-prompt")) cfg.initial_system_prompt = *p;
  cfg.dedup_candidates = !c.args.has("keep-duplicates");
  cfg.reproduce_original_search = c.args.has("original-search");
  auto chosen = c.args.get_choice("strategy", "beam", {"beam", "greedy", "mcts"});
  if (!chosen) return report_error(&c, c.command, chosen.error());
  const std::string strategy = *chosen;

  auto queries = read_input(c);
  if (!queries) return report_error(&c, c.command, queries.error());
  drpo::dataset data;
  for (const auto& q : *queries) data.queries.push_back(q.prompt);
  if (auto icl = c.args.get("icl")) {
    auto examples = read_examples(*icl);
    if (!examples) return report_error(&c, c.command, examples.error());
    data.seed_examples = std::move(*examples);
  }

  auto base = make_role(c, "", [] { return any_generator(testing::drpo_sim::base_model{}); });
  if (!base) return report_error(&c, c.command, base.error());
  auto optimizer = make_role(c, "optimizer", [] { return any_generator(testing::drpo_sim::optimizer_model{}); });
  if (!optimizer) return report_error(&c, c.command, optimizer.error());
  auto selector_model = make_role(c, "judge", [] { return any_generator(testing::drpo_sim::critic_model{}); }, "selector");
  if (!selector_model) return report_error(&c, c.command, selector_model.error());
  auto judge_model = make_role(c, "judge", [] { return any_generator(testing::drpo_sim::critic_model{}); });
  if (!judge_model) return report_error(&c, c.command, judge_model.error());
  auto out = io::atomic_output::open(c.args.get_or("out", "-"));
  if (!out) return report_error(&c, c.command, out.error());

  auto selector = drpo::make_selector(std::move(*selector_model), cfg);
  auto judge = drpo::make_judge(std::move(*judge_model), cfg);
  hashed_ngram_embedder embedder;
  auto roles = drpo::make_roles(*base, selector, judge, *optimizer, embedder);
  result<drpo::report> rep = fail(errc::internal, "no strategy ran");
  if (strategy == "beam") rep = drpo::optimize(roles, data, cfg);
  else if (strategy == "greedy") {
    search::greedy s;
    rep = drpo::optimize(roles, data, cfg, s);
  } else {
    search::mcts s;
    rep = drpo::optimize(roles, data, cfg, s);
  }
  if (!rep) return report_error(&c, c.command, rep.error());
  c.progress->finish();

  nlohmann::json j = *rep;  // the full report: trace, search statistics, per-role usage
  nlohmann::json result_json = {{"system_prompt", rep->best_prompt},
                                {"examples", rep->examples},
                                {"trace", j.value("trace", nlohmann::json::array())},
                                {"usage", usage_json(c)},
                                {"stop_reason", rep->stop_reason},
                                {"complete", rep->complete},
                                {"best_score", rep->best_score ? nlohmann::json(*rep->best_score) : nlohmann::json(nullptr)},
                                {"best_path", rep->best_path},
                                {"strategy", rep->strategy},
                                {"seed", rep->seed},
                                {"backend", c.backend_label()},
                                {"report", j}};
  result_json["report"].erase("trace");  // once is enough
  if (auto w = out->write_line(result_json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace)); !w)
    return report_error(&c, c.command, w.error());
  if (auto committed = out->commit(); !committed) return report_error(&c, c.command, committed.error());
  if (!c.args.has("quiet") && rep->complete) {
    const std::string reward = rep->best_score
                                   ? fmt::format("best mean reward {:.3f}", *rep->best_score)
                                   : std::string("no candidate got a reward (every judgement failed), so the initial prompt is kept");
    std::fprintf(stderr, "selfalign drpo: finished (stop reason: %s) after %zu candidates; %s; best system prompt:\n%s\n",
                 rep->stop_reason.c_str(), rep->trace.size(), reward.c_str(), rep->best_prompt.c_str());
  }
  std::size_t failed = 0;
  for (const auto& cand : rep->trace) failed += cand.eval.error ? 1 : 0;
  if (failed > 0)
    std::fprintf(stderr, "selfalign drpo: %zu candidate(s) failed on their own (a request over the model's context) and got no "
                 "reward; the search went on (each has \"error\" in its trace entry)\n", failed);
  if (!rep->complete && rep->error) return report_error(&c, c.command, *rep->error);
  return exit_ok;
}

/// Reads a `selfalign drpo` output file into a deployment that builds aligned prompts.
inline result<drpo::deployment<>> load_drpo(const std::string& path, const drpo::config& cfg) {
  auto parsed = io::read_json_file(path);
  if (!parsed) return fail(errc::invalid_argument, parsed.error().message);
  nlohmann::json& j = *parsed;
  if (!j.is_object() || !j.contains("system_prompt") || !j["system_prompt"].is_string())
    return fail(errc::invalid_argument, fmt::format("{}: not a 'selfalign drpo' output (needs \"system_prompt\" and \"examples\")", path));
  // A run that stopped early (budget, Ctrl-C, an error) holds only the best prompt so far: refuse it
  // rather than deploy it silently.
  if (auto it = j.find("complete"); it != j.end() && it->is_boolean() && !it->get<bool>())
    return fail(errc::invalid_argument,
                fmt::format("{}: the drpo run did not complete (stop reason: {}); rerun 'selfalign drpo' (with the same "
                            "--cache it resumes) before deploying its prompt",
                            path, j.contains("stop_reason") && j["stop_reason"].is_string() ? j["stop_reason"].get<std::string>()
                                                                                            : std::string("unknown")));
  drpo::report rep;
  rep.best_prompt = j["system_prompt"].get<std::string>();
  try {
    if (j.contains("examples")) rep.examples = j["examples"].get<std::vector<drpo::icl_example>>();
  } catch (const std::exception& e) {
    return fail(errc::invalid_argument, fmt::format("{}: bad \"examples\": {}", path, io::detail::exception_reason(e)));
  }
  return drpo::deployment<>::create(rep, cfg);
}

}  // namespace cli
