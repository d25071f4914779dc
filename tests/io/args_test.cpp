#include <doctest/doctest.h>
#include <selfalign/io/args.hpp>

#include <string>
#include <vector>

using namespace selfalign;
using selfalign::io::arg_parser;

namespace {
arg_parser demo_parser() {
  arg_parser p("selfalign demo [options] INPUT.jsonl", "Runs the demo.");
  p.section("common options")
      .option("base-url", "URL", "server base URL")
      .option("concurrency", "N", "calls in flight (default 8)")
      .option("max-cost", "USD", "cost budget")
      .flag("quiet", "no progress")
      .positionals(1, 1, "INPUT.jsonl ('-' reads standard input)")
      .example("selfalign demo prompts.jsonl");
  return p;
}
result<io::parsed_args> parse(const std::vector<std::string>& args) { return demo_parser().parse(args); }
}  // namespace

TEST_CASE("options, flags and positionals are parsed in both --name value and --name=value forms" * doctest::test_suite("io")) {
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
}

TEST_CASE("bad command lines get precise messages" * doctest::test_suite("io")) {
  auto unknown = parse({"--concurency", "3", "x"});
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == errc::invalid_argument);
  CHECK(unknown.error().message == "unknown option '--concurency'; did you mean '--concurrency'?");
  CHECK(parse({"--base-url"}).error().message == "--base-url needs a value (URL)");
  CHECK(parse({"--quiet=yes", "x"}).error().message == "--quiet takes no value");
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

TEST_CASE("help lists every option aligned, and examples" * doctest::test_suite("io")) {
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

TEST_CASE("a multi-line option help continues under its first line" * doctest::test_suite("io")) {
  arg_parser p("tool", "Summary.");
  p.option("long-name", "X", "first line\nsecond line").flag("q", "quiet");
  CHECK(p.help() == "usage: tool\n\nSummary.\n  --long-name X  first line\n                 second line\n  --q            quiet\n");
}

TEST_CASE("a choice option accepts its values and lists them otherwise" * doctest::test_suite("io")) {
  arg_parser p("tool", "Summary.");
  p.option("mode", "M", "raw or chat").option("format", "F", "one of three").positionals(0, 0, "nothing");
  auto a = p.parse(std::vector<std::string>{"--mode", "chat"});
  REQUIRE(a);
  CHECK(*a->get_choice("mode", "raw", {"raw", "chat"}) == "chat");
  CHECK(*a->get_choice("format", "trl", {"trl", "trl-chat", "openrlhf"}) == "trl");  // absent: the fallback
  auto b = p.parse(std::vector<std::string>{"--format", "csv"});
  CHECK(b->get_choice("format", "trl", {"trl", "trl-chat", "openrlhf"}).error().message ==
        "--format must be trl, trl-chat or openrlhf, got 'csv'");
  CHECK(b->get_choice("mode", "x", {"raw", "chat"}).error().message == "--mode must be raw or chat, got 'x'");
}

TEST_CASE("an alias is read as the option it names; both spellings at once are refused; help lists it" * doctest::test_suite("io")) {
  arg_parser p("selfalign demo [options] INPUT", "Runs the demo.");
  p.option("max-tokens", "N", "most tokens per response").alias("max-new-tokens", "max-tokens").positionals(0, 1, "INPUT");
  auto old_name = p.parse(std::vector<std::string>{"--max-new-tokens", "8"});
  REQUIRE(old_name);
  CHECK(*old_name->get("max-tokens") == "8");
  CHECK_FALSE(old_name->get("max-new-tokens"));
  auto inline_form = p.parse(std::vector<std::string>{"--max-new-tokens=5"});
  REQUIRE(inline_form);
  CHECK(*inline_form->get_int("max-tokens", 1).value() == 5);
  auto both = p.parse(std::vector<std::string>{"--max-tokens", "8", "--max-new-tokens", "9"});
  REQUIRE_FALSE(both);
  CHECK(both.error().message == "--max-new-tokens is another name for --max-tokens; give only one");
  auto both_reversed = p.parse(std::vector<std::string>{"--max-new-tokens", "9", "--max-tokens", "8"});
  REQUIRE_FALSE(both_reversed);
  CHECK(both_reversed.error().message == "--max-tokens was also given under another name; give only one");
  auto twice = p.parse(std::vector<std::string>{"--max-tokens", "8", "--max-tokens", "9"});
  REQUIRE(twice);  // the same spelling twice: the last wins, as for every option
  CHECK(*twice->get("max-tokens") == "9");
  CHECK(p.help().find("--max-tokens N  most tokens per response (also --max-new-tokens)") != std::string::npos);
}
