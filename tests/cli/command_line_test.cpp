// The CLI's option parsing (examples/cli/command_line.hpp, on CLI11) and its progress line
// (examples/cli/progress.hpp): the parts of the command-line tool that left the library's headers.
#include <doctest/doctest.h>

#include "command_line.hpp"
#include "progress.hpp"

#include "test_support.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using cli::command_line;

namespace {
command_line demo_parser() {
  command_line p("selfalign demo [options] INPUT.jsonl", "Runs the demo.");
  p.section("common options")
      .option("base-url", "URL", "server base URL")
      .option("concurrency", "N", "calls in flight (default 8)")
      .option("max-cost", "USD", "cost budget")
      .flag("quiet", "no progress")
      .positionals(1, 1, "INPUT.jsonl ('-' reads standard input)")
      .example("selfalign demo prompts.jsonl");
  return p;
}
selfalign::result<cli::parsed_args> parse(const std::vector<std::string>& args) { return demo_parser().parse(args); }
}  // namespace

TEST_CASE("options, flags and positionals are parsed in both --name value and --name=value forms" * doctest::test_suite("cli")) {
  auto a = parse({"--base-url", "http://h:1/v1", "--concurrency=4", "--quiet", "in.jsonl"});
  REQUIRE(a);
  CHECK(*a->get("base-url") == "http://h:1/v1");
  CHECK(*a->get_int("concurrency", 1).value() == 4);
  CHECK(a->has("quiet"));
  CHECK_FALSE(a->has("max-cost"));
  CHECK(a->positionals() == std::vector<std::string>{"in.jsonl"});
  auto stdin_arg = parse({"-"});
  REQUIRE(stdin_arg);
  CHECK(stdin_arg->positionals().front() == "-");
  auto after_dashes = parse({"--", "--weird-file-name"});
  REQUIRE(after_dashes);
  CHECK(after_dashes->positionals().front() == "--weird-file-name");
  auto twice = parse({"--concurrency", "2", "--concurrency", "3", "x"});
  REQUIRE(twice);  // the same option twice: the last wins
  CHECK(*twice->get("concurrency") == "3");
}

TEST_CASE("bad command lines get precise messages" * doctest::test_suite("cli")) {
  auto unknown = parse({"--concurency", "3", "x"});
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == selfalign::errc::invalid_argument);
  CHECK(unknown.error().message == "unknown option '--concurency'; did you mean '--concurrency'?");
  CHECK(parse({"--base-url"}).error().message == "--base-url needs a value (URL)");
  CHECK(parse({}).error().message == "missing INPUT.jsonl ('-' reads standard input)");
  CHECK(parse({"a", "b"}).error().message == "too many arguments: expected INPUT.jsonl ('-' reads standard input), got 2");
  CHECK(parse({"-x", "a"}).error().message == "unknown option '-x' (options start with --)");

  auto bad_int = parse({"--concurrency", "eight", "x"});
  REQUIRE(bad_int);
  CHECK(bad_int->get_int("concurrency", 1).error().message == "--concurrency expects an integer, got 'eight'");
  auto low = parse({"--concurrency", "0", "x"});
  CHECK(low->get_int("concurrency", 1).error().message == "--concurrency must be at least 1, got 0");
  auto cost = parse({"--max-cost", "1.5", "x"});
  CHECK(*cost->get_double("max-cost").value() == 1.5);
  auto bad_cost = parse({"--max-cost", "1.5usd", "x"});
  CHECK(bad_cost->get_double("max-cost").error().message == "--max-cost expects a number, got '1.5usd'");
}

TEST_CASE("help lists every option aligned, by section, and examples" * doctest::test_suite("cli")) {
  auto h = parse({"--help"});
  REQUIRE(h);
  CHECK(h->help_requested());
  const std::string text = demo_parser().help();
  CHECK(text ==
        "usage: selfalign demo [options] INPUT.jsonl\n\nRuns the demo.\n\ncommon options:\n"
        "  --base-url URL   server base URL\n"
        "  --concurrency N  calls in flight (default 8)\n"
        "  --max-cost USD   cost budget\n"
        "  --quiet          no progress\n"
        "\nexamples:\n  selfalign demo prompts.jsonl\n");
  CHECK(demo_parser().option_names() == std::vector<std::string>{"base-url", "concurrency", "max-cost", "quiet"});
}

