#!/usr/bin/env bash
# Installs what pgbalancer needs to build and run, and its benchmarks, from Debian 12 packages.
# With --test, also the client libraries only the tests use: JDBC (with a JDK) from Debian and
# node-postgres from npm.
set -euo pipefail
cd "$(dirname "$0")/.."
with_tests=0
[ "${1:-}" = --test ] && with_tests=1
export DEBIAN_FRONTEND=noninteractive
packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-json1.81-dev libssl-dev libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev libgtest-dev
  postgresql-15 postgresql-client-15 pgbouncer openssl procps
  python3-pytest python3-psycopg
)
((with_tests)) && packages+=(openjdk-17-jdk-headless libpostgresql-jdbc-java python3-jwt python3-prometheus-client)
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
if ((with_tests)) && [ ! -d tests/clients/node/node_modules/pg ]; then
  command -v npm >/dev/null || { echo "install-deps: npm (Node.js) is needed for the node-postgres tests" >&2; exit 1; }
  (cd tests/clients/node && npm ci --no-audit --no-fund --loglevel=error)
fi
