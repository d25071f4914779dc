// selfalign CLI tests: run the selfalign binary as a child process against a loopback
// OpenAI-compatible server that answers deterministically and counts what it receives
#pragma once

#include <httplib.h>
#ifdef _res
#undef _res
#endif

#include <nlohmann/json.hpp>

#include "test_support.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace cli_test {

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string l; std::getline(ss, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

/// A chat-completions server on 127.0.0.1: the answer to a chat is
/// "answer to <last user message>" (system prompts, if any, are prefixed as "[<system>] ").
/// Every request body is recorded; `delay` slows answers; `fail_status` makes chats fail.
class fake_openai_server {
 public:
  fake_openai_server() {
    server_.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      std::string listed;
      {
        std::lock_guard lock(mutex_);
        listed = listed_model_;
      }
      res.set_content(R"({"object":"list","data":[{"id":")" + listed + R"(","object":"model","owned_by":"tests"}]})", "application/json");
    });
    server_.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      auto body = nlohmann::json::parse(req.body, nullptr, false);
      {
        std::lock_guard lock(mutex_);
        bodies_.push_back(req.body);
      }
      ++chat_requests_;
      if (delay_.count() > 0) std::this_thread::sleep_for(delay_);
      if (fail_status_ != 0) {
        res.status = fail_status_;
        res.set_content(R"({"error":{"message":"the model is on fire","type":"server_error","code":null}})", "application/json");
        return;
      }
      std::string system, user;
      if (body.is_object() && body.contains("messages"))
        for (const auto& m : body["messages"]) (m.value("role", "") == "system" ? system : user) = m.value("content", "");
      // A prompt containing TOO-LONG does not fit: llama.cpp's answer for a prompt over the context.
      if (user.find("TOO-LONG") != std::string::npos) {
        res.status = 400;
        res.set_content(R"({"error":{"code":400,"message":"request (5000 tokens) exceeds the available context size (2048 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":5000,"n_ctx":2048}})",
                        "application/json");
        return;
      }
      std::string answer = (system.empty() ? "" : "[" + system + "] ") + "answer to " + user;
      // A prompt containing CUT is answered as if max_tokens ran out.
      const char* finish = user.find("CUT") != std::string::npos ? "length" : "stop";
      nlohmann::json reply = {
          {"id", "chatcmpl-1"}, {"object", "chat.completion"}, {"model", "fake-model"},
          {"choices", {{{"index", 0}, {"finish_reason", finish}, {"message", {{"role", "assistant"}, {"content", answer}}}}}},
          {"usage", {{"prompt_tokens", 10}, {"completion_tokens", 3}, {"total_tokens", 13}}}};
      res.set_content(reply.dump(), "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~fake_openai_server() {
    server_.stop();
    thread_.join();
  }
  [[nodiscard]] std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  [[nodiscard]] int chat_requests() const { return chat_requests_.load(); }
  [[nodiscard]] std::vector<std::string> bodies() const {
    std::lock_guard lock(mutex_);
    return bodies_;
  }
  /// Requests whose body is identical to an earlier one.
  [[nodiscard]] int repeated_requests() const {
    std::lock_guard lock(mutex_);
    std::set<std::string> seen;
    int repeats = 0;
    for (const auto& b : bodies_) repeats += seen.insert(b).second ? 0 : 1;
    return repeats;
  }
  void set_delay(std::chrono::milliseconds d) { delay_ = d; }
  void set_fail_status(int s) { fail_status_ = s; }
  /// The model /v1/models lists (the default model of a client that names none).
  void set_listed_model(std::string m) {
    std::lock_guard lock(mutex_);
    listed_model_ = std::move(m);
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> chat_requests_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> bodies_;
  std::string listed_model_ = "fake-model";
  std::chrono::milliseconds delay_{0};
  std::atomic<int> fail_status_{0};
};

struct run_result {
  int exit_code = -1;
  std::string out, err;
};

/// A running selfalign child process with stdout/stderr captured to files.
class child_process {
 public:
  child_process(const std::vector<std::string>& args, const std::string& stdin_text = {}) {
    dir_ = selfalign::test_support::temp_path("cli-child-" + std::to_string(counter()++));
    std::filesystem::create_directories(dir_);
    const auto in_path = dir_ / "stdin", out_path = dir_ / "stdout", err_path = dir_ / "stderr";
    { std::ofstream(in_path) << stdin_text; }
    std::vector<std::string> argv_s = {binary()};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      const int in = ::open(in_path.c_str(), O_RDONLY);
      const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(err, 2);
      std::vector<char*> argv;
      for (auto& s : argv_s) argv.push_back(s.data());
      argv.push_back(nullptr);
      ::unsetenv("SELFALIGN_BASE_URL");
      ::unsetenv("OPENAI_BASE_URL");
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  void signal(int sig) const { ::kill(pid_, sig); }
  /// What the child has written to stderr so far.
  [[nodiscard]] std::string stderr_so_far() const { return slurp(dir_ / "stderr"); }
  run_result wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    run_result r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = slurp(dir_ / "stdout");
    r.err = slurp(dir_ / "stderr");
    return r;
  }
  /// The binary under test: $SELFALIGN_CLI when set (e.g. an older build, to show a test failing), else this build's.
  static std::string binary() {
    if (const char* b = std::getenv("SELFALIGN_CLI"); b && *b) return b;  // NOLINT(concurrency-mt-unsafe)
    return std::string(SELFALIGN_BINARY_DIR) + "/bin/selfalign";
  }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  pid_t pid_ = -1;
  std::filesystem::path dir_;
};

/// Polls `done` every 10 ms until it holds or `limit` has passed; whether it held.
template <class Pred>
bool wait_until(Pred done, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

/// Writes `text` to a file of this run's temporary folder and returns its path.
inline std::filesystem::path write_file(const std::string& name, const std::string& text) {
  auto p = selfalign::test_support::temp_path(name);
  std::ofstream(p) << text;
  return p;
}

/// A folder of this run's temporary folder, created if needed.
inline std::filesystem::path make_dir(const std::string& name) {
  auto d = selfalign::test_support::temp_path(name);
  std::filesystem::create_directories(d);
  return d;
}

/// A new, empty folder of this run's temporary folder (whatever an earlier run left is removed).
inline std::filesystem::path fresh_dir(const std::string& name) {
  auto d = selfalign::test_support::temp_path(name);
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

inline run_result run(const std::vector<std::string>& args, const std::string& stdin_text = {}) {
  return child_process(args, stdin_text).wait();
}

}  // namespace cli_test
