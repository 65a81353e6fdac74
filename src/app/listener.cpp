// Accept loop.
#include "app/listener.hpp"

#include "common/log.hpp"
#include "frontend/client_session.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

namespace pgb::app {

Workers::Workers(unsigned count) {
  for (unsigned i = 0; i < count; ++i) {
    // Concurrency hint 1: each io_context is run by exactly one thread (posting from others is
    // still safe).
    contexts_.push_back(std::make_unique<asio::io_context>(1));
  }
}

asio::io_context& Workers::next() {
  return *contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()];
}

awaitable<void> accept_loop(tcp::acceptor& acceptor, Workers& workers,
                            frontend::SharedState& shared) {
  auto executor = co_await asio::this_coro::executor;
  for (;;) {
    auto& worker = workers.next();
    auto [ec, socket] = co_await acceptor.async_accept(worker, use_nothrow);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // EMFILE and friends: back off instead of spinning, as pgbouncer does.
      log::warn("accept failed: {}", ec.message());
      asio::steady_timer pause(executor, std::chrono::milliseconds(100));
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    frontend::start_client_session(std::move(socket), shared);
  }
}

}  // namespace pgb::app
