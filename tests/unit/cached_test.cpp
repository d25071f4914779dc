#include <doctest/doctest.h>
#include <fmt/format.h>
#include "test_support.hpp"
#include "list_generator.hpp"
#include <selfalign/batch.hpp>
#include <selfalign/testing/scripted_generator.hpp>
#include <selfalign/testing/scripted_judge.hpp>
#include <selfalign/wrappers/cached.hpp>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

using namespace selfalign;
using namespace selfalign::test_support;
using selfalign::testing::scripted_generator;

namespace {
std::filesystem::path temp_file(const std::string& name) {
  const char* dir = std::getenv("SELFALIGN_TEST_TMP");
  auto base = dir ? std::filesystem::path(dir) : std::filesystem::temp_directory_path();
  std::filesystem::create_directories(base);
  auto p = base / (name + "." + std::to_string(::getpid()) + ".jsonl");
  std::filesystem::remove(p);
  return p;
}
std::size_t count_lines(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) n += line.empty() ? 0 : 1;
  return n;
}
}  // namespace

TEST_CASE("cached answers a repeated request from memory and counts hits and misses" * doctest::test_suite("cached")) {
  scripted_generator backend;
  backend.otherwise("answer");
  cached g(backend);
  static_assert(Generator<cached<scripted_generator>>);
  auto first = g.generate(ask("q"));
  auto second = g.generate(ask("q"));
  REQUIRE(first);
  REQUIRE(second);
  CHECK(second->text() == "answer");
  CHECK_FALSE(first->usage.from_cache);
  CHECK(second->usage.from_cache);
  CHECK(backend.call_count() == 1);
  CHECK(g.stats().hits == 1);
  CHECK(g.stats().misses == 1);
  CHECK(g.stats().entries == 1);
}

TEST_CASE("the cache key covers every field that can change the answer" * doctest::test_suite("cached")) {
  scripted_generator backend;
  backend.otherwise("x");
  cached g(backend);
  (void)g.generate(ask("q", 1));
  (void)g.generate(ask("q", 2));  // another seed: another sample
  auto r = ask("q", 1);
  r.sampling.n = 2;  // more choices
  (void)g.generate(r);
  r = ask("q", 1);
  r.sampling.temperature = 0.5;
  (void)g.generate(r);
  r = ask("q", 1);
  r.model = "other";
  (void)g.generate(r);
  r = ask("q", 1);
  r.prompt = prompt::chat({message::user("q")});  // same text, different prompt kind
  (void)g.generate(r);
  CHECK(backend.call_count() == 6);
  (void)g.generate(ask("q", 1));
  CHECK(backend.call_count() == 6);
}

TEST_CASE("errors are not cached" * doctest::test_suite("cached")) {
  scripted_generator backend;
  backend.fail_on("bad", error(errc::server_error, "down", 503));
  cached g(backend);
  CHECK_FALSE(g.generate(ask("bad")).has_value());
  CHECK_FALSE(g.generate(ask("bad")).has_value());
  CHECK(backend.call_count() == 2);
  CHECK(g.stats().entries == 0);
}

TEST_CASE("a durable cache replays a finished run with zero backend calls" * doctest::test_suite("cached")) {
  const auto path = temp_file("durable");
  {
    scripted_generator backend;
    backend.otherwise("stored");
    auto store = cache_store::open(path);
    REQUIRE(store);
    cached g(backend, *store, "base");
    for (int i = 0; i < 5; ++i) REQUIRE(g.generate(ask(fmt::format("q{}", i))));
    CHECK(backend.call_count() == 5);
  }
  CHECK(count_lines(path) == 5);
  scripted_generator fresh;  // no rules: any call would fail
  auto store = cache_store::open(path);
  REQUIRE(store);
  CHECK((*store)->stats().loaded == 5);
  cached g(fresh, *store, "base");
  for (int i = 0; i < 5; ++i) {
    auto r = g.generate(ask(fmt::format("q{}", i)));
    REQUIRE(r);
    CHECK(r->text() == "stored");
    CHECK(r->usage.from_cache);
  }
  CHECK(fresh.call_count() == 0);
  // Another scope does not see the "base" answers.
  cached other(fresh, *store, "judge");
  CHECK_FALSE(other.generate(ask("q0")).has_value());
  CHECK(fresh.call_count() == 1);
}

