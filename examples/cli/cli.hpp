// selfalign CLI: what every subcommand shares — common options, the backend stack per role,
// budgets, cache, trace, progress, Ctrl-C, input and output, exit codes
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/selfalign.hpp>
#include <selfalign/detail/redact.hpp>
#include <selfalign/io/dataset.hpp>
#include <selfalign/io/json_file.hpp>
#include <selfalign/io/output.hpp>
#include <selfalign/io/trace.hpp>

#include "command_line.hpp"
#include "progress.hpp"
#include "shard.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace cli {

using namespace selfalign;

/// Exit codes (a contract with scripts; docs/cli.md).
enum exit_code : int {
  exit_ok = 0,
  exit_internal = 1,     ///< an unexpected exception: a bug in selfalign (the message says what)
  exit_usage = 2,        ///< bad usage or bad input (the message names the file and line)
  exit_backend = 3,      ///< unreachable server, unsupported capability, non-retryable HTTP error
  exit_budget = 4,       ///< a budget ran out; partial output written; rerun with the same --cache resumes
  exit_items_failed = 5, ///< the run completed, but some items failed (their output lines carry "error")
  exit_interrupted = 130 ///< SIGINT or SIGTERM; same guarantees as a budget stop
};

/// The exit code for an error that ended a run.
inline int exit_code_for(const error& e) {
  switch (e.code) {
    case errc::invalid_argument:
    case errc::io: return exit_usage;
    case errc::budget_exhausted: return exit_budget;
    case errc::cancelled: return exit_interrupted;
    default: return exit_backend;
  }
}

// Ctrl-C: the first SIGINT/SIGTERM/SIGHUP sets this flag (lock-free, safe in a handler); the meter
// then refuses new calls with errc::cancelled, the algorithms stop cleanly with partial results,
// and the command writes them. A second signal ends the process at once. Whenever the process
// dies of a signal, the temporary files of its unfinished outputs are removed first.
inline std::atomic<bool> interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free);
extern "C" inline void on_fatal_signal(int sig) {
  io::remove_open_temp_files();  // async-signal-safe: unlink(2) only
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}
extern "C" inline void on_signal(int sig) {
  if (interrupted.exchange(true)) {
    on_fatal_signal(sig);  // the re-raised signal is delivered when this handler returns
    return;
  }
  // Said at once (write(2) is async-signal-safe), even with --quiet: the calls in flight may take a
  // while, and the user must know a second signal is needed to stop without waiting.
  static constexpr char note[] =
      "selfalign: interrupted; finishing the calls in flight, then writing what is done (signal again to stop at once)\n";
  [[maybe_unused]] const auto written = ::write(2, note, sizeof note - 1);
}
inline void install_signal_handlers() {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) std::signal(sig, on_signal);
  for (int sig : {SIGQUIT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) std::signal(sig, on_fatal_signal);
}