TEST_CASE("a multi-line option help continues under its first line; an environment variable is named" * doctest::test_suite("cli")) {
  command_line p("tool", "Summary.");
  p.option("long-name", "X", "first line\nsecond line").flag("q", "quiet");
  CHECK(p.help() == "usage: tool\n\nSummary.\n  --long-name X  first line\n                 second line\n  --q            quiet\n");
  command_line e("tool", "Summary.");
  e.option("model", "NAME", "model name").env("SELFALIGN_TEST_MODEL");
  CHECK(e.help() == "usage: tool\n\nSummary.\n  --model NAME  model name [env SELFALIGN_TEST_MODEL]\n");
}

TEST_CASE("a choice option accepts its values and lists them otherwise" * doctest::test_suite("cli")) {
  auto make = [] {
    command_line p("tool", "Summary.");
    p.option("mode", "M", "raw or chat").option("format", "F", "one of three").positionals(0, 0, "nothing");
    return p;
  };
  auto a = make().parse(std::vector<std::string>{"--mode", "chat"});
  REQUIRE(a);
  CHECK(*a->get_choice("mode", "raw", {"raw", "chat"}) == "chat");
  CHECK(*a->get_choice("format", "trl", {"trl", "trl-chat", "openrlhf"}) == "trl");  // absent: the fallback
  auto b = make().parse(std::vector<std::string>{"--format", "csv"});
  REQUIRE(b);
  CHECK(b->get_choice("format", "trl", {"trl", "trl-chat", "openrlhf"}).error().message ==
        "--format must be trl, trl-chat or openrlhf, got 'csv'");
  CHECK(b->get_choice("mode", "x", {"raw", "chat"}).error().message == "--mode must be raw or chat, got 'x'");
  CHECK(make().parse(std::vector<std::string>{"stray"}).error().message == "unexpected argument 'stray'");
}

TEST_CASE("an alias is read as the option it names; both spellings at once are refused; help lists it" * doctest::test_suite("cli")) {
  auto make = [] {
    command_line p("selfalign demo [options] INPUT", "Runs the demo.");
    p.option("max-tokens", "N", "most tokens per response").alias("max-new-tokens", "max-tokens").positionals(0, 1, "INPUT");
    return p;
  };
  auto old_name = make().parse(std::vector<std::string>{"--max-new-tokens", "8"});
  REQUIRE(old_name);
  CHECK(*old_name->get("max-tokens") == "8");
  CHECK_FALSE(old_name->get("max-new-tokens"));
  auto inline_form = make().parse(std::vector<std::string>{"--max-new-tokens=5"});
  REQUIRE(inline_form);
  CHECK(*inline_form->get_int("max-tokens", 1).value() == 5);
  auto both = make().parse(std::vector<std::string>{"--max-tokens", "8", "--max-new-tokens", "9"});
  REQUIRE_FALSE(both);
  CHECK(both.error().message == "--max-new-tokens is another name for --max-tokens; give only one");
  auto both_reversed = make().parse(std::vector<std::string>{"--max-new-tokens", "9", "--max-tokens", "8"});
  REQUIRE_FALSE(both_reversed);
  CHECK(both_reversed.error().message == "--max-tokens was also given under another name; give only one");
  auto twice = make().parse(std::vector<std::string>{"--max-tokens", "8", "--max-tokens", "9"});
  REQUIRE(twice);  // the same spelling twice: the last wins, as for every option
  CHECK(*twice->get("max-tokens") == "9");
  CHECK(make().help().find("--max-tokens N  most tokens per response (also --max-new-tokens)") != std::string::npos);
}

