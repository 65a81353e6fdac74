"""Protocol relay through pgbalancer: simple/extended queries, prepared statements,
COPY, LISTEN/NOTIFY, large results with bounded memory, psql, startup parameters."""

import os
import select
import subprocess
import threading
import time

import psycopg
import pytest
from psycopg import errors, pq

import pgwire
from conftest import DBNAME, PASSWORDS, BackgroundCall, rss_kb


# ---- simple and extended query protocol -----------------------------------------

def test_simple_query(balancer):
    with balancer.connect() as c:
        # no parameters -> psycopg uses the simple query protocol
        cur = c.execute("SELECT 1 AS a, 'two'::text AS b, NULL::int AS c")
        assert cur.fetchall() == [(1, "two", None)]
        assert [d.name for d in cur.description] == ["a", "b", "c"]
        cur = c.cursor()
        cur.execute("SELECT 1; SELECT 2, 3; SELECT generate_series(1, 3)")
        results = [cur.fetchall()]
        while cur.nextset():
            results.append(cur.fetchall())
        assert results == [[(1,)], [(2, 3)], [(1,), (2,), (3,)]]


def test_empty_query_and_notice(balancer):
    with balancer.connect() as c:
        notices = []
        c.add_notice_handler(lambda d: notices.append(d.message_primary))
        c.execute("")
        c.execute("DO $$ BEGIN RAISE NOTICE 'hello from plpgsql'; END $$")
        assert "hello from plpgsql" in notices
        assert c.execute("SELECT 42").fetchone() == (42,)


def test_errors_and_recovery(balancer):
    with balancer.connect() as c:
        with pytest.raises(errors.DivisionByZero) as ei:
            c.execute("SELECT 1/0")
        assert ei.value.sqlstate == "22012"
        with pytest.raises(errors.UndefinedTable):
            c.execute("SELECT * FROM no_such_table_xyz WHERE a = %s", [1])
        assert c.execute("SELECT 'still fine'").fetchone() == ("still fine",)
    with balancer.connect(autocommit=False) as c:
        c.execute("SELECT 1")
        assert c.info.transaction_status == pq.TransactionStatus.INTRANS
        with pytest.raises(errors.DivisionByZero):
            c.execute("SELECT 1/0")
        assert c.info.transaction_status == pq.TransactionStatus.INERROR
        with pytest.raises(errors.InFailedSqlTransaction):
            c.execute("SELECT 1")
        c.rollback()
        assert c.info.transaction_status == pq.TransactionStatus.IDLE
        assert c.execute("SELECT 2").fetchone() == (2,)
        c.rollback()


def test_extended_query_params(balancer):
    with balancer.connect() as c:
        assert c.execute("SELECT %s::int + %s::int", [40, 2]).fetchone() == (42,)
        assert c.execute("SELECT %s::text || %s", ["ab", "cd"]).fetchone() == ("abcd",)
        assert c.execute("SELECT %s::int IS NULL", [None]).fetchone() == (True,)
        cur = c.cursor(binary=True)
        cur.execute("SELECT %s::bytea, %s::float8", [b"\x00\x01\xff", 1.5])
        assert cur.fetchone() == (b"\x00\x01\xff", 1.5)
        cur.executemany("SELECT %s", [(i,) for i in range(50)])
        c.execute("CREATE TEMP TABLE em(i int)")
        c.cursor().executemany("INSERT INTO em VALUES (%s)", [(i,) for i in range(100)])
        assert c.execute("SELECT count(*), sum(i) FROM em").fetchone() == (100, 4950)


def test_large_messages_both_directions(balancer):
    big = "x" * (8 * 1024 * 1024)
    with balancer.connect() as c:
        # 8 MB parameter (client -> server) and 8 MB value back
        assert c.execute("SELECT length(%s::text)", [big]).fetchone() == (len(big),)
        assert c.execute("SELECT repeat('y', 8 * 1024 * 1024)").fetchone()[0] == "y" * len(big)
        # a large query text over the simple protocol
        q = "SELECT length('" + big + "')"
        assert c.execute(q).fetchone() == (len(big),)


def test_server_side_prepared_statements(balancer):
    with balancer.connect() as c:
        for i in range(5):
            assert c.execute("SELECT %s::int * 2", [i], prepare=True).fetchone() == (i * 2,)
        names = [r[0] for r in c.execute(
            "SELECT name FROM pg_prepared_statements WHERE NOT from_sql")]
        assert any(n.startswith("_pg3_") for n in names), names
        c.execute("PREPARE sqlprep(int) AS SELECT $1 + 1")
        assert c.execute("EXECUTE sqlprep(41)").fetchone() == (42,)
        c.execute("DEALLOCATE sqlprep")


