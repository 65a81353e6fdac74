// The worker's epoll set, nested in its io_context.
#include "net/event_loop.hpp"

#include "common/coarse_clock.hpp"
#include "common/log.hpp"
#include "net/asio.hpp"

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace pgb::net {
namespace {

// Events taken per epoll_wait; after this many full batches in a row, Asio gets a turn.
constexpr int kBatch = 64;
constexpr int kBatchesPerTurn = 4;

// Makes one EventLoop per io_context, found through Asio's service registry.
struct LoopService : asio::execution_context::service {
  using key_type = LoopService;
  static inline asio::execution_context::id id;
  explicit LoopService(asio::io_context& context)
      : asio::execution_context::service(context), loop(context) {}
  void shutdown() override {}
  EventLoop loop;
};

epoll_event event_for(std::uint32_t events, EventLoop::Handler& handler, unsigned tag) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = reinterpret_cast<std::uintptr_t>(&handler) | tag;
  return ev;
}

}  // namespace

struct EventLoop::Impl {
  explicit Impl(asio::io_context& context) : descriptor(context), ticker(context) {}
  asio::posix::stream_descriptor descriptor;
  asio::steady_timer ticker;
};

EventLoop& EventLoop::of(asio::io_context& context) {
  return asio::use_service<LoopService>(context).loop;
}

EventLoop::EventLoop(asio::io_context& context)
    : context_(context), impl_(std::make_unique<Impl>(context)) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + strerror(errno));
  impl_->descriptor.assign(epoll_fd_);
  arm();
}

EventLoop::~EventLoop() {
  // At process exit only (the daemon is never destroyed); handlers still owned go with it.
  error_code ignored;
  impl_->descriptor.close(ignored);
  while (first_) {
    Handler* h = first_;
    first_ = h->next_;
    delete h;
  }
  bury();
}

void EventLoop::arm() {
  impl_->descriptor.async_wait(asio::posix::stream_descriptor::wait_read, [this](error_code ec) {
    if (!ec) run_batch();
  });
}

void EventLoop::run_batch() {
  std::array<epoll_event, kBatch> events;
  for (int round = 0; round < kBatchesPerTurn; ++round) {
    int n = ::epoll_wait(epoll_fd_, events.data(), kBatch, 0);
    if (n < 0 && errno != EINTR) {
      log::error("epoll_wait failed: {}", strerror(errno));
      break;
    }
    if (n > 0) woken_at_ = Clock::now();
    dispatching_ = true;
    for (int i = 0; i < n; ++i) {
      auto data = events[i].data.u64;
      auto* handler = reinterpret_cast<Handler*>(data & ~std::uintptr_t{7});
      if (!handler->retired_) handler->on_ready(events[i].events, static_cast<unsigned>(data & 7));
    }
    dispatching_ = false;
    bury();
    if (n < kBatch) {
      arm();  // Asio re-checks readiness when it re-registers: nothing that came meanwhile is lost
      return;
    }
  }
  // Still busy: let the rest of the worker's work run, then carry on.
  asio::post(context_, [this] { run_batch(); });
}

bool EventLoop::watch(int fd, std::uint32_t events, Handler& handler, unsigned tag) {
  auto ev = event_for(events, handler, tag);
  return ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

bool EventLoop::change(int fd, std::uint32_t events, Handler& handler, unsigned tag) {
  auto ev = event_for(events, handler, tag);
  return ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) == 0;
}

void EventLoop::unwatch(int fd) {
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
}

EventLoop::Watch* EventLoop::watch(Watch* current, int fd, std::uint32_t events, Handler& to,
                                   unsigned tag) {
  const bool ours = current && &current->loop_ == this && current->fd_ == fd;
  // A watch of another loop cannot be taken over from this thread; Pool takes a connection out
  // of its loop before it changes threads, so there is none.
  if (current && !ours)
    log::error("event loop: descriptor {} is still watched by another loop", fd);
  Watch* w = ours ? current : new Watch(*this, fd);
  w->to_ = &to;
  w->tag_ = tag;
  if (w->in_set_) return change(*w, events) ? w : nullptr;
  if (!watch(fd, events, *w, 0)) {
    if (!ours) delete w;
    return nullptr;
  }
  w->in_set_ = true;
  w->events_ = events;
  return w;
}

bool EventLoop::change(Watch& w, std::uint32_t events) {
  if (events == w.events_ || !w.in_set_) return w.in_set_;
  if (!change(w.fd_, events, w, 0)) return false;
  w.events_ = events;
  return true;
}

void EventLoop::let_go(Watch& w) {
  w.to_ = nullptr;
}

void EventLoop::forget(Watch& w) {
  if (w.in_set_) unwatch(w.fd_);
  w.retired_ = true;
  bury_later(w);
}

void EventLoop::Watch::on_ready(std::uint32_t events, unsigned) {
  if (to_) {
    to_->on_ready(events, tag_);
  } else {  // let go and not taken over: out of the set, or it would fire again (a hang-up
    loop_.unwatch(fd_);  // is reported whatever the events asked for)
    in_set_ = false;
  }
}

void EventLoop::adopt(std::unique_ptr<Handler> handler) {
  Handler* h = handler.release();
  h->next_ = first_;
  if (first_) first_->prev_ = h;
  first_ = h;
  ++owned_;
  if (!ticking_) {
    ticking_ = true;
    tick();
  }
}

void EventLoop::retire(Handler& h) {
  if (h.retired_) return;
  h.retired_ = true;
  if (h.prev_) h.prev_->next_ = h.next_;
  if (h.next_) h.next_->prev_ = h.prev_;
  if (first_ == &h) first_ = h.next_;
  h.prev_ = h.next_ = nullptr;
  --owned_;
  bury_later(h);
}

void EventLoop::bury_later(Handler& h) {
  graveyard_.push_back(&h);
  // Outside a batch (a coroutine ended it), the caller may still be inside the handler.
  if (!dispatching_ && graveyard_.size() == 1) asio::post(context_, [this] { bury(); });
}

void EventLoop::bury() {
  auto dead = std::move(graveyard_);
  graveyard_.clear();
  for (Handler* h : dead) delete h;
}

void EventLoop::tick() {
  impl_->ticker.expires_after(kTickPeriod);
  impl_->ticker.async_wait([this](error_code ec) {
    if (ec) return;
    if (owned_ == 0) {
      ticking_ = false;
      return;
    }
    auto now = coarse_now();
    woken_at_ = Clock::now();
    dispatching_ = true;
    for (Handler* h = first_; h;) {
      Handler* next = h->next_;  // on_tick may retire h (not others)
      h->on_tick(now);
      h = next;
    }
    dispatching_ = false;
    bury();
    tick();
  });
}

}  // namespace pgb::net
