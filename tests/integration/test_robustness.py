"""Less obvious contract points: timeouts that must *not* fire, counter/slot leaks,
fragmented frames, TLS buffering, client->server backpressure, backend restarts."""

import os
import socket
import struct
import threading
import time

import psycopg
import pytest

import pgwire
from conftest import (DBNAME, PASSWORDS, BackgroundCall, as_postgres, PG_BINDIR, closing_all,
                      free_port, rss_kb, wait_for)


def backend_pid(conn):
    return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


def try_login(b, user="alice", timeout=30):
    """Raw login + SELECT 1; returns None on success or the error fields."""
    with b.raw(timeout=timeout) as r:
        try:
            err = r.startup(user, DBNAME, PASSWORDS[user])
            if err is None:
                _, err = r.simple_query("SELECT 1")
        except (pgwire.WireError, OSError) as e:
            err = {"C": "closed", "M": str(e)}
    return err


# ---- timeouts that apply to one phase only -------------------------------------------

@pytest.mark.timeout(60)
def test_timeouts_do_not_hit_active_sessions(pgbalancer):
    """client_login_timeout, server_idle_timeout and server_lifetime are about the login
    phase and *pooled* connections; query_wait_timeout is about waiting for a backend.
    None of them may end or disturb a logged-in session that idles or runs a long query."""
    b = pgbalancer(client_login_timeout=1, server_idle_timeout=1, server_lifetime=2,
                   query_wait_timeout=1)
    with b.connect() as c:
        pid = backend_pid(c)
        time.sleep(4)                                   # idle > all of them
        assert backend_pid(c) == pid, "session lost its backend while idle"
        c.execute("SELECT pg_sleep(2.5)")               # long query > query_wait_timeout
        assert backend_pid(c) == pid
        assert c.execute("SELECT 'still connected'").fetchone() == ("still connected",)


# ---- leaks of client slots and pool slots ----------------------------------------------

@pytest.mark.timeout(120)
def test_max_client_conn_slots_are_released(pgbalancer):
    """Failed logins, protocol errors, resets and normal sessions must all give their
    max_client_conn slot back."""
    b = pgbalancer(max_client_conn=3, client_login_timeout=5)
    for _ in range(5):
        with b.raw() as r:                                       # wrong password
            assert r.startup("alice", DBNAME, "wrong")["C"] == "28P01"
        with b.raw() as r:                                       # garbage
            r.send(b"\xff" * 16)
            r.read_until_eof_or_error(10)
        s = socket.create_connection(("127.0.0.1", b.port))     # RST during start-up
        s.sendall(pgwire.startup_packet({"user": "alice", "database": DBNAME}))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        with b.connect() as c:                                   # normal
            c.execute("SELECT 1")
        with b.raw() as r:                                       # cancel request
            r.send(struct.pack("!IIii", 16, pgwire.CANCEL_REQUEST_CODE, 1, 2))
            r.read_until_eof_or_error(10)
    time.sleep(1)

    def three_fit():
        conns = []
        try:
            for _ in range(3):
                conns.append(b.connect())
            return all(c.execute("SELECT 1").fetchone() == (1,) for c in conns)
        finally:
            for c in conns:
                c.close()

    wait_for(three_fit, timeout=10, message="3 clients to fit into max_client_conn=3 again")


@pytest.mark.timeout(120)
def test_waiter_that_gives_up_does_not_leak_backend(pgbalancer, pg):
    """max_pool=1: a client queued for the backend disconnects while waiting; when the
    holder leaves, the next client must get the backend."""
    b = pgbalancer(max_pool=1, query_wait_timeout=60)
    holder = b.connect()
    pid = backend_pid(holder)
    # real waiters: complete SCRAM and then hang in the queue
    raw_waiters = []
    calls = []
    for _ in range(3):
        r = b.raw(timeout=60)
        raw_waiters.append(r)
        calls.append(BackgroundCall(r.startup, "alice", DBNAME, PASSWORDS["alice"]))
    time.sleep(1.5)
    assert not any(c.done() for c in calls), "a waiter was served while the pool is busy"
    for r in raw_waiters:
        r.sock.shutdown(socket.SHUT_RDWR)
        r.close()
    time.sleep(0.5)
    holder.close()
    t0 = time.monotonic()
    with b.connect() as c:
        assert backend_pid(c) == pid
    assert time.monotonic() - t0 < 15
    assert pg.backend_pids("alice") == [pid]


