// YAML -> Config. Every key is checked for type and range, every problem is collected with
// its line, and keys that belong to features not built yet are refused rather than ignored.
#include "config/loader.hpp"

#include "common/secret_file.hpp"

#include <yaml-cpp/yaml.h>

#include <fmt/format.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

namespace pgb::config {
namespace {

// Settings of capabilities on the roadmap (docs/configuration.md, "Not supported yet").
const std::set<std::string, std::less<>> kNotSupportedYet = {"hba_file",
                                                             "load_balance_mode",
                                                             "health_check_period",
                                                             "health_check_timeout",
                                                             "health_check_user",
                                                             "health_check_password",
                                                             "failover_command",
                                                             "failover_on_backend_error",
                                                             "unix_socket_dir",
                                                             "etcd",
                                                             "sr_check_period",
                                                             "delay_threshold",
                                                             "log_statement",
                                                             "log_connections",
                                                             "log_disconnections"};

class Validator {
 public:
  explicit Validator(std::string file) : file_(std::move(file)) {}

  void problem(const YAML::Node& node, std::string key, std::string message) {
    int line = node.IsDefined() ? node.Mark().line + 1 : 0;
    problems_.push_back(Problem{file_, line, std::move(key), std::move(message)});
  }
  void problem_at(int line, std::string key, std::string message) {
    problems_.push_back(Problem{file_, line, std::move(key), std::move(message)});
  }
  std::vector<Problem>& problems() { return problems_; }

  bool scalar(const YAML::Node& n, const std::string& key) {
    if (n.IsScalar()) return true;
    problem(n, key, "expected a single value");
    return false;
  }

  void boolean(const YAML::Node& n, const std::string& key, bool& out) {
    if (!scalar(n, key)) return;
    std::string s = n.Scalar();
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (s == "true" || s == "on" || s == "yes" || s == "1")
      out = true;
    else if (s == "false" || s == "off" || s == "no" || s == "0")
      out = false;
    else
      problem(n, key, fmt::format("invalid boolean \"{}\" (use true or false)", n.Scalar()));
  }

  void integer(const YAML::Node& n, const std::string& key, int& out, long min, long max) {
    if (!scalar(n, key)) return;
    const std::string& s = n.Scalar();
    long v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) {
      problem(n, key, fmt::format("invalid integer \"{}\"", s));
    } else if (v < min || v > max) {
      problem(n, key, fmt::format("{} is outside the valid range {}..{}", v, min, max));
    } else {
      out = static_cast<int>(v);
    }
  }

  void string(const YAML::Node& n, const std::string& key, std::string& out) {
    if (scalar(n, key)) out = n.Scalar();
  }

  // An existing, readable file (checked now so --check catches it, as PostgreSQL does for
  // ssl_cert_file).
  void file(const YAML::Node& n, const std::string& key, std::string& out) {
    if (!scalar(n, key)) return;
    std::error_code ec;
    std::ifstream probe(n.Scalar());
    if (!std::filesystem::is_regular_file(n.Scalar(), ec) || !probe) {
      problem(n, key, fmt::format("cannot read file \"{}\"", n.Scalar()));
      return;
    }
    out = n.Scalar();
  }

  // Integers are seconds; strings take PostgreSQL's units: ms, s, min, h, d.
  void duration(const YAML::Node& n, const std::string& key, Millis& out) {
    if (!scalar(n, key)) return;
    const std::string& s = n.Scalar();
    long v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    std::string_view unit(p, static_cast<std::size_t>(s.data() + s.size() - p));
    while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
    static const std::map<std::string_view, long> kUnits = {
        {"", 1000}, {"ms", 1}, {"s", 1000}, {"min", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}};
    auto it = kUnits.find(unit);
    if (ec != std::errc() || it == kUnits.end()) {
      problem(
          n, key,
          fmt::format("invalid duration \"{}\" (seconds, or a number with ms, s, min, h or d)", s));
    } else if (v < 0 || v > 365L * 86'400'000 / it->second) {
      problem(n, key, fmt::format("{} is outside the valid range (0 to 365 days)", s));
    } else {
      out = Millis(v * it->second);
    }
  }

