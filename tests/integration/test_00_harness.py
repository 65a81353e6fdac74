"""Checks of the test harness itself (PostgreSQL fixture); no pgbalancer needed."""
import psycopg
import pytest

from conftest import PASSWORDS, DBNAME


def test_cluster_scram_and_ssl(pg):
    with psycopg.connect(pg.direct_dsn("alice", sslmode="require"), autocommit=True) as c:
        assert c.execute("SELECT current_user, current_database()").fetchone() == ("alice", DBNAME)
        assert c.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()[0] is True
    with psycopg.connect(pg.direct_dsn("carol"), autocommit=True) as c:
        assert c.execute("SELECT current_user").fetchone()[0] == "carol"
    with psycopg.connect(pg.direct_dsn("dave"), autocommit=True) as c:
        assert c.execute("SELECT current_user").fetchone()[0] == "dave"
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg.direct_dsn("alice", password="nope"))


def test_cluster_verify_full(pg):
    with psycopg.connect(pg.direct_dsn("bob", sslmode="verify-full", sslrootcert=str(pg.ca_crt)),
                         autocommit=True) as c:
        assert c.pgconn.ssl_in_use


def test_raw_client_scram_and_md5(pg):
    import pgwire
    with pgwire.RawConn(pg.port) as r:
        assert r.startup("alice", DBNAME, PASSWORDS["alice"]) is None
        assert pgwire.AUTH_SASL in r.auth_codes
        rows, err = r.simple_query("SELECT 1, current_user")
        assert err is None and rows == [["1", "alice"]]
    with pgwire.RawConn(pg.port) as r:
        assert r.startup("carol", DBNAME, PASSWORDS["carol"]) is None
        assert pgwire.AUTH_MD5 in r.auth_codes
    with pgwire.RawConn(pg.port) as r:
        err = r.startup("alice", DBNAME, "wrong")
        assert err["C"] == "28P01"
