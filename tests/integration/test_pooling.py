"""Session pooling: reuse and reset, max_pool queueing, query_wait_timeout,
max_client_conn, idle/lifetime timeouts, pgbench."""

import os
import re
import subprocess
import time

import psycopg
import pytest

import pgwire
from conftest import DBNAME, PASSWORDS, BackgroundCall, closing_all, wait_for


def backend_pid(conn):
    return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


def raw_login_and_query(b, user="alice", timeout=60):
    """Log in with the raw client and run SELECT 1; return (error_fields or None, elapsed)."""
    t0 = time.monotonic()
    with b.raw(timeout=timeout) as r:
        try:
            err = r.startup(user, DBNAME, PASSWORDS[user])
            if err is None:
                _, err = r.simple_query("SELECT 1")
        except pgwire.WireError as e:
            err = {"C": "closed", "M": str(e)}
    return err, time.monotonic() - t0


def test_reuse_and_reset(pgbalancer, pg):
    b = pgbalancer(max_pool=1)
    with b.connect() as c:
        pid1 = backend_pid(c)
        assert pid1 == c.info.backend_pid
        c.execute("CREATE TEMP TABLE t_reset(x int)")
        c.execute("SET work_mem = '7MB'")
        c.execute("SELECT set_config('itest.custom', 'leaked', false)")
        c.execute("PREPARE leaked_stmt AS SELECT 1")
        c.execute("LISTEN leaked_channel")
        c.execute("SELECT %s::int", [1], prepare=True)   # psycopg's _pg3_0
    with b.connect() as c:
        pid2 = backend_pid(c)
        assert pid2 == pid1, "second client did not get the pooled backend"
        assert c.info.backend_pid == pid2
        assert c.execute("SELECT to_regclass('t_reset')").fetchone() == (None,), "temp table survived"
        assert c.execute("SHOW work_mem").fetchone() == ("4MB",), "SET survived"
        assert c.execute("SELECT current_setting('itest.custom', true)").fetchone()[0] in (None, "")
        assert c.execute("SELECT count(*) FROM pg_prepared_statements").fetchone() == (0,)
        assert c.execute("SELECT count(*) FROM pg_listening_channels()").fetchone() == (0,)
        # psycopg will create _pg3_0 again: must not collide
        assert c.execute("SELECT %s::int", [2], prepare=True).fetchone() == (2,)
    assert pg.backend_pids("alice") == [pid1]


def test_reuse_with_large_pool(balancer):
    """With free capacity an idle pooled connection is still preferred."""
    with balancer.connect() as c:
        pid1 = backend_pid(c)
    time.sleep(1.0)
    with balancer.connect() as c:
        assert backend_pid(c) == pid1


def test_reset_after_open_transaction(pgbalancer, pg):
    """A client that disconnects inside a (failed) transaction must not leave it open."""
    b = pgbalancer(max_pool=1)
    c = b.connect(autocommit=False)
    c.execute("CREATE TEMP TABLE t_tx(x int)")
    c.execute("INSERT INTO t_tx VALUES (1)")
    c.close()   # sends Terminate while in a transaction
    c = b.connect(autocommit=False)
    c.execute("SELECT 1")
    with pytest.raises(psycopg.errors.DivisionByZero):
        c.execute("SELECT 1/0")
    c.close()   # in a failed transaction
    with b.connect() as c:
        # the backend may be reused (after ROLLBACK + reset) or replaced; either way the
        # new session must start clean and idle
        assert c.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert c.execute("SELECT now() = statement_timestamp()").fetchone() == (True,)
        assert c.execute("SELECT to_regclass('t_tx')").fetchone() == (None,)
        assert c.execute("SELECT 'ok'").fetchone() == ("ok",)


def test_users_and_databases_get_separate_pools(pgbalancer):
    b = pgbalancer(max_pool=1)
    with b.connect("alice") as a, b.connect("bob") as bb, b.connect("alice", dbname="postgres") as ap:
        assert len({backend_pid(a), backend_pid(bb), backend_pid(ap)}) == 3
        assert bb.execute("SELECT current_user").fetchone() == ("bob",)
        assert ap.execute("SELECT current_database()").fetchone() == ("postgres",)


@pytest.mark.timeout(120)
def test_max_pool_queues_clients(pgbalancer, pg):
    b = pgbalancer(max_pool=2, query_wait_timeout=60)
    c1, c2 = b.connect(), b.connect()
    with closing_all([c1, c2]):
        pids = {backend_pid(c1), backend_pid(c2)}
        assert len(pids) == 2

        def third():
            with b.connect() as c3:
                return backend_pid(c3)

        call = BackgroundCall(third)
        time.sleep(2.0)
        assert not call.done(), "a third client got served although max_pool=2 are busy"
        assert len(pg.backend_pids("alice")) <= 2, "more than max_pool backends opened"
        freed = backend_pid(c1)
        c1.close()
        pid3 = call.result(30)
        assert pid3 == freed, "the waiting client did not get the freed backend"
        assert len(pg.backend_pids("alice")) <= 2