  // Integers are bytes; strings take PostgreSQL's units: kB, MB, GB.
  void size(const YAML::Node& n, const std::string& key, std::uint32_t& out, std::uint64_t min,
            std::uint64_t max) {
    if (!scalar(n, key)) return;
    const std::string& s = n.Scalar();
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    std::string_view unit(p, static_cast<std::size_t>(s.data() + s.size() - p));
    while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
    static const std::map<std::string_view, std::uint64_t> kUnits = {
        {"", 1}, {"B", 1}, {"kB", 1024}, {"MB", 1024 * 1024}, {"GB", 1024 * 1024 * 1024}};
    auto it = kUnits.find(unit);
    if (ec != std::errc() || it == kUnits.end()) {
      problem(n, key, fmt::format("invalid size \"{}\" (bytes, or a number with kB, MB or GB)", s));
      return;
    }
    if (v > max / it->second) {
      problem(n, key, fmt::format("{} is outside the valid range {}..{} bytes", s, min, max));
      return;
    }
    std::uint64_t bytes = v * it->second;
    if (bytes < min || bytes > max) {
      problem(n, key, fmt::format("{} is outside the valid range {}..{} bytes", s, min, max));
      return;
    }
    out = static_cast<std::uint32_t>(bytes);
  }

  template <class E>
  void one_of(const YAML::Node& n, const std::string& key, E& out,
              std::initializer_list<std::pair<const char*, E>> choices) {
    if (!scalar(n, key)) return;
    std::string names;
    for (const auto& [name, value] : choices) {
      if (n.Scalar() == name) {
        out = value;
        return;
      }
      names += names.empty() ? name : fmt::format(", {}", name);
    }
    problem(n, key, fmt::format("invalid value \"{}\" (expected one of: {})", n.Scalar(), names));
  }

