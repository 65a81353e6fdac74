"""Protocol-level prepared statements in transaction and statement pooling: a client's
named statements work whichever server connection it gets next, identical statements are
shared, the per-connection cache is bounded (max_prepared_statements, LRU), and errors look
as they would from PostgreSQL. Shown with psycopg, node-postgres, JDBC and pgbench -M
prepared, plus raw protocol for the exact reply order."""

import json
import os
import struct
import shutil
import subprocess
import threading

import psycopg
import pytest
from psycopg import errors

import pgwire
from conftest import DBNAME, PASSWORDS, BackgroundCall, closing_all, run, wait_for


def txn_balancer(pgbalancer, **overrides):
    settings = dict(pool_mode="transaction", max_pool=2)
    settings.update(overrides)
    return pgbalancer(**settings)


def prepared(conn, sql, params=()):
    return conn.execute(sql, params, prepare=True).fetchall()


def pid_of(conn):
    return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


def test_psycopg_statement_follows_the_client_to_another_server_connection(pgbalancer):
    # One worker: the blocker then gets the most recently used idle connection, the client's.
    # With two, it prefers a connection already on its own worker, which may be the other one.
    b = txn_balancer(pgbalancer, worker_threads=1)
    with closing_all([b.connect(), b.connect(autocommit=False)]) as (client, blocker):
        first = prepared(client, "SELECT %s::int * 2, pg_backend_pid()", (21,))
        assert first[0][0] == 42
        # the blocker holds that server connection in a transaction: the next statement
        # of `client` must run on the other one, where it was never prepared
        assert pid_of(blocker) == first[0][1]
        second = prepared(client, "SELECT %s::int * 2, pg_backend_pid()", (5,))
        assert second[0] == (10, second[0][1]) and second[0][1] != first[0][1]
        blocker.rollback()


def test_identical_statements_are_shared_across_clients(pgbalancer):
    b = txn_balancer(pgbalancer, max_pool=1)
    conns = [b.connect() for _ in range(5)]
    with closing_all(conns):
        for i, c in enumerate(conns):
            assert prepared(c, "SELECT 'shared', %s::int", (i,)) == [("shared", i)]
        names = [r[0] for r in conns[0].execute(
            "SELECT name FROM pg_prepared_statements ORDER BY name").fetchall()]
        # one server connection, one statement for five clients, under pgbalancer's name
        assert len(names) == 1 and names[0].startswith("pgbalancer_"), names


