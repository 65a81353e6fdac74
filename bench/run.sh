#!/usr/bin/env bash
# pgbalancer benchmark: direct PostgreSQL vs pgbouncer vs pgbalancer, with pgbench.
#
# Starts its own throwaway PostgreSQL 15, pgbouncer and pgbalancer in a temporary directory,
# runs the workloads BENCH_RUNS times, prints a markdown table of medians and removes
# everything on exit. This is a benchmark, not a test: it never fails on "slow" numbers.
# See bench/README.md.
#
# Environment (defaults in brackets):
#   BENCH_DURATION [15]     seconds per pgbench run
#   BENCH_CLIENTS  [16]     pgbench clients (-c) for the multi-client workloads
#   BENCH_JOBS     [2]      pgbench threads (-j) for the multi-client workloads
#   BENCH_RUNS     [3]      repetitions of every (target, workload) cell; the median is reported
#   BENCH_SCALE    [10]     pgbench -i scale factor
#   BENCH_WARMUP   [5]      seconds of select-only warm-up per target before measuring (0 = none)
#   BENCH_POOL_SIZE [max(20, clients)]  server connections per pool (same for both poolers)
#   BENCH_TARGETS  ["direct pgbouncer pgbalancer"]
#   BENCH_WORKLOADS ["select tpcb select1"]
#   BENCH_PGBENCH_ARGS []   extra pgbench arguments, e.g. "-M prepared"
#   BENCH_PGBALANCER_LOG_LEVEL [info]
#   BENCH_OUT      [bench/results/<timestamp>]  where results.md, raw.csv and logs go
#   BENCH_KEEP=1            keep the temporary directory (data dir, configs, logs)
#   BENCH_PG_PORT / BENCH_PGBOUNCER_PORT / BENCH_PGBALANCER_PORT   [first free from 15432/16432/17432]
#   PGBALANCER_BIN [build/bin/pgbalancer]  PGBOUNCER_BIN [/usr/sbin/pgbouncer]
#   PG_BINDIR [/usr/lib/postgresql/15/bin]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${BENCH_DURATION:-15}"
CLIENTS="${BENCH_CLIENTS:-16}"
JOBS="${BENCH_JOBS:-2}"
RUNS="${BENCH_RUNS:-3}"
SCALE="${BENCH_SCALE:-10}"
WARMUP="${BENCH_WARMUP:-5}"
POOL="${BENCH_POOL_SIZE:-$(( CLIENTS > 20 ? CLIENTS : 20 ))}"
TARGETS="${BENCH_TARGETS:-direct pgbouncer pgbalancer}"
WORKLOADS="${BENCH_WORKLOADS:-select tpcb select1}"
EXTRA_ARGS="${BENCH_PGBENCH_ARGS:-}"
PGB_LOG_LEVEL="${BENCH_PGBALANCER_LOG_LEVEL:-info}"
PG_BINDIR="${PG_BINDIR:-/usr/lib/postgresql/15/bin}"
PGBALANCER_BIN="${PGBALANCER_BIN:-$ROOT/build/bin/pgbalancer}"
PGBOUNCER_BIN="${PGBOUNCER_BIN:-/usr/sbin/pgbouncer}"
OUT="${BENCH_OUT:-$ROOT/bench/results/$(date +%Y%m%d-%H%M%S)}"
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

# ----- sanity checks -------------------------------------------------------------------------
for t in $TARGETS; do
  case "$t" in
    direct) ;;
    pgbouncer) [ -x "$PGBOUNCER_BIN" ] || die "pgbouncer not found at $PGBOUNCER_BIN (scripts/install-deps.sh installs it)" ;;
    pgbalancer) [ -x "$PGBALANCER_BIN" ] ||
      die "pgbalancer binary not found at $PGBALANCER_BIN; build it first (scripts/build.sh) or set BENCH_TARGETS='direct pgbouncer'" ;;
    *) die "unknown target '$t' (direct, pgbouncer, pgbalancer)" ;;
  esac