TEST_CASE("a killed run's cache file replays every finished call" * doctest::test_suite("cached")) {
  const auto path = temp_file("killed");
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    scripted_generator backend;
    backend.otherwise("done before the kill");
    auto store = cache_store::open(path);
    if (!store) ::_exit(3);
    cached g(backend, *store);
    for (int i = 0; i < 7; ++i)
      if (!g.generate(ask("call " + std::to_string(i)))) ::_exit(4);
    std::raise(SIGKILL);  // no destructors, no clean close: as a crash or kill -9
    ::_exit(5);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);

  scripted_generator backend;  // would fail every call
  auto store = cache_store::open(path);
  REQUIRE(store);
  cached g(backend, *store);
  for (int i = 0; i < 7; ++i) CHECK(g.generate(ask("call " + std::to_string(i)))->text() == "done before the kill");
  CHECK(backend.call_count() == 0);
}

TEST_CASE("a torn last line is skipped with a warning and later records start on a fresh line" * doctest::test_suite("cached")) {
  const auto path = temp_file("torn");
  {
    scripted_generator backend;
    backend.otherwise("ok");
    auto store = cache_store::open(path);
    REQUIRE(store);
    cached g(backend, *store);
    REQUIRE(g.generate(ask("a")));
    REQUIRE(g.generate(ask("b")));
  }
  {
    std::ofstream out(path, std::ios::app | std::ios::binary);
    out << R"({"key":"generate||{\"model\":\"\",\"prom)";  // a write cut short by a crash
  }
  std::vector<std::string> warnings;
  cache_options opts;
  opts.on_warning = [&](const std::string& w) { warnings.push_back(w); };
  auto store = cache_store::open(path, opts);
  REQUIRE(store);
  CHECK((*store)->stats().loaded == 2);
  CHECK((*store)->stats().skipped_lines == 1);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find(":3: skipped an unreadable cache record") != std::string::npos);

  scripted_generator backend;
  backend.otherwise("new");
  cached g(backend, *store);
  REQUIRE(g.generate(ask("c")));
  CHECK(backend.call_count() == 1);

  // The next open reads the two old records and the new one; only the torn line is lost.
  auto again = cache_store::open(path);
  REQUIRE(again);
  CHECK((*again)->stats().loaded == 3);
  CHECK((*again)->stats().skipped_lines == 1);
}

TEST_CASE("the durable cache is safe under concurrent use" * doctest::test_suite("cached")) {
  const auto path = temp_file("concurrent");
  scripted_generator backend;
  backend.otherwise("v");
  {
    auto store = cache_store::open(path);
    REQUIRE(store);
    cached g(backend, *store);
    std::vector<generation_request> reqs;
    for (int i = 0; i < 200; ++i) reqs.push_back(ask(fmt::format("q{}", i % 100)));  // every request twice
    auto out = generate_batch(g, reqs, width(8));
    for (const auto& r : out) CHECK(r.has_value());
    // Identical requests in flight at the same time are made once.
    CHECK(backend.call_count() == 100);
    CHECK(g.stats().hits == 100);
  }
  CHECK(count_lines(path) == 100);
  auto store = cache_store::open(path);
  REQUIRE(store);
  CHECK((*store)->stats().loaded == 100);
  CHECK((*store)->stats().skipped_lines == 0);
}

TEST_CASE("cached wraps judges too" * doctest::test_suite("cached")) {
  selfalign::testing::scripted_judge j(3.0);
  cached cj(j);
  static_assert(Judge<cached<selfalign::testing::scripted_judge>>);
  judge_request r;
  r.query = "q";
  r.response = "a";
  CHECK(*cj.judge(r)->score == 3.0);
  CHECK(cj.judge(r)->usage.from_cache);
  CHECK(j.call_count() == 1);
}

TEST_CASE("opening a cache in a missing directory is an io error" * doctest::test_suite("cached")) {
  auto store = cache_store::open("/nonexistent-dir-selfalign/cache.jsonl");
  REQUIRE_FALSE(store);
  CHECK(store.error().code == errc::io);
  CHECK(store.error().message == "cannot open cache file /nonexistent-dir-selfalign/cache.jsonl for appending");
}

