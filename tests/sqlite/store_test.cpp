// The SQLite cache store: resume, kill -9, threads, several processes sharing one file
// (single-flight), damaged and invalid records, collision check, export and vacuum.
#include <doctest/doctest.h>
#include "test_support.hpp"
#include <selfalign/batch.hpp>
#include <selfalign/cache/sqlite_store.hpp>
#include <selfalign/wrappers/cached.hpp>

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace selfalign;

namespace {

/// Answers "answer to <prompt>", counts its calls, optionally slowly; names a default model.
struct echo_backend {
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  std::chrono::milliseconds delay{0};
  std::string default_model = "model-a";
  bool refuse = false;

  result<generation> generate(const generation_request& r) {
    ++*calls;
    if (refuse) return fail_with();
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    generation g;
    completion c;
    c.text = "answer to " + (r.prompt.is_chat() ? r.prompt.messages().back().content : r.prompt.raw_text());
    c.finish_reason = "stop";
    g.choices.push_back(c);
    g.usage.prompt_tokens = 4;
    g.usage.completion_tokens = 3;
    g.model = r.model.empty() ? default_model : r.model;
    return g;
  }
  static result<generation> fail_with() { return fail(errc::server_error, "this backend must not be called"); }
  [[nodiscard]] selfalign::capabilities capabilities() const {
    selfalign::capabilities c;
    c.default_model = default_model;
    c.max_concurrent_calls = 0;  // any number at once
    return c;
  }
};

std::filesystem::path temp_db(const std::string& name) {
  auto dir = test_support::temp_path("sqlite-" + name);
  std::filesystem::create_directories(dir);
  return dir / "cache.sqlite";
}

generation_request ask(const std::string& text, std::uint64_t seed = 1) {
  generation_request r;
  r.prompt = prompt::text(text);
  r.sampling.seed = seed;
  return r;
}

/// Runs `body` in a child process; returns its exit status (as waitpid reports it).
template <class F>
pid_t spawn(F&& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    int code = 100;
    try {
      code = body();
    } catch (...) {
      code = 101;
    }
    ::_exit(code);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 1000 + WTERMSIG(status);
}

void sql(const std::filesystem::path& db, const std::string& statement) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(h, statement.c_str(), nullptr, nullptr, &err);
  INFO((err ? err : ""));
  sqlite3_free(err);
  sqlite3_close(h);
  REQUIRE(rc == SQLITE_OK);
}

}  // namespace

TEST_CASE("an SQLite cache is chosen by extension and by content, and JSONL stays available" * doctest::test_suite("sqlite")) {
  const auto db = temp_db("kind");
  auto s = cache_store::open(db);
  REQUIRE(s);
  CHECK((*s)->kind() == "sqlite");
  const auto jl = db.parent_path() / "c.jsonl";
  auto j = cache_store::open(jl);
  REQUIRE(j);
  CHECK((*j)->kind() == "jsonl");
  // An existing SQLite file is recognised whatever its name; open_jsonl forces JSONL.
  const auto renamed = db.parent_path() / "renamed.jsonl";
  s->reset();
  std::filesystem::copy_file(db, renamed);
  auto again = cache_store::open(renamed);
  REQUIRE(again);
  CHECK((*again)->kind() == "sqlite");
  auto forced = cache_store::open_jsonl(db.parent_path() / "x.cache");
  REQUIRE(forced);
  CHECK((*forced)->kind() == "jsonl");
}

TEST_CASE("an SQLite cache replays a finished run with zero calls and loads nothing at open" * doctest::test_suite("sqlite")) {
  const auto db = temp_db("resume");
  {
    echo_backend b;
    auto store = cache_store::open(db);
    REQUIRE(store);
    cached g(b, *store, "base");
    for (int i = 0; i < 5; ++i) REQUIRE(g.generate(ask("q" + std::to_string(i))));
    CHECK(*b.calls == 5);
    CHECK(g.stats().entries == 5);
  }
  {
    echo_backend fresh;
    fresh.refuse = true;
    auto store = cache_store::open(db);
    REQUIRE(store);
    CHECK((*store)->stats().loaded == 0);
    CHECK((*store)->stats().entries == 5);
    cached g(fresh, *store, "base");
    for (int i = 0; i < 5; ++i) {
      auto r = g.generate(ask("q" + std::to_string(i)));
      REQUIRE(r);
      CHECK(r->text() == "answer to q" + std::to_string(i));
      CHECK(r->usage.from_cache);
    }
    CHECK(*fresh.calls == 0);
    CHECK(g.stats().hits == 5);
  }
  // Hits are added to the file by role and model when the store closes.
  auto reopened = sqlite_cache_store::open(db, {});
  REQUIRE(reopened);
  auto summary = static_cast<sqlite_cache_store&>(**reopened).summary();
  REQUIRE(summary);
  CHECK((*summary)[{"base", "model-a"}].entries == 5);
  CHECK((*summary)[{"base", "model-a"}].hits == 5);
  CHECK((*summary)[{"base", "model-a"}].misses == 5);
}

