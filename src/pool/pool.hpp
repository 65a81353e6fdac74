// A pool of server connections for one (backend, database, user, startup parameters) key.
//
// Shared by all worker threads: a client on any thread gets any idle connection, and the
// limits (max_pool per pool, max_db_connections and max_user_connections across pools) hold
// exactly. Clients beyond them queue until a connection is given back, one is closed, the
// reserve pool opens up for them, or their deadline passes.
#pragma once

#include "backend/server_connection.hpp"
#include "common/result.hpp"
#include "config/config.hpp"
#include "pool/connection_budget.hpp"
#include "pool/stats.hpp"

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

// An event-loop client waiting for a connection (it cannot suspend in acquire()). Both calls
// come on the client's own thread.
class Handoff {
 public:
  virtual void take(Lease lease) = 0;  // a connection given back, now the client's
  virtual void retry() = 0;            // a slot freed up: go through acquire(), which may open one

 protected:
  ~Handoff() = default;
};

// The limits in force, read from the current settings at each acquire (so they follow reloads).
struct PoolLimits {
  int max_pool = 1;
  int min_pool_size = 0;
  int reserve_pool_size = 0;
  std::chrono::milliseconds reserve_pool_timeout{5'000};
  int max_db_connections = 0;  // 0: no limit
  int max_user_connections = 0;
};
PoolLimits pool_limits(const config::Config& config);

class Pool : public std::enable_shared_from_this<Pool> {
 public:
  using Clock = std::chrono::steady_clock;
  // Closes an idle connection of another pool of the same database or user, to free budget.
  using Evictor = std::function<bool(const Pool& requester)>;

  Pool(std::size_t node, std::string name, std::string database, std::string user,
       std::shared_ptr<ConnectionBudget> budget, Evictor evict)
      : node_(node),
        name_(std::move(name)),
        database_(std::move(database)),
        user_(std::move(user)),
        budget_(std::move(budget)),
        evict_(std::move(evict)) {}

  // Suspends until a connection is available or `deadline` passes (then SQLSTATE 53300).
  // `options` says how to open a new one; the pool keeps a copy for min_pool_size.
  awaitable<Result<Lease>> acquire(const PoolLimits& limits, Clock::time_point deadline,
                                   const backend::ConnectOptions& options);

  // For event-loop clients, without suspending: an idle connection (checked as acquire()
  // checks it) if one is free and nobody is queued, else a place in the queue for `handoff`
  // when the pool is simply full, else neither, and the caller goes through acquire() (it may
  // open a connection, or the reserve pool or the max_db/max_user budget is involved).
  struct Ticket;
  struct Quick {
    Lease lease;
    std::shared_ptr<Ticket> ticket;  // the place in the queue, for withdraw()
  };
  Quick take_or_queue(Handoff& handoff, const asio::io_context::executor_type& executor,
                      const PoolLimits& limits);
  // Leaves the queue (the client gave up): no call reaches the handoff after this.
  void withdraw(const std::shared_ptr<Ticket>& ticket);
  Error wait_timeout_error() const;

  // Opens connections until the pool has min_pool_size (janitor; needs one acquire first).
  awaitable<void> fill(PoolLimits limits);  // by value: it runs detached
  // Closes idle connections unused for `idle_timeout` or older than `lifetime` (0 = never).
  void close_expired(std::chrono::milliseconds idle_timeout, std::chrono::milliseconds lifetime);
  void set_lifetime(std::chrono::milliseconds lifetime) { lifetime_ = lifetime.count(); }
  bool close_one_idle();
  // Paused: no connection is handed out or opened (clients queue, query_wait_timeout still
  // applies), and connections given back are closed. Resuming wakes the queue.
  void set_paused(bool paused);

  // ParameterStatus values of the pool's first connection at login: what a client of this
  // pool is greeted with when it gets no server connection of its own at login.
  std::optional<protocol::Parameters> welcome_parameters();
  // `values`, shared with the pool's other clients that keep the same ones (nearly all of
  // them keep the server's defaults): an idle client should not hold its own copy.
  std::shared_ptr<const protocol::Parameters> shared_parameters(protocol::Parameters values);
  std::size_t node() const { return node_; }  // index in backend_servers
  const std::string& name() const { return name_; }
  const std::string& database() const { return database_; }
  const std::string& user() const { return user_; }
  // For the REST API and /metrics: a consistent snapshot.
  struct Counts {
    int servers_active = 0;  // leased, or being opened
    int servers_idle = 0;
    int clients_waiting = 0;
  };
  Counts counts();
  PoolStats& stats() { return stats_; }

  // One row per open server connection, for the REST API's servers and SHOW SERVERS.
  struct ServerRow {
    std::uint64_t id = 0;
    std::int32_t process_id = 0;
    backend::BackendAddress address;
    Clock::time_point connected_at;
    bool idle = false;
    bool tls = false;
  };
  std::vector<ServerRow> servers();
  // The outcome of the pool's latest attempt to open a connection (for the node's status).
  struct ConnectOutcome {
    Clock::time_point at;
    bool ok = false;
    std::string error;
    std::uint64_t failures = 0;  // failed attempts so far
  };
  std::optional<ConnectOutcome> last_connect();

 private:
  friend class Lease;
  struct Waiter;

  void give_back(std::unique_ptr<backend::ServerConnection> conn);
  void hand_over(const std::shared_ptr<Waiter>& waiter,
                 std::unique_ptr<backend::ServerConnection> conn);
  void discard(std::unique_ptr<backend::ServerConnection> conn);
  std::unique_ptr<backend::ServerConnection> take_idle_locked(
      const asio::any_io_executor& executor);
  // Waiters not yet served look again: a timer wakes, a handoff retries (leaving the queue).
  enum class Wake { First, All };
  void wake_locked(Wake which);
  // The lease of a connection going to a client on `executor`'s worker (moved there if plain TCP).
  Lease hand_out(std::unique_ptr<backend::ServerConnection> conn,
                 const asio::any_io_executor& executor);
  // Checks an idle connection being handed out; discards it if the server closed it.
  bool still_usable(std::unique_ptr<backend::ServerConnection>& conn);
  awaitable<Result<std::unique_ptr<backend::ServerConnection>>> open(
      const backend::ConnectOptions& options);

  const std::size_t node_;
  const std::string name_, database_, user_;
  const std::shared_ptr<ConnectionBudget> budget_;
  const Evictor evict_;
  std::mutex mutex_;
  std::deque<std::unique_ptr<backend::ServerConnection>> idle_;  // most recently used at the back
  int total_ = 0;                                                // counted in budget_ too
  std::deque<std::shared_ptr<Waiter>> waiters_;                  // FIFO for connections given back
  std::atomic<std::chrono::milliseconds::rep> lifetime_{0};
  std::optional<protocol::Parameters> welcome_;
  std::shared_ptr<const protocol::Parameters> shared_parameters_;
  std::optional<backend::ConnectOptions> connect_options_;  // for min_pool_size
  bool filling_ = false;
  bool paused_ = false;
  std::vector<const backend::ServerConnection*> open_;  // every logged-in connection, for servers()
  std::optional<ConnectOutcome> last_connect_;
  PoolStats stats_;
};

}  // namespace pgb::pool
