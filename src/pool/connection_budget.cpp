// Connection counting across pools.
#include "pool/connection_budget.hpp"

namespace pgb::pool {

bool ConnectionBudget::try_take(const std::string& database, const std::string& user, int max_db,
                                int max_user) {
  std::lock_guard lock(mutex_);
  int& db = per_database_[database];
  int& u = per_user_[user];
  if ((max_db > 0 && db >= max_db) || (max_user > 0 && u >= max_user)) return false;
  ++db;
  ++u;
  return true;
}

void ConnectionBudget::give_back(const std::string& database, const std::string& user) {
  std::lock_guard lock(mutex_);
  --per_database_[database];
  --per_user_[user];
}

}  // namespace pgb::pool
