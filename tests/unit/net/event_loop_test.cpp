#include "net/event_loop.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>

namespace pgb::net {
namespace {

using namespace std::chrono_literals;

struct Pair {
  Pair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0); }
  ~Pair() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  int fds[2];
};

struct Recorder : EventLoop::Handler {
  std::function<void(std::uint32_t, unsigned)> ready;
  int ticks = 0;
  bool* destroyed = nullptr;
  ~Recorder() override {
    if (destroyed) *destroyed = true;
  }
  void on_ready(std::uint32_t events, unsigned tag) override { ready(events, tag); }
  void on_tick(EventLoop::Clock::time_point) override { ++ticks; }
};

TEST(EventLoop, OneLoopPerContext) {
  boost::asio::io_context a, b;
  EXPECT_EQ(&EventLoop::of(a), &EventLoop::of(a));
  EXPECT_NE(&EventLoop::of(a), &EventLoop::of(b));
}

TEST(EventLoop, CallsTheHandlerWithItsTagUntilTheInputIsRead) {
  boost::asio::io_context context;
  auto& loop = EventLoop::of(context);
  Pair pair;
  Recorder handler;
  int calls = 0;
  handler.ready = [&](std::uint32_t events, unsigned tag) {
    EXPECT_TRUE(events & EPOLLIN);
    EXPECT_EQ(tag, 5u);
    if (++calls == 3) {  // level-triggered: unread input is reported again
      char c;
      EXPECT_EQ(::read(pair.fds[0], &c, 1), 1);
    }
  };
  ASSERT_TRUE(loop.watch(pair.fds[0], EPOLLIN, handler, 5));
  context.run_for(50ms);
  EXPECT_EQ(calls, 0);
  ASSERT_EQ(::write(pair.fds[1], "x", 1), 1);
  context.run_for(100ms);
  EXPECT_EQ(calls, 3);
  loop.unwatch(pair.fds[0]);
}

TEST(EventLoop, ChangeAndUnwatchStopTheCalls) {
  boost::asio::io_context context;
  auto& loop = EventLoop::of(context);
  Pair pair;
  Recorder handler;
  int calls = 0;
  handler.ready = [&](std::uint32_t, unsigned) { ++calls; };
  ASSERT_TRUE(loop.watch(pair.fds[0], EPOLLIN, handler, 0));
  ASSERT_TRUE(loop.change(pair.fds[0], 0, handler, 0));
  ASSERT_EQ(::write(pair.fds[1], "x", 1), 1);
  context.run_for(50ms);
  EXPECT_EQ(calls, 0);
  ASSERT_TRUE(loop.change(pair.fds[0], EPOLLOUT, handler, 0));
  context.run_for(20ms);
  EXPECT_GT(calls, 0);  // writable
  loop.unwatch(pair.fds[0]);
  calls = 0;
  context.run_for(20ms);
  EXPECT_EQ(calls, 0);
}

TEST(EventLoop, ARetiredHandlerGetsNoMoreEventsAndGoesAfterTheBatch) {
  boost::asio::io_context context;
  auto& loop = EventLoop::of(context);
  Pair first, second;
  bool destroyed = false;
  auto owned = std::make_unique<Recorder>();
  Recorder& handler = *owned;
  handler.destroyed = &destroyed;
  int calls = 0;
  handler.ready = [&](std::uint32_t, unsigned) {
    ++calls;
    EXPECT_FALSE(destroyed);
    loop.unwatch(first.fds[0]);
    loop.unwatch(second.fds[0]);
    loop.retire(handler);
  };
  ASSERT_TRUE(loop.watch(first.fds[0], EPOLLIN, handler, 0));
  ASSERT_TRUE(loop.watch(second.fds[0], EPOLLIN, handler, 1));
  loop.adopt(std::move(owned));
  EXPECT_EQ(loop.owned(), 1u);
  ASSERT_EQ(::write(first.fds[1], "x", 1), 1);
  ASSERT_EQ(::write(second.fds[1], "x", 1), 1);  // both in one batch
  context.run_for(50ms);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(destroyed);
  EXPECT_EQ(loop.owned(), 0u);
}

