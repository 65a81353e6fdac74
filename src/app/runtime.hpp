// Builds the Settings snapshot (config + auth_file + pgpass + TLS contexts) from a config file.
#pragma once

#include "config/loader.hpp"
#include "frontend/shared_state.hpp"

#include <memory>
#include <string>
#include <vector>

namespace pgb::app {

// Every problem that keeps the file from running, formatted for the operator.
using BuildResult =
    std::variant<std::shared_ptr<const frontend::Settings>, std::vector<std::string>>;

BuildResult build_settings(const std::string& config_path);
std::string default_pgpass_path();

}  // namespace pgb::app