def test_pipeline_mode(balancer):
    with balancer.connect() as c:
        with c.pipeline():
            curs = [c.execute("SELECT %s::int", [i]) for i in range(100)]
            c.execute("CREATE TEMP TABLE pl(i int)")
            for i in range(50):
                c.execute("INSERT INTO pl VALUES (%s)", [i])
        assert [cur.fetchone()[0] for cur in curs] == list(range(100))
        assert c.execute("SELECT count(*) FROM pl").fetchone() == (50,)
        # an error in the middle of a pipeline
        with pytest.raises(errors.DivisionByZero):
            with c.pipeline():
                c.execute("SELECT %s::int", [1])
                c.execute("SELECT 1/%s::int", [0])
                c.execute("SELECT %s::int", [3])
        assert c.execute("SELECT 'after pipeline'").fetchone() == ("after pipeline",)


def test_transactions(balancer):
    with balancer.connect() as c:
        c.execute("CREATE TEMP TABLE tx(i int)")
        with c.transaction():
            c.execute("INSERT INTO tx VALUES (1)")
        with pytest.raises(ZeroDivisionError):
            with c.transaction():
                c.execute("INSERT INTO tx VALUES (2)")
                1 / 0
        assert c.execute("SELECT array_agg(i) FROM tx").fetchone() == ([1],)


# ---- COPY ----------------------------------------------------------------------

