#!/usr/bin/env bash
# Idle-client memory of pgbouncer vs pgbalancer in transaction mode.
#
# Starts a throwaway PostgreSQL 15, pgbouncer and pgbalancer (transaction mode, same pool size,
# same SCRAM userlist; see bench/lib.sh), then for each pooler opens IDLE_CLIENTS idle,
# authenticated client connections from one Python process (bench/idle_clients.py, psycopg),
# waits for them to settle, and reports the pooler's RSS before/with them, the RSS per client,
# its file descriptors and server connections, and how many of a sample of the connections can
# still run SELECT 1. Prints a markdown table. This is a benchmark, not a test. See bench/README.md.
#
# Environment (defaults in brackets):
#   IDLE_CLIENTS      [2000]   idle client connections per pooler
#   IDLE_POOL_SIZE    [10]     server connections per pool (default_pool_size / max_pool)
#   IDLE_SETTLE       [5]      seconds to wait after the last connection before measuring
#   IDLE_SAMPLE_EVERY [50]     run SELECT 1 on every n-th connection afterwards
#   IDLE_NOFILE       [65536]  ulimit -n for the poolers and the client process
#   IDLE_TARGETS      ["pgbouncer pgbalancer"]
#   IDLE_PYTHON       [/usr/bin/python3]  needs psycopg 3
#   BENCH_OUT         [bench/results/idle-<timestamp>]
#   and those of bench/lib.sh (binaries, ports, BENCH_KEEP, BENCH_PGBALANCER_LOG_LEVEL)
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N="${IDLE_CLIENTS:-2000}"
POOL="${IDLE_POOL_SIZE:-10}"
SETTLE="${IDLE_SETTLE:-5}"
SAMPLE_EVERY="${IDLE_SAMPLE_EVERY:-50}"
NOFILE="${IDLE_NOFILE:-65536}"
TARGETS="${IDLE_TARGETS:-pgbouncer pgbalancer}"
PYTHON="${IDLE_PYTHON:-/usr/bin/python3}"
OUT="${BENCH_OUT:-$ROOT/bench/results/idle-$(date +%Y%m%d-%H%M%S)}"
MAX_CLIENT_CONN=$(( N + 100 ))

# shellcheck disable=SC2086
check_binaries $TARGETS
for t in $TARGETS; do [ "$t" != direct ] || die "IDLE_TARGETS: only poolers (pgbouncer, pgbalancer)"; done
"$PYTHON" -c 'import psycopg' 2>/dev/null || die "$PYTHON cannot import psycopg (psycopg 3)"
if [ "$(id -u)" -ne 0 ] && [ "$(ulimit -Hn)" -lt "$NOFILE" ]; then
  log "warning: hard open-files limit $(ulimit -Hn) < IDLE_NOFILE=$NOFILE and not root; using $(ulimit -Hn)"
fi

declare -A NOFILE_OF
bench_init_tmp
start_postgres 100
create_bench_role
for t in $TARGETS; do
  start_pooler "$t" transaction "$POOL" "$MAX_CLIENT_CONN" "$NOFILE"
  NOFILE_OF[$t]="$(awk '/^Max open files/ { print $4 }' "/proc/$(target_pid "$t")/limits")"
  log "$t pid $(target_pid "$t"): open files limit ${NOFILE_OF[$t]} (asked for $NOFILE)"
done
CLIENT_NOFILE="$( raise_nofile "$NOFILE"; ulimit -n )"

declare -A R   # "target|key" -> value
declare -A ERRS
for t in $TARGETS; do
  pid="$(target_pid "$t")"
  log "$t: opening $N idle clients (settle ${SETTLE}s, SELECT 1 on every ${SAMPLE_EVERY}th)"
  out="$( raise_nofile "$NOFILE"
          "$PYTHON" "$ROOT/bench/idle_clients.py" --name "$t" --port "$(target_port "$t")" --pid "$pid" \
            --pg-port "$PG_PORT" --clients "$N" --settle "$SETTLE" --sample-every "$SAMPLE_EVERY" \
            --user "$BENCH_USER" --password "$BENCH_PASSWORD" --dbname bench )" ||
    log "$t: client script exited with $?"
  printf '%s\n' "$out" >"$OUT/idle-$t.txt"
  while IFS='=' read -r k v; do
    [ -n "$k" ] || continue
    if [ "$k" = error ]; then ERRS[$t]+="$v"$'\n'; else R["$t|$k"]="$v"; fi
  done <<<"$out"
  log "$t: connected ${R["$t|connected"]:-?}/$N in ${R["$t|connect_seconds"]:-?}s," \
      "RSS ${R["$t|rss_before_kb"]:-?} -> ${R["$t|rss_idle_kb"]:-?} kB, fds ${R["$t|fds_idle"]:-?}," \
      "SELECT 1 ok ${R["$t|sample_ok"]:-?}/${R["$t|sample"]:-?}"
  alive "$pid" || log "$t (pid $pid) is no longer running; see its log in $OUT"
  sleep 1
