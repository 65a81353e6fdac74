// The REST API's requests and answers, without the HTTP transport (rest_server.cpp has that):
// authentication (JWT bearer tokens, role checks), the endpoints, JSON errors, /metrics.
#pragma once

#include "admin/jwt.hpp"
#include "admin/operations.hpp"

#include <cstdint>
#include <string>

namespace pgb::admin {

struct ApiRequest {
  std::string method;         // "GET", "POST", ...
  std::string target;         // path and query
  std::string authorization;  // the Authorization header, possibly empty
  std::string peer;           // the client's address, for the log
};

struct ApiResponse {
  unsigned status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::string allow;         // for 405
  bool auth_failed = false;  // the transport slows these down
  bool stop_after = false;   // the transport calls Operations::stop() once this is sent
};

// {"error": code, "message": message} with `status`.
ApiResponse error_response(unsigned status, std::string_view code, std::string_view message);

struct ApiSettings {
  bool jwt_enabled = true;
  bool jwt_for_metrics = false;  // /metrics needs a token too (any role)
  JwtPolicy policy;
};

// `now` in seconds since the epoch.
ApiResponse handle_request(const ApiRequest& request, const ApiSettings& settings,
                           Operations& operations, std::int64_t now);

}  // namespace pgb::admin
