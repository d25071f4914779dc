// selfalign real-server tests: a recording proxy in front of the real llama-server, so that a test
// sees exactly what the server received (method, path, body) and what it answered. llama-server is
// started with --verbose, so its answers carry __verbose.generation_settings: the sampler values
// the server actually applied.
#pragma once

#include <selfalign/backends/openai.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace real_server {

/// HTTP options for a backend that talks to `url` (the server or a recording proxy): the
/// automatic preset, and no retries, so that every request a test sees was sent once.
inline selfalign::openai_options options_for(const std::string& url) {
  selfalign::openai_options o;
  o.base_urls = {url};
  o.preset = selfalign::server_preset::automatic;
  o.retry.max_retries = 0;
  return o;
}

struct exchange {
  std::string method, path, body;
  int status = 0;
  std::string answer;
  nlohmann::json request() const { return nlohmann::json::parse(body, nullptr, false); }
  nlohmann::json response() const { return nlohmann::json::parse(answer, nullptr, false); }
};

class recording_proxy {
 public:
  explicit recording_proxy(int upstream_port) : upstream_(upstream_port) {
    server_.new_task_queue = [] { return new httplib::ThreadPool(16); };
    auto forward = [this](const httplib::Request& req, httplib::Response& res) {
      httplib::Client c("127.0.0.1", upstream_);
      c.set_read_timeout(std::chrono::seconds(120));
      httplib::Result r = req.method == "GET" ? c.Get(req.path) : c.Post(req.path, req.body, "application/json");
      exchange e{req.method, req.path, req.body, 0, {}};
      if (r) {
        e.status = r->status;
        e.answer = r->body;
        res.status = r->status;
        res.set_content(r->body, r->get_header_value("Content-Type").empty() ? "application/json"
                                                                             : r->get_header_value("Content-Type"));
      } else {
        res.status = 502;
        res.set_content("{\"error\":\"proxy: upstream failed\"}", "application/json");
      }
      std::lock_guard<std::mutex> lock(mutex_);
      log_.push_back(std::move(e));
    };
    server_.Get(".*", forward);
    server_.Post(".*", forward);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~recording_proxy() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  recording_proxy(const recording_proxy&) = delete;
  recording_proxy& operator=(const recording_proxy&) = delete;

  [[nodiscard]] std::string url(const std::string& prefix = "/v1") const {
    return "http://127.0.0.1:" + std::to_string(port_) + prefix;
  }
  [[nodiscard]] std::vector<exchange> log() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return log_;
  }
  /// The exchanges whose path is exactly `path`.
  [[nodiscard]] std::vector<exchange> on(const std::string& path) const {
    std::vector<exchange> out;
    for (auto& e : log())
      if (e.path == path) out.push_back(e);
    return out;
  }
  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    log_.clear();
  }

 private:
  int upstream_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mutex_;
  std::vector<exchange> log_;
};

}  // namespace real_server
