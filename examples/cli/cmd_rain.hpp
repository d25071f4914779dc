// selfalign CLI: `rain` — decode prompts with RAIN (and --compare with vanilla greedy decoding)
// SPDX-License-Identifier: MIT
#pragma once

#include "cli.hpp"

#include <selfalign/embedding.hpp>
#include <selfalign/rain/rain.hpp>
#include <selfalign/testing/rain_sim.hpp>

namespace cli {

inline command_line rain_parser() {
  command_line p("selfalign rain [options] INPUT.jsonl",
                   "Decodes each prompt with RAIN: a tree search over token sets in which the model evaluates its\n"
                   "own partial answers and rewinds away from continuations it judges harmful. Needs a server that\n"
                   "continues a raw prefix and returns top-k logprobs (vLLM, SGLang, llama.cpp; see docs/rain.md).\n"
                   "Output: one line per input, {id, prompt, response, stop_reason, stats}; with --compare also\n"
                   "{vanilla: {response, stats}} from greedy decoding on the same access path.");
  p.section("rain options")
      .flag("compare", "also decode greedily (vanilla) and put it beside the RAIN answer")
      .option("max-tokens", "N", "most tokens per response (default 256)")
      .alias("max-new-tokens", "max-tokens")
      .option("template", "NAME", "self-evaluation question: harmless (default) or truthful")
      .option("min-iterations", "N", "T_m, fewest searches per committed token set (default 6)")
      .option("max-iterations", "N", "T, most searches per committed token set (default 50)")
      .option("similarity-threshold", "X", "cosine similarity for the sibling update (default 0.85 with the built-in\n"
              "embedder; the paper's 0.95 is calibrated for all-MiniLM-L6-v2)")
      .option("embedder", "KIND", "hashed (default: built in, no model) or http (an OpenAI-compatible /v1/embeddings)")
      .option("embedder-base-url", "URL", "server of --embedder http (default: --base-url; llama-server embeds only when\n"
              "started with --embeddings --pooling mean, so a second server is usual)")
      .option("embedder-model", "NAME", "model of --embedder http (default: --model)")
      .flag("tree", "include the final search tree in each output line");
  add_common_options(p, false);
  p.positionals(1, 1, "INPUT.jsonl ('-' reads standard input)")
      .example("selfalign rain --server vllm --base-url http://127.0.0.1:8000/v1 --compare prompts.jsonl")
      .example("selfalign rain --backend simulated --compare -  <<< '{\"prompt\": \"How do I make a bomb?\"}'");
  return p;
}

/// The offline model behind `rain --backend simulated`: scripted continuations, harmful for a few
/// dangerous requests when decoded greedily, and a self-evaluation that recognises them (both
/// option orders in one request, as over HTTP to vLLM).
inline any_generator simulated_rain_model() {
  testing::rain_sim_options o;
  o.harmful_markers = {"bomb", "steal", "poison", "hack into"};
  o.multi_prompt = true;  // takes a list of prompts in one request, as vLLM, SGLang and llama.cpp do
  testing::rain_sim_model sim(o);
  sim.script("bomb", {{{"Here", " is", " how", " to", " make", " a", " bomb", ":", " mix", " the", " powders", "."}, 0.6},
                      {{"I", " won't", " help", " with", " that", ".", " Is", " there", " something", " else", "?"}, 0.4}});
  sim.script("steal", {{{"First", ",", " steal", " the", " keys", " from", " the", " owner", "."}, 0.55},
                       {{"I", " can't", " help", " with", " theft", ",", " but", " a", " locksmith", " can", " help", "."}, 0.45}});
  sim.script("", {{{"Here", " is", " a", " short", " answer", ":", " it", " depends", " on", " the", " details", "."}, 0.7},
                  {{"Good", " question", ".", " The", " short", " answer", " is", " yes", "."}, 0.3}});
  return any_generator(std::move(sim));
}

/// The RAIN answer (and the vanilla one) for one input, as an output line.
template <class G, class J, class E>
result<nlohmann::json> rain_line(G& model, J& judge, E& embedder, const io::query_record& q, rain::config cfg, bool compare,
                                 const context& c) {
  cfg.seed = derive_seed(c.seed, "rain", q.id);
  auto aligned = rain::decode(model, judge, embedder, rain::input(q.prompt), cfg);
  if (!aligned) return unexpected(aligned.error());
  if (aligned->error) return unexpected(*aligned->error);
  nlohmann::json line = {{"id", q.id}, {"prompt", q.prompt}, {"response", aligned->response},
                         {"stop_reason", aligned->stop_reason}, {"stats", aligned->stats}};
  if (cfg.keep_tree) line["tree"] = aligned->tree;
  if (compare) {
    auto vanilla = rain::decode_vanilla(model, rain::input(q.prompt), cfg);
    if (!vanilla) return unexpected(vanilla.error());
    if (vanilla->error) return unexpected(*vanilla->error);
    line["vanilla"] = {{"response", vanilla->response}, {"stop_reason", vanilla->stop_reason}, {"stats", vanilla->stats}};
  }
  if (c.simulated) line["backend"] = "simulated";
  return line;
}

/// One embedding of a short text, without retries: errc::unsupported, naming the server and the
/// fix, when the embedder's server cannot embed (e.g. llama-server started without --embeddings).
inline result<void> probe_embedder(openai_backend& backend) {
  openai_options probe_opts = backend.options();
  probe_opts.retry.max_retries = 0;
  openai_backend probe(probe_opts);
  embedding_request req;
  req.texts = {"embedding probe"};
  auto e = probe.embed(req);
  const std::string where = probe_opts.base_urls.empty() ? std::string("?") : probe_opts.base_urls.front();
  if (!e)
    return fail(errc::unsupported,
                fmt::format("--embedder http: the server at {} cannot embed ({}); start llama-server with --embeddings "
                            "--pooling mean, or point --embedder-base-url at a server that serves /v1/embeddings",
                            where, e.error().describe()));
  if (e->vectors.size() != 1 || e->vectors.front().empty())
    return fail(errc::unsupported, fmt::format("--embedder http: the server at {} answered the embedding probe without a vector", where));
  return {};
}

inline int run_rain(context& c) {
  rain::config cfg;
  cfg.similarity_threshold = 0.85;  // for the built-in hashed n-gram embedder (docs/rain.md)
  auto max_new = c.args.get_int("max-tokens", 1);
  auto min_it = c.args.get_int("min-iterations", 1);
  auto max_it = c.args.get_int("max-iterations", 1);
  auto threshold = c.args.get_double("similarity-threshold", 0.0);
  for (const auto* r : {&max_new, &min_it, &max_it})
    if (!*r) return report_error(&c, c.command, r->error());
  if (!threshold) return report_error(&c, c.command, threshold.error());
  if (*max_new) cfg.max_new_tokens = static_cast<int>(**max_new);
  if (*min_it) cfg.min_iterations = static_cast<int>(**min_it);
  if (*max_it) cfg.max_iterations = static_cast<int>(**max_it);
  if (*threshold) cfg.similarity_threshold = **threshold;
  cfg.keep_tree = c.args.has("tree");
  cfg.on_event = c.events();  // search_step per committed token set and `stopped`, into --trace
  auto tmpl = c.args.get_choice("template", "harmless", {"harmless", "truthful"});
  if (!tmpl) return report_error(&c, c.command, tmpl.error());
  judges::self_eval_options judge_opts;
  if (*tmpl == "truthful") judge_opts.question = judges::self_eval_template::truthfulness();
  auto embedder_kind = c.args.get_choice("embedder", "hashed", {"hashed", "http"});
  if (!embedder_kind) return report_error(&c, c.command, embedder_kind.error());
  const bool compare = c.args.has("compare");

  auto queries = read_input(c);
  if (!queries) return report_error(&c, c.command, queries.error());
  auto model = make_role(c, "", simulated_rain_model);
  if (!model) return report_error(&c, c.command, model.error());
  auto out = jsonl_writer::open(c);
  if (!out) return report_error(&c, c.command, out.error());
  // Each decode issues up to cfg.max_concurrency calls at once; prompts run side by side to fill
  // --concurrency.
  cfg.max_concurrency = std::min<std::size_t>(cfg.max_concurrency, c.concurrency);
  const std::size_t prompts_at_once = std::max<std::size_t>(1, c.concurrency / cfg.max_concurrency);
  c.progress->set_total(queries->size());

  // The model judges itself: the self-evaluation borrows the same backend (and its cache).
  judges::self_eval_judge<judges::borrowed_generator<any_generator>> judge(judges::borrowed_generator<any_generator>(*model),
                                                                            judge_opts);
  auto decode_all = [&](auto& embedder) -> int {
    return write_lines_in_order(c, *out, queries->size(), prompts_at_once, [&](std::size_t begin, std::size_t end) {
      return parallel_map(end - begin, prompts_at_once, [&](std::size_t k) {
        return rain_line(*model, judge, embedder, (*queries)[begin + k], cfg, compare, c);
      });
    });
  };
  if (*embedder_kind == "http" && !c.simulated) {
    auto o = http_options(c, "embedder");
    if (!o) return report_error(&c, c.command, o.error());
    auto backend = openai_backend::create(std::move(*o));
    if (!backend) return report_error(&c, c.command, backend.error());
    // Probe before the run: a server that cannot embed fails the command now, not mid-run.
    if (auto probe = probe_embedder(*backend); !probe) return report_error(&c, c.command, probe.error());
    auto embedder = cached(metered(std::move(*backend), c.usage_meter, "embedder"), c.cache, "embedder");
    return decode_all(embedder);
  }
  hashed_ngram_embedder embedder;
  return decode_all(embedder);
}

}  // namespace cli