/// Adds the options every subcommand takes to a parser.
inline void add_common_options(command_line& p, bool with_roles) {
  p.section("common options")
      .option("base-url", "URL", "server base URL (default: $SELFALIGN_BASE_URL, then $OPENAI_BASE_URL, then http://127.0.0.1:8080/v1);\n"
              "a URL without a path gets /v1; 'URL1,URL2' are replicas of one model")
      .env("SELFALIGN_BASE_URL")
      .option("api-key-env", "NAME", "environment variable holding the API key (default OPENAI_API_KEY)")
      .option("model", "NAME", "model name (default: the first model the endpoint lists)")
      .env("SELFALIGN_MODEL")
      .option("server", "KIND", "auto|openai|vllm|llamacpp|ollama|sglang|tgi|generic (default auto)")
      .env("SELFALIGN_SERVER")
      .option("backend", "KIND", "http|simulated (default http; simulated = the built-in offline model)")
      .option("concurrency", "N", "model calls in flight at once (default 8)")
      .option("timeout", "SECONDS", "most time one model call may take, retries and their waits included (default 600)")
      .option("retries", "N", "retries of a failed request (default 2)")
      .option("cache", "FILE", "durable call cache; rerunning the same command with the same FILE resumes. An SQLite\n"
              "database (shared safely by concurrent runs) unless FILE ends in .jsonl (one process)")
      .flag("cache-durable", "make each cache record survive power loss, not just a killed process (slower)")
      .option("seed", "N", "run seed; every call's seed derives from it (default 0)")
      .option("max-calls", "N", "budget: billed model calls")
      .option("max-total-tokens", "N", "budget: prompt + completion tokens over the whole run")
      .option("max-cost", "USD", "budget: cost in US dollars (needs --prices)")
      .option("prices", "FILE", "JSON price table: {\"model\": {\"prompt\": USD/1M, \"completion\": USD/1M}, \"*\": {...}}")
      .option("deadline", "SECONDS", "budget: wall time of the whole run")
      .option("trace", "FILE", "write every event as JSONL")
      .flag("quiet", "no progress line on standard error")
      .option("out", "FILE", "output file ('-' = standard output, the default); a run that writes FILE also writes\n"
              "FILE.config.toml, its options for --config to repeat it")
      .config_option();
  if (with_roles) {
    p.section("role overrides")
        .option("judge-model", "NAME", "model of the judge role (default: --model)")
        .option("judge-base-url", "URL", "server of the judge role (default: --base-url)")
        .option("optimizer-model", "NAME", "model of the optimizer role (default: --model)")
        .option("optimizer-base-url", "URL", "server of the optimizer role (default: --base-url)");
  }
}

/// Everything a command needs besides its own options: parsed common options, the shared meter,
/// cache, trace, progress and the event fan-out.
struct context {
  std::string command;
  parsed_args args;
  bool simulated = false;
  std::uint64_t seed = 0;
  std::size_t concurrency = 8;
  std::shared_ptr<meter> usage_meter;
  std::shared_ptr<cache_store> cache;
  std::shared_ptr<io::trace_writer> trace;
  std::shared_ptr<progress_display> progress;
  std::vector<std::string> secrets;  ///< the API key: removed from every line written to stderr or the trace

  /// Sends an event to the trace and the progress line.
  void emit(const event& e) const {
    if (trace) trace->write(e);
    if (progress) progress->on_event(e);
  }
  [[nodiscard]] observer events() const {
    return [this](const event& e) { emit(e); };
  }
  [[nodiscard]] batch_options batch() const {
    batch_options o;
    o.max_concurrency = concurrency;
    return o;
  }
  /// "simulated" or "http", for labelling outputs.
  [[nodiscard]] std::string backend_label() const { return simulated ? "simulated" : "http"; }
};

/// Seconds from the command line as milliseconds, saturating far beyond any run, so that a huge
/// number does not overflow the conversion.
inline std::chrono::milliseconds seconds_to_ms(double seconds) {
  constexpr double most = 1e12;  // ms: about 31 years
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::clamp(seconds * 1000.0, 0.0, most)));
}