 private:
  std::string file_;
  std::vector<Problem> problems_;
};

void load_backend(Validator& v, const YAML::Node& node, std::size_t index, BackendServer& out) {
  std::string prefix = fmt::format("backend_servers[{}]", index);
  if (!node.IsMap()) {
    v.problem(node, prefix, "expected a mapping with hostname, port, weight and role");
    return;
  }
  bool has_host = false;
  for (const auto& kv : node) {
    std::string key = kv.first.Scalar();
    std::string full = prefix + "." + key;
    const YAML::Node& val = kv.second;
    if (key == "hostname") {
      v.string(val, full, out.hostname);
      has_host = !out.hostname.empty();
    } else if (key == "port") {
      v.integer(val, full, out.port, 1, 65535);
    } else if (key == "weight") {
      v.integer(val, full, out.weight, 0, 1'000'000);
    } else if (key == "role") {
      v.one_of(val, full, out.role, {{"primary", Role::Primary}, {"standby", Role::Standby}});
    } else {
      v.problem(kv.first, full, "unknown key (expected hostname, port, weight or role)");
    }
  }
  if (!has_host) v.problem(node, prefix + ".hostname", "missing");
}

void load_rest_api(Validator& v, const YAML::Node& node, const std::string& prefix, RestApi& out) {
  if (!node.IsMap()) {
    v.problem(node, prefix, "expected a mapping (enabled, port, bind_address, jwt_enabled, ...)");
    return;
  }
  std::string secret_file;
  bool inline_secret = false;
  for (const auto& kv : node) {
    std::string key = kv.first.Scalar();
    std::string full = prefix + "." + key;
    const YAML::Node& val = kv.second;
    if (key == "enabled") {
      v.boolean(val, full, out.enabled);
    } else if (key == "port") {
      v.integer(val, full, out.port, 1, 65535);
    } else if (key == "bind_address") {
      v.string(val, full, out.bind_address);
    } else if (key == "jwt_enabled") {
      v.boolean(val, full, out.jwt_enabled);
    } else if (key == "jwt_secret") {
      v.string(val, full, out.jwt_secret);
      inline_secret = true;
    } else if (key == "jwt_secret_file") {
      v.file(val, full, secret_file);
    } else if (key == "allow_remote_without_jwt") {
      v.boolean(val, full, out.allow_remote_without_jwt);
    } else if (key == "jwt_for_metrics") {
      v.boolean(val, full, out.jwt_for_metrics);
    } else if (key == "ssl_cert") {
      v.file(val, full, out.ssl_cert);
    } else if (key == "ssl_key") {
      v.file(val, full, out.ssl_key);
    } else {
      v.problem(kv.first, full,
                "unknown key (expected enabled, port, bind_address, jwt_enabled, jwt_secret, "
                "jwt_secret_file, allow_remote_without_jwt, jwt_for_metrics, ssl_cert or ssl_key)");
    }
  }
  if (inline_secret && !secret_file.empty()) {
    v.problem(node, prefix + ".jwt_secret", "set jwt_secret or jwt_secret_file, not both");
  } else if (!secret_file.empty()) {
    out.jwt_secret = read_secret_file(secret_file).value_or("");  // readable: checked above
  }
  if (out.ssl_cert.empty() != out.ssl_key.empty()) {
    v.problem(node, prefix + (out.ssl_cert.empty() ? ".ssl_cert" : ".ssl_key"),
              "HTTPS needs both ssl_cert and ssl_key");
  }
  if (!out.enabled) return;
  // The secret itself never appears in a message.
  if (out.jwt_enabled && out.jwt_secret.empty()) {
    v.problem(node, prefix + ".jwt_secret", "jwt_enabled needs jwt_secret or jwt_secret_file");
  } else if (out.jwt_enabled && out.jwt_secret.size() < kMinJwtSecretBytes) {
    v.problem(node, prefix + ".jwt_secret",
              fmt::format("the secret is {} bytes long; HS256 needs at least {}",
                          out.jwt_secret.size(), kMinJwtSecretBytes));
  }
  if (!out.jwt_enabled && !is_loopback(out.bind_address) && !out.allow_remote_without_jwt) {
    v.problem(node, prefix + ".bind_address",
              "without JWT the REST API listens on loopback only; set "
              "allow_remote_without_jwt: true to open it to other hosts without authentication");
  }
}

void load_pool_mode(Validator& v, const YAML::Node& n, const std::string& key, PoolMode& out) {
  v.one_of(n, key, out,
           {{"session", PoolMode::Session},
            {"transaction", PoolMode::Transaction},
            {"statement", PoolMode::Statement}});
}

// databases: / users: sections, each a map of name -> settings that override the global ones.
void load_overrides(Validator& v, const YAML::Node& n, const std::string& key,
                    std::map<std::string, PoolOverride>& out) {
  if (!n.IsMap()) {
    v.problem(n, key, "expected a mapping of names to settings");
    return;
  }
  for (const auto& entry : n) {
    std::string name = entry.first.Scalar();
    std::string prefix = key + "." + name;
    if (!entry.second.IsMap()) {
      v.problem(entry.second, prefix, "expected a mapping of settings (e.g. pool_mode)");
      continue;
    }
    PoolOverride o;
    for (const auto& kv : entry.second) {
      std::string setting = kv.first.Scalar();
      if (setting == "pool_mode") {
        PoolMode mode = PoolMode::Session;
        load_pool_mode(v, kv.second, prefix + ".pool_mode", mode);
        o.pool_mode = mode;
      } else {
        v.problem(kv.first, prefix + "." + setting, "unknown key (expected pool_mode)");
      }
    }
    out[name] = o;
  }
}

// A YAML list, or one comma-separated string (as in postgresql.conf and pgbouncer.ini).
std::vector<std::string> load_name_list(Validator& v, const YAML::Node& n, const std::string& key) {
  std::vector<std::string> names;
  if (n.IsSequence()) {
    for (const auto& item : n) {
      if (v.scalar(item, key)) names.push_back(item.Scalar());
    }
  } else if (v.scalar(n, key)) {
    std::stringstream ss(n.Scalar());
    std::string part;
    while (std::getline(ss, part, ',')) {
      auto b = part.find_first_not_of(" \t");
      auto e = part.find_last_not_of(" \t");
      if (b != std::string::npos) names.push_back(part.substr(b, e - b + 1));
    }
  }
  return names;
}

void load_listen_addresses(Validator& v, const YAML::Node& n, std::vector<std::string>& out) {
  auto addresses = load_name_list(v, n, "listen_addresses");
  if (addresses.empty()) {
    v.problem(n, "listen_addresses", "no address given");
    return;
  }
  out = std::move(addresses);
}

void load_root(Validator& v, const YAML::Node& root, Config& c) {
  using Handler = std::function<void(const YAML::Node&, const std::string&)>;
  const std::map<std::string, Handler, std::less<>> handlers = {
      {"listen_addresses",
       [&](auto& n, auto&) { load_listen_addresses(v, n, c.listen_addresses); }},
      {"port", [&](auto& n, auto& k) { v.integer(n, k, c.port, 1, 65535); }},
      {"worker_threads", [&](auto& n, auto& k) { v.integer(n, k, c.worker_threads, 0, 256); }},
      {"rest_api", [&](auto& n, auto& k) { load_rest_api(v, n, k, c.rest_api); }},
      {"backend_servers",
       [&](auto& n, auto& k) {
         if (!n.IsSequence()) {
           v.problem(n, k, "expected a list of servers");
           return;
         }
         for (std::size_t i = 0; i < n.size(); ++i) {
           BackendServer server;
           load_backend(v, n[i], i, server);
           c.backend_servers.push_back(std::move(server));
         }
       }},
      {"pool_mode", [&](auto& n, auto& k) { load_pool_mode(v, n, k, c.pool_mode); }},
      {"databases", [&](auto& n, auto& k) { load_overrides(v, n, k, c.databases); }},
      {"users", [&](auto& n, auto& k) { load_overrides(v, n, k, c.users); }},
      {"track_extra_parameters",
       [&](auto& n, auto& k) {
         if (!n.IsSequence()) {
           v.problem(n, k, "expected a list of parameter names");
           return;
         }
         for (const auto& item : n) {
           if (v.scalar(item, k)) c.track_extra_parameters.push_back(item.Scalar());
         }
       }},
      {"client_idle_timeout", [&](auto& n, auto& k) { v.duration(n, k, c.client_idle_timeout); }},
      {"idle_transaction_timeout",
       [&](auto& n, auto& k) { v.duration(n, k, c.idle_transaction_timeout); }},
      {"max_pool", [&](auto& n, auto& k) { v.integer(n, k, c.max_pool, 1, 10'000); }},
      {"min_pool_size", [&](auto& n, auto& k) { v.integer(n, k, c.min_pool_size, 0, 10'000); }},
      {"reserve_pool_size",
       [&](auto& n, auto& k) { v.integer(n, k, c.reserve_pool_size, 0, 10'000); }},
      {"reserve_pool_timeout", [&](auto& n, auto& k) { v.duration(n, k, c.reserve_pool_timeout); }},
      {"max_db_connections",
       [&](auto& n, auto& k) { v.integer(n, k, c.max_db_connections, 0, 1'000'000); }},
      {"max_user_connections",
       [&](auto& n, auto& k) { v.integer(n, k, c.max_user_connections, 0, 1'000'000); }},
      {"max_client_conn",
       [&](auto& n, auto& k) { v.integer(n, k, c.max_client_conn, 1, 1'000'000); }},
      {"server_reset_query", [&](auto& n, auto& k) { v.string(n, k, c.server_reset_query); }},
      {"max_prepared_statements",
       [&](auto& n, auto& k) { v.integer(n, k, c.max_prepared_statements, 0, 100'000); }},
      {"auth_type",
       [&](auto& n, auto& k) {
         v.one_of(n, k, c.auth_type,
                  {{"scram-sha-256", AuthType::ScramSha256},
                   {"md5", AuthType::Md5},
                   {"password", AuthType::Password},
                   {"trust", AuthType::Trust}});
       }},
      {"auth_file", [&](auto& n, auto& k) { v.file(n, k, c.auth_file); }},
      {"pgpass_file", [&](auto& n, auto& k) { v.file(n, k, c.pgpass_file); }},
      {"auth_user", [&](auto& n, auto& k) { v.string(n, k, c.auth_user); }},
      {"auth_query", [&](auto& n, auto& k) { v.string(n, k, c.auth_query); }},
      {"auth_dbname", [&](auto& n, auto& k) { v.string(n, k, c.auth_dbname); }},
      {"ssl", [&](auto& n, auto& k) { v.boolean(n, k, c.ssl); }},
      {"ssl_cert", [&](auto& n, auto& k) { v.file(n, k, c.ssl_cert); }},
      {"ssl_key", [&](auto& n, auto& k) { v.file(n, k, c.ssl_key); }},
      {"ssl_ca_cert", [&](auto& n, auto& k) { v.file(n, k, c.ssl_ca_cert); }},
      {"backend_encryption", [&](auto& n, auto& k) { v.boolean(n, k, c.backend_encryption); }},
      {"backend_ssl_ca_cert", [&](auto& n, auto& k) { v.file(n, k, c.backend_ssl_ca_cert); }},
      {"client_login_timeout", [&](auto& n, auto& k) { v.duration(n, k, c.client_login_timeout); }},
      {"query_wait_timeout", [&](auto& n, auto& k) { v.duration(n, k, c.query_wait_timeout); }},
      {"server_connect_timeout",
       [&](auto& n, auto& k) { v.duration(n, k, c.server_connect_timeout); }},
      {"server_idle_timeout", [&](auto& n, auto& k) { v.duration(n, k, c.server_idle_timeout); }},
      {"server_lifetime", [&](auto& n, auto& k) { v.duration(n, k, c.server_lifetime); }},
      {"max_message_size",
       [&](auto& n, auto& k) { v.size(n, k, c.max_message_size, 8192, 1u << 30); }},
      {"log_file", [&](auto& n, auto& k) { v.string(n, k, c.log_file); }},
      {"admin_users", [&](auto& n, auto& k) { c.admin_users = load_name_list(v, n, k); }},
      {"stats_users", [&](auto& n, auto& k) { c.stats_users = load_name_list(v, n, k); }},
      {"log_level",
       [&](auto& n, auto& k) {
         v.one_of(n, k, c.log_level,
                  {{"debug", LogLevel::Debug},
                   {"info", LogLevel::Info},
                   {"warning", LogLevel::Warning},
                   {"error", LogLevel::Error}});
       }},
  };

  std::set<std::string> seen;
  for (const auto& kv : root) {
    if (!kv.first.IsScalar()) {
      v.problem(kv.first, "?", "keys must be plain names");
      continue;
    }
    const std::string key = kv.first.Scalar();
    c.key_lines.emplace(key, kv.first.Mark().line + 1);
    if (!seen.insert(key).second) {
      v.problem(kv.first, key, "set more than once");
      continue;
    }
    if (auto it = handlers.find(key); it != handlers.end()) {
      it->second(kv.second, key);
    } else if (kNotSupportedYet.contains(key)) {
      v.problem(kv.first, key, "not supported yet in this version of pgbalancer");
    } else {
      v.problem(kv.first, key, "unknown configuration key");
    }
  }

  if (!seen.contains("backend_servers"))
    v.problem_at(0, "backend_servers", "missing: at least one server is required");
  else if (c.backend_servers.empty())
    v.problem(root["backend_servers"], "backend_servers", "at least one server is required");
  if (c.ssl && (c.ssl_cert.empty() || c.ssl_key.empty())) {
    v.problem(root["ssl"], "ssl", "ssl: true needs ssl_cert and ssl_key");
  }
  if (c.auth_type != AuthType::Trust && c.auth_file.empty() && c.auth_user.empty()) {
    v.problem_at(
        0, "auth_file",
        fmt::format("auth_type {} needs an auth_file or auth_user", to_string(c.auth_type)));
  }
  if (seen.contains("auth_query") && c.auth_user.empty()) {
    v.problem(root["auth_query"], "auth_query", "auth_query needs auth_user");
  }
}

}  // namespace

std::string Problem::to_string() const {
  if (line > 0) return fmt::format("{}:{}: {}: {}", file, line, key, message);
  return fmt::format("{}: {}: {}", file, key, message);
}

LoadResult parse_config(const std::string& yaml_text, const std::string& source_name) {
  Validator v(source_name);
  Config c;
  c.source_path = source_name;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    v.problem_at(e.mark.line + 1, "yaml", e.msg);
    return std::move(v.problems());
  }
  if (root.IsNull()) {
    v.problem_at(0, "backend_servers", "missing: the file is empty");
    return std::move(v.problems());
  }
  if (!root.IsMap()) {
    v.problem(root, "yaml", "the top level must be a mapping of settings");
    return std::move(v.problems());
  }
  try {
    load_root(v, root, c);
  } catch (const YAML::Exception& e) {
    v.problem_at(e.mark.line + 1, "yaml", e.msg);
  }
  if (!v.problems().empty()) return std::move(v.problems());
  return c;
}

LoadResult load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return std::vector<Problem>{Problem{path, 0, "file", "cannot read the configuration file"}};
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path);
}

}  // namespace pgb::config
