// Pool: idle list, connection accounting, the wait queue, the reserve pool and warm-up.
#include "pool/pool.hpp"

#include "common/coarse_clock.hpp"
#include "common/log.hpp"
#include "common/sqlstate.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>

namespace pgb::pool {
namespace {

// How often a client blocked only by max_db_connections/max_user_connections looks again:
// those limits are freed by other pools, which do not know about this pool's waiters.
constexpr std::chrono::milliseconds kBudgetRecheck{100};

// A connection given back goes to a client waiting on the same worker before the longest
// waiting one elsewhere, which saves moving it between event loops and waking the other
// thread, unless that longest waiter has been waiting this long already: unfairness stays
// bounded.
constexpr std::chrono::milliseconds kLocalHandOffBound{5};

// A connection given back less than this long ago is handed out without checking whether the
// server closed it meanwhile (one poll() per lease otherwise, on every transaction under load).
// pgbouncer's server_check_delay plays the same part, with 30 s.
constexpr std::chrono::milliseconds kServerCheckDelay{10};

// "could not connect ...: Connection refused", for the node's status.
std::string describe(const Error& e) {
  return e.detail.empty() ? e.message : e.message + ": " + e.detail;
}

}  // namespace

PoolLimits pool_limits(const config::Config& c) {
  return PoolLimits{c.max_pool,           c.min_pool_size,
                    c.reserve_pool_size,  c.reserve_pool_timeout,
                    c.max_db_connections, c.max_user_connections};
}

// A client blocked in acquire() (with a timer), or an event-loop client's place in the queue
// (with a handoff). A connection given back is handed to the first waiter directly (`conn`,
// under the pool mutex, or by a call on the handoff's thread); any other wake-up just makes
// it look again (retry() for a handoff).
struct Pool::Waiter {
  explicit Waiter(asio::any_io_executor ex)
      : executor(std::move(ex)), timer(std::in_place, executor) {}
  Waiter(Handoff& h, asio::any_io_executor ex) : executor(std::move(ex)), handoff(&h) {}
  asio::any_io_executor executor;
  std::optional<asio::steady_timer> timer;
  Handoff* handoff = nullptr;  // null once withdrawn (changed on the handoff's thread only)
  std::unique_ptr<backend::ServerConnection> conn;
  Clock::time_point since = coarse_now();
};
struct Pool::Ticket : Pool::Waiter {
  Ticket(Handoff& h, const asio::io_context::executor_type& ex) : Waiter(h, ex), loop(ex) {}
  asio::io_context::executor_type loop;  // to tell whether a hand-over needs a hop
};

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    discard();
    pool_ = std::move(other.pool_);
    conn_ = std::move(other.conn_);
  }
  return *this;
}

void Lease::give_back() {
  if (conn_) pool_->give_back(std::move(conn_));
}

void Lease::discard() {
  if (conn_) pool_->discard(std::move(conn_));
}

std::unique_ptr<backend::ServerConnection> Pool::take_idle_locked(
    const asio::any_io_executor& executor) {
  if (idle_.empty()) return nullptr;
  // The most recently used connection already served by this worker, if any: it needs no
  // move between event loops (two epoll_ctl calls), and its caches are warm.
  auto it = std::find_if(idle_.rbegin(), idle_.rend(), [&](const auto& conn) {
    return conn->stream().socket().get_executor() == executor;
  });
  auto chosen = it == idle_.rend() ? std::prev(idle_.end()) : std::prev(it.base());
  auto conn = std::move(*chosen);
  idle_.erase(chosen);
  return conn;
}

