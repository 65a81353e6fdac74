#!/usr/bin/env bash
# pgbalancer benchmark: direct PostgreSQL vs pgbouncer vs pgbalancer, with pgbench.
#
# Starts its own throwaway PostgreSQL 15, pgbouncer and pgbalancer in a temporary directory,
# runs the workloads BENCH_RUNS times, prints a markdown table of medians and removes
# everything on exit. This is a benchmark, not a test: it never fails on "slow" numbers.
# See bench/README.md.
#
# Environment (defaults in brackets):
#   BENCH_POOL_MODE [session]  pool_mode of both poolers: session or transaction
#   BENCH_DURATION [15]     seconds per pgbench run
#   BENCH_CLIENTS  [16, 32 in transaction mode]  pgbench clients (-c) for the multi-client workloads
#   BENCH_JOBS     [2]      pgbench threads (-j) for the multi-client workloads
#   BENCH_RUNS     [3]      repetitions of every (target, workload) cell; the median is reported
#   BENCH_SCALE    [10]     pgbench -i scale factor
#   BENCH_WARMUP   [5]      seconds of select-only warm-up per target before measuring (0 = none)
#   BENCH_POOL_SIZE [session: max(20, clients); transaction: 8]  server connections per pool (both poolers)
#   BENCH_TARGETS  ["direct pgbouncer pgbalancer"]
#   BENCH_WORKLOADS [session: "select tpcb select1"; transaction: "select tpcb select1 churn extended prepared"]
#                   also available: churn (-S -C), extended (-S -M extended), prepared (-S -M prepared)
#   BENCH_PGBENCH_ARGS []   extra pgbench arguments
#   BENCH_PGBALANCER_LOG_LEVEL [info]
#   BENCH_PGBALANCER_WORKERS [0]  pgbalancer's worker_threads (0: one per core)
#   BENCH_OUT      [bench/results/<timestamp>]  where results.md, raw.csv and logs go
#   BENCH_KEEP=1            keep the temporary directory (data dir, configs, logs)
#   BENCH_PG_PORT / BENCH_PGBOUNCER_PORT / BENCH_PGBALANCER_PORT   [first free from 15432/16432/17432]
#   PGBALANCER_BIN [build/bin/pgbalancer]  PGBOUNCER_BIN [/usr/sbin/pgbouncer]
#   PG_BINDIR [/usr/lib/postgresql/15/bin]
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODE="${BENCH_POOL_MODE:-session}"
case "$MODE" in
  session)
    CLIENTS="${BENCH_CLIENTS:-16}"
    POOL="${BENCH_POOL_SIZE:-$(( CLIENTS > 20 ? CLIENTS : 20 ))}"
    WORKLOADS="${BENCH_WORKLOADS:-select tpcb select1}" ;;
  transaction)
    # fewer server connections than clients: the pooler has to multiplex
    CLIENTS="${BENCH_CLIENTS:-32}"
    POOL="${BENCH_POOL_SIZE:-8}"
    WORKLOADS="${BENCH_WORKLOADS:-select tpcb select1 churn extended prepared}" ;;
  *) die "BENCH_POOL_MODE must be session or transaction, not '$MODE'" ;;
esac
DURATION="${BENCH_DURATION:-15}"
JOBS="${BENCH_JOBS:-2}"
RUNS="${BENCH_RUNS:-3}"
SCALE="${BENCH_SCALE:-10}"
WARMUP="${BENCH_WARMUP:-5}"
TARGETS="${BENCH_TARGETS:-direct pgbouncer pgbalancer}"
EXTRA_ARGS="${BENCH_PGBENCH_ARGS:-}"
OUT="${BENCH_OUT:-$ROOT/bench/results/$(date +%Y%m%d-%H%M%S)}"

# ----- sanity checks -------------------------------------------------------------------------
# shellcheck disable=SC2086
check_binaries $TARGETS
for w in $WORKLOADS; do
  case "$w" in select|tpcb|select1|churn|extended|prepared) ;;
    *) die "unknown workload '$w' (select, tpcb, select1, churn, extended, prepared)" ;; esac
