// selfalign real-server tests: a real llama.cpp server (Debian testing's llama-server, fetched and run
// by scripts/llama-server.sh) started once per configuration per test binary and stopped at exit.
//
// When the packages cannot be fetched (no network, no Debian mirror), a test that needs the server
// FAILS with the script's exact error when CI=true, and otherwise skips with a loud message.
#pragma once

#include <doctest/doctest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>
#include <sys/wait.h>
#include <unistd.h>

namespace real_server {

inline std::string script() { return std::string(SELFALIGN_SOURCE_DIR) + "/scripts/llama-server.sh"; }
inline std::string tiny_model() {
  return std::string(SELFALIGN_SOURCE_DIR) + "/tests/data/models/llama-2-tiny-random.gguf";
}

inline std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::filesystem::path work_dir() {
  const char* dir = std::getenv("SELFALIGN_TEST_TMP");
  auto base = dir ? std::filesystem::path(dir) : std::filesystem::temp_directory_path();
  auto p = base / ("real-server." + std::to_string(::getpid()));
  std::filesystem::create_directories(p);
  return p;
}

/// Runs a shell command; returns its exit status, stdout in `out`, stderr in `err`.
inline int run(const std::string& cmd, std::string& out, std::string& err) {
  static int counter = 0;
  auto base = work_dir() / ("cmd" + std::to_string(++counter));
  std::string full = cmd + " >" + quote(base.string() + ".out") + " 2>" + quote(base.string() + ".err");
  int rc = std::system(full.c_str());
  out = slurp(base.string() + ".out");
  err = slurp(base.string() + ".err");
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + (WIFSIGNALED(rc) ? WTERMSIG(rc) : 0);
}

inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

/// Fetches the packages once per process; empty when available, else the script's error.
inline const std::string& fetch_error() {
  static const std::string error = [] {
    std::string out, err;
    int rc = run("bash " + quote(script()) + " fetch", out, err);
    return rc == 0 ? std::string() : "scripts/llama-server.sh fetch exited " + std::to_string(rc) + ":\n" + err;
  }();
  return error;
}

/// `llama-server --version`, printed once per test binary so that the test output records it.
inline const std::string& version() {
  static const std::string v = [] {
    std::string out, err;
    run("bash " + quote(script()) + " version", out, err);
    std::string text = out + err;
    auto line = text.substr(0, text.find('\n'));
    std::cerr << "real-server: llama-server " << line << " (" << tiny_model() << ")\n";
    return line;
  }();
  return v;
}

struct config {
  int ctx = 2048;
  int slots = 2;
  std::vector<std::string> extra;  // e.g. {"--embeddings", "--pooling", "mean"}
  std::string model = tiny_model();
  std::string key() const {
    std::string k = std::to_string(ctx) + "/" + std::to_string(slots) + "/" + model;
    for (const auto& e : extra) k += " " + e;
    return k;
  }
};

class server {
 public:
  explicit server(const config& c) : config_(c) {
    static int counter = 0;
    state_ = work_dir() / ("server" + std::to_string(++counter));
    std::string cmd = "bash " + quote(script()) + " start --state-dir " + quote(state_.string()) +
                      " --model " + quote(c.model) + " --ctx " + std::to_string(c.ctx) + " --slots " +
                      std::to_string(c.slots) + " --";
    for (const auto& e : c.extra) cmd += " " + quote(e);
    std::string out, err;
    int rc = run(cmd, out, err);
    if (rc != 0) {
      error_ = "scripts/llama-server.sh start exited " + std::to_string(rc) + ":\n" + err;
      return;
    }
    base_url_ = out.substr(0, out.find('\n'));
    port_ = std::atoi(slurp(state_ / "port").c_str());
  }
  ~server() {
    std::string out, err;
    run("bash " + quote(script()) + " stop --state-dir " + quote(state_.string()), out, err);
  }
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  /// The OpenAI-compatible base URL, with /v1.
  const std::string& base_url() const { return base_url_; }
  /// The server root (no /v1): native endpoints /props, /tokenize, /completion.
  std::string root_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  int ctx_per_slot() const { return config_.ctx / config_.slots; }
  /// The server's log so far (started with --verbose).
  std::string log() const { return slurp(state_ / "server.log"); }
  const config& cfg() const { return config_; }

 private:
  config config_;
  std::filesystem::path state_;
  std::string base_url_;
  std::string error_;
  int port_ = 0;
};

/// One server per configuration per test binary, started on first use, stopped at exit.
/// Returns nullptr (after failing in CI or printing a loud skip notice locally) when unavailable.
inline server* get(const config& c = config{}) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<server>> servers;
  std::lock_guard<std::mutex> lock(mutex);
  std::string why = fetch_error();
  if (why.empty()) {
    version();
    auto& slot = servers[c.key()];
    if (!slot) slot = std::make_unique<server>(c);
    if (slot->ok()) return slot.get();
    why = slot->error();
  }
  if (in_ci()) {
    FAIL_CHECK("real llama-server unavailable (CI=true, so this is a failure): " << why);
  } else {
    std::cerr << "\n*** real-server test SKIPPED: llama-server unavailable ***\n" << why << "\n";
    MESSAGE("SKIPPED (no real llama-server): " << why);
  }
  return nullptr;
}

}  // namespace real_server

/// Binds `var` to a running server of config `cfg`, or ends the test case (failed in CI, skipped locally).
#define REAL_SERVER_OR_RETURN(var, cfg)      \
  ::real_server::server* var = ::real_server::get(cfg); \
  if (var == nullptr) return
