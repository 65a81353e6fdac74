// pgbalancer: command line entry point.
#include "app/daemon.hpp"
#include "app/runtime.hpp"
#include "pgbalancer_version.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char** argv) {
  CLI::App cli{"pgbalancer: PostgreSQL connection pooler and load balancer"};
  std::string config_path = "pgbalancer.yml";
  bool check = false;
  bool version = false;
  cli.add_option("-f,--config", config_path, "Configuration file (YAML)")->capture_default_str();
  cli.add_flag("--check", check,
               "Validate the configuration, print every problem, exit 0 if valid, 1 if not");
  cli.add_flag("-V,--version", version, "Print the version and exit");
  CLI11_PARSE(cli, argc, argv);

  if (version) {
    std::cout << "pgbalancer " << pgb::kVersion << "\n";
    return 0;
  }
  if (check) {
    auto built = pgb::app::build_settings(config_path);
    if (auto* problems = std::get_if<std::vector<std::string>>(&built)) {
      for (const auto& p : *problems) std::cerr << p << "\n";
      return 1;
    }
    std::cout << config_path << ": configuration is valid\n";
    return 0;
  }
  return pgb::app::run_daemon(config_path);
}