/// Reads the common options into a context (budgets, cache, trace, progress). Errors are usage errors.
inline result<context> make_context(std::string command, parsed_args args) {
  context c;
  c.command = std::move(command);
  c.args = std::move(args);
  auto backend = c.args.get_choice("backend", "http", {"http", "simulated"});
  if (!backend) return unexpected(backend.error());
  c.simulated = *backend == "simulated";
  // The key the HTTP backends will send: known here so that no line the CLI writes can show it.
  if (const char* key = std::getenv(c.args.get("api-key-env").value_or("OPENAI_API_KEY").c_str()))  // NOLINT(concurrency-mt-unsafe)
    if (*key) c.secrets.emplace_back(key);

  auto conc = c.args.get_int("concurrency", 1);
  if (!conc) return unexpected(conc.error());
  c.concurrency = static_cast<std::size_t>(conc->value_or(8));
  auto seed = c.args.get_int("seed", 0);
  if (!seed) return unexpected(seed.error());
  c.seed = static_cast<std::uint64_t>(seed->value_or(0));

  budget b;
  auto calls = c.args.get_int("max-calls", 0);
  if (!calls) return unexpected(calls.error());
  b.max_calls = *calls;
  auto tokens = c.args.get_int("max-total-tokens", 0);
  if (!tokens) return unexpected(tokens.error());
  b.max_tokens = *tokens;
  auto cost = c.args.get_double("max-cost");
  if (!cost) return unexpected(cost.error());
  b.max_cost = *cost;
  auto deadline = c.args.get_double("deadline");
  if (!deadline) return unexpected(deadline.error());
  if (*deadline) b.max_wall_time = seconds_to_ms(**deadline);

  price_table prices;
  if (auto path = c.args.get("prices")) {
    auto j = io::read_json_file(*path);
    if (!j) return fail(errc::invalid_argument, fmt::format("price table: {}", j.error().message));
    auto t = price_table::from_json(*j);
    if (!t) return fail(errc::invalid_argument, fmt::format("{}: {}", *path, t.error().message));
    prices = std::move(*t);
  } else if (b.max_cost) {
    return fail(errc::invalid_argument, "--max-cost needs --prices FILE (a price table) to know what calls cost");
  }
  c.usage_meter = std::make_shared<meter>(b, std::move(prices));
  c.usage_meter->set_interrupt_flag(&interrupted);

  if (auto path = c.args.get("cache")) {
    cache_options opts;
    opts.fsync = c.args.has("cache-durable");
    // Warnings come at open (torn lines) and during the run (a damaged or invalid record, from
    // any worker thread): printed at once, one whole line at a time.
    opts.on_warning = [secrets = c.secrets](const std::string& w) {
      static std::mutex print_mutex;
      std::lock_guard lock(print_mutex);
      std::fprintf(stderr, "selfalign: warning: %s\n", selfalign::detail::redacted(w, secrets).c_str());
    };
    auto store = cache_store::open(*path, opts);
    if (!store) return unexpected(store.error());
    c.cache = *store;
  } else {
    c.cache = std::make_shared<cache_store>();
  }
  if (auto path = c.args.get("trace")) {
    auto t = io::trace_writer::open(*path);
    if (!t) return unexpected(t.error());
    c.trace = *t;
    c.trace->set_secrets(c.secrets);
  }
  const bool tty = ::isatty(::fileno(stderr)) != 0;
  c.progress = std::make_shared<progress_display>(stderr, tty && !c.args.has("quiet"), c.usage_meter);
  return c;
}

/// The HTTP backend options of a role ("" = the base model; "judge"; "optimizer").
inline result<openai_options> http_options(const context& c, const std::string& role) {
  openai_options o = openai_options::from_env();
  auto url = role.empty() ? std::nullopt : c.args.get(role + "-base-url");
  if (!url) url = c.args.get("base-url");
  if (url) o.base_urls = split_base_urls(*url);  // "a,b": replicas, as in $SELFALIGN_BASE_URL
  if (o.base_urls.empty()) return fail(errc::invalid_argument, fmt::format("--{}base-url is empty", role.empty() ? "" : role + "-"));
  auto model = role.empty() ? std::nullopt : c.args.get(role + "-model");
  if (!model) model = c.args.get("model");
  if (model) o.model = *model;
  if (auto key = c.args.get("api-key-env")) o.api_key_env = *key;
  if (auto server = c.args.get("server")) {
    auto p = parse_server_preset(*server == "auto" ? std::string("automatic") : *server);
    if (!p) return unexpected(p.error());
    o.preset = *p;
  }
  o.max_concurrency = c.concurrency;
  // --timeout bounds a whole model call: every attempt, the waits between retries and a server
  // that trickles its answer (no single read ever times out on one). Default 600 s.
  auto timeout = c.args.get_double("timeout", 0.001);
  if (!timeout) return unexpected(timeout.error());
  const auto bound = seconds_to_ms(timeout->value_or(600.0));
  o.deadline = bound;
  o.read_timeout = std::min(o.read_timeout, bound);
  auto retries = c.args.get_int("retries", 0);
  if (!retries) return unexpected(retries.error());
  if (*retries) o.retry.max_retries = static_cast<int>(**retries);
  if (c.args.has("exact-scoring")) o.teacher_forcing_top_k = 0;  // dlma: n_probs = the vocabulary on llama.cpp
  return o;
}