TEST_CASE("the cache key holds the resolved model: another default model is another answer" * doctest::test_suite("sqlite")) {
  const auto db = temp_db("model");
  auto store = cache_store::open(db);
  REQUIRE(store);
  echo_backend a;
  cached ga(a, *store, "base");
  REQUIRE(ga.generate(ask("q")));
  echo_backend b;
  b.default_model = "model-b";
  cached gb(b, *store, "base");
  auto r = gb.generate(ask("q"));
  REQUIRE(r);
  CHECK_FALSE(r->usage.from_cache);
  CHECK(r->model == "model-b");
  CHECK(*b.calls == 1);
  // Naming the default model explicitly is the same request as leaving it empty.
  auto named = ask("q");
  named.model = "model-a";
  auto again = ga.generate(named);
  REQUIRE(again);
  CHECK(again->usage.from_cache);
  CHECK(*a.calls == 1);
  // The endpoint kind: the same text as a chat prompt is another request.
  auto chat = ask("q");
  chat.prompt = prompt::chat({message::user("q")});
  REQUIRE(ga.generate(chat));
  CHECK(*a.calls == 2);
  CHECK(ga.key_of("generate", chat).find("\"endpoint\":\"chat\"") != std::string::npos);
  CHECK(ga.key_of("generate", ask("q")).find("\"endpoint\":\"completions\"") != std::string::npos);
  CHECK(ga.key_of("generate", ask("q")).find("\"model\":\"model-a\"") != std::string::npos);
}

TEST_CASE("a killed writer's SQLite cache replays every committed call" * doctest::test_suite("sqlite")) {
  const auto db = temp_db("killed");
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    echo_backend b;
    auto store = cache_store::open(db);
    if (!store) ::_exit(3);
    cached g(b, *store);
    for (int i = 0; i < 7; ++i)
      if (!g.generate(ask("call " + std::to_string(i)))) ::_exit(4);
    std::raise(SIGKILL);
    ::_exit(5);
  }
  CHECK(wait_exit(child) == 1000 + SIGKILL);
  echo_backend b;
  b.refuse = true;
  auto store = cache_store::open(db);
  REQUIRE(store);
  cached g(b, *store);
  for (int i = 0; i < 7; ++i) CHECK(g.generate(ask("call " + std::to_string(i)))->text() == "answer to call " + std::to_string(i));
  CHECK(*b.calls == 0);
}

// Switching a new file to WAL needs it to itself, and SQLite answers SQLITE_BUSY at once to the
// other processes (no busy handler): four runs started together on a new cache failed with
// "database is locked" (seen in CI; this case: 2 of 200 openers failed before the fix). Each
// opener now retries within its busy timeout.
TEST_CASE("many processes opening one new SQLite cache at the same moment all succeed" * doctest::test_suite("sqlite")) {
  constexpr int rounds = 25, openers = 8;
  int failures = 0;
  for (int round = 0; round < rounds; ++round) {
    const auto db = temp_db("open-race-" + std::to_string(round));
    std::filesystem::remove(db);
    const auto start = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
    std::vector<pid_t> children;
    for (int t = 0; t < openers; ++t)
      children.push_back(spawn([&] {
        std::this_thread::sleep_until(start);
        auto store = cache_store::open(db);
        if (!store) std::fprintf(stderr, "open failed: %s\n", store.error().message.c_str());
        return store ? 0 : 1;
      }));
    for (const pid_t pid : children) failures += wait_exit(pid) == 0 ? 0 : 1;
  }
  CHECK(failures == 0);
}

TEST_CASE("threads share one SQLite store: identical requests in flight are made once" * doctest::test_suite("sqlite")) {
  const auto db = temp_db("threads");
  echo_backend b;
  b.delay = std::chrono::milliseconds(1);
  auto store = cache_store::open(db);
  REQUIRE(store);
  cached g(b, *store);
  std::vector<generation_request> reqs;
  for (int i = 0; i < 200; ++i) reqs.push_back(ask("q" + std::to_string(i % 100)));
  batch_options o;
  o.max_concurrency = 16;
  auto out = generate_batch(g, reqs, o);
  for (std::size_t i = 0; i < out.size(); ++i) {
    REQUIRE(out[i]);
    CHECK(out[i]->text() == "answer to q" + std::to_string(i % 100));
  }
  CHECK(*b.calls == 100);
  CHECK(g.stats().entries == 100);
}

