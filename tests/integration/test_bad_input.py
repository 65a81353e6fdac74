"""Malformed and hostile input on raw sockets: the offending client gets an
ErrorResponse or is disconnected; everybody else keeps working."""

import socket
import struct
import time

import pytest

import pgwire
from conftest import DBNAME, PASSWORDS, BackgroundCall


def send_and_expect_rejection(b, data, timeout=15, shut_wr=False):
    with b.raw(timeout=timeout) as r:
        try:
            r.send(data)
            if shut_wr:
                r.sock.shutdown(socket.SHUT_WR)
        except OSError:
            return "eof", None   # already closed by the server: fine
        outcome, fields = r.read_until_eof_or_error(timeout)
    assert outcome in ("eof", "error"), (
        "expected an ErrorResponse or a disconnect within %ss, got %s" % (timeout, outcome))
    return outcome, fields


def assert_healthy(b):
    b.assert_alive()
    with b.connect() as c:
        assert c.execute("SELECT 'healthy'").fetchone() == ("healthy",)


@pytest.fixture
def victim(balancer):
    """An established client session that must survive everything."""
    c = balancer.connect()
    c.execute("SELECT 1")
    yield c
    assert c.execute("SELECT 'victim ok'").fetchone() == ("victim ok",)
    c.close()