awaitable<Result<Lease>> Pool::acquire(const PoolLimits& limits, Clock::time_point deadline,
                                       const backend::ConnectOptions& options) {
  auto self = shared_from_this();
  auto executor = co_await asio::this_coro::executor;
  const auto started = Clock::now();
  bool evicted = false;
  for (;;) {
    std::unique_ptr<backend::ServerConnection> conn;
    bool may_open = false;
    bool budget_blocked = false;
    std::shared_ptr<Waiter> waiter;
    {
      std::lock_guard lock(mutex_);
      if (!connect_options_) connect_options_ = options;
      if (!paused_) conn = take_idle_locked(executor);
      if (!conn) {
        // After reserve_pool_timeout of waiting, reserve_pool_size more connections may open.
        bool reserve_due =
            limits.reserve_pool_size > 0 && Clock::now() - started >= limits.reserve_pool_timeout;
        int allowed = limits.max_pool + (reserve_due ? limits.reserve_pool_size : 0);
        if (!paused_ && total_ < allowed) {
          may_open = budget_->try_take(database_, user_, limits.max_db_connections,
                                       limits.max_user_connections);
          budget_blocked = !may_open;
          if (may_open) {
            ++total_;
            if (total_ > limits.max_pool) {
              log::info("pool {}: opening reserve connection {} of {}", name_,
                        total_ - limits.max_pool, limits.reserve_pool_size);
            }
          }
        }
        if (!may_open && !(budget_blocked && !evicted)) {
          if (waiters_.size() >= kMaxWaiters) {
            co_return make_error(sqlstate::kTooManyConnections,
                                 "too many clients waiting for a server connection");
          }
          auto wake_at = deadline;
          if (limits.reserve_pool_size > 0 && !reserve_due) {
            wake_at = std::min(wake_at, started + limits.reserve_pool_timeout);
          }
          if (budget_blocked) wake_at = std::min(wake_at, Clock::now() + kBudgetRecheck);
          waiter = std::make_shared<Waiter>(executor);
          waiter->timer->expires_at(wake_at);
          waiters_.push_back(waiter);
        }
      }
    }

    if (budget_blocked && !waiter) {
      // max_db/max_user_connections is reached: an idle connection of another pool may go.
      evicted = true;
      evict_(*this);
      continue;
    }
    if (waiter) {
      co_await waiter->timer->async_wait(use_nothrow);
      std::lock_guard lock(mutex_);
      std::erase(waiters_, waiter);
      if (!waiter->conn) {
        if (Clock::now() < deadline) continue;
        co_return wait_timeout_error();
      }
      conn = std::move(waiter->conn);
      stats_.add_wait(
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started));
    }

    if (conn) {
      if (!still_usable(conn)) continue;
      co_return hand_out(std::move(conn), executor);
    }

    auto opened = co_await open(options);
    if (!opened) co_return opened.error();
    co_return Lease(self, std::move(opened.value()));
  }
}

Lease Pool::hand_out(std::unique_ptr<backend::ServerConnection> conn,
                     const asio::any_io_executor& executor) {
  conn->touch();
  conn->stream().rebind(executor);
  return Lease(shared_from_this(), std::move(conn));
}

bool Pool::still_usable(std::unique_ptr<backend::ServerConnection>& conn) {
  // An idle connection that has input waiting was closed by the server or sent something
  // unsolicited: either way it is not in the state we left it in.
  if (coarse_now() - conn->last_used() < kServerCheckDelay || !conn->stream().has_pending_input()) {
    return true;
  }
  log::info("closing idle server connection {}:{} pid {}: closed or unexpected data",
            conn->address().host, conn->address().port, conn->process_id());
  discard(std::move(conn));
  return false;
}

Pool::Quick Pool::take_or_queue(Handoff& handoff, const asio::io_context::executor_type& executor,
                                const PoolLimits& limits) {
  asio::any_io_executor here = executor;
  for (;;) {
    std::unique_ptr<backend::ServerConnection> conn;
    {
      std::lock_guard lock(mutex_);
      if (waiters_.empty() && !paused_) conn = take_idle_locked(here);
      if (!conn) {
        bool simply_full = paused_ || (total_ >= limits.max_pool && limits.reserve_pool_size == 0);
        if (!simply_full || waiters_.size() >= kMaxWaiters) return {};
        auto ticket = std::make_shared<Ticket>(handoff, executor);
        waiters_.push_back(ticket);
        return {Lease(), std::move(ticket)};
      }
    }
    if (!still_usable(conn)) continue;
    return {hand_out(std::move(conn), here), nullptr};
  }
}