@pytest.mark.timeout(120)
def test_abandoned_sessions_return_backend(pgbalancer, pg):
    """Clients that vanish (RST) while idle, inside a transaction, or in COPY IN mode
    must give the single backend back (after reset) every time."""
    b = pgbalancer(max_pool=1, query_wait_timeout=30)
    scenarios = [
        [],
        ["BEGIN", "CREATE TEMP TABLE x1(i int)"],
        ["BEGIN", "SELECT 1/0"],
        ["CREATE TEMP TABLE x2(i int)", "COPY x2 FROM STDIN"],
    ]
    for stmts in scenarios:
        r = b.raw(timeout=30)
        assert r.startup("alice", DBNAME, PASSWORDS["alice"]) is None
        for sql in stmts:
            r.send(pgwire.query_message(sql))
            if sql.startswith("COPY"):
                kind, _ = r.read_msg()
                assert kind == b"G", kind          # CopyInResponse
                r.send(pgwire.message(b"d", b"1\n2\n"))
            else:
                while r.read_msg()[0] != b"Z":
                    pass
        r.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        r.close()
        t0 = time.monotonic()
        with b.connect() as c:
            assert c.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            assert c.execute("SELECT to_regclass('x1'), to_regclass('x2')").fetchone() == (None, None)
        assert time.monotonic() - t0 < 20, "scenario %r: backend came back slowly" % stmts
    # a discarded connection's backend exits on its own time: wait for it, do not race it
    wait_for(lambda: len(pg.backend_pids("alice")) <= 1, timeout=10,
             message="at most one backend left for alice")


@pytest.mark.skipif(os.environ.get("PGB_SANITIZED") == "1",
                    reason="AddressSanitizer's quarantine keeps freed memory on purpose")
@pytest.mark.timeout(120)
def test_connect_disconnect_churn_memory(pgbalancer):
    """1000 login/logout cycles must not grow RSS noticeably (leak check)."""
    b = pgbalancer(auth_type="trust", users={"bob": PASSWORDS["bob"]})

    def cycle(n):
        for _ in range(n):
            with b.raw() as r:
                assert r.startup("bob", DBNAME) is None
                rows, err = r.simple_query("SELECT 1")
                assert err is None
                r.send(pgwire.message(b"X"))

    cycle(200)                       # warm-up: allocator, pool, caches
    base = rss_kb(b.pid)
    calls = [BackgroundCall(cycle, 250) for _ in range(4)]
    for c in calls:
        c.result(110)
    growth_mb = (rss_kb(b.pid) - base) / 1024
    assert growth_mb < 20, "RSS grew by %.1f MB over 1000 sessions" % growth_mb


# ---- framing --------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_fragmented_frames(pgbalancer):
    """Start-up packet, auth and queries delivered one byte per TCP segment, and many
    queries coalesced into one segment."""
    b = pgbalancer(auth_type="password", users={"bob": PASSWORDS["bob"]})
    r = b.raw(timeout=20)
    s = r.sock
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def dribble(data):
        for i in range(len(data)):
            s.sendall(data[i:i + 1])
            time.sleep(0.001)

    dribble(pgwire.startup_packet({"user": "bob", "database": DBNAME}))
    kind, payload = r.read_msg()
    assert kind == b"R" and struct.unpack("!I", payload[:4])[0] == pgwire.AUTH_CLEARTEXT
    dribble(pgwire.message(b"p", PASSWORDS["bob"].encode() + b"\0"))
    while True:
        kind, payload = r.read_msg()
        assert kind != b"E", pgwire.parse_error_fields(payload)
        if kind == b"Z":
            break
    dribble(pgwire.query_message("SELECT 'dribbled'"))
    rows = []
    while True:
        kind, payload = r.read_msg()
        if kind == b"D":
            rows.append(payload)
        if kind == b"Z":
            break
    assert len(rows) == 1 and rows[0].endswith(b"dribbled")
    # 200 queries in one write
    s.sendall(b"".join(pgwire.query_message("SELECT %d" % i) for i in range(200)))
    got = []
    while len(got) < 200:
        kind, payload = r.read_msg()
        if kind == b"D":
            got.append(int(pgwire._decode_datarow(payload)[0]))
    assert got == list(range(200))
    s.close()


