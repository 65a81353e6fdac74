#!/usr/bin/python3
"""Helper of bench/idle_memory.sh: hold N idle authenticated client connections to a pooler and
measure the pooler's memory and file descriptors.

Opens --clients connections (psycopg 3, SCRAM through the pooler, autocommit so that no
transaction and therefore no server connection is held), waits --settle seconds, reads VmRSS /
VmHWM / threads from /proc/PID/status and counts /proc/PID/fd and the pooler's established TCP
connections to PostgreSQL, then runs SELECT 1 on every --sample-every-th connection, and closes
everything. Results go to stdout as key=value lines, progress to stderr.
"""
import argparse
import os
import resource
import signal
import sys
import time

# psycopg 3.1 (3.1.7 in Debian 12) waits with select() by default, which fails with "filedescriptor out of range
# in select()" for fds >= 1024; epoll has no such limit.
os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_epoll")

import psycopg  # noqa: E402


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "Threads"):
                out[k] = int(v.split()[0])
    return out


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def server_conns(pid, pg_port):
    """Established TCP connections of the process whose remote port is PostgreSQL's."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    p = line.split()
                    if p[3] == "01" and int(p[2].rsplit(":", 1)[1], 16) == pg_port and p[9] in inodes:
                        n += 1
        except FileNotFoundError:
            pass
    return n


class Timeout(Exception):
    pass


def on_alarm(signum, frame):
    raise Timeout()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--pg-port", type=int, required=True)
    ap.add_argument("--clients", type=int, default=2000)
    ap.add_argument("--settle", type=float, default=5)
    ap.add_argument("--sample-every", type=int, default=50)
    ap.add_argument("--user", default="bench")
    ap.add_argument("--password", default="bench")
    ap.add_argument("--dbname", default="bench")
    ap.add_argument("--name", default="pooler")
    a = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.clients + 256
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(want, soft), hard), hard))
        except (ValueError, OSError):
            pass
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < want:
        print(f"[idle {a.name}] warning: client fd limit {soft} < {want}", file=sys.stderr)
    signal.signal(signal.SIGALRM, on_alarm)

    res = {}
    st = status(a.pid)
    res["rss_before_kb"] = st["VmRSS"]
    res["fds_before"] = fd_count(a.pid)
    res["server_conns_before"] = server_conns(a.pid, a.pg_port)

    conns, errors = [], {}
    consecutive = attempted = 0
    t0 = time.monotonic()
    for i in range(a.clients):
        attempted += 1
        try:
            c = psycopg.connect(host="127.0.0.1", port=a.port, user=a.user, password=a.password,
                                dbname=a.dbname, connect_timeout=5, autocommit=True,
                                prepare_threshold=None)
            conns.append(c)
            consecutive = 0
        except Exception as e:  # noqa: BLE001 - any failure counts
            msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
            errors[msg] = errors.get(msg, 0) + 1
            consecutive += 1
            if consecutive >= 10:
                print(f"[idle {a.name}] 10 connection failures in a row, giving up at {i + 1}",
                      file=sys.stderr)
                break
            if not os.path.exists(f"/proc/{a.pid}"):
                print(f"[idle {a.name}] pooler pid {a.pid} is gone", file=sys.stderr)
                break
        if (i + 1) % 500 == 0:
            print(f"[idle {a.name}] {i + 1} attempted, {len(conns)} connected, "
                  f"{time.monotonic() - t0:.1f}s", file=sys.stderr)
    res["connect_seconds"] = f"{time.monotonic() - t0:.1f}"
    res["attempted"] = attempted
    res["connected"] = len(conns)

    time.sleep(a.settle)
    alive = os.path.exists(f"/proc/{a.pid}")
    res["pooler_alive"] = int(alive)
    if alive:
        st = status(a.pid)
        res["rss_idle_kb"] = st["VmRSS"]
        res["hwm_kb"] = st["VmHWM"]
        res["threads"] = st["Threads"]
        res["fds_idle"] = fd_count(a.pid)
        res["server_conns_idle"] = server_conns(a.pid, a.pg_port)

    sample = conns[:: max(1, a.sample_every)]
    ok = 0
    for c in sample:
        try:
            signal.alarm(10)
            if c.execute("SELECT 1").fetchone() == (1,):
                ok += 1
        except Timeout:
            errors["SELECT 1 timed out after 10 s"] = errors.get("SELECT 1 timed out after 10 s", 0) + 1
        except Exception as e:  # noqa: BLE001
            msg = "SELECT 1: " + (str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__)
            errors[msg] = errors.get(msg, 0) + 1
        finally:
            signal.alarm(0)
    res["sample"] = len(sample)
    res["sample_ok"] = ok
    if os.path.exists(f"/proc/{a.pid}"):
        st = status(a.pid)
        res["rss_after_query_kb"] = st["VmRSS"]
        res["server_conns_after_query"] = server_conns(a.pid, a.pg_port)

    for c in conns:
        try:
            c.close()
        except Exception:  # noqa: BLE001
            pass
    for k, v in res.items():
        print(f"{k}={v}")
    for msg, n in sorted(errors.items(), key=lambda kv: -kv[1]):
        print(f"error={n}x {msg}")


if __name__ == "__main__":
    main()