done

# ----- report --------------------------------------------------------------------------------
g() { printf '%s' "${R["$1|$2"]:-}"; }
per_client() {  # target unit(B|KiB)
  local b a c
  b="$(g "$1" rss_before_kb)"; a="$(g "$1" rss_idle_kb)"; c="$(g "$1" connected)"
  if [ -z "$b" ] || [ -z "$a" ] || [ -z "$c" ] || [ "$c" = 0 ]; then printf 'n/a'; return; fi
  awk -v b="$b" -v a="$a" -v c="$c" -v u="$2" \
    'BEGIN { d = (a - b) * 1024 / c; if (u == "B") printf "%.0f", d; else printf "%.1f", d / 1024 }'
}
{
  echo "## Idle clients, transaction mode, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "- machine: $(nproc) CPUs, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- PostgreSQL $("$PG_BINDIR/postgres" --version | awk '{ print $3 }');$(for t in $TARGETS; do printf ' %s;' "$(pooler_version "$t")"; done)"
  echo "- pool_mode transaction, pool size $POOL, max_client_conn $MAX_CLIENT_CONN, open-files limit:$(for t in $TARGETS; do printf ' %s %s,' "$t" "${NOFILE_OF[$t]}"; done) client $CLIENT_NOFILE; auth scram-sha-256 (pass-through)"
  echo "- $N clients per pooler opened one after another from one psycopg process (autocommit, idle), ${SETTLE}s settle;" \
       "RSS = VmRSS from /proc/PID/status; per client = (RSS with clients - RSS before) / connected"
  echo "- RSS before is after one psql login (server connection pool warmed); fds = entries in /proc/PID/fd;" \
       "server conns = the pooler's established TCP connections to PostgreSQL"
  echo
  echo "| pooler | connected | RSS before KiB | RSS with idle clients KiB | delta KiB | per client bytes | per client KiB | peak RSS KiB | fds before | fds with idle clients | server conns | SELECT 1 ok (sample) |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for t in $TARGETS; do
    b="$(g "$t" rss_before_kb)"; a="$(g "$t" rss_idle_kb)"
    d="n/a"; [ -z "$b" ] || [ -z "$a" ] || d=$(( a - b ))
    so="$(g "$t" sample_ok)"; sn="$(g "$t" sample)"
    frac="n/a"; [ -z "$sn" ] || [ "$sn" = 0 ] || frac="$so/$sn ($(awk -v a="$so" -v b="$sn" 'BEGIN { printf "%.0f", 100 * a / b }') %)"
    echo "| $(pooler_version "$t") | $(g "$t" connected)/$N | ${b:-n/a} | ${a:-n/a} | $d |" \
         "$(per_client "$t" B) | $(per_client "$t" KiB) | $(g "$t" hwm_kb) |" \
         "$(g "$t" fds_before) | $(g "$t" fds_idle) | $(g "$t" server_conns_idle) | $frac |"
  done
  for t in $TARGETS; do
    if [ -n "${ERRS[$t]:-}" ]; then
      echo
      echo "Errors seen by the client for $t (count x first line):"
      echo
      printf '%s' "${ERRS[$t]}" | sed 's/^/    /'
    fi
  done
} | tee "$OUT/results.md"
echo
for t in $TARGETS; do
  case "$t" in
    pgbouncer) lf="$TMP/pgbouncer/pgbouncer.log" ;;
    pgbalancer) lf="$TMP/pgbalancer.log" ;;
  esac
  n_warn="$(grep -Eci 'warn|error|fatal|too many|EMFILE' "$lf" || true)"
  log "$t log: $n_warn warning/error lines$( [ "$n_warn" = 0 ] || echo ', the last ones:')"
  [ "$n_warn" = 0 ] || grep -Ei 'warn|error|fatal|too many|EMFILE' "$lf" | tail -n 5 >&2
done
log "results: $OUT/results.md; client output and pooler logs in $OUT/"