void Pool::withdraw(const std::shared_ptr<Ticket>& ticket) {
  ticket->handoff = nullptr;
  std::lock_guard lock(mutex_);
  std::erase(waiters_, std::static_pointer_cast<Waiter>(ticket));
}

Error Pool::wait_timeout_error() const {
  return make_error(sqlstate::kTooManyConnections,
                    "no server connection became available within query_wait_timeout",
                    fmt::format("All connections of pool {} are in use (max_pool), or "
                                "max_db_connections/max_user_connections is reached.",
                                name_));
}

// Opens a connection whose slot (total_ and budget) is already counted; uncounts it on failure.
awaitable<Result<std::unique_ptr<backend::ServerConnection>>> Pool::open(
    const backend::ConnectOptions& options) {
  auto opened = co_await backend::ServerConnection::connect(options);
  std::lock_guard lock(mutex_);
  last_connect_ = ConnectOutcome{Clock::now(), static_cast<bool>(opened),
                                 opened ? std::string() : describe(opened.error()),
                                 (last_connect_ ? last_connect_->failures : 0) + (opened ? 0 : 1)};
  if (!opened) {
    --total_;
    budget_->give_back(database_, user_);
    wake_locked(Wake::First);  // it may have better luck, or fail the same way quickly
    co_return opened.error();
  }
  if (!welcome_) welcome_ = (*opened)->login_parameters();
  (*opened)->touch();
  open_.push_back(opened->get());
  co_return std::move(opened.value());
}

awaitable<void> Pool::fill(PoolLimits limits) {
  for (;;) {
    std::optional<backend::ConnectOptions> options;
    {
      std::lock_guard lock(mutex_);
      if (filling_ || paused_ || !connect_options_ || total_ >= limits.min_pool_size ||
          total_ >= limits.max_pool) {
        co_return;
      }
      if (!budget_->try_take(database_, user_, limits.max_db_connections,
                             limits.max_user_connections)) {
        co_return;
      }
      ++total_;
      filling_ = true;
      options = connect_options_;
    }
    auto opened = co_await open(*options);
    {
      std::lock_guard lock(mutex_);
      filling_ = false;
    }
    if (!opened) {
      log::warn("pool {}: could not open a min_pool_size connection: {}", name_,
                opened.error().message);
      co_return;
    }
    give_back(std::move(opened.value()));
  }
}

void Pool::wake_locked(Wake which) {
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    auto waiter = *it;
    if (waiter->conn) {  // already served, not yet awake
      ++it;
      continue;
    }
    if (!waiter->timer) {
      it = waiters_.erase(it);
      asio::post(waiter->executor, [waiter] {
        if (waiter->handoff) waiter->handoff->retry();
      });
    } else {
      asio::post(waiter->executor, [waiter] { waiter->timer->cancel(); });
      ++it;
    }
    if (which == Wake::First) return;
  }
}

void Pool::give_back(std::unique_ptr<backend::ServerConnection> conn) {
  auto lifetime = std::chrono::milliseconds(lifetime_.load(std::memory_order_relaxed));
  if (lifetime.count() > 0 && coarse_now() - conn->created_at() > lifetime) {
    discard(std::move(conn));
    return;
  }
  conn->touch();
  std::unique_lock lock(mutex_);
  if (paused_) {
    lock.unlock();
    discard(std::move(conn));
    return;
  }
  auto pick = waiters_.end();
  const auto& here = conn->stream().socket().get_executor();
  for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
    const auto& waiter = *it;
    if (waiter->conn) continue;  // already served, not yet awake
    if (pick == waiters_.end()) {
      pick = it;
      if (coarse_now() - waiter->since >= kLocalHandOffBound) break;
    }
    if (waiter->executor == here) {
      pick = it;
      break;
    }
  }
  if (pick == waiters_.end()) {
    conn->leave_loop();
    idle_.push_back(std::move(conn));
    return;
  }
  std::shared_ptr<Waiter> chosen = *pick;
  if (chosen->timer) {
    conn->leave_loop();
    chosen->conn = std::move(conn);
    asio::post(chosen->executor, [chosen] { chosen->timer->cancel(); });
    return;
  }
  waiters_.erase(pick);
  lock.unlock();
  if (static_cast<Ticket&>(*chosen).loop.running_in_this_thread()) {
    // No hop needed, and the socket may keep its place in this worker's event loop.
    hand_over(chosen, std::move(conn));
    return;
  }
  conn->leave_loop();
  asio::post(chosen->executor, [self = shared_from_this(), chosen, c = std::move(conn)]() mutable {
    self->hand_over(chosen, std::move(c));
  });
}