CASES = {
    "http_request": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "random_bytes": bytes(range(256)) * 4,
    "zero_length": struct.pack("!I", 0) + b"\0" * 16,
    "length_too_small": struct.pack("!II", 4, pgwire.PROTOCOL_3),
    "oversized_length": struct.pack("!II", 0x7FFFFFFF, pgwire.PROTOCOL_3) + b"user\0alice\0\0",
    "huge_length_all_ones": b"\xff\xff\xff\xff" + b"\0" * 8,
    "protocol_2": pgwire.startup_packet({"user": "alice", "database": DBNAME}, version=0x00020000),
    "protocol_4": pgwire.startup_packet({"user": "alice", "database": DBNAME}, version=0x00040000),
    "no_user": pgwire.startup_packet({"database": DBNAME}),
    "unterminated_params": struct.pack("!II", 8 + 10, pgwire.PROTOCOL_3) + b"user\0alice",
    "key_without_value": struct.pack("!II", 8 + 20, pgwire.PROTOCOL_3) + b"user\0alice\0database\0",
    "cancel_request_short": struct.pack("!II", 12, pgwire.CANCEL_REQUEST_CODE) + b"\0\0\0\1",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_startup(balancer, victim, name):
    send_and_expect_rejection(balancer, CASES[name])
    assert_healthy(balancer)


def test_protocol_2_gets_error_or_close(balancer):
    outcome, fields = send_and_expect_rejection(
        balancer, pgwire.startup_packet({"user": "alice", "database": DBNAME}, version=0x00020000))
    if outcome == "error":
        assert fields.get("C") in ("08P01", "0A000"), fields


def test_truncated_startup_then_close(balancer, victim):
    pkt = pgwire.startup_packet({"user": "alice", "database": DBNAME})
    for cut in (1, 3, 4, 7, len(pkt) - 1):
        send_and_expect_rejection(balancer, pkt[:cut], shut_wr=True)
    assert_healthy(balancer)


def test_abrupt_resets(balancer, victim):
    """Clients that connect and reset (RST) at various points of the start-up."""
    pkt = pgwire.startup_packet({"user": "alice", "database": DBNAME})
    for i in range(30):
        s = socket.create_connection(("127.0.0.1", balancer.port), timeout=5)
        if i % 3 == 1:
            s.sendall(pkt[: i % len(pkt)])
        elif i % 3 == 2:
            s.sendall(pkt)
            try:
                s.recv(64)      # AuthenticationSASL arrives, then we vanish
            except OSError:
                pass
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    time.sleep(0.5)
    assert_healthy(balancer)


def test_garbage_after_login(balancer, victim):
    """An authenticated client that sends an unknown message type or an absurd length."""
    for payload in (
        pgwire.message(b"\x01", b"junk"),                         # unknown type
        b"Q" + struct.pack("!I", 0x7FFFFFF0) + b"SELECT 1",        # huge length
        b"Q" + struct.pack("!I", 2),                               # length < 4
    ):
        with balancer.raw(timeout=20) as r:
            assert r.startup("alice", DBNAME, PASSWORDS["alice"]) is None
            r.send(payload)
            outcome, fields = r.read_until_eof_or_error(20)
            assert outcome in ("eof", "error"), (payload[:8], outcome)
    assert_healthy(balancer)


def test_bad_message_releases_backend(pgbalancer):
    """After a client is thrown out for a protocol violation its backend is reset and
    reusable (max_pool=1 forces reuse)."""
    b = pgbalancer(max_pool=1, query_wait_timeout=30)
    with b.raw(timeout=20) as r:
        assert r.startup("alice", DBNAME, PASSWORDS["alice"]) is None
        rows, err = r.simple_query("CREATE TEMP TABLE dirty(x int)")
        r.send(b"Q" + struct.pack("!I", 0x7FFFFFF0))
        r.read_until_eof_or_error(20)
    with b.connect() as c:
        assert c.execute("SELECT to_regclass('dirty')").fetchone() == (None,)


def test_terminate_mid_query_and_half_messages(balancer, victim):
    """Client sends half a Query message and disconnects; client sends Terminate."""
    for data in (b"Q\0\0\0\x20SELE", pgwire.message(b"X")):
        with balancer.raw(timeout=20) as r:
            assert r.startup("alice", DBNAME, PASSWORDS["alice"]) is None
            r.send(data)
    time.sleep(0.3)
    assert_healthy(balancer)


def test_gss_request_then_garbage(balancer, victim):
    with balancer.raw(timeout=15) as r:
        r.send(struct.pack("!II", 8, 80877104))
        assert r.read_byte() == b"N"
        r.send(b"\xde\xad\xbe\xef" * 8)
        outcome, _ = r.read_until_eof_or_error(15)
        assert outcome in ("eof", "error"), outcome
    assert_healthy(balancer)


@pytest.mark.timeout(90)
def test_client_disconnects_during_long_query(pgbalancer, pg):
    """A client that vanishes mid-query must not leak its backend (max_pool=1)."""
    b = pgbalancer(max_pool=1, query_wait_timeout=60)
    with b.raw(timeout=20) as r:
        assert r.startup("alice", DBNAME, PASSWORDS["alice"]) is None
        r.send(pgwire.query_message("SELECT pg_sleep(8)"))
        time.sleep(0.5)
    t0 = time.monotonic()
    with b.connect() as c:
        assert c.execute("SELECT 'next client'").fetchone() == ("next client",)
        assert c.execute("SELECT to_regclass('pg_temp.nothing')").fetchone() == (None,)
    assert time.monotonic() - t0 < 40
    assert len(pg.backend_pids("alice")) <= 1


@pytest.mark.timeout(60)
def test_client_login_timeout_silent_client(pgbalancer):
    b = pgbalancer(client_login_timeout=2)
    t0 = time.monotonic()
    with b.raw(timeout=30) as r:
        outcome, _ = r.read_until_eof_or_error(25)
    elapsed = time.monotonic() - t0
    assert outcome in ("eof", "error"), "silent client not disconnected"
    assert 1.0 <= elapsed <= 15, "disconnected after %.1fs, configured 2s" % elapsed
    assert_healthy(b)


@pytest.mark.timeout(60)
def test_client_login_timeout_stalled_auth(pgbalancer):
    """A client that sends the startup packet but never answers the SASL request."""
    b = pgbalancer(client_login_timeout="2s")
    t0 = time.monotonic()
    with b.raw(timeout=30) as r:
        r.send(pgwire.startup_packet({"user": "alice", "database": DBNAME}))
        kind, _ = r.read_msg()
        assert kind == b"R"
        outcome, _ = r.read_until_eof_or_error(25)
    elapsed = time.monotonic() - t0
    assert outcome in ("eof", "error")
    assert elapsed <= 15
    assert_healthy(b)


@pytest.mark.timeout(60)
def test_login_timeout_partial_startup(pgbalancer):
    """Slowloris: a few bytes of a startup packet and then silence."""
    b = pgbalancer(client_login_timeout="1500ms")
    with b.raw(timeout=30) as r:
        r.send(b"\0\0\0")
        t0 = time.monotonic()
        outcome, _ = r.read_until_eof_or_error(25)
        assert outcome in ("eof", "error")
        assert time.monotonic() - t0 <= 15
    assert_healthy(b)


def test_many_idle_sockets_do_not_block_others(pgbalancer):
    b = pgbalancer(client_login_timeout=30)
    socks = [socket.create_connection(("127.0.0.1", b.port), timeout=5) for _ in range(50)]
    try:
        t0 = time.monotonic()
        assert_healthy(b)
        assert time.monotonic() - t0 < 10
    finally:
        for s in socks:
            s.close()


def test_concurrent_garbage_storm(balancer, victim):
    def storm(seed):
        for i in range(20):
            data = CASES[sorted(CASES)[(seed + i) % len(CASES)]]
            try:
                with socket.create_connection(("127.0.0.1", balancer.port), timeout=5) as s:
                    s.sendall(data)
                    s.settimeout(5)
                    try:
                        s.recv(1024)
                    except OSError:
                        pass
            except OSError:
                pass
        return True

    calls = [BackgroundCall(storm, k) for k in range(4)]
    for c in calls:
        assert c.result(120)
    assert_healthy(balancer)
