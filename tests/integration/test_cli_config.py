"""Command line and configuration validation (--version, --help, --check)."""

import re
import signal
import subprocess
import time

import pytest

from conftest import (PGBALANCER_BIN, Raw, default_config, free_port, line_of, render_config,
                      require_binary, userlist_text, default_users)


@pytest.fixture
def cli(pg):
    require_binary()
    return PGBALANCER_BIN


@pytest.fixture
def make_config(pg, tmp_path):
    """Write a config file; returns (path, text)."""
    (tmp_path / "userlist.txt").write_text(userlist_text(default_users(pg)))

    def make(raw=None, **overrides):
        port = overrides.pop("port", None) or free_port()
        cfg = default_config(pg, tmp_path, port, **overrides)
        text = raw if raw is not None else render_config(cfg)
        path = tmp_path / "pgbalancer.yaml"
        path.write_text(text)
        return str(path), text

    return make


def check(binary, path, timeout=30):
    return subprocess.run([binary, "--check", "-f", path], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout)


def assert_problem(result, path, line, key):
    """stderr must contain 'PATH:LINE: KEY: message' (KEY may be qualified,
    e.g. backend_servers[0].role)."""
    assert result.returncode == 1, "expected exit 1, got %d; stderr:\n%s" % (
        result.returncode, result.stderr)
    rx = re.compile(r"^%s:%d: [\w.\[\]]*%s[\w.\[\]]*: \S.*$" % (re.escape(path), line, re.escape(key)),
                    re.M)
    assert rx.search(result.stderr), (
        "no line matching %r in stderr:\n%s" % (rx.pattern, result.stderr))
    return rx.search(result.stderr).group(0)


# ---- --version / --help ---------------------------------------------------