def test_copy_from_stdin_and_to_stdout(balancer):
    n = 20000
    with balancer.connect() as c:
        c.execute("CREATE TEMP TABLE cp(id int, t text)")
        with c.cursor().copy("COPY cp (id, t) FROM STDIN") as cp:
            for i in range(n):
                cp.write_row((i, "row %d \t with tab" % i))
        assert c.execute("SELECT count(*), sum(id) FROM cp").fetchone() == (n, n * (n - 1) // 2)
        out = []
        with c.cursor().copy("COPY (SELECT id, t FROM cp ORDER BY id) TO STDOUT") as cp:
            cp.set_types(["int4", "text"])
            for row in cp.rows():
                out.append(row)
        assert len(out) == n
        assert out[0] == (0, "row 0 \t with tab") and out[-1] == (n - 1, "row %d \t with tab" % (n - 1))
        # raw block copy, binary format
        data = b""
        with c.cursor().copy("COPY (SELECT id FROM cp WHERE id < 10) TO STDOUT (FORMAT binary)") as cp:
            for block in cp:
                data += bytes(block)
        assert data.startswith(b"PGCOPY\n\xff\r\n\0")


def test_copy_from_stdin_error_recovers(balancer):
    with balancer.connect() as c:
        c.execute("CREATE TEMP TABLE cpe(id int)")
        with pytest.raises(errors.InvalidTextRepresentation):
            with c.cursor().copy("COPY cpe FROM STDIN") as cp:
                cp.write(b"1\n2\nnot-a-number\n4\n")
        with pytest.raises((psycopg.Error, RuntimeError)):
            with c.cursor().copy("COPY cpe FROM STDIN") as cp:
                cp.write(b"5\n")
                raise RuntimeError("client aborts the copy")  # -> CopyFail
        assert c.execute("SELECT count(*) FROM cpe").fetchone() == (0,)
        with c.cursor().copy("COPY cpe FROM STDIN") as cp:
            cp.write(b"7\n8\n")
        assert c.execute("SELECT sum(id) FROM cpe").fetchone() == (15,)


# ---- LISTEN / NOTIFY -------------------------------------------------------------

def test_listen_notify_delivered_while_idle(balancer, pg):
    with balancer.connect() as listener, balancer.connect("bob") as notifier:
        got = []
        listener.add_notify_handler(lambda n: got.append((n.channel, n.payload)))
        listener.execute("LISTEN itest_chan")
        notifier.execute("NOTIFY itest_chan, 'from bob'")
        # the listener is idle: pgbalancer must forward the async message without
        # the client sending anything
        r, _, _ = select.select([listener.fileno()], [], [], 10)
        assert r, "NotificationResponse was not forwarded to an idle client within 10s"
        listener.execute("SELECT 1")
        assert ("itest_chan", "from bob") in got
        # also from a direct connection to PostgreSQL
        with psycopg.connect(pg.direct_dsn("alice"), autocommit=True) as direct:
            direct.execute("SELECT pg_notify('itest_chan', 'direct')")
        r, _, _ = select.select([listener.fileno()], [], [], 10)
        assert r
        listener.execute("SELECT 1")
        assert ("itest_chan", "direct") in got


# ---- large results --------------------------------------------------------------

def test_large_result_plain_and_cursor(balancer):
    n = 200000
    with balancer.connect() as c:
        rows = c.execute("SELECT g, md5(g::text) FROM generate_series(1, %s) g", [n]).fetchall()
        assert len(rows) == n and rows[-1][0] == n
        assert sum(r[0] for r in rows) == n * (n + 1) // 2
    with balancer.connect(autocommit=False) as c:
        with c.cursor(name="big_cursor") as cur:
            cur.itersize = 5000
            cur.execute("SELECT g FROM generate_series(1, %s) g", [n])
            total = count = 0
            for (g,) in cur:
                total += g
                count += 1
        assert (count, total) == (n, n * (n + 1) // 2)
        c.rollback()


class RssSampler:
    def __init__(self, pid, interval=0.02):
        self.pid = pid
        self.base = rss_kb(pid)
        self.peak = self.base
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss_kb(self.pid))
            except (OSError, RuntimeError):
                return
            time.sleep(0.02)

    def stop(self):
        self._stop.set()
        self._t.join(5)
        return (self.peak - self.base) // 1024  # MB


ROWS_300MB = 300000
BIG_SELECT = "SELECT repeat('x', 1000) FROM generate_series(1, %d)" % ROWS_300MB


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_memory_bounded_fast_copy_consumer(balancer):
    """~300 MB through COPY TO STDOUT into /dev/null: pgbalancer's RSS must stay
    within +100 MB."""
    # warm up the pool / allocator
    balancer.psql("SELECT 1")
    sampler = RssSampler(balancer.pid)
    env = dict(os.environ, PGPASSWORD=PASSWORDS["alice"], PGSSLMODE="disable",
               PGGSSENCMODE="disable")
    with open(os.devnull, "wb") as devnull:
        p = subprocess.run(["psql", "-X", "-h", "127.0.0.1", "-p", str(balancer.port),
                            "-U", "alice", "-d", DBNAME, "-v", "ON_ERROR_STOP=1",
                            "-c", "COPY (%s) TO STDOUT" % BIG_SELECT],
                           stdout=devnull, stderr=subprocess.PIPE, env=env, timeout=200)
    growth = sampler.stop()
    print("fast consumer: RSS growth %d MB" % growth)
    assert p.returncode == 0, p.stderr
    assert growth < 100, "pgbalancer RSS grew by %d MB while relaying 300 MB" % growth


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_memory_bounded_slow_consumer(balancer):
    """A client that stops reading while PostgreSQL produces ~300 MB: pgbalancer must
    apply backpressure (stop reading the backend) instead of buffering."""
    r = balancer.raw(timeout=60)
    try:
        assert r.startup("alice", DBNAME, PASSWORDS["alice"]) is None
        sampler = RssSampler(balancer.pid)
        r.send(pgwire.query_message(BIG_SELECT))
        time.sleep(6)   # don't read: PostgreSQL keeps producing
        stalled_growth = (sampler.peak - sampler.base) // 1024
        nbytes = [0]

        def on_row(payload):
            nbytes[0] += len(payload)

        count, err = _drain_query(r, on_row)
        growth = sampler.stop()
    finally:
        r.close()
    print("slow consumer: RSS growth %d MB while stalled, %d MB overall" % (stalled_growth, growth))
    assert err is None, err
    assert count == ROWS_300MB
    assert nbytes[0] == ROWS_300MB * (2 + 4 + 1000)
    assert stalled_growth < 100, "RSS grew %d MB while the client was not reading" % stalled_growth
    assert growth < 100, "RSS grew %d MB while relaying 300 MB to a slow client" % growth
    balancer.assert_alive()


def _drain_query(r, on_row):
    count = 0
    err = None
    while True:
        m = r.read_msg()
        assert m is not None, "connection closed mid-result"
        kind, payload = m
        if kind == b"D":
            on_row(payload)
            count += 1
        elif kind == b"E":
            err = pgwire.parse_error_fields(payload)
        elif kind == b"Z":
            return count, err


# ---- psql ------------------------------------------------------------------------

def test_psql(balancer):
    r = balancer.psql("SELECT 41 + 1")
    assert r.stdout.strip() == "42"
    r = balancer.psql("SELECT current_user || '@' || current_database()", user="bob")
    assert r.stdout.strip() == "bob@" + DBNAME
    r = balancer.psql("SELECT 1/0", check=False)
    assert r.returncode != 0 and "division by zero" in r.stderr
    # several statements and a \copy round trip in one psql session
    r = balancer.psql("CREATE TEMP TABLE p(i int); INSERT INTO p SELECT generate_series(1,10); "
                      "SELECT sum(i) FROM p")
    assert r.stdout.strip().splitlines()[-1] == "55"


def test_psql_wrong_password(balancer):
    r = balancer.psql("SELECT 1", password="definitely-wrong", check=False)
    assert r.returncode != 0
    assert 'password authentication failed for user "alice"' in r.stderr


# ---- startup parameters -------------------------------------------------------------

def test_startup_options_and_reset(balancer):
    with balancer.connect(options="-c search_path=foo") as c:
        assert c.execute("SHOW search_path").fetchone() == ("foo",)
        assert c.execute("SELECT v FROM marker").fetchone() == ("in foo",)
        c.execute("SET search_path = bar")
        assert c.execute("SELECT v FROM marker").fetchone() == ("in bar",)
        c.execute("RESET search_path")
        assert c.execute("SHOW search_path").fetchone() == ("foo",)
        c.execute("SET search_path = bar")
        c.execute("RESET ALL")
        assert c.execute("SHOW search_path").fetchone() == ("foo",)


def test_startup_params_application_name_and_guc(balancer, pg):
    with balancer.connect(application_name="itest_app",
                          options="-c statement_timeout=12345 -c work_mem=5MB") as c:
        assert c.execute("SHOW application_name").fetchone() == ("itest_app",)
        assert c.execute("SHOW statement_timeout").fetchone() == ("12345ms",)
        assert c.execute("SHOW work_mem").fetchone() == ("5MB",)
        assert c.info.parameter_status("application_name") == "itest_app"
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert pg.admin_query("SELECT application_name FROM pg_stat_activity WHERE pid = %s",
                              [pid], dbname="postgres") == [("itest_app",)]
        # ParameterStatus updates are relayed
        c.execute("SET application_name = 'renamed'")
        assert c.info.parameter_status("application_name") == "renamed"
        assert c.info.parameter_status("server_version").startswith("15")


def test_startup_params_isolate_pools(pgbalancer):
    """A client only gets backends started with its own startup parameters."""
    b = pgbalancer(max_pool=1)
    with b.connect(options="-c search_path=foo") as c:
        pid_foo = c.execute("SELECT pg_backend_pid()").fetchone()[0]
    time.sleep(0.5)
    with b.connect() as c:
        assert c.execute("SHOW search_path").fetchone() == ('"$user", public',)
        pid_default = c.execute("SELECT pg_backend_pid()").fetchone()[0]
    assert pid_default != pid_foo
    with b.connect(options="-c search_path=bar") as c:
        assert c.execute("SHOW search_path").fetchone() == ("bar",)
        assert c.execute("SELECT pg_backend_pid()").fetchone()[0] not in (pid_foo, pid_default)
    time.sleep(0.5)
    with b.connect(options="-c search_path=foo") as c:
        assert c.execute("SHOW search_path").fetchone() == ("foo",)
        assert c.execute("SELECT pg_backend_pid()").fetchone()[0] == pid_foo


def test_other_database_and_user(balancer):
    with balancer.connect("alice", dbname="postgres") as c:
        assert c.execute("SELECT current_database(), current_user").fetchone() == ("postgres", "alice")
    with balancer.connect("bob") as c:
        assert c.execute("SELECT current_user").fetchone() == ("bob",)


def test_nonexistent_database(balancer):
    with balancer.raw(timeout=30) as r:
        err = r.startup("alice", "no_such_db_xyz", PASSWORDS["alice"])
        if err is None:
            _, err = r.simple_query("SELECT 1")
    assert err is not None and err["C"] == "3D000", err
    with pytest.raises(psycopg.OperationalError, match="no_such_db_xyz"):
        balancer.connect(dbname="no_such_db_xyz")
    with balancer.connect() as c:
        assert c.execute("SELECT 1").fetchone() == (1,)


def test_many_concurrent_clients(balancer):
    def work(i):
        with balancer.connect("alice" if i % 2 else "bob") as c:
            s = 0
            for j in range(20):
                s += c.execute("SELECT %s::int", [j]).fetchone()[0]
            return s

    calls = [BackgroundCall(work, i) for i in range(15)]
    assert [c.result(90) for c in calls] == [190] * 15