TEST_CASE("four processes over one SQLite cache, then a fifth: no duplicate call, no lost or damaged record" * doctest::test_suite("sqlite")) {
  const auto db = temp_db("procs");
  REQUIRE(cache_store::open(db));  // create the schema first (it is also safe to race)
  constexpr int requests = 60;
  std::vector<pid_t> kids;
  for (int p = 0; p < 4; ++p) {
    kids.push_back(spawn([&, p] {
      echo_backend b;
      b.delay = std::chrono::milliseconds(3);
      auto store = cache_store::open(db);
      if (!store) return 90;
      cached g(b, *store, "base");
      std::vector<generation_request> reqs;
      for (int i = 0; i < requests; ++i) reqs.push_back(ask("q" + std::to_string((i + p * 15) % requests)));
      batch_options o;
      o.max_concurrency = 4;
      for (const auto& r : generate_batch(g, reqs, o))
        if (!r) return 91;
      return b.calls->load();  // this process's calls
    }));
  }
  int total = 0;
  for (pid_t k : kids) {
    const int code = wait_exit(k);
    REQUIRE(code < 90);
    total += code;
  }
  CHECK(total == requests);  // single-flight: every request paid once across the four processes

  std::vector<std::string> warnings;
  cache_options o;
  o.on_warning = [&](const std::string& w) { warnings.push_back(w); };
  auto store = cache_store::open(db, o);
  REQUIRE(store);
  echo_backend fifth;
  fifth.refuse = true;
  cached g(fifth, *store, "base");
  for (int i = 0; i < requests; ++i) {
    auto r = g.generate(ask("q" + std::to_string(i)));
    REQUIRE(r);
    CHECK(r->text() == "answer to q" + std::to_string(i));
  }
  CHECK(*fifth.calls == 0);
  CHECK(warnings.empty());
  CHECK((*store)->stats().rejected == 0);
  CHECK((*store)->stats().entries == static_cast<std::size_t>(requests));
}

TEST_CASE("writers killed with SIGKILL mid-run leave no damaged record and no marker that blocks the next run" * doctest::test_suite("sqlite")) {
  const auto db = temp_db("sigkill");
  REQUIRE(cache_store::open(db));
  constexpr int requests = 400;
  std::vector<pid_t> kids;
  for (int p = 0; p < 4; ++p) {
    kids.push_back(spawn([&, p] {
      echo_backend b;
      b.delay = std::chrono::milliseconds(20);
      auto store = cache_store::open(db);
      if (!store) return 90;
      cached g(b, *store, "base");
      std::vector<generation_request> reqs;
      for (int i = 0; i < requests; ++i) reqs.push_back(ask("q" + std::to_string((i * 7 + p * 101) % requests)));
      batch_options o;
      o.max_concurrency = 8;
      (void)generate_batch(g, reqs, o);
      return 0;
    }));
  }
  {
    // Kill once some answers are committed and most are not.
    auto watch = cache_store::open(db);
    REQUIRE(watch);
    for (int i = 0; i < 2000 && (*watch)->stats().entries < 40; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (pid_t k : kids) ::kill(k, SIGKILL);
  for (pid_t k : kids) CHECK(wait_exit(k) == 1000 + SIGKILL);

  std::vector<std::string> warnings;
  cache_options o;
  o.on_warning = [&](const std::string& w) { warnings.push_back(w); };
  auto store = cache_store::open(db, o);
  REQUIRE(store);
  const std::size_t before = (*store)->stats().entries;
  CHECK(before > 0);
  CHECK(before < static_cast<std::size_t>(requests));
  echo_backend fifth;
  cached g(fifth, *store, "base");
  const auto start = std::chrono::steady_clock::now();
  std::vector<generation_request> reqs;
  for (int i = 0; i < requests; ++i) reqs.push_back(ask("q" + std::to_string(i)));
  batch_options bo;
  bo.max_concurrency = 8;
  auto out = generate_batch(g, reqs, bo);
  for (int i = 0; i < requests; ++i) {
    REQUIRE(out[static_cast<std::size_t>(i)]);
    CHECK(out[static_cast<std::size_t>(i)]->text() == "answer to q" + std::to_string(i));
  }
  // Exactly the missing answers were asked for; the killed writers' markers did not make it wait.
  CHECK(static_cast<std::size_t>(*fifth.calls) == requests - before);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
  CHECK(warnings.empty());
  CHECK((*store)->stats().rejected == 0);
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) == "ok");
  sqlite3_finalize(st);
  sqlite3_close(h);
}

