"""The REST API and /metrics over real HTTP: JWT authentication (tokens from bctl and forged with
PyJWT), roles, status codes, keep-alive, reload, and the Prometheus exposition checked with
prometheus_client's parser (Debian's python3-prometheus-client)."""
import http.client
import json
import socket
import subprocess
import time
from pathlib import Path

import jwt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import PGBALANCER_BIN, Raw, free_port, wait_for

SECRET = "your-256-bit-secret-key-here-change-this"  # the security policy's example block
BCTL = str(Path(PGBALANCER_BIN).with_name("bctl"))


def rest_block(port, secret=SECRET, **extra):
    lines = ["", "  enabled: true", "  port: %d" % port, "  bind_address: '127.0.0.1'"]
    if secret is not None:
        lines.append("  jwt_secret: '%s'" % secret)
    lines += ["  %s: %s" % (k, v) for k, v in extra.items()]
    return Raw("\n".join(lines))


@pytest.fixture
def api(pgbalancer):
    """A running pgbalancer with the REST API; returns (balancer, api_port)."""
    port = free_port()
    b = pgbalancer(rest_api=rest_block(port, jwt_enabled="true"))
    wait_for(lambda: _listening(port), message="REST API to listen")
    return b, port


def _listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def token(role="viewer", secret=SECRET, **claims):
    now = int(time.time())
    payload = {"role": role, "iat": now, "exp": now + 300, **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


def request(port, method, path, tok=None, conn=None, headers=None):
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    h = dict(headers or {})
    if tok:
        h["Authorization"] = "Bearer " + tok
    conn.request(method, path, headers=h)
    resp = conn.getresponse()
    body = resp.read().decode()
    if own:
        conn.close()
    return resp, body


def test_security_policy_block_status_and_pools(api):
    b, port = api
    with b.connect() as c:  # one pooled client, so there is a pool to show
        c.execute("SELECT 1")
        resp, body = request(port, "GET", "/api/v1/status", token())
        assert resp.status == 200, body
        assert resp.getheader("Content-Type") == "application/json"
        status = json.loads(body)
        assert status["pool_mode"] == "session"
        assert status["client_connections"] == 1
        assert status["pools"] == 1
        assert status["server_connections_active"] == 1
        assert status["uptime_seconds"] >= 0
        resp, body = request(port, "GET", "/api/v1/pools", token())
        pools = json.loads(body)
        assert resp.status == 200
        assert [(p["user"], p["servers_active"]) for p in pools] == [("alice", 1)]


def test_bctl_token_is_accepted(api):
    _, port = api
    out = subprocess.run([BCTL, "token", "--jwt-secret", SECRET, "--role", "viewer"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    resp, body = request(port, "GET", "/api/v1/status", out.stdout.strip())
    assert resp.status == 200, body


@pytest.mark.parametrize("forgery", [
    "missing", "none", "rs256", "wrong_key", "tampered", "expired", "not_yet_valid",
    "no_role", "unknown_role", "garbage",
])
def test_forged_tokens_get_401(api, forgery):
    b, port = api
    now = int(time.time())
    if forgery == "missing":
        tok = None
    elif forgery == "none":
        tok = jwt.encode({"role": "admin", "exp": now + 300}, None, algorithm="none")
    elif forgery == "rs256":  # HS/RS confusion: an HMAC made with the secret, header says RS256
        good = token("admin")
        header = jwt.utils.base64url_encode(b'{"alg":"RS256","typ":"JWT"}').decode()
        signed = header + "." + good.split(".")[1]
        import hmac, hashlib
        sig = hmac.new(SECRET.encode(), signed.encode(), hashlib.sha256).digest()
        tok = signed + "." + jwt.utils.base64url_encode(sig).decode()
    elif forgery == "wrong_key":
        tok = token("admin", secret="another-secret-that-is-long-enough-32")
    elif forgery == "tampered":
        viewer = token("viewer").split(".")
        admin_payload = token("admin").split(".")[1]
        tok = ".".join([viewer[0], admin_payload, viewer[2]])
    elif forgery == "expired":
        tok = jwt.encode({"role": "admin", "exp": now - 3600}, SECRET, algorithm="HS256")
    elif forgery == "not_yet_valid":
        tok = token("admin", nbf=now + 3600)
    elif forgery == "no_role":
        tok = jwt.encode({"exp": now + 300}, SECRET, algorithm="HS256")
    elif forgery == "unknown_role":
        tok = token("root")
    else:
        tok = "not-a-token"
    mark = b.log_mark()
    started = time.monotonic()
    resp, body = request(port, "GET", "/api/v1/status", tok)
    assert resp.status == 401, body
    assert time.monotonic() - started >= 0.2  # failed authentications are slowed down
    assert resp.getheader("WWW-Authenticate") == "Bearer"
    err = json.loads(body)
    assert err["error"] == "unauthorized" and err["message"]
    log = b.log_since(mark)
    assert "127.0.0.1" in log  # logged with the source address
    if tok:
        assert tok not in log  # but not the token


def test_roles_and_methods(api):
    _, port = api
    resp, body = request(port, "POST", "/api/v1/reload", token("viewer"))
    assert resp.status == 403, body
    assert json.loads(body)["error"] == "forbidden"
    resp, body = request(port, "POST", "/api/v1/status", token("admin"))
    assert resp.status == 405 and resp.getheader("Allow") == "GET", body
    resp, body = request(port, "DELETE", "/api/v1/status", token("admin"))
    assert resp.status == 405, body
    resp, body = request(port, "GET", "/api/v1/reload", token("admin"))
    assert resp.status == 405 and resp.getheader("Allow") == "POST", body
    resp, body = request(port, "GET", "/api/v1/no-such-thing", token())
    assert resp.status == 404 and json.loads(body)["error"] == "not_found", body
    resp, body = request(port, "GET", "/api/v1/logrotate", token("admin"))
    assert resp.status == 405 and resp.getheader("Allow") == "POST", body
    resp, body = request(port, "POST", "/api/v1/logrotate", token("viewer"))
    assert resp.status == 403, body
    for path in ("/api/v1/config", "/api/v1/clients", "/api/v1/servers", "/api/v1/stats",
                 "/api/v1/health", "/api/v1/pools", "/api/v1/nodes", "/api/v1/nodes/0"):
        resp, body = request(port, "POST", path, token("admin"))
        assert resp.status == 405 and resp.getheader("Allow") == "GET", (path, body)


def test_reload_over_the_api(api):
    b, port = api
    b.config["log_level"] = "debug"
    b.write_files()
    mark = b.log_mark()
    resp, body = request(port, "POST", "/api/v1/reload", token("admin"))
    assert resp.status == 200 and json.loads(body) == {"reloaded": True}, body
    b.wait_log("reload complete", since=mark)
    # A broken file: 409, the problems listed, the old settings kept, pgbalancer still serving.
    text = b.config_path.read_text()
    b.config_path.write_text(text + "frobnicate: 1\n")
    resp, body = request(port, "POST", "/api/v1/reload", token("admin"))
    assert resp.status == 409, body
    err = json.loads(body)
    assert err["error"] == "reload_failed"
    assert any("frobnicate" in p for p in err["problems"])
    with b.connect() as c:
        assert c.execute("SELECT 1").fetchone() == (1,)


def test_keep_alive_serves_many_requests_on_one_connection(api):
    _, port = api
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    tok = token()
    for _ in range(5):
        resp, _ = request(port, "GET", "/api/v1/status", tok, conn=conn)
        assert resp.status == 200
        assert not resp.will_close
    conn.close()


def test_malformed_http_gets_400_and_pgbalancer_carries_on(api):
    b, port = api
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
        reply = s.recv(4096).decode(errors="replace")
    assert reply.startswith("HTTP/1.1 400"), reply
    resp, _ = request(port, "GET", "/api/v1/status", token())
    assert resp.status == 200
    b.assert_alive()


def test_metrics_parse_as_prometheus_exposition(api):
    b, port = api
    with b.connect() as c:
        c.execute("SELECT 1")
        resp, body = request(port, "GET", "/metrics")  # no token needed
    assert resp.status == 200, body
    assert resp.getheader("Content-Type").startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(body)}
    assert families["pgbalancer_up"].samples[0].value == 1
    assert families["pgbalancer_uptime_seconds"].samples[0].value >= 0
    assert families["pgbalancer_client_connections"].samples[0].value == 1
    active = families["pgbalancer_pool_connections_active"].samples
    assert [(s.labels["user"], s.value) for s in active] == [("alice", 1)]
    for name in ("pgbalancer_pool_connections_idle", "pgbalancer_pool_connections_waiting"):
        assert families[name].type == "gauge"


@pytest.mark.parametrize("secret,message", [
    ("short-secret", "HS256 needs at least 32"),
    (None, "jwt_enabled needs jwt_secret or jwt_secret_file"),
])
def test_weak_secret_refuses_to_start(pgbalancer, secret, message):
    b = pgbalancer(start=False, rest_api=rest_block(free_port(), secret=secret))
    out = subprocess.run([PGBALANCER_BIN, "-f", str(b.config_path)], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 1
    assert message in out.stderr
    if secret:
        assert secret not in out.stderr


def test_without_jwt_only_loopback_unless_allowed(pgbalancer):
    b = pgbalancer(start=False, rest_api=Raw("\n  enabled: true\n  jwt_enabled: false\n"
                                              "  bind_address: '0.0.0.0'"))
    out = subprocess.run([PGBALANCER_BIN, "--check", "-f", str(b.config_path)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "loopback only" in out.stderr


def test_without_jwt_on_loopback_no_token_needed(pgbalancer):
    port = free_port()
    pgbalancer(rest_api=rest_block(port, secret=None, jwt_enabled="false"))
    wait_for(lambda: _listening(port), message="REST API to listen")
    resp, body = request(port, "POST", "/api/v1/reload")
    assert resp.status == 200, body


def test_port_in_use_is_a_clear_start_up_error(pgbalancer):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        b = pgbalancer(start=False, rest_api=rest_block(port))
        out = subprocess.run([PGBALANCER_BIN, "-f", str(b.config_path)], capture_output=True,
                             text=True, timeout=30)
    assert out.returncode == 1
    assert "REST API cannot listen on 127.0.0.1:%d" % port in out.stdout + out.stderr


def test_stop_shuts_down_gracefully(api):
    b, port = api
    resp, body = request(port, "POST", "/api/v1/stop", token("viewer"))
    assert resp.status == 403, body
    resp, body = request(port, "GET", "/api/v1/stop", token("admin"))
    assert resp.status == 405, body
    b.assert_alive()
    resp, body = request(port, "POST", "/api/v1/stop", token("admin"))
    assert resp.status == 202 and json.loads(body) == {"stopping": True}, body
    assert b.proc.wait(20) == 0
    b.stop()
    assert "stop requested through the REST API, shutting down" in b.log()


def test_https_with_ssl_cert_and_ssl_key(pgbalancer, pg):
    import ssl
    port = free_port()
    b = pgbalancer(rest_api=rest_block(port, ssl_cert="'%s'" % pg.pgb_crt,
                                       ssl_key="'%s'" % pg.pgb_key))
    wait_for(lambda: _listening(port), message="REST API to listen")
    context = ssl.create_default_context(cafile=str(pg.ca_crt))
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    for _ in range(2):  # keep-alive over TLS
        resp, body = request(port, "GET", "/api/v1/status", token(), conn=conn)
        assert resp.status == 200 and json.loads(body)["version"], body
    conn.close()
    # Plain HTTP to the HTTPS port gets no answer, and nothing else breaks.
    mark = b.log_mark()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n\r\n")
        assert not s.recv(4096).startswith(b"HTTP/")
    b.wait_log("TLS handshake with 127.0.0.1", since=mark)
    out = subprocess.run([BCTL, "status", "--https", "--cacert", str(pg.ca_crt), "-p", str(port),
                          "--token", token()], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    resp, body = request(port, "GET", "/metrics", conn=http.client.HTTPSConnection(
        "localhost", port, timeout=10, context=context))
    assert resp.status == 200 and "pgbalancer_up 1" in body
    b.assert_alive()


def test_https_with_a_broken_key_refuses_to_start(pgbalancer, pg, tmp_path):
    broken = tmp_path / "broken.key"
    broken.write_text("not a key\n")
    b = pgbalancer(start=False, rest_api=rest_block(free_port(), ssl_cert="'%s'" % pg.pgb_crt,
                                                     ssl_key="'%s'" % broken))
    out = subprocess.run([PGBALANCER_BIN, "-f", str(b.config_path)], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 1
    assert "REST API" in out.stdout + out.stderr
