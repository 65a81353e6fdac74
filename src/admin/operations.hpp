// What the management plane (REST API, /metrics, the SQL admin console) reads from and asks of
// the running process, in plain structs: the admin module does not reach into the data plane;
// the daemon (app/) implements this.
#pragma once

#include "config/config.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pgb::admin {

// Traffic since start-up (counters only grow).
struct TrafficStats {
  std::uint64_t queries = 0, transactions = 0;
  std::uint64_t bytes_received = 0, bytes_sent = 0;  // from and to clients
  std::uint64_t query_time_us = 0, transaction_time_us = 0;
  std::uint64_t waits = 0, wait_time_us = 0;  // clients that queued for a server connection
  // Query durations: upper bounds in microseconds, and the count in each bucket (one more,
  // for those above the last bound; not cumulative).
  std::vector<std::int64_t> bucket_bounds_us;
  std::vector<std::uint64_t> buckets;

  TrafficStats& operator+=(const TrafficStats& other);
  double query_time_quantile_us(double fraction) const;  // estimated from the histogram
};

struct PoolSnapshot {
  std::string name, database, user;
  std::size_t node = 0;
  int clients_active = 0;  // logged in, not waiting for a server connection
  int clients_waiting = 0;
  int servers_active = 0;  // leased to clients, or being opened
  int servers_idle = 0;
  TrafficStats stats;
};

struct StatusSnapshot {
  std::string version;
  std::string pool_mode;
  double uptime_seconds = 0;
  int worker_threads = 0;
  int client_connections = 0;
  std::vector<PoolSnapshot> pools;
};

struct NodeSnapshot {
  std::size_t id = 0;
  std::string host;
  int port = 0;
  std::string role;           // primary, standby
  std::string status;         // up, down, unknown: from the latest connection attempt
  std::string status_detail;  // why it is down
  int weight = 1;
  int connections = 0;
  std::uint64_t queries = 0;
  std::uint64_t connect_failures = 0;       // failed attempts to open a server connection
  std::uint64_t health_check_failures = 0;  // failed probes (the health endpoint)
};

struct HealthCheck {
  std::size_t id = 0;
  std::string host;
  int port = 0;
  bool up = false;
  double latency_ms = 0;
  std::int64_t checked_at = 0;  // seconds since the epoch
  std::string error;
};

struct ClientSnapshot {
  std::uint64_t id = 0;
  std::string user, database, application_name, address, state, pool;
  std::int64_t since = 0;  // seconds since the epoch
  bool tls = false;
  std::int32_t backend_pid = 0;  // 0: holds no server connection
};

struct ServerSnapshot {
  std::uint64_t id = 0;
  std::size_t node = 0;
  std::string host, user, database, state, pool;
  int port = 0;
  std::int64_t since = 0;  // seconds since the epoch
  std::int32_t backend_pid = 0;
  bool tls = false;
};

struct LogRotation {
  bool reopened = false;
  std::string message;
};

class Operations {
 public:
  // All are called on the management plane's threads: each must be safe from any thread.
  virtual StatusSnapshot snapshot() = 0;
  virtual std::vector<NodeSnapshot> nodes() = 0;
  // Probes every backend now (in parallel, bounded by a timeout).
  virtual std::vector<HealthCheck> health() = 0;
  virtual std::vector<ClientSnapshot> clients() = 0;
  virtual std::vector<ServerSnapshot> servers() = 0;
  // The configuration in force (config::describe() shows it with secrets redacted).
  virtual std::shared_ptr<const config::Config> config() = 0;
  // PAUSE (`database` empty: all): clients wait before their next transaction, and server
  // connections close as they are given back; RESUME lets them go on.
  // The reason if refused (already paused, not paused).
  virtual std::optional<std::string> pause(const std::string& database) = 0;
  virtual std::optional<std::string> resume(const std::string& database) = 0;
  virtual bool paused(const std::string& database) = 0;
  // Server connections still open to `database` (empty: all): a PAUSE is complete at 0.
  virtual int server_connections(const std::string& database) = 0;
  // Rereads the configuration file, as SIGHUP does; the problems if it is refused.
  virtual std::vector<std::string> reload() = 0;
  virtual LogRotation reopen_log() = 0;
  // Shuts down as SIGTERM does; returns at once.
  virtual void stop() = 0;

 protected:
  ~Operations() = default;
};

}  // namespace pgb::admin
