// Accept loop.
#include "app/listener.hpp"

#include "common/log.hpp"
#include "frontend/client_session.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>

namespace pgb::app {

awaitable<void> accept_loop(tcp::acceptor& acceptor, frontend::SharedState& shared) {
  auto executor = co_await asio::this_coro::executor;
  for (;;) {
    // Each session gets a strand: its two relay directions never run at the same time,
    // while different sessions spread over all worker threads.
    auto strand = asio::make_strand(acceptor.get_executor());
    auto [ec, socket] = co_await acceptor.async_accept(strand, use_nothrow);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // EMFILE and friends: back off instead of spinning, as pgbouncer does.
      log::warn("accept failed: {}", ec.message());
      asio::steady_timer pause(executor, std::chrono::milliseconds(100));
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    asio::co_spawn(strand, frontend::run_client_session(std::move(socket), shared), [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        log::error("client session ended with an internal error: {}", ex.what());
      }
    });
  }
}

}  // namespace pgb::app
