// selfalign CLI: `generate` — run a model over prompts — and `models` — what an endpoint serves
// SPDX-License-Identifier: MIT
#pragma once

#include "cli.hpp"
#include "cmd_drpo.hpp"
#include "simulated.hpp"

namespace cli {

inline command_line generate_parser() {
  command_line p("selfalign generate [options] INPUT.jsonl",
                   "Runs a model over the prompts of INPUT.jsonl (one JSON object per line, text in \"prompt\",\n"
                   "\"instruction\", \"question\" or \"query\", optional \"id\") and writes one JSON line per input,\n"
                   "in input order: {id, prompt, response, finish_reason, usage}; finish_reason \"length\" means the\n"
                   "answer was cut at --max-tokens. A prompt too long for the model's context is a line with\n"
                   "\"error\" (and response null); the others still run, and the command exits 5.");
  p.section("generate options")
      .option("system", "TEXT", "system prompt")
      .option("drpo", "FILE", "apply a 'selfalign drpo' result: its system prompt and the in-context examples\n"
              "closest to each prompt (replaces --system)")
      .option("max-tokens", "N", "most tokens per response (default 512)")
      .alias("max-new-tokens", "max-tokens")
      .option("temperature", "T", "sampling temperature (default 0)");
  add_common_options(p, false);
  p.positionals(1, 1, "INPUT.jsonl ('-' reads standard input)")
      .example("selfalign generate --base-url http://127.0.0.1:8000/v1 prompts.jsonl --out answers.jsonl")
      .example("selfalign generate --backend simulated --system 'Be brief.' prompts.jsonl")
      .example("selfalign generate --drpo drpo.json prompts.jsonl --out aligned.jsonl");
  return p;
}

/// Builds the chat prompt of one input: optional system prompt, then the user's text.
inline prompt chat_prompt(const std::string& system, const std::string& user) {
  std::vector<message> messages;
  if (!system.empty()) messages.push_back(message::system(system));
  messages.push_back(message::user(user));
  return prompt::chat(std::move(messages));
}

inline int run_generate(context& c) {
  auto max_new = c.args.get_int("max-tokens", 1);
  auto temperature = c.args.get_double("temperature");
  if (!max_new) return report_error(&c, c.command, max_new.error());
  if (!temperature) return report_error(&c, c.command, temperature.error());
  auto queries = read_input(c);
  if (!queries) return report_error(&c, c.command, queries.error());
  // With --drpo the prompts are DRPO's aligned prompts (and the simulated model is DRPO's
  // simulated base model, which follows the principles in its system prompt).
  std::optional<drpo::deployment<>> aligned;
  if (auto path = c.args.get("drpo")) {
    if (c.args.has("system")) return report_error(&c, c.command, error(errc::invalid_argument, "--drpo and --system exclude each other"));
    auto d = load_drpo(*path, drpo::config{});
    if (!d) return report_error(&c, c.command, d.error());
    aligned = std::move(*d);
  }
  auto model = aligned ? make_role(c, "", [] { return any_generator(testing::drpo_sim::base_model{}); })
                       : make_role(c, "", [] { return any_generator(simulated_assistant{}); });
  if (!model) return report_error(&c, c.command, model.error());
  auto out = jsonl_writer::open(c);
  if (!out) return report_error(&c, c.command, out.error());

  const std::string system = c.args.get_or("system", "");
  std::vector<generation_request> requests;
  for (const auto& q : *queries) {
    generation_request r;
    if (aligned) {
      auto req = aligned->request_for(q.prompt);
      if (!req) return report_error(&c, c.command, req.error());
      r = std::move(*req);
      if (*max_new) r.sampling.max_tokens = static_cast<int>(**max_new);
      if (*temperature) r.sampling.temperature = **temperature;
    } else {
      r.prompt = chat_prompt(system, q.prompt);
      r.sampling.temperature = temperature->value_or(0.0);
      r.sampling.max_tokens = static_cast<int>(max_new->value_or(512));
    }
    r.sampling.seed = derive_seed(c.seed, "generate", q.id);
    requests.push_back(std::move(r));
  }
  c.progress->set_total(requests.size());

  std::size_t failed = 0;
  const int code = write_lines_in_order(c, *out, requests.size(), default_chunk(c), [&](std::size_t begin, std::size_t end) {
    auto answers = generate_batch(*model, std::span(requests).subspan(begin, end - begin), c.batch());
    std::vector<result<nlohmann::json>> lines;
    for (std::size_t i = begin; i < end; ++i) {
      auto& a = answers[i - begin];
      const auto& q = (*queries)[i];
      if (!a) {
        if (!item_failure(a.error())) {
          lines.emplace_back(unexpected(a.error()));
          continue;
        }
        // This prompt alone does not fit the model's context: a failed line, the others still run.
        ++failed;
        nlohmann::json line = {{"id", q.id}, {"prompt", q.prompt}, {"response", nullptr}, {"finish_reason", nullptr},
                               {"error", item_error_json(a.error())}};
        lines.emplace_back(std::move(line));
        continue;
      }
      const std::string response = aligned ? std::string(selfalign::detail::trim(a->text())) : a->text();
      const std::string finish = a->choices.empty() ? std::string() : a->choices.front().finish_reason;
      nlohmann::json line = {{"id", q.id}, {"prompt", q.prompt}, {"response", response},
                             {"finish_reason", finish.empty() ? nlohmann::json(nullptr) : nlohmann::json(finish)},
                             {"usage", a->usage}};
      if (c.simulated) line["backend"] = "simulated";
      lines.emplace_back(std::move(line));
    }
    return lines;
  });
  return finish_with_failed_items(c, failed, requests.size(), code);
}

inline command_line models_parser() {
  command_line p("selfalign models [options]",
                   "Lists the models the endpoint serves and what the backend can do there (the server kind it\n"
                   "detected, and its capabilities), as one JSON object.");
  add_common_options(p, false);
  p.positionals(0, 0, "no arguments")
      .example("selfalign models --base-url http://127.0.0.1:8000/v1")
      .example("selfalign models --server llamacpp --base-url http://127.0.0.1:8080/v1");
  return p;
}

inline int run_models(context& c) {
  auto out = jsonl_writer::open(c);
  if (!out) return report_error(&c, c.command, out.error());
  nlohmann::json j;
  if (c.simulated) {
    simulated_assistant sim;
    j = {{"backend", "simulated"}, {"models", {simulated_assistant::model_name}}, {"capabilities", capabilities_of(sim)}};
  } else {
    auto o = http_options(c, "");
    if (!o) return report_error(&c, c.command, o.error());
    const std::string url = o->base_urls.front();
    auto backend = openai_backend::create(std::move(*o));
    if (!backend) return report_error(&c, c.command, backend.error());
    auto models = backend->list_models();
    if (!models) return report_error(&c, c.command, models.error());
    nlohmann::json names = nlohmann::json::array();
    for (const auto& m : *models) names.push_back(m.id);
    auto caps = backend->capabilities();
    if (auto ctx = backend->context_size()) caps.context_size = *ctx;  // tokens per request (llama.cpp: per slot)
    j = {{"backend", "http"}, {"base_url", url}, {"models", names}, {"capabilities", caps}};
  }
  if (auto w = out->write(j); !w) return report_error(&c, c.command, w.error());
  if (auto committed = out->commit(); !committed) return report_error(&c, c.command, committed.error());
  return exit_ok;
}

}  // namespace cli
