// One connection from pgbalancer to PostgreSQL: connect, TLS, log in, reset, close.
#pragma once

#include "auth/scram.hpp"
#include "common/byte_buffer.hpp"
#include "common/coarse_clock.hpp"
#include "common/result.hpp"
#include "net/event_loop.hpp"
#include "net/stream.hpp"
#include "protocol/startup.hpp"
#include "statements/server_cache.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pgb::backend {

// Size of each connection's relay buffer. Large results stream through it in pieces.
inline constexpr std::size_t kRelayBufferSize = 16 * 1024;

struct BackendAddress {
  std::size_t node_index = 0;
  std::string host;
  int port = 5432;
};

// What pgbalancer knows to log in as a user; the best available method is used.
struct Credentials {
  std::optional<std::string> password;  // plaintext: auth_file, pgpass, or what the client sent
  std::optional<auth::ScramKeys>
      scram_keys;                       // proven by the client's SCRAM exchange (pass-through)
  std::optional<std::string> md5_hash;  // "md5..." from the auth_file
};

struct ConnectOptions {
  BackendAddress address;
  protocol::Parameters startup_params;  // user, database and the client's other parameters
  Credentials credentials;
  std::shared_ptr<boost::asio::ssl::context> tls;  // null: plain TCP
  bool verify_server_certificate = false;
  std::chrono::milliseconds connect_timeout{15'000};
};

class ServerConnection {
 public:
  using Clock = std::chrono::steady_clock;

  // Connects and logs in. A refusal from PostgreSQL (unknown database, bad password, ...)
  // comes back as its own Error so the client sees what it would see connecting directly.
  static awaitable<Result<std::unique_ptr<ServerConnection>>> connect(
      const ConnectOptions& options);

  // Runs `query` (server_reset_query, parameter sync) and waits for ReadyForQuery(idle),
  // recording the ParameterStatus values it reports; any error fails it, and then the
  // connection must not be reused.
  awaitable<Status> run_simple(const std::string& query, std::chrono::milliseconds timeout);
  // Runs one statement with text parameters (extended protocol) and returns its rows as text.
  // For pgbalancer's own small lookups (auth_query), never for client traffic.
  using Row = std::vector<std::optional<std::string>>;
  awaitable<Result<std::vector<Row>>> run_query(const std::string& sql,
                                                const std::vector<std::string>& params,
                                                std::chrono::milliseconds timeout);

  net::Stream& stream() { return *stream_; }
  bool is_tls() const { return stream_->is_tls(); }
  ByteBuffer& buffer() { return buffer_; }
  const BackendAddress& address() const { return address_; }
  std::uint64_t id() const { return id_; }  // unique in the process, for listings and logs
  std::int32_t process_id() const { return process_id_; }
  std::int32_t secret_key() const { return secret_key_; }
  // ParameterStatus values as reported at login, and as they are now.
  const protocol::Parameters& login_parameters() const { return login_parameters_; }
  const protocol::Parameters& parameters() const { return parameters_; }
  void note_parameter(std::string_view name, std::string_view value);
  // The client parameter set (shared, immutable) these values were last found to match:
  // a client with the same set needs no comparison. Any change reported forgets it.
  bool known_in_line_with(const std::shared_ptr<const protocol::Parameters>& wanted) const {
    return in_line_with_ == wanted;
  }
  void set_in_line_with(std::shared_ptr<const protocol::Parameters> wanted) {
    in_line_with_ = std::move(wanted);
  }
  Clock::time_point created_at() const { return created_at_; }
  Clock::time_point last_used() const { return last_used_; }
  void touch() { last_used_ = coarse_now(); }
  // Named statements pgbalancer prepared here (transaction and statement modes).
  statements::ServerCache& statements() { return statements_; }
  // The socket's place in a worker's event loop while event-loop clients of that worker pass
  // the connection on (transaction_loop.cpp). It must leave the loop before the connection
  // goes to another thread, to a coroutine, to the idle list or is closed (Pool sees to it).
  net::EventLoop::Watch* loop_watch() const { return loop_watch_; }
  void set_loop_watch(net::EventLoop::Watch* watch) { loop_watch_ = watch; }
  void leave_loop() {
    if (loop_watch_) loop_watch_->loop().forget(*loop_watch_);
    loop_watch_ = nullptr;
  }
  ~ServerConnection() { leave_loop(); }

 private:
  ServerConnection(std::unique_ptr<net::Stream> stream, BackendAddress address);
  awaitable<Status> login(const ConnectOptions& options);
  awaitable<Status> authenticate(std::string_view payload, const ConnectOptions& options,
                                 std::optional<auth::ScramClientExchange>& scram);

  std::unique_ptr<net::Stream> stream_;
  ByteBuffer buffer_{kRelayBufferSize};
  BackendAddress address_;
  const std::uint64_t id_;
  std::int32_t process_id_ = 0;
  std::int32_t secret_key_ = 0;
  protocol::Parameters login_parameters_;
  protocol::Parameters parameters_;
  std::shared_ptr<const protocol::Parameters> in_line_with_;
  Clock::time_point created_at_ = coarse_now();
  Clock::time_point last_used_ = created_at_;
  statements::ServerCache statements_;
  net::EventLoop::Watch* loop_watch_ = nullptr;
};

// Sends a CancelRequest for (process_id, secret_key) to a backend, as libpq's PQcancel does.
awaitable<Status> send_cancel(const BackendAddress& address, std::int32_t process_id,
                              std::int32_t secret_key, std::chrono::milliseconds timeout);

// Whether a PostgreSQL server answers at `address`, without credentials: connects and sends an
// SSLRequest, which PostgreSQL answers ('S' or 'N') before any authentication.
awaitable<Status> probe(const BackendAddress& address, std::chrono::milliseconds timeout);

}  // namespace pgb::backend
