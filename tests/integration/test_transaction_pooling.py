"""Transaction and statement pooling: pool_mode per database/user, server connection
leasing per transaction, parameters following the client, statement-mode refusal of
transaction blocks, cancel, client_idle_timeout / idle_transaction_timeout, LISTEN
warning, pgbench and 2,000 clients over a pool of 10."""

import os
import re
import resource
import socket
import subprocess
import threading
import time
import uuid

import psycopg
import pytest
from psycopg import errors

import pgwire
from conftest import (DBNAME, PASSWORDS, PGBALANCER_BIN, BackgroundCall, Raw, closing_all,
                      default_config, free_port, line_of, render_config, require_binary,
                      userlist_text, default_users, wait_for)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def sections_yaml(databases=None, users=None):
    """Render the nested `databases:` / `users:` sections as YAML text."""
    out = []
    for name, entries in (("databases", databases), ("users", users)):
        if not entries:
            continue
        out.append("%s:" % name)
        for entry, settings in entries.items():
            out.append("  %s:" % entry)
            for k, v in settings.items():
                out.append("    %s: %s" % (k, v))
    return "\n".join(out)


def with_sections(databases=None, users=None, log_level="info"):
    """conftest's config renderer is flat and the factory's `users=` argument is the
    userlist, so the nested sections ride on the (always present) log_level key as raw
    YAML appended after it: `log_level: info\\ndatabases:\\n  testdb: ...`."""
    return {"log_level": Raw("%s\n%s" % (log_level, sections_yaml(databases, users)))}


def tconnect(b, *args, **kw):
    """b.connect() with psycopg's automatic server-side prepare off: after 5 executions
    of one query psycopg PREPAREs it as _pg3_N on *its* backend, which cannot work when
    consecutive transactions land on different server connections (the same advice as
    for pgbouncer in transaction mode)."""
    c = b.connect(*args, **kw)
    c.prepare_threshold = None
    return c


def backend_pid(conn):
    return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


class PeakWatcher:
    """Samples the number of PostgreSQL backends of `user` in a thread."""

    SQL = ("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
           "AND datname = %s AND usename = %s")

    def __init__(self, pg, user="alice", dbname=DBNAME):
        # one admin connection opened up front: it keeps a low file descriptor (libpq's
        # select() breaks on fds >= 1024 once thousands of test sockets are open)
        self.admin = pg.admin("postgres")
        self.user, self.dbname = user, dbname
        self.peak = 0
        self._stop = False
        self._call = BackgroundCall(self._run)

    def _run(self):
        while not self._stop:
            n = self.admin.execute(self.SQL, [self.dbname, self.user]).fetchone()[0]
            self.peak = max(self.peak, n)
            time.sleep(0.05)

    def stop(self):
        self._stop = True
        try:
            self._call.result(10)
        finally:
            self.admin.close()
        return self.peak


def raw_login(b, user="alice", dbname=DBNAME, timeout=30, **params):
    """Raw client logged in (or the login error fields)."""
    r = b.raw(timeout=timeout)
    try:
        err = r.startup(user, dbname, PASSWORDS.get(user), **params)
    except (pgwire.WireError, OSError) as e:
        r.close()
        return None, {"C": "closed", "M": str(e)}
    if err is not None:
        r.close()
        return None, err
    return r, None


