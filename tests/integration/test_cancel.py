"""Query cancellation through pgbalancer."""

import time

import psycopg
import pytest
from psycopg import errors

import pgwire
from conftest import BackgroundCall


def test_backend_pid_matches_backend_key(balancer, pg):
    with balancer.connect() as c:
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert pid == c.info.backend_pid
        assert pid in pg.backend_pids("alice")


def _sleep_query(conn, seconds=30):
    t0 = time.monotonic()
    try:
        conn.execute("SELECT pg_sleep(%s)" % seconds)
    except psycopg.Error as e:
        return e, time.monotonic() - t0
    return None, time.monotonic() - t0


def test_cancel_running_query(balancer):
    with balancer.connect() as c:
        call = BackgroundCall(_sleep_query, c)
        time.sleep(1.0)
        assert not call.done()
        c.cancel()
        exc, elapsed = call.result(20)
        assert isinstance(exc, errors.QueryCanceled), exc
        assert exc.sqlstate == "57014"
        assert elapsed < 15
        # the session is still usable after the cancel
        assert c.execute("SELECT 'alive'").fetchone() == ("alive",)
        assert c.execute("SELECT pg_backend_pid()").fetchone()[0] == c.info.backend_pid


def test_cancel_only_hits_its_own_session(balancer):
    with balancer.connect() as a, balancer.connect("bob") as b:
        call_a = BackgroundCall(_sleep_query, a, 30)
        call_b = BackgroundCall(_sleep_query, b, 3)
        time.sleep(1.0)
        a.cancel()
        exc_a, _ = call_a.result(20)
        assert isinstance(exc_a, errors.QueryCanceled), exc_a
        exc_b, elapsed_b = call_b.result(20)
        assert exc_b is None, "cancel of one client hit another client's query: %r" % exc_b
        assert elapsed_b >= 2.5


def test_cancel_with_wrong_key_is_ignored(balancer):
    with balancer.connect() as c:
        call = BackgroundCall(_sleep_query, c, 4)
        time.sleep(1.0)
        pid = c.info.backend_pid
        # right pid, wrong secret; and a random pid
        pgwire.cancel_request(balancer.port, pid, 12345)
        pgwire.cancel_request(balancer.port, 999999, 1)
        exc, elapsed = call.result(20)
        assert exc is None, "a CancelRequest with a wrong secret key cancelled the query: %r" % exc
        assert elapsed >= 3.5
        balancer.assert_alive()


def test_cancel_when_idle_is_harmless(balancer):
    with balancer.connect() as c:
        c.cancel()
        time.sleep(0.5)
        assert c.execute("SELECT 1").fetchone() == (1,)


def test_cancel_repeatedly(balancer):
    with balancer.connect() as c:
        for _ in range(5):
            call = BackgroundCall(_sleep_query, c, 30)
            time.sleep(0.5)
            c.cancel()
            exc, elapsed = call.result(20)
            assert isinstance(exc, errors.QueryCanceled), exc
        assert c.execute("SELECT 1").fetchone() == (1,)


def test_cancel_after_pooled_reuse(pgbalancer):
    """The second client that reuses a pooled backend gets working cancel keys too."""
    b = pgbalancer(max_pool=1)
    with b.connect() as c:
        first_pid = c.info.backend_pid
    time.sleep(0.5)
    with b.connect() as c:
        assert c.execute("SELECT pg_backend_pid()").fetchone()[0] == c.info.backend_pid
        call = BackgroundCall(_sleep_query, c, 30)
        time.sleep(1.0)
        c.cancel()
        exc, _ = call.result(20)
        assert isinstance(exc, errors.QueryCanceled), exc
    assert first_pid > 0