@pytest.mark.timeout(60)
def test_raw_extended_protocol_portal_suspended(balancer):
    """Parse/Bind/Describe/Execute(max_rows)/Execute/Close/Sync through the relay."""
    def cstr(x):
        return x.encode() + b"\0"

    with balancer.raw(timeout=20) as r:
        assert r.startup("alice", DBNAME, PASSWORDS["alice"]) is None
        msgs = [
            pgwire.message(b"P", cstr("s1") + cstr("SELECT generate_series(1, $1::int)") +
                           struct.pack("!h", 0)),
            pgwire.message(b"B", cstr("p1") + cstr("s1") + struct.pack("!h", 0) +
                           struct.pack("!h", 1) + struct.pack("!i", 2) + b"25" + struct.pack("!h", 0)),
            pgwire.message(b"D", b"P" + cstr("p1")),
            pgwire.message(b"E", cstr("p1") + struct.pack("!i", 10)),
            pgwire.message(b"E", cstr("p1") + struct.pack("!i", 0)),
            pgwire.message(b"C", b"P" + cstr("p1")),
            pgwire.message(b"C", b"S" + cstr("s1")),
            pgwire.message(b"S"),
        ]
        r.send(b"".join(msgs))
        kinds, rows = [], []
        while True:
            kind, payload = r.read_msg()
            kinds.append(kind)
            if kind == b"D":
                rows.append(int(pgwire._decode_datarow(payload)[0]))
            if kind == b"E":
                pytest.fail(str(pgwire.parse_error_fields(payload)))
            if kind == b"Z":
                break
        assert rows == list(range(1, 26))
        assert kinds.count(b"s") == 1, kinds          # PortalSuspended after 10 rows
        assert kinds[:3] == [b"1", b"2", b"T"], kinds
        # Flush without Sync must still deliver the ParseComplete
        r.send(pgwire.message(b"P", cstr("") + cstr("SELECT 1") + struct.pack("!h", 0)) +
               pgwire.message(b"H"))
        kind, _ = r.read_msg()
        assert kind == b"1"
        r.send(pgwire.message(b"S"))
        assert r.read_msg()[0] == b"Z"


# ---- TLS -----------------------------------------------------------------------------

def test_plaintext_injected_after_ssl_request(pgbalancer, pg):
    """SSLRequest followed *in the same segment* by a plaintext startup packet: the
    bytes buffered before the TLS handshake must not be processed as plaintext
    (cf. PostgreSQL CVE-2021-23214)."""
    b = pgbalancer(ssl=True, ssl_cert=str(pg.pgb_crt), ssl_key=str(pg.pgb_key))
    with socket.create_connection(("127.0.0.1", b.port), timeout=10) as s:
        s.sendall(struct.pack("!II", 8, pgwire.SSL_REQUEST_CODE) +
                  pgwire.startup_packet({"user": "alice", "database": DBNAME}))
        data = b""
        try:
            while len(data) < 64:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
    # acceptable: 'S' followed by nothing / a TLS alert / an error + close.
    # not acceptable: treating the plaintext startup packet as the client's start-up
    # (that would answer with an AuthenticationRequest 'R' in clear text)
    assert b"R\x00\x00\x00" not in data, "plaintext after SSLRequest was processed: %r" % data[:40]
    b.assert_alive()


@pytest.mark.timeout(60)
def test_reload_enables_tls(pgbalancer, pg):
    b = pgbalancer()
    with pytest.raises(psycopg.OperationalError):
        b.connect(sslmode="require")
    b.reload(ssl=True, ssl_cert=str(pg.pgb_crt), ssl_key=str(pg.pgb_key))

    def tls_ok():
        with b.connect(sslmode="verify-full", sslrootcert=str(pg.ca_crt)) as c:
            return c.pgconn.ssl_in_use

    wait_for(tls_ok, timeout=15, message="TLS to be enabled by SIGHUP")


# ---- client->server backpressure ------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.timeout(180)
def test_copy_in_backpressure(balancer, pg):
    """The backend stops reading (COPY blocked on a lock) while the client pushes ~300 MB:
    pgbalancer must stop reading the client instead of buffering it."""
    pg.admin_query("DROP TABLE IF EXISTS public.copy_in_bp")
    pg.admin_query("CREATE TABLE public.copy_in_bp(t text)")
    pg.admin_query("GRANT ALL ON public.copy_in_bp TO alice")
    locker = pg.admin(autocommit=False)
    try:
        locker.execute("LOCK TABLE public.copy_in_bp IN ACCESS EXCLUSIVE MODE")
        r = balancer.raw(timeout=120)
        assert r.startup("alice", DBNAME, PASSWORDS["alice"]) is None
        base = rss_kb(balancer.pid)
        row = pgwire.message(b"d", b"y" * 999 + b"\n")
        chunk = row * 1000                                        # ~1 MB
        sent = [0]

        def push():
            r.send(pgwire.query_message("COPY public.copy_in_bp FROM STDIN"))
            for _ in range(300):
                r.send(chunk)
                sent[0] += 1
            r.send(pgwire.message(b"c"))

        pusher = BackgroundCall(push)
        peak = base
        t_end = time.monotonic() + 6
        while time.monotonic() < t_end:
            peak = max(peak, rss_kb(balancer.pid))
            time.sleep(0.05)
        stalled_mb = sent[0]
        locker.rollback()
        pusher.result(120)
        while True:
            kind, payload = r.read_msg()
            if kind == b"E":
                pytest.fail(str(pgwire.parse_error_fields(payload)))
            if kind == b"C":
                assert payload.rstrip(b"\0") == b"COPY 300000", payload
            if kind == b"Z":
                break
        r.close()
    finally:
        locker.close()
        pg.admin_query("DROP TABLE IF EXISTS public.copy_in_bp")
    growth = (peak - base) // 1024
    print("copy-in backpressure: pushed %d MB while blocked, RSS growth %d MB" % (stalled_mb, growth))
    assert stalled_mb < 300, "the whole COPY was accepted while the backend was blocked"
    assert growth < 100, "RSS grew by %d MB while the backend did not read (client had pushed %d MB)" % (
        growth, stalled_mb)


