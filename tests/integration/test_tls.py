"""TLS towards clients (ssl: true/false) and towards PostgreSQL (backend_encryption)."""

import socket
import ssl as pyssl
import struct
import time

import psycopg
import pytest

import pgwire
from conftest import DBNAME, PASSWORDS, BackgroundCall


@pytest.fixture
def tls_balancer(pgbalancer, pg):
    return pgbalancer(ssl=True, ssl_cert=str(pg.pgb_crt), ssl_key=str(pg.pgb_key),
                      ssl_ca_cert=str(pg.ca_crt))


def ssl_row(conn):
    return conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()[0]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
@pytest.mark.parametrize("sslmode", ["require", "verify-ca", "verify-full"])
def test_ssl_modes(tls_balancer, pg, sslmode, host):
    with tls_balancer.connect(sslmode=sslmode, sslrootcert=str(pg.ca_crt), host=host) as c:
        assert c.pgconn.ssl_in_use
        assert c.execute("SELECT current_user").fetchone() == ("alice",)


def test_ssl_prefer_uses_tls_when_enabled(tls_balancer):
    with tls_balancer.connect(sslmode="prefer") as c:
        assert c.pgconn.ssl_in_use


def test_ssl_disable_still_allowed(tls_balancer):
    with tls_balancer.connect(sslmode="disable") as c:
        assert not c.pgconn.ssl_in_use
        assert c.execute("SELECT 1").fetchone() == (1,)


def test_verify_full_wrong_ca_fails(tls_balancer, pg):
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed|certificate"):
        tls_balancer.connect(sslmode="verify-full", sslrootcert=str(pg.other_ca_crt))


def test_tls_large_transfer_and_copy(tls_balancer):
    with tls_balancer.connect(sslmode="require") as c:
        n = 100000
        rows = c.execute("SELECT g, repeat('z', 100) FROM generate_series(1, %s) g", [n]).fetchall()
        assert len(rows) == n and rows[-1] == (n, "z" * 100)
        c.execute("CREATE TEMP TABLE tcp(t text)")
        with c.cursor().copy("COPY tcp FROM STDIN") as cp:
            for i in range(20000):
                cp.write_row(("v" * 200,))
        assert c.execute("SELECT count(*) FROM tcp").fetchone() == (20000,)
        big = "b" * (4 * 1024 * 1024)
        assert c.execute("SELECT length(%s::text)", [big]).fetchone() == (len(big),)


def test_tls_scram_wrong_password(tls_balancer):
    with pytest.raises(psycopg.OperationalError, match='password authentication failed for user "alice"'):
        tls_balancer.connect(sslmode="require", password="wrong-password-over-tls")


def test_tls_cancel(tls_balancer):
    import time
    from conftest import BackgroundCall
    with tls_balancer.connect(sslmode="require") as c:
        call = BackgroundCall(lambda: c.execute("SELECT pg_sleep(30)"))
        time.sleep(1.0)
        c.cancel()
        exc = call.exception(20)
        assert isinstance(exc, psycopg.errors.QueryCanceled), exc


def test_tls_psql(tls_balancer, pg):
    r = tls_balancer.psql("SELECT 'tls via psql'", env={
        "PGSSLMODE": "verify-full", "PGSSLROOTCERT": str(pg.ca_crt)})
    assert r.stdout.strip() == "tls via psql"


def test_ssl_false_require_fails_prefer_plain(balancer):
    with pytest.raises(psycopg.OperationalError):
        balancer.connect(sslmode="require")
    with balancer.connect(sslmode="prefer") as c:
        assert not c.pgconn.ssl_in_use
        assert c.execute("SELECT 1").fetchone() == (1,)


def test_ssl_request_answered_n_when_disabled(balancer):
    with balancer.raw() as r:
        r.send(struct.pack("!II", 8, pgwire.SSL_REQUEST_CODE))
        assert r.read_byte() == b"N"
        # the same connection continues in plaintext
        assert r.startup("alice", DBNAME, PASSWORDS["alice"]) is None
        rows, err = r.simple_query("SELECT 7")
        assert err is None and rows == [["7"]]


def test_raw_tls_handshake_garbage(tls_balancer):
    """SSLRequest accepted, then garbage instead of a ClientHello: the connection is
    dropped and the process survives."""
    with socket.create_connection(("127.0.0.1", tls_balancer.port), timeout=10) as s:
        s.sendall(struct.pack("!II", 8, pgwire.SSL_REQUEST_CODE))
        assert s.recv(1) == b"S"
        s.sendall(b"\x16\x03\x01\x00\x05hello-this-is-not-tls" * 10)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
    tls_balancer.assert_alive()
    with tls_balancer.connect(sslmode="require") as c:
        assert c.execute("SELECT 1").fetchone() == (1,)


def test_tls_with_python_ssl_and_sni(tls_balancer, pg):
    """A plain Python TLS client (SNI=localhost) verifies the certificate chain."""
    ctx = pyssl.create_default_context(cafile=str(pg.ca_crt))
    with socket.create_connection(("127.0.0.1", tls_balancer.port), timeout=10) as s:
        s.sendall(struct.pack("!II", 8, pgwire.SSL_REQUEST_CODE))
        assert s.recv(1) == b"S"
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            cert = t.getpeercert()
            assert ("DNS", "localhost") in cert["subjectAltName"]


