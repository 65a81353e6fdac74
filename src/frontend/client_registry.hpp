// Every client connection, from accept to close: counted for max_client_conn and listed for
// the REST API's clients, SHOW CLIENTS and the per-pool client counts.
//
// The list changes at connect, login and disconnect only (under a mutex); what changes per
// query (state, backend process id) is in relaxed atomics the relay stores without locking.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <string_view>

namespace pgb::frontend {

enum class ClientState : std::uint8_t { LoggingIn, Idle, Active, Waiting, IdleInTransaction };
std::string_view to_string(ClientState state);

struct ClientInfo {
  std::uint64_t id = 0;
  std::string peer;
  std::chrono::system_clock::time_point since;
  // Known once logged in (ClientRegistry::logged_in sets them under the registry's mutex).
  std::string user, database, application_name, pool;
  bool tls = false;
  std::atomic<ClientState> state{ClientState::LoggingIn};
  std::atomic<std::int32_t> backend_pid{0};  // of the server connection it holds; 0: none

  void set_state(ClientState s) { state.store(s, std::memory_order_relaxed); }
  void set_backend_pid(std::int32_t pid) { backend_pid.store(pid, std::memory_order_relaxed); }
};

class ClientRegistry {
 public:
  // A client's place in the registry for as long as it is connected.
  class Handle {
   public:
    Handle(Handle&& other) noexcept;
    Handle& operator=(Handle&&) = delete;
    ~Handle();
    ClientInfo& info() { return *entry_; }
    // The number of clients, this one included, when it connected (for max_client_conn).
    int count_at_connect() const { return count_at_connect_; }

   private:
    friend class ClientRegistry;
    Handle(ClientRegistry* registry, std::list<ClientInfo>::iterator entry, int count)
        : registry_(registry), entry_(entry), count_at_connect_(count) {}
    ClientRegistry* registry_;
    std::list<ClientInfo>::iterator entry_;
    int count_at_connect_;
  };

  Handle add(std::string peer);
  void logged_in(ClientInfo& info, std::string user, std::string database,
                 std::string application_name, std::string pool, bool tls);
  int count() const { return count_.load(std::memory_order_relaxed); }
  // Calls `visit` for each client under the registry's mutex: copy, do not block.
  void for_each(const std::function<void(const ClientInfo&)>& visit);

 private:
  std::mutex mutex_;
  std::list<ClientInfo> clients_;
  std::uint64_t next_id_ = 1;
  std::atomic<int> count_{0};
};

}  // namespace pgb::frontend