TEST_CASE("a replayed record is validated like a server answer: {} and a choice without text are misses with a warning" * doctest::test_suite("cached")) {
  const auto path = temp_file("invalid");
  std::vector<std::string> warnings;
  cache_options opts;
  opts.on_warning = [&](const std::string& w) { warnings.push_back(w); };
  auto store = cache_store::open(path, opts);
  REQUIRE(store);
  scripted_generator backend;
  backend.otherwise("fresh");
  cached g(backend, *store, "base");
  REQUIRE((*store)->insert(g.key_of("generate", ask("empty")), nlohmann::json::object()));
  REQUIRE((*store)->insert(g.key_of("generate", ask("blank")), nlohmann::json{{"choices", {nlohmann::json::object()}}}));
  auto usage_bad = nlohmann::json{{"choices", {{{"text", "x"}, {"finish_reason", "stop"}}}}, {"usage", {{"prompt_tokens", -5}}}};
  REQUIRE((*store)->insert(g.key_of("generate", ask("negative")), usage_bad));
  for (const char* q : {"empty", "blank", "negative"}) {
    auto r = g.generate(ask(q));
    REQUIRE(r);
    CHECK(r->text() == "fresh");
    CHECK_FALSE(r->usage.from_cache);
  }
  CHECK(backend.call_count() == 3);
  REQUIRE(warnings.size() == 3);
  CHECK(warnings[0] == "a cached 'generate' answer of role 'base' (model '') is invalid (the answer has no `choices` array); asking the backend again");
  CHECK(warnings[1].find("(a choice has no string `text`)") != std::string::npos);
  CHECK(warnings[2].find("(usage.prompt_tokens is not a non-negative integer)") != std::string::npos);
  CHECK(g.stats().rejected == 3);
  // The fresh answers replaced the invalid records.
  CHECK(g.generate(ask("empty"))->usage.from_cache);
}

TEST_CASE("a JSONL record whose value does not match its check is skipped at open" * doctest::test_suite("cached")) {
  const auto path = temp_file("flipped");
  {
    auto store = cache_store::open(path);
    REQUIRE(store);
    scripted_generator backend;
    backend.otherwise("the true answer");
    cached g(backend, *store);
    REQUIRE(g.generate(ask("q")));
  }
  std::string text;
  {
    std::ifstream in(path);
    std::getline(in, text);
  }
  const auto at = text.find("the true answer");
  REQUIRE(at != std::string::npos);
  text.replace(at, 8, "the fake");  // one flipped word inside the answer
  std::ofstream(path, std::ios::trunc) << text << "\n";
  std::vector<std::string> warnings;
  cache_options opts;
  opts.on_warning = [&](const std::string& w) { warnings.push_back(w); };
  auto store = cache_store::open(path, opts);
  REQUIRE(store);
  CHECK((*store)->stats().loaded == 0);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find(":1: skipped an unreadable cache record") != std::string::npos);
  CHECK(warnings[0].find("damaged: its check does not match its value") != std::string::npos);
}

