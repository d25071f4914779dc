// End-to-end tests of the selfalign binary under hostile conditions: input files that readers
// refuse ("FILE:LINE: reason", exit 2, never an abort), runs killed by signals (no temporary
// output left behind), servers that answer one byte a second (--timeout bounds the whole call).
#include <doctest/doctest.h>

#include "cli_support.hpp"

#include <sys/wait.h>

#include <chrono>
#include <thread>

using namespace cli_test;

namespace {
const char* huge_number = "{\"prompt\":\"one\",\"response\":\"r\",\"answer\":\"a\"}\n{\"prompt\":\"two\",\"score\":1e400}\n";
}  // namespace

TEST_CASE("a number out of range in INPUT exits 2 with file:line in every command" * doctest::test_suite("cli")) {
  const auto input = write_file("huge-number.jsonl", huge_number);
  for (const char* cmd : {"generate", "judge", "rain", "dlma", "drpo"}) {
    CAPTURE(cmd);
    auto r = run({cmd, "--backend", "simulated", "--quiet", input.string()});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(input.string() + ":2: not valid JSON: number overflow parsing '1e400'") != std::string::npos);
    CHECK(r.err.find("terminate") == std::string::npos);
  }
  // Nesting deeper than 256 levels (a stack overflow if anything recursed on it).
  const auto deep = write_file("deep.jsonl", "{\"prompt\":\"x\",\"v\":" + std::string(100000, '[') + std::string(100000, ']') + "}\n");
  auto d = run({"generate", "--backend", "simulated", "--quiet", deep.string()});
  CHECK(d.exit_code == 2);
  CHECK(d.err.find(deep.string() + ":1: not valid JSON: nested deeper than 256 levels") != std::string::npos);
  // Standard input names itself.
  auto piped = run({"generate", "--backend", "simulated", "--quiet", "-"}, huge_number);
  CHECK(piped.exit_code == 2);
  CHECK(piped.err.find("<stdin>:2: not valid JSON: number overflow parsing '1e400'") != std::string::npos);
}

TEST_CASE("files given to options are read the same way: --icl, --prices, --drpo" * doctest::test_suite("cli")) {
  const auto input = write_file("hostile-ok.jsonl", "{\"prompt\":\"hello\"}\n");
  const auto icl = write_file("hostile-icl.jsonl", huge_number);
  auto r = run({"drpo", "--backend", "simulated", "--quiet", "--icl", icl.string(), input.string()});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find(icl.string() + ":2: not valid JSON: number overflow parsing '1e400'") != std::string::npos);

  const auto prices = write_file("hostile-prices.json", "{\n  \"*\": {\"prompt\": 1,\n         \"completion\": 1e400}\n}\n");
  auto p = run({"generate", "--backend", "simulated", "--quiet", "--prices", prices.string(), "--max-cost", "1", input.string()});
  CHECK(p.exit_code == 2);
  CHECK(p.err.find("price table: " + prices.string() + ":3: not valid JSON: number overflow parsing '1e400'") != std::string::npos);
  const auto broken_prices = write_file("hostile-prices2.json", "{\"*\": {\"prompt\": 1,\n\"completion\": }}");
  auto bp = run({"generate", "--backend", "simulated", "--quiet", "--prices", broken_prices.string(), input.string()});
  CHECK(bp.exit_code == 2);
  CHECK(bp.err.find(broken_prices.string() + ":2: not valid JSON") != std::string::npos);

  const auto drpo = write_file("hostile-drpo.json", "{\"system_prompt\": \"Be kind.\",\n \"examples\": [],\n \"best_score\": 1e400}\n");
  auto d = run({"generate", "--backend", "simulated", "--quiet", "--drpo", drpo.string(), input.string()});
  CHECK(d.exit_code == 2);
  CHECK(d.err.find(drpo.string() + ":3: not valid JSON: number overflow parsing '1e400'") != std::string::npos);
  const auto bad_examples = write_file("hostile-drpo2.json", "{\"system_prompt\": \"Be kind.\", \"examples\": [{\"query\": 5}]}\n");
  auto e = run({"generate", "--backend", "simulated", "--quiet", "--drpo", bad_examples.string(), input.string()});
  CHECK(e.exit_code == 2);
  CHECK(e.err.find(bad_examples.string() + ": bad \"examples\": type must be string, but is number") != std::string::npos);
}

namespace {
// The `<out>.tmp.<pid>` files beside `out`.
std::vector<std::string> temp_files_of(const std::filesystem::path& out) {
  std::vector<std::string> found;
  const std::string prefix = out.filename().string() + ".tmp.";
  for (const auto& e : std::filesystem::directory_iterator(out.parent_path()))
    if (e.path().filename().string().rfind(prefix, 0) == 0) found.push_back(e.path().filename().string());
  return found;
}

// A pid that no process has: a child that has exited and been reaped.
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

// Waits until the run has opened its temporary output.
bool wait_for_temp_file(const std::filesystem::path& out) {
  return wait_until([&] { return !temp_files_of(out).empty(); });
}

// Waits until the child's stderr holds `text` (at most 30 s).
bool wait_for_stderr(const child_process& child, const std::string& text) {
  return wait_until([&] { return child.stderr_so_far().find(text) != std::string::npos; });
}
}  // namespace