done
for w in $WORKLOADS; do
  case "$w" in select|tpcb|select1) ;; *) die "unknown workload '$w' (select, tpcb, select1)" ;; esac
done
[ -x "$PG_BINDIR/initdb" ] || die "PostgreSQL server binaries not found in $PG_BINDIR"
if [ -z "$PGBENCH" ] || [ -z "$PSQL" ]; then die "pgbench/psql not found"; fi

# ----- temp dir and cleanup ------------------------------------------------------------------
TMP="$(mktemp -d /tmp/pgbalancer-bench.XXXXXX)"
chmod 755 "$TMP"
mkdir -p "$TMP/pgdata" "$TMP/run" "$TMP/pgbouncer" "$OUT"
[ "$(id -u)" -ne 0 ] || chown postgres: "$TMP/pgdata" "$TMP/run" "$TMP/pgbouncer"
chmod 700 "$TMP/pgdata"
PGDATA_DIR="$TMP/pgdata"
SOCK_DIR="$TMP/run"
PGBALANCER_PID=""

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

cleanup() {
  set +e
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
trap cleanup EXIT
trap 'exit 130' INT TERM

PG_PORT="${BENCH_PG_PORT:-$(free_port_from 15432)}"
PGBOUNCER_PORT="${BENCH_PGBOUNCER_PORT:-$(free_port_from 16432)}"
PGBALANCER_PORT="${BENCH_PGBALANCER_PORT:-$(free_port_from 17432)}"

# ----- PostgreSQL ----------------------------------------------------------------------------
log "initdb in $PGDATA_DIR (PostgreSQL port $PG_PORT)"
as_pg "$PG_BINDIR/initdb" -D "$PGDATA_DIR" -U postgres -E UTF8 --locale=C.UTF-8 \
  --auth-local=trust --auth-host=scram-sha-256 >"$TMP/initdb.log" 2>&1 ||
  { cat "$TMP/initdb.log" >&2; die "initdb failed"; }
MAX_CONN=$(( 2 * POOL + CLIENTS + 20 )); [ "$MAX_CONN" -ge 100 ] || MAX_CONN=100
as_pg tee -a "$PGDATA_DIR/postgresql.conf" >/dev/null <<EOF

# ---- bench/run.sh ----
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$SOCK_DIR'
password_encryption = 'scram-sha-256'
max_connections = $MAX_CONN
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

local_sql() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -h "$SOCK_DIR" -p "$PG_PORT" "$@"; }
local_sql -U postgres -d postgres <<EOF
SET password_encryption = 'scram-sha-256';
CREATE ROLE $BENCH_USER LOGIN PASSWORD '$BENCH_PASSWORD';
CREATE DATABASE bench OWNER $BENCH_USER;
EOF
log "pgbench -i -s $SCALE"
"$PGBENCH" -i -q -s "$SCALE" -h "$SOCK_DIR" -p "$PG_PORT" -U "$BENCH_USER" bench >"$TMP/pgbench-init.log" 2>&1 ||
  { cat "$TMP/pgbench-init.log" >&2; die "pgbench -i failed"; }
local_sql -U postgres -d bench -c 'VACUUM ANALYZE' -c 'CHECKPOINT'

# Same userlist for both poolers: the SCRAM verifier from pg_authid (SCRAM pass-through).
local_sql -U postgres -d postgres -At \
  -c "SELECT '\"' || rolname || '\" \"' || rolpassword || '\"' FROM pg_authid WHERE rolname = '$BENCH_USER'" \
  >"$TMP/userlist.txt"
grep -q 'SCRAM-SHA-256\$' "$TMP/userlist.txt" || die "no SCRAM secret for $BENCH_USER in pg_authid"
[ "$(id -u)" -ne 0 ] || chown postgres: "$TMP/userlist.txt"
chmod 600 "$TMP/userlist.txt"

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
    pgbouncer) cat "$TMP/pgbouncer/pgbouncer.pid" ;;
    pgbalancer) echo "$PGBALANCER_PID" ;;
    *) echo "" ;;
  esac
}

for t in $TARGETS; do
  case "$t" in
    pgbouncer)
      cat >"$TMP/pgbouncer/pgbouncer.ini" <<EOF