void Pool::hand_over(const std::shared_ptr<Waiter>& waiter,
                     std::unique_ptr<backend::ServerConnection> conn) {
  if (!waiter->handoff) {  // withdrawn meanwhile
    give_back(std::move(conn));
    return;
  }
  stats_.add_wait(
      std::chrono::duration_cast<std::chrono::microseconds>(coarse_now() - waiter->since));
  waiter->handoff->take(hand_out(std::move(conn), waiter->executor));
}

void Pool::discard(std::unique_ptr<backend::ServerConnection> conn) {
  {
    std::lock_guard lock(mutex_);
    std::erase(open_, conn.get());
  }
  conn->leave_loop();
  conn->stream().close();
  conn.reset();
  std::lock_guard lock(mutex_);
  --total_;
  budget_->give_back(database_, user_);
  wake_locked(Wake::First);
}

void Pool::set_paused(bool paused) {
  std::deque<std::unique_ptr<backend::ServerConnection>> closing;
  {
    std::lock_guard lock(mutex_);
    paused_ = paused;
    if (paused) {
      closing.swap(idle_);
    } else {
      wake_locked(Wake::All);
    }
  }
  for (auto& conn : closing) discard(std::move(conn));
}

bool Pool::close_one_idle() {
  std::unique_ptr<backend::ServerConnection> conn;
  {
    std::lock_guard lock(mutex_);
    if (idle_.empty()) return false;
    conn = std::move(idle_.front());  // the least recently used
    idle_.pop_front();
  }
  discard(std::move(conn));
  return true;
}

void Pool::close_expired(std::chrono::milliseconds idle_timeout,
                         std::chrono::milliseconds lifetime) {
  set_lifetime(lifetime);
  auto now = coarse_now();
  std::vector<std::unique_ptr<backend::ServerConnection>> expired;
  {
    std::lock_guard lock(mutex_);
    for (auto it = idle_.begin(); it != idle_.end();) {
      bool idle_too_long = idle_timeout.count() > 0 && now - (*it)->last_used() > idle_timeout;
      bool too_old = lifetime.count() > 0 && now - (*it)->created_at() > lifetime;
      if (idle_too_long || too_old) {
        expired.push_back(std::move(*it));
        it = idle_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& conn : expired) discard(std::move(conn));
}

Pool::Counts Pool::counts() {
  std::lock_guard lock(mutex_);
  int idle = static_cast<int>(idle_.size());
  return Counts{total_ - idle, idle, static_cast<int>(waiters_.size())};
}

std::vector<Pool::ServerRow> Pool::servers() {
  std::lock_guard lock(mutex_);
  std::vector<ServerRow> rows;
  rows.reserve(open_.size());
  for (const auto* conn : open_) {
    bool idle =
        std::any_of(idle_.begin(), idle_.end(), [&](const auto& c) { return c.get() == conn; });
    // Fixed at login, so safe to read while another thread relays through the connection.
    rows.push_back({conn->id(), conn->process_id(), conn->address(), conn->created_at(), idle,
                    conn->is_tls()});
  }
  return rows;
}

std::optional<Pool::ConnectOutcome> Pool::last_connect() {
  std::lock_guard lock(mutex_);
  return last_connect_;
}

std::optional<protocol::Parameters> Pool::welcome_parameters() {
  std::lock_guard lock(mutex_);
  return welcome_;
}

std::shared_ptr<const protocol::Parameters> Pool::shared_parameters(protocol::Parameters values) {
  std::lock_guard lock(mutex_);
  if (!shared_parameters_ || *shared_parameters_ != values) {
    shared_parameters_ = std::make_shared<const protocol::Parameters>(std::move(values));
  }
  return shared_parameters_;
}

}  // namespace pgb::pool
