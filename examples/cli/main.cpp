// selfalign: the command-line tool. Each subcommand composes the library the way a user would:
// a backend per role, wrapped in metering, caching and observation, fed to an algorithm.
// SPDX-License-Identifier: MIT

#include "cli.hpp"
#include "cmd_generate.hpp"
#include "cmd_dlma.hpp"
#include "cmd_drpo.hpp"
#include "cmd_eval.hpp"
#include "cmd_judge.hpp"
#include "cmd_rain.hpp"
#include "cmd_cache.hpp"
#include "shard.hpp"

#include <selfalign/detail/redact.hpp>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

struct command {
  const char* name;
  const char* summary;
  cli::command_line (*parser)();
  int (*run)(cli::context&);
  bool shardable = false;  ///< one output line per input id: takes --shard K/N, joined by `merge`
  bool writes_config = true;  ///< with --out FILE, writes FILE.config.toml (not the cache and merge tools)
};

// Only commands whose algorithm has landed are listed: a command that is not ready does not exist.
const std::vector<command>& commands() {
  static const std::vector<command> all = {
      {"generate", "run a model over prompts", cli::generate_parser, cli::run_generate, true},
      {"drpo", "optimize a system prompt (and in-context examples) for a model", cli::drpo_parser, cli::run_drpo},
      {"judge", "score responses with the dynamic-reward rubric judge", cli::judge_parser, cli::run_judge, true},
      {"rain", "decode prompts with RAIN (--compare: vanilla beside it)", cli::rain_parser, cli::run_rain, true},
      {"dlma", "build contrastive preference pairs with self-rewarding margins", cli::dlma_parser, cli::run_dlma, true},
      {"eval", "evaluate answers as the papers do, with confidence intervals and an HTML report", cli::eval_parser, cli::run_eval},
      {"models", "list what the endpoint serves and what it can do", cli::models_parser, cli::run_models},
      {"cache", "inspect or maintain a --cache file: stats, export, import, vacuum", cli::cache_parser, cli::run_cache, false, false},
      {"merge", "join the outputs of a run split with --shard K/N", cli::merge_parser, cli::run_merge, false, false},
  };
  return all;
}

void print_usage(std::FILE* out) {
  std::fprintf(out, "usage: selfalign <command> [options] INPUT.jsonl   ('-' reads standard input)\n\ncommands:\n");
  for (const auto& c : commands()) std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
  std::fprintf(out,
               "\n'selfalign <command> --help' describes a command and its options. Options may also come from a\n"
               "TOML file (--config FILE; the command line wins) and a few from the environment ([env NAME] in --help).\n"
               "exit codes: 0 success; 1 internal error; 2 usage or bad input; 3 backend failure; 4 a budget\n"
               "ran out (partial output written; rerun with the same --cache resumes); 5 completed, but some\n"
               "items failed (their lines carry \"error\"); 130 interrupted.\n"
               "selfalign %s\n",
               selfalign::version_string);
}

/// Writes the run's effective configuration beside its output (OUT.config.toml), so that
/// `selfalign <command> --config OUT.config.toml` repeats it. Runs that wrote output only: complete,
/// stopped by a budget or a signal (rerunning with the same --cache resumes them), or with failed items.
void write_effective_config(const command& cmd, const cli::command_line& parser, const cli::context& ctx, int code) {
  const std::string out = ctx.args.get_or("out", "-");
  if (!cmd.writes_config || out == "-") return;
  if (code != cli::exit_ok && code != cli::exit_budget && code != cli::exit_interrupted && code != cli::exit_items_failed) return;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(out, ec)) return;  // e.g. /dev/null
  std::vector<std::string> omitted;
  const std::string path = out + ".config.toml";
  std::string text = fmt::format("# selfalign {} {}: the options of the run that wrote {}\n# repeat it: selfalign {} --config {}\n{}",
                                 cmd.name, selfalign::version_string, out, cmd.name, path, parser.effective_config(&omitted));
  // Keys are read from the environment only (--api-key-env names the variable); should any value
  // still hold the key (a URL with credentials), it is not written.
  selfalign::detail::redact_secrets(text, ctx.secrets);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  if (!f.flush()) std::fprintf(stderr, "selfalign %s: warning: cannot write %s\n", cmd.name, path.c_str());
  for (const auto& name : omitted)
    std::fprintf(stderr, "selfalign %s: warning: --%s is not in %s (its value does not fit one TOML line)\n", cmd.name, name.c_str(),
                 path.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_usage(args.empty() ? stderr : stdout);
    return args.empty() ? cli::exit_usage : cli::exit_ok;
  }
  if (args[0] == "--version") {
    std::printf("selfalign %s\n", selfalign::version_string);
    return cli::exit_ok;
  }
  const std::string name = args[0];
  const command* cmd = nullptr;
  for (const auto& c : commands())
    if (name == c.name) cmd = &c;
  if (!cmd) {
    std::fprintf(stderr, "selfalign: unknown command '%s'\n\n", name.c_str());
    print_usage(stderr);
    return cli::exit_usage;
  }
  auto parser = cmd->parser();
  if (cmd->shardable) cli::add_shard_option(parser);
  auto parsed = parser.parse(std::span(args).subspan(1));
  if (!parsed) {
    std::fprintf(stderr, "selfalign %s: %s\n(see 'selfalign %s --help')\n", cmd->name, parsed.error().message.c_str(), cmd->name);
    return cli::exit_usage;
  }
  if (parsed->help_requested()) {
    std::fputs(parser.help().c_str(), stdout);
    return cli::exit_ok;
  }
  // Readers turn bad input into "file:line: reason" (exit 2); an exception that still escapes is
  // a bug, reported as one instead of an abort.
  try {
    auto ctx = cli::make_context(cmd->name, std::move(*parsed));
    if (!ctx) return cli::report_error(nullptr, cmd->name, ctx.error());
    if (ctx->simulated)
      std::fprintf(stderr, "selfalign %s: using the SIMULATED offline model (--backend simulated), not a real server\n", cmd->name);
    cli::install_signal_handlers();
    int code = cmd->run(*ctx);
    // Calls in flight reserve their worst case, but the last ones may still use more than was
    // left: a run that ended beyond a budget did not stay within it (exit 4, not 0).
    if (code == cli::exit_ok && ctx->usage_meter) {
      if (auto over = ctx->usage_meter->overspent()) {
        if (ctx->progress) ctx->progress->finish();
        std::fprintf(stderr, "selfalign %s: %s (the output is complete, but the run did not stay within its budget)\n",
                     cmd->name, over->c_str());
        code = cli::exit_budget;
      }
    }
    write_effective_config(*cmd, parser, *ctx, code);
    return code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "selfalign %s: internal error (please report): %s\n", cmd->name, e.what());
    return cli::exit_internal;
  }
}