@pytest.mark.timeout(120)
def test_many_waiters_all_served(pgbalancer, pg):
    """8 clients over max_pool=2, each holding its session briefly: all are served,
    the backend count never exceeds 2."""
    b = pgbalancer(max_pool=2, query_wait_timeout=90)
    peak = [0]
    stop = [False]

    def watch():
        while not stop[0]:
            peak[0] = max(peak[0], len(pg.backend_pids("alice")))
            time.sleep(0.05)

    watcher = BackgroundCall(watch)

    def client(i):
        with b.connect() as c:
            c.execute("SELECT pg_sleep(0.3)")
            return c.execute("SELECT %s::int", [i]).fetchone()[0]

    try:
        calls = [BackgroundCall(client, i) for i in range(8)]
        assert sorted(c.result(90) for c in calls) == list(range(8))
    finally:
        stop[0] = True
        watcher.result(10)
    assert 1 <= peak[0] <= 2, "peak backend count %d with max_pool=2" % peak[0]


@pytest.mark.timeout(120)
def test_query_wait_timeout_53300(pgbalancer):
    b = pgbalancer(max_pool=1, query_wait_timeout="2s")
    with b.connect() as holder:
        backend_pid(holder)
        err, elapsed = raw_login_and_query(b)
        assert err is not None, "second client was served although the pool is exhausted"
        assert err["C"] == "53300", err
        assert 1.5 <= elapsed <= 20, "timed out after %.1fs, configured 2s" % elapsed
        # psycopg sees an error too (not a hang)
        t0 = time.monotonic()
        with pytest.raises(psycopg.OperationalError):
            with b.connect() as c:
                c.execute("SELECT 1")
        assert time.monotonic() - t0 < 20
        # the holder is unaffected
        assert holder.execute("SELECT 'holder ok'").fetchone() == ("holder ok",)
    # and once the pool is free again a new client is served
    with b.connect() as c:
        assert c.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.timeout(120)
def test_max_client_conn(pgbalancer):
    b = pgbalancer(max_client_conn=3)
    conns = [b.connect() for _ in range(3)]
    with closing_all(conns):
        for c in conns:
            assert c.execute("SELECT 1").fetchone() == (1,)
        err, elapsed = raw_login_and_query(b)
        assert err is not None, "a 4th client was accepted with max_client_conn=3"
        assert err["C"] == "53300", err
        assert elapsed < 20
        with pytest.raises(psycopg.OperationalError):
            b.connect()
        conns[0].close()
        # the slot is released (allow a moment for the close to be noticed)
        wait_for(lambda: raw_login_and_query(b)[0] is None, timeout=10,
                 message="a client slot to become free after a disconnect")
    b.assert_alive()


@pytest.mark.timeout(60)
def test_server_idle_timeout(pgbalancer, pg):
    b = pgbalancer(server_idle_timeout=2)
    with b.connect() as c:
        pid = backend_pid(c)
    assert pid in pg.backend_pids("alice")
    wait_for(lambda: pid not in pg.backend_pids("alice"), timeout=20,
             message="idle backend %d to be closed after server_idle_timeout=2" % pid)
    with b.connect() as c:
        assert backend_pid(c) != pid


@pytest.mark.timeout(60)
def test_server_lifetime(pgbalancer, pg):
    b = pgbalancer(server_lifetime=2)
    with b.connect() as c:
        pid = backend_pid(c)
    time.sleep(3.5)
    with b.connect() as c:
        assert backend_pid(c) != pid, "backend older than server_lifetime was reused"
    wait_for(lambda: pid not in pg.backend_pids("alice"), timeout=20,
             message="expired backend %d to be closed" % pid)


def test_custom_server_reset_query(pgbalancer, pg):
    b = pgbalancer(max_pool=1, server_reset_query="RESET ALL; SELECT pg_advisory_unlock_all()")
    with b.connect() as c:
        pid = backend_pid(c)
        c.execute("CREATE TEMP TABLE survives(x int)")
        c.execute("SET work_mem = '9MB'")
    with b.connect() as c:
        assert backend_pid(c) == pid
        assert c.execute("SHOW work_mem").fetchone() == ("4MB",)
        # RESET ALL does not drop temp tables: proves the configured query is used
        assert c.execute("SELECT to_regclass('survives')").fetchone()[0] is not None


def _pgbench(b, args, timeout=240):
    env = dict(os.environ, PGPASSWORD=PASSWORDS["alice"], PGSSLMODE="disable",
               PGGSSENCMODE="disable", PGCONNECT_TIMEOUT="30")
    return subprocess.run(["pgbench", "-h", "127.0.0.1", "-p", str(b.port), "-U", "alice",
                           "-n"] + args + [DBNAME],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env, timeout=timeout)