# ---- backend restart / routing ---------------------------------------------------------------

@pytest.mark.timeout(120)
def test_postgres_restart(pgbalancer, pg):
    """PostgreSQL restarts: pooled and active connections die; afterwards new clients work."""
    b = pgbalancer(max_pool=2, query_wait_timeout=30)
    idle_pooled = b.connect()
    idle_pooled.execute("SELECT 1")
    idle_pooled.close()
    active = b.connect()
    as_postgres([PG_BINDIR / "pg_ctl", "-D", pg.datadir, "-m", "fast", "-w", "restart",
                 "-l", pg.logfile])
    with pytest.raises(psycopg.Error):
        active.execute("SELECT 1")
    active.close()

    def works():
        with b.connect() as c:
            return c.execute("SELECT 'back'").fetchone() == ("back",)

    wait_for(works, timeout=30, message="new clients to work after a PostgreSQL restart")
    for _ in range(3):
        assert works()
    b.assert_alive()


def test_sessions_go_to_primary(pgbalancer, pg):
    dead = free_port()
    b = pgbalancer(backend_servers=[
        {"hostname": "127.0.0.1", "port": dead, "weight": 10, "role": "standby"},
        {"hostname": "127.0.0.1", "port": pg.port, "weight": 1, "role": "primary"}])
    for _ in range(5):
        with b.connect() as c:
            assert c.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)


def test_listen_addresses_star(pgbalancer):
    b = pgbalancer(listen_addresses="*")
    with b.connect() as c:
        assert c.execute("SELECT 1").fetchone() == (1,)
    ips = {a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    ips.discard("127.0.0.1")
    for ip in ips:
        with b.connect(host=ip) as c:
            assert c.execute("SELECT 1").fetchone() == (1,)


def test_backend_error_at_login_passed_through(pgbalancer, pg):
    """PostgreSQL's own login errors (here: no CONNECT privilege) reach the client with
    their SQLSTATE and message."""
    pg.admin_query("DROP DATABASE IF EXISTS noaccess", dbname="postgres")
    pg.admin_query("CREATE DATABASE noaccess", dbname="postgres")
    pg.admin_query("REVOKE CONNECT ON DATABASE noaccess FROM PUBLIC", dbname="postgres")
    try:
        b = pgbalancer()
        with b.raw(timeout=30) as r:
            err = r.startup("bob", "noaccess", PASSWORDS["bob"])
            if err is None:
                _, err = r.simple_query("SELECT 1")
        assert err is not None and err["C"] == "42501", err
        assert "noaccess" in err["M"], err
        with b.connect() as c:
            assert c.execute("SELECT 1").fetchone() == (1,)
    finally:
        pg.admin_query("DROP DATABASE IF EXISTS noaccess WITH (FORCE)", dbname="postgres")


@pytest.mark.timeout(60)
def test_sigterm_with_connected_clients(pgbalancer):
    """SIGTERM while clients are connected (idle and mid-query) still exits 0 promptly."""
    b = pgbalancer()
    idle = b.connect()
    busy = b.connect()
    call = BackgroundCall(lambda: busy.execute("SELECT pg_sleep(30)"))
    time.sleep(0.5)
    t0 = time.monotonic()
    rc = b.stop(timeout=30)
    elapsed = time.monotonic() - t0
    try:
        assert rc == 0, "exit status %r; log:\n%s" % (rc, b.log_tail())
        assert elapsed < 25
        assert isinstance(call.exception(20), psycopg.Error)
    finally:
        idle.close()
        busy.close()


def _ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")
def test_listen_addresses_list(pgbalancer):
    """A comma list binds every address; nothing else."""
    b = pgbalancer(listen_addresses="127.0.0.1,::1")
    for host in ("127.0.0.1", "::1"):
        with b.connect(host=host) as c:
            assert c.execute("SELECT 1").fetchone() == (1,)
    only6 = pgbalancer(listen_addresses="::1")
    with only6.connect(host="::1") as c:
        assert c.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", only6.port), timeout=3).close()
