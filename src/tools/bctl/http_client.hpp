// One HTTP(S) request to pgbalancer's REST API. Plain structs in and out: Beast and OpenSSL stay
// in http_client.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <variant>

namespace pgb::bctl {

struct Server {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  bool https = false;
  bool verify = true;   // certificate chain and host name; --insecure turns it off
  std::string ca_file;  // trusted instead of the system store when set (--cacert)
};

struct Request {
  std::string method;  // "GET" or "POST"
  std::string target;  // "/api/v1/status"
  std::string token;   // sent as a bearer token when not empty; never part of an error
};

struct Response {
  unsigned status = 0;
  std::string body;
};

// No answer: why not, for a person to read ("Connection refused", "timed out after 10 s",
// "TLS handshake failed: certificate verify failed: self-signed certificate").
struct Failure {
  std::string reason;
};

// "http://127.0.0.1:8080", "https://[::1]:8443": where bctl tried, for messages.
std::string base_url(const Server& server);

// Resolves, connects, sends, reads the whole answer. `timeout` covers everything from the
// connect to the last byte of the answer; the name lookup before it is bounded by the system
// resolver's own timeouts (a literal address needs none).
std::variant<Response, Failure> send_request(const Server& server, const Request& request,
                                             std::chrono::seconds timeout);

}  // namespace pgb::bctl
