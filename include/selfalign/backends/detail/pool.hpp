// selfalign: a bounded pool of keep-alive connections over several replica endpoints, and the
// deadline watchdog that aborts calls past their deadline (generic over the connection type)
// SPDX-License-Identifier: MIT
#pragma once

#include <selfalign/detail/prologue.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

SELFALIGN_BEGIN_NAMESPACE
namespace detail {

/// Hands out at most `per_endpoint` connections per endpoint at a time, always from the endpoint
/// with the fewest in flight (ties go round-robin), reusing idle connections (keep-alive).
/// `Conn` is created by the factory on first need; a connection returned as broken is dropped.
template <class Conn>
class endpoint_pool {
 public:
  using factory = std::function<std::unique_ptr<Conn>(std::size_t endpoint)>;

  endpoint_pool(std::size_t endpoints, std::size_t per_endpoint, factory make)
      : slots_(endpoints), per_endpoint_(per_endpoint == 0 ? 1 : per_endpoint), make_(std::move(make)) {}
  endpoint_pool(const endpoint_pool&) = delete;
  endpoint_pool& operator=(const endpoint_pool&) = delete;

  /// A checked-out connection; returns itself to the pool when destroyed.
  class lease {
   public:
    lease() = default;
    lease(lease&& o) noexcept : pool_(std::exchange(o.pool_, nullptr)), endpoint_(o.endpoint_), conn_(std::move(o.conn_)),
                                uses_(o.uses_), broken_(o.broken_) {}
    lease& operator=(lease&& o) noexcept {
      if (this != &o) {
        release();
        pool_ = std::exchange(o.pool_, nullptr);
        endpoint_ = o.endpoint_;
        conn_ = std::move(o.conn_);
        uses_ = o.uses_;
        broken_ = o.broken_;
      }
      return *this;
    }
    ~lease() { release(); }
    [[nodiscard]] Conn& operator*() const noexcept { return *conn_; }
    [[nodiscard]] Conn* operator->() const noexcept { return conn_.get(); }
    [[nodiscard]] std::size_t endpoint() const noexcept { return endpoint_; }
    /// How many requests this connection served before (0: fresh). A reused one may be stale.
    [[nodiscard]] std::uint64_t previous_uses() const noexcept { return uses_; }
    /// The connection must not be reused (after a transport error or an aborted call).
    void mark_broken() noexcept { broken_ = true; }

   private:
    friend class endpoint_pool;
    void release() {
      if (pool_) pool_->give_back(endpoint_, std::move(conn_), uses_ + 1, broken_);
      pool_ = nullptr;
    }
    endpoint_pool* pool_ = nullptr;
    std::size_t endpoint_ = 0;
    std::unique_ptr<Conn> conn_;
    std::uint64_t uses_ = 0;
    bool broken_ = false;
  };

  /// Blocks until a connection is free. Returns an empty lease if the factory fails (returns null).
  [[nodiscard]] lease acquire() {
    std::unique_lock lock(mutex_);
    std::size_t chosen = 0;
    cv_.wait(lock, [&] {
      bool any = false;
      std::size_t best_load = 0;
      for (std::size_t k = 0; k < slots_.size(); ++k) {
        const std::size_t e = (next_ + k) % slots_.size();
        const std::size_t load = slots_[e].in_flight;
        if (load >= per_endpoint_) continue;
        if (!any || load < best_load) {
          any = true;
          best_load = load;
          chosen = e;
        }
      }
      return any;
    });
    next_ = (chosen + 1) % slots_.size();
    slot& s = slots_[chosen];
    ++s.in_flight;
    ++total_in_flight_;
    lease l;
    l.pool_ = this;
    l.endpoint_ = chosen;
    if (!s.idle.empty()) {
      l.conn_ = std::move(s.idle.back().conn);
      l.uses_ = s.idle.back().uses;
      s.idle.pop_back();
      return l;
    }
    lock.unlock();
    l.conn_ = make_(chosen);
    if (!l.conn_) {
      l.pool_ = nullptr;
      give_back(chosen, nullptr, 0, true);
      return lease{};
    }
    return l;
  }

