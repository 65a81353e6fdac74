# shellcheck shell=bash
# Shared set-up for the benchmark scripts (bench/run.sh, bench/idle_memory.sh). Source it, do not
# run it. It provides: binaries and helpers, a temporary directory with cleanup on exit, a throwaway
# PostgreSQL 15 with a SCRAM role `bench`, the shared userlist, and starting pgbouncer/pgbalancer
# in a given pool mode.
#
# The sourcing script must set OUT (where logs are copied on exit) before calling bench_init_tmp.
# Environment understood here:
#   PG_BINDIR [/usr/lib/postgresql/15/bin]  PGBALANCER_BIN [build/bin/pgbalancer]
#   PGBOUNCER_BIN [/usr/sbin/pgbouncer]     BENCH_PGBALANCER_LOG_LEVEL [info]
#   BENCH_KEEP=1 keeps the temporary directory
#   BENCH_PG_PORT / BENCH_PGBOUNCER_PORT / BENCH_PGBALANCER_PORT [first free from 15432/16432/17432]

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_BINDIR="${PG_BINDIR:-/usr/lib/postgresql/15/bin}"
PGBALANCER_BIN="${PGBALANCER_BIN:-$ROOT/build/bin/pgbalancer}"
PGBOUNCER_BIN="${PGBOUNCER_BIN:-/usr/sbin/pgbouncer}"
PGB_LOG_LEVEL="${BENCH_PGBALANCER_LOG_LEVEL:-info}"
# shellcheck disable=SC2034  # used by the sourcing scripts
CLK_TCK="$(getconf CLK_TCK)"
BENCH_USER=bench
BENCH_PASSWORD=bench
PGBENCH="$PG_BINDIR/pgbench"; [ -x "$PGBENCH" ] || PGBENCH="$(command -v pgbench || true)"
PSQL="$PG_BINDIR/psql";       [ -x "$PSQL" ]    || PSQL="$(command -v psql || true)"

log()  { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die()  { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" -eq 0 ]; then
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port_from() { local p=$1; while port_in_use "$p"; do p=$((p + 1)); done; echo "$p"; }

# kill -0 also succeeds for zombies; treat those as gone
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null && ! awk '{ sub(/^.*\) /, ""); exit ($1 == "Z" ? 0 : 1) }' "/proc/$1/stat" 2>/dev/null; }

stop_pid() {  # pid name
  local pid=$1 name=$2
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do alive "$pid" || return 0; sleep 0.1; done
  log "$name (pid $pid) ignored SIGTERM for 10 s, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

check_binaries() {  # targets...
  local t
  for t in "$@"; do
    case "$t" in
      direct) ;;
      pgbouncer) [ -x "$PGBOUNCER_BIN" ] || die "pgbouncer not found at $PGBOUNCER_BIN (scripts/install-deps.sh installs it)" ;;
      pgbalancer) [ -x "$PGBALANCER_BIN" ] ||
        die "pgbalancer binary not found at $PGBALANCER_BIN; build it first (scripts/build.sh) or leave pgbalancer out of the targets" ;;
      *) die "unknown target '$t' (direct, pgbouncer, pgbalancer)" ;;
    esac
  done
  [ -x "$PG_BINDIR/initdb" ] || die "PostgreSQL server binaries not found in $PG_BINDIR"
  if [ -z "$PGBENCH" ] || [ -z "$PSQL" ]; then die "pgbench/psql not found"; fi
}