TEST_CASE("--config reads options and positionals from TOML; the command line wins; the effective configuration reads back" *
          doctest::test_suite("cli")) {
  const auto file = selfalign::test_support::temp_path("command-line-config.toml");
  std::ofstream(file) << "# a run\nconcurrency = 3\nmax-tokens = 5\nquiet = true\ninput = \"from-file.jsonl\"\n";
  auto make = [] {
    command_line p("selfalign demo [options] INPUT", "Runs the demo.");
    p.section("common options")
        .option("concurrency", "N", "calls in flight")
        .option("max-tokens", "N", "most tokens")
        .alias("max-new-tokens", "max-tokens")
        .option("system", "TEXT", "system prompt")
        .flag("quiet", "no progress")
        .config_option()
        .positionals(1, 1, "INPUT");
    return p;
  };
  auto p = make();
  auto from_file = p.parse(std::vector<std::string>{"--config", file.string()});
  REQUIRE(from_file);
  CHECK(*from_file->get("concurrency") == "3");
  CHECK(*from_file->get("max-tokens") == "5");
  CHECK(from_file->has("quiet"));
  CHECK(from_file->positionals() == std::vector<std::string>{"from-file.jsonl"});
  CHECK(p.effective_config() == "concurrency = 3\nmax-tokens = 5\nquiet = true\ninput = \"from-file.jsonl\"\n");

  // The command line wins, an alias included; the file's other values stay.
  auto q = make();
  auto over = q.parse(std::vector<std::string>{"--config", file.string(), "--concurrency", "9", "--max-new-tokens", "2", "other.jsonl"});
  REQUIRE(over);
  CHECK(*over->get("concurrency") == "9");
  CHECK(*over->get("max-tokens") == "2");
  CHECK(over->positionals() == std::vector<std::string>{"other.jsonl"});
  // The effective configuration names the option, not the alias, and reads back to the same values.
  const std::string effective = q.effective_config();
  CHECK(effective == "concurrency = 9\nmax-tokens = 2\nquiet = true\ninput = \"other.jsonl\"\n");
  const auto again = selfalign::test_support::temp_path("command-line-effective.toml");
  std::ofstream(again) << effective;
  auto r = make();
  auto reread = r.parse(std::vector<std::string>{"--config", again.string()});
  REQUIRE(reread);
  CHECK(r.effective_config() == effective);

  // A value with both quote characters survives; a line break cannot be stored and is said so.
  auto s = make();
  REQUIRE(s.parse(std::vector<std::string>{"--system", "say \"don't\"\nnow", "--concurrency", "1", "x"}));
  std::vector<std::string> omitted;
  CHECK(s.effective_config(&omitted).find("# system: not stored") != std::string::npos);
  CHECK(omitted == std::vector<std::string>{"system"});

  // An unknown key, a missing file: errors naming them.
  const auto bad = selfalign::test_support::temp_path("command-line-bad.toml");
  std::ofstream(bad) << "concurency = 3\n";
  auto unknown = make().parse(std::vector<std::string>{"--config", bad.string(), "x"});
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().message == "--config " + bad.string() + ": unknown option 'concurency'; did you mean '--concurrency'?");
  auto missing = make().parse(std::vector<std::string>{"--config", bad.string() + ".none", "x"});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message.find("--config: " + bad.string() + ".none") == 0);
}

TEST_CASE("an option bound to an environment variable: below the command line and the config file" * doctest::test_suite("cli")) {
  auto make = [] {
    command_line p("tool", "Summary.");
    p.option("model", "NAME", "model").env("SELFALIGN_TEST_CL_MODEL").config_option().positionals(0, 1, "INPUT");
    return p;
  };
  ::setenv("SELFALIGN_TEST_CL_MODEL", "from-env", 1);
  auto env = make().parse(std::vector<std::string>{});
  REQUIRE(env);
  CHECK(*env->get("model") == "from-env");
  auto line = make().parse(std::vector<std::string>{"--model", "from-line"});
  REQUIRE(line);
  CHECK(*line->get("model") == "from-line");
  const auto file = selfalign::test_support::temp_path("command-line-env.toml");
  std::ofstream(file) << "model = \"from-file\"\n";
  auto cfg = make().parse(std::vector<std::string>{"--config", file.string()});
  REQUIRE(cfg);
  CHECK(*cfg->get("model") == "from-file");
  ::unsetenv("SELFALIGN_TEST_CL_MODEL");
  auto none = make().parse(std::vector<std::string>{});
  REQUIRE(none);
  CHECK_FALSE(none->get("model"));
}

TEST_CASE("the progress line counts calls, cache hits, tokens and items" * doctest::test_suite("cli")) {
  cli::progress_display p(stderr, false);
  p.set_total(4);
  selfalign::event call;
  call.kind = selfalign::event_kind::call_finished;
  call.usage.prompt_tokens = 1200;
  call.usage.completion_tokens = 300;
  p.on_event(call);
  call.usage.from_cache = true;
  p.on_event(call);
  p.item_done();
  const std::string line = p.line();
  CHECK(line.rfind("[1/4] calls 1 (1 cached)  tokens 1.5k  0s elapsed, ETA 0s", 0) == 0);
}

TEST_CASE("the progress line draws on a terminal only, and finish() ends its line" * doctest::test_suite("cli")) {
  const auto path = selfalign::test_support::temp_path("progress-line.txt");
  for (bool enabled : {false, true}) {
    std::FILE* f = std::fopen(path.c_str(), "w");
    REQUIRE(f != nullptr);
    {
      cli::progress_display p(f, enabled);
      p.set_total(2);
      p.item_done();
      p.item_done();
      p.finish();
    }
    std::fclose(f);
    std::ifstream in(path);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!enabled) {
      CHECK(text.empty());
    } else {
      CHECK(text.rfind("\r\033[K[1/2] calls 0", 0) == 0);
      CHECK(text.find("\r\033[K[2/2] calls 0") != std::string::npos);
      CHECK(text.back() == '\n');
    }
  }
}
