// Process lifecycle: listeners, worker threads, SIGHUP reload, SIGINT/SIGTERM shutdown, janitor.
#include "app/daemon.hpp"

#include "admin/rest_server.hpp"
#include "app/inspection.hpp"
#include "app/listener.hpp"
#include "app/runtime.hpp"
#include "common/log.hpp"
#include "net/tls.hpp"
#include "pgbalancer_version.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <list>
#include <map>
#include <mutex>
#include <thread>

namespace pgb::app {
namespace {

// How often idle server connections are checked against server_idle_timeout and server_lifetime.
constexpr std::chrono::seconds kJanitorPeriod{1};
// Bound of the health endpoint's backend probes.
constexpr std::chrono::milliseconds kProbeTimeout{3'000};

log::Level to_log_level(config::LogLevel l) {
  switch (l) {
    case config::LogLevel::Debug: return log::Level::Debug;
    case config::LogLevel::Info: return log::Level::Info;
    case config::LogLevel::Warning: return log::Level::Warning;
    case config::LogLevel::Error: return log::Level::Error;
  }
  return log::Level::Info;
}

// '*' means every IPv4 and IPv6 address, as in PostgreSQL's listen_addresses.
std::vector<tcp::endpoint> listen_endpoints(asio::io_context& ioc, const config::Config& c,
                                            std::string& error) {
  std::vector<tcp::endpoint> out;
  auto port = static_cast<unsigned short>(c.port);
  for (const auto& addr : c.listen_addresses) {
    if (addr == "*") {
      out.emplace_back(tcp::v4(), port);
      out.emplace_back(tcp::v6(), port);
      continue;
    }
    tcp::resolver resolver(ioc);
    error_code ec;
    auto results = resolver.resolve(addr, std::to_string(c.port), tcp::resolver::passive, ec);
    if (ec) {
      error = fmt::format("cannot resolve listen address \"{}\": {}", addr, ec.message());
      return {};
    }
    for (const auto& r : results) out.push_back(r.endpoint());
  }
  return out;
}

class Daemon final : public admin::Operations {
 public:
  Daemon(std::string path, std::shared_ptr<const frontend::Settings> settings)
      : path_(std::move(path)),
        workers_(thread_count(settings->config)),
        ioc_(workers_.at(0)),
        signals_(ioc_, SIGINT, SIGTERM, SIGHUP),
        janitor_(ioc_) {
    shared_.publish(std::move(settings));
    shared_.set_operations(this);
  }

  int run() {
    const auto settings = shared_.settings();
    std::string error;
    auto endpoints = listen_endpoints(ioc_, settings->config, error);
    if (!error.empty()) {
      log::error("{}", error);
      return 1;
    }
    for (const auto& ep : endpoints) {
      auto& acceptor = acceptors_.emplace_back(ioc_);
      error_code ec;
      acceptor.open(ep.protocol(), ec);
      if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
      if (!ec && ep.protocol() == tcp::v6()) acceptor.set_option(asio::ip::v6_only(true), ec);
      if (!ec) acceptor.bind(ep, ec);
      if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
      if (ec) {
        log::error("could not listen on {}:{}: {}", ep.address().to_string(), ep.port(),
                   ec.message());
        return 1;
      }
      asio::co_spawn(ioc_, accept_loop(acceptor, workers_, shared_), asio::detached);
      log::info("listening on {}:{}", ep.address().to_string(), ep.port());
    }
    if (const auto& rest = settings->config.rest_api; rest.enabled) {
      admin::RestServer::Options options;
      options.bind_address = rest.bind_address;
      options.port = rest.port;
      options.api.jwt_enabled = rest.jwt_enabled;
      options.api.jwt_for_metrics = rest.jwt_for_metrics;
      options.api.policy.secret = rest.jwt_secret;
      if (!rest.ssl_cert.empty()) {
        auto tls = net::make_server_tls_context(rest.ssl_cert, rest.ssl_key, "");
        if (!tls) {
          log::error("REST API: {} ({})", tls.error().message, tls.error().detail);
          return 1;
        }
        options.tls = std::move(tls.value());
      }
      rest_ = std::make_unique<admin::RestServer>(std::move(options), *this);
      if (auto problem = rest_->start()) {
        log::error("{}", *problem);
        return 1;
      }
    }
    wait_for_signal();
    schedule_janitor();

    auto threads = workers_.size();
    log::info("pgbalancer {} started: {} worker threads, pool_mode {}, backend {}:{}", kVersion,
              threads, config::to_string(settings->config.pool_mode),
              settings->config.backend_servers[settings->config.primary_index()].hostname,
              settings->config.backend_servers[settings->config.primary_index()].port);
    // Workers other than the first run until stopped, even while they have no sessions.
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep_alive;
    std::vector<std::thread> threads_running;
    for (std::size_t i = 1; i < threads; ++i) {
      keep_alive.push_back(asio::make_work_guard(workers_.at(i)));
      threads_running.emplace_back([this, i] { workers_.at(i).run(); });
    }
    ioc_.run();
    if (rest_) rest_->stop();
    for (std::size_t i = 1; i < threads; ++i) workers_.at(i).stop();
    for (auto& t : threads_running) t.join();
    for (auto& pool : shared_.pools().all()) pool->close_expired(std::chrono::milliseconds(1), {});
    log::info("pgbalancer stopped");
    return 0;
  }

 private:
  static unsigned thread_count(const config::Config& c) {
    if (c.worker_threads > 0) return static_cast<unsigned>(c.worker_threads);
    return std::max(1u, std::thread::hardware_concurrency());
  }

  void wait_for_signal() {
    signals_.async_wait([this](error_code ec, int signo) {
      if (ec) return;
      if (signo == SIGHUP) {
        reload_file("SIGHUP");
        wait_for_signal();
        return;
      }
      shut_down(signo == SIGINT ? "received signal SIGINT" : "received signal SIGTERM");
    });
  }

  void shut_down(std::string_view why) {
    log::info("{}, shutting down", why);
    for (auto& a : acceptors_) {
      error_code ignored;
      a.close(ignored);
    }
    janitor_.cancel();
    ioc_.stop();
  }

  void stop() override {
    asio::post(ioc_, [this] { shut_down("stop requested through the REST API"); });
  }

  // admin::Operations, called on the management plane's threads.
  admin::StatusSnapshot snapshot() override {
    const auto settings = shared_.settings();
    admin::StatusSnapshot s;
    s.version = kVersion;
    s.pool_mode = std::string(config::to_string(settings->config.pool_mode));
    s.uptime_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    s.worker_threads = static_cast<int>(workers_.size());
    s.client_connections = shared_.clients().count();
    s.pools = pool_snapshots(shared_);
    return s;
  }
  std::vector<admin::NodeSnapshot> nodes() override {
    auto nodes = node_snapshots(shared_);
    std::lock_guard lock(probe_failures_mutex_);
    for (auto& n : nodes) n.health_check_failures = probe_failures_[{n.host, n.port}];
    return nodes;
  }
  std::vector<admin::ClientSnapshot> clients() override { return client_snapshots(shared_); }
  std::vector<admin::ServerSnapshot> servers() override { return server_snapshots(shared_); }
  std::vector<admin::HealthCheck> health() override {
    const auto settings = shared_.settings();
    auto checks = check_backends(settings->config, kProbeTimeout);
    std::lock_guard lock(probe_failures_mutex_);
    for (const auto& c : checks) {
      if (!c.up) ++probe_failures_[{c.host, c.port}];
    }
    return checks;
  }
  std::shared_ptr<const config::Config> config() override {
    auto settings = shared_.settings();
    return {settings, &settings->config};  // shares the snapshot's lifetime
  }
  std::optional<std::string> pause(const std::string& database) override {
    return shared_.pools().pause(database);
  }
  std::optional<std::string> resume(const std::string& database) override {
    return shared_.pools().resume(database);
  }
  bool paused(const std::string& database) override { return shared_.pools().paused(database); }
  int server_connections(const std::string& database) override {
    int open = 0;
    for (const auto& pool : shared_.pools().all()) {
      if (!database.empty() && pool->database() != database) continue;
      auto counts = pool->counts();
      open += counts.servers_active + counts.servers_idle;
    }
    return open;
  }

  admin::LogRotation reopen_log() override {
    auto file = log::file();
    if (file.empty()) return {false, "pgbalancer logs to stderr (no log_file): nothing to reopen"};
    if (auto problem = log::set_file(file)) {
      log::error("could not reopen log file {}: {}", file, *problem);
      return {false, fmt::format("could not reopen {}: {}", file, *problem)};
    }
    log::info("log file reopened");
    return {true, fmt::format("reopened {}", file)};
  }

  // On the caller's thread (the REST API's, or a worker's for the admin console): a reload
  // only builds a new settings snapshot and publishes it. reload_mutex_ keeps reloads from
  // SIGHUP, the API and consoles one at a time.
  std::vector<std::string> reload() override { return reload_file("management request"); }

  std::vector<std::string> reload_file(std::string_view why) {
    std::lock_guard lock(reload_mutex_);
    log::info("{}: reloading {}", why, path_);
    auto built = build_settings(path_);
    if (auto* problems = std::get_if<std::vector<std::string>>(&built)) {
      for (const auto& p : *problems) log::error("reload: {}", p);
      log::error("reload failed: keeping the previous configuration");
      return *problems;
    }
    auto next = std::get<std::shared_ptr<const frontend::Settings>>(built);
    for (const auto& key :
         config::restart_required_changes(shared_.settings()->config, next->config)) {
      log::warn("reload: {} changed but takes effect only after a restart", key);
    }
    log::set_level(to_log_level(next->config.log_level));
    // The log file is reopened whether or not it changed, as pgbouncer does on reload.
    if (auto problem = log::set_file(next->config.log_file)) {
      log::error("reload: cannot open log_file {}: {}; logging stays where it was",
                 next->config.log_file, *problem);
    }
    shared_.publish(std::move(next));
    log::info("reload complete: new settings apply to new connections");
    return {};
  }

  void schedule_janitor() {
    janitor_.expires_after(kJanitorPeriod);
    janitor_.async_wait([this](error_code ec) {
      if (ec) return;
      const auto settings = shared_.settings();
      auto limits = pool::pool_limits(settings->config);
      for (auto& pool : shared_.pools().all()) {
        pool->close_expired(settings->config.server_idle_timeout, settings->config.server_lifetime);
        if (limits.min_pool_size > 0) asio::co_spawn(ioc_, pool->fill(limits), asio::detached);
      }
      schedule_janitor();
    });
  }

  std::string path_;
  Workers workers_;
  asio::io_context& ioc_;  // worker 0 also runs the listeners, signals and the janitor
  frontend::SharedState shared_;
  asio::signal_set signals_;
  asio::steady_timer janitor_;
  std::list<tcp::acceptor> acceptors_;  // stable addresses: accept loops hold references
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::unique_ptr<admin::RestServer> rest_;
  std::mutex reload_mutex_;
  std::mutex probe_failures_mutex_;
  std::map<std::pair<std::string, int>, std::uint64_t> probe_failures_;  // by host and port
};

}  // namespace

int run_daemon(const std::string& config_path) {
  auto built = build_settings(config_path);
  if (auto* problems = std::get_if<std::vector<std::string>>(&built)) {
    for (const auto& p : *problems) std::cerr << p << "\n";
    return 1;
  }
  auto settings = std::get<std::shared_ptr<const frontend::Settings>>(built);
  log::set_level(to_log_level(settings->config.log_level));
  if (auto problem = log::set_file(settings->config.log_file)) {
    std::cerr << "cannot open log_file " << settings->config.log_file << ": " << *problem << "\n";
    return 1;
  }
  std::signal(SIGPIPE, SIG_IGN);
  // The daemon is never destroyed: sessions still suspended at shutdown reference sockets of
  // every worker, and tearing those down in the right order buys nothing at process exit.
  // Idle server connections were closed by run(); the kernel closes the rest.
  auto* daemon = new Daemon(config_path, std::move(settings));
  int code = daemon->run();
  std::fflush(nullptr);
  std::_Exit(code);
}

}  // namespace pgb::app