/// The stack every role's calls go through: observed (trace, progress) over cached (resume) over
/// metered (usage, budgets, Ctrl-C) over the backend. Erased to any_generator so a command does
/// not care whether the backend is HTTP or simulated.
inline any_generator wrap_role(const context& c, any_generator backend, const std::string& role) {
  return any_generator(observed(cached(metered(std::move(backend), c.usage_meter, role), c.cache, role), c.events(), role));
}

/// The backend of a role: HTTP from the options of `role` ("" = base, "judge", "optimizer"), or
/// the command's simulated model. `label` names the role in usage, cache scope and events
/// (default: the role's name, "base" for "").
inline result<any_generator> make_role(const context& c, const std::string& role,
                                       const std::function<any_generator()>& simulated_model, std::string label = {}) {
  if (label.empty()) label = role.empty() ? "base" : role;
  if (c.simulated) return wrap_role(c, simulated_model(), label);
  auto o = http_options(c, role);
  if (!o) return unexpected(o.error());
  auto backend = openai_backend::create(std::move(*o));
  if (!backend) return unexpected(backend.error());
  return wrap_role(c, std::move(*backend), label);
}

/// Reads the positional INPUT ('-' = standard input) as JSONL queries.
/// HH-RLHF transcripts ({"chosen": "\n\nHuman: ...\n\nAssistant: ...", "rejected": ...}) are read
/// too: a record with a string "chosen" and none of the query fields is one. Its query is the first
/// Human turn (as RAIN's code takes it), and the first Assistant reply of "chosen" becomes its
/// "response" when the record has none (what `judge` scores).
inline result<std::vector<io::query_record>> read_input_all(const context& c, const io::read_options& opts = {}) {
  const std::string& path = c.args.positionals().front();
  const std::string source = path == "-" ? "<stdin>" : path;
  std::string text;
  if (path == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail(errc::io, fmt::format("cannot open {}: {}", path, std::strerror(errno)));
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // Which shape: the first record decides.
  bool hh = false;
  {
    std::istringstream first_lines(text);
    for (std::string line; std::getline(first_lines, line);) {
      if (selfalign::detail::trim(line).empty()) continue;
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_object() && j.contains("chosen") && j["chosen"].is_string()) {
        hh = true;
        for (const auto& f : opts.text_fields) hh = hh && !j.contains(f);
      }
      break;
    }
  }
  std::istringstream in(text);
  if (!hh) return io::read_queries(in, source, opts);
  io::read_options hh_opts = opts;
  hh_opts.text_fields = {"chosen"};
  auto records = io::read_queries(in, source, hh_opts);
  if (!records) return records;
  for (auto& r : *records) {
    auto turns = io::parse_hh_transcript(r.prompt);
    if (!turns) return fail(errc::invalid_argument, fmt::format("{}:{}: field \"chosen\": {}", source, r.line, turns.error().message));
    auto human = std::find_if(turns->begin(), turns->end(), [](const message& m) { return m.role == "user"; });
    if (human == turns->end() || human->content.empty())
      return fail(errc::invalid_argument, fmt::format("{}:{}: field \"chosen\" has no Human turn", source, r.line));
    r.prompt = human->content;
    auto reply = std::find_if(human, turns->end(), [](const message& m) { return m.role == "assistant"; });
    if (!r.fields.contains("response") && reply != turns->end()) r.fields["response"] = reply->content;
  }
  return records;
}

/// The inputs of the run: read_input_all(), then with --shard K/N only that shard's (in input order).
inline result<std::vector<io::query_record>> read_input(const context& c, const io::read_options& opts = {}) {
  auto all = read_input_all(c, opts);
  if (!all) return all;
  if (auto shard = c.args.get("shard")) {
    auto spec = parse_shard(*shard);
    if (!spec) return unexpected(spec.error());
    return keep_shard(std::move(*all), *spec);
  }
  return all;
}

/// Usage totals as JSON: overall, per role, cache hits, wall time.
inline nlohmann::json usage_json(const context& c) {
  nlohmann::json j = c.usage_meter->totals();
  nlohmann::json roles = nlohmann::json::object();
  for (const auto& [role, totals] : c.usage_meter->by_role()) roles[role] = totals;
  j["roles"] = roles;
  const auto cs = c.cache->stats();
  j["cache_hits"] = cs.hits;
  j["wall_time_s"] = static_cast<double>(c.usage_meter->elapsed().count()) / 1000.0;
  j["backend"] = c.backend_label();
  return j;
}