def read_until_closed(r, timeout):
    """Drain messages until EOF; True if the server closed the connection in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            m = r.read_msg()
        except (socket.timeout, TimeoutError):
            return False
        except (OSError, pgwire.WireError):
            return True
        if m is None:
            return True
    return False


def tx_mode(**overrides):
    cfg = {"pool_mode": "transaction"}
    cfg.update(overrides)
    return cfg


# --------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------

@pytest.fixture
def check_config(pg, tmp_path):
    """Write a config (flat overrides + raw YAML sections) and run --check on it."""
    require_binary()
    (tmp_path / "userlist.txt").write_text(userlist_text(default_users(pg)))

    def check(sections="", **overrides):
        cfg = default_config(pg, tmp_path, free_port(), **overrides)
        text = render_config(cfg) + sections + ("\n" if sections else "")
        path = tmp_path / "pgbalancer.yaml"
        path.write_text(text)
        r = subprocess.run([PGBALANCER_BIN, "--check", "-f", str(path)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        return r, str(path), text

    return check


@pytest.mark.parametrize("mode", ["session", "transaction", "statement"])
def test_check_pool_modes_and_sections_ok(check_config, mode):
    r, _, text = check_config(
        sections_yaml(databases={"testdb": {"pool_mode": "transaction"},
                                 "postgres": {"pool_mode": "statement"}},
                      users={"bob": {"pool_mode": "session"}}),
        pool_mode=mode, client_idle_timeout="30s", idle_transaction_timeout=0,
        track_extra_parameters=Raw("[default_transaction_read_only]"))
    assert r.returncode == 0, "config rejected:\n%s\n--- config ---\n%s" % (r.stderr, text)


@pytest.mark.parametrize("section,entry", [("databases", "testdb"), ("users", "bob")])
def test_check_unknown_key_in_section_has_line(check_config, section, entry):
    sections = sections_yaml(**{section: {entry: {"pool_mode": "transaction",
                                                  "bogus_section_key_q9": 1}}})
    r, path, text = check_config(sections)
    assert r.returncode == 1, "unknown key in %s.%s accepted (exit %d):\n%s" % (
        section, entry, r.returncode, r.stderr)
    line = line_of(text, "bogus_section_key_q9")
    rx = re.compile(r"^%s:%d: \S*bogus_section_key_q9\S*: \S.*$" % (re.escape(path), line), re.M)
    assert rx.search(r.stderr), "no 'PATH:%d: ...bogus_section_key_q9: message' in:\n%s" % (
        line, r.stderr)


def test_check_bad_pool_mode_in_section_has_line(check_config):
    r, path, text = check_config(sections_yaml(users={"bob": {"pool_mode": "sometimes"}}))
    assert r.returncode == 1, r.stderr
    line = line_of(text, "sometimes")
    assert re.search(r"^%s:%d: \S*pool_mode\S*: .*sometimes" % (re.escape(path), line),
                     r.stderr, re.M), r.stderr


# --------------------------------------------------------------------------
# pool_mode precedence: users > databases > global
# --------------------------------------------------------------------------

def detect_mode(b, user, dbname):
    """Classify the pool mode of (user, dbname) by behaviour, with max_pool=1 and
    query_wait_timeout=2s: a second client can't even run a query while a first one is
    connected and idle -> session; BEGIN refused -> statement; else transaction."""
    holder, err = raw_login(b, user, dbname)
    assert err is None, "holder login %s@%s failed: %r" % (user, dbname, err)
    with holder:
        rows, err = holder.simple_query("SELECT current_user, current_database()")
        assert err is None and rows == [[user, dbname]], (rows, err)
        second, err = raw_login(b, user, dbname)
        if err is not None:
            assert err.get("C") in ("53300", "closed"), "unexpected login error %r" % err
            return "session"
        with second:
            try:
                rows, err = second.simple_query("SELECT 1")
            except (pgwire.WireError, OSError) as e:
                err = {"C": "53300", "M": "closed: %s" % e}
            if err is not None:
                assert err.get("C") == "53300", "unexpected query error %r" % err
                return "session"
            try:
                rows, err = second.simple_query("BEGIN")
            except (pgwire.WireError, OSError):
                return "statement"
            if err is not None:
                return "statement"
            second.simple_query("ROLLBACK")
            return "transaction"


@pytest.mark.timeout(90)
def test_pool_mode_precedence_users_over_databases_over_global(pgbalancer):
    b = pgbalancer(max_pool=1, query_wait_timeout="2s", pool_mode="session",
                   **with_sections(databases={"testdb": {"pool_mode": "transaction"},
                                              "postgres": {"pool_mode": "statement"}},
                                   users={"bob": {"pool_mode": "session"}}))
    got = {(u, d): detect_mode(b, u, d)
           for u, d in [("alice", DBNAME), ("alice", "postgres"), ("bob", DBNAME),
                        ("bob", "postgres")]}
    assert got == {("alice", DBNAME): "transaction", ("alice", "postgres"): "statement",
                   ("bob", DBNAME): "session", ("bob", "postgres"): "session"}, got
    b.assert_alive()


@pytest.mark.timeout(90)
def test_pool_mode_precedence_global_transaction(pgbalancer):
    b = pgbalancer(max_pool=1, query_wait_timeout="2s", pool_mode="transaction",
                   **with_sections(databases={"postgres": {"pool_mode": "session"}},
                                   users={"bob": {"pool_mode": "statement"}}))
    got = {(u, d): detect_mode(b, u, d)
           for u, d in [("alice", DBNAME), ("alice", "postgres"), ("bob", DBNAME),
                        ("bob", "postgres")]}
    assert got == {("alice", DBNAME): "transaction", ("alice", "postgres"): "session",
                   ("bob", DBNAME): "statement", ("bob", "postgres"): "statement"}, got


# --------------------------------------------------------------------------
# transaction mode: leasing
# --------------------------------------------------------------------------

@pytest.mark.timeout(120)
def test_many_clients_share_two_server_connections(pgbalancer, pg):
    """20 clients connected at once, each running 15 transactions, over max_pool=2.
    Every transaction stays on one backend (pid, temp table, SET LOCAL), at most two
    backends ever exist, and the clients interleave on them."""
    b = pgbalancer(max_pool=2, query_wait_timeout=30, **tx_mode())
    watcher = PeakWatcher(pg)
    conns = []
    try:
        for _ in range(20):
            conns.append(tconnect(b))     # in session mode the 3rd login would block
        start = threading.Barrier(20)

        def worker(i, c):
            start.wait(30)
            seen = set()
            for j in range(15):
                with c.transaction():
                    pid = backend_pid(c)
                    c.execute("CREATE TEMP TABLE tx_tmp(x int) ON COMMIT DROP")
                    c.execute("SET LOCAL work_mem = '%dMB'" % (5 + j))
                    c.execute("INSERT INTO tx_tmp VALUES (%s), (%s)", [i, j])
                    assert c.execute("SELECT sum(x) FROM tx_tmp").fetchone()[0] == i + j
                    assert c.execute("SHOW work_mem").fetchone()[0] == "%dMB" % (5 + j)
                    assert backend_pid(c) == pid, "transaction moved to another backend"
                seen.add(pid)
                assert c.execute("SELECT to_regclass('pg_temp.tx_tmp')").fetchone() == (None,)
                assert c.execute("SELECT %s::int * 2", [i]).fetchone() == (2 * i,)
            return seen

        calls = [BackgroundCall(worker, i, c) for i, c in enumerate(conns)]
        seen = [call.result(110) for call in calls]
    finally:
        for c in conns:
            c.close()
        peak = watcher.stop()
    all_pids = set().union(*seen)
    assert 1 <= len(all_pids) <= 2, "%d distinct backends with max_pool=2: %r" % (
        len(all_pids), all_pids)
    assert peak <= 2, "peak %d backends with max_pool=2" % peak
    assert sum(1 for s in seen if s) == 20
    b.assert_alive()


@pytest.mark.timeout(60)
def test_transaction_keeps_its_server_connection(pgbalancer, pg):
    """max_pool=1: while A is inside a transaction, B's query waits; A's temp table and
    SET LOCAL stay visible until COMMIT; then B runs on the same backend."""
    b = pgbalancer(max_pool=1, **tx_mode())
    with tconnect(b) as a, tconnect(b) as bb:
        assert bb.execute("SELECT 1").fetchone() == (1,)   # B logged in and idle
        a.execute("BEGIN")
        pid = backend_pid(a)
        a.execute("CREATE TEMP TABLE keep_tmp(x int) ON COMMIT DROP")
        a.execute("INSERT INTO keep_tmp VALUES (42)")
        a.execute("SET LOCAL work_mem = '13MB'")
        call = BackgroundCall(lambda: backend_pid(bb))
        time.sleep(1.5)
        assert not call.done(), "B got a server connection while A's transaction holds the only one"
        assert a.execute("SELECT x FROM keep_tmp").fetchone() == (42,)
        assert a.execute("SHOW work_mem").fetchone() == ("13MB",)
        assert backend_pid(a) == pid
        assert not call.done()
        a.execute("COMMIT")
        assert call.result(20) == pid, "B should reuse the single backend"
        assert a.execute("SHOW work_mem").fetchone() == ("4MB",)
        assert a.execute("SELECT to_regclass('pg_temp.keep_tmp')").fetchone() == (None,)
    assert len(pg.backend_pids("alice")) <= 1


@pytest.mark.timeout(60)
def test_failed_transaction_keeps_server_connection(pgbalancer):
    """ReadyForQuery 'E' (failed transaction) is not idle: the lease is kept until
    ROLLBACK, and the client sees its own aborted transaction (25P02)."""
    b = pgbalancer(max_pool=1, **tx_mode())
    with tconnect(b) as a, tconnect(b) as bb:
        bb.execute("SELECT 1")
        a.execute("BEGIN")
        pid = backend_pid(a)
        with pytest.raises(errors.DivisionByZero):
            a.execute("SELECT 1/0")
        call = BackgroundCall(lambda: bb.execute("SELECT 'b ran'").fetchone()[0])
        time.sleep(1.0)
        assert not call.done(), "B was served while A sat in a failed transaction"
        with pytest.raises(errors.InFailedSqlTransaction):
            a.execute("SELECT 1")
        a.execute("ROLLBACK")
        assert call.result(20) == "b ran"
        assert backend_pid(a) == pid


@pytest.mark.timeout(60)
def test_client_leaving_mid_transaction_rolls_back(pgbalancer, pg):
    """A client that disconnects (Terminate, or a plain socket close) inside a
    transaction must not leave it open on a pooled backend nor its effects committed."""
    table = "tx_leave_%s" % uuid.uuid4().hex[:8]
    pg.admin_query("CREATE TABLE public.%s(v text)" % table)
    pg.admin_query("GRANT ALL ON public.%s TO PUBLIC" % table)
    b = pgbalancer(max_pool=1, **tx_mode())
    c = tconnect(b)
    c.execute("BEGIN")
    c.execute("INSERT INTO %s VALUES ('terminate')" % table)
    c.close()
    r, err = raw_login(b)
    assert err is None, err
    rows, err = r.simple_query("BEGIN; INSERT INTO %s VALUES ('abrupt')" % table)
    assert err is None, err
    r.close()     # no Terminate
    with tconnect(b) as c:
        assert c.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert c.execute("SELECT now() = statement_timestamp()").fetchone() == (True,), \
            "the new client landed inside someone else's transaction"
        assert c.execute("SELECT count(*) FROM %s" % table).fetchone() == (0,)
    assert pg.admin_query("SELECT count(*) FROM public.%s" % table) == [(0,)]


@pytest.mark.timeout(60)
def test_pipeline_with_several_syncs_stays_on_its_backend(pgbalancer):
    """psycopg pipeline mode sends many Syncs before reading: the server connection
    must not be handed over after the first ReadyForQuery while more is outstanding."""
    b = pgbalancer(max_pool=1, **tx_mode())

    def worker(i):
        with tconnect(b) as c:
            out = []
            for _ in range(5):
                with c.pipeline():
                    curs = [c.execute("SELECT %s::int, %s::int, pg_backend_pid()", [i, k])
                            for k in range(40)]
                    c.execute("SELECT pg_sleep(0.01)")
                out.append([cur.fetchone() for cur in curs])
            return out

    calls = [BackgroundCall(worker, i) for i in range(4)]
    for i, call in enumerate(calls):
        for batch in call.result(50):
            assert [r[:2] for r in batch] == [(i, k) for k in range(40)], \
                "client %d got someone else's rows" % i
            assert len({r[2] for r in batch}) == 1
    b.assert_alive()


@pytest.mark.timeout(60)
def test_copy_in_holds_server_connection(pgbalancer):
    b = pgbalancer(max_pool=1, **tx_mode())
    with tconnect(b) as a, tconnect(b) as bb:
        bb.execute("SELECT 1")
        a.execute("CREATE TEMP TABLE copy_tmp(x int)")   # temp table lives on the backend
        call = None
        with a.cursor() as cur:
            with cur.copy("COPY copy_tmp FROM STDIN") as copy:
                copy.write("1\n2\n")
                call = BackgroundCall(lambda: bb.execute("SELECT 'b ran'").fetchone()[0])
                time.sleep(1.0)
                assert not call.done(), "B was served in the middle of A's COPY"
                copy.write("3\n")
        assert call.result(20) == "b ran"
        with a.cursor() as cur:
            rows = []
            with cur.copy("COPY (SELECT generate_series(1, 3000)) TO STDOUT") as copy:
                for row in copy.rows():
                    rows.append(int(row[0]))
        assert rows == list(range(1, 3001))


# --------------------------------------------------------------------------
# parameters follow the client
# --------------------------------------------------------------------------

def _check_params(c, expected, who):
    for name, want in expected.items():
        got = c.execute("SELECT current_setting(%s)", [name]).fetchone()[0]
        assert got == want, "%s: current_setting(%s) = %r, expected %r" % (who, name, got, want)
        rep = c.info.parameter_status(name)
        assert rep == want, "%s: ParameterStatus %s = %r, expected %r" % (who, name, rep, want)


@pytest.mark.timeout(90)
def test_parameters_follow_client(pgbalancer, pg):
    b = pgbalancer(max_pool=1, **tx_mode())
    a = tconnect(b, application_name="app_a", options="-c TimeZone=Asia/Tokyo")
    bb = tconnect(b, application_name="app_b")
    with closing_all([a, bb]):
        bb.execute("SET TimeZone = 'America/New_York'")
        a.execute("SET DateStyle = 'German, DMY'")
        a.execute("SET IntervalStyle = 'iso_8601'")
        a.execute("SET client_encoding = 'LATIN1'")
        bb.execute("SET standard_conforming_strings = off")
        exp_a = {"TimeZone": "Asia/Tokyo", "application_name": "app_a",
                 "DateStyle": "German, DMY", "IntervalStyle": "iso_8601",
                 "client_encoding": "LATIN1", "standard_conforming_strings": "on"}
        exp_b = {"TimeZone": "America/New_York", "application_name": "app_b",
                 "DateStyle": "ISO, MDY", "IntervalStyle": "postgres",
                 "client_encoding": "UTF8", "standard_conforming_strings": "off"}
        pids = set()
        for rnd in range(8):
            for c, exp, who in ((a, exp_a, "A"), (bb, exp_b, "B")):
                _check_params(c, exp, "%s round %d" % (who, rnd))
                pids.add(backend_pid(c))
            assert a.execute("SELECT '2020-03-04'::date::text, '1 day'::interval::text, "
                             "'\u00e4\u00f6\u00fc'").fetchone() == \
                ("04.03.2020", "P1D", "\u00e4\u00f6\u00fc")
            assert bb.execute("SELECT '2020-03-04'::date::text, '1 day'::interval::text, "
                              "'\u00e4\u00f6\u00fc\u20ac'").fetchone() == \
                ("2020-03-04", "1 day", "\u00e4\u00f6\u00fc\u20ac")
            if rnd == 3:
                bb.execute("SET application_name = 'app_b2'")
                exp_b["application_name"] = "app_b2"
                a.execute("RESET IntervalStyle")
                exp_a["IntervalStyle"] = "postgres"
                a.execute("SET client_encoding = 'UTF8'")
                exp_a["client_encoding"] = "UTF8"
                a.execute("SET IntervalStyle = 'iso_8601'")
                exp_a["IntervalStyle"] = "iso_8601"
        # pg_stat_activity agrees with the client running the query
        assert a.execute("SELECT application_name FROM pg_stat_activity "
                         "WHERE pid = pg_backend_pid()").fetchone() == ("app_a",)
        assert bb.execute("SELECT application_name FROM pg_stat_activity "
                          "WHERE pid = pg_backend_pid()").fetchone() == ("app_b2",)
        assert len(pids) == 1, "max_pool=1 but the two clients used backends %r" % pids
        assert len(pg.backend_pids("alice")) <= 1


@pytest.mark.timeout(60)
def test_set_inside_transaction_follows_commit_and_rollback(pgbalancer):
    b = pgbalancer(max_pool=1, **tx_mode())
    with tconnect(b) as a, tconnect(b) as bb:
        with a.transaction():
            a.execute("SET TimeZone = 'Europe/Berlin'")
        for _ in range(2):
            assert bb.execute("SHOW TimeZone").fetchone()[0] != "Europe/Berlin"
            assert a.execute("SHOW TimeZone").fetchone() == ("Europe/Berlin",)
            assert a.info.parameter_status("TimeZone") == "Europe/Berlin"
        a.execute("BEGIN")
        a.execute("SET TimeZone = 'UTC'")
        a.execute("ROLLBACK")
        for _ in range(2):
            bb.execute("SET TimeZone = 'Pacific/Auckland'")
            assert a.execute("SHOW TimeZone").fetchone() == ("Europe/Berlin",)
            assert a.info.parameter_status("TimeZone") == "Europe/Berlin"
            assert bb.execute("SHOW TimeZone").fetchone() == ("Pacific/Auckland",)
            assert bb.info.parameter_status("TimeZone") == "Pacific/Auckland"


@pytest.mark.timeout(60)
def test_track_extra_parameters(pgbalancer):
    """default_transaction_read_only is GUC_REPORT in PostgreSQL 15 but not tracked by
    default; with track_extra_parameters it follows the client too."""
    b = pgbalancer(max_pool=1, track_extra_parameters=Raw("[default_transaction_read_only]"),
                   **tx_mode())
    with tconnect(b) as a, tconnect(b) as bb:
        a.execute("SET default_transaction_read_only = on")
        for _ in range(3):
            assert bb.execute("SHOW default_transaction_read_only").fetchone() == ("off",)
            assert a.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
            assert a.info.parameter_status("default_transaction_read_only") == "on"
            assert bb.info.parameter_status("default_transaction_read_only") == "off"
            with pytest.raises(errors.ReadOnlySqlTransaction):
                a.execute("CREATE TABLE must_not_exist_ro(x int)")
            bb.execute("CREATE TEMP TABLE IF NOT EXISTS rw_ok(x int)")
        # a tracked extra parameter given in the startup packet's options
        with tconnect(b, options="-c default_transaction_read_only=on") as c:
            for _ in range(2):
                assert bb.execute("SHOW default_transaction_read_only").fetchone() == ("off",)
                assert c.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
                assert c.info.parameter_status("default_transaction_read_only") == "on"
                assert backend_pid(c) == backend_pid(bb), "options=-c <tracked> split the pool"


# --------------------------------------------------------------------------
# statement mode
# --------------------------------------------------------------------------

STATEMENT_MODE_ERROR = re.compile(r"statement pool|transaction blocks? (are )?not allowed", re.I)


@pytest.mark.timeout(60)
def test_statement_mode_autocommit_statements_share_one_backend(pgbalancer, pg):
    b = pgbalancer(pool_mode="statement", max_pool=1)
    conns = [tconnect(b) for _ in range(4)]
    with closing_all(conns):
        pids = set()
        for rnd in range(10):
            for i, c in enumerate(conns):
                assert c.execute("SELECT %s::int + %s::int", [i, rnd]).fetchone() == (i + rnd,)
                pids.add(backend_pid(c))
        assert len(pids) == 1, pids
        assert len(pg.backend_pids("alice")) <= 1


@pytest.mark.timeout(60)
def test_statement_mode_refuses_transaction_blocks(pgbalancer, pg):
    table = "stmt_mode_%s" % uuid.uuid4().hex[:8]
    pg.admin_query("CREATE TABLE public.%s(v text)" % table)
    pg.admin_query("GRANT ALL ON public.%s TO PUBLIC" % table)
    b = pgbalancer(pool_mode="statement", max_pool=1)
    other = tconnect(b)
    with other:
        other.execute("SELECT 1")
        r, err = raw_login(b)
        assert err is None, err
        with r:
            rows, err = r.simple_query("SELECT 'before'")
            assert err is None and rows == [["before"]]
            r.send(pgwire.query_message("BEGIN"))
            status, fields = r.read_until_eof_or_error(10)
            assert status == "error", "BEGIN in statement mode: %s" % status
            assert STATEMENT_MODE_ERROR.search(fields.get("M", "")), fields
            assert read_until_closed(r, 10), "client not disconnected after BEGIN"
        # one Query message that opens a transaction and leaves it open: refused, the
        # client is disconnected and the INSERT is rolled back
        r, err = raw_login(b)
        assert err is None, err
        with r:
            r.send(pgwire.query_message("BEGIN; INSERT INTO %s VALUES ('open tx')" % table))
            status, fields = r.read_until_eof_or_error(10)
            assert status == "error", "open transaction in statement mode: %s" % status
            assert STATEMENT_MODE_ERROR.search(fields.get("M", "")), fields
            assert read_until_closed(r, 10), "client not disconnected after an open transaction"
        # a complete transaction in one Query message is one statement-mode request
        r, err = raw_login(b)
        assert err is None, err
        with r:
            rows, err = r.simple_query("BEGIN; INSERT INTO %s VALUES ('one message'); COMMIT"
                                       % table)
            assert err is None, err
        assert sorted(pg.admin_query("SELECT v FROM public.%s" % table)) == [("one message",)]
        # psycopg non-autocommit sends BEGIN implicitly
        c = tconnect(b, autocommit=False)
        with c:
            with pytest.raises(psycopg.Error) as ei:
                c.execute("SELECT 1")
            assert STATEMENT_MODE_ERROR.search(str(ei.value)), str(ei.value)
        # the pool is not stuck and the other client goes on
        assert other.execute("SELECT 'still fine'").fetchone() == ("still fine",)
        with tconnect(b) as c:
            assert c.execute("SELECT 2").fetchone() == (2,)
            assert c.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    b.assert_alive()


# --------------------------------------------------------------------------
# cancel
# --------------------------------------------------------------------------

def _sleep_query(conn, seconds):
    t0 = time.monotonic()
    try:
        conn.execute("SELECT pg_sleep(%s)" % seconds)
    except psycopg.Error as e:
        return e, time.monotonic() - t0
    return None, time.monotonic() - t0


@pytest.mark.timeout(60)
def test_cancel_in_transaction_mode(pgbalancer):
    b = pgbalancer(max_pool=2, **tx_mode())
    with tconnect(b) as c, tconnect(b) as other:
        stop = [False]

        def chatter():
            n = 0
            while not stop[0]:
                assert other.execute("SELECT %s::int", [n]).fetchone() == (n,)
                n += 1
            return n

        chat = BackgroundCall(chatter)
        call = BackgroundCall(_sleep_query, c, 10)
        time.sleep(1.0)
        assert not call.done()
        c.cancel()
        exc, elapsed = call.result(20)
        assert isinstance(exc, errors.QueryCanceled), exc
        assert exc.sqlstate == "57014"
        assert elapsed < 8, elapsed
        stop[0] = True
        assert chat.result(20) > 0
        assert c.execute("SELECT 'alive'").fetchone() == ("alive",)
        # and again, with the first lease long gone
        call = BackgroundCall(_sleep_query, c, 10)
        time.sleep(1.0)
        c.cancel()
        exc, elapsed = call.result(20)
        assert isinstance(exc, errors.QueryCanceled), exc
        assert c.execute("SELECT 'alive again'").fetchone() == ("alive again",)


@pytest.mark.timeout(60)
def test_cancel_from_idle_client_does_not_hit_current_lease_holder(pgbalancer):
    """max_pool=1: A used the backend and is now idle; B runs on that backend. A cancel
    request with A's key must not cancel B's query."""
    b = pgbalancer(max_pool=1, **tx_mode())
    with tconnect(b) as a, tconnect(b) as bb:
        assert backend_pid(a) == backend_pid(bb)
        call = BackgroundCall(_sleep_query, bb, 3)
        time.sleep(1.0)
        a.cancel()
        exc, elapsed = call.result(20)
        assert exc is None, "A's cancel hit B's query: %r" % exc
        assert elapsed >= 2.5
        assert a.execute("SELECT 'a ok'").fetchone() == ("a ok",)


# --------------------------------------------------------------------------
# timeouts
# --------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_client_idle_timeout(pgbalancer):
    b = pgbalancer(client_idle_timeout="2s", **tx_mode())
    idle = tconnect(b)
    busy = tconnect(b)
    with closing_all([idle, busy]):
        idle.execute("SELECT 1")
        t_end = time.monotonic() + 4.5
        while time.monotonic() < t_end:     # never idle for 2 s
            assert busy.execute("SELECT 1").fetchone() == (1,)
            time.sleep(0.3)
        with pytest.raises(psycopg.OperationalError):
            idle.execute("SELECT 1")
        assert busy.execute("SELECT 'busy ok'").fetchone() == ("busy ok",)
    # a client inside a transaction holds a server connection: not "idle with no server
    # connection leased" (idle_transaction_timeout is 0)
    with tconnect(b) as c:
        c.execute("BEGIN")
        pid = backend_pid(c)
        time.sleep(3.5)
        assert backend_pid(c) == pid
        c.execute("COMMIT")
    # the raw view: the server closes (maybe after an ErrorResponse) after ~2 s
    r, err = raw_login(b)
    assert err is None, err
    with r:
        r.simple_query("SELECT 1")
        t0 = time.monotonic()
        status, _ = r.read_until_eof_or_error(12)
        elapsed = time.monotonic() - t0
        assert status in ("eof", "error"), "idle client not disconnected within 12 s"
        assert 1.5 <= elapsed <= 8, "disconnected after %.1fs with client_idle_timeout=2s" % elapsed
    b.assert_alive()


@pytest.mark.timeout(90)
def test_idle_transaction_timeout(pgbalancer, pg):
    table = "tx_idle_%s" % uuid.uuid4().hex[:8]
    pg.admin_query("CREATE TABLE public.%s(v text)" % table)
    pg.admin_query("GRANT ALL ON public.%s TO PUBLIC" % table)
    b = pgbalancer(max_pool=1, idle_transaction_timeout="2s", **tx_mode())
    with tconnect(b) as c0:
        # idle outside a transaction: not affected
        c0.execute("SELECT 1")
        time.sleep(3.0)
        assert c0.execute("SELECT 'not in tx'").fetchone() == ("not in tx",)
        # a statement running longer than the timeout inside a transaction is not idle
        with c0.transaction():
            c0.execute("SELECT pg_sleep(3)")
            c0.execute("INSERT INTO %s VALUES ('committed')" % table)
    c = tconnect(b)
    c.execute("BEGIN")
    c.execute("INSERT INTO %s VALUES ('idle-in-tx')" % table)
    pid = backend_pid(c)
    time.sleep(4.5)
    with pytest.raises(psycopg.OperationalError):
        c.execute("SELECT 1")
    c.close()
    wait_for(lambda: pid not in pg.backend_pids("alice"), timeout=15,
             message="the backend of the timed-out transaction to be closed")
    assert pg.admin_query("SELECT v FROM public.%s ORDER BY v" % table) == [("committed",)]
    with tconnect(b) as c2:
        assert backend_pid(c2) != pid
        assert c2.execute("SELECT count(*) FROM %s" % table).fetchone() == (1,)
    b.assert_alive()


# --------------------------------------------------------------------------
# LISTEN
# --------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_listen_warns_and_works_within_transaction(pgbalancer):
    b = pgbalancer(**tx_mode())
    mark = b.log_mark()
    with tconnect(b) as c:
        got = []
        c.add_notify_handler(got.append)
        with c.transaction():
            c.execute("LISTEN tx_chan")
            c.execute("NOTIFY tx_chan, 'hello'")
        # the backend notifies itself at COMMIT, before ReadyForQuery
        c.execute("SELECT 1")
        assert [(n.channel, n.payload) for n in got] == [("tx_chan", "hello")], got
    b.wait_log(r"LISTEN.*transaction|transaction.*LISTEN", since=mark, timeout=10)
    log = b.log_since(mark)
    assert re.search(r"warn", "\n".join(l for l in log.splitlines() if "LISTEN" in l), re.I), log


# --------------------------------------------------------------------------
# pgbench
# --------------------------------------------------------------------------

def _pgbench(b, args, timeout=120):
    env = dict(os.environ, PGPASSWORD=PASSWORDS["alice"], PGSSLMODE="disable",
               PGGSSENCMODE="disable", PGCONNECT_TIMEOUT="30")
    return subprocess.run(["pgbench", "-h", "127.0.0.1", "-p", str(b.port), "-U", "alice",
                           "-n"] + args + [DBNAME],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env, timeout=timeout)


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["simple", "extended"])
def test_pgbench_16_clients_over_4(pgbalancer, pgbench_tables, pg, mode):
    """In session mode this deadlocks (pgbench connects all 16 clients first). The short
    query_wait_timeout also fails a pooler that holds a server connection for longer
    than a transaction: a waiting client gets 53300 after 2 s."""
    b = pgbalancer(max_pool=4, query_wait_timeout="2s", **tx_mode())
    watcher = PeakWatcher(pg)
    try:
        r = _pgbench(b, ["-c", "16", "-j", "2", "-T", "5", "-M", mode], timeout=90)
    finally:
        peak = watcher.stop()
    out = r.stdout + r.stderr
    assert r.returncode == 0, "pgbench failed:\n%s\nlog:\n%s" % (out, b.log_tail())
    m = re.search(r"number of transactions actually processed: (\d+)", r.stdout)
    assert m and int(m.group(1)) > 100, r.stdout
    assert "number of failed transactions: 0" in r.stdout, r.stdout
    assert "error" not in r.stderr.lower(), r.stderr
    assert peak <= 4, "peak %d backends with max_pool=4" % peak


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_pgbench_select_only_connect_per_transaction(pgbalancer, pgbench_tables, pg):
    b = pgbalancer(max_pool=4, query_wait_timeout=60, **tx_mode())
    r = _pgbench(b, ["-c", "8", "-j", "2", "-t", "30", "-S", "-C"], timeout=100)
    assert r.returncode == 0, "pgbench failed:\n%s\n%s" % (r.stdout, r.stderr)
    m = re.search(r"number of transactions actually processed: (\d+)/(\d+)", r.stdout)
    assert m and (int(m.group(1)), int(m.group(2))) == (240, 240), r.stdout
    assert len(pg.backend_pids("alice")) <= 4


# --------------------------------------------------------------------------
# 2,000 clients over max_pool 10
# --------------------------------------------------------------------------

def _finish_startup(r):
    """Read the start-up answer of a trust login; None or error fields."""
    while True:
        m = r.read_msg()
        if m is None:
            raise pgwire.WireError("connection closed during start-up")
        kind, payload = m
        if kind == b"E":
            return pgwire.parse_error_fields(payload)
        if kind == b"R":
            code = int.from_bytes(payload[:4], "big")
            if code != pgwire.AUTH_OK:
                raise pgwire.WireError("auth request %d under auth_type trust" % code)
        elif kind == b"Z":
            return None


def _read_result(r):
    rows, err = [], None
    while True:
        m = r.read_msg()
        if m is None:
            raise pgwire.WireError("connection closed during query")
        kind, payload = m
        if kind == b"D":
            rows.append(pgwire._decode_datarow(payload))
        elif kind == b"E":
            err = pgwire.parse_error_fields(payload)
        elif kind == b"Z":
            return rows, err


@pytest.mark.timeout(120)
def test_2000_clients_over_pool_of_10(pgbalancer, pg):
    n = 2000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 2 * n + 1000
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(hard, want)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert soft >= n + 200, "RLIMIT_NOFILE %d too small for %d clients" % (soft, n)
    # trust: no SCRAM cost per login (bob's plaintext password is in the auth_file for
    # the server side); pgbalancer inherits this process's raised RLIMIT_NOFILE
    b = pgbalancer(auth_type="trust", max_pool=10, max_client_conn=n + 100,
                   query_wait_timeout=60, **tx_mode())
    watcher = PeakWatcher(pg, user="bob")
    conns = []
    t0 = time.monotonic()

    def fail(msg):
        log = b.log()
        emfile = [l for l in log.splitlines() if re.search(r"EMFILE|too many open files", l, re.I)]
        pytest.fail("%s after %d clients, %.1fs%s\nlog tail:\n%s" % (
            msg, len(conns), time.monotonic() - t0,
            ("\npgbalancer hit EMFILE:\n" + "\n".join(emfile[:5])) if emfile else "",
            b.log_tail(30)))

    try:
        for start in range(0, n, 100):
            batch = []
            try:
                for _ in range(100):
                    batch.append(pgwire.RawConn(b.port, timeout=30))
                for r in batch:
                    r.send(pgwire.startup_packet({"user": "bob", "database": DBNAME,
                                                  "application_name": "c%d" % start}))
                for r in batch:
                    err = _finish_startup(r)
                    if err is not None:
                        fail("login refused: %r" % err)
            except (OSError, pgwire.WireError) as e:
                fail("login failed: %r" % e)
            finally:
                conns.extend(batch)
        b.assert_alive()
        nfd = len(os.listdir("/proc/%d/fd" % b.pid))
        assert nfd >= n, "pgbalancer has only %d open fds with %d clients connected" % (nfd, n)
        for rnd in range(2):
            try:
                for i, r in enumerate(conns):
                    r.send(pgwire.query_message("SELECT %d, current_user, pg_backend_pid()" % i))
                pids = set()
                for i, r in enumerate(conns):
                    rows, err = _read_result(r)
                    if err is not None or rows[:1] != [[str(i), "bob", rows[0][2]]]:
                        fail("client %d round %d: rows %r error %r" % (i, rnd, rows, err))
                    pids.add(rows[0][2])
            except (OSError, pgwire.WireError) as e:
                fail("query failed: %r" % e)
            assert len(pids) <= 10, "%d distinct backends with max_pool=10" % len(pids)
        elapsed = time.monotonic() - t0
        assert elapsed < 60, "2000 clients took %.1fs" % elapsed
    finally:
        for r in conns:
            r.close()
        peak = watcher.stop()
    assert peak <= 10, "peak %d backends with max_pool=10" % peak
    b.assert_alive()


@pytest.mark.parametrize("mode", ["transaction", "session"])
def test_query_split_across_reads_is_answered_once(pgbalancer, mode):
    """A short Query arriving in two TCP segments (header first) is one request: its server
    connection goes back after the answer (transaction mode) and the session stays usable."""
    b = pgbalancer(pool_mode=mode, max_pool=1, query_wait_timeout=5)
    with b.raw() as r:
        assert r.startup("alice", DBNAME, PASSWORDS["alice"]) is None
        for _ in range(3):
            whole = pgwire.query_message("SELECT 41 + 1")
            r.send(whole[:7])  # the header and a little: held back, header seen
            time.sleep(0.2)  # two reads on pgbalancer's side
            r.send(whole[7:])
            kinds = []
            while True:
                kind, payload = r.read_msg()
                kinds.append(kind)
                if kind == b"Z":
                    assert payload == b"I"
                    break
            assert b"E" not in kinds and b"D" in kinds
        if mode == "transaction":
            # The one server connection is free again: another client gets it at once.
            with b.connect() as other:
                assert other.execute("SELECT 1").fetchone() == (1,)