# ---- backend_encryption --------------------------------------------------------

def test_backend_encryption_on(pgbalancer, pg):
    b = pgbalancer(backend_encryption=True, backend_ssl_ca_cert=str(pg.ca_crt))
    with b.connect() as c:
        assert ssl_row(c) is True, "backend connection is not encrypted"
        n = 50000
        assert c.execute("SELECT count(*) FROM generate_series(1, %s)", [n]).fetchone() == (n,)
        rows = c.execute("SELECT repeat('q', 1000) FROM generate_series(1, 20000)").fetchall()
        assert len(rows) == 20000
    with b.connect("bob") as c:
        assert ssl_row(c) is True


def test_backend_encryption_without_ca(pgbalancer, pg):
    b = pgbalancer(backend_encryption=True)
    with b.connect() as c:
        assert ssl_row(c) is True


def test_backend_encryption_off(balancer):
    with balancer.connect() as c:
        assert ssl_row(c) is False


def test_backend_encryption_wrong_ca_refused(pgbalancer, pg):
    """backend_ssl_ca_cert set to an unrelated CA: PostgreSQL's certificate does not
    verify, so no backend connection may be made (client gets an error, no hang)."""
    b = pgbalancer(backend_encryption=True, backend_ssl_ca_cert=str(pg.other_ca_crt),
                   server_connect_timeout=5, query_wait_timeout=10)
    with b.raw(timeout=40) as r:
        try:
            err = r.startup("alice", DBNAME, PASSWORDS["alice"])
            if err is None:
                _, err = r.simple_query("SELECT 1")
        except pgwire.WireError:
            err = {"C": "closed"}
    assert err is not None, "backend TLS with an untrusted certificate was accepted"
    b.assert_alive()


def test_client_and_backend_tls_together(pgbalancer, pg):
    b = pgbalancer(ssl=True, ssl_cert=str(pg.pgb_crt), ssl_key=str(pg.pgb_key),
                   backend_encryption=True, backend_ssl_ca_cert=str(pg.ca_crt))
    with b.connect(sslmode="verify-full", sslrootcert=str(pg.ca_crt)) as c:
        assert c.pgconn.ssl_in_use
        assert ssl_row(c) is True


# ---- transaction pooling over TLS (the coroutine relay) -------------------------
# Plain-TCP clients in transaction mode are relayed by the event loop; TLS clients, and every
# client when backend_encryption is on, by the coroutine relay. These run the same checks there,
# with plain and TLS clients sharing one pool.

def _tx_worker(b, k, **kw):
    with b.connect(**kw) as c:
        c.prepare_threshold = None
        for i in range(100):
            assert c.execute("SELECT %s::int * 1000 + %s::int", [k, i]).fetchone()[0] == k * 1000 + i
        with c.transaction():
            pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
            c.execute("SELECT pg_sleep(0.01)")
            assert c.execute("SELECT pg_backend_pid()").fetchone()[0] == pid
        # protocol-level prepared statements across server connections
        for i in range(20):
            got = c.execute("SELECT %s::int + 1", [i], prepare=True).fetchone()[0]
            assert got == i + 1


@pytest.mark.timeout(120)
def test_tls_and_plain_clients_share_a_transaction_pool(pgbalancer, pg):
    b = pgbalancer(ssl=True, ssl_cert=str(pg.pgb_crt), ssl_key=str(pg.pgb_key),
                   pool_mode="transaction", max_pool=2)
    calls = [BackgroundCall(_tx_worker, b, k, **({"sslmode": "require"} if k % 2 else
                                                  {"sslmode": "disable"}))
             for k in range(8)]
    for call in calls:
        call.result(100)
    b.assert_alive()


@pytest.mark.timeout(60)
def test_tls_client_idle_timeout_in_transaction_mode(pgbalancer, pg):
    b = pgbalancer(ssl=True, ssl_cert=str(pg.pgb_crt), ssl_key=str(pg.pgb_key),
                   pool_mode="transaction", client_idle_timeout="1s")
    with b.connect(sslmode="require") as c:
        c.execute("SELECT 1")
        time.sleep(3)
        with pytest.raises(psycopg.OperationalError):
            c.execute("SELECT 1")
    b.assert_alive()


@pytest.mark.timeout(120)
def test_backend_encryption_in_transaction_mode(pgbalancer, pg):
    b = pgbalancer(backend_encryption=True, backend_ssl_ca_cert=str(pg.ca_crt),
                   pool_mode="transaction", max_pool=2)
    calls = [BackgroundCall(_tx_worker, b, k) for k in range(6)]
    for call in calls:
        call.result(100)
    with b.connect() as c:
        assert ssl_row(c) is True
        rows = c.execute("SELECT repeat('q', 1000) FROM generate_series(1, 20000)").fetchall()
        assert len(rows) == 20000
    b.assert_alive()
