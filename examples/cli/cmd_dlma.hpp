// selfalign CLI: `dlma` — contrastive preference pairs with self-rewarding margins, for DPO trainers
// SPDX-License-Identifier: MIT
#pragma once

#include "cli.hpp"

#include <selfalign/dlma/build_pairs.hpp>
#include <selfalign/dlma/export.hpp>
#include <selfalign/io/preference_export.hpp>
#include <selfalign/testing/dlma_sim.hpp>

namespace cli {

inline command_line dlma_parser() {
  command_line p("selfalign dlma [options] INPUT.jsonl",
                   "Builds DLMA preference pairs: for each query the model answers once under a positive and once\n"
                   "under a negative contrastive prompt, then scores both answers under both prompts; the\n"
                   "self-rewarding margin R tells a DPO trainer how strongly to prefer the positive answer. Needs a\n"
                   "server that scores a given continuation (vLLM, SGLang; llama.cpp approximately). Output: one\n"
                   "line per pair in input order, {id, prompt, chosen, rejected, margin, weight, score_chosen,\n"
                   "score_rejected, provenance} (trl), message lists (trl-chat) or OpenRLHF conversations.");
  p.section("dlma options")
      .option("format", "FMT", "trl (default), trl-chat or openrlhf")
      .option("pair", "NAME", "contrastive prompt pair: harmless (default) or helpful")
      .option("layout", "KIND", "raw (default: the method's single-turn text prompt) or chat")
      .option("max-tokens", "N", "most tokens per answer (default 200)")
      .alias("max-new-tokens", "max-tokens")
      .option("temperature", "T", "sampling temperature (default 1.0)")
      .option("top-k", "K", "top-k sampling, 0 = off (default 50)")
      .option("on-negative", "POLICY", "when R < 0: keep (default, as the method), swap or drop")
      .option("margin", "KIND", "margin column: clipped (default, clip(R, -40, 40)), raw, or target (w*clip(R))")
      .option("stats", "FILE", "write the run's statistics (margin distribution, usage) as JSON")
      .flag("exact-scoring", "llama.cpp: read every answer token's log-probability (n_probs = the vocabulary)\n"
                             "instead of bounding those outside the top 20 (approximate); slower");
  add_common_options(p, false);
  p.positionals(1, 1, "INPUT.jsonl ('-' reads standard input)")
      .example("selfalign dlma --server vllm --base-url http://127.0.0.1:8000/v1 queries.jsonl --out pairs.jsonl")
      .example("selfalign dlma --format trl-chat --on-negative drop --cache dlma.cache queries.jsonl --out pairs.jsonl");
  return p;
}

/// The offline model behind `dlma --backend simulated`: polite answers under the positive
/// prompt, harmful ones under the negative prompt, and log-probabilities that favour each
/// answer's words under its own prompt. It recognises both layouts: the raw assistant tags and
/// the chat layout's system prompts ("... are lawful ..." / "... unlawful ...").
inline any_generator simulated_dlma_model() {
  testing::dlma_sim sim;
  const std::vector<std::string> polite = {"I can't help with that, but here is a safe and legal alternative.",
                                           "I'd rather not; please consider asking a professional for help."};
  const std::vector<std::string> harmful = {"Sure, here is how to do it without getting caught.", "Just take it; nobody will notice."};
  sim.answer("ASSISTANT(law", polite)
      .answer("ASSISTANT(ill", harmful)
      .answer("ASSISTANT(giving a helpful", {"Here is a clear, step by step answer with an example."})
      .answer("ASSISTANT(giving an unhelpful", {"Figure it out yourself."})
      .answer("answers are lawful", polite)
      .answer("answers are unlawful", harmful)
      .answer("as usefully and completely", {"Here is a clear, step by step answer with an example."})
      .answer("does not help the user", {"Figure it out yourself."})
      .otherwise({"I am not sure."});
  for (const char* marker : {"law-abiding", "answers are lawful"})
    for (const char* word : {"safe", "legal", "help", "professional", "alternative", "sorry"}) sim.affinity(marker, word, 1.0);
  for (const char* marker : {"illegal", "answers are unlawful"})
    for (const char* word : {"caught", "take", "notice", "Sure"}) sim.affinity(marker, word, 1.0);
  for (const char* marker : {"giving a helpful", "as usefully and completely"})
    for (const char* word : {"clear", "step", "example"}) sim.affinity(marker, word, 1.0);
  for (const char* marker : {"giving an unhelpful", "does not help the user"})
    for (const char* word : {"Figure", "yourself"}) sim.affinity(marker, word, 1.0);
  return any_generator(std::move(sim));
}

inline int run_dlma(context& c) {
  dlma::config cfg;
  auto format = c.args.get_choice("format", "trl", {"trl", "trl-chat", "openrlhf"});
  auto layout = c.args.get_choice("layout", "raw", {"raw", "chat"});
  auto pair = c.args.get_choice("pair", "harmless", {"harmless", "helpful"});
  auto negative = c.args.get_choice("on-negative", "keep", {"keep", "swap", "drop"});
  auto margin = c.args.get_choice("margin", "clipped", {"clipped", "raw", "target"});
  for (const auto* choice : {&format, &layout, &pair, &negative, &margin})
    if (!*choice) return report_error(&c, c.command, choice->error());
  io::export_options exp;
  exp.format = *format == "trl"        ? io::preference_format::trl_standard
               : *format == "trl-chat" ? io::preference_format::trl_conversational
                                       : io::preference_format::openrlhf;
  const auto pl = *layout == "raw" ? dlma::prompt_layout::raw : dlma::prompt_layout::chat;
  cfg.pair = *pair == "harmless" ? dlma::contrastive_pair::harmless(pl) : dlma::contrastive_pair::helpful(pl);
  cfg.on_negative = *negative == "keep"   ? dlma::negative_margin_policy::keep
                    : *negative == "swap" ? dlma::negative_margin_policy::swap
                                          : dlma::negative_margin_policy::drop;
  const dlma::margin_column column = *margin == "clipped" ? dlma::margin_column::clipped
                                     : *margin == "raw"   ? dlma::margin_column::raw
                                                          : dlma::margin_column::target;
  auto max_new = c.args.get_int("max-tokens", 1);
  auto top_k = c.args.get_int("top-k", 0);
  auto temperature = c.args.get_double("temperature");
  if (!max_new) return report_error(&c, c.command, max_new.error());
  if (!top_k) return report_error(&c, c.command, top_k.error());
  if (!temperature) return report_error(&c, c.command, temperature.error());
  if (*max_new) cfg.generation.max_tokens = static_cast<int>(**max_new);
  if (*top_k) cfg.generation.top_k = static_cast<int>(**top_k);
  if (*temperature) cfg.generation.temperature = **temperature;
  cfg.seed = c.seed;
  cfg.max_concurrency = c.concurrency;
  cfg.keep_token_detail = false;

  auto queries = read_input(c);
  if (!queries) return report_error(&c, c.command, queries.error());
  auto model = make_role(c, "", simulated_dlma_model);
  if (!model) return report_error(&c, c.command, model.error());
  auto out = jsonl_writer::open(c);
  if (!out) return report_error(&c, c.command, out.error());
  c.progress->set_total(queries->size());

  auto rep = dlma::build_pairs(*model, std::span<const io::query_record>(*queries), cfg, c.events());
  if (!rep) return report_error(&c, c.command, rep.error());

  // Lines carry the input's id first, then the trainer's columns.
  const auto records = dlma::to_preference_records(rep->pairs, cfg, column);
  for (std::size_t i = 0; i < records.size(); ++i) {
    auto text = io::to_jsonl_line(records[i], exp, i + 1);
    if (!text) return report_error(&c, c.command, text.error());
    nlohmann::ordered_json line = {{"id", rep->pairs[i].id}};
    const auto columns = nlohmann::ordered_json::parse(*text);  // named: items() must not outlive it
    for (const auto& [k, v] : columns.items()) line[k] = v;
    // R itself (before clipping and orientation): what --stats summarizes, so that `merge --kind
    // dlma-stats --lines` can recompute the quantiles of a sharded run from the merged lines.
    if (line.contains("provenance") && line["provenance"].is_object()) line["provenance"]["margin_raw"] = rep->pairs[i].self_reward;
    if (c.simulated) line["backend"] = "simulated";
    if (auto w = out->write(line); !w)
      return report_error(&c, c.command, w.error());
  }
  if (auto committed = out->commit(); !committed) return report_error(&c, c.command, committed.error());
  c.progress->finish();

  nlohmann::json stats = {{"pairs", rep->pairs.size()}, {"dropped", rep->dropped.size()}, {"failures", rep->failures.size()},
                          {"unfinished", rep->unfinished.size()}, {"swapped", rep->swapped}, {"approximate", rep->approximate},
                          {"margins", rep->margins}, {"stop_reason", rep->stop_reason}, {"usage", usage_json(c)},
                          {"boundary_methods", nlohmann::json(rep->boundary_methods)}};
  if (auto path = c.args.get("stats")) {
    auto s = io::atomic_output::open(*path);
    if (!s) return report_error(&c, c.command, s.error());
    if (auto w = s->write_line(stats.dump(2)); !w) return report_error(&c, c.command, w.error());
    if (auto committed = s->commit(); !committed) return report_error(&c, c.command, committed.error());
  }
  if (!c.args.has("quiet"))
    std::fprintf(stderr, "selfalign dlma: %zu pairs (%zu dropped, %zu failed); margin mean %s, %zu with R < 0\n", rep->pairs.size(),
                 rep->dropped.size(), rep->failures.size(), stats["margins"]["mean"].dump().c_str(), rep->margins.negative);
  if (rep->stop_code) {
    // stop_reason reads "<code>: <message>"; report_error names the code itself.
    std::string reason = rep->stop_reason;
    const std::string code_prefix = fmt::format("{}: ", to_string(*rep->stop_code));
    if (reason.rfind(code_prefix, 0) == 0) reason.erase(0, code_prefix.size());
    return report_error(&c, c.command, error(*rep->stop_code, reason));
  }
  if (!rep->failures.empty()) {
    const auto& f = rep->failures.front();
    return report_error(&c, c.command, f.error);
  }
  return exit_ok;
}

}  // namespace cli
