// A pool of server connections for one (backend, database, user, startup parameters) key.
//
// Shared by all worker threads: a client on any thread gets any idle connection, and the
// per-pool limit (max_pool) holds exactly. Clients beyond the limit queue FIFO until a
// connection is given back, a slot frees up, or their deadline passes.
#pragma once

#include "backend/server_connection.hpp"
#include "common/result.hpp"

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

namespace pgb::pool {

// Each waiter costs a timer; the queue is bounded so a flood cannot exhaust memory.
inline constexpr std::size_t kMaxWaiters = 10'000;

class Pool;

// Exclusive use of one server connection. If the holder neither gives it back nor discards
// it (an error path, a destroyed coroutine), the destructor discards it: a connection in an
// unknown state is never reused.
class [[nodiscard]] Lease {
 public:
  Lease() = default;
  Lease(std::shared_ptr<Pool> pool, std::unique_ptr<backend::ServerConnection> conn)
      : pool_(std::move(pool)), conn_(std::move(conn)) {}
  Lease(Lease&&) noexcept = default;
  Lease& operator=(Lease&& other) noexcept;
  ~Lease() { discard(); }

  backend::ServerConnection& conn() { return *conn_; }
  backend::ServerConnection* operator->() { return conn_.get(); }
  explicit operator bool() const { return conn_ != nullptr; }

  void give_back();  // the connection is idle and reset: reusable
  void discard();    // close it and free its slot

 private:
  std::shared_ptr<Pool> pool_;
  std::unique_ptr<backend::ServerConnection> conn_;
};

struct PoolStats {
  int idle = 0;
  int total = 0;  // idle + leased + being connected
  int waiting = 0;
};

class Pool : public std::enable_shared_from_this<Pool> {
 public:
  using Clock = std::chrono::steady_clock;
  using Connector = std::function<awaitable<Result<std::unique_ptr<backend::ServerConnection>>>()>;

  explicit Pool(std::string name) : name_(std::move(name)) {}

  // Suspends until a connection is available or `deadline` passes (then SQLSTATE 53300).
  // `connect` opens a new connection when the pool may grow.
  awaitable<Result<Lease>> acquire(int max_pool, Clock::time_point deadline,
                                   const Connector& connect);

  // Closes idle connections unused for `idle_timeout` or older than `lifetime` (0 = never).
  void close_expired(std::chrono::milliseconds idle_timeout, std::chrono::milliseconds lifetime);
  void set_lifetime(std::chrono::milliseconds lifetime) { lifetime_ = lifetime.count(); }

  PoolStats stats();
  // ParameterStatus values of the pool's first connection at login: what a client of this
  // pool is greeted with when it gets no server connection of its own at login.
  std::optional<protocol::Parameters> welcome_parameters();
  const std::string& name() const { return name_; }

 private:
  friend class Lease;
  struct Waiter;

  void give_back(std::unique_ptr<backend::ServerConnection> conn);
  void discard(std::unique_ptr<backend::ServerConnection> conn);
  std::unique_ptr<backend::ServerConnection> take_idle_locked();
  void wake(const std::shared_ptr<Waiter>& waiter);
  // A connection is gone: count it out and let the first waiter open a new one.
  void free_slot_locked();

  std::string name_;
  std::mutex mutex_;
  std::deque<std::unique_ptr<backend::ServerConnection>> idle_;  // most recently used at the back
  int total_ = 0;
  int max_pool_ = 1;  // as of the last acquire(): the limit follows reloads
  std::deque<std::shared_ptr<Waiter>> waiters_;  // FIFO
  std::atomic<std::chrono::milliseconds::rep> lifetime_{0};
  std::optional<protocol::Parameters> welcome_;
};

}  // namespace pgb::pool
