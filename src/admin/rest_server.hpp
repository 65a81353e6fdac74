// The REST API's HTTP/1.1 server (Boost.Beast), on a thread and io_context of its own so a slow
// or hostile API client never holds up a data-plane worker.
#pragma once

#include "admin/operations.hpp"
#include "admin/routes.hpp"

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <optional>
#include <string>

namespace pgb::admin {

class RestServer {
 public:
  struct Options {
    std::string bind_address;
    int port = 8080;
    ApiSettings api;
    std::shared_ptr<boost::asio::ssl::context> tls;  // set: HTTPS only
  };
  RestServer(Options options, Operations& operations);
  ~RestServer();  // stops it

  // Listens and starts serving; the reason if it cannot listen.
  std::optional<std::string> start();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgb::admin
