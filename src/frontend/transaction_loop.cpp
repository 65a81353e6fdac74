// Transaction and statement pooling for plain-TCP clients, driven by readiness callbacks.
//
// A client between transactions is a LoopClient whose socket sits in the worker's epoll set
// with no buffer. When its next request arrives it takes an idle server connection straight
// from the pool (the slow cases, waiting for one or connecting or bringing parameters in line,
// run as a coroutine and call back), and the two sockets are relayed with plain recv/send
// calls: one read and one write per burst each way, payloads never copied, output the socket
// does not take kept until it becomes writable. The protocol rules are relay_rules.cpp's, the
// same the coroutine relay applies.
#include "frontend/transaction_loop.hpp"

#include "common/coarse_clock.hpp"
#include "common/log.hpp"
#include "frontend/relay_rules.hpp"
#include "net/event_loop.hpp"
#include "protocol/codes.hpp"
#include "protocol/frame_scanner.hpp"
#include "protocol/messages.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace pgb::frontend {
namespace {

using protocol::ScanStatus;
using Clock = std::chrono::steady_clock;

constexpr unsigned kClientTag = 0;
constexpr unsigned kServerTag = 1;
constexpr std::uint32_t kReadable = EPOLLIN;
constexpr std::uint32_t kWritable = EPOLLOUT;
constexpr std::uint32_t kHangup = EPOLLHUP | EPOLLERR;
constexpr std::uint32_t kClientReadable = EPOLLIN | EPOLLRDHUP;
constexpr std::uint32_t kNothing = 0;

// Relay buffers of clients between transactions, kept for the next active one on this thread
// (an idle client holds none).
constexpr std::size_t kSpareBuffers = 64;
thread_local std::vector<ByteBuffer> spare_buffers;

ByteBuffer take_buffer() {
  if (spare_buffers.empty()) return ByteBuffer(backend::kRelayBufferSize);
  ByteBuffer b = std::move(spare_buffers.back());
  spare_buffers.pop_back();
  return b;
}

void give_buffer(ByteBuffer& b) {
  if (!b.empty()) return;
  if (b.capacity() == backend::kRelayBufferSize && spare_buffers.size() < kSpareBuffers) {
    spare_buffers.push_back(std::move(b));
  }
  b = ByteBuffer(0);  // a larger one (a big Parse grew it) is not kept either
}

// Edits and the iovecs that send them: used and cleared within one callback, so one per thread.
thread_local protocol::Splice edits;
thread_local std::vector<iovec> pieces;

// Sends `data` with `edits` applied, as far as the socket takes it; the rest is appended to
// `rest`. Returns false if the peer is gone.
bool send_edited(int fd, std::string_view data, const protocol::Splice& splice, std::string& rest) {
  pieces.clear();
  if (splice.empty()) {
    pieces.push_back({const_cast<char*>(data.data()), data.size()});
  } else {
    splice.for_each_piece(data, [](std::string_view p) {
      pieces.push_back({const_cast<char*>(p.data()), p.size()});
    });
  }
  std::size_t sent = 0;
  if (rest.empty()) {
    msghdr msg{};
    msg.msg_iov = pieces.data();
    msg.msg_iovlen = pieces.size();
    ssize_t n = pieces.size() == 1
                    ? ::send(fd, pieces[0].iov_base, pieces[0].iov_len, MSG_NOSIGNAL | MSG_DONTWAIT)
                    : ::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
    sent = n < 0 ? 0 : static_cast<std::size_t>(n);
  }
  for (const auto& p : pieces) {  // what the socket did not take, in order
    if (sent >= p.iov_len) {
      sent -= p.iov_len;
      continue;
    }
    rest.append(static_cast<const char*>(p.iov_base) + sent, p.iov_len - sent);
    sent = 0;
  }
  return true;
}

// Sends what is left of `rest`; false if the peer is gone.
bool flush(int fd, std::string& rest) {
  ssize_t n = ::send(fd, rest.data(), rest.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  rest.erase(0, static_cast<std::size_t>(n));
  return true;
}

awaitable<void> cancel_query(backend::BackendAddress address, std::int32_t process_id,
                             std::int32_t secret_key, std::chrono::milliseconds timeout) {
  co_await backend::send_cancel(address, process_id, secret_key, timeout);
}

class LoopClient final : public net::EventLoop::Handler, public pool::Handoff {
 public:
  LoopClient(net::EventLoop& loop, int fd, TransactionSession session, ByteBuffer pending)
      : loop_(loop), fd_(fd), s_(std::move(session)), in_(std::move(pending)) {}
  ~LoopClient() override { ::close(fd_); }

  void start() {
    if (!loop_.watch(fd_, kClientReadable, *this, kClientTag)) {
      end(std::nullopt, "could not watch the client socket");
      return;
    }
    client_events_ = kClientReadable;
    if (in_.empty()) {
      give_buffer(in_);
    } else {
      begin_transaction();
    }
  }

  void on_ready(std::uint32_t events, unsigned tag) override {
    if (tag == kClientTag) {
      if (events & EPOLLOUT) flush_to_client();
      if (!ended_ && (events & (kClientReadable | kHangup))) on_client_input(events);
    } else {
      if (events & EPOLLOUT) flush_to_server();
      if (ended_) return;
      if ((events & EPOLLIN) || ((events & kHangup) && to_client_.empty())) {
        on_server_input();
      } else if (events & kHangup) {  // reported even while not reading: it would come again
        server_closed();
      }
    }
  }

  void on_tick(Clock::time_point now) override {
    if (state_ == State::Leasing) return;
    if (state_ == State::Queued) {
      if (now >= wait_deadline_) end(s_.pool->wait_timeout_error(), "no server connection");
      return;
    }
    auto timeout =
        state_ == State::Idle ? s_.relay_options.client_idle_timeout : rules_->idle_timeout();
    if (timeout.count() == 0 || now - last_activity_ < timeout) return;
    char status = state_ == State::Idle ? 'I' : rules_->transaction_status;
    client_leaves(idle_timeout_error(status), "idle timeout");
  }

 private:
  // Idle: between transactions. Queued: in the pool's queue for a connection. Leasing: a
  // coroutine is getting one. Active: relaying.
  enum class State { Idle, Queued, Leasing, Active };

  backend::ServerConnection& server() { return lease_.conn(); }
  int server_fd() { return server().stream().socket().native_handle(); }

  void set_client_events(std::uint32_t events) {
    if (events == client_events_) return;
    client_events_ = events;
    loop_.change(fd_, events, *this, kClientTag);
  }
  void set_server_events(std::uint32_t events) { loop_.change(*server().loop_watch(), events); }
  // Reading from one side stops while the other has not taken what was already read.
  void update_interest() {
    set_client_events((to_server_.empty() ? kClientReadable : kNothing) |
                      (to_client_.empty() ? kNothing : kWritable));
    if (state_ == State::Active) {
      set_server_events((to_client_.empty() ? kReadable : kNothing) |
                        (to_server_.empty() ? kNothing : kWritable));
    }
  }

  // ----- client input ----------------------------------------------------------------------

  void on_client_input(std::uint32_t events) {
    if (!to_server_.empty()) {  // not reading now: only a hang-up is news
      if (events & kHangup) client_leaves(std::nullopt, "client closed the connection");
      return;
    }
    if (in_.capacity() < backend::kRelayBufferSize) {
      if (in_.empty()) {
        in_ = take_buffer();
      } else {
        in_.reserve(backend::kRelayBufferSize);
      }
    }
    std::size_t needed = client_scan_.needed();
    in_.reserve(needed);
    std::size_t wanted = needed - std::min(needed, in_.size());
    char* tail = in_.tail(std::max<std::size_t>(wanted, protocol::FrameScanner::kMaxCapture + 5));
    if (in_.tail_space() == 0) {  // queued with a full buffer
      if (events & kHangup) client_leaves(std::nullopt, "client closed the connection");
      return;
    }
    ssize_t n = ::recv(fd_, tail, in_.tail_space(), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n <= 0) {
      client_leaves(std::nullopt, "client closed the connection");
      return;
    }
    in_.commit(static_cast<std::size_t>(n));
    last_activity_ = coarse_now();
    if (state_ == State::Idle) {
      begin_transaction();
    } else if (state_ == State::Active) {
      pump_to_server();
    } else if (in_.tail_space() == 0) {
      set_client_events(kNothing);  // queued with a full buffer: read on once it is served
    }
  }

  // The client's next request has started: it needs a server connection.
  void begin_transaction() {
    char type = in_.readable()[0];
    if (type == 'X') {
      end(std::nullopt, "client sent Terminate");
      return;
    }
    if (!protocol::is_frontend_message_type(type)) {
      end(invalid_request_error(), "protocol violation by the client");
      return;
    }
    auto quick =
        s_.pool->take_or_queue(*this, loop_.context().get_executor(), pool::pool_limits(s_.cfg()));
    if (quick.ticket) {  // the pool is full: take() or retry() comes when that changes
      ticket_ = std::move(quick.ticket);
      state_ = State::Queued;
      s_.registration.info().set_state(ClientState::Waiting);
      wait_deadline_ = coarse_now() + s_.cfg().query_wait_timeout;
      return;
    }
    lease_ = std::move(quick.lease);
    if (lease_ && s_.in_line(lease_.conn())) {
      activate();
      return;
    }
    lease_slowly();
  }

  // Directly from the previous holder's release() when it was on this worker: the socket may
  // still be in the loop's set, for activate() to take over.
  void take(pool::Lease lease) override {
    ticket_.reset();
    lease_ = std::move(lease);
    if (s_.in_line(lease_.conn())) {
      activate();
    } else {
      lease_.conn().leave_loop();  // the coroutine reads it through Asio
      lease_slowly();
    }
  }

  void retry() override {
    ticket_.reset();
    lease_slowly();
  }

  // Wait for a connection, open one, or run the SET batch: as a coroutine that calls back.
  // The client's socket is out of the loop meanwhile, so nothing else ends this object.
  void lease_slowly() {
    state_ = State::Leasing;
    loop_.unwatch(fd_);
    client_events_ = 0;
    asio::co_spawn(loop_.context(), lease_then_resume(this, std::move(lease_)), asio::detached);
  }

  static awaitable<void> lease_then_resume(LoopClient* self, pool::Lease lease) {
    auto leased = co_await lease_in_line(self->s_, std::move(lease));
    self->on_leased(std::move(leased));
  }

  void on_leased(Result<pool::Lease> leased) {
    if (!leased) {
      end(leased.error(), "no server connection");
      return;
    }
    lease_ = std::move(*leased);
    client_events_ = kClientReadable;
    if (!loop_.watch(fd_, client_events_, *this, kClientTag)) {
      end(std::nullopt, "could not watch the client socket");
      return;
    }
    activate();
  }

  void activate() {
    state_ = State::Active;
    set_client_events(kClientReadable);
    s_.cancel.point_at(&server());
    rules_.emplace(s_.relay_options, s_.view, server());
    // Called back by a coroutine (on_leased), the wake-up time is old: read the clock then.
    if (loop_.dispatching()) rules_->loop_time = &loop_.woken_at();
    client_scan_ = protocol::FrameScanner(s_.relay_options.max_message_size);
    server_scan_ = protocol::FrameScanner(protocol::kMaxMessageLength);
    auto& conn = server();
    auto* watch = loop_.watch(conn.loop_watch(), server_fd(), EPOLLIN, *this, kServerTag);
    if (!watch) {
      end(server_closed_error(), "could not watch the server socket");
      return;
    }
    conn.set_loop_watch(watch);
    pump_to_server();
  }

  // Sends every complete message the client has sent (rewritten where the rules say so).
  void pump_to_server() {
    ClientVisitor visitor{*rules_, in_.readable(), edits};
    edits.clear();
    auto scan = client_scan_.scan(in_.readable(), visitor);
    rules_->client_mid_message = !client_scan_.at_boundary();
    if (scan.consumed > 0) {
      if (!send_edited(server_fd(), in_.readable().substr(0, scan.consumed), edits, to_server_)) {
        end(server_closed_error(), "server write failed");
        return;
      }
      rules_->bytes_received += scan.consumed;
      in_.consume(scan.consumed);
      if (!to_server_.empty()) update_interest();
    }
    if (scan.status == ScanStatus::Stopped && !visitor.failed()) {
      client_leaves(std::nullopt, "client sent Terminate");
    } else if (scan.status != ScanStatus::NeedMore) {
      client_leaves(visitor.error(), visitor.parse_too_large ? "Parse message too large"
                                                             : "protocol violation by the client");
    }
  }

  void flush_to_server() {
    if (to_server_.empty() || state_ != State::Active) return;
    if (!flush(server_fd(), to_server_)) {
      end(server_closed_error(), "server write failed");
      return;
    }
    if (!to_server_.empty()) return;
    update_interest();
    pump_to_server();  // what the client sent meanwhile waited in its buffer
  }

  // ----- server output ---------------------------------------------------------------------

  void on_server_input() {
    if (state_ != State::Active || !to_client_.empty()) return;
    ByteBuffer& buf = server().buffer();
    char* tail = buf.tail(protocol::FrameScanner::kMaxCapture + 5);
    ssize_t n = ::recv(server_fd(), tail, buf.tail_space(), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n <= 0) {
      server_closed();
      return;
    }
    buf.commit(static_cast<std::size_t>(n));
    last_activity_ = coarse_now();
    pump_to_client();
  }

  // After a FATAL from the server the client already has its explanation.
  void server_closed() {
    end(rules_->server_sent_fatal ? std::nullopt : std::optional<Error>(server_closed_error()),
        "server closed the connection");
  }

  void pump_to_client() {
    ByteBuffer& buf = server().buffer();
    ServerVisitor visitor{*rules_, buf.readable(), edits};
    edits.clear();
    auto scan = server_scan_.scan(buf.readable(), visitor);
    if (scan.consumed > 0) {
      if (!send_edited(fd_, buf.readable().substr(0, scan.consumed), edits, to_client_)) {
        client_leaves(std::nullopt, "client write failed");
        return;
      }
      rules_->bytes_sent += scan.consumed;
      buf.consume(scan.consumed);
    }
    if (scan.status == ScanStatus::Malformed) {
      end(server_malformed_error(), "the server sent a malformed message");
      return;
    }
    if (rules_->transaction_block_refused) {
      end(transaction_block_error(), "transaction block in statement mode");
      return;
    }
    if (!to_client_.empty()) {
      update_interest();  // released once the client has taken it all
      return;
    }
    if (may_release(*rules_, !to_server_.empty(), false, !buf.empty(),
                    server_scan_.at_boundary())) {
      release();
    }
  }

  void flush_to_client() {
    if (to_client_.empty()) return;
    if (!flush(fd_, to_client_)) {
      client_leaves(std::nullopt, "client write failed");
      return;
    }
    if (!to_client_.empty()) return;
    update_interest();
    if (state_ == State::Active) pump_to_client();
  }

  // The transaction is over: the server connection goes back, the client waits for its next.
  void release() {
    loop_.let_go(*server().loop_watch());  // the pool takes it out of the set unless the
    s_.cancel.point_at(nullptr);           // next holder is a client of this loop
    rules_.reset();
    lease_.give_back();
    state_ = State::Idle;
    if (!in_.empty()) {
      begin_transaction();
      return;
    }
    give_buffer(in_);
  }

  // ----- the end ---------------------------------------------------------------------------

  // The client left, broke the protocol, or timed out. A server connection it held mid-query
  // or mid-transaction is in a state the next client must not inherit: the query is
  // cancelled (so it stops holding locks and a backend slot) and the connection closed.
  void client_leaves(std::optional<Error> farewell, std::string_view why) {
    if (state_ == State::Active) {
      auto& conn = server();
      if (rules_->pending_ready > 0) {
        asio::co_spawn(loop_.context(),
                       cancel_query(conn.address(), conn.process_id(), conn.secret_key(),
                                    s_.cfg().server_connect_timeout),
                       asio::detached);
      }
    }
    end(std::move(farewell), why);
  }

  // Also when the server connection failed or must not be used again (then it is closed).
  void end(std::optional<Error> farewell, std::string_view why) {
    if (ended_) return;
    ended_ = true;
    loop_.unwatch(fd_);
    if (ticket_) s_.pool->withdraw(ticket_);
    if (state_ == State::Active) {
      s_.cancel.point_at(nullptr);
      rules_.reset();
      lease_.discard();  // out of the loop's set, and closed
    }
    if (farewell) {  // as far as the socket takes it now: the client gets no second chance
      to_client_ += protocol::error_response(*farewell, "FATAL");
      flush(fd_, to_client_);
    }
    log::debug("client {} session ended: {}", s_.view.peer, why);
    loop_.retire(*this);  // the destructor closes the socket
  }

  net::EventLoop& loop_;
  const int fd_;
  TransactionSession s_;
  ByteBuffer in_;
  State state_ = State::Idle;
  bool ended_ = false;
  std::uint32_t client_events_ = 0;
  pool::Lease lease_;
  std::shared_ptr<pool::Pool::Ticket> ticket_;  // while Queued
  Clock::time_point wait_deadline_;             // query_wait_timeout, while Queued
  std::optional<RelayRules> rules_;
  protocol::FrameScanner client_scan_{protocol::kMaxMessageLength};
  protocol::FrameScanner server_scan_{protocol::kMaxMessageLength};
  std::string to_client_;  // read from the server, not yet taken by the client's socket
  std::string to_server_;
  Clock::time_point last_activity_ = coarse_now();
};

}  // namespace

void serve_on_event_loop(asio::io_context& context, int fd, TransactionSession session,
                         ByteBuffer pending) {
  auto& loop = net::EventLoop::of(context);
  auto client = std::make_unique<LoopClient>(loop, fd, std::move(session), std::move(pending));
  auto& started = *client;
  loop.adopt(std::move(client));
  started.start();
}

}  // namespace pgb::frontend
