// Accepts client connections on one address and starts a session for each on a worker.
#pragma once

#include "frontend/shared_state.hpp"
#include "net/asio.hpp"

#include <atomic>
#include <memory>
#include <vector>

namespace pgb::app {

// The worker io_contexts, one thread each. A session stays on the worker it was given, so
// its I/O never crosses threads; new sessions go round-robin.
class Workers {
 public:
  explicit Workers(unsigned count);
  asio::io_context& next();
  asio::io_context& at(std::size_t i) { return *contexts_[i]; }
  std::size_t size() const { return contexts_.size(); }

 private:
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::atomic<std::size_t> next_{0};
};

awaitable<void> accept_loop(tcp::acceptor& acceptor, Workers& workers,
                            frontend::SharedState& shared);

}  // namespace pgb::app
