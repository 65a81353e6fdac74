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

  // When the events being dispatched were collected: one clock read per wake-up serves every
  // handler's timing (the statistics' query times), as pgbouncer's cached time does.
  // Outside dispatching (a coroutine resumed), it may be old: check dispatching() first.
  const Clock::time_point& woken_at() const { return woken_at_; }
  bool dispatching() const { return dispatching_; }

  // epoll_ctl ADD/MOD/DEL; tag < 8. Return false (errno set) on failure.
  bool watch(int fd, std::uint32_t events, Handler& handler, unsigned tag);
  bool change(int fd, std::uint32_t events, Handler& handler, unsigned tag);
  void unwatch(int fd);

  // A descriptor handed from one handler of this loop to another (a server connection going
  // from one pooled client to the next on the same worker) keeps its place in the epoll set:
  // the hand-over is a pointer change instead of an epoll_ctl DEL and ADD. The loop owns the
  // Watch; whoever holds the descriptor keeps a pointer to it.
  class Watch;
  // Watches `fd` for `to`, through `current` if it is one of this loop's (then without a
  // system call when the events are unchanged), else through a new Watch. Null (errno set)
  // if epoll refuses the descriptor.
  Watch* watch(Watch* current, int fd, std::uint32_t events, Handler& to, unsigned tag);
  bool change(Watch& watch, std::uint32_t events);
  // Nobody's until the next watch() takes it over (in the same batch: otherwise forget it).
  void let_go(Watch& watch);
  // Out of the set; the Watch is freed once the current batch is done.
  void forget(Watch& watch);

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
  void bury_later(Handler& handler);

  boost::asio::io_context& context_;
  std::unique_ptr<Impl> impl_;  // the Asio objects
  int epoll_fd_ = -1;
  Handler* first_ = nullptr;
  std::size_t owned_ = 0;
  bool dispatching_ = false;
  Clock::time_point woken_at_ = Clock::now();
  bool ticking_ = false;
  std::vector<Handler*> graveyard_;
};

class EventLoop::Watch final : public EventLoop::Handler {
 public:
  EventLoop& loop() const { return loop_; }
  bool in_set() const { return in_set_; }

 private:
  friend class EventLoop;
  Watch(EventLoop& loop, int fd) : loop_(loop), fd_(fd) {}
  void on_ready(std::uint32_t events, unsigned) override;

  EventLoop& loop_;
  const int fd_;
  std::uint32_t events_ = 0;
  bool in_set_ = false;
  Handler* to_ = nullptr;
  unsigned tag_ = 0;
};

}  // namespace pgb::net
