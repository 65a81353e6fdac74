#include "admin/rest_server.hpp"

#include "common/log.hpp"
#include "net/asio.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <fmt/format.h>

#include <chrono>
#include <thread>

namespace pgb::admin {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using namespace std::chrono_literals;

constexpr auto kIdleTimeout = 30s;        // a keep-alive connection with no request is closed
constexpr auto kFailedAuthDelay = 250ms;  // slows down guessing; per connection
constexpr auto kShutdownTimeout = 2s;     // for the TLS close_notify exchange
constexpr std::uint64_t kMaxBody = 64 * 1024;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

http::response<http::string_body> to_http(const ApiResponse& r, unsigned version, bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "pgbalancer");
  res.set(http::field::content_type, r.content_type);
  if (!r.allow.empty()) res.set(http::field::allow, r.allow);
  if (r.status == 401) res.set(http::field::www_authenticate, "Bearer");
  res.keep_alive(keep_alive);
  res.body() = r.body;
  res.prepare_payload();
  return res;
}

}  // namespace

struct RestServer::Impl {
  Impl(Options o, Operations& ops) : options(std::move(o)), operations(ops), acceptor(context) {}

  awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(use_nothrow);
      if (ec == asio::error::operation_aborted) co_return;
      if (ec) {
        log::warn("REST API: accept failed: {}", ec.message());
        continue;
      }
      asio::co_spawn(context, serve(beast::tcp_stream(std::move(socket))), asio::detached);
    }
  }

  awaitable<void> serve(beast::tcp_stream stream) {
    error_code ec;
    auto remote = stream.socket().remote_endpoint(ec);
    std::string peer = ec ? "?" : fmt::format("{}:{}", remote.address().to_string(), remote.port());
    if (!options.tls) {
      co_await serve_requests(stream, peer);
      stream.socket().shutdown(tcp::socket::shutdown_send, ec);
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream> tls(std::move(stream), *options.tls);
    beast::get_lowest_layer(tls).expires_after(kIdleTimeout);
    auto [handshake_ec] = co_await tls.async_handshake(asio::ssl::stream_base::server, use_nothrow);
    if (handshake_ec) {  // plain HTTP to the HTTPS port, an untrusted client, a scanner
      log::info("REST API: TLS handshake with {} failed: {}", peer, handshake_ec.message());
      co_return;
    }
    co_await serve_requests(tls, peer);
    beast::get_lowest_layer(tls).expires_after(kShutdownTimeout);
    co_await tls.async_shutdown(use_nothrow);
  }

  // Requests on one connection (keep-alive) until the client or an error ends it.
  template <class Stream>
  awaitable<void> serve_requests(Stream& stream, const std::string& peer) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(kMaxBody);
      beast::get_lowest_layer(stream).expires_after(kIdleTimeout);
      auto [read_ec, n] = co_await http::async_read(stream, buffer, parser, use_nothrow);
      if (read_ec) {
        if (read_ec.category() == make_error_code(http::error::bad_target).category() &&
            read_ec != http::error::end_of_stream) {
          auto res =
              to_http(error_response(400, "bad_request", "malformed HTTP request"), 11, false);
          co_await http::async_write(stream, res, use_nothrow);
        }
        break;
      }
      auto& req = parser.get();
      ApiRequest request{std::string(req.method_string()), std::string(req.target()),
                         std::string(req[http::field::authorization]), peer};
      ApiResponse answer = handle_request(request, options.api, operations, unix_now());
      if (answer.auth_failed) {
        asio::steady_timer delay(context, kFailedAuthDelay);
        co_await delay.async_wait(use_nothrow);
      }
      bool keep_alive = req.keep_alive();
      auto res = to_http(answer, req.version(), keep_alive);
      auto [write_ec, written] = co_await http::async_write(stream, res, use_nothrow);
      if (answer.stop_after) {
        log::info("REST API: stop requested by {}", peer);
        operations.stop();
        break;
      }
      if (write_ec || !keep_alive) break;
    }
  }

  Options options;
  Operations& operations;
  asio::io_context context{1};
  tcp::acceptor acceptor;
  std::thread thread;
};

RestServer::RestServer(Options options, Operations& operations)
    : impl_(std::make_unique<Impl>(std::move(options), operations)) {}

RestServer::~RestServer() {
  stop();
}

std::optional<std::string> RestServer::start() {
  auto& i = *impl_;
  error_code ec;
  auto address = asio::ip::make_address(
      i.options.bind_address == "localhost" ? std::string("127.0.0.1") : i.options.bind_address,
      ec);
  if (ec)
    return fmt::format("rest_api.bind_address \"{}\" is not an IP address", i.options.bind_address);
  tcp::endpoint endpoint(address, static_cast<unsigned short>(i.options.port));
  i.acceptor.open(endpoint.protocol(), ec);
  if (!ec) i.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) i.acceptor.bind(endpoint, ec);
  if (!ec) i.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return fmt::format("REST API cannot listen on {}:{}: {}", i.options.bind_address,
                       i.options.port, ec.message());
  }
  asio::co_spawn(i.context, i.accept_loop(), asio::detached);
  i.thread = std::thread([&i] { i.context.run(); });
  log::info("REST API listening on {}:{} ({}, {})", i.options.bind_address, i.options.port,
            i.options.tls ? "HTTPS" : "HTTP",
            i.options.api.jwt_enabled ? "JWT required" : "no authentication");
  return std::nullopt;
}

void RestServer::stop() {
  if (!impl_->thread.joinable()) return;
  impl_->context.stop();
  impl_->thread.join();
}

}  // namespace pgb::admin