TEST_CASE("a damaged SQLite record is a miss with a warning, and is replaced" * doctest::test_suite("sqlite")) {
  const auto db = temp_db("damaged");
  {
    auto store = cache_store::open(db);
    REQUIRE(store);
    cached g(echo_backend{}, *store);
    REQUIRE(g.generate(ask("a")));
    REQUIRE(g.generate(ask("b")));
  }
  // A flipped byte inside an answer (the check no longer matches) and a request that differs
  // from the one its hash was made of (what a hash collision would look like).
  sql(db, "UPDATE answers SET answer = replace(answer, 'answer to a', 'answer to X')");
  sql(db, "UPDATE answers SET request = replace(request, '\"text\":\"b\"', '\"text\":\"c\"')");
  std::vector<std::string> warnings;
  cache_options o;
  o.on_warning = [&](const std::string& w) { warnings.push_back(w); };
  auto store = cache_store::open(db, o);
  REQUIRE(store);
  echo_backend b;
  cached g(b, *store);
  auto ra = g.generate(ask("a"));
  auto rb = g.generate(ask("b"));
  REQUIRE(ra);
  REQUIRE(rb);
  CHECK(ra->text() == "answer to a");
  CHECK_FALSE(ra->usage.from_cache);
  CHECK(rb->text() == "answer to b");
  CHECK(*b.calls == 2);
  REQUIRE(warnings.size() == 2);
  CHECK(warnings[0].find("its check does not match its answer") != std::string::npos);
  CHECK(warnings[1].find("a different request has the same hash") != std::string::npos);
  CHECK((*store)->stats().rejected == 2);
  // Replaced: the next lookup is a hit.
  CHECK(g.generate(ask("a"))->usage.from_cache);
}

TEST_CASE("an invalid SQLite record ({} or a choice without text) is a miss with a warning" * doctest::test_suite("sqlite")) {
  const auto db = temp_db("invalid");
  std::vector<std::string> warnings;
  cache_options o;
  o.on_warning = [&](const std::string& w) { warnings.push_back(w); };
  auto store = cache_store::open(db, o);
  REQUIRE(store);
  echo_backend b;
  cached g(b, *store, "base");
  REQUIRE((*store)->insert(g.key_of("generate", ask("empty")), nlohmann::json::object()));
  REQUIRE((*store)->insert(g.key_of("generate", ask("blank")), nlohmann::json{{"choices", {nlohmann::json::object()}}}));
  auto r1 = g.generate(ask("empty"));
  auto r2 = g.generate(ask("blank"));
  REQUIRE(r1);
  REQUIRE(r2);
  CHECK(r1->text() == "answer to empty");
  CHECK(r2->text() == "answer to blank");
  CHECK(*b.calls == 2);
  REQUIRE(warnings.size() == 2);
  CHECK(warnings[0].find("is invalid (the answer has no `choices` array)") != std::string::npos);
  CHECK(warnings[1].find("is invalid (a choice has no string `text`)") != std::string::npos);
  CHECK(g.stats().misses == 2);
  CHECK(g.stats().hits == 0);
}

TEST_CASE("export walks every record; vacuum keeps them" * doctest::test_suite("sqlite")) {
  const auto db = temp_db("export");
  auto store = sqlite_cache_store::open(db, {});
  REQUIRE(store);
  cached g(echo_backend{}, *store, "base");
  for (int i = 0; i < 10; ++i) REQUIRE(g.generate(ask("q" + std::to_string(i))));
  std::vector<std::pair<std::string, std::string>> seen;
  REQUIRE((*store)->for_each([&](const std::string& k, const std::string& v) {
    seen.emplace_back(k, v);
    return true;
  }));
  REQUIRE(seen.size() == 10);
  CHECK(seen[3].first == g.key_of("generate", ask("q3")));
  CHECK(nlohmann::json::parse(seen[3].second)["choices"][0]["text"] == "answer to q3");
  REQUIRE(static_cast<sqlite_cache_store&>(**store).vacuum());
  CHECK((*store)->stats().entries == 10);
  CHECK(static_cast<sqlite_cache_store&>(**store).pending_count() == 0);
}