[databases]
bench = host=127.0.0.1 port=$PG_PORT dbname=bench

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBOUNCER_PORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $TMP/userlist.txt
pool_mode = session
default_pool_size = $POOL
max_client_conn = 1000
ignore_startup_parameters = extra_float_digits
logfile = $TMP/pgbouncer/pgbouncer.log
pidfile = $TMP/pgbouncer/pgbouncer.pid
EOF
      [ "$(id -u)" -ne 0 ] || chown postgres: "$TMP/pgbouncer/pgbouncer.ini"
      log "starting pgbouncer on port $PGBOUNCER_PORT (session mode, pool $POOL)"
      as_pg "$PGBOUNCER_BIN" -d "$TMP/pgbouncer/pgbouncer.ini" ||
        { tail -n 30 "$TMP/pgbouncer/pgbouncer.log" >&2; die "pgbouncer failed to start"; }
      for _ in $(seq 1 50); do [ -s "$TMP/pgbouncer/pgbouncer.pid" ] && break; sleep 0.1; done
      wait_ready "$PGBOUNCER_PORT" pgbouncer "$(target_pid pgbouncer)" "$TMP/pgbouncer/pgbouncer.log"
      ;;
    pgbalancer)
      cat >"$TMP/pgbalancer.yml" <<EOF
listen_addresses: '127.0.0.1'
port: $PGBALANCER_PORT
backend_servers:
  - hostname: 127.0.0.1
    port: $PG_PORT
    weight: 1
    role: primary
pool_mode: session
max_pool: $POOL
max_client_conn: 1000
auth_type: scram-sha-256
auth_file: $TMP/userlist.txt
log_level: $PGB_LOG_LEVEL
EOF
      log "starting pgbalancer on port $PGBALANCER_PORT (session mode, pool $POOL)"
      "$PGBALANCER_BIN" -f "$TMP/pgbalancer.yml" >"$TMP/pgbalancer.log" 2>&1 </dev/null &
      PGBALANCER_PID=$!
      wait_ready "$PGBALANCER_PORT" pgbalancer "$PGBALANCER_PID" "$TMP/pgbalancer.log"
      ;;
  esac
done

# ----- measurement helpers -------------------------------------------------------------------
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

pgbench_args() {  # workload
  case "$1" in
    select)  echo "-S -c $CLIENTS -j $JOBS" ;;
    tpcb)    echo "-c $CLIENTS -j $JOBS" ;;
    select1) echo "-S -c 1 -j 1" ;;
  esac
}

RAW="$OUT/raw.csv"
echo "run,workload,target,tps,latency_ms,txns,pooler_user_us_per_txn,pooler_sys_us_per_txn" >"$RAW"
declare -A V   # "workload|target|metric" -> space separated values of successful runs
declare -A FAILS

