"""The event-loop relay (plain-TCP clients in transaction and statement modes): output a
socket does not take at once (slow readers, large COPY input), clients queued for a full
pool (served, leaving, timing out), several transactions in one packet, and hand-over of
connections between worker threads."""

import threading
import time

import psycopg
import pytest

import pgwire
from conftest import DBNAME, PASSWORDS, BackgroundCall


def tx(**overrides):
    cfg = {"pool_mode": "transaction"}
    cfg.update(overrides)
    return cfg


def login(b, user="alice"):
    r = b.raw(timeout=30)
    err = r.startup(user, DBNAME, PASSWORDS.get(user))
    assert err is None, err
    return r


def holder_in_transaction(b):
    """A client holding the only server connection inside a transaction."""
    c = b.connect()
    c.prepare_threshold = None
    c.execute("BEGIN")
    pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
    return c, pid


@pytest.mark.timeout(120)
def test_slow_reader_gets_a_large_result_intact(pgbalancer):
    """A result far larger than the socket buffers, read slowly: pgbalancer keeps what the
    client's socket does not take and stops reading the server meanwhile; every byte
    arrives in order, and the connection is reusable afterwards."""
    b = pgbalancer(max_pool=1, **tx())
    r = login(b)
    rows = 40000                        # 26 MB: more than the kernel buffers on the way hold
    r.send(pgwire.query_message(
        "SELECT i, repeat(md5(i::text), 20) FROM generate_series(1, %d) i" % rows))
    time.sleep(1.0)                     # let pgbalancer fill every buffer on the way
    seen = 0
    while True:
        m = r.read_msg()
        assert m is not None, "connection closed mid-result"
        kind, payload = m
        if kind == b"D":
            seen += 1
            i, text = pgwire._decode_datarow(payload)
            assert int(i) == seen, "row %s arrived as row %d" % (i, seen)
            assert len(text) == 640
            if seen % 4000 == 0:
                time.sleep(0.2)         # a slow consumer
        elif kind == b"Z":
            break
        else:
            assert kind in (b"T", b"C"), (kind, payload)
    assert seen == rows
    rows_again, err = r.simple_query("SELECT 'next transaction'")
    assert err is None and rows_again == [["next transaction"]], (rows_again, err)
    r.close()
    with b.connect() as c:   # the server connection went back to the pool in good order
        assert c.execute("SELECT 1").fetchone() == (1,)
    b.assert_alive()


@pytest.mark.timeout(120)
def test_large_copy_in_reaches_the_server_whole(pgbalancer):
    """COPY FROM STDIN of about 30 MB: client input faster than the server takes it."""
    b = pgbalancer(max_pool=1, **tx())
    with b.connect() as c:
        with c.transaction():
            c.execute("CREATE TEMP TABLE big_in(i int, t text) ON COMMIT DROP")
            line = "x" * 300
            with c.cursor().copy("COPY big_in FROM STDIN") as copy:
                for i in range(100000):
                    copy.write("%d\t%s\n" % (i, line))
            got = c.execute("SELECT count(*), sum(i), min(length(t)) FROM big_in").fetchone()
    assert got == (100000, sum(range(100000)), 300)
    b.assert_alive()


@pytest.mark.timeout(60)
def test_queued_client_is_served_when_the_connection_comes_back(pgbalancer):
    b = pgbalancer(max_pool=1, **tx())
    holder, pid = holder_in_transaction(b)
    waiter = BackgroundCall(lambda: _one_query(b, "SELECT pg_backend_pid()"))
    time.sleep(0.5)
    assert not waiter.done(), "served although the only connection is in a transaction"
    holder.execute("COMMIT")
    assert waiter.result(20) == pid
    holder.close()
    b.assert_alive()


def _one_query(b, sql):
    with b.connect() as c:
        c.prepare_threshold = None
        return c.execute(sql).fetchone()[0]


@pytest.mark.timeout(60)
def test_client_leaving_the_queue_does_not_take_a_connection(pgbalancer):
    """Clients that hang up while queued leave the queue; the connection given back then
    goes to a client still there, and none is lost."""
    b = pgbalancer(max_pool=1, **tx())
    holder, pid = holder_in_transaction(b)
    leavers = []
    for _ in range(5):
        r = login(b)
        r.send(pgwire.query_message("SELECT 'never answered'"))
        leavers.append(r)
    stayer = BackgroundCall(lambda: _one_query(b, "SELECT pg_backend_pid()"))
    time.sleep(0.5)
    for r in leavers:
        r.close()
    time.sleep(0.3)
    holder.execute("COMMIT")
    assert stayer.result(20) == pid
    holder.close()
    for _ in range(3):
        assert _one_query(b, "SELECT pg_backend_pid()") == pid
    b.assert_alive()


@pytest.mark.timeout(60)
def test_queued_client_times_out_with_53300(pgbalancer):
    b = pgbalancer(max_pool=1, query_wait_timeout="1s", **tx())
    holder, _ = holder_in_transaction(b)
    r = login(b)
    t0 = time.monotonic()
    r.send(pgwire.query_message("SELECT 1"))
    state, fields = r.read_until_eof_or_error(20)
    elapsed = time.monotonic() - t0
    assert state == "error" and fields["C"] == "53300", (state, fields)
    assert 0.8 <= elapsed <= 10, "timed out after %.1fs, configured 1s" % elapsed
    r.close()
    assert holder.execute("SELECT 'holder ok'").fetchone() == ("holder ok",)
    holder.execute("COMMIT")
    holder.close()
    assert _one_query(b, "SELECT 1") == 1


@pytest.mark.timeout(60)
def test_transactions_pipelined_in_one_packet(pgbalancer):
    """Three transactions in one write: each is relayed in order, the connection going
    back and being leased again between them."""
    b = pgbalancer(max_pool=1, **tx())
    r = login(b)
    r.send(pgwire.query_message("SELECT 1") + pgwire.query_message("BEGIN; SELECT 2") +
           pgwire.query_message("SELECT 3; COMMIT") + pgwire.query_message("SELECT 4"))
    values, statuses = [], []
    while len(statuses) < 4:
        kind, payload = r.read_msg()
        if kind == b"D":
            values.append(pgwire._decode_datarow(payload)[0])
        elif kind == b"Z":
            statuses.append(payload)
        elif kind == b"E":
            pytest.fail(pgwire.parse_error_fields(payload))
    assert values == ["1", "2", "3", "4"]
    assert statuses == [b"I", b"T", b"I", b"I"]
    r.close()
    b.assert_alive()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["transaction", "statement"])
def test_two_workers_hand_connections_across_threads(pgbalancer, mode):
    """With two worker threads and two server connections, clients on both workers queue
    for the same connections; each gets its own results."""
    b = pgbalancer(max_pool=2, worker_threads=2, pool_mode=mode)
    errors = []

    def client(k):
        try:
            with b.connect() as c:
                c.prepare_threshold = None
                for i in range(200):
                    got = c.execute("SELECT %s::int * 1000 + %s::int", [k, i]).fetchone()[0]
                    assert got == k * 1000 + i
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(100)
    assert not errors, errors[:3]
    b.assert_alive()
