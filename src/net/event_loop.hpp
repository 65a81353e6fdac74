// Readiness callbacks on a worker's own epoll set, for the hottest path (the transaction-mode
// relay): no coroutine frame, operation object, executor copy or speculative read per I/O,
// level-triggered so a handler reads exactly when there is something to read.
//
// One loop per worker io_context, nested in it: the epoll descriptor is itself watched by
// Asio, and each time it becomes readable the loop takes a batch of events. Everything
// else on the worker (logins, timers, connecting to PostgreSQL) stays on Asio, on the same
// thread, so a handler may start coroutines and be called back from them without locking.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace pgb::net {

class EventLoop {
 public:
  using Clock = std::chrono::steady_clock;
  // How often owned handlers get on_tick, with coarse_now() (their timeouts are checked then).
  static constexpr std::chrono::milliseconds kTickPeriod{100};

  class Handler {
   public:
    virtual ~Handler() = default;
    // `tag` says which of the handler's descriptors is ready (it chose it in watch()).
    virtual void on_ready(std::uint32_t events, unsigned tag) = 0;
    virtual void on_tick(Clock::time_point) {}

   private:
    friend class EventLoop;
    Handler* prev_ = nullptr;  // the loop's list of handlers it owns
    Handler* next_ = nullptr;
    bool retired_ = false;
  };

  // The loop of `context` (made on first use). Must be called on the context's thread.
  static EventLoop& of(boost::asio::io_context& context);

  explicit EventLoop(boost::asio::io_context& context);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // epoll_ctl ADD/MOD/DEL; tag < 8. Return false (errno set) on failure.
  bool watch(int fd, std::uint32_t events, Handler& handler, unsigned tag);
  bool change(int fd, std::uint32_t events, Handler& handler, unsigned tag);
  void unwatch(int fd);

  // The loop owns the handler from now on, and ticks it.
  void adopt(std::unique_ptr<Handler> handler);
  // Ends an owned handler: it gets no more events or ticks and is deleted once the current
  // batch of events is done (a later event of the batch may still name it).
  void retire(Handler& handler);
  std::size_t owned() const { return owned_; }

  boost::asio::io_context& context() { return context_; }

 private:
  struct Impl;
  void arm();
  void run_batch();
  void tick();
  void bury();

  boost::asio::io_context& context_;
  std::unique_ptr<Impl> impl_;  // the Asio objects
  int epoll_fd_ = -1;
  Handler* first_ = nullptr;
  std::size_t owned_ = 0;
  bool dispatching_ = false;
  bool ticking_ = false;
  std::vector<Handler*> graveyard_;
};

}  // namespace pgb::net