run_one() {  # run workload target [warmup-seconds]
  local run=$1 w=$2 t=$3 dur=${4:-$DURATION}
  local port pid args outf rc t0 t1 tps lat txns uus sus u0 s0 u1 s1
  port="$(target_port "$t")"; pid="$(target_pid "$t")"
  if [ -n "$pid" ] && ! alive "$pid"; then
    log "$t is not running any more (see its log); skipping $w"
    [ "$run" = warmup ] || FAILS["$w|$t"]=$(( ${FAILS["$w|$t"]:-0} + 1 ))
    return 1
  fi
  # pgbench's own preparation (done here directly, not through the pooler, and never timed):
  # vacuum tellers/branches and empty history before TPC-B, checkpoint before every run.
  if [ "$w" = tpcb ]; then
    local_sql -U postgres -d bench -c 'VACUUM pgbench_branches, pgbench_tellers' -c 'TRUNCATE pgbench_history'
  fi
  local_sql -U postgres -d bench -c 'CHECKPOINT'
  args="$(pgbench_args "$w")"
  outf="$OUT/pgbench-r$run-$w-$t.log"
  [ -n "$pid" ] && t0="$(cpu_ticks "$pid")" || t0="0 0"
  rc=0
  # shellcheck disable=SC2086
  PGPASSWORD=$BENCH_PASSWORD "$PGBENCH" -n -h 127.0.0.1 -p "$port" -U "$BENCH_USER" -T "$dur" \
    $args $EXTRA_ARGS bench >"$outf" 2>&1 || rc=$?
  [ -n "$pid" ] && t1="$(cpu_ticks "$pid")" || t1="0 0"
  [ -z "${BENCH_DEBUG:-}" ] || log "debug: $t pid=$pid ticks before=[$t0] after=[$t1]"
  [ "$run" != warmup ] || { rm -f "$outf"; return 0; }

  txns="$(awk -F': *' '/number of transactions actually processed/ { split($2, a, "/"); print a[1] }' "$outf")"
  lat="$(awk '/^latency average/ { print $4 }' "$outf")"
  tps="$(awk '/^tps = / { print $3 }' "$outf")"
  if [ "$rc" != 0 ] || [ -z "$txns" ] || [ -z "$tps" ] || [ "$txns" = 0 ]; then
    log "run $run $w via $t FAILED (pgbench exit $rc):"; tail -n 5 "$outf" >&2
    FAILS["$w|$t"]=$(( ${FAILS["$w|$t"]:-0} + 1 ))
    return 0
  fi
  if [ -n "$pid" ]; then
    read -r u0 s0 <<<"$t0"; read -r u1 s1 <<<"$t1"
    uus="$(awk -v d=$((u1 - u0)) -v hz="$CLK_TCK" -v n="$txns" 'BEGIN { printf "%.2f", d * 1e6 / hz / n }')"
    sus="$(awk -v d=$((s1 - s0)) -v hz="$CLK_TCK" -v n="$txns" 'BEGIN { printf "%.2f", d * 1e6 / hz / n }')"
  else
    uus=""; sus=""
  fi
  V["$w|$t|tps"]+="$tps "; V["$w|$t|lat"]+="$lat "
  [ -z "$uus" ] || { V["$w|$t|cpuu"]+="$uus "; V["$w|$t|cpus"]+="$sus "; }
  echo "$run,$w,$t,$tps,$lat,$txns,$uus,$sus" >>"$RAW"
  log "run $run/$RUNS  $(printf '%-8s %-11s' "$w" "$t") tps=$tps lat=${lat}ms${uus:+ cpu/txn user=${uus}us sys=${sus}us}"
}

median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{ a[NR] = $1 } END {
  if (NR == 0) { print ""; exit }
  if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
med() { printf '%s' "${V["$1"]:-}" | median; }
fmt() { [ -n "$2" ] && awk -v x="$2" -v f="$1" 'BEGIN { printf f, x }' || printf 'n/a'; }
ratio() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }' || printf 'n/a'; }