# ----- temp dir and cleanup ------------------------------------------------------------------
bench_init_tmp() {
  TMP="$(mktemp -d /tmp/pgbalancer-bench.XXXXXX)"
  chmod 755 "$TMP"
  mkdir -p "$TMP/pgdata" "$TMP/run" "$TMP/pgbouncer" "$OUT"
  [ "$(id -u)" -ne 0 ] || chown postgres: "$TMP/pgdata" "$TMP/run" "$TMP/pgbouncer"
  chmod 700 "$TMP/pgdata"
  PGDATA_DIR="$TMP/pgdata"
  SOCK_DIR="$TMP/run"
  PGBALANCER_PID=""
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
  PG_PORT="${BENCH_PG_PORT:-$(free_port_from 15432)}"
  PGBOUNCER_PORT="${BENCH_PGBOUNCER_PORT:-$(free_port_from 16432)}"
  PGBALANCER_PORT="${BENCH_PGBALANCER_PORT:-$(free_port_from 17432)}"
}

bench_cleanup() {
  set +e
  # hook for the sourcing script (e.g. stop its own client processes first)
  declare -F bench_cleanup_hook >/dev/null && bench_cleanup_hook
  stop_pid "$PGBALANCER_PID" pgbalancer
  [ -f "$TMP/pgbouncer/pgbouncer.pid" ] && stop_pid "$(cat "$TMP/pgbouncer/pgbouncer.pid")" pgbouncer
  if [ -f "$PGDATA_DIR/postmaster.pid" ]; then
    as_pg "$PG_BINDIR/pg_ctl" -D "$PGDATA_DIR" -m immediate -w stop >/dev/null 2>&1
  fi
  # keep the server logs next to the results
  cp "$TMP"/*.log "$TMP/pgbouncer/pgbouncer.log" "$OUT/" 2>/dev/null
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    log "kept $TMP"
  else
    rm -rf "$TMP"
  fi
}

# ----- PostgreSQL ----------------------------------------------------------------------------
local_sql() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -h "$SOCK_DIR" -p "$PG_PORT" "$@"; }

start_postgres() {  # max_connections
  local max_conn=$1
  log "initdb in $PGDATA_DIR (PostgreSQL port $PG_PORT)"
  as_pg "$PG_BINDIR/initdb" -D "$PGDATA_DIR" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >"$TMP/initdb.log" 2>&1 ||
    { cat "$TMP/initdb.log" >&2; die "initdb failed"; }
  as_pg tee -a "$PGDATA_DIR/postgresql.conf" >/dev/null <<EOF

# ---- bench/lib.sh ----
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$SOCK_DIR'
password_encryption = 'scram-sha-256'
max_connections = $max_conn
shared_buffers = 256MB
max_wal_size = 4GB
# throwaway data: take the disk out of the picture so the CPU path is what is measured
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  as_pg tee "$PGDATA_DIR/pg_hba.conf" >/dev/null <<'EOF'
local   all   all                  trust
host    all   all   127.0.0.1/32   scram-sha-256
EOF
  touch "$TMP/postgresql.log"; [ "$(id -u)" -ne 0 ] || chown postgres: "$TMP/postgresql.log"
  as_pg "$PG_BINDIR/pg_ctl" -D "$PGDATA_DIR" -l "$TMP/postgresql.log" -w -t 60 start >/dev/null ||
    { tail -n 30 "$TMP/postgresql.log" >&2; die "PostgreSQL failed to start"; }
}

# Role `bench` (SCRAM), database `bench`, and the userlist shared by both poolers: the SCRAM
# verifier from pg_authid, so both poolers do SCRAM with the client and SCRAM pass-through.
create_bench_role() {
  local_sql -U postgres -d postgres <<EOF
SET password_encryption = 'scram-sha-256';
CREATE ROLE $BENCH_USER LOGIN PASSWORD '$BENCH_PASSWORD';
CREATE DATABASE bench OWNER $BENCH_USER;
EOF
  local_sql -U postgres -d postgres -At \
    -c "SELECT '\"' || rolname || '\" \"' || rolpassword || '\"' FROM pg_authid WHERE rolname = '$BENCH_USER'" \
    >"$TMP/userlist.txt"
  grep -q 'SCRAM-SHA-256\$' "$TMP/userlist.txt" || die "no SCRAM secret for $BENCH_USER in pg_authid"
  [ "$(id -u)" -ne 0 ] || chown postgres: "$TMP/userlist.txt"
  chmod 600 "$TMP/userlist.txt"
}

# ----- poolers -------------------------------------------------------------------------------
wait_ready() {  # port name pid-or-empty log
  local port=$1 name=$2 pid=$3 logf=$4 out=""
  for _ in $(seq 1 60); do
    if [ -n "$pid" ] && ! alive "$pid"; then
      tail -n 30 "$logf" >&2; die "$name exited during start-up"
    fi
    if out="$(PGPASSWORD=$BENCH_PASSWORD PGCONNECT_TIMEOUT=3 "$PSQL" -X -At -h 127.0.0.1 -p "$port" \
               -U "$BENCH_USER" -d bench -c 'select 1' 2>&1)"; then
      return 0
    fi
    sleep 0.5
  done
  printf '%s\n' "$out" >&2; tail -n 30 "$logf" >&2
  die "$name does not accept connections on port $port"
}

target_port() {
  case "$1" in direct) echo "$PG_PORT" ;; pgbouncer) echo "$PGBOUNCER_PORT" ;; pgbalancer) echo "$PGBALANCER_PORT" ;; esac
}
target_pid() {
  case "$1" in
    pgbouncer) cat "$TMP/pgbouncer/pgbouncer.pid" 2>/dev/null ;;
    pgbalancer) echo "$PGBALANCER_PID" ;;
    *) echo "" ;;
  esac
}

# Raise the open-files limit of the current (sub)shell to $1 if given (as root the hard limit can
# be raised too, unless the container forbids it). Falls back to the hard limit, never fails.
raise_nofile() {
  [ -n "${1:-}" ] || return 0
  ulimit -n "$1" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
}

start_pgbouncer() {  # pool_mode pool_size max_client_conn [nofile]
  local mode=$1 pool=$2 maxc=$3 nofile=${4:-}
  cat >"$TMP/pgbouncer/pgbouncer.ini" <<EOF
[databases]
bench = host=127.0.0.1 port=$PG_PORT dbname=bench

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBOUNCER_PORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $TMP/userlist.txt
pool_mode = $mode
default_pool_size = $pool
max_client_conn = $maxc
ignore_startup_parameters = extra_float_digits
logfile = $TMP/pgbouncer/pgbouncer.log
pidfile = $TMP/pgbouncer/pgbouncer.pid
EOF
  [ "$(id -u)" -ne 0 ] || chown postgres: "$TMP/pgbouncer/pgbouncer.ini"
  log "starting pgbouncer on port $PGBOUNCER_PORT ($mode mode, pool $pool, max_client_conn $maxc${nofile:+, ulimit -n $nofile})"
  # runuser goes through PAM (pam_limits), which resets the open-files limit to 1024; with a limit
  # to keep, switch to postgres with setpriv instead (no PAM).
  if [ -n "$nofile" ] && [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
    ( raise_nofile "$nofile"
      exec setpriv --reuid=postgres --regid=postgres --init-groups "$PGBOUNCER_BIN" -d "$TMP/pgbouncer/pgbouncer.ini" ) ||
      { tail -n 30 "$TMP/pgbouncer/pgbouncer.log" >&2; die "pgbouncer failed to start"; }
  else
    ( raise_nofile "$nofile"; as_pg "$PGBOUNCER_BIN" -d "$TMP/pgbouncer/pgbouncer.ini" ) ||
      { tail -n 30 "$TMP/pgbouncer/pgbouncer.log" >&2; die "pgbouncer failed to start"; }
  fi
  for _ in $(seq 1 50); do [ -s "$TMP/pgbouncer/pgbouncer.pid" ] && break; sleep 0.1; done
  wait_ready "$PGBOUNCER_PORT" pgbouncer "$(target_pid pgbouncer)" "$TMP/pgbouncer/pgbouncer.log"
}

start_pgbalancer() {  # pool_mode pool_size max_client_conn [nofile]
  local mode=$1 pool=$2 maxc=$3 nofile=${4:-}
  cat >"$TMP/pgbalancer.yml" <<EOF
listen_addresses: '127.0.0.1'
port: $PGBALANCER_PORT
backend_servers:
  - hostname: 127.0.0.1
    port: $PG_PORT
    weight: 1
    role: primary
pool_mode: $mode
max_pool: $pool
max_client_conn: $maxc
auth_type: scram-sha-256
auth_file: $TMP/userlist.txt
log_level: $PGB_LOG_LEVEL
worker_threads: ${BENCH_PGBALANCER_WORKERS:-0}
EOF
  log "starting pgbalancer on port $PGBALANCER_PORT ($mode mode, pool $pool, max_client_conn $maxc${nofile:+, ulimit -n $nofile})"
  # In its own session, like pgbouncer (its -d calls setsid) and PostgreSQL: with the kernel's
  # autogroup scheduling a session is a scheduling group, and sharing one with pgbench would give
  # pgbalancer a smaller share of the CPU than the pooler it is compared with (measured: twice
  # the involuntary context switches per transaction, about 10% less throughput).
  # The subshell execs setsid, which execs pgbalancer (no fork: the subshell is no group leader),
  # so $! is pgbalancer's pid.
  ( raise_nofile "$nofile"; exec setsid "$PGBALANCER_BIN" -f "$TMP/pgbalancer.yml" ) >"$TMP/pgbalancer.log" 2>&1 </dev/null &
  PGBALANCER_PID=$!
  wait_ready "$PGBALANCER_PORT" pgbalancer "$PGBALANCER_PID" "$TMP/pgbalancer.log"
}

start_pooler() {  # target pool_mode pool_size max_client_conn [nofile]
  case "$1" in
    pgbouncer) shift; start_pgbouncer "$@" ;;
    pgbalancer) shift; start_pgbalancer "$@" ;;
    *) ;;
  esac
}

# utime and stime (clock ticks) summed over a process and all its descendants, including reaped
# children (covers multi-process poolers; /proc/PID/stat of a process already includes its threads).
cpu_ticks() {
  local p line u=0 s=0 f
  # Process tree from ps, then each /proc/PID/stat read on its own (reading them all in one go
  # with cat occasionally garbles lines of processes that exit meanwhile).
  for p in $(ps -e -o pid=,ppid= | awk -v root="$1" '
      { pp[$1] = $2 }
      END { if (!(root in pp)) exit
            in_tree[root] = 1; changed = 1
            while (changed) { changed = 0
              for (p in pp) if (!(p in in_tree) && (pp[p] in in_tree)) { in_tree[p] = 1; changed = 1 } }
            for (p in in_tree) print p }'); do
    line="$(cat "/proc/$p/stat" 2>/dev/null)" || continue
    line="${line##*) }"
    read -r -a f <<<"$line"
    # f[11] utime, f[12] stime, f[13] cutime, f[14] cstime (reaped children)
    u=$(( u + f[11] + f[13] )); s=$(( s + f[12] + f[14] ))
  done
  echo "$u $s"
}

pooler_version() {  # target
  case "$1" in
    pgbouncer) "$PGBOUNCER_BIN" --version 2>/dev/null | head -n 1 ;;
    pgbalancer)
      # HEAD (+dirty if src/ has uncommitted changes) and the binary's mtime: the binary may have been
      # built from another tree state than HEAD
      local head dirty=""
      head="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '(no commit)')"
      [ -z "$(git -C "$ROOT" status --porcelain -- src 2>/dev/null)" ] || dirty="+dirty"
      echo "pgbalancer $head$dirty (binary $(date -u -r "$PGBALANCER_BIN" '+%Y-%m-%d %H:%M UTC'))" ;;
  esac
}
