// Pool: idle list, slot accounting and the FIFO wait queue.
#include "pool/pool.hpp"

#include "common/log.hpp"
#include "common/sqlstate.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

namespace pgb::pool {

// A client blocked in acquire(). Whoever frees a connection or a slot fills in `conn` or
// `slot` under the pool mutex, then cancels the timer on the waiter's own executor.
struct Pool::Waiter {
  explicit Waiter(asio::any_io_executor ex) : timer(ex) {}
  asio::steady_timer timer;
  std::unique_ptr<backend::ServerConnection> conn;
  bool slot = false;  // permission to open a new connection, counted in total_ already
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

std::unique_ptr<backend::ServerConnection> Pool::take_idle_locked() {
  if (idle_.empty()) return nullptr;
  auto conn = std::move(idle_.back());
  idle_.pop_back();
  return conn;
}

awaitable<Result<Lease>> Pool::acquire(int max_pool, Clock::time_point deadline,
                                       const Connector& connect) {
  auto self = shared_from_this();
  auto executor = co_await asio::this_coro::executor;
  for (;;) {
    std::unique_ptr<backend::ServerConnection> conn;
    std::shared_ptr<Waiter> waiter;
    {
      std::lock_guard lock(mutex_);
      max_pool_ = max_pool;
      conn = take_idle_locked();
      if (!conn && total_ < max_pool_) {
        ++total_;  // a slot for the connection opened below
      } else if (!conn) {
        if (waiters_.size() >= kMaxWaiters) {
          co_return make_error(sqlstate::kTooManyConnections,
                               "too many clients waiting for a server connection");
        }
        waiter = std::make_shared<Waiter>(executor);
        waiter->timer.expires_at(deadline);
        waiters_.push_back(waiter);
      }
    }

    if (waiter) {
      co_await waiter->timer.async_wait(use_nothrow);
      std::lock_guard lock(mutex_);
      if (waiter->conn) {
        conn = std::move(waiter->conn);
      } else if (!waiter->slot) {
        std::erase(waiters_, waiter);
        co_return make_error(
            sqlstate::kTooManyConnections,
            "no server connection became available within query_wait_timeout",
            fmt::format("All {} connections of pool {} are in use (max_pool).", max_pool_, name_));
      }
    }

    if (conn) {
      // An idle connection that has input waiting was closed by the server or sent
      // something unsolicited: either way it is not in the state we left it in.
      if (conn->stream().has_pending_input()) {
        log::info("closing idle server connection {}:{} pid {}: closed or unexpected data",
                  conn->address().host, conn->address().port, conn->process_id());
        discard(std::move(conn));
        continue;
      }
      conn->touch();
      conn->stream().rebind(executor);
      co_return Lease(self, std::move(conn));
    }

    auto opened = co_await connect();
    if (!opened) {
      // The next waiter gets the slot: it may have better luck, or fail the same way quickly.
      std::lock_guard lock(mutex_);
      free_slot_locked();
      co_return opened.error();
    }
    (*opened)->touch();
    {
      std::lock_guard lock(mutex_);
      if (!welcome_) welcome_ = (*opened)->login_parameters();
    }
    co_return Lease(self, std::move(opened.value()));
  }
}

void Pool::wake(const std::shared_ptr<Waiter>& waiter) {
  asio::post(waiter->timer.get_executor(), [waiter] { waiter->timer.cancel(); });
}

void Pool::give_back(std::unique_ptr<backend::ServerConnection> conn) {
  auto lifetime = std::chrono::milliseconds(lifetime_.load(std::memory_order_relaxed));
  if (lifetime.count() > 0 && Clock::now() - conn->created_at() > lifetime) {
    discard(std::move(conn));
    return;
  }
  conn->touch();
  std::lock_guard lock(mutex_);
  if (!waiters_.empty()) {
    auto next = waiters_.front();
    waiters_.pop_front();
    next->conn = std::move(conn);
    wake(next);
    return;
  }
  idle_.push_back(std::move(conn));
}

void Pool::discard(std::unique_ptr<backend::ServerConnection> conn) {
  conn->stream().close();
  conn.reset();
  std::lock_guard lock(mutex_);
  free_slot_locked();
}

void Pool::free_slot_locked() {
  --total_;
  if (!waiters_.empty() && total_ < max_pool_) {
    auto next = waiters_.front();
    waiters_.pop_front();
    ++total_;
    next->slot = true;
    wake(next);
  }
}

void Pool::close_expired(std::chrono::milliseconds idle_timeout,
                         std::chrono::milliseconds lifetime) {
  set_lifetime(lifetime);
  auto now = Clock::now();
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

std::optional<protocol::Parameters> Pool::welcome_parameters() {
  std::lock_guard lock(mutex_);
  return welcome_;
}

PoolStats Pool::stats() {
  std::lock_guard lock(mutex_);
  return PoolStats{static_cast<int>(idle_.size()), total_, static_cast<int>(waiters_.size())};
}

}  // namespace pgb::pool
