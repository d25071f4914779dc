// Benchmark of the OpenAI-compatible HTTP backend over loopback (prints figures; not a test).
//
// The server runs in a forked child process, so the client's CPU time (CLOCK_PROCESS_CPUTIME_ID
// of this process) contains no server work.
//   1. concurrency 1, immediate answers: requests/s and client CPU µs per request (goal < 50 µs);
//   2. concurrency 64, every answer delayed 50 ms: achieved fraction of the ideal 64 / 0.05 s
//      = 1280 requests/s (goal >= 90 %).
// Usage: bench_openai [requests_at_c1=5000] [rounds_at_c64=30]   (BENCH_PIN=1: client on CPU 0, server on CPU 1)
#include <selfalign/backends/openai.hpp>

#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

const char* answer =
    R"({"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench-model",)"
    R"("choices":[{"index":0,"message":{"role":"assistant","content":"The capital of France is Paris."},)"
    R"("logprobs":null,"finish_reason":"stop"}],)"
    R"("usage":{"prompt_tokens":24,"completion_tokens":8,"total_tokens":32}})";

struct cpu_split {
  double user = 0, sys = 0;
};
cpu_split rusage_now() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return {static_cast<double>(ru.ru_utime.tv_sec) + static_cast<double>(ru.ru_utime.tv_usec) * 1e-6,
          static_cast<double>(ru.ru_stime.tv_sec) + static_cast<double>(ru.ru_stime.tv_usec) * 1e-6};
}

// With two or more CPUs, client and server run on different ones, so that the server waking up
// does not preempt the client on every send (that scheduling cost would be billed to the client).
// Opt-in (BENCH_PIN=1): on a machine shared with other work, pinning can hurt more than help.
void pin_to_cpu(int cpu) {
  if (std::thread::hardware_concurrency() < 2 || !std::getenv("BENCH_PIN")) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  (void)sched_setaffinity(0, sizeof set, &set);
}

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Child: serves /fast/v1/... at once and /slow/v1/... after 50 ms; writes its port to `fd`.
[[noreturn]] void serve(int fd) {
  httplib::Server srv;
  srv.new_task_queue = [] { return new httplib::ThreadPool(160); };
  srv.set_keep_alive_max_count(1000000);
  srv.set_tcp_nodelay(true);  // as uvicorn and llama-server do; else Nagle adds 40 ms per answer
  srv.Post("/fast/v1/chat/completions", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(answer, "application/json");
  });
  srv.Post("/slow/v1/chat/completions", [](const httplib::Request&, httplib::Response& res) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    res.set_content(answer, "application/json");
  });
  const int port = srv.bind_to_any_port("127.0.0.1");
  if (write(fd, &port, sizeof port) != static_cast<ssize_t>(sizeof port)) _exit(1);
  close(fd);
  srv.listen_after_bind();
  _exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  const int n1 = argc > 1 ? std::atoi(argv[1]) : 5000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 30;
  int fds[2];
  if (pipe(fds) != 0) return 1;
  const pid_t child = fork();
  if (child < 0) return 1;
  if (child == 0) {
    pin_to_cpu(1);
    close(fds[0]);
    serve(fds[1]);
  }
  close(fds[1]);
  pin_to_cpu(0);
  int port = 0;
  if (read(fds[0], &port, sizeof port) != static_cast<ssize_t>(sizeof port)) return 1;
  close(fds[0]);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the child reach listen()

  using clock = std::chrono::steady_clock;
  selfalign::generation_request req;
  req.prompt = selfalign::prompt::chat({selfalign::message::system("Answer briefly."),
                                        selfalign::message::user("What is the capital of France?")});
  req.sampling.max_tokens = 16;
  req.sampling.temperature = 0;
  req.sampling.seed = 1;

  int status = 0;
  {
    selfalign::openai_options o;
    o.base_urls = {"http://127.0.0.1:" + std::to_string(port) + "/fast/v1"};
    o.model = "bench-model";
    o.preset = selfalign::server_preset::vllm;
    o.api_key_env = "";
    o.max_concurrency = 1;
    selfalign::openai_backend fast(o);
    for (int i = 0; i < 200; ++i)  // warm-up: connection, allocator
      if (!fast.generate(req)) return std::fprintf(stderr, "warm-up request failed\n"), 1;
    const double c0 = cpu_seconds();
    const cpu_split r0 = rusage_now();
    const auto t0 = clock::now();
    int failures = 0;
    for (int i = 0; i < n1; ++i)
      if (!fast.generate(req)) ++failures;
    const double wall = std::chrono::duration<double>(clock::now() - t0).count();
    const double cpu = cpu_seconds() - c0;
    const cpu_split r1 = rusage_now();
    std::printf("concurrency 1 : %d requests in %.3f s = %.0f requests/s; client CPU %.1f us/request (goal < 50) "
                "= user %.1f + kernel %.1f; failures %d\n",
                n1, wall, n1 / wall, cpu / n1 * 1e6, (r1.user - r0.user) / n1 * 1e6, (r1.sys - r0.sys) / n1 * 1e6, failures);
    status |= failures != 0;
  }
  {
    constexpr int width = 64;
    selfalign::openai_options o;
    o.base_urls = {"http://127.0.0.1:" + std::to_string(port) + "/slow/v1"};
    o.model = "bench-model";
    o.preset = selfalign::server_preset::vllm;
    o.api_key_env = "";
    o.max_concurrency = width;
    selfalign::openai_backend slow(o);
    selfalign::batch_options b;
    b.max_concurrency = width;
    std::vector<selfalign::generation_request> warm(width, req);
    (void)slow.generate_batch(warm, b);  // opens the 64 connections
    std::vector<selfalign::generation_request> reqs(static_cast<std::size_t>(width * rounds), req);
    const double c0 = cpu_seconds();
    const auto t0 = clock::now();
    auto out = slow.generate_batch(reqs, b);
    const double wall = std::chrono::duration<double>(clock::now() - t0).count();
    const double cpu = cpu_seconds() - c0;
    int failures = 0;
    for (const auto& g : out) failures += g ? 0 : 1;
    const double ideal = width / 0.05;
    const double achieved = static_cast<double>(reqs.size()) / wall;
    std::printf("concurrency 64: %zu requests in %.3f s = %.0f requests/s of ideal %.0f = %.1f %% (goal >= 90); "
                "client CPU %.1f us/request; failures %d\n",
                reqs.size(), wall, achieved, ideal, 100.0 * achieved / ideal, cpu / static_cast<double>(reqs.size()) * 1e6,
                failures);
    status |= failures != 0;
  }
  kill(child, SIGTERM);
  waitpid(child, nullptr, 0);
  return status;
}