done
# pgbouncer 1.18 cannot carry named prepared statements (pgbench -M prepared) across server
# connections in transaction mode: that cell is reported as unsupported instead of being run.
unsupported() {  # workload target
  [ "$MODE" = transaction ] && [ "$1" = prepared ] && [ "$2" = pgbouncer ]
}
UNSUPPORTED_NOTE="pgbouncer 1.18 has no prepared statements in transaction mode (added in 1.21)"

bench_init_tmp

# ----- PostgreSQL ----------------------------------------------------------------------------
MAX_CONN=$(( 2 * POOL + CLIENTS + 20 )); [ "$MAX_CONN" -ge 100 ] || MAX_CONN=100
start_postgres "$MAX_CONN"
create_bench_role
log "pgbench -i -s $SCALE"
"$PGBENCH" -i -q -s "$SCALE" -h "$SOCK_DIR" -p "$PG_PORT" -U "$BENCH_USER" bench >"$TMP/pgbench-init.log" 2>&1 ||
  { cat "$TMP/pgbench-init.log" >&2; die "pgbench -i failed"; }
local_sql -U postgres -d bench -c 'VACUUM ANALYZE' -c 'CHECKPOINT'

# ----- poolers -------------------------------------------------------------------------------
for t in $TARGETS; do
  start_pooler "$t" "$MODE" "$POOL" 1000
done

# ----- measurement helpers -------------------------------------------------------------------
pgbench_args() {  # workload
  case "$1" in
    select)  echo "-S -c $CLIENTS -j $JOBS" ;;
    tpcb)    echo "-c $CLIENTS -j $JOBS" ;;
    select1) echo "-S -c 1 -j 1" ;;
    churn)    echo "-S -C -c $CLIENTS -j $JOBS" ;;
    extended) echo "-S -M extended -c $CLIENTS -j $JOBS" ;;
    prepared) echo "-S -M prepared -c $CLIENTS -j $JOBS" ;;
  esac
}

RAW="$OUT/raw.csv"
echo "run,workload,target,tps,latency_ms,txns,pooler_user_us_per_txn,pooler_sys_us_per_txn,connect_ms" >"$RAW"
declare -A V   # "workload|target|metric" -> space separated values of successful runs
declare -A FAILS

run_one() {  # run workload target [warmup-seconds]
  local run=$1 w=$2 t=$3 dur=${4:-$DURATION}
  local port pid args outf rc t0 t1 tps lat txns uus sus u0 s0 u1 s1 conn
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
  # "average connection time" (-C, per connection) or "initial connection time" (all clients)
  conn="$(awk '/^(average|initial) connection time/ { print $5 }' "$outf")"
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
  echo "$run,$w,$t,$tps,$lat,$txns,$uus,$sus,$conn" >>"$RAW"
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
      unsupported "$w" "$t" || run_one "$run" "$w" "$t" || true
    done
  done
done

# ----- report --------------------------------------------------------------------------------
wl_name() {
  case "$1" in
    select)  echo "select-only -S, $CLIENTS clients" ;;
    tpcb)    echo "TPC-B-like, $CLIENTS clients" ;;
    select1) echo "select-only -S, 1 client" ;;
    churn)    echo "connect per txn -S -C, $CLIENTS clients" ;;
    extended) echo "select-only -S -M extended, $CLIENTS clients" ;;
    prepared) echo "select-only -S -M prepared, $CLIENTS clients" ;;
  esac
}
{
  echo "## pgbalancer benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "- machine: $(nproc) CPUs, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(uname -r)"
  echo "- PostgreSQL $("$PG_BINDIR/postgres" --version | awk '{ print $3 }'), $("$PGBOUNCER_BIN" --version 2>/dev/null | head -n 1)," \
       "$(pooler_version pgbalancer)"
  echo "- pgbench scale $SCALE, ${DURATION}s per run, median of $RUNS runs, multi-client: -c $CLIENTS -j $JOBS${EXTRA_ARGS:+, extra: $EXTRA_ARGS}"
  echo "- $MODE mode, pool size $POOL, auth scram-sha-256 (pass-through) on both poolers; PostgreSQL fsync=off; pgbalancer worker_threads ${BENCH_PGBALANCER_WORKERS:-0} (0: one per core)"
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
      if unsupported "$w" "$t"; then
        echo "| $(wl_name "$w") | $t | not supported: $UNSUPPORTED_NOTE | | | | | | |"
        continue
      fi
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
