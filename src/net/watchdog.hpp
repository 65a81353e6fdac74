// A deadline for a sequence of network operations: when it passes, `on_expire` runs (it
// closes the stream, which makes every pending operation fail), unless disarmed first.
#pragma once

#include "net/asio.hpp"

#include <chrono>
#include <functional>
#include <memory>

namespace pgb::net {

class Watchdog {
 public:
  // The executor must be the one the guarded operations run on, so `on_expire` never races them.
  Watchdog(asio::any_io_executor executor, std::chrono::milliseconds timeout,
           std::function<void()> on_expire)
      : state_(std::make_shared<State>(executor, std::move(on_expire))) {
    state_->timer.expires_after(timeout);
    state_->timer.async_wait([s = state_](error_code ec) {
      if (ec || s->disarmed) return;
      s->fired = true;
      s->on_expire();
    });
  }
  ~Watchdog() { disarm(); }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  void disarm() {
    state_->disarmed = true;
    state_->timer.cancel();
  }
  bool fired() const { return state_->fired; }

 private:
  struct State {
    State(asio::any_io_executor ex, std::function<void()> fn)
        : timer(ex), on_expire(std::move(fn)) {}
    asio::steady_timer timer;
    std::function<void()> on_expire;
    bool disarmed = false;
    bool fired = false;
  };
  std::shared_ptr<State> state_;
};

}  // namespace pgb::net