def test_many_clients_and_statements_over_two_connections(pgbalancer):
    b = txn_balancer(pgbalancer)
    conns = [b.connect() for _ in range(8)]
    errors_seen = []

    def work(i, c):
        try:
            for round_ in range(30):
                q = "SELECT %%s::int + %d, pg_backend_pid()" % (round_ % 7)
                rows = prepared(c, q, (i,))
                assert rows[0][0] == i + round_ % 7
        except Exception as e:  # noqa: BLE001 - reported below
            errors_seen.append(repr(e))

    with closing_all(conns):
        threads = [threading.Thread(target=work, args=(i, c)) for i, c in enumerate(conns)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert not errors_seen


# --------------------------------------------------------------------------
# raw protocol: replies exactly as PostgreSQL would send them
# --------------------------------------------------------------------------

def cstr(s):
    return s.encode() + b"\0"


def parse(name, sql, types=()):
    return pgwire.message(b"P", cstr(name) + cstr(sql) + struct.pack("!h", len(types))
                          + b"".join(struct.pack("!I", t) for t in types))


def bind(statement, params=(), portal=""):
    body = cstr(portal) + cstr(statement) + struct.pack("!h", 0) + struct.pack("!h", len(params))
    for p in params:
        data = p.encode() if isinstance(p, str) else p
        body += struct.pack("!i", len(data)) + data
    return pgwire.message(b"B", body + struct.pack("!h", 0))


def describe(kind, name):
    return pgwire.message(b"D", kind + cstr(name))


def execute(portal=""):
    return pgwire.message(b"E", cstr(portal) + struct.pack("!i", 0))


def close(kind, name):
    return pgwire.message(b"C", kind + cstr(name))


SYNC = pgwire.message(b"S")
FLUSH = pgwire.message(b"H")


def replies(conn, readies=1):
    """Messages up to the `readies`-th ReadyForQuery, as (type, detail): the SQLSTATE and
    message of errors, the values of data rows, the status of ReadyForQuery."""
    out = []
    while readies:
        kind, payload = conn.read_msg()
        if kind == b"E":
            f = pgwire.parse_error_fields(payload)
            out.append(("E", f.get("C"), f.get("M")))
        elif kind == b"D":
            out.append(("D", tuple(pgwire._decode_datarow(payload))))
        elif kind == b"Z":
            out.append(("Z", payload.decode()))
            readies -= 1
        elif kind in (b"N", b"S"):
            continue
        else:
            out.append((kind.decode(),))
    return out


class Direct:
    """A raw connection straight to PostgreSQL, to compare with."""

    def __init__(self, pg):
        self.conn = pgwire.RawConn(pg.port)
        assert self.conn.startup("alice", DBNAME, PASSWORDS["alice"]) is None

    def __enter__(self):
        return self.conn

    def __exit__(self, *exc):
        self.conn.close()


def login(b):
    conn = b.raw()
    assert conn.startup("alice", DBNAME, PASSWORDS["alice"]) is None
    return conn


def prepare(conn, name, sql):
    conn.send(parse(name, sql) + SYNC)
    assert replies(conn) == [("1",), ("Z", "I")]


def bind_execute(conn, name, params=()):
    conn.send(bind(name, params) + execute() + SYNC)
    return replies(conn)


SCRIPTS = {
    "prepare, bind, describe, close, use after close": [
        (parse("s1", "SELECT $1::int + 1") + SYNC, 1),
        (bind("s1", ["41"]) + execute() + SYNC, 1),
        (describe(b"S", "s1") + SYNC, 1),
        (close(b"S", "s1") + SYNC, 1),
        (bind("s1", ["1"]) + execute() + SYNC, 1),
        (close(b"S", "never_prepared") + close(b"P", "") + SYNC, 1),
    ],
    "everything in one pipeline": [
        (parse("a", "SELECT $1::text") + bind("a", ["x"]) + describe(b"P", "") + execute()
         + parse("b", "SELECT 2") + describe(b"S", "b") + bind("b") + execute() + SYNC, 1),
        (bind("a", ["y"]) + execute() + bind("b") + execute() + SYNC, 1),
    ],
    "an error skips the rest of the batch": [
        (parse("ok", "SELECT 1") + SYNC, 1),
        (parse("bad", "SELEC 1") + bind("ok") + execute() + close(b"S", "ok") + SYNC, 1),
        (bind("bad") + execute() + SYNC, 1),   # never prepared: does not exist
        (bind("ok") + execute() + SYNC, 1),    # its Close was skipped: still there
    ],
    "flush without sync, then sync": [
        (parse("f", "SELECT 'f'") + describe(b"S", "f") + FLUSH + bind("f") + execute() + SYNC, 1),
    ],
    "inside a transaction block, with an error": [
        (pgwire.query_message("BEGIN"), 1),
        (parse("t", "SELECT 1/$1::int") + bind("t", ["0"]) + execute() + SYNC, 1),
        (parse("t2", "SELECT 1") + SYNC, 1),   # aborted transaction: refused
        (pgwire.query_message("ROLLBACK"), 1),
        (bind("t", ["1"]) + execute() + SYNC, 1),
    ],
}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_replies_match_postgresql(pg, pgbalancer, script):
    b = txn_balancer(pgbalancer, max_pool=1)
    with Direct(pg) as direct:
        expected = [(direct.send(msgs), replies(direct, n))[1] for msgs, n in SCRIPTS[script]]
    got_via = []
    # twice through pgbalancer: the second client finds the statements already prepared on
    # the server connection it shares with the first
    for _ in range(2):
        conn = login(b)
        try:
            got_via.append([(conn.send(msgs), replies(conn, n))[1]
                            for msgs, n in SCRIPTS[script]])
        finally:
            conn.close()
    assert got_via[0] == expected
    assert got_via[1] == expected


def test_statement_cache_is_bounded_and_evicts_least_recently_used(pg, pgbalancer):
    b = txn_balancer(pgbalancer, max_pool=1, max_prepared_statements=3)
    conn = login(b)
    try:
        for i in range(10):
            prepare(conn, "q%d" % i, "SELECT %d" % i)
        # every one of the client's ten statements still works, re-prepared as needed
        for i in reversed(range(10)):
            assert bind_execute(conn, "q%d" % i) == [("2",), ("D", (str(i),)), ("C",), ("Z", "I")]
        rows, err = conn.simple_query("SELECT count(*) FROM pg_prepared_statements")
        assert err is None and int(rows[0][0]) <= 3
    finally:
        conn.close()


def test_large_bind_and_large_parse(pg, pgbalancer):
    b = txn_balancer(pgbalancer, max_pool=1)
    conn = login(b)
    try:
        prepare(conn, "big", "SELECT length($1::text) /* %s */" % ("x" * 40000))
        for size in (10, 5000, 300000):
            assert bind_execute(conn, "big", ["y" * size]) == [
                ("2",), ("D", (str(size),)), ("C",), ("Z", "I")]
    finally:
        conn.close()


def test_discard_all_from_the_client_forgets_its_statements(pg, pgbalancer):
    b = txn_balancer(pgbalancer, max_pool=1)
    conn = login(b)
    try:
        prepare(conn, "d", "SELECT 1")
        assert conn.simple_query("DISCARD ALL")[1] is None
        # as on PostgreSQL: the statement is gone for the client...
        assert bind_execute(conn, "d")[0][:2] == ("E", "26000")
        # ...and preparing it again works on the same server connection
        conn.send(parse("d", "SELECT 1") + bind("d") + execute() + SYNC)
        assert replies(conn) == [("1",), ("2",), ("D", ("1",)), ("C",), ("Z", "I")]
    finally:
        conn.close()


def test_statement_mode_keeps_prepared_statements_too(pg, pgbalancer):
    b = txn_balancer(pgbalancer, pool_mode="statement")
    with closing_all([b.connect(), b.connect()]) as (client, blocker):
        first = prepared(client, "SELECT %s::int, pg_backend_pid()", (1,))
        # a long statement takes the only server connection, where the statement was
        # prepared; the client's next one gets a new connection
        sleeper = BackgroundCall(blocker.execute, "SELECT pg_sleep(1.5)")
        wait_for(lambda: pg.admin_query(
            "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(1.5)' "
            "AND state = 'active'", [], dbname="postgres")[0][0] == 1,
            message="the blocker's statement to start")
        second = prepared(client, "SELECT %s::int, pg_backend_pid()", (2,))
        assert second[0][0] == 2 and second[0][1] != first[0][1]
        sleeper.result()


def test_max_prepared_statements_zero_relays_names_untouched(pgbalancer):
    b = txn_balancer(pgbalancer, max_prepared_statements=0)
    with closing_all([b.connect(), b.connect(autocommit=False)]) as (client, blocker):
        prepared(client, "SELECT 1")
        pid_of(blocker)   # holds the connection the statement was prepared on
        with pytest.raises(errors.InvalidSqlStatementName):
            prepared(client, "SELECT 1")


# --------------------------------------------------------------------------
# client libraries
# --------------------------------------------------------------------------

CLIENTS_DIR = os.path.join(os.path.dirname(__file__), "..", "clients")
JDBC_JAR = "/usr/share/java/postgresql.jar"


def run_client(cmd, timeout=180):
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, "client failed:\n%s\n%s" % (done.stdout, done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_node_postgres_named_queries(pgbalancer):
    node_dir = os.path.join(CLIENTS_DIR, "node")
    if not os.path.isdir(os.path.join(node_dir, "node_modules", "pg")):
        pytest.fail("npm's pg is not installed: run scripts/install-deps.sh")
    b = txn_balancer(pgbalancer)
    out = run_client(["node", os.path.join(node_dir, "prepared.js"), str(b.port), "alice",
                      PASSWORDS["alice"], DBNAME, "8", "40"])
    assert len(out["pids"]) == 2   # eight clients shared two server connections
    assert out["names"] and all(n.startswith("pgbalancer_") for n in out["names"])


def test_jdbc_server_prepared_statements(pgbalancer):
    if not os.path.exists(JDBC_JAR):
        pytest.fail("%s is missing: run scripts/install-deps.sh" % JDBC_JAR)
    b = txn_balancer(pgbalancer)
    out = run_client(["java", "-cp", JDBC_JAR,
                      os.path.join(CLIENTS_DIR, "java", "PreparedClient.java"), str(b.port),
                      "alice", PASSWORDS["alice"], DBNAME, "6", "40"])
    assert out["pids"] == 2
    assert out["server_prepared"] == [True]


def test_pgbench_prepared_in_transaction_mode(pgbalancer, pgbench_tables):
    # -j equal to -c: pgbench prepares with the synchronous PQprepare, which would stall
    # every client of its thread while another one holds the only free server connection
    b = txn_balancer(pgbalancer, max_pool=3)
    env = dict(os.environ, PGPASSWORD=PASSWORDS["alice"], PGSSLMODE="disable")
    done = subprocess.run(
        ["pgbench", "-n", "-M", "prepared", "-c", "12", "-j", "12", "-t", "200",
         "-h", "127.0.0.1", "-p", str(b.port), "-U", "alice", DBNAME],
        capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "number of transactions actually processed: 2400/2400" in done.stdout
    assert "number of failed transactions: 0" in done.stdout


def test_psycopg_evicting_its_own_statements_with_sql_deallocate(pgbalancer):
    """psycopg keeps 100 prepared statements per connection and evicts older ones with a
    simple-query "DEALLOCATE _pg3_N", a name only pgbalancer knows about."""
    b = txn_balancer(pgbalancer)
    with closing_all([b.connect(), b.connect()]) as (client, other):
        client.prepare_threshold = 0
        client._prepared.prepared_max = 5
        other.prepare_threshold = 0
        for i in range(40):
            assert client.execute("SELECT %d, %%s::int" % (i % 12), (i,)).fetchone() == (i % 12, i)
            assert other.execute("SELECT %d, %%s::int" % (i % 12), (i,)).fetchone() == (i % 12, i)


def test_sql_deallocate_replies_as_postgresql(pg, pgbalancer):
    script = [
        (parse("Mixed", "SELECT 1") + SYNC, 1),
        (pgwire.query_message('DEALLOCATE "Mixed"'), 1),
        (bind("Mixed") + execute() + SYNC, 1),
        (parse("low", "SELECT 2") + SYNC, 1),
        (pgwire.query_message("deallocate prepare LOW ;"), 1),
        (pgwire.query_message("DEALLOCATE low"), 1),   # already gone: PostgreSQL's error
        (pgwire.query_message("BEGIN"), 1),
        (parse("inside", "SELECT 3") + SYNC, 1),
        (pgwire.query_message("SELECT 1/0"), 1),
        (pgwire.query_message("DEALLOCATE inside"), 1),   # aborted transaction: refused
        (pgwire.query_message("ROLLBACK"), 1),
        (bind("inside") + execute() + SYNC, 1),
    ]
    with Direct(pg) as direct:
        expected = [(direct.send(m), replies(direct, n))[1] for m, n in script]
    b = txn_balancer(pgbalancer, max_pool=1)
    conn = login(b)
    try:
        got = [(conn.send(m), replies(conn, n))[1] for m, n in script]
    finally:
        conn.close()
    assert got == expected


def test_statement_size_limit(pgbalancer):
    """A named statement's Parse is held in memory, so it is bounded (1 MB); an unnamed one of
    any size streams through as before."""
    b = txn_balancer(pgbalancer, max_pool=1)
    conn = login(b)
    try:
        big = "SELECT 1 /* %s */" % ("x" * (1 << 20))
        conn.send(parse("", big) + bind("") + execute() + SYNC)
        assert replies(conn) == [("1",), ("2",), ("D", ("1",)), ("C",), ("Z", "I")]
        # only the start: pgbalancer decides from it, and a close with unread input would
        # reset the connection (RST) and could destroy the error before the client reads it
        conn.send(parse("named", big)[:8192])
        status, fields = conn.read_until_eof_or_error(10)
        assert status == "error" and fields["C"] == "54000", (status, fields)
    finally:
        conn.close()
    with b.connect() as c:   # nothing else broke
        assert c.execute("SELECT 1").fetchone() == (1,)
