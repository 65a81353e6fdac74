// What the REST API reads from and asks of the running process, in plain structs: the admin
// module does not reach into the data plane; the daemon (app/) implements this.
#pragma once

#include <string>
#include <vector>

namespace pgb::admin {

struct PoolSnapshot {
  std::string name, database, user;
  int servers_active = 0;
  int servers_idle = 0;
  int clients_waiting = 0;
};

struct StatusSnapshot {
  std::string version;
  std::string pool_mode;
  double uptime_seconds = 0;
  int worker_threads = 0;
  int client_connections = 0;
  std::vector<PoolSnapshot> pools;
};

class Operations {
 public:
  // Called on the REST API's thread: must be safe to call from any thread.
  virtual StatusSnapshot snapshot() = 0;
  // Rereads the configuration file, as SIGHUP does; the problems if it is refused.
  virtual std::vector<std::string> reload() = 0;
  // Shuts down as SIGTERM does; returns at once.
  virtual void stop() = 0;

 protected:
  ~Operations() = default;
};

}  // namespace pgb::admin
