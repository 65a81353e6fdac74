// A connection that is plain TCP or TLS over TCP, decided after the startup negotiation.
#pragma once

#include "net/asio.hpp"

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <memory>
#include <string>
#include <vector>

namespace pgb::net {

class Stream {
 public:
  explicit Stream(tcp::socket socket);
  Stream(Stream&&) = delete;

  // Upgrades to TLS as the server (client side of pgbalancer) or as the client (towards
  // PostgreSQL).
  awaitable<error_code> tls_accept(std::shared_ptr<asio::ssl::context> context);
  awaitable<error_code> tls_connect(std::shared_ptr<asio::ssl::context> context,
                                    const std::string& host, bool verify);

  awaitable<std::tuple<error_code, std::size_t>> read_some(asio::mutable_buffer buffer);
  awaitable<error_code> read_exact(asio::mutable_buffer buffer);
  awaitable<error_code> write_all(asio::const_buffer buffer);
  awaitable<error_code> write_all(const std::vector<asio::const_buffer>& buffers);

  // Closes the socket; pending operations complete with operation_aborted. Idempotent.
  void close();
  bool is_open() const { return socket_.is_open(); }
  bool is_tls() const { return tls_ != nullptr; }
  // True if the peer sent something or hung up: for an idle pooled connection that means
  // it must not be handed out (an unexpected message, or a closed connection).
  bool has_pending_input() const;
  // The peer has closed its side and sent nothing before (plain TCP; over TLS its close_notify
  // is data, so this only says so once that has been read).
  bool peer_closed() const;
  tcp::socket& socket() { return socket_; }

  // Moves a plain TCP connection to another worker's io_context, so a pooled server
  // connection is served by the same thread as the client that leases it. Must only be
  // called with no operation pending. TLS connections stay where they are: their OpenSSL
  // state is bound to Asio objects of the original io_context (they still work from any
  // worker, with a cross-thread hand-off per operation).
  void rebind(const asio::any_io_executor& executor);
  std::string peer_address() const;

 private:
  tcp::socket socket_;
  std::shared_ptr<asio::ssl::context> context_;  // outlives tls_, which refers to it
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls_;
};

}  // namespace pgb::net
