"""bctl against a real pgbalancer's REST API: every command as a table and as --json (compared with
a direct GET through urllib), tokens from the flag and from PGBALANCER_TOKEN, refusals (401, 403,
404, 409, 501) and their exit status, stop, an unreachable or silent server, usage errors, --help,
and HTTPS: against plain HTTP, and against a stand-in HTTPS server (Python's ssl) for certificate
and host name verification, since pgbalancer does not serve HTTPS yet."""
import http.server
import json
import os
import re
import socket
import ssl
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import BCTL_BIN, DBNAME, free_port, make_server_cert
from test_rest_api import SECRET, api, token  # noqa: F401 (api is a fixture)

# The fields docs/rest-api.md documents, in the order bctl shows them.
COLUMNS = {
    "nodes": ["id", "host", "port", "role", "status", "weight", "connections", "queries_routed"],
    "health": ["id", "host", "port", "status", "latency_ms", "checked_at", "error"],
    "pools": ["name", "database", "user", "clients_active", "clients_waiting", "servers_active",
              "servers_idle"],
    "clients": ["id", "user", "database", "application_name", "address", "state", "since", "tls",
                "backend_pid"],
    "servers": ["id", "node_id", "host", "port", "user", "database", "state", "since",
                "backend_pid", "tls"],
    "stats": ["pool", "database", "user", "queries", "transactions", "bytes_received",
              "bytes_sent", "query_time_avg_us", "query_time_p99_us", "transaction_time_avg_us",
              "wait_time_avg_us"],
}
COMMON_OPTIONS = ["--host", "--port", "--token", "--json", "--https", "--insecure", "--cacert",
                  "--timeout"]
# Values that may change between bctl's request and the test's own.
VOLATILE = {"uptime_seconds", "latency_ms", "checked_at"}


def bctl(*args, env_token=None, timeout=30):
    env = {k: v for k, v in os.environ.items() if k != "PGBALANCER_TOKEN"}
    if env_token is not None:
        env["PGBALANCER_TOKEN"] = env_token
    return subprocess.run([BCTL_BIN, *args], capture_output=True, text=True, timeout=timeout,
                          env=env)


def on(port, role="viewer"):
    """Options that point bctl at the test's API with a fresh token."""
    return ["-p", str(port), "--token", token(role)]