TEST(EventLoop, RetiredOutsideABatchItIsDeletedLater) {
  boost::asio::io_context context;
  auto& loop = EventLoop::of(context);
  bool destroyed = false;
  auto owned = std::make_unique<Recorder>();
  Recorder& handler = *owned;
  handler.destroyed = &destroyed;
  loop.adopt(std::move(owned));
  loop.retire(handler);
  EXPECT_FALSE(destroyed);  // the caller may still be inside it
  context.run_for(20ms);
  EXPECT_TRUE(destroyed);
}

TEST(EventLoop, AWatchPassesBetweenHandlersOfTheLoop) {
  boost::asio::io_context context;
  auto& loop = EventLoop::of(context);
  Pair pair;
  Recorder first, second;
  int first_calls = 0, second_calls = 0;
  unsigned second_tag = 0;
  first.ready = [&](std::uint32_t, unsigned) { ++first_calls; };
  second.ready = [&](std::uint32_t, unsigned tag) {
    ++second_calls;
    second_tag = tag;
    char c;
    EXPECT_EQ(::read(pair.fds[0], &c, 1), 1);
  };
  auto* watch = loop.watch(nullptr, pair.fds[0], EPOLLIN, first, 1);
  ASSERT_NE(watch, nullptr);
  EXPECT_EQ(&watch->loop(), &loop);
  loop.let_go(*watch);
  EXPECT_EQ(loop.watch(watch, pair.fds[0], EPOLLIN, second, 3), watch);  // the same one
  ASSERT_EQ(::write(pair.fds[1], "x", 1), 1);
  context.run_for(50ms);
  EXPECT_EQ(first_calls, 0);
  EXPECT_EQ(second_calls, 1);
  EXPECT_EQ(second_tag, 3u);
  loop.forget(*watch);
  ASSERT_EQ(::write(pair.fds[1], "y", 1), 1);
  context.run_for(50ms);
  EXPECT_EQ(second_calls, 1);  // out of the set
}

TEST(EventLoop, AWatchLetGoAndNotTakenOverStopsReporting) {
  boost::asio::io_context context;
  auto& loop = EventLoop::of(context);
  Pair pair;
  Recorder handler;
  int calls = 0;
  handler.ready = [&](std::uint32_t, unsigned) { ++calls; };
  auto* watch = loop.watch(nullptr, pair.fds[0], EPOLLIN, handler, 0);
  ASSERT_NE(watch, nullptr);
  loop.let_go(*watch);
  ASSERT_EQ(::write(pair.fds[1], "x", 1), 1);  // unread: level-triggered would spin
  context.run_for(50ms);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(loop.watch(watch, pair.fds[0], EPOLLIN, handler, 0), watch);  // back in the set
  context.run_for(20ms);
  EXPECT_GT(calls, 0);
  loop.forget(*watch);
  context.run_for(20ms);
}

TEST(EventLoop, AWatchLetGoIgnoresAHangUp) {
  boost::asio::io_context context;
  auto& loop = EventLoop::of(context);
  Pair pair;
  Recorder handler;
  int calls = 0;
  handler.ready = [&](std::uint32_t, unsigned) { ++calls; };
  auto* watch = loop.watch(nullptr, pair.fds[0], 0, handler, 0);  // even with no events asked,
  ASSERT_NE(watch, nullptr);                                      // a hang-up is reported
  loop.let_go(*watch);
  ::shutdown(pair.fds[1], SHUT_RDWR);
  ::shutdown(pair.fds[0], SHUT_WR);
  context.run_for(50ms);
  EXPECT_EQ(calls, 0);
  EXPECT_FALSE(watch->in_set());  // it would be reported again and again
  loop.forget(*watch);
  context.run_for(20ms);
}

TEST(EventLoop, TicksOwnedHandlers) {
  boost::asio::io_context context;
  auto& loop = EventLoop::of(context);
  auto owned = std::make_unique<Recorder>();
  Recorder& handler = *owned;
  loop.adopt(std::move(owned));
  context.run_for(EventLoop::kTickPeriod * 3 + 50ms);
  EXPECT_GE(handler.ticks, 2);
  EXPECT_LE(handler.ticks, 4);
  loop.retire(handler);
  context.run_for(20ms);
}

}  // namespace
}  // namespace pgb::net
