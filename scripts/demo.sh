#!/usr/bin/env bash
# One-command demo of pgbalancer on a fresh Debian 12 machine.
#
#   ./scripts/demo.sh               install deps, build, start a throwaway PostgreSQL 15 and pgbalancer
#   ./scripts/demo.sh status        show what is running
#   ./scripts/demo.sh stop          stop pgbalancer and the demo PostgreSQL
#   ./scripts/demo.sh stop --clean  ... and delete ./.demo
#
# Everything lives in ./.demo (relative to the repository root). Re-running the script
# restarts pgbalancer and PostgreSQL cleanly, keeping the existing demo database.
#
# Environment overrides:
#   PGBALANCER_PORT   port pgbalancer listens on            (default 6432)
#   DEMO_PG_PORT      port of the demo PostgreSQL            (default 5433, next free one if taken)
#   PG_BINDIR         PostgreSQL server binaries             (default /usr/lib/postgresql/15/bin)
#   PGBALANCER_BIN    pgbalancer binary                       (default build/bin/pgbalancer)
#   DEMO_SKIP_DEPS=1  do not run scripts/install-deps.sh
#   DEMO_SKIP_BUILD=1 do not build (use the existing binary)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEMO_DIR="$ROOT/.demo"
STATE="$DEMO_DIR/state.env"
PG_BINDIR="${PG_BINDIR:-/usr/lib/postgresql/15/bin}"
PGBALANCER_BIN="${PGBALANCER_BIN:-$ROOT/build/bin/pgbalancer}"
DEMO_PASSWORD=demo
OS_USER="$(id -un)"

if [ -t 2 ]; then C_B=$'\033[1;34m' C_Y=$'\033[1;33m' C_R=$'\033[1;31m' C_0=$'\033[0m'; else C_B='' C_Y='' C_R='' C_0=''; fi
log()  { printf '%s[demo]%s %s\n' "$C_B" "$C_0" "$*" >&2; }
warn() { printf '%s[demo] warning:%s %s\n' "$C_Y" "$C_0" "$*" >&2; }
die()  { printf '%s[demo] error:%s %s\n' "$C_R" "$C_0" "$*" >&2; exit 1; }

# PostgreSQL refuses to run as root: use the postgres account then.
if [ "$(id -u)" -eq 0 ]; then
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port_from() {
  local p=$1
  while port_in_use "$p"; do p=$((p + 1)); done
  echo "$p"
}

# ---------------------------------------------------------------------------------------------
# stop helpers (they use the values recorded in .demo/state.env by the last start)
# ---------------------------------------------------------------------------------------------
load_state() {
  PGDATA_DIR="$DEMO_DIR/pgdata"
  if [ -f "$STATE" ]; then
    # shellcheck disable=SC1090
    . "$STATE"
  fi
}

# kill -0 also succeeds for zombies; treat those as gone
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null && ! awk '{ sub(/^.*\) /, ""); exit ($1 == "Z" ? 0 : 1) }' "/proc/$1/stat" 2>/dev/null; }

stop_pgbalancer() {
  local pidfile="$DEMO_DIR/pgbalancer.pid" pid
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -qa pgbalancer "/proc/$pid/cmdline" 2>/dev/null; then
    log "stopping pgbalancer (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then
      warn "pgbalancer did not exit after SIGTERM within 10 s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
}

stop_postgres() {
  if [ -f "$PGDATA_DIR/postmaster.pid" ]; then
    log "stopping PostgreSQL ($PGDATA_DIR)"
    as_pg "$PG_BINDIR/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null 2>&1 ||
      warn "pg_ctl stop failed (already stopped?)"
  fi
}

cmd_stop() {
  local clean=0
  for a in "$@"; do
    case "$a" in
      --clean) clean=1 ;;
      *) die "unknown option for stop: $a" ;;
    esac
  done
  load_state
  stop_pgbalancer
  stop_postgres
  if [ "$clean" = 1 ]; then
    log "removing $DEMO_DIR"
    rm -rf "$DEMO_DIR"
  fi
  log "stopped"
}