def test_version(cli):
    r = subprocess.run([cli, "--version"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(r"pgbalancer \d+\.\d+\.\d+\s*", r.stdout), repr(r.stdout)


def test_help(cli):
    r = subprocess.run([cli, "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert re.search(r"usage", out, re.I), out
    assert "-f" in out and "--check" in out and "--version" in out, out


def test_unknown_option_fails(cli):
    r = subprocess.run([cli, "--no-such-option"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert r.stderr.strip(), "an unknown option must be reported on stderr"


# ---- --check: valid configs ------------------------------------------------

def test_check_default_config_ok(cli, make_config):
    path, _ = make_config()
    r = check(cli, path)
    assert r.returncode == 0, r.stderr


def test_check_full_config_ok(cli, make_config, pg, tmp_path):
    (tmp_path / "pgpass").write_text("*:*:*:bob:x\n")
    (tmp_path / "pgpass").chmod(0o600)
    path, _ = make_config(
        ssl=True, ssl_cert=str(pg.pgb_crt), ssl_key=str(pg.pgb_key), ssl_ca_cert=str(pg.ca_crt),
        backend_encryption=True, backend_ssl_ca_cert=str(pg.ca_crt),
        pgpass_file=str(tmp_path / "pgpass"),
        listen_addresses="127.0.0.1,localhost", max_pool=5, max_client_conn=50,
        client_login_timeout="500ms", query_wait_timeout="5s", server_connect_timeout=3,
        server_idle_timeout="2min", server_lifetime=3600, log_level="debug",
        auth_type="md5")
    r = check(cli, path)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("auth_type", ["scram-sha-256", "md5", "password", "trust"])
def test_check_auth_types_ok(cli, make_config, auth_type):
    path, _ = make_config(auth_type=auth_type)
    r = check(cli, path)
    assert r.returncode == 0, r.stderr


def test_check_standby_backend_ok(cli, make_config, pg):
    path, _ = make_config(backend_servers=[
        {"hostname": "127.0.0.1", "port": pg.port, "weight": 1, "role": "primary"},
        {"hostname": "127.0.0.1", "port": pg.port + 1, "weight": 2, "role": "standby"}])
    r = check(cli, path)
    assert r.returncode == 0, r.stderr


# ---- --check: errors ---------------------------------------------------------

def test_check_unknown_key_with_line(cli, make_config):
    path, text = make_config(bogus_option_xyz=1)
    r = check(cli, path)
    assert_problem(r, path, line_of(text, "bogus_option_xyz"), "bogus_option_xyz")


@pytest.mark.parametrize("key,value", [
    ("port", Raw("abc")),
    ("max_pool", "many"),
    ("max_client_conn", Raw("[1, 2]")),
    ("ssl", "maybe"),
    ("client_login_timeout", "soon"),
    ("query_wait_timeout", "5 parsecs"),
])
def test_check_wrong_type(cli, make_config, key, value):
    path, text = make_config(**{key: value})
    r = check(cli, path)
    assert_problem(r, path, line_of(text, key + ":"), key)


@pytest.mark.parametrize("key,value", [
    ("port", 70000),
    ("port", -1),
    ("max_pool", 0),
    ("max_pool", -5),
    ("max_client_conn", 0),
])
def test_check_out_of_range(cli, make_config, key, value):
    path, text = make_config(**{key: value})
    r = check(cli, path)
    assert_problem(r, path, line_of(text, key + ":"), key)


@pytest.mark.parametrize("key,value", [
    ("auth_type", "kerberos"),
    ("log_level", "verbose"),
    ("pool_mode", "banana"),
])
def test_check_invalid_enum(cli, make_config, key, value):
    path, text = make_config(**{key: value})
    r = check(cli, path)
    assert_problem(r, path, line_of(text, key + ":"), key)


def test_check_invalid_backend_role(cli, make_config, pg):
    path, text = make_config(backend_servers=[
        {"hostname": "127.0.0.1", "port": pg.port, "weight": 1, "role": "leader"}])
    r = check(cli, path)
    assert_problem(r, path, line_of(text, "role:"), "role")


def test_check_empty_backend_servers(cli, make_config):
    path, text = make_config(backend_servers=None)
    text += "backend_servers: []\n"
    with open(path, "w") as f:
        f.write(text)
    r = check(cli, path)
    assert r.returncode == 1, r.stderr
    assert "backend_servers" in r.stderr, r.stderr


@pytest.mark.parametrize("key,value", [
    ("health_check_period", 10),
    ("load_balance_mode", True),
    ("hba_file", "/etc/hba.conf"),
])
def test_check_not_supported_yet(cli, make_config, key, value):
    path, text = make_config(**{key: value})
    r = check(cli, path)
    line = assert_problem(r, path, line_of(text, key + ":"), key)
    assert "not supported yet" in line, line


@pytest.mark.parametrize("key", ["auth_file", "pgpass_file"])
def test_check_missing_file(cli, make_config, key):
    path, text = make_config(**{key: "/nonexistent/dir/%s.txt" % key})
    r = check(cli, path)
    assert_problem(r, path, line_of(text, key + ":"), key)


@pytest.mark.parametrize("key", ["ssl_cert", "ssl_key", "ssl_ca_cert"])
def test_check_missing_tls_file(cli, make_config, pg, key):
    files = dict(ssl_cert=str(pg.pgb_crt), ssl_key=str(pg.pgb_key), ssl_ca_cert=str(pg.ca_crt))
    files[key] = "/nonexistent/%s.pem" % key
    path, text = make_config(ssl=True, **files)
    r = check(cli, path)
    assert_problem(r, path, line_of(text, key + ":"), key)


def test_check_missing_backend_ca(cli, make_config):
    path, text = make_config(backend_encryption=True, backend_ssl_ca_cert="/nonexistent/ca.crt")
    r = check(cli, path)
    assert_problem(r, path, line_of(text, "backend_ssl_ca_cert:"), "backend_ssl_ca_cert")


def test_check_reports_every_problem(cli, make_config):
    path, text = make_config(port=Raw("notaport"), bogus_one=1, log_level="loud",
                             max_prepared_statements=-3)
    r = check(cli, path)
    assert_problem(r, path, line_of(text, "port: notaport"), "port")
    assert_problem(r, path, line_of(text, "bogus_one"), "bogus_one")
    assert_problem(r, path, line_of(text, "log_level"), "log_level")
    assert_problem(r, path, line_of(text, "max_prepared_statements"), "max_prepared_statements")


def test_check_yaml_syntax_error(cli, make_config):
    path, text = make_config()
    text += "max_pool: [1, 2\n  - :\n"
    with open(path, "w") as f:
        f.write(text)
    r = check(cli, path)
    assert r.returncode == 1, r.stderr
    assert path in r.stderr, r.stderr


def test_check_nonexistent_config_file(cli, tmp_path):
    path = str(tmp_path / "does-not-exist.yaml")
    r = check(cli, path)
    assert r.returncode != 0
    assert path in r.stderr, r.stderr


def test_duplicate_key_rejected(cli, make_config):
    path, text = make_config()
    text += "max_pool: 7\n"
    with open(path, "w") as f:
        f.write(text)
    r = check(cli, path)
    # a silently-ignored duplicate would hide mistakes; it must be reported
    assert r.returncode == 1, "duplicate key max_pool accepted; stderr:\n" + r.stderr
    assert "max_pool" in r.stderr


# ---- running with a bad config / signals -------------------------------------

def test_start_with_invalid_config_exits_nonzero(cli, make_config):
    path, text = make_config(bogus_option_xyz=1)
    p = subprocess.run([cli, "-f", path], capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "bogus_option_xyz" in p.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_graceful_exit(pgbalancer, sig):
    b = pgbalancer()
    with b.connect() as c:
        assert c.execute("SELECT 1").fetchone() == (1,)
    t0 = time.monotonic()
    rc = b.stop(sig, timeout=20)
    assert rc == 0, "exit status %r after %s; log:\n%s" % (rc, sig.name, b.log_tail())
    assert time.monotonic() - t0 < 15


def test_port_in_use_fails(pgbalancer):
    first = pgbalancer()
    second = pgbalancer(start=False, port=first.port)
    second.start(wait=False)
    try:
        rc = second.proc.wait(20)
    except subprocess.TimeoutExpired:
        second.stop()
        pytest.fail("second pgbalancer on a busy port kept running")
    assert rc != 0
    assert str(first.port) in second.log() or "in use" in second.log().lower(), second.log()
    first.assert_alive()


def test_check_unknown_key_in_backend_entry(cli, make_config, pg):
    path, text = make_config(backend_servers=[
        {"hostname": "127.0.0.1", "port": pg.port, "colour": "red"}])
    r = check(cli, path)
    assert_problem(r, path, line_of(text, "colour:"), "colour")


def test_check_backend_without_hostname(cli, make_config, pg):
    path, text = make_config(backend_servers=[{"port": pg.port, "role": "primary"}])
    r = check(cli, path)
    assert r.returncode == 1
    assert "hostname" in r.stderr, r.stderr


@pytest.mark.parametrize("key", ["client_login_timeout", "query_wait_timeout",
                                 "server_connect_timeout", "server_idle_timeout",
                                 "server_lifetime"])
@pytest.mark.parametrize("value,ok", [("500ms", True), ("5s", True), ("2min", True), (30, True),
                                      ("5xs", False), (-1, False), ("ms", False)])
def test_check_durations(cli, make_config, key, value, ok):
    path, text = make_config(**{key: value})
    r = check(cli, path)
    if ok:
        assert r.returncode == 0, r.stderr
    else:
        assert_problem(r, path, line_of(text, key + ":"), key)


@pytest.mark.parametrize("key", ["ssl_cert", "ssl_key", "ssl_ca_cert"])
def test_check_invalid_tls_file_content(cli, make_config, pg, tmp_path, key):
    """A file that exists but is not a certificate/key: reported with the offending
    key and its line, like every other problem."""
    junk = tmp_path / "junk.pem"
    junk.write_text("this is not PEM\n")
    files = dict(ssl_cert=str(pg.pgb_crt), ssl_key=str(pg.pgb_key), ssl_ca_cert=str(pg.ca_crt))
    files[key] = str(junk)
    path, text = make_config(ssl=True, **files)
    r = check(cli, path)
    assert_problem(r, path, line_of(text, key + ":"), key)


def test_check_mismatched_cert_and_key(cli, make_config, pg):
    path, text = make_config(ssl=True, ssl_cert=str(pg.pgb_crt), ssl_key=str(pg.bad_key))
    r = check(cli, path)
    assert r.returncode == 1, r.stderr
    assert "ssl_key" in r.stderr, r.stderr


def test_check_malformed_auth_file(cli, make_config, tmp_path):
    path, text = make_config()
    (tmp_path / "userlist.txt").write_text('"alice" "SCRAM-SHA-256$broken"\nnot a valid line\n')
    r = check(cli, path)
    assert r.returncode == 1, r.stderr
    assert "auth_file" in r.stderr and "userlist.txt" in r.stderr, r.stderr