# ----- run -----------------------------------------------------------------------------------
read -r -a TARGET_ARR <<<"$TARGETS"
NT=${#TARGET_ARR[@]}
n_w=$(wc -w <<<"$WORKLOADS")
log "plan: $RUNS runs x $n_w workloads x $NT targets x ${DURATION}s (~$(( RUNS * n_w * NT * DURATION / 60 + 1 )) min)"
if [ "$WARMUP" -gt 0 ]; then
  for t in $TARGETS; do
    log "warm-up: ${WARMUP}s select-only via $t"
    run_one warmup select "$t" "$WARMUP" || true
  done
fi
for run in $(seq 1 "$RUNS"); do
  for w in $WORKLOADS; do
    # rotate the target order every run so slow drift (caches, autovacuum, thermal) is spread out
    for i in $(seq 0 $((NT - 1))); do
      t="${TARGET_ARR[$(( (i + run - 1) % NT ))]}"
      run_one "$run" "$w" "$t" || true
    done
  done
done

# ----- report --------------------------------------------------------------------------------
wl_name() {
  case "$1" in
    select)  echo "select-only -S, $CLIENTS clients" ;;
    tpcb)    echo "TPC-B-like, $CLIENTS clients" ;;
    select1) echo "select-only -S, 1 client" ;;
  esac
}
{
  echo "## pgbalancer benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "- machine: $(nproc) CPUs, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(uname -r)"
  echo "- PostgreSQL $("$PG_BINDIR/postgres" --version | awk '{ print $3 }'), $("$PGBOUNCER_BIN" --version 2>/dev/null | head -n 1)," \
       "pgbalancer $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '(no commit)')"
  echo "- pgbench scale $SCALE, ${DURATION}s per run, median of $RUNS runs, multi-client: -c $CLIENTS -j $JOBS${EXTRA_ARGS:+, extra: $EXTRA_ARGS}"
  echo "- session mode, pool size $POOL, auth scram-sha-256 (pass-through) on both poolers; PostgreSQL fsync=off"
  echo "- pooler CPU = utime/stime of the pooler process(es) from /proc/PID/stat over the run, divided by transactions"
  echo
  echo "| workload | target | TPS | latency ms | +latency vs direct µs | pooler µs/txn user | pooler µs/txn sys | pooler µs/txn total | ok runs |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
  for w in $WORKLOADS; do
    dlat="$(med "$w|direct|lat")"
    for t in $TARGETS; do
      tps="$(med "$w|$t|tps")"; lat="$(med "$w|$t|lat")"
      cu="$(med "$w|$t|cpuu")"; cs="$(med "$w|$t|cpus")"
      ok=$(( RUNS - ${FAILS["$w|$t"]:-0} ))
      if [ "$t" = direct ]; then
        add="–"; cu_s="–"; cs_s="–"; tot_s="–"
      else
        add="$( [ -n "$dlat" ] && [ -n "$lat" ] && awk -v a="$lat" -v b="$dlat" 'BEGIN { printf "%+.0f", (a - b) * 1000 }' || echo n/a)"
        cu_s="$(fmt %.1f "$cu")"; cs_s="$(fmt %.1f "$cs")"
        tot_s="$( [ -n "$cu" ] && [ -n "$cs" ] && awk -v a="$cu" -v b="$cs" 'BEGIN { printf "%.1f", a + b }' || echo n/a)"
      fi
      echo "| $(wl_name "$w") | $t | $(fmt %.0f "$tps") | $(fmt %.3f "$lat") | $add | $cu_s | $cs_s | $tot_s | $ok/$RUNS |"
    done
  done
  if [[ " $TARGETS " == *" pgbouncer "* && " $TARGETS " == *" pgbalancer "* ]]; then
    echo
    echo "Ratios pgbalancer / pgbouncer (of the medians; TPS > 1 and latency, CPU < 1 favour pgbalancer):"
    echo
    echo "| workload | TPS | latency | pooler CPU/txn user | pooler CPU/txn sys | pooler CPU/txn total |"
    echo "|---|---:|---:|---:|---:|---:|"
    for w in $WORKLOADS; do
      bu="$(med "$w|pgbouncer|cpuu")"; bs="$(med "$w|pgbouncer|cpus")"
      lu="$(med "$w|pgbalancer|cpuu")"; ls_="$(med "$w|pgbalancer|cpus")"
      btot=""; ltot=""
      [ -z "$bu" ] || [ -z "$bs" ] || btot="$(awk -v a="$bu" -v b="$bs" 'BEGIN { print a + b }')"
      [ -z "$lu" ] || [ -z "$ls_" ] || ltot="$(awk -v a="$lu" -v b="$ls_" 'BEGIN { print a + b }')"
      echo "| $(wl_name "$w") | $(ratio "$(med "$w|pgbalancer|tps")" "$(med "$w|pgbouncer|tps")") |" \
           "$(ratio "$(med "$w|pgbalancer|lat")" "$(med "$w|pgbouncer|lat")") |" \
           "$(ratio "$lu" "$bu") | $(ratio "$ls_" "$bs") | $(ratio "$ltot" "$btot") |"
    done
  fi
} | tee "$OUT/results.md"
echo
log "results: $OUT/results.md, per-run numbers: $RAW, pgbench output and server logs in $OUT/"
