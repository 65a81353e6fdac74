#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test: GoogleTest unit tests, then the pytest
# integration suite against a real PostgreSQL 15 that the fixtures start.
# Extra arguments go to pytest (e.g. ./scripts/test.sh -k tls -x).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh

echo "== unit tests"
ctest --test-dir build --output-on-failure -j "$(nproc)"

echo "== integration tests"
# Debian's python3 has python3-pytest and python3-psycopg; the python3 first on PATH may not.
PGBALANCER_BIN="$PWD/build/bin/pgbalancer" /usr/bin/python3 -m pytest tests/integration -q "$@"
