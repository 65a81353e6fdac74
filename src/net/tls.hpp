// TLS contexts built from the configuration: TLS 1.2 minimum on both sides.
// On failure the Error's `detail` names the setting whose file is at fault (e.g. "ssl_key").
#pragma once

#include "common/result.hpp"

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <string>

namespace pgb::net {

// For clients connecting to pgbalancer. With a CA file, client certificates are verified when
// presented.
Result<std::shared_ptr<boost::asio::ssl::context>> make_server_tls_context(
    const std::string& cert_file, const std::string& key_file, const std::string& ca_file);
// For pgbalancer connecting to PostgreSQL. With a CA file, the server certificate is verified.
Result<std::shared_ptr<boost::asio::ssl::context>> make_client_tls_context(
    const std::string& ca_file);

}  // namespace pgb::net
