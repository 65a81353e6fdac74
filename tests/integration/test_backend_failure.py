"""Backend failures: killed backends, unreachable PostgreSQL."""

import socket
import time

import psycopg
import pytest

import pgwire
from conftest import DBNAME, PASSWORDS, BackgroundCall, free_port, wait_for


def test_backend_killed_mid_query(balancer, pg):
    c = balancer.connect()
    try:
        pid = c.info.backend_pid
        call = BackgroundCall(lambda: c.execute("SELECT pg_sleep(60)"))
        wait_for(lambda: pg.admin_query(
            "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND query LIKE '%%pg_sleep%%' "
            "AND state = 'active'", [pid], dbname="postgres"),
            timeout=10, message="the pg_sleep to start")
        assert pg.terminate(pid) is True
        exc = call.exception(20)     # an error, not a hang
        assert isinstance(exc, psycopg.Error), "expected an error, got %r" % exc
    finally:
        c.close()
    balancer.assert_alive()
    with balancer.connect() as c2:
        assert c2.execute("SELECT 'new client ok'").fetchone() == ("new client ok",)
        assert c2.info.backend_pid != pid


def test_backend_killed_while_idle(pgbalancer, pg):
    """An idle session's backend is terminated: the next query fails cleanly and
    the dead connection is not handed to the next client (max_pool=1)."""
    b = pgbalancer(max_pool=1, query_wait_timeout=30)
    c = b.connect()
    pid = c.info.backend_pid
    assert pg.terminate(pid) is True
    wait_for(lambda: pid not in pg.backend_pids(), timeout=10, message="backend to exit")
    with pytest.raises(psycopg.Error):
        c.execute("SELECT 1")
    c.close()
    for _ in range(3):
        with b.connect() as c2:
            assert c2.execute("SELECT 1").fetchone() == (1,)
            assert c2.info.backend_pid != pid


def test_pooled_idle_backend_killed(pgbalancer, pg):
    """A backend idle *in the pool* dies: the next client still gets a working session."""
    b = pgbalancer(max_pool=1, query_wait_timeout=30)
    with b.connect() as c:
        pid = c.info.backend_pid
    wait_for(lambda: pid in pg.backend_pids(), timeout=5, message="pooled backend")
    assert pg.terminate(pid) is True
    wait_for(lambda: pid not in pg.backend_pids(), timeout=10, message="backend to exit")
    time.sleep(0.05)  # a connection given back in the last 10 ms is handed out unchecked
    with b.connect() as c:
        assert c.execute("SELECT 'fresh'").fetchone() == ("fresh",)
        assert c.info.backend_pid != pid


def test_many_backends_killed_at_once(pgbalancer, pg):
    b = pgbalancer()
    conns = [b.connect() for _ in range(5)]
    try:
        calls = [BackgroundCall(lambda c=c: c.execute("SELECT pg_sleep(60)")) for c in conns]
        time.sleep(1.0)
        pg.admin_query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE query LIKE 'SELECT pg_sleep(60)%%' AND pid <> pg_backend_pid()",
                       dbname="postgres")
        for call in calls:
            assert isinstance(call.exception(20), psycopg.Error)
    finally:
        for c in conns:
            c.close()
    b.assert_alive()
    with b.connect() as c:
        assert c.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.timeout(90)
def test_backend_unreachable(pgbalancer):
    """Nothing listens on the backend port: the client gets an error within
    server_connect_timeout (+ slack), not a hang; the process survives."""
    dead_port = free_port()
    b = pgbalancer(backend_servers=[{"hostname": "127.0.0.1", "port": dead_port, "weight": 1,
                                     "role": "primary"}],
                   server_connect_timeout=3, query_wait_timeout=10)
    for _ in range(2):
        t0 = time.monotonic()
        with b.raw(timeout=60) as r:
            try:
                err = r.startup("alice", DBNAME, PASSWORDS["alice"])
                if err is None:
                    _, err = r.simple_query("SELECT 1")
            except pgwire.WireError:
                err = {"C": "closed"}
        assert err is not None, "login succeeded with no backend"
        assert time.monotonic() - t0 < 30
    with pytest.raises(psycopg.OperationalError):
        b.connect()
    b.assert_alive()


@pytest.mark.timeout(90)
def test_backend_blackhole_connect_timeout(pgbalancer):
    """The backend accepts TCP but never speaks (a listening socket nobody serves):
    server_connect_timeout must bound the wait."""
    hole = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    hole.bind(("127.0.0.1", 0))
    hole.listen(16)
    try:
        b = pgbalancer(backend_servers=[{"hostname": "127.0.0.1", "port": hole.getsockname()[1],
                                         "weight": 1, "role": "primary"}],
                       server_connect_timeout=2, query_wait_timeout=10)
        t0 = time.monotonic()
        with b.raw(timeout=60) as r:
            try:
                err = r.startup("alice", DBNAME, PASSWORDS["alice"])
                if err is None:
                    _, err = r.simple_query("SELECT 1")
            except pgwire.WireError:
                err = {"C": "closed"}
        assert err is not None
        assert time.monotonic() - t0 < 30, "waited %.1fs" % (time.monotonic() - t0)
        b.assert_alive()
    finally:
        hole.close()