def get_json(port, path, tok):
    req = urllib.request.Request("http://127.0.0.1:%d/api/v1/%s" % (port, path),
                                 headers={"Authorization": "Bearer " + tok})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def steady(value):
    """`value` without the fields that tick between two requests."""
    if isinstance(value, dict):
        return {k: steady(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [steady(v) for v in value]
    return value


def parse_table(text):
    """psql's aligned format: header, dashes and +, rows, (N rows). Returns (headers, rows)."""
    lines = text.rstrip("\n").split("\n")
    headers = [h.strip() for h in lines[0].split("|")]
    assert re.fullmatch(r"-+(\+-+)*", lines[1]) and lines[1].count("+") == len(headers) - 1, text
    footer = re.fullmatch(r"\((\d+) rows?\)", lines[-1])
    assert footer, text
    rows = [[c.strip() for c in line.split("|")] for line in lines[2:-1]]
    assert int(footer.group(1)) == len(rows), text
    assert all(len(r) == len(headers) for r in rows), text
    return headers, rows


def parse_pairs(text, key_header="field"):
    """A key/value table (status, one node, config) as a dict."""
    lines = text.rstrip("\n").split("\n")
    assert [h.strip() for h in lines[0].split("|")] == [key_header, "value"], text
    assert re.fullmatch(r"-+\+-+", lines[1]), text
    pairs = {}
    for line in lines[2:]:
        key, value = line.split("|", 1)
        pairs[key.strip()] = value.strip()
    return pairs


def rows_as_dicts(text):
    headers, rows = parse_table(text)
    return headers, [dict(zip(headers, r)) for r in rows]


@pytest.fixture
def busy_api(api):
    """The API with one logged-in client that has run a query, so every list has something."""
    b, port = api
    with b.connect() as c:
        c.execute("SELECT 1")
        yield b, port


# --- reading -----------------------------------------------------------------------------

def test_status_as_pairs_and_json(busy_api):
    b, port = busy_api
    out = bctl("status", *on(port))
    assert out.returncode == 0, out.stderr
    pairs = parse_pairs(out.stdout)
    assert pairs["pool_mode"] == "session"
    assert pairs["client_connections"] == "1"
    assert pairs["pools"] == "1"
    assert pairs["version"]
    out = bctl("--json", "status", *on(port))
    assert out.returncode == 0, out.stderr
    assert steady(json.loads(out.stdout)) == steady(get_json(port, "status", token()))


def check_rows(command, rows, b, port):
    """Real values in each list, from the one client of busy_api."""
    pg_port = str(b.pg.port)
    if command == "nodes":
        assert [(r["id"], r["host"], r["port"], r["role"]) for r in rows] == \
            [("0", "127.0.0.1", pg_port, "primary")]
    elif command == "health":
        assert [(r["id"], r["host"], r["port"]) for r in rows] == [("0", "127.0.0.1", pg_port)]
    elif command == "pools":
        assert [(r["database"], r["user"], r["servers_active"]) for r in rows] == \
            [(DBNAME, "alice", "1")]
    elif command == "clients":
        assert [(r["user"], r["database"], r["tls"]) for r in rows] == [("alice", DBNAME, "false")]
        assert rows[0]["address"].startswith("127.0.0.1:")
    elif command == "servers":
        assert [(r["node_id"], r["port"], r["user"], r["database"]) for r in rows] == \
            [("0", pg_port, "alice", DBNAME)]
        assert int(rows[0]["backend_pid"]) in b.pg.backend_pids("alice")
    elif command == "stats":
        assert [(r["database"], r["user"]) for r in rows] == [(DBNAME, "alice")]
        assert int(rows[0]["queries"]) >= 1


@pytest.mark.parametrize("command", list(COLUMNS))
def test_list_as_table(busy_api, command):
    b, port = busy_api
    out = bctl(command, *on(port))
    assert out.returncode == 0, out.stderr
    headers, rows = rows_as_dicts(out.stdout)
    assert headers[:len(COLUMNS[command])] == COLUMNS[command]
    check_rows(command, rows, b, port)


@pytest.mark.parametrize("command", list(COLUMNS))
def test_list_as_json_is_what_the_api_says(busy_api, command):
    _, port = busy_api
    out = bctl(command, "--json", *on(port))
    assert out.returncode == 0, out.stderr
    assert steady(json.loads(out.stdout)) == steady(get_json(port, command, token()))


def test_numbers_right_text_left(busy_api):
    _, port = busy_api
    out = bctl("pools", *on(port))
    assert out.returncode == 0, out.stderr
    header, _, row = out.stdout.split("\n")[:3]
    cells = dict(zip([h.strip() for h in header.split("|")], row.split("|")))
    assert re.fullmatch(r" +1 ", cells["servers_active"]), row
    assert re.fullmatch(r" %s +" % DBNAME, cells["database"]), row


def test_one_node_as_pairs_and_json(busy_api):
    b, port = busy_api
    out = bctl("nodes", "0", *on(port))
    assert out.returncode == 0, out.stderr
    pairs = parse_pairs(out.stdout)
    assert (pairs["id"], pairs["host"], pairs["port"]) == ("0", "127.0.0.1", str(b.pg.port))
    out = bctl("nodes", "0", "--json", *on(port))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == get_json(port, "nodes/0", token())


def test_config_flattened_and_redacted(busy_api):
    b, port = busy_api
    out = bctl("config", *on(port))
    assert out.returncode == 0, out.stderr
    pairs = parse_pairs(out.stdout, "setting")
    assert pairs["port"] == str(b.port)
    assert pairs["rest_api.port"] == str(port)
    assert pairs["pool_mode"] == "session"
    assert pairs.get("rest_api.jwt_secret", "<redacted>") == "<redacted>"
    assert SECRET not in out.stdout
    out = bctl("config", "--json", *on(port))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == get_json(port, "config", token())


def test_empty_list_prints_header_and_0_rows(api):
    _, port = api  # nobody connected: no pools yet
    out = bctl("pools", *on(port))
    assert out.returncode == 0, out.stderr
    headers, rows = parse_table(out.stdout)
    assert rows == [] and out.stdout.endswith("(0 rows)\n")
    assert headers[:3] == ["name", "database", "user"]


# --- tokens and roles --------------------------------------------------------------------

def test_token_from_environment_and_flag_wins(api):
    _, port = api
    out = bctl("status", "-p", str(port), env_token=token())
    assert out.returncode == 0, out.stderr
    bad = "not-a-token"
    out = bctl("status", "-p", str(port), "--token", bad, env_token=token())
    assert out.returncode == 1 and "401 unauthorized" in out.stderr, out.stderr
    assert bad not in out.stderr + out.stdout
    out = bctl("status", "-p", str(port), "--token", token(), env_token=bad)
    assert out.returncode == 0, out.stderr


def test_missing_token_is_401(api):
    _, port = api
    out = bctl("pools", "-p", str(port))
    assert out.returncode == 1
    assert ("bctl: GET /api/v1/pools: 401 unauthorized: an Authorization: Bearer token is "
            "required") in out.stderr
    assert "PGBALANCER_TOKEN" in out.stderr  # says how to give one
    assert out.stdout == ""


def test_viewer_may_not_reload(api):
    _, port = api
    tok = token("viewer")
    out = bctl("reload", "-p", str(port), "--token", tok)
    assert out.returncode == 1
    assert "bctl: POST /api/v1/reload: 403 forbidden: this operation needs the admin role" \
        in out.stderr
    assert tok not in out.stderr


def test_admin_reload(api):
    b, port = api
    mark = b.log_mark()
    out = bctl("reload", *on(port, "admin"))
    assert out.returncode == 0, out.stderr
    assert out.stdout == "configuration reloaded\n"
    b.wait_log("reload complete", since=mark)
    out = bctl("reload", "--json", *on(port, "admin"))
    assert out.returncode == 0 and json.loads(out.stdout) == {"reloaded": True}, out.stderr


def test_reload_of_a_broken_file_lists_the_problems(api):
    b, port = api
    b.config_path.write_text(b.config_path.read_text() + "frobnicate: 1\nmax_pool: many\n")
    out = bctl("reload", *on(port, "admin"))
    assert out.returncode == 1
    lines = out.stderr.splitlines()
    assert lines[0].startswith("bctl: POST /api/v1/reload: 409 reload_failed: "), out.stderr
    problems = [line.strip() for line in lines[1:]]
    assert any("frobnicate" in p for p in problems), out.stderr
    assert any("max_pool" in p for p in problems), out.stderr
    b.assert_alive()


def test_logrotate(api):
    _, port = api
    out = bctl("logrotate", *on(port, "admin"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()
    out = bctl("logrotate", "--json", *on(port, "admin"))
    assert out.returncode == 0, out.stderr
    assert isinstance(json.loads(out.stdout)["reopened"], bool)


def test_stop(api):
    b, port = api
    out = bctl("stop", *on(port, "admin"))
    assert out.returncode == 0, out.stderr
    assert out.stdout == "pgbalancer is stopping\n"
    assert b.proc.wait(20) == 0
    b.stop()


# --- nodes -------------------------------------------------------------------------------

@pytest.mark.parametrize("action", ["attach", "detach", "promote", "recovery"])
def test_node_actions_are_not_built_yet(api, action):
    _, port = api
    out = bctl("nodes", action, "0", *on(port, "admin"))
    assert out.returncode == 1
    assert "bctl: POST /api/v1/nodes/0/%s: 501 not_implemented: " % action in out.stderr


def test_unknown_node_is_404(api):
    _, port = api
    out = bctl("nodes", "99", *on(port))
    assert out.returncode == 1
    assert "bctl: GET /api/v1/nodes/99: 404 " in out.stderr, out.stderr
    out = bctl("nodes", "detach", "99", *on(port, "admin"))
    assert out.returncode == 1
    assert "bctl: POST /api/v1/nodes/99/detach: 404 " in out.stderr, out.stderr


# --- no answer ---------------------------------------------------------------------------

def test_unreachable_port_says_where_and_why():
    port = free_port()
    tok = token()
    out = bctl("status", "-p", str(port), "--token", tok)
    assert out.returncode == 1
    assert out.stderr == "bctl: cannot reach pgbalancer at http://127.0.0.1:%d: Connection " \
                         "refused\n" % port
    assert tok not in out.stderr


def test_silent_server_times_out():
    with socket.socket() as s:  # listens (the kernel completes the handshake) but never answers
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        started = time.monotonic()
        out = bctl("status", "-p", str(port), "--timeout", "1", "--token", token())
        elapsed = time.monotonic() - started
    assert out.returncode == 1
    assert "cannot reach pgbalancer at http://127.0.0.1:%d: timed out after 1 s" % port \
        in out.stderr
    assert 0.9 <= elapsed < 5


def test_https_against_plain_http_fails_cleanly(api):
    b, port = api
    out = bctl("status", "--https", *on(port))
    assert out.returncode == 1
    assert out.stderr.startswith("bctl: cannot reach pgbalancer at https://127.0.0.1:%d: TLS "
                                 "handshake failed" % port), out.stderr
    assert "--https" in out.stderr  # the hint
    assert len(out.stderr.splitlines()) == 1 and out.stdout == ""
    b.assert_alive()


# --- HTTPS, against a stand-in server ----------------------------------------------------

class _CannedStatus(http.server.BaseHTTPRequestHandler):
    seen_authorization = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        _CannedStatus.seen_authorization.append(self.headers.get("Authorization"))
        body = json.dumps({"version": "9.9.9", "pool_mode": "transaction"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def https_server(pg, tmp_path):
    """A TLS server on 127.0.0.1 with a certificate from the test CA (SAN localhost, 127.0.0.1),
    answering every GET with a canned status. Yields a function that restarts it with another
    certificate, and returns its port."""
    servers = []

    def serve(crt=pg.pgb_crt, key=pg.pgb_key):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CannedStatus)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(crt), str(key))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1]

    _CannedStatus.seen_authorization.clear()
    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def test_https_verifies_against_the_given_ca(pg, https_server):
    port = https_server()
    tok = token()
    for host in ("127.0.0.1", "localhost"):
        out = bctl("status", "--https", "--cacert", str(pg.ca_crt), "-H", host, "-p", str(port),
                   "--token", tok)
        assert out.returncode == 0, out.stderr
        assert parse_pairs(out.stdout)["version"] == "9.9.9"
    assert _CannedStatus.seen_authorization == ["Bearer " + tok] * 2


def test_https_refuses_an_unknown_ca_unless_insecure(pg, https_server):
    port = https_server()
    out = bctl("status", "--https", *on(port))  # the system store does not know the test CA
    assert out.returncode == 1
    assert "certificate verify failed" in out.stderr and "--insecure" in out.stderr, out.stderr
    out = bctl("status", "--https", "--cacert", str(pg.other_ca_crt), *on(port))
    assert out.returncode == 1 and "certificate verify failed" in out.stderr, out.stderr
    assert _CannedStatus.seen_authorization == []  # the token never left
    out = bctl("status", "--https", "--insecure", *on(port))
    assert out.returncode == 0, out.stderr


def test_https_checks_the_host_name(pg, https_server, tmp_path):
    key, crt = make_server_cert(tmp_path, "elsewhere", pg.ca_key, pg.ca_crt, cn="elsewhere",
                                san="DNS:elsewhere.example")
    port = https_server(crt, key)
    out = bctl("status", "--https", "--cacert", str(pg.ca_crt), *on(port))
    assert out.returncode == 1
    assert "certificate verify failed: IP address mismatch" in out.stderr, out.stderr
    out = bctl("status", "--https", "--cacert", str(pg.ca_crt), "-H", "localhost", *on(port))
    assert out.returncode == 1
    assert "certificate verify failed: hostname mismatch" in out.stderr, out.stderr
    assert _CannedStatus.seen_authorization == []


# --- the command line --------------------------------------------------------------------

COMMANDS = [["status"], ["nodes"], ["nodes", "attach"], ["nodes", "detach"], ["nodes", "promote"],
            ["nodes", "recovery"], ["health"], ["pools"], ["clients"], ["servers"], ["stats"],
            ["config"], ["reload"], ["logrotate"], ["stop"]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_of_each_command(command):
    out = bctl(*command, "--help")
    assert out.returncode == 0, out.stderr
    for option in COMMON_OPTIONS:
        assert option in out.stdout, (option, out.stdout)
    if command[0] == "nodes":
        assert "ID" in out.stdout


def test_help_lists_every_command():
    out = bctl("--help")
    assert out.returncode == 0
    for command in sorted({c[0] for c in COMMANDS} | {"token"}):
        assert re.search(r"^\s+%s\s" % command, out.stdout, re.M), (command, out.stdout)


@pytest.mark.parametrize("args", [
    ["frobnicate"],
    ["status", "--frobnicate"],
    ["status", "extra"],
    ["nodes", "attach"],
    ["nodes", "attach", "zero"],
    ["nodes", "detach", "1.5"],
    ["nodes", "-1"],
    ["nodes", "banana"],
    ["status", "--port", "0"],
    ["status", "--port", "http"],
    ["status", "--timeout", "0"],
    ["status", "--insecure"],
    ["status", "--cacert", "/no/such/file", "--https"],
    ["status", "--token", "two\r\nlines"],
])
def test_usage_errors_exit_2(args):
    out = bctl(*args)
    assert out.returncode == 2, (args, out.stdout, out.stderr)
    assert out.stdout == ""
    assert out.stderr.strip()
    assert "two\r\nlines" not in out.stderr