TEST_CASE("temporary outputs of dead processes are removed at the next run on the same output, live ones kept" * doctest::test_suite("cli")) {
  const auto input = write_file("stale-in.jsonl", "{\"prompt\":\"hello\"}\n");
  const auto out = selfalign::test_support::temp_path("stale-out") / "answers.jsonl";
  std::filesystem::create_directories(out.parent_path());
  const std::string dead = out.filename().string() + ".tmp." + std::to_string(dead_pid());
  const std::string live = out.filename().string() + ".tmp." + std::to_string(::getpid());  // this test: alive
  const std::string other = "other.jsonl.tmp." + std::to_string(dead_pid());                 // another output's
  for (const auto& name : {dead, live, other}) std::ofstream(out.parent_path() / name) << "partial\n";
  auto r = run({"generate", "--backend", "simulated", "--quiet", "--out", out.string(), input.string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_FALSE(std::filesystem::exists(out.parent_path() / dead));
  CHECK(std::filesystem::exists(out.parent_path() / live));
  CHECK(std::filesystem::exists(out.parent_path() / other));
  CHECK(lines_of(slurp(out)).size() == 1);
}

TEST_CASE("a run killed by a signal leaves no temporary output; after SIGKILL the next run removes it" * doctest::test_suite("cli")) {
  fake_openai_server server;
  server.set_delay(std::chrono::milliseconds(8000));
  const auto input = write_file("signal-in.jsonl", "{\"prompt\":\"slow\"}\n");
  struct kill_case {
    std::vector<int> signals;
    int exit_code;
  };
  // SIGTERM twice: the first asks for a clean stop (the call in flight is still waited for), the
  // second ends the process at once. SIGQUIT and SIGSEGV end it at once.
  for (const auto& k : {kill_case{{SIGTERM, SIGTERM}, 128 + SIGTERM}, kill_case{{SIGINT, SIGINT}, 128 + SIGINT},
                        kill_case{{SIGQUIT}, 128 + SIGQUIT}, kill_case{{SIGSEGV}, 128 + SIGSEGV}}) {
    CAPTURE(k.exit_code);
    const auto out = selfalign::test_support::temp_path("signal-out-" + std::to_string(k.exit_code)) / "answers.jsonl";
    std::filesystem::create_directories(out.parent_path());
    const int before = server.chat_requests();
    child_process child({"generate", "--base-url", server.base_url(), "--model", "fake-model", "--quiet", "--out", out.string(),
                         input.string()});
    REQUIRE(wait_for_temp_file(out));
    // The call must be in flight: a first signal that comes before it (while the run still probes
    // the server) stops the run cleanly before the second signal can arrive.
    REQUIRE(wait_until([&] { return server.chat_requests() > before; }));
    for (std::size_t i = 0; i < k.signals.size(); ++i) {
      child.signal(k.signals[i]);
      // Two signals sent before the process runs its handler arrive as one (POSIX merges pending
      // signals of one kind); on a loaded machine that turned the double signal into a clean stop.
      // So the second waits for the first one's acknowledgement.
      if (i + 1 < k.signals.size()) REQUIRE(wait_for_stderr(child, "interrupted; finishing the calls in flight"));
    }
    auto r = child.wait();
    INFO(r.err);
    CHECK(r.exit_code == k.exit_code);
    CHECK(temp_files_of(out).empty());
    CHECK_FALSE(std::filesystem::exists(out));
  }

  // SIGKILL cannot be caught: the file stays until the next run on the same output.
  const auto out = selfalign::test_support::temp_path("signal-out-kill") / "answers.jsonl";
  std::filesystem::create_directories(out.parent_path());
  {
    child_process child({"generate", "--base-url", server.base_url(), "--model", "fake-model", "--quiet", "--out", out.string(),
                         input.string()});
    REQUIRE(wait_for_temp_file(out));
    child.signal(SIGKILL);
    CHECK(child.wait().exit_code == 128 + SIGKILL);
  }
  CHECK(temp_files_of(out).size() == 1);
  auto next = run({"generate", "--backend", "simulated", "--quiet", "--out", out.string(), input.string()});
  CHECK(next.exit_code == 0);
  CHECK(temp_files_of(out).empty());
}

namespace {
// A chat server that answers one byte a second (whitespace, which JSON allows before a value), for
// as long as the client listens: no read ever times out.
class trickle_server {
 public:
  trickle_server() {
    server_.Get("/v1/models", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"object":"list","data":[{"id":"slow-model","object":"model"}]})", "application/json");
    });
    server_.Post("/v1/chat/completions", [this](const httplib::Request&, httplib::Response& res) {
      ++requests_;
      res.set_chunked_content_provider("application/json", [this](std::size_t, httplib::DataSink& sink) {
        for (int i = 0; i < 10 && !stopping_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        if (stopping_ || !sink.is_writable()) return false;
        return sink.write(" ", 1);
      });
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~trickle_server() {
    stopping_ = true;
    server_.stop();
    thread_.join();
  }
  [[nodiscard]] std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  [[nodiscard]] int requests() const { return requests_.load(); }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> requests_{0};
  std::atomic<bool> stopping_{false};
};
}  // namespace

TEST_CASE("--timeout bounds the whole call, retries included, against a server that answers a byte a second" * doctest::test_suite("cli")) {
  trickle_server server;
  const auto input = write_file("trickle-in.jsonl", "{\"prompt\":\"hello\"}\n");
  const auto started = std::chrono::steady_clock::now();
  auto r = run({"generate", "--base-url", server.base_url(), "--model", "slow-model", "--timeout", "2", "--retries", "3", "--quiet",
                input.string()});
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  INFO(r.err);
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("did not finish within the call deadline of 2000 ms") != std::string::npos);
  // The call ends at 2 s (plus process start and shutdown); per-read timeouts never fire on a
  // trickle, and the old 4 x --timeout deadline let it run 8 s.
  CHECK(seconds < 5.0);
  CHECK(seconds >= 2.0);
}
