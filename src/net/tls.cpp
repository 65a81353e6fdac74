// TLS context construction; errors name the file but never its content.
#include "net/tls.hpp"

#include "common/sqlstate.hpp"

#include <boost/asio/ssl.hpp>

#include <fmt/format.h>

namespace pgb::net {
namespace ssl = boost::asio::ssl;

namespace {
// The setting's name goes in `detail` so the caller can point at its line in the file.
Error tls_error(std::string_view setting, const std::string& file,
                const boost::system::error_code& ec) {
  return make_error(sqlstate::kInternalError,
                    fmt::format("cannot load \"{}\": {}", file, ec.message()),
                    std::string(setting));
}

void harden(ssl::context& ctx) {
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                  ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
}
}  // namespace

Result<std::shared_ptr<ssl::context>> make_server_tls_context(const std::string& cert_file,
                                                              const std::string& key_file,
                                                              const std::string& ca_file) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  harden(*ctx);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(cert_file, ec);
  if (ec) return tls_error("ssl_cert", cert_file, ec);
  ctx->use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec) return tls_error("ssl_key", key_file, ec);
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    return make_error(sqlstate::kInternalError, "the key does not match ssl_cert", "ssl_key");
  }
  if (!ca_file.empty()) {
    ctx->load_verify_file(ca_file, ec);
    if (ec) return tls_error("ssl_ca_cert", ca_file, ec);
    ctx->set_verify_mode(ssl::verify_peer);  // verify a client certificate if one is sent
  }
  return ctx;
}

Result<std::shared_ptr<ssl::context>> make_client_tls_context(const std::string& ca_file) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  harden(*ctx);
  if (!ca_file.empty()) {
    boost::system::error_code ec;
    ctx->load_verify_file(ca_file, ec);
    if (ec) return tls_error("backend_ssl_ca_cert", ca_file, ec);
  }
  return ctx;
}

}  // namespace pgb::net
