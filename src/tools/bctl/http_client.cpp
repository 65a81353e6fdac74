// bctl's HTTP client: Beast over plain TCP or OpenSSL, one request per connection.
//
// Beast's synchronous calls cannot time out, so the request runs as one coroutine on a private
// io_context that send_request() drives to completion; the caller still sees a blocking call.
#include "tools/bctl/http_client.hpp"

#include "net/asio.hpp"
#include "pgbalancer_version.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <exception>

namespace pgb::bctl {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using Outcome = std::variant<Response, Failure>;
using Clock = std::chrono::steady_clock;

// A list of every client of a big pooler is a few MB; Beast's default limit is 8 MB.
constexpr std::uint64_t kMaxBody = 256 * 1024 * 1024;

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

std::string host_port(const Server& server) {
  bool v6 = server.host.find(':') != std::string::npos;
  return (v6 ? "[" + server.host + "]" : server.host) + ":" + std::to_string(server.port);
}

class Exchange {
 public:
  Exchange(const Server& server, const Request& request, std::chrono::seconds timeout)
      : server_(server), request_(request), timeout_(timeout), deadline_(Clock::now() + timeout) {}

  awaitable<Outcome> run() {
    // Arguments bound to locals before co_await: GCC 12 may destroy temporaries in a co_await
    // expression twice (docs/architecture.md).
    tcp::resolver resolver(co_await asio::this_coro::executor);
    const std::string service = std::to_string(server_.port);
    auto [resolve_ec, endpoints] =
        co_await resolver.async_resolve(server_.host, service, use_nothrow);
    if (resolve_ec) co_return Failure{resolve_ec.message()};

    beast::tcp_stream tcp(co_await asio::this_coro::executor);
    tcp.expires_at(deadline_);  // one deadline for the whole exchange, not one per step
    auto [connect_ec, endpoint] = co_await tcp.async_connect(endpoints, use_nothrow);
    if (connect_ec) co_return failure(connect_ec);
    if (!server_.https) co_return co_await exchange(tcp);

    ssl::context context(ssl::context::tls_client);
    if (auto problem = configure(context)) co_return Failure{*problem};
    beast::ssl_stream<beast::tcp_stream> tls(std::move(tcp), context);
    beast::get_lowest_layer(tls).expires_at(deadline_);
    if (auto problem = expect_peer(tls.native_handle())) co_return Failure{*problem};
    auto [handshake_ec] = co_await tls.async_handshake(ssl::stream_base::client, use_nothrow);
    if (handshake_ec) co_return handshake_failure(handshake_ec, tls.native_handle());
    // No TLS shutdown afterwards: the answer is complete and the server closes the connection
    // (Connection: close); waiting for its close_notify would only add a round trip.
    co_return co_await exchange(tls);
  }

 private:
  template <class Stream>
  awaitable<Outcome> exchange(Stream& stream) {
    http::request<http::empty_body> req{
        request_.method == "POST" ? http::verb::post : http::verb::get, request_.target, 11};
    req.set(http::field::host, host_port(server_));
    req.set(http::field::user_agent, std::string("bctl/") + kVersion);
    req.set(http::field::accept, "application/json");
    if (!request_.token.empty()) req.set(http::field::authorization, "Bearer " + request_.token);
    req.keep_alive(false);
    req.prepare_payload();
    auto [write_ec, written] = co_await http::async_write(stream, req, use_nothrow);
    if (write_ec) co_return failure(write_ec);

    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxBody);
    auto [read_ec, read] = co_await http::async_read(stream, buffer, parser, use_nothrow);
    if (read_ec == http::error::end_of_stream) {
      co_return Failure{"the connection was closed before an answer came"};
    }
    if (read_ec) co_return failure(read_ec);
    auto& res = parser.get();
    co_return Response{res.result_int(), std::move(res.body())};
  }

  // The system trust store, or --cacert instead; TLS 1.2 at least (as for PostgreSQL's side).
  std::optional<std::string> configure(ssl::context& context) {
    SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
    if (!server_.verify) {
      context.set_verify_mode(ssl::verify_none);
      return std::nullopt;
    }
    context.set_verify_mode(ssl::verify_peer);
    error_code ec;
    if (server_.ca_file.empty()) {
      context.set_default_verify_paths(ec);
      if (ec) return "cannot load the system's trusted certificates: " + ec.message();
    } else {
      context.load_verify_file(server_.ca_file, ec);
      if (ec) return "cannot load the CA file " + server_.ca_file + ": " + ec.message();
    }
    return std::nullopt;
  }

  // The name to send (SNI) and to find in the certificate. OpenSSL's own check rather than a
  // verify callback, so that a mismatch is reported as "hostname mismatch".
  std::optional<std::string> expect_peer(SSL* ssl) {
    bool ip = is_ip_literal(server_.host);
    if (!ip && !SSL_set_tlsext_host_name(ssl, server_.host.c_str())) {
      return "cannot use " + server_.host + " as a TLS server name";
    }
    if (!server_.verify) return std::nullopt;
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, server_.host.c_str())
                : X509_VERIFY_PARAM_set1_host(param, server_.host.c_str(), 0);
    if (!ok) return "cannot check certificates for " + server_.host;
    return std::nullopt;
  }

  Failure handshake_failure(const error_code& ec, SSL* ssl) {
    if (timed_out(ec)) return failure(ec);
    std::string reason = "TLS handshake failed: ";
    long verify = SSL_get_verify_result(ssl);
    if (server_.verify && verify != X509_V_OK) {
      return Failure{reason +
                     "certificate verify failed: " + X509_verify_cert_error_string(verify) +
                     " (--cacert FILE names the CA to trust; --insecure skips the check)"};
    }
    if (ec.category() == asio::error::get_ssl_category()) {
      auto code = static_cast<unsigned long>(ec.value());
      const char* text = ERR_reason_error_string(code);
      reason += text ? text : ec.message();  // without Boost's " (SSL routines)" suffix
      int why = ERR_GET_REASON(code);
      if (why == SSL_R_WRONG_VERSION_NUMBER || why == SSL_R_PACKET_LENGTH_TOO_LONG) {
        reason += " (the server does not seem to speak TLS; without --https bctl uses HTTP)";
      }
      return Failure{reason};
    }
    return Failure{reason + ec.message()};
  }

  bool timed_out(const error_code& ec) const {
    return ec == beast::error::timeout || Clock::now() >= deadline_;
  }

  Failure failure(const error_code& ec) const {
    if (timed_out(ec)) return Failure{"timed out after " + std::to_string(timeout_.count()) + " s"};
    return Failure{ec.message()};
  }

  const Server& server_;
  const Request& request_;
  const std::chrono::seconds timeout_;
  const Clock::time_point deadline_;
};

}  // namespace

std::string base_url(const Server& server) {
  return (server.https ? "https://" : "http://") + host_port(server);
}

std::variant<Response, Failure> send_request(const Server& server, const Request& request,
                                             std::chrono::seconds timeout) {
  asio::io_context io;
  Exchange exchange(server, request, timeout);
  Outcome outcome = Failure{"no answer"};
  asio::co_spawn(io, exchange.run(), [&](std::exception_ptr error, Outcome result) {
    if (!error) {
      outcome = std::move(result);
      return;
    }
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {  // e.g. OpenSSL out of memory making the context
      outcome = Failure{e.what()};
    } catch (...) {
      outcome = Failure{"unexpected error"};
    }
  });
  io.run();
  return outcome;
}

}  // namespace pgb::bctl
