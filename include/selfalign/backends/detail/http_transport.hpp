// selfalign: the HTTP transport under openai_backend — the connection pool, one request with its
// retries, deadlines, size limits and secret scrubbing. Knows nothing of completions or models.
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/backends/detail/context.hpp>
#include <selfalign/backends/detail/errors.hpp>
#include <selfalign/backends/detail/pool.hpp>
#include <selfalign/backends/detail/retry.hpp>
#include <selfalign/backends/detail/url.hpp>
#include <selfalign/backends/detail/wire.hpp>
#include <selfalign/backends/options.hpp>
#include <selfalign/detail/prologue.hpp>
#include <selfalign/detail/redact.hpp>
#include <selfalign/detail/strings.hpp>
#include <selfalign/json_read.hpp>
#include <selfalign/result.hpp>
#include <selfalign/detail/format.hpp>

// The only selfalign header that includes cpp-httplib. Link selfalign::openai so that the
// CPPHTTPLIB_*_SUPPORT macros match the compiled library (Debian ships it compiled).
#include <httplib.h>
#ifdef _res
#undef _res  // <resolv.h> leaks this macro on Linux (cpp-httplib < 0.28)
#endif

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace detail {

/// A complete HTTP answer: its status and body.
struct http_reply {
  int status = 0;
  std::string body;
};

/// Where a streamed 200 answer's bytes go as they arrive.
struct stream_sink {
  std::function<bool(std::string_view)> feed;
  bool json_answer = false;  // set when a 200 answer came as application/json (the server ignored stream)
};

/// The transport's counters (openai_backend::stats() copies them out).
struct transport_counters {
  std::atomic<std::uint64_t> attempts{0}, retries{0}, stale_retries{0}, deadline_aborts{0};
};

/// cpp-httplib's failure codes as selfalign errors: what happened, where.
[[nodiscard]] inline error transport_error(httplib::Error err, const std::string& where, const std::string& what,
                                           std::chrono::milliseconds connect_timeout) {
  switch (err) {
    case httplib::Error::Connection:
      return error(errc::transport, selfalign::detail::format_text("cannot connect to {} (refused or unreachable)", where));
    case httplib::Error::ConnectionTimeout:
      return error(errc::timeout, selfalign::detail::format_text("connecting to {} timed out after {} ms", where, connect_timeout.count()));
    case httplib::Error::SSLServerVerification:
    case httplib::Error::SSLLoadingCerts: {
      error e(errc::transport, selfalign::detail::format_text("TLS with {} failed: {}", where, httplib::to_string(err)));
      e.retryable = false;
      return e;
    }
    default:
      return error(errc::transport, selfalign::detail::format_text("{} to {} failed: {}", what, where, httplib::to_string(err)));
  }
}

/// One configured server (one or more replica base URLs): sends a request over a bounded pool of
/// keep-alive connections and retries it by the retry policy. Thread-safe; not copyable (openai_backend
/// copies share one through a shared state). Never throws: failures are result errors, with every
/// secret (the API key, credential headers) removed from what they say.
class http_transport {
 public:
  using clock = std::chrono::steady_clock;

  explicit http_transport(openai_options o);
  http_transport(const http_transport&) = delete;
  http_transport& operator=(const http_transport&) = delete;
  ~http_transport() { pool_.reset(); }  // the connections go before the state they point into

  [[nodiscard]] const openai_options& options() const noexcept { return opts_; }
  /// A bad configuration (empty or unparsable URL, https:// without OpenSSL), reported by every call.
  [[nodiscard]] const std::optional<error>& config_error() const noexcept { return config_error_; }
  [[nodiscard]] const transport_counters& counters() const noexcept { return counters_; }
  /// Requests it sends at once: max_concurrency per base URL.
  [[nodiscard]] std::size_t capacity() const noexcept { return pool_ ? pool_->capacity() : 1; }
  /// The first base URL (the one messages name).
  [[nodiscard]] const base_url& first_url() const { return urls_.front(); }

  /// The deadline of a call starting now (options.deadline; none when it is 0).
  [[nodiscard]] clock::time_point call_deadline() const {
    if (opts_.deadline.count() <= 0) return clock::time_point::max();
    return clock::now() + opts_.deadline;
  }

  /// One logical request with retries. Returns a 2xx reply, or the error (HTTP errors normalised).
  /// `root`: the path is under the server root rather than the base URL's prefix (/v1). With a
  /// sink, a 200 answer's bytes stream into it and the call is never retried once they did.
  /// `overflow_body` receives the body of a context-overflow answer (its token counts).
  [[nodiscard]] result<http_reply> request(const char* method, const std::string& rel_path, bool root, const std::string& body,
                                           clock::time_point deadline, stream_sink* sink,
                                           std::optional<int> max_retries = std::nullopt, std::string* overflow_body = nullptr);

  /// POST a JSON body, parse the JSON answer (an error object in a 200 answer is an error).
  [[nodiscard]] result<nlohmann::json> post_json(const std::string& path, const nlohmann::json& body, clock::time_point deadline,
                                                 bool root = false) {
    auto reply = request("POST", path, root, body.dump(), deadline, nullptr);
    if (!reply) return unexpected(std::move(reply).error());
    return to_json(*reply, "POST " + path);
  }
  [[nodiscard]] result<nlohmann::json> get_json(const std::string& path, clock::time_point deadline, bool root, int max_retries) {
    auto reply = request("GET", path, root, std::string{}, deadline, nullptr, max_retries);
    if (!reply) return unexpected(std::move(reply).error());
    return to_json(*reply, "GET " + path);
  }
  [[nodiscard]] result<nlohmann::json> to_json(const http_reply& reply, const std::string& what) const {
    auto j = parse_json(reply.body, server_json_options());
    if (!j) return unexpected(scrub(bad_body(what, "the answer is " + j.error().message, reply.body, reply.status)));
    if (auto err = error_in_payload(*j)) return unexpected(scrub(std::move(*err)));
    return j;
  }

  /// The body as sent: without an empty model field, with options.extra_body merged in.
  void finish_body(nlohmann::json& body, const std::string& model) const {
    if (model.empty()) body.erase("model");
    merge_extra(body, opts_.extra_body);
  }

  /// The error with every secret removed from what it says (see detail::redact_secrets).
  [[nodiscard]] error scrub(error e) const {
    for (std::string* text : {&e.message, &e.type, &e.server_code, &e.request_id}) redact_secrets(*text, secrets_);
    return e;
  }
  /// A parsed answer's start for a message, with secrets removed before it is cut further.
  [[nodiscard]] std::string scrubbed_excerpt(const nlohmann::json& j) const { return redacted(json_excerpt(j, 300), secrets_); }

 private:
  struct attempt {
    std::optional<http_reply> reply;  // a complete HTTP answer (any status)
    std::optional<error> failure;     // no complete answer
    bool stale_candidate = false;     // failed on a reused socket before any response byte
    bool delivered = false;           // streamed bytes reached the caller's parser
    std::string retry_after, retry_after_ms, should_retry, request_id;
  };

  attempt send_once(const char* method, const std::string& rel_path, bool root, const std::string& body,
                    clock::time_point deadline, stream_sink* sink);
  [[nodiscard]] std::unique_ptr<httplib::Client> make_client(const base_url& u) const;
  /// The message of a 404 under the base URL, with the likely cause (a missing /v1) added.
  void explain_not_found(error& failure) const;
  double unit_random() {
    std::lock_guard lock(rng_mutex_);
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  }

  openai_options opts_;
  std::vector<base_url> urls_;
  std::optional<error> config_error_;
  bool added_v1_ = false;  // a base URL had no path and got /v1 (named in 404 messages)
  httplib::Headers headers_;
  std::vector<std::string> secrets_;  // the API key and credential header values (never shown)
  std::unique_ptr<endpoint_pool<httplib::Client>> pool_;
  deadline_watchdog watchdog_;
  transport_counters counters_;
  std::mutex rng_mutex_;
  std::minstd_rand rng_{std::random_device{}()};
};

// -- definitions ------------------------------------------------------------------------------------

inline http_transport::http_transport(openai_options o) : opts_(std::move(o)) {
  if (opts_.base_urls.empty()) {
    config_error_ = error(errc::invalid_argument, "openai_options.base_urls is empty");
    return;
  }
  for (const auto& u : opts_.base_urls) {
    auto parsed = parse_base_url(u);
    if (!parsed) {
      config_error_ = parsed.error();
      return;
    }
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
    if (parsed->https()) {
      config_error_ = error(errc::unsupported, selfalign::detail::format_text("'{}' needs HTTPS, but cpp-httplib was built without OpenSSL "
                                                           "(CPPHTTPLIB_OPENSSL_SUPPORT); use http:// or rebuild cpp-httplib with OpenSSL", u));
      return;
    }
#endif
    // No path: the server's /v1 (llama-server prints its root URL, where /completions is its
    // native, differently shaped endpoint). A path is kept as given.
    if (parsed->prefix.empty()) {
      parsed->prefix = "/v1";
      added_v1_ = true;
    }
    urls_.push_back(std::move(*parsed));
  }
  std::string key = opts_.api_key.value_or(std::string{});
  if (!opts_.api_key && !opts_.api_key_env.empty())
    if (const char* v = std::getenv(opts_.api_key_env.c_str())) key = v;  // NOLINT(concurrency-mt-unsafe)
  if (!key.empty()) headers_.emplace("Authorization", "Bearer " + key);
  for (const auto& [k, v] : opts_.headers) headers_.emplace(k, v);
  // What must never appear in a message: the key and every credential-like header's value.
  if (!key.empty()) secrets_.push_back(key);
  for (const auto& [k, v] : opts_.headers)
    if (is_secret_header(k) && !v.empty()) {
      secrets_.push_back(v);
      if (v.rfind("Bearer ", 0) == 0 && v.size() > 7) secrets_.push_back(v.substr(7));
    }
  pool_ = std::make_unique<endpoint_pool<httplib::Client>>(urls_.size(), opts_.max_concurrency,
                                                           [this](std::size_t e) { return make_client(urls_[e]); });
}

inline std::unique_ptr<httplib::Client> http_transport::make_client(const base_url& u) const {
  std::unique_ptr<httplib::Client> c;
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
  if (u.https()) {
    const bool v6 = u.host.find(':') != std::string::npos;
    c = std::make_unique<httplib::Client>(selfalign::detail::format_text("https://{}{}{}:{}", v6 ? "[" : "", u.host, v6 ? "]" : "", u.port));
    c->enable_server_certificate_verification(opts_.verify_tls);
    if (!opts_.ca_cert_path.empty()) c->set_ca_cert_path(opts_.ca_cert_path);
  }
#endif
  if (!c) c = std::make_unique<httplib::Client>(u.host, u.port);
  c->set_keep_alive(true);
  c->set_tcp_nodelay(true);  // small JSON requests: Nagle + delayed ACK would add 40 ms
  c->set_follow_location(false);
  c->set_write_timeout(opts_.write_timeout);
  return c;
}

inline http_transport::attempt http_transport::send_once(const char* method, const std::string& rel_path, bool root,
                                                         const std::string& body, clock::time_point deadline,
                                                         stream_sink* sink) {
  attempt out;
  auto lease = pool_->acquire();
  if (!lease.operator->()) {
    out.failure = error(errc::internal, "could not create an HTTP client");
    return out;
  }
  const base_url& url = urls_[lease.endpoint()];
  httplib::Client& cli = *lease;
  const std::string path = (root ? url.root_prefix() : url.prefix) + rel_path;
  auto what = [&] { return selfalign::detail::format_text("{} {}", method, path); };  // only failures need it

  const auto now = clock::now();
  using ms = std::chrono::milliseconds;
  const auto remaining = deadline == clock::time_point::max()
                             ? opts_.read_timeout
                             : std::max(ms(1), std::chrono::duration_cast<ms>(deadline - now) + ms(1));
  const auto connect_timeout = std::min<ms>(opts_.connect_timeout, remaining);
  cli.set_connection_timeout(connect_timeout);
  const auto read_timeout = std::min<ms>(opts_.read_timeout, remaining);
  cli.set_read_timeout(read_timeout);

  httplib::Request req;
  req.method = method;
  req.path = path;
  req.headers = headers_;
  if (std::string_view(method) == "POST") {
    req.body = body;
    req.set_header("Content-Type", "application/json");
  }
  if (sink) req.set_header("Accept", "text/event-stream");
  int status = -1;
  bool got_bytes = false, sink_failed = false;
  std::string collected;
  const std::size_t max_bytes = opts_.max_answer_bytes;
  std::size_t received = 0;
  std::optional<std::uint64_t> declared_length;
  bool too_large = false;
  req.response_handler = [&](const httplib::Response& r) {
    status = r.status;
    out.retry_after = r.get_header_value("retry-after");
    out.retry_after_ms = r.get_header_value("retry-after-ms");
    out.should_retry = r.get_header_value("x-should-retry");
    out.request_id = r.get_header_value("x-request-id");
    if (sink && status == 200 && r.get_header_value("Content-Type").find("application/json") != std::string::npos)
      sink->json_answer = true;
    if (r.has_header("Content-Length")) {
      std::uint64_t length = 0;
      bool digits = true;
      for (char c : r.get_header_value("Content-Length")) {
        if (c < '0' || c > '9' || length > (std::uint64_t{1} << 50)) {
          digits = false;
          break;
        }
        length = length * 10 + static_cast<std::uint64_t>(c - '0');
      }
      if (digits) {
        declared_length = length;
        if (length > max_bytes) {
          too_large = true;  // refused before a byte of the body is read
          return false;
        }
        if (!(sink && status == 200 && !sink->json_answer)) collected.reserve(static_cast<std::size_t>(length));
      }
    }
    return true;
  };
  req.content_receiver = [&](const char* d, std::size_t n, std::uint64_t, std::uint64_t) {
    got_bytes = true;
    received += n;
    if (received > max_bytes) {
      too_large = true;
      return false;
    }
    if (sink && status == 200 && !sink->json_answer) {
      out.delivered = true;
      if (!sink->feed(std::string_view(d, n))) {
        sink_failed = true;
        return false;
      }
      return true;
    }
    collected.append(d, n);
    return true;
  };

  std::uint64_t ticket = 0;
  if (deadline != clock::time_point::max()) {
    httplib::Client* target = &cli;
    ticket = watchdog_.arm(deadline, [target] { target->stop(); });
  }
  ++counters_.attempts;
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  const auto started = clock::now();
  const bool ok = cli.send(req, res, err);
  const bool aborted = ticket != 0 && watchdog_.cancel(ticket);
  if (aborted) ++counters_.deadline_aborts;

  if (ok && !aborted) {
    // An error body may echo the request's credentials: remove them before anything quotes it.
    if (res.status < 200 || res.status >= 300) redact_secrets(collected, secrets_);
    out.reply = http_reply{res.status, std::move(collected)};
    return out;
  }
  lease.mark_broken();
  if (too_large) {
    out.failure = error(errc::bad_response,
                        selfalign::detail::format_text("{}: the answer is larger than the limit of {} bytes (openai_options.max_answer_bytes{})", what(),
                                    max_bytes, declared_length ? selfalign::detail::format_text("; Content-Length: {}", *declared_length) : std::string{}),
                        status > 0 ? status : 0);
    out.failure->retryable = false;
    return out;
  }
  if (sink_failed) {  // the parser or the caller stopped the stream; the caller reports why
    out.reply = http_reply{status, std::string{}};
    return out;
  }
  if (aborted || clock::now() >= deadline) {
    out.failure = error(errc::timeout, selfalign::detail::format_text("{} did not finish within the call deadline of {} ms", what(), opts_.deadline.count()));
    out.failure->retryable = false;
    return out;
  }
  if (status > 0 && status != 200 && !collected.empty()) {
    // A non-200 answer whose body broke off: still an HTTP error.
    redact_secrets(collected, secrets_);
    out.reply = http_reply{status, std::move(collected)};
    return out;
  }
  if (status == 200 && got_bytes) {
    out.failure = bad_body(what(), selfalign::detail::format_text("the answer was cut off after {} bytes", collected.size()),
                           redacted(collected.substr(0, 1024), secrets_));
    return out;
  }
  const std::string where = url.display();
  if (err == httplib::Error::Read || err == httplib::Error::Write) {
    if (status < 0 && clock::now() - started >= read_timeout - ms(5) && err == httplib::Error::Read) {
      out.failure = error(errc::timeout, selfalign::detail::format_text("{} to {}: no answer within the read timeout of {} ms", what(), where,
                                                     read_timeout.count()));
    } else {
      out.failure = error(errc::transport, selfalign::detail::format_text("{} to {}: the connection was closed or reset ({} failed)", what(), where,
                                                       err == httplib::Error::Read ? "reading" : "writing"));
      out.stale_candidate = status < 0 && !got_bytes && lease.previous_uses() > 0;
    }
    return out;
  }
  out.failure = transport_error(err, where, what(), connect_timeout);
  return out;
}

inline void http_transport::explain_not_found(error& failure) const {
  const auto& u = urls_.front();
  if (u.prefix.size() < 3 || u.prefix.compare(u.prefix.size() - 3, 3, "/v1") != 0)
    failure.message += selfalign::detail::format_text(" (the base URL {} does not end in /v1; OpenAI-compatible servers answer under "
                                   "http://host:port/v1: add /v1 to the base URL)", u.display());
  else if (added_v1_)
    failure.message += selfalign::detail::format_text(" (selfalign added /v1 to a base URL without a path: {})", u.display());
}

inline result<http_reply> http_transport::request(const char* method, const std::string& rel_path, bool root,
                                                  const std::string& body, clock::time_point deadline, stream_sink* sink,
                                                  std::optional<int> max_retries, std::string* overflow_body) {
  retry_policy policy = opts_.retry;
  if (max_retries) policy.max_retries = *max_retries;
  int retries = 0, attempts = 0;
  bool stale_used = false;
  for (;;) {
    ++attempts;
    attempt a = send_once(method, rel_path, root, body, deadline, sink);
    std::optional<error> failure;
    bool retryable = false;
    std::optional<std::chrono::milliseconds> server_wait;
    if (a.reply) {
      const int st = a.reply->status;
      if ((st >= 200 && st < 300) || (sink && a.delivered)) return std::move(*a.reply);
      const std::string prefix = root ? urls_.front().root_prefix() : urls_.front().prefix;
      failure = error_from_http(st, a.reply->body, a.request_id, selfalign::detail::format_text("{} {}{}", method, prefix, rel_path));
      if (classify_context_overflow(*failure) && overflow_body)  // errc::context_overflow, never retried
        *overflow_body = a.reply->body;
      if (st == 501) {  // Not Implemented (llama-server without --embeddings): asking again cannot help
        failure->code = errc::unsupported;
        failure->retryable = false;
      }
      if (st == 404 && !root) explain_not_found(*failure);
      retryable = failure->retryable;
      server_wait = parse_retry_after(a.retry_after_ms, a.retry_after, static_cast<std::int64_t>(std::time(nullptr)));
    } else {
      failure = std::move(a.failure);
      retryable = failure->retryable;
      if (a.stale_candidate && policy.retry_stale_connection && !stale_used) {
        stale_used = true;
        ++counters_.stale_retries;
        continue;  // a keep-alive socket the server had closed: retry at once, once
      }
    }
    if (a.delivered) return unexpected(scrub(std::move(*failure)));  // never retry after data reached the caller
    auto decision = decide_retry(policy, retries, retryable, a.should_retry, server_wait, unit_random());
    if (decision.retry && deadline != clock::time_point::max() && clock::now() + decision.wait >= deadline) decision.retry = false;
    if (!decision.retry) {
      if (attempts > 1) failure->message += selfalign::detail::format_text(" (after {} attempts)", attempts);
      return unexpected(scrub(std::move(*failure)));
    }
    ++retries;
    ++counters_.retries;
    if (decision.wait.count() > 0) std::this_thread::sleep_for(decision.wait);
  }
}

}  // namespace detail
SELFALIGN_END_NAMESPACE
