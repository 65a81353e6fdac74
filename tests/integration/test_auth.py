"""Client authentication (scram-sha-256, md5, password, trust) and backend login."""

import psycopg
import pytest

import pgwire
from conftest import (DBNAME, PASSWORDS, WRONG_PASSWORD, BackgroundCall, default_pgpass,
                      md5_secret)


def assert_no_secrets_in_log(b):
    log = b.log()
    for pw in list(PASSWORDS.values()) + [WRONG_PASSWORD]:
        assert pw not in log, "password %r appears in pgbalancer's log" % pw
    # SCRAM secrets / md5 hashes are credentials too
    for secret in list(b.pg.scram_secrets.values()) + list(b.pg.md5_secrets.values()):
        assert secret not in log, "stored secret appears in pgbalancer's log"


def raw_login(b, user, password, **params):
    with b.raw() as r:
        err = r.startup(user, DBNAME, password, **params)
        codes = list(r.auth_codes)
        if err is None:
            rows, qerr = r.simple_query("SELECT current_user, session_user")
            assert qerr is None, qerr
            assert rows == [[user, user]]
        return err, codes


def assert_auth_failed(b, user, password, expected_request):
    err, codes = raw_login(b, user, password)
    assert err is not None, "login with a wrong password succeeded"
    assert codes and codes[0] == expected_request, codes
    assert err["C"] == "28P01", err
    assert err["M"] == 'password authentication failed for user "%s"' % user, err
    assert err.get("S") in ("FATAL", "ERROR"), err
    with pytest.raises(psycopg.OperationalError,
                       match='password authentication failed for user "%s"' % user):
        b.connect(user, password=password)


def whoami(b, user, **kw):
    with b.connect(user, **kw) as c:
        return c.execute("SELECT current_user, current_database()").fetchone()


# ---- SCRAM -------------------------------------------------------------------

def test_scram_pass_through(pgbalancer, pg):
    """alice's auth_file entry is the SCRAM secret copied from pg_authid and there is
    no pgpass: the backend login must use SCRAM pass-through."""
    b = pgbalancer(users={"alice": pg.scram_secrets["alice"]}, log_level="debug")
    assert whoami(b, "alice") == ("alice", DBNAME)
    err, codes = raw_login(b, "alice", PASSWORDS["alice"])  # also verifies the server signature
    assert err is None, err
    assert codes == [pgwire.AUTH_SASL, pgwire.AUTH_SASL_CONTINUE, pgwire.AUTH_SASL_FINAL,
                     pgwire.AUTH_OK], codes
    assert_no_secrets_in_log(b)


def test_scram_plaintext_auth_file(pgbalancer):
    """bob's auth_file entry is plaintext: SCRAM towards the client, backend login with it."""
    b = pgbalancer(users={"bob": PASSWORDS["bob"]})
    assert whoami(b, "bob") == ("bob", DBNAME)
    err, codes = raw_login(b, "bob", PASSWORDS["bob"])
    assert err is None, err
    assert codes[0] == pgwire.AUTH_SASL
    assert_no_secrets_in_log(b)


def test_scram_wrong_password(pgbalancer):
    b = pgbalancer(log_level="debug")
    assert_auth_failed(b, "alice", WRONG_PASSWORD, pgwire.AUTH_SASL)
    assert_auth_failed(b, "bob", WRONG_PASSWORD, pgwire.AUTH_SASL)
    # a correct login still works afterwards
    assert whoami(b, "alice") == ("alice", DBNAME)
    assert_no_secrets_in_log(b)


def test_scram_many_logins(balancer):
    """Nonces, salts and proofs must be right every time, also concurrently."""
    for _ in range(10):
        assert whoami(balancer, "alice") == ("alice", DBNAME)
    calls = [BackgroundCall(whoami, balancer, u) for u in ("alice", "bob") * 4]
    for c, u in zip(calls, ("alice", "bob") * 4):
        assert c.result(60) == (u, DBNAME)


def test_unknown_user_rejected(balancer):
    err, codes = raw_login(balancer, "mallory", WRONG_PASSWORD)
    assert err is not None, "unknown user was let in"
    assert err["C"].startswith("28"), err
    with pytest.raises(psycopg.OperationalError):
        balancer.connect("mallory", password=WRONG_PASSWORD)
    assert_no_secrets_in_log(balancer)


def test_missing_password_rejected(balancer):
    with balancer.raw() as r:
        r.send(pgwire.startup_packet({"user": "alice", "database": DBNAME}))
        kind, payload = r.read_msg()
        assert kind == b"R"
        # answer the SASL request with an empty/garbage message
        r.send(pgwire.message(b"p", b"SCRAM-SHA-256\0" + b"\xff\xff\xff\xff"))
        outcome, fields = r.read_until_eof_or_error(15)
        assert outcome in ("error", "eof"), outcome
        if fields:
            assert fields["C"].startswith("28") or fields["C"].startswith("08"), fields
    balancer.assert_alive()
    assert whoami(balancer, "alice") == ("alice", DBNAME)


def test_scram_bad_client_proof_in_raw_exchange(balancer):
    """A client that sends a wrong proof must not be authenticated."""
    with balancer.raw() as r:
        err = r.startup("alice", DBNAME, "not-" + PASSWORDS["alice"])
        assert err is not None and err["C"] == "28P01", err


# ---- md5 ---------------------------------------------------------------------