cmd_status() {
  load_state
  local pid
  pid="$(cat "$DEMO_DIR/pgbalancer.pid" 2>/dev/null || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    echo "pgbalancer: running (pid $pid, port ${PGBALANCER_PORT:-?})"
  else
    echo "pgbalancer: not running"
  fi
  if [ -d "$PGDATA_DIR" ] && as_pg "$PG_BINDIR/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1; then
    echo "postgresql: running (port ${PG_PORT:-?}, data $PGDATA_DIR)"
  else
    echo "postgresql: not running"
  fi
}

# ---------------------------------------------------------------------------------------------
# start
# ---------------------------------------------------------------------------------------------
cmd_start() {
  # Remember explicit overrides before load_state can clobber them with the previous run's values.
  local want_pg_port="${DEMO_PG_PORT:-}" want_pgb_port="${PGBALANCER_PORT:-}"

  # 1. dependencies and build ---------------------------------------------------------------
  if [ "${DEMO_SKIP_DEPS:-0}" != 1 ]; then
    log "installing dependencies (scripts/install-deps.sh)"
    "$ROOT/scripts/install-deps.sh"
  fi
  if [ "${DEMO_SKIP_BUILD:-0}" != 1 ]; then
    log "building pgbalancer"
    if [ -x "$ROOT/scripts/build.sh" ]; then
      (cd "$ROOT" && ./scripts/build.sh)
    else
      (cd "$ROOT" && cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release && cmake --build build)
    fi
  fi
  [ -x "$PGBALANCER_BIN" ] || die "pgbalancer binary not found at $PGBALANCER_BIN (build failed?)"
  [ -x "$PG_BINDIR/initdb" ] || die "PostgreSQL 15 server binaries not found in $PG_BINDIR"
  command -v psql >/dev/null || die "psql not found"

  # 2. stop whatever a previous run left behind (idempotent restart) ------------------------
  mkdir -p "$DEMO_DIR"
  printf '# created by scripts/demo.sh\n*\n' >"$DEMO_DIR/.gitignore"
  load_state
  stop_pgbalancer
  stop_postgres

  # 3. directories ----------------------------------------------------------------------------
  PGDATA_DIR="$DEMO_DIR/pgdata"
  SOCK_DIR="$DEMO_DIR/run"
  mkdir -p "$SOCK_DIR"
  if [ "$(id -u)" -eq 0 ]; then
    chmod 755 "$DEMO_DIR"
    chown postgres: "$SOCK_DIR"
    if ! runuser -u postgres -- test -x "$DEMO_DIR"; then
      die "the postgres user cannot access $DEMO_DIR (a parent directory is not world-executable); move the repository or run: chmod o+x on its parent directories"
    fi
  fi
  # Unix socket paths are limited to 107 bytes.
  if [ $(( ${#SOCK_DIR} + 16 )) -gt 107 ]; then
    SOCK_DIR="$(mktemp -d /tmp/pgbalancer-demo.XXXXXX)"
    chmod 755 "$SOCK_DIR"
    [ "$(id -u)" -ne 0 ] || chown postgres: "$SOCK_DIR"
    warn "repository path too long for a Unix socket, using $SOCK_DIR for the PostgreSQL socket"
  fi
  touch "$DEMO_DIR/postgresql.log"
  [ "$(id -u)" -ne 0 ] || chown postgres: "$DEMO_DIR/postgresql.log"

  # 4. ports ----------------------------------------------------------------------------------
  if [ -n "$want_pg_port" ]; then
    PG_PORT="$want_pg_port"
    ! port_in_use "$PG_PORT" || die "DEMO_PG_PORT=$PG_PORT is already in use"
  else
    PG_PORT="$(free_port_from 5433)"
    [ "$PG_PORT" = 5433 ] || warn "port 5433 is taken, the demo PostgreSQL uses port $PG_PORT"
  fi
  if [ -n "$want_pgb_port" ]; then
    PGBALANCER_PORT="$want_pgb_port"
    ! port_in_use "$PGBALANCER_PORT" || die "PGBALANCER_PORT=$PGBALANCER_PORT is already in use"
  else
    PGBALANCER_PORT=6432
    if port_in_use 6432; then
      PGBALANCER_PORT="$(free_port_from 6433)"
      warn "port 6432 is taken (the Debian pgbouncer service listens there by default;" \
           "'systemctl stop pgbouncer' frees it); pgbalancer uses port $PGBALANCER_PORT instead"
    fi
  fi
  [ "$PG_PORT" != "$PGBALANCER_PORT" ] || die "PostgreSQL and pgbalancer cannot share port $PG_PORT"

  # 5. PostgreSQL -----------------------------------------------------------------------------
  if [ ! -f "$PGDATA_DIR/PG_VERSION" ]; then
    rm -rf "$PGDATA_DIR"
    mkdir -p "$PGDATA_DIR"
    [ "$(id -u)" -ne 0 ] || chown postgres: "$PGDATA_DIR"
    chmod 700 "$PGDATA_DIR"
    log "initdb $PGDATA_DIR"
    as_pg "$PG_BINDIR/initdb" -D "$PGDATA_DIR" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >"$DEMO_DIR/initdb.log" 2>&1 ||
      { cat "$DEMO_DIR/initdb.log" >&2; die "initdb failed"; }
    as_pg sh -c "echo \"include_if_exists = 'demo.conf'\" >> '$PGDATA_DIR/postgresql.conf'"
  fi
  # Settings and pg_hba are rewritten on every start so that changed ports/paths take effect.
  as_pg tee "$PGDATA_DIR/demo.conf" >/dev/null <<EOF
# written by scripts/demo.sh
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$SOCK_DIR'
password_encryption = 'scram-sha-256'
max_connections = 100
EOF
  as_pg tee "$PGDATA_DIR/pg_hba.conf" >/dev/null <<'EOF'
# written by scripts/demo.sh
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  trust
host    all       all   127.0.0.1/32   scram-sha-256
host    all       all   ::1/128        scram-sha-256
EOF
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  as_pg "$PG_BINDIR/pg_ctl" -D "$PGDATA_DIR" -l "$DEMO_DIR/postgresql.log" -w -t 60 start >/dev/null ||
    { tail -n 30 "$DEMO_DIR/postgresql.log" >&2; die "PostgreSQL failed to start"; }

  cat >"$STATE" <<EOF
PGDATA_DIR='$PGDATA_DIR'
SOCK_DIR='$SOCK_DIR'
PG_PORT='$PG_PORT'
PGBALANCER_PORT='$PGBALANCER_PORT'
EOF

  # 6. roles and databases (via the trusted local socket) -------------------------------------
  local -a users=(demo)
  [ "$OS_USER" = demo ] || users+=("$OS_USER")
  pg_sql() { as_pg "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK_DIR" -p "$PG_PORT" -U postgres -d postgres "$@"; }
  local u
  for u in "${users[@]}"; do
    log "role and database '$u' (password '$DEMO_PASSWORD')"
    pg_sql -v u="$u" -v pw="$DEMO_PASSWORD" <<'EOF'
SET password_encryption = 'scram-sha-256';
SELECT format('CREATE ROLE %I LOGIN', :'u') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'u') \gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', :'u', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'u', :'u') WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'u') \gexec
EOF
  done

  # 7. pgbalancer config: userlist with the SCRAM verifiers from pg_authid -------------------
  local in_list
  in_list="$(printf "'%s'," "${users[@]}")"; in_list="${in_list%,}"
  umask 077
  pg_sql -At -F ' ' -c "SELECT '\"' || replace(rolname, '\"', '\"\"') || '\" \"' || rolpassword || '\"'
                          FROM pg_authid WHERE rolname IN ($in_list) AND rolpassword IS NOT NULL ORDER BY rolname" \
    >"$DEMO_DIR/userlist.txt"
  umask 022
  grep -q 'SCRAM-SHA-256\$' "$DEMO_DIR/userlist.txt" || die "could not read SCRAM secrets from pg_authid"

  cat >"$DEMO_DIR/pgbalancer.yml" <<EOF
# written by scripts/demo.sh
listen_addresses: '127.0.0.1'
port: $PGBALANCER_PORT
backend_servers:
  - hostname: 127.0.0.1
    port: $PG_PORT
    weight: 1
    role: primary
pool_mode: session
max_pool: 20
max_client_conn: 1000
auth_type: scram-sha-256
auth_file: $DEMO_DIR/userlist.txt
log_level: info
admin_users: demo     # the admin console: psql ... -U demo pgbalancer -c 'SHOW POOLS'
EOF

  # 8. pgbalancer -----------------------------------------------------------------------------
  log "starting pgbalancer on 127.0.0.1:$PGBALANCER_PORT (log: .demo/pgbalancer.log)"
  nohup "$PGBALANCER_BIN" -f "$DEMO_DIR/pgbalancer.yml" >"$DEMO_DIR/pgbalancer.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$DEMO_DIR/pgbalancer.pid"

  local ok=0 out=""
  for _ in $(seq 1 60); do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$DEMO_DIR/pgbalancer.log" >&2
      rm -f "$DEMO_DIR/pgbalancer.pid"
      die "pgbalancer exited during start-up (see .demo/pgbalancer.log); PostgreSQL is still running, './scripts/demo.sh stop' stops it"
    fi
    if out="$(PGPASSWORD="$DEMO_PASSWORD" PGCONNECT_TIMEOUT=3 psql -X -h 127.0.0.1 -p "$PGBALANCER_PORT" \
                -U demo demo -c 'select 1' 2>&1)"; then
      ok=1; break
    fi
    sleep 0.5
  done
  if [ "$ok" != 1 ]; then
    printf '%s\n' "$out" >&2
    tail -n 30 "$DEMO_DIR/pgbalancer.log" >&2
    die "pgbalancer is running (pid $pid) but the check query failed; see .demo/pgbalancer.log ('./scripts/demo.sh stop' stops everything)"
  fi
  # make sure pgbalancer survived the check (client disconnect, server connection returned to the pool)
  sleep 1
  if ! alive "$pid"; then
    printf '%s\n' "$out"
    tail -n 30 "$DEMO_DIR/pgbalancer.log" >&2
    rm -f "$DEMO_DIR/pgbalancer.pid"
    die "pgbalancer answered the check query but exited afterwards (see .demo/pgbalancer.log); PostgreSQL is still running, './scripts/demo.sh stop' stops it"
  fi
  log "check query through pgbalancer:"
  printf '%s\n' "$out"

  local p=""
  [ "$PGBALANCER_PORT" = 6432 ] || p=" (note: port $PGBALANCER_PORT, not 6432)"
  cat <<EOF

pgbalancer is running on 127.0.0.1:$PGBALANCER_PORT$p, in front of PostgreSQL 15 on 127.0.0.1:$PG_PORT.

Connect:
  PGPASSWORD=demo psql -h 127.0.0.1 -p $PGBALANCER_PORT -U demo demo
  psql -h 127.0.0.1 -p $PGBALANCER_PORT    (password: demo)

Admin console (pgbouncer's SHOW POOLS, SHOW CLIENTS, SHOW STATS, ...):
  PGPASSWORD=demo psql -h 127.0.0.1 -p $PGBALANCER_PORT -U demo pgbalancer -c 'SHOW POOLS'

Logs:   .demo/pgbalancer.log, .demo/postgresql.log
Config: .demo/pgbalancer.yml, .demo/userlist.txt

Stop:
  ./scripts/demo.sh stop            # stops pgbalancer and PostgreSQL
  ./scripts/demo.sh stop --clean    # also removes .demo
EOF
}

case "${1:-start}" in
  start) shift || true; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  status) cmd_status ;;
  -h|--help|help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) die "usage: $0 [start|stop [--clean]|status]" ;;
esac
