// What every client session reads: the current settings snapshot and the process-wide registries.
#pragma once

#include "admin/operations.hpp"
#include "auth/pgpass.hpp"
#include "auth/userlist.hpp"
#include "config/config.hpp"
#include "frontend/cancel_registry.hpp"
#include "frontend/client_registry.hpp"
#include "pool/pool_registry.hpp"
#include "statements/registry.hpp"

#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <memory>
#include <string>

namespace pgb::frontend {

// Everything derived from one configuration file, immutable once built. A reload builds a
// new one and swaps the pointer; sessions keep the snapshot they started with.
struct Settings {
  config::Config config;
  auth::UserList users;
  std::vector<auth::PgpassEntry> pgpass;
  // Parameters kept in line in transaction/statement modes: the defaults plus
  // track_extra_parameters.
  std::vector<std::string> tracked_parameters;
  std::shared_ptr<boost::asio::ssl::context> client_tls;   // null when ssl is off
  std::shared_ptr<boost::asio::ssl::context> backend_tls;  // null when backend_encryption is off
};

class SharedState {
 public:
  SharedState();

  std::shared_ptr<const Settings> settings() const {
    return settings_.load(std::memory_order_acquire);
  }
  void publish(std::shared_ptr<const Settings> s) {
    settings_.store(std::move(s), std::memory_order_release);
  }

  pool::PoolRegistry& pools() { return pools_; }
  CancelRegistry& cancels() { return cancels_; }
  statements::Registry& statements() { return statements_; }
  ClientRegistry& clients() { return clients_; }
  // The management operations (the daemon), for the admin console; set once before serving.
  admin::Operations* operations() const { return operations_; }
  void set_operations(admin::Operations* operations) { operations_ = operations; }
  // Key for made-up SCRAM salts of unknown users: stable for the process, so repeated
  // attempts for one name see the same salt, as they would for a real user.
  const std::string& mock_secret_key() const { return mock_secret_key_; }

 private:
  std::atomic<std::shared_ptr<const Settings>> settings_;
  pool::PoolRegistry pools_;
  CancelRegistry cancels_;
  statements::Registry statements_;
  ClientRegistry clients_;
  admin::Operations* operations_ = nullptr;
  std::string mock_secret_key_;
};

}  // namespace pgb::frontend