TEST_CASE("the JSONL loader takes any bytes: deep nesting, binary, torn records" * doctest::test_suite("cached")) {
  std::vector<std::string> keys, warnings;
  const std::string deep = "{\"key\":\"k\",\"value\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  const char junk[] = "\n\x01\xff\x00garbage\n{\"key\":\"ok\",\"value\":{\"a\":1}}\n{\"key\":";
  const std::string bytes = deep + std::string(junk, sizeof junk - 1);
  auto scan = detail::read_jsonl_cache(
      std::string_view(bytes.data(), bytes.size()), "mem", [&](std::string k, std::string) { keys.push_back(k); },
      [&](const std::string& w) { warnings.push_back(w); });
  CHECK(scan.loaded == 1);
  CHECK(scan.skipped == 3);
  CHECK(scan.ends_mid_line);
  REQUIRE(keys.size() == 1);
  CHECK(keys[0] == "ok");
  CHECK(warnings.size() == 3);
}

TEST_CASE("cached answers the cached prompts of a list and sends the others as one request, in order" * doctest::test_suite("cached")) {
  using selfalign_test::list_generator;
  using selfalign_test::list_requests;
  list_generator inner;
  const auto path = temp_file("multi");
  auto store = cache_store::open(path);
  REQUIRE(store);
  cached<list_generator&> g(inner, *store, "base");
  static_assert(MultiPromptGenerator<cached<list_generator&>>);

  const auto ab = list_requests({"a", "b"});
  auto first = generate_multi(g, std::span<const generation_request>(ab));
  CHECK(inner.log->lists == std::vector<std::vector<std::string>>{{"a", "b"}});
  CHECK(g.stats().misses == 2);
  CHECK(g.stats().hits == 0);
  REQUIRE(first[1]);
  CHECK_FALSE(first[1]->usage.from_cache);

  // a and b are cached: only c and d go out, together, and the answers come back in list order.
  const auto mixed = list_requests({"c", "a", "d", "b"});
  auto second = generate_multi(g, std::span<const generation_request>(mixed));
  REQUIRE(second.size() == 4);
  CHECK(inner.log->lists.size() == 2);
  CHECK(inner.log->lists[1] == std::vector<std::string>{"c", "d"});
  CHECK(inner.log->singles.empty());
  std::vector<std::string> texts;
  for (const auto& a : second) texts.push_back(a->choices[0].text);
  CHECK(texts == std::vector<std::string>{"re:c", "re:a", "re:d", "re:b"});
  CHECK(second[1]->usage.from_cache);
  CHECK_FALSE(second[0]->usage.from_cache);
  CHECK(g.stats().hits == 2);
  CHECK(g.stats().misses == 4);

  // One prompt missing: a single request. A list's answers are stored under the single request's
  // key, so single calls replay them.
  const auto eb = list_requests({"e", "b"});
  (void)generate_multi(g, std::span<const generation_request>(eb));
  CHECK(inner.log->singles == std::vector<std::string>{"e"});
  auto single = g.generate(list_requests({"c"})[0]);
  REQUIRE(single);
  CHECK(single->usage.from_cache);
  CHECK(inner.requests() == 3);

  // A prompt repeated within a list is asked once; the repeat replays it.
  const auto ff = list_requests({"f", "g", "f"});
  auto rep = generate_multi(g, std::span<const generation_request>(ff));
  CHECK(inner.log->lists.back() == std::vector<std::string>{"f", "g"});
  CHECK(rep[2]->choices[0].text == "re:f");
  CHECK(rep[2]->usage.from_cache);
  CHECK_FALSE(rep[0]->usage.from_cache);

  // Errors are not stored: the failed list's prompts are asked again next time.
  const auto bad = list_requests({"fail", "h"});
  auto failed = generate_multi(g, std::span<const generation_request>(bad));
  CHECK_FALSE(failed[1]);
  (void)generate_multi(g, std::span<const generation_request>(bad));
  CHECK(inner.log->lists.back() == std::vector<std::string>{"fail", "h"});
  CHECK(inner.requests() == 6);

  // Resume: a fresh backend over the same file answers every earlier list from the store.
  list_generator fresh;
  auto reopened = cache_store::open(path);
  REQUIRE(reopened);
  cached<list_generator&> again(fresh, *reopened, "base");
  for (const auto* list : {&ab, &mixed, &eb, &ff}) {
    auto replayed = generate_multi(again, std::span<const generation_request>(*list));
    for (const auto& a : replayed) CHECK((a && a->usage.from_cache));
  }
  CHECK(fresh.requests() == 0);
}

TEST_CASE("cached lists under concurrency: each prompt is asked once, whatever the lists' overlap" * doctest::test_suite("cached")) {
  using selfalign_test::list_generator;
  list_generator inner;
  cached<list_generator&> g(inner, std::make_shared<cache_store>(), "base");
  std::vector<std::vector<std::string>> lists;
  for (int i = 0; i < 16; ++i)
    lists.push_back({fmt::format("p{}", i % 5), fmt::format("p{}", (i + 1) % 5), fmt::format("p{}", (i * 3 + 2) % 5)});
  auto answers = parallel_map(lists.size(), 8, [&](std::size_t i) {
    const auto reqs = selfalign_test::list_requests(lists[i]);
    return generate_multi(g, std::span<const generation_request>(reqs));
  });
  std::size_t asked = 0;
  for (const auto& l : inner.log->lists) asked += l.size();
  asked += inner.log->singles.size();
  CHECK(asked == 5);  // p0..p4, each once
  for (std::size_t i = 0; i < lists.size(); ++i)
    for (std::size_t k = 0; k < 3; ++k) CHECK(answers[i][k]->choices[0].text == "re:" + lists[i][k]);
}
