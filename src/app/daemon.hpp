// The running process: worker threads, listeners, signals, reload and periodic maintenance.
#pragma once

#include <string>

namespace pgb::app {

// Runs until SIGINT/SIGTERM; returns the process exit code.
int run_daemon(const std::string& config_path);

}  // namespace pgb::app
