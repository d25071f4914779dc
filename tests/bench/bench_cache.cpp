// Benchmark of the durable cache stores, SQLite vs JSONL (prints figures; not a test).
//   1. open a cache of N RAIN-sized answers (a ~1.2 kB text prompt; an answer of 8 tokens with 10
//      alternatives each, ~2.5 kB): wall time and peak RSS growth of the opening process;
//   2. throughput with 64 calls in flight through cached<>: M misses (each an insert), then the
//      same M requests again (hits);
//   3. P processes (4, then 8) running the same R requests over one cache at once, each with 8
//      calls in flight and a 1 ms backend: records lost, unreadable records, duplicate calls.
// Usage: bench_cache [N=100000] [M=20000] [R=2000] [DIR=/tmp]
#include <selfalign/batch.hpp>
#include <selfalign/cache/sqlite_store.hpp>
#include <selfalign/wrappers/cached.hpp>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace selfalign;
namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace {

std::string rain_prompt(std::size_t i) {
  std::string p = "USER: Tell me about the history of item " + std::to_string(i) + ". ASSISTANT:";
  while (p.size() < 1200) p += " The story continues with another detail about item " + std::to_string(i) + ".";
  return p;
}

generation rain_answer(std::size_t i) {
  generation g;
  completion c;
  c.finish_reason = "length";
  for (int t = 0; t < 8; ++t) {
    token_logprob tok;
    tok.token = " w" + std::to_string((i + static_cast<std::size_t>(t)) % 997);
    tok.id = static_cast<token_id>(1000 + t);
    tok.logprob = -0.25 * t;
    for (int k = 0; k < 10; ++k) tok.top.push_back({" alt" + std::to_string(k), 2000 + k, -0.5 - k});
    c.tokens.push_back(tok);
    c.token_ids.push_back(1000 + t);
    c.text += tok.token;
  }
  g.choices.push_back(c);
  g.usage.prompt_tokens = 300;
  g.usage.completion_tokens = 8;
  g.model = "bench-model";
  return g;
}

generation_request rain_request(std::size_t i) {
  generation_request r;
  r.prompt = prompt::text(rain_prompt(i));
  r.sampling.max_tokens = 8;
  r.sampling.logprobs = 10;
  r.sampling.seed = i;
  return r;
}

/// A backend that answers at once (or after `delay`) with a RAIN-sized answer and counts calls.
struct bench_backend {
  std::shared_ptr<std::atomic<long>> calls = std::make_shared<std::atomic<long>>(0);
  std::chrono::microseconds delay{0};
  result<generation> generate(const generation_request& r) {
    ++*calls;
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    return rain_answer(static_cast<std::size_t>(*r.sampling.seed));
  }
  [[nodiscard]] selfalign::capabilities capabilities() const {
    selfalign::capabilities c;
    c.default_model = "bench-model";
    c.max_concurrent_calls = 0;  // any number at once
    return c;
  }
};

long max_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

double seconds_since(clock_type::time_point t) { return std::chrono::duration<double>(clock_type::now() - t).count(); }

void remove_cache(const fs::path& p) {
  for (const char* s : {"", "-wal", "-shm"}) fs::remove(p.string() + s);
}

/// Fills a cache with n records through cached<> (the keys a real run would write).
double fill(const fs::path& path, bool sqlite, std::size_t n) {
  remove_cache(path);
  auto store = sqlite ? cache_store::open_sqlite(path) : cache_store::open_jsonl(path);
  if (!store) {
    std::fprintf(stderr, "cannot open %s: %s\n", path.c_str(), store.error().message.c_str());
    std::exit(1);
  }
  cached g(bench_backend{}, *store, "base");
  const auto t = clock_type::now();
  for (std::size_t i = 0; i < n; ++i) (void)g.generate(rain_request(i));
  return seconds_since(t);
}

/// Opens the cache in a child process; reports open time, RSS growth and one lookup's time.
void measure_open(const fs::path& path, bool sqlite, std::size_t n) {
  int fds[2];
  if (::pipe(fds) != 0) return;
  const pid_t pid = ::fork();
  if (pid == 0) {
    const long before = max_rss_kib();
    const auto t = clock_type::now();
    auto store = sqlite ? cache_store::open_sqlite(path) : cache_store::open_jsonl(path);
    const double open_s = seconds_since(t);
    const long after = max_rss_kib();
    cached g(bench_backend{}, *store, "base");
    const auto t2 = clock_type::now();
    auto r = g.generate(rain_request(n / 2));
    const double lookup_s = seconds_since(t2);
    char line[256];
    const int len = std::snprintf(line, sizeof line, "%.3f %ld %.1f %d", open_s, after - before, lookup_s * 1e6,
                                  r && r->usage.from_cache ? 1 : 0);
    (void)!::write(fds[1], line, static_cast<std::size_t>(len));
    ::_exit(0);
  }
  ::close(fds[1]);
  char buf[256] = {};
  (void)!::read(fds[0], buf, sizeof buf - 1);
  ::close(fds[0]);
  ::waitpid(pid, nullptr, 0);
  double open_s = 0, lookup_us = 0;
  long rss = 0;
  int hit = 0;
  std::sscanf(buf, "%lf %ld %lf %d", &open_s, &rss, &lookup_us, &hit);
  std::error_code ec;
  std::uintmax_t bytes = fs::file_size(path, ec);
  for (const char* s : {"-wal"}) {
    auto w = fs::file_size(path.string() + s, ec);
    if (!ec) bytes += w;
  }
  std::printf("  %-6s file %7.1f MB   open %7.3f s   RSS +%7.1f MB   first lookup %8.1f us (%s)\n", sqlite ? "sqlite" : "jsonl",
              static_cast<double>(bytes) / 1e6, open_s, static_cast<double>(rss) / 1024.0, lookup_us, hit ? "hit" : "MISS");
}

void throughput(const fs::path& path, bool sqlite, std::size_t m) {
  remove_cache(path);
  auto store = sqlite ? cache_store::open_sqlite(path) : cache_store::open_jsonl(path);
  bench_backend b;
  cached g(b, *store, "base");
  std::vector<generation_request> reqs;
  for (std::size_t i = 0; i < m; ++i) reqs.push_back(rain_request(i));
  batch_options o;
  o.max_concurrency = 64;
  auto t = clock_type::now();
  auto first = generate_batch(g, reqs, o);
  const double miss_s = seconds_since(t);
  t = clock_type::now();
  auto second = generate_batch(g, reqs, o);
  const double hit_s = seconds_since(t);
  std::size_t hits = 0;
  for (const auto& r : second) hits += r && r->usage.from_cache ? 1 : 0;
  std::printf("  %-6s inserts %8.0f /s   hits %8.0f /s   (%zu of %zu replayed, %ld backend calls)\n", sqlite ? "sqlite" : "jsonl",
              static_cast<double>(m) / miss_s, static_cast<double>(m) / hit_s, hits, m, b.calls->load());
}

/// P processes over one cache; returns after printing lost / unreadable / duplicates.
void shared_run(const fs::path& path, bool sqlite, int processes, std::size_t r) {
  remove_cache(path);
  {
    auto s = sqlite ? cache_store::open_sqlite(path) : cache_store::open_jsonl(path);
    if (!s) return;
  }
  std::vector<pid_t> kids;
  std::vector<int> pipes;
  const auto t = clock_type::now();
  for (int p = 0; p < processes; ++p) {
    int fds[2];
    if (::pipe(fds) != 0) return;
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(fds[0]);
      auto store = sqlite ? cache_store::open_sqlite(path) : cache_store::open_jsonl(path);
      bench_backend b;
      b.delay = std::chrono::microseconds(1000);
      long failed = 0;
      {
        cached g(b, *store, "base");
        std::vector<generation_request> reqs;
        for (std::size_t i = 0; i < r; ++i) reqs.push_back(rain_request(i));
        std::shuffle(reqs.begin(), reqs.end(), std::mt19937(static_cast<unsigned>(p + 1)));
        batch_options o;
        o.max_concurrency = 8;
        for (const auto& a : generate_batch(g, reqs, o)) failed += a ? 0 : 1;
      }
      char line[64];
      const int len = std::snprintf(line, sizeof line, "%ld %ld", b.calls->load(), failed);
      (void)!::write(fds[1], line, static_cast<std::size_t>(len));
      ::_exit(0);
    }
    ::close(fds[1]);
    kids.push_back(pid);
    pipes.push_back(fds[0]);
  }
  long calls = 0, failed = 0;
  for (std::size_t k = 0; k < kids.size(); ++k) {
    char buf[64] = {};
    (void)!::read(pipes[k], buf, sizeof buf - 1);
    ::close(pipes[k]);
    ::waitpid(kids[k], nullptr, 0);
    long c = 0, f = 0;
    std::sscanf(buf, "%ld %ld", &c, &f);
    calls += c;
    failed += f;
  }
  const double wall = seconds_since(t);
  // A fresh reader: every request must be answered from the cache, none damaged.
  std::size_t unreadable = 0;
  cache_options o;
  o.on_warning = [&](const std::string&) { ++unreadable; };
  auto store = sqlite ? cache_store::open_sqlite(path, o) : cache_store::open_jsonl(path, o);
  bench_backend fresh;
  cached g(fresh, *store, "base");
  for (std::size_t i = 0; i < r; ++i) (void)g.generate(rain_request(i));
  const long lost = fresh.calls->load();
  std::printf("  %-6s %d processes x %zu requests: %6.2f s, calls %ld (duplicates %ld), records lost %ld, unreadable %zu, failed calls %ld\n",
              sqlite ? "sqlite" : "jsonl", processes, r, wall, calls, calls - static_cast<long>(r), lost, unreadable, failed);
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 100000;
  const std::size_t m = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 20000;
  const std::size_t r = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 2000;
  const fs::path dir = argc > 4 ? fs::path(argv[4]) : fs::temp_directory_path();
  fs::create_directories(dir);
  const auto sq = dir / "bench-cache.sqlite", jl = dir / "bench-cache.jsonl";
  std::printf("selfalign %s cache benchmark: N=%zu M=%zu R=%zu in %s\n", version_string, n, m, r, dir.c_str());
  std::printf("1. open a cache of %zu RAIN-sized answers\n", n);
  const double fill_sq = fill(sq, true, n);
  const double fill_jl = fill(jl, false, n);
  std::printf("  (filled through cached<> one call at a time: sqlite %.1f s = %.0f inserts/s, jsonl %.1f s)\n", fill_sq,
              static_cast<double>(n) / fill_sq, fill_jl);
  measure_open(sq, true, n);
  measure_open(jl, false, n);
  std::printf("2. throughput with 64 calls in flight (%zu distinct requests)\n", m);
  throughput(sq, true, m);
  throughput(jl, false, m);
  std::printf("3. processes sharing one cache (8 calls in flight each, 1 ms backend)\n");
  for (int p : {4, 8}) shared_run(sq, true, p, r);
  for (int p : {4, 8}) shared_run(jl, false, p, r);
  remove_cache(sq);
  remove_cache(jl);
  return 0;
}
