#include "app/inspection.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <map>

namespace pgb::app {
namespace {

std::int64_t epoch_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// A steady_clock time of the past as wall-clock time.
std::int64_t epoch_seconds(std::chrono::steady_clock::time_point t) {
  auto age = std::chrono::steady_clock::now() - t;
  return epoch_seconds(std::chrono::system_clock::now() -
                       std::chrono::duration_cast<std::chrono::system_clock::duration>(age));
}

admin::TrafficStats traffic(const pool::StatsTotals& t) {
  admin::TrafficStats s;
  s.queries = t.queries;
  s.transactions = t.transactions;
  s.bytes_received = t.bytes_received;
  s.bytes_sent = t.bytes_sent;
  s.query_time_us = t.query_time_us;
  s.transaction_time_us = t.transaction_time_us;
  s.waits = t.waits;
  s.wait_time_us = t.wait_time_us;
  s.bucket_bounds_us.assign(pool::kDurationBucketsUs.begin(), pool::kDurationBucketsUs.end());
  s.buckets.assign(t.buckets.begin(), t.buckets.end());
  return s;
}

}  // namespace

std::vector<admin::PoolSnapshot> pool_snapshots(frontend::SharedState& shared) {
  struct Clients {
    int logged_in = 0;
    int waiting = 0;
  };
  std::map<std::string, Clients, std::less<>> clients;
  shared.clients().for_each([&](const frontend::ClientInfo& c) {
    if (c.pool.empty()) return;
    auto& n = clients[c.pool];
    ++n.logged_in;
    if (c.state.load(std::memory_order_relaxed) == frontend::ClientState::Waiting) ++n.waiting;
  });
  std::vector<admin::PoolSnapshot> out;
  for (const auto& pool : shared.pools().all()) {
    auto counts = pool->counts();
    admin::PoolSnapshot p;
    p.name = pool->name();
    p.database = pool->database();
    p.user = pool->user();
    p.node = pool->node();
    auto it = clients.find(p.name);
    p.clients_waiting = it == clients.end() ? 0 : it->second.waiting;
    p.clients_active = it == clients.end() ? 0 : it->second.logged_in - it->second.waiting;
    p.servers_active = counts.servers_active;
    p.servers_idle = counts.servers_idle;
    p.stats = traffic(pool->stats().totals());
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<admin::NodeSnapshot> node_snapshots(frontend::SharedState& shared) {
  const auto settings = shared.settings();
  const auto& servers = settings->config.backend_servers;
  std::vector<admin::NodeSnapshot> out(servers.size());
  std::vector<std::optional<pool::Pool::ConnectOutcome>> latest(servers.size());
  for (std::size_t i = 0; i < servers.size(); ++i) {
    out[i].id = i;
    out[i].host = servers[i].hostname;
    out[i].port = servers[i].port;
    out[i].role = std::string(config::to_string(servers[i].role));
    out[i].weight = servers[i].weight;
  }
  for (const auto& pool : shared.pools().all()) {
    if (pool->node() >= out.size()) continue;  // a node removed by a reload
    auto& node = out[pool->node()];
    auto counts = pool->counts();
    node.connections += counts.servers_active + counts.servers_idle;
    node.queries += pool->stats().totals().queries;
    auto outcome = pool->last_connect();
    if (outcome) node.connect_failures += outcome->failures;
    auto& newest = latest[pool->node()];
    if (outcome && (!newest || outcome->at > newest->at)) newest = outcome;
  }
  for (std::size_t i = 0; i < out.size(); ++i) {
    // The latest connection attempt decides; open connections mean it was up.
    if (latest[i] && !latest[i]->ok) {
      out[i].status = "down";
      out[i].status_detail = latest[i]->error;
    } else {
      out[i].status = latest[i] || out[i].connections > 0 ? "up" : "unknown";
    }
  }
  return out;
}

std::vector<admin::ClientSnapshot> client_snapshots(frontend::SharedState& shared) {
  std::vector<admin::ClientSnapshot> out;
  shared.clients().for_each([&](const frontend::ClientInfo& c) {
    admin::ClientSnapshot s;
    s.id = c.id;
    s.user = c.user;
    s.database = c.database;
    s.application_name = c.application_name;
    s.address = c.peer;
    s.state = std::string(frontend::to_string(c.state.load(std::memory_order_relaxed)));
    s.pool = c.pool;
    s.since = epoch_seconds(c.since);
    s.tls = c.tls;
    s.backend_pid = c.backend_pid.load(std::memory_order_relaxed);
    out.push_back(std::move(s));
  });
  return out;
}

std::vector<admin::ServerSnapshot> server_snapshots(frontend::SharedState& shared) {
  std::vector<admin::ServerSnapshot> out;
  for (const auto& pool : shared.pools().all()) {
    for (const auto& row : pool->servers()) {
      admin::ServerSnapshot s;
      s.id = row.id;
      s.node = row.address.node_index;
      s.host = row.address.host;
      s.port = row.address.port;
      s.user = pool->user();
      s.database = pool->database();
      s.pool = pool->name();
      s.state = row.idle ? "idle" : "active";
      s.since = epoch_seconds(row.connected_at);
      s.backend_pid = row.process_id;
      s.tls = row.tls;
      out.push_back(std::move(s));
    }
  }
  return out;
}

std::vector<admin::HealthCheck> check_backends(const config::Config& config,
                                               std::chrono::milliseconds timeout) {
  asio::io_context ioc;
  std::vector<admin::HealthCheck> out(config.backend_servers.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    const auto& server = config.backend_servers[i];
    auto& check = out[i];
    check.id = i;
    check.host = server.hostname;
    check.port = server.port;
    check.checked_at = epoch_seconds(std::chrono::system_clock::now());
    asio::co_spawn(
        ioc,
        [](backend::BackendAddress address, std::chrono::milliseconds limit,
           admin::HealthCheck& result) -> awaitable<void> {
          auto started = std::chrono::steady_clock::now();
          auto status = co_await backend::probe(address, limit);
          result.latency_ms =
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                  .count();
          result.up = static_cast<bool>(status);
          if (!status) result.error = status.error().detail;
        }(backend::BackendAddress{i, server.hostname, server.port}, timeout, check),
        asio::detached);
  }
  ioc.run();
  return out;
}

}  // namespace pgb::app
