#!/usr/bin/env bash
# Installs everything pgbalancer needs to build, run its tests and benchmarks: Debian 12 packages,
# and node-postgres from npm for one client test.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libssl-dev libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev libgtest-dev
  postgresql-15 postgresql-client-15 pgbouncer openssl procps
  python3-pytest python3-psycopg
  openjdk-17-jdk-headless libpostgresql-jdbc-java  # JDBC client in the prepared-statement tests
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# node-postgres for the prepared-statement tests, from the npm registry (versions pinned by the lock file).
if [ ! -d tests/clients/node/node_modules/pg ]; then
  command -v npm >/dev/null || { echo "install-deps: npm (Node.js) is needed for the node-postgres tests" >&2; exit 1; }
  (cd tests/clients/node && npm ci --no-audit --no-fund --loglevel=error)
fi
