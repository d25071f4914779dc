// Loopback servers for the HTTP backend tests: an httplib::Server on 127.0.0.1 (any port) run in
// a thread, and a raw TCP server for faults httplib cannot produce (resets, cut bodies, silence).
#pragma once

#include <selfalign/backends/openai.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fixture {

/// An httplib::Server listening on 127.0.0.1; handlers are registered before start().
class loopback_server {
 public:
  loopback_server() {
    server_.new_task_queue = [] { return new httplib::ThreadPool(96); };
    server_.set_tcp_nodelay(true);
    server_.set_keep_alive_max_count(1000);  // httplib's default closes a socket after 5 requests
  }
  ~loopback_server() { stop(); }
  httplib::Server& operator*() { return server_; }
  httplib::Server* operator->() { return &server_; }

  void start() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  void stop() {
    if (thread_.joinable()) {
      server_.stop();
      thread_.join();
    }
  }
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string url(const std::string& prefix = "/v1") const {
    return "http://127.0.0.1:" + std::to_string(port_) + prefix;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

/// A raw TCP server: for each connection, reads one request (headers + Content-Length body) and
/// hands it to `behave(fd, request_text, connection_index)`, which writes what it wants; the
/// connection is then closed (with an RST when `behave` returns true).
class raw_server {
 public:
  using behaviour = std::function<bool(int fd, const std::string& request, int index)>;
  explicit raw_server(behaviour b) : behave_(std::move(b)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 64);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~raw_server() {
    quit_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
    for (auto& t : workers_) t.join();
  }
  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  [[nodiscard]] int connections() const { return connections_.load(); }

  static void write_all(int fd, const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
      const auto n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<std::size_t>(n);
    }
  }

 private:
  void loop() {
    while (!quit_) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      const int index = connections_++;
      workers_.emplace_back([this, c, index] {
        std::string req;
        char buf[4096];
        for (;;) {
          const auto head_end = req.find("\r\n\r\n");
          if (head_end != std::string::npos) {
            std::size_t body_len = 0;
            auto pos = req.find("Content-Length: ");
            if (pos != std::string::npos && pos < head_end) body_len = std::stoul(req.substr(pos + 16));
            if (req.size() >= head_end + 4 + body_len) break;
          }
          const auto n = ::recv(c, buf, sizeof buf, 0);
          if (n <= 0) break;
          req.append(buf, static_cast<std::size_t>(n));
        }
        const bool reset = behave_(c, req, index);
        if (reset) {
          linger l{1, 0};  // close with RST
          ::setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        }
        ::close(c);
      });
    }
  }

  behaviour behave_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> quit_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
  std::vector<std::thread> workers_;
};

/// Options for tests: a fixed preset, tiny backoff, a short deadline, no API key from the env.
/// A one-message chat request ("hi") asking for at most `max_tokens` tokens.
inline selfalign::generation_request chat_request(int max_tokens = 4) {
  selfalign::generation_request r;
  r.prompt = selfalign::prompt::chat({selfalign::message::user("hi")});
  r.sampling.max_tokens = max_tokens;
  return r;
}

inline selfalign::openai_options options(const std::string& url, selfalign::server_preset preset) {
  selfalign::openai_options o;
  o.base_urls = {url};
  o.model = "test-model";
  o.preset = preset;
  o.api_key_env = "";
  o.retry.base_backoff = std::chrono::milliseconds(1);
  o.retry.max_backoff = std::chrono::milliseconds(4);
  o.connect_timeout = std::chrono::milliseconds(2000);
  o.read_timeout = std::chrono::milliseconds(5000);
  o.deadline = std::chrono::milliseconds(8000);
  return o;
}

/// A counting barrier that tests use to hold N requests at the server at once.
class gate {
 public:
  explicit gate(int expected) : expected_(expected) {}
  /// Blocks until `expected` callers arrived (or 5 s passed); returns the peak count seen.
  int arrive_and_wait() {
    std::unique_lock lock(m_);
    ++inside_;
    peak_ = std::max(peak_, inside_);
    cv_.notify_all();
    cv_.wait_for(lock, std::chrono::seconds(5), [&] { return inside_ >= expected_ || released_; });
    released_ = true;
    cv_.notify_all();
    --inside_;
    return peak_;
  }
  [[nodiscard]] int peak() {
    std::lock_guard lock(m_);
    return peak_;
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int expected_;
  int inside_ = 0;
  int peak_ = 0;
  bool released_ = false;
};

}  // namespace fixture
