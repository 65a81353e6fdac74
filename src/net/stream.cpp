// Plain/TLS stream dispatch.
#include "net/stream.hpp"

#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>

#include <poll.h>

namespace pgb::net {

Stream::Stream(tcp::socket socket) : socket_(std::move(socket)) {
  if (socket_.is_open()) {
    error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
  }
}

awaitable<error_code> Stream::tls_accept(std::shared_ptr<asio::ssl::context> context) {
  context_ = std::move(context);
  tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, *context_);
  auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::server, use_nothrow);
  co_return ec;
}

awaitable<error_code> Stream::tls_connect(std::shared_ptr<asio::ssl::context> context,
                                          const std::string& host, bool verify) {
  context_ = std::move(context);
  tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, *context_);
  SSL_set_tlsext_host_name(tls_->native_handle(), host.c_str());
  if (verify) {
    tls_->set_verify_mode(asio::ssl::verify_peer);
    tls_->set_verify_callback(asio::ssl::host_name_verification(host));
  } else {
    tls_->set_verify_mode(asio::ssl::verify_none);
  }
  auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::client, use_nothrow);
  co_return ec;
}

awaitable<std::tuple<error_code, std::size_t>> Stream::read_some(asio::mutable_buffer buffer) {
  if (tls_) co_return co_await tls_->async_read_some(buffer, use_nothrow);
  co_return co_await socket_.async_read_some(buffer, use_nothrow);
}

awaitable<error_code> Stream::read_exact(asio::mutable_buffer buffer) {
  if (tls_) {
    auto [ec, n] = co_await asio::async_read(*tls_, buffer, use_nothrow);
    co_return ec;
  }
  auto [ec, n] = co_await asio::async_read(socket_, buffer, use_nothrow);
  co_return ec;
}

awaitable<error_code> Stream::write_all(asio::const_buffer buffer) {
  if (tls_) {
    auto [ec, n] = co_await asio::async_write(*tls_, buffer, use_nothrow);
    co_return ec;
  }
  auto [ec, n] = co_await asio::async_write(socket_, buffer, use_nothrow);
  co_return ec;
}

awaitable<error_code> Stream::write_all(const std::vector<asio::const_buffer>& buffers) {
  if (tls_) {
    auto [ec, n] = co_await asio::async_write(*tls_, buffers, use_nothrow);
    co_return ec;
  }
  auto [ec, n] = co_await asio::async_write(socket_, buffers, use_nothrow);
  co_return ec;
}

void Stream::close() {
  error_code ignored;
  if (socket_.is_open()) {
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }
}

void Stream::rebind(const asio::any_io_executor& executor) {
  if (tls_ || !socket_.is_open() || socket_.get_executor() == executor) return;
  error_code ec;
  auto protocol = socket_.local_endpoint(ec).protocol();
  if (ec) return;
  int fd = socket_.release(ec);
  if (ec) return;
  socket_ = tcp::socket(executor, protocol, fd);
}

bool Stream::has_pending_input() const {
  if (!socket_.is_open()) return true;
  pollfd p{const_cast<tcp::socket&>(socket_).native_handle(), POLLIN, 0};
  return ::poll(&p, 1, 0) != 0;
}

bool Stream::peer_closed() const {
  if (!socket_.is_open()) return true;
  char byte;
  int fd = const_cast<tcp::socket&>(socket_).native_handle();
  return ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

std::string Stream::peer_address() const {
  error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  if (ec) return "unknown";
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

}  // namespace pgb::net