def test_md5_hash_in_auth_file_backend_via_pgpass(pgbalancer, pg):
    """carol: md5 hash in the auth_file; PostgreSQL stores md5 (pg_hba md5);
    pgbalancer logs in to the backend with the plaintext from the pgpass file."""
    b = pgbalancer(auth_type="md5", users={"carol": pg.md5_secrets["carol"]},
                   pgpass=default_pgpass(pg), log_level="debug")
    assert whoami(b, "carol") == ("carol", DBNAME)
    err, codes = raw_login(b, "carol", PASSWORDS["carol"])
    assert err is None, err
    assert codes == [pgwire.AUTH_MD5, pgwire.AUTH_OK], codes
    assert_auth_failed(b, "carol", WRONG_PASSWORD, pgwire.AUTH_MD5)
    assert_no_secrets_in_log(b)


def test_md5_client_scram_backend(pgbalancer, pg):
    """bob: md5 towards the client (hash in the auth_file), SCRAM towards PostgreSQL
    with the plaintext password from the pgpass file."""
    b = pgbalancer(auth_type="md5", users={"bob": md5_secret("bob", PASSWORDS["bob"])},
                   pgpass=default_pgpass(pg))
    assert whoami(b, "bob") == ("bob", DBNAME)
    assert_auth_failed(b, "bob", WRONG_PASSWORD, pgwire.AUTH_MD5)
    assert_no_secrets_in_log(b)


def test_md5_plaintext_auth_file(pgbalancer):
    """bob: plaintext in the auth_file is enough for md5 client auth and backend login."""
    b = pgbalancer(auth_type="md5", users={"bob": PASSWORDS["bob"]})
    assert whoami(b, "bob") == ("bob", DBNAME)
    err, codes = raw_login(b, "bob", PASSWORDS["bob"])
    assert err is None and codes[0] == pgwire.AUTH_MD5, (err, codes)
    assert_no_secrets_in_log(b)


def test_md5_salt_is_random(pgbalancer):
    b = pgbalancer(auth_type="md5", users={"bob": PASSWORDS["bob"]})
    salts = set()
    for _ in range(5):
        with b.raw() as r:
            r.send(pgwire.startup_packet({"user": "bob", "database": DBNAME}))
            kind, payload = r.read_msg()
            assert kind == b"R" and payload[:4] == b"\0\0\0\x05", (kind, payload)
            salts.add(payload[4:8])
    assert len(salts) >= 4, "md5 salt is not random: %r" % salts


# ---- password ------------------------------------------------------------------

def test_password_auth(pgbalancer):
    b = pgbalancer(auth_type="password", users={"bob": PASSWORDS["bob"]}, log_level="debug")
    assert whoami(b, "bob") == ("bob", DBNAME)
    err, codes = raw_login(b, "bob", PASSWORDS["bob"])
    assert err is None and codes == [pgwire.AUTH_CLEARTEXT, pgwire.AUTH_OK], (err, codes)
    assert_auth_failed(b, "bob", WRONG_PASSWORD, pgwire.AUTH_CLEARTEXT)
    assert_no_secrets_in_log(b)


def test_password_auth_md5_auth_file(pgbalancer, pg):
    """Cleartext from the client can be checked against an md5 hash in the auth_file."""
    b = pgbalancer(auth_type="password", users={"carol": pg.md5_secrets["carol"]},
                   pgpass=default_pgpass(pg))
    assert whoami(b, "carol") == ("carol", DBNAME)
    assert_auth_failed(b, "carol", WRONG_PASSWORD, pgwire.AUTH_CLEARTEXT)


# ---- trust ---------------------------------------------------------------------

def test_trust(pgbalancer, pg):
    b = pgbalancer(auth_type="trust", users={"bob": PASSWORDS["bob"], "carol": PASSWORDS["carol"]})
    assert whoami(b, "bob", password="") == ("bob", DBNAME)
    assert whoami(b, "carol", password="") == ("carol", DBNAME)
    err, codes = raw_login(b, "bob", None)
    assert err is None and codes == [pgwire.AUTH_OK], (err, codes)


def test_wrong_backend_password_reports_error(pgbalancer):
    """The auth_file has a plaintext password PostgreSQL does not accept: the client
    must get an error (not a hang, not a successful login)."""
    b = pgbalancer(auth_type="password", users={"bob": "not-bobs-real-password"})
    with b.raw(timeout=30) as r:
        try:
            err = r.startup("bob", DBNAME, "not-bobs-real-password")
            if err is None:
                rows, err = r.simple_query("SELECT 1")
        except pgwire.WireError:
            err = {"C": "closed"}
    assert err is not None, "login succeeded although PostgreSQL rejects the password"
    b.assert_alive()


# ---- passwords that need escaping / SASLprep ---------------------------------------

def test_special_password_scram_plaintext_auth_file(pgbalancer, pg):
    """dave's password has non-ASCII, double quotes (\"\" in the userlist), ':' and '\\'."""
    b = pgbalancer(users={"dave": PASSWORDS["dave"]})
    assert whoami(b, "dave") == ("dave", DBNAME)
    err, _ = raw_login(b, "dave", PASSWORDS["dave"])
    assert err is None, err
    r = b.psql("SELECT current_user", user="dave")
    assert r.stdout.strip() == "dave"
    assert_auth_failed(b, "dave", PASSWORDS["dave"][:-1], pgwire.AUTH_SASL)
    assert_no_secrets_in_log(b)


def test_special_password_scram_pass_through(pgbalancer, pg):
    b = pgbalancer(users={"dave": pg.scram_secrets["dave"]})
    assert whoami(b, "dave") == ("dave", DBNAME)


def test_special_password_md5_and_pgpass(pgbalancer, pg):
    """md5 client auth against a hash; backend login with the pgpass entry, whose
    ':' and '\\' are backslash-escaped as libpq's .pgpass format requires."""
    b = pgbalancer(auth_type="md5", users={"dave": md5_secret("dave", PASSWORDS["dave"])},
                   pgpass=default_pgpass(pg))
    assert whoami(b, "dave") == ("dave", DBNAME)
    assert_no_secrets_in_log(b)
