#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test: GoogleTest unit tests and the pytest
# integration suite against a real PostgreSQL 15 that the fixtures start; then both again
# under AddressSanitizer + UndefinedBehaviorSanitizer.
# Extra arguments go to pytest (e.g. ./scripts/test.sh -k tls -x). PGB_SKIP_SANITIZERS=1 skips the second pass.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh --test

# Debian's python3 has python3-pytest and python3-psycopg; the python3 first on PATH may not.
PYTEST=(/usr/bin/python3 -m pytest tests/integration -q)

echo "== build"
./scripts/build.sh
echo "== unit tests"
ctest --test-dir build --output-on-failure -j "$(nproc)"
echo "== integration tests"
PGBALANCER_BIN="$PWD/build/bin/pgbalancer" "${PYTEST[@]}" "$@"

if [ "${PGB_SKIP_SANITIZERS:-0}" != 1 ]; then
  echo "== sanitizer build (ASan + UBSan)"
  BUILD_DIR=build-asan BUILD_TYPE=Debug ./scripts/build.sh -DPGB_SANITIZE=ON
  export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  echo "== unit tests under sanitizers"
  ctest --test-dir build-asan --output-on-failure -j "$(nproc)"
  echo "== integration tests under sanitizers"
  PGB_SANITIZED=1 PGBALANCER_BIN="$PWD/build-asan/bin/pgbalancer" "${PYTEST[@]}" "$@"
fi