  [[nodiscard]] std::size_t in_flight(std::size_t endpoint) const {
    std::lock_guard lock(mutex_);
    return slots_[endpoint].in_flight;
  }
  [[nodiscard]] std::size_t idle(std::size_t endpoint) const {
    std::lock_guard lock(mutex_);
    return slots_[endpoint].idle.size();
  }
  [[nodiscard]] std::size_t endpoints() const noexcept { return slots_.size(); }
  [[nodiscard]] std::size_t capacity() const noexcept { return slots_.size() * per_endpoint_; }

 private:
  struct idle_conn {
    std::unique_ptr<Conn> conn;
    std::uint64_t uses = 0;
  };
  struct slot {
    std::vector<idle_conn> idle;
    std::size_t in_flight = 0;
  };

  void give_back(std::size_t endpoint, std::unique_ptr<Conn> conn, std::uint64_t uses, bool broken) {
    std::unique_ptr<Conn> drop;  // destroyed outside the lock
    {
      std::lock_guard lock(mutex_);
      slot& s = slots_[endpoint];
      --s.in_flight;
      --total_in_flight_;
      if (conn && !broken) s.idle.push_back({std::move(conn), uses});
      else drop = std::move(conn);
    }
    cv_.notify_one();
  }

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<slot> slots_;
  std::size_t per_endpoint_;
  std::size_t next_ = 0;
  std::size_t total_in_flight_ = 0;
  factory make_;
};

/// Calls an abort action for every registration whose deadline passed, again every few
/// milliseconds until it is cancelled (an abort can race with the socket being opened). One
/// thread, started on first use, joined on destruction.
class deadline_watchdog {
 public:
  using clock = std::chrono::steady_clock;
  deadline_watchdog() = default;
  deadline_watchdog(const deadline_watchdog&) = delete;
  deadline_watchdog& operator=(const deadline_watchdog&) = delete;
  ~deadline_watchdog() {
    {
      std::lock_guard lock(mutex_);
      quit_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  /// Registers `abort` to run at `when` (and then periodically); returns a ticket for cancel().
  std::uint64_t arm(clock::time_point when, std::function<void()> abort) {
    std::lock_guard lock(mutex_);
    const std::uint64_t ticket = ++last_ticket_;
    entries_.emplace(ticket, entry{when, std::move(abort), false});
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
    // Wake the thread only when this deadline is earlier than the one it sleeps until: a
    // wake-up per request would cost a context switch each.
    if (when < next_wake_) cv_.notify_all();
    return ticket;
  }

  /// Unregisters; after it returns the abort action will not run again. True when it had fired.
  bool cancel(std::uint64_t ticket) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(ticket);
    if (it == entries_.end()) return false;
    const bool fired = it->second.fired;
    entries_.erase(it);
    return fired;
  }

 private:
  struct entry {
    clock::time_point when;
    std::function<void()> abort;
    bool fired;
  };

  void run() {
    std::unique_lock lock(mutex_);
    while (!quit_) {
      const auto now = clock::now();
      auto wake = now + std::chrono::hours(1);
      for (auto& [ticket, e] : entries_) {
        if (e.when <= now) {
          e.fired = true;
          e.abort();  // under the lock, so cancel() cannot return while it runs
          e.when = now + std::chrono::milliseconds(20);
        }
        if (e.when < wake) wake = e.when;
      }
      next_wake_ = wake;
      cv_.wait_until(lock, wake);
      next_wake_ = clock::time_point::min();  // awake: arm() need not notify
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<std::uint64_t, entry> entries_;
  std::uint64_t last_ticket_ = 0;
  bool quit_ = false;
  clock::time_point next_wake_ = clock::time_point::min();
  std::thread thread_;
};

}  // namespace detail
SELFALIGN_END_NAMESPACE