/// Prints an error the way every command does: "selfalign <command>: <message>".
inline int report_error(const context* c, const std::string& command, const error& e) {
  if (c && c->progress) c->progress->finish();
  std::string msg = e.describe();
  if (e.code == errc::invalid_argument || e.code == errc::io) msg = e.message;
  // The library already removes its keys; whatever the source of a message, the CLI does too.
  selfalign::detail::redact_secrets(msg, c ? c->secrets : std::vector<std::string>{});
  std::fprintf(stderr, "selfalign %s: %s\n", command.c_str(), msg.c_str());
  if (e.code == errc::budget_exhausted || e.code == errc::cancelled) {
    if (c && c->args.has("cache"))
      std::fprintf(stderr, "selfalign %s: partial output written; rerun the same command with the same --cache to resume\n",
                   command.c_str());
    else
      std::fprintf(stderr, "selfalign %s: partial output written (run with --cache FILE to be able to resume)\n", command.c_str());
  }
  return exit_code_for(e);
}

/// Collects the answers of a command item by item and writes them, in input order, as they
/// complete; on a stop the written prefix is committed, so the output is always valid JSONL.
class jsonl_writer {
 public:
  static result<jsonl_writer> open(const context& c) {
    auto out = io::atomic_output::open(c.args.get_or("out", "-"));
    if (!out) return unexpected(out.error());
    return jsonl_writer(std::move(*out));
  }
  template <class Json>
  result<void> write(const Json& line) {
    return out_.write_line(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  result<void> commit() { return out_.commit(); }

 private:
  explicit jsonl_writer(io::atomic_output out) : out_(std::move(out)) {}
  io::atomic_output out_;
};

/// An item that failed on its own (its prompt does not fit the model's context) rather than a
/// failure that ends the run: its output line carries the error and the other items still run.
[[nodiscard]] inline bool item_failure(const error& e) { return e.code == errc::context_overflow; }

/// The error of a failed item as it appears in its output line.
[[nodiscard]] inline nlohmann::json item_error_json(const error& e) {
  return {{"code", to_string(e.code)}, {"message", e.message}, {"http_status", e.http_status}};
}

/// After a completed run: exit 5 with a count when some items failed, else 0.
inline int finish_with_failed_items(context& c, std::size_t failed, std::size_t total, int code) {
  if (code != exit_ok || failed == 0) return code;
  std::fprintf(stderr, "selfalign %s: %zu of %zu item(s) failed; their output lines carry \"error\" (exit code %d)\n",
               c.command.c_str(), failed, total, static_cast<int>(exit_items_failed));
  return exit_items_failed;
}

/// The JSONL commands' main loop. `lines(begin, end)` produces the output lines of items
/// [begin, end) (running their calls concurrently); they are written in input order as each chunk
/// completes. The first item that failed stops the run, so what is written is always a prefix of
/// the full output; that prefix is committed and the failure reported with its exit code.
inline int write_lines_in_order(context& c, jsonl_writer& out, std::size_t n, std::size_t chunk,
                                const std::function<std::vector<result<nlohmann::json>>(std::size_t, std::size_t)>& lines) {
  std::optional<error> stop;
  for (std::size_t begin = 0; begin < n && !stop; begin += chunk) {
    for (auto& line : lines(begin, std::min(n, begin + chunk))) {
      if (!line) {
        stop = line.error();
        break;
      }
      if (auto w = out.write(*line); !w) return report_error(&c, c.command, w.error());
      c.progress->item_done();
    }
  }
  if (auto committed = out.commit(); !committed) return report_error(&c, c.command, committed.error());
  c.progress->finish();
  if (stop) return report_error(&c, c.command, *stop);
  return exit_ok;
}

/// Items per chunk for commands whose calls are one per item: a few batches' width, so progress and
/// partial output advance steadily while the executor stays full.
[[nodiscard]] inline std::size_t default_chunk(const context& c) { return std::max<std::size_t>(c.concurrency * 4, 16); }

}  // namespace cli
