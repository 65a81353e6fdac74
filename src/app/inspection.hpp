// The management plane's view of the data plane: pools, nodes, clients, server connections and
// backend probes, read from the shared state into admin's plain structs.
#pragma once

#include "admin/operations.hpp"
#include "frontend/shared_state.hpp"

#include <vector>

namespace pgb::app {

std::vector<admin::PoolSnapshot> pool_snapshots(frontend::SharedState& shared);
std::vector<admin::NodeSnapshot> node_snapshots(frontend::SharedState& shared);
std::vector<admin::ClientSnapshot> client_snapshots(frontend::SharedState& shared);
std::vector<admin::ServerSnapshot> server_snapshots(frontend::SharedState& shared);
// Probes every backend of `config` in parallel; returns within about `timeout`.
std::vector<admin::HealthCheck> check_backends(const config::Config& config,
                                               std::chrono::milliseconds timeout);

}  // namespace pgb::app
