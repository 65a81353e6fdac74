// Process-wide counts of server connections per database and per user, for
// max_db_connections and max_user_connections, which span all pools.
#pragma once

#include <map>
#include <mutex>
#include <string>

namespace pgb::pool {

class ConnectionBudget {
 public:
  // Counts one more connection for (database, user) if neither limit (0 = none) is reached.
  bool try_take(const std::string& database, const std::string& user, int max_db, int max_user);
  void give_back(const std::string& database, const std::string& user);

 private:
  std::mutex mutex_;
  std::map<std::string, int> per_database_;
  std::map<std::string, int> per_user_;
};

}  // namespace pgb::pool
