"""Hostile / malformed authentication exchanges: never authenticated, never a crash."""

import base64
import hashlib
import hmac
import os
import struct

import pytest

import pgwire
from conftest import DBNAME, PASSWORDS


def _hmac(k, m):
    return hmac.new(k, m, hashlib.sha256).digest()


def begin(b, user="alice"):
    r = b.raw(timeout=15)
    r.send(pgwire.startup_packet({"user": user, "database": DBNAME}))
    kind, payload = r.read_msg()
    assert kind == b"R", kind
    return r, struct.unpack("!I", payload[:4])[0], payload


def sasl_initial(mech, data):
    return pgwire.message(b"p", mech.encode() + b"\0" + struct.pack("!i", len(data)) + data)


def expect_rejected(r, timeout=15):
    """Read until error/EOF; fail on AuthenticationOk."""
    while True:
        try:
            m = r.read_msg()
        except (OSError, pgwire.WireError):
            return None
        if m is None:
            return None
        kind, payload = m
        if kind == b"E":
            return pgwire.parse_error_fields(payload)
        if kind == b"R" and struct.unpack("!I", payload[:4])[0] == pgwire.AUTH_OK:
            pytest.fail("client was authenticated by a malformed exchange")
        if kind == b"R":
            # e.g. SASLContinue: the exchange went on; stop here and check it cannot succeed
            return "continued"


def scram_final(password, client_first_bare, server_first, cbind=b"biws", nonce=None,
                proof_override=None):
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    ck = _hmac(salted, b"Client Key")
    sk = hashlib.sha256(ck).digest()
    without = "c=%s,r=%s" % (cbind.decode(), nonce or attrs["r"])
    am = ",".join([client_first_bare, server_first, without]).encode()
    proof = bytes(a ^ b for a, b in zip(ck, _hmac(sk, am)))
    p = proof_override if proof_override is not None else base64.b64encode(proof).decode()
    return (without + ",p=" + p).encode()


@pytest.mark.parametrize("first", [
    b"",
    b"n,,",
    b"n,,n=,r=",                                # empty nonce
    b"p=tls-server-end-point,,n=,r=abcdef",     # channel binding without TLS
    b"x,,n=,r=abcdef",                          # bad gs2 flag
    b"n,,r=abcdef",                             # missing n=
    b"n,,n=,r=abc,m=ext",                       # mandatory extension
    b"\xff\xfe" * 200,
    b"n,a=someone,n=,r=" + b"A" * 5000,
])
def test_malformed_client_first(balancer, first):
    r, code, _ = begin(balancer)
    assert code == pgwire.AUTH_SASL
    r.send(sasl_initial("SCRAM-SHA-256", first))
    res = expect_rejected(r)
    if res == "continued":
        # the server accepted the first message; the exchange must still not succeed
        r.send(pgwire.message(b"p", b"c=biws,r=x,p=AAAA"))
        assert expect_rejected(r) != "continued"
    r.close()
    balancer.assert_alive()


def test_unknown_sasl_mechanism(balancer):
    r, code, _ = begin(balancer)
    r.send(sasl_initial("SCRAM-SHA-1", b"n,,n=,r=abcdef"))
    assert expect_rejected(r) != "continued"
    r.close()
    balancer.assert_alive()


@pytest.mark.parametrize("variant", ["wrong_nonce", "cbind_mismatch", "bad_b64_proof",
                                     "short_proof", "empty", "missing_proof"])
def test_malformed_client_final(balancer, variant):
    password = PASSWORDS["alice"]
    r, code, _ = begin(balancer)
    nonce = base64.b64encode(os.urandom(18)).decode()
    bare = "n=,r=" + nonce
    r.send(sasl_initial("SCRAM-SHA-256", ("n,," + bare).encode()))
    kind, payload = r.read_msg()
    assert kind == b"R" and struct.unpack("!I", payload[:4])[0] == pgwire.AUTH_SASL_CONTINUE
    server_first = payload[4:].decode()
    if variant == "wrong_nonce":
        final = scram_final(password, bare, server_first, nonce=nonce + "tampered")
    elif variant == "cbind_mismatch":
        # gs2 header was "n,," (= biws) but client-final claims "y,,"
        final = scram_final(password, bare, server_first, cbind=base64.b64encode(b"y,,"))
    elif variant == "bad_b64_proof":
        final = scram_final(password, bare, server_first, proof_override="!!!notbase64!!!")
    elif variant == "short_proof":
        final = scram_final(password, bare, server_first, proof_override="AAAA")
    elif variant == "missing_proof":
        final = scram_final(password, bare, server_first).split(b",p=")[0]
    else:
        final = b""
    r.send(pgwire.message(b"p", final))
    res = expect_rejected(r)
    assert res != "continued", "server went on after a bad client-final-message"
    if isinstance(res, dict):
        assert res["C"] in ("28P01", "08P01", "28000"), res
    r.close()
    balancer.assert_alive()


def test_correct_scram_by_hand_still_works(balancer):
    """Sanity check for the hand-made exchange above (same code path, valid input)."""
    r, code, _ = begin(balancer)
    nonce = base64.b64encode(os.urandom(18)).decode()
    bare = "n=,r=" + nonce
    r.send(sasl_initial("SCRAM-SHA-256", ("n,," + bare).encode()))
    kind, payload = r.read_msg()
    r.send(pgwire.message(b"p", scram_final(PASSWORDS["alice"], bare, payload[4:].decode())))
    kinds = []
    while True:
        kind, payload = r.read_msg()
        kinds.append(kind)
        assert kind != b"E", pgwire.parse_error_fields(payload)
        if kind == b"Z":
            break
    r.close()


@pytest.mark.parametrize("response", [b"", b"\0", b"md5", b"md5zzzz\0", b"md5" + b"0" * 200 + b"\0"])
def test_malformed_md5_response(pgbalancer, response):
    b = pgbalancer(auth_type="md5", users={"bob": PASSWORDS["bob"]})
    r, code, _ = begin(b, "bob")
    assert code == pgwire.AUTH_MD5
    r.send(pgwire.message(b"p", response))
    res = expect_rejected(r)
    assert res != "continued"
    r.close()
    b.assert_alive()


@pytest.mark.parametrize("response", [b"", b"\0", b"no-terminator", b"x" * 100000 + b"\0"])
def test_malformed_cleartext_response(pgbalancer, response):
    b = pgbalancer(auth_type="password", users={"bob": PASSWORDS["bob"]})
    r, code, _ = begin(b, "bob")
    assert code == pgwire.AUTH_CLEARTEXT
    r.send(pgwire.message(b"p", response))
    res = expect_rejected(r)
    assert res != "continued"
    r.close()
    b.assert_alive()


def test_wrong_message_type_during_auth(balancer):
    r, code, _ = begin(balancer)
    r.send(pgwire.query_message("SELECT 1"))
    assert expect_rejected(r) != "continued"
    r.close()
    balancer.assert_alive()