def _processed(out):
    m = re.search(r"number of transactions actually processed: (\d+)/(\d+)", out)
    return m and (int(m.group(1)), int(m.group(2)))


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", ["simple", "extended", "prepared"])
def test_pgbench(pgbalancer, pgbench_tables, mode):
    b = pgbalancer()
    t = 200 if mode == "simple" else 100
    r = _pgbench(b, ["-c", "8", "-j", "2", "-t", str(t), "-M", mode])
    assert r.returncode == 0, "pgbench failed:\n%s\n%s\nlog:\n%s" % (r.stdout, r.stderr, b.log_tail())
    assert _processed(r.stdout) == (8 * t, 8 * t), r.stdout
    assert "number of failed transactions: 0" in r.stdout, r.stdout
    assert "error" not in r.stderr.lower(), r.stderr


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_pgbench_more_clients_than_pool(pgbalancer, pgbench_tables, pg):
    """8 clients, max_pool=3, a connection per transaction (-C) and one thread per client:
    clients queue for backends at login and all 200 transactions complete.
    (Without -C pgbench would deadlock by design: it connects all clients before
    running any transaction, and in session mode a login holds a backend.)"""
    b = pgbalancer(max_pool=3, query_wait_timeout=200)
    r = _pgbench(b, ["-c", "8", "-j", "8", "-t", "25", "-S", "-C"])
    assert r.returncode == 0, "pgbench failed:\n%s\n%s" % (r.stdout, r.stderr)
    assert _processed(r.stdout) == (200, 200), r.stdout
    assert len(pg.backend_pids("alice")) <= 3


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_pgbench_connect_per_transaction(pgbalancer, pgbench_tables):
    """-C: a new client connection (and SCRAM login) per transaction; exercises the
    release/reset/reuse path hundreds of times."""
    b = pgbalancer()
    r = _pgbench(b, ["-c", "4", "-j", "2", "-t", "50", "-S", "-C"])
    assert r.returncode == 0, "pgbench failed:\n%s\n%s" % (r.stdout, r.stderr)
    assert _processed(r.stdout) == (200, 200), r.stdout


REPORTED = ["application_name", "client_encoding", "DateStyle", "IntervalStyle", "TimeZone",
            "integer_datetimes", "server_encoding", "server_version",
            "standard_conforming_strings", "is_superuser", "session_authorization"]


def _reported_vs_actual(c):
    out = {}
    for name in REPORTED:
        reported = c.info.parameter_status(name)
        actual = c.execute("SELECT current_setting(%s)", [name]).fetchone()[0]
        out[name] = (reported, actual)
    return out


def test_parameter_status_consistent_after_reuse(pgbalancer):
    """A client that reuses a pooled backend must be told the backend's *current*
    reported settings (after the reset), not stale values from the previous client."""
    b = pgbalancer(max_pool=1)
    with b.connect(application_name="ps_test") as c:
        pid = backend_pid(c)
        first = _reported_vs_actual(c)
        for name, (rep, act) in first.items():
            assert rep == act, "first client: %s reported %r, actual %r" % (name, rep, act)
        c.execute("SET application_name = 'changed_by_a'")
        c.execute("SET TimeZone = 'Asia/Tokyo'")
        c.execute("SET DateStyle = 'German, DMY'")
        c.execute("SET IntervalStyle = 'iso_8601'")
        c.execute("SET client_encoding = 'LATIN1'")
        assert c.info.parameter_status("TimeZone") == "Asia/Tokyo"
    with b.connect(application_name="ps_test") as c:
        assert backend_pid(c) == pid
        second = _reported_vs_actual(c)
        for name, (rep, act) in second.items():
            assert rep == act, "reused backend: %s reported %r, actual %r" % (name, rep, act)
        assert second["application_name"] == ("ps_test", "ps_test")
        assert second["client_encoding"] == ("UTF8", "UTF8")
        assert c.execute("SELECT 'äöü€'").fetchone() == ("äöü€",)


@pytest.mark.timeout(180)
def test_connection_churn_with_small_pool(pgbalancer, pg):
    """40 threads x 15 connect/query/disconnect cycles over max_pool=4: every cycle
    succeeds and PostgreSQL never sees more than 4 backends."""
    b = pgbalancer(max_pool=4, query_wait_timeout=120)
    peak = [0]
    stop = [False]

    def watch():
        while not stop[0]:
            peak[0] = max(peak[0], len(pg.backend_pids("alice")))
            time.sleep(0.05)

    def worker(i):
        done = 0
        for j in range(15):
            with b.connect() as c:
                assert c.execute("SELECT %s::int + %s::int", [i, j]).fetchone() == (i + j,)
                if j % 5 == 0:
                    c.execute("SET work_mem = '8MB'")
            done += 1
        return done

    watcher = BackgroundCall(watch)
    try:
        calls = [BackgroundCall(worker, i) for i in range(40)]
        assert [c.result(170) for c in calls] == [15] * 40
    finally:
        stop[0] = True
        watcher.result(10)
    assert peak[0] <= 4, "peak %d backends with max_pool=4" % peak[0]
    b.assert_alive()
