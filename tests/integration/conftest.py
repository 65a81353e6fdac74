"""Fixtures for the pgbalancer integration tests.

* ``pg``          – one PostgreSQL 15 cluster for the whole session (initdb in a
                    temp dir as the ``postgres`` OS user, TLS on, SCRAM on TCP).
* ``pgbalancer``  – factory: writes a config + userlist (+ .pgpass) into a
                    per-test dir, starts ``pgbalancer -f`` on a free port and
                    stops it with SIGTERM at teardown (asserting exit status 0).
* ``balancer``    – a pgbalancer started with the default config.

Environment:
  PGBALANCER_BIN   path of the binary (default: <repo>/build/bin/pgbalancer)
  BCTL_BIN         path of bctl (default: next to PGBALANCER_BIN)
  PG_BINDIR        PostgreSQL server binaries (default /usr/lib/postgresql/15/bin)
  PGB_TEST_KEEP=1  keep the temp cluster directory after the run
  PGB_TEST_TIMEOUT per-test timeout in seconds (default 120)
"""

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import pgwire  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
PGBALANCER_BIN = os.environ.get("PGBALANCER_BIN", str(REPO / "build" / "bin" / "pgbalancer"))
BCTL_BIN = os.environ.get("BCTL_BIN", str(Path(PGBALANCER_BIN).with_name("bctl")))
PG_BINDIR = Path(os.environ.get("PG_BINDIR", "/usr/lib/postgresql/15/bin"))
DEFAULT_TIMEOUT = int(os.environ.get("PGB_TEST_TIMEOUT", "120"))

DBNAME = "testdb"
# Distinctive passwords so that "the password never appears in the log" is a
# meaningful grep.
PASSWORDS = {
    "alice": "Alice-S3cret-Pw-7781",   # SCRAM secret in PostgreSQL and in the auth_file
    "bob": "Bob-S3cret-Pw-4412",       # SCRAM in PostgreSQL; plaintext in the auth_file
    "carol": "Carol-S3cret-Pw-9903",   # stored as md5 in PostgreSQL, pg_hba says md5
    # non-ASCII (NFC) plus characters that need escaping in userlist ("") and .pgpass (\: \\)
    "dave": 'D\u00e4ve "S3cret":Pw\\4711',
}
WRONG_PASSWORD = "Wr0ng-Passw0rd-Zq17"


# --------------------------------------------------------------------------
# generic helpers
# --------------------------------------------------------------------------

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=10.0, interval=0.05, message="condition"):
    """Poll predicate() until it returns a truthy value; return that value."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            v = predicate()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - keep polling
            last_exc = e
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s (last exception: %r)"
                         % (timeout, message, last_exc))


def run(cmd, check=True, **kw):
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    r = subprocess.run(cmd, **kw)
    if check and r.returncode != 0:
        raise RuntimeError("command %r failed (%d):\nstdout:\n%s\nstderr:\n%s"
                           % (cmd, r.returncode, r.stdout, r.stderr))
    return r


def as_postgres(cmd, **kw):
    return run(["runuser", "-u", "postgres", "--"] + [str(c) for c in cmd], **kw)


def conninfo_quote(v):
    return str(v).replace("\\", "\\\\").replace("'", "\\'")


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def pg_error_code(exc):
    """SQLSTATE of a psycopg error (None for connection-time errors)."""
    return getattr(exc, "sqlstate", None)


# --------------------------------------------------------------------------
# certificates
# --------------------------------------------------------------------------

def make_ca(d, name):
    key, crt = d / (name + ".key"), d / (name + ".crt")
    run(["openssl", "req", "-x509", "-new", "-nodes", "-newkey", "rsa:2048", "-sha256",
         "-days", "3650", "-keyout", key, "-out", crt, "-subj", "/CN=" + name,
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    return key, crt


def make_server_cert(d, name, ca_key, ca_crt, cn="localhost",
                     san="DNS:localhost,IP:127.0.0.1"):
    key, csr, crt, ext = (d / (name + s) for s in (".key", ".csr", ".crt", ".ext"))
    run(["openssl", "req", "-new", "-nodes", "-newkey", "rsa:2048", "-sha256",
         "-keyout", key, "-out", csr, "-subj", "/CN=" + cn])
    ext.write_text("subjectAltName=%s\nbasicConstraints=CA:FALSE\n"
                   "keyUsage=critical,digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\n" % san)
    run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
         "-CAcreateserial", "-out", crt, "-days", "3650", "-sha256", "-extfile", ext])
    os.chmod(key, 0o600)
    return key, crt


# --------------------------------------------------------------------------
# PostgreSQL cluster
# --------------------------------------------------------------------------

class PgCluster:
    def __init__(self, root):
        self.root = root
        self.datadir = root / "pgdata"
        self.sockdir = root / "sock"
        self.logfile = root / "pglog" / "postgresql.log"
        self.certdir = root / "certs"
        self.host = "127.0.0.1"
        self.port = free_port()
        self.dbname = DBNAME
        self.scram_secrets = {}
        self.md5_secrets = {}

    # admin connection: unix socket, trust, superuser
    def admin(self, dbname=DBNAME, **kw):
        kw.setdefault("autocommit", True)
        return psycopg.connect(host=str(self.sockdir), port=self.port, user="postgres",
                               dbname=dbname, **kw)

    def admin_query(self, sql, params=None, dbname=DBNAME):
        with self.admin(dbname) as c:
            cur = c.execute(sql, params)
            return cur.fetchall() if cur.description else None

    def direct_dsn(self, user="alice", dbname=DBNAME, **kw):
        """TCP DSN straight to PostgreSQL (not through pgbalancer)."""
        parts = dict(host=self.host, port=self.port, user=user, dbname=dbname,
                     password=PASSWORDS.get(user, ""), sslmode="disable",
                     gssencmode="disable", connect_timeout=10)
        parts.update(kw)
        return " ".join("%s='%s'" % (k, conninfo_quote(v)) for k, v in parts.items())

    def backend_pids(self, user=None, dbname=DBNAME):
        """Client backends currently connected (excluding the admin's own)."""
        sql = ("SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' "
               "AND pid <> pg_backend_pid() AND datname = %s")
        params = [dbname]
        if user:
            sql += " AND usename = %s"
            params.append(user)
        return sorted(r[0] for r in self.admin_query(sql, params, dbname="postgres"))

    def terminate(self, pid):
        return self.admin_query("SELECT pg_terminate_backend(%s)", [pid], dbname="postgres")[0][0]

    def start(self):
        for d in (self.sockdir, self.logfile.parent):
            d.mkdir()
            shutil.chown(d, "postgres", "postgres")
        self.certdir.mkdir()
        self.ca_key, self.ca_crt = make_ca(self.certdir, "test-ca")
        self.other_ca_key, self.other_ca_crt = make_ca(self.certdir, "other-ca")
        # certificate for PostgreSQL (backend_encryption tests)
        self.pg_key, self.pg_crt = make_server_cert(self.certdir, "pg-server",
                                                    self.ca_key, self.ca_crt)
        # certificate for pgbalancer's client-facing TLS
        self.pgb_key, self.pgb_crt = make_server_cert(self.certdir, "pgb-server",
                                                      self.ca_key, self.ca_crt)
        # certificate signed by an unrelated CA (negative tests)
        self.bad_key, self.bad_crt = make_server_cert(self.certdir, "bad-server",
                                                      self.other_ca_key, self.other_ca_crt)
        for f in self.certdir.iterdir():
            shutil.chown(f, "postgres", "postgres")
        os.chmod(self.certdir, 0o755)

        self.datadir.mkdir(mode=0o700)
        shutil.chown(self.datadir, "postgres", "postgres")
        as_postgres([PG_BINDIR / "initdb", "-D", self.datadir, "-U", "postgres",
                     "--auth-local=trust", "--auth-host=scram-sha-256",
                     "-E", "UTF8", "--locale=C", "--no-sync"])
        with open(self.datadir / "postgresql.conf", "a") as f:
            f.write(f"""
# --- pgbalancer integration tests ---
listen_addresses = '127.0.0.1'
port = {self.port}
unix_socket_directories = '{self.sockdir}'
password_encryption = 'scram-sha-256'
ssl = on
ssl_cert_file = '{self.pg_crt}'
ssl_key_file = '{self.pg_key}'
max_connections = 200
shared_buffers = 64MB
fsync = off
synchronous_commit = off
full_page_writes = off
log_connections = on
log_disconnections = on
client_connection_check_interval = 1000
log_line_prefix = '%m [%p] %u@%d '
""")
        (self.datadir / "pg_hba.conf").write_text(
            "local all all trust\n"
            "host  all carol 127.0.0.1/32 md5\n"
            "host  all all   127.0.0.1/32 scram-sha-256\n")
        as_postgres([PG_BINDIR / "pg_ctl", "-D", self.datadir, "-l", self.logfile,
                     "-w", "-t", "60", "start"])
        self._create_objects()

    def _create_objects(self):
        with self.admin("postgres") as c:
            c.execute("CREATE ROLE alice LOGIN PASSWORD %s" % _lit(PASSWORDS["alice"]))
            c.execute("CREATE ROLE bob LOGIN PASSWORD %s" % _lit(PASSWORDS["bob"]))
            c.execute("CREATE ROLE dave LOGIN PASSWORD %s" % _lit(PASSWORDS["dave"]))
            c.execute("SET password_encryption = 'md5'")
            c.execute("CREATE ROLE carol LOGIN PASSWORD %s" % _lit(PASSWORDS["carol"]))
            c.execute("RESET password_encryption")
            c.execute("CREATE DATABASE %s OWNER alice" % DBNAME)
            for name, secret in c.execute(
                    "SELECT rolname, rolpassword FROM pg_authid "
                    "WHERE rolname IN ('alice', 'bob', 'carol', 'dave')"):
                if secret.startswith("SCRAM-SHA-256$"):
                    self.scram_secrets[name] = secret
                else:
                    assert secret.startswith("md5"), secret
                    self.md5_secrets[name] = secret
        assert set(self.scram_secrets) == {"alice", "bob", "dave"}
        assert set(self.md5_secrets) == {"carol"}
        with self.admin(DBNAME) as c:
            c.execute("GRANT ALL ON DATABASE %s TO bob, carol, dave" % DBNAME)
            c.execute("GRANT ALL ON SCHEMA public TO PUBLIC")
            c.execute("CREATE SCHEMA foo AUTHORIZATION alice")
            c.execute("CREATE SCHEMA bar AUTHORIZATION alice")
            c.execute("GRANT USAGE ON SCHEMA foo, bar TO PUBLIC")
            c.execute("CREATE TABLE foo.marker(v text)")
            c.execute("INSERT INTO foo.marker VALUES ('in foo')")
            c.execute("CREATE TABLE bar.marker(v text)")
            c.execute("INSERT INTO bar.marker VALUES ('in bar')")
            c.execute("GRANT SELECT ON foo.marker, bar.marker TO PUBLIC")

    def stop(self):
        as_postgres([PG_BINDIR / "pg_ctl", "-D", self.datadir, "-m", "fast", "-w", "stop"],
                    check=False)

    def log_text(self):
        try:
            return self.logfile.read_text(errors="replace")
        except OSError:
            return ""


def _lit(s):
    return "'" + s.replace("'", "''") + "'"


@pytest.fixture(scope="session")
def pg():
    root = Path(tempfile.mkdtemp(prefix="pgb-it-"))
    os.chmod(root, 0o755)
    cluster = PgCluster(root)
    try:
        cluster.start()
    except Exception:
        cluster.stop()
        sys.stderr.write("PostgreSQL log:\n" + cluster.log_text())
        raise
    yield cluster
    cluster.stop()
    if os.environ.get("PGB_TEST_KEEP") != "1":
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pgbench_tables(pg):
    """pgbench -i -s 1 in testdb (owned by alice), created directly on PG."""
    as_postgres(["pgbench", "-i", "-s", "1", "-q", "-h", pg.sockdir, "-p", pg.port,
                 "-U", "alice", DBNAME])
    return True


# --------------------------------------------------------------------------
# pgbalancer config rendering
# --------------------------------------------------------------------------

def _yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, Raw):
        return v.text
    return "'" + str(v).replace("'", "''") + "'"


class Raw:
    """A value written verbatim into the YAML file."""

    def __init__(self, text):
        self.text = text


def render_config(cfg):
    """Render a flat config dict (plus backend_servers list) as YAML.
    Keys whose value is None are omitted."""
    lines = ["# generated by tests/integration/conftest.py"]
    for key, value in cfg.items():
        if value is None:
            continue
        if key == "backend_servers":
            lines.append("backend_servers:")
            for srv in value:
                first = True
                for k, v in srv.items():
                    lines.append(("  - " if first else "    ") + "%s: %s" % (k, _yaml_scalar(v)))
                    first = False
        else:
            lines.append("%s: %s" % (key, _yaml_scalar(value)))
    return "\n".join(lines) + "\n"


def line_of(text, needle):
    """1-based number of the first line of text containing needle."""
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError("%r not in config text" % needle)


def userlist_text(users):
    """users: {name: secret} -> pgbouncer userlist format."""
    return "".join('"%s" "%s"\n' % (u, s.replace('"', '""')) for u, s in users.items())


def md5_secret(user, password):
    import hashlib
    return "md5" + hashlib.md5((password + user).encode()).hexdigest()


# --------------------------------------------------------------------------
# pgbalancer process
# --------------------------------------------------------------------------

class PgBalancer:
    def __init__(self, workdir, pg, config, users, pgpass):
        self.workdir = Path(workdir)
        self.pg = pg
        self.port = config["port"]
        self.config = config
        self.users = users
        self.pgpass = pgpass
        self.config_path = self.workdir / "pgbalancer.yaml"
        self.userlist_path = Path(config["auth_file"]) if config.get("auth_file") else None
        self.log_path = self.workdir / "pgbalancer.log"
        self.proc = None
        self._logf = None

    # ---- files ---------------------------------------------------------
    def write_files(self, raw_config=None):
        if self.users is not None and self.userlist_path is not None:
            self.userlist_path.write_text(userlist_text(self.users))
        if self.pgpass is not None and self.config.get("pgpass_file"):
            p = Path(self.config["pgpass_file"])
            p.write_text("".join("%s\n" % line for line in self.pgpass))
            os.chmod(p, 0o600)
        text = raw_config if raw_config is not None else render_config(self.config)
        self.config_path.write_text(text)
        return text

    # ---- process -------------------------------------------------------
    def start(self, wait=True, timeout=30):
        self._logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([PGBALANCER_BIN, "-f", str(self.config_path)],
                                     stdout=self._logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.workdir)
        self.pid = self.proc.pid
        if wait:
            self.wait_ready(timeout)
        return self

    def probe_host(self):
        addrs = [a.strip() for a in str(self.config.get("listen_addresses", "127.0.0.1")).split(",")]
        if "*" in addrs or "127.0.0.1" in addrs or not addrs[0]:
            return "127.0.0.1"
        return addrs[0]

    def wait_ready(self, timeout=30):
        host = self.probe_host()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("pgbalancer exited with %s during start-up; log:\n%s"
                                     % (self.proc.returncode, self.log()))
            try:
                with socket.create_connection((host, self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("pgbalancer did not listen on %d within %ss; log:\n%s"
                             % (self.port, timeout, self.log()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def assert_alive(self):
        assert self.alive(), "pgbalancer died (exit %s); log tail:\n%s" % (
            self.proc.returncode, self.log_tail())

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Send sig, wait for exit, return the exit status (None if it had to be killed)."""
        if self.proc is None:
            return None
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                self._close_log()
                return None
        self._close_log()
        return self.proc.returncode

    def _close_log(self):
        if self._logf:
            self._logf.close()
            self._logf = None

    def reload(self, raw_config=None, **changes):
        """Rewrite the config (and userlist / pgpass) and send SIGHUP."""
        self.config.update(changes)
        self.write_files(raw_config)
        self.proc.send_signal(signal.SIGHUP)

    def rss_kb(self):
        return rss_kb(self.pid)

    # ---- log -----------------------------------------------------------
    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n=60):
        return "\n".join(self.log().splitlines()[-n:])

    def log_mark(self):
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_since(self, mark):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(mark)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def wait_log(self, pattern, since=0, timeout=10):
        rx = re.compile(pattern, re.I)
        return wait_for(lambda: rx.search(self.log_since(since)), timeout,
                        message="log line matching %r" % pattern)

    # ---- clients -------------------------------------------------------
    def dsn(self, user="alice", password=None, dbname=DBNAME, **kw):
        if password is None:
            password = PASSWORDS.get(user, "")
        parts = dict(host="127.0.0.1", port=self.port, user=user, dbname=dbname,
                     sslmode="disable", gssencmode="disable", connect_timeout=15)
        if password != "":
            parts["password"] = password
        parts.update(kw)
        return " ".join("%s='%s'" % (k, conninfo_quote(v)) for k, v in parts.items())

    def connect(self, user="alice", password=None, dbname=DBNAME, autocommit=True, **kw):
        return psycopg.connect(self.dsn(user, password, dbname, **kw), autocommit=autocommit)

    def raw(self, timeout=10.0):
        return pgwire.RawConn(self.port, timeout=timeout)

    def psql(self, sql, user="alice", password=None, dbname=DBNAME, extra=(), env=None,
             check=True, timeout=120, **kw):
        e = dict(os.environ)
        e.update(PGSSLMODE="disable", PGGSSENCMODE="disable", PGCONNECT_TIMEOUT="15")
        e["PGPASSWORD"] = PASSWORDS.get(user, "") if password is None else password
        if env:
            e.update(env)
        cmd = ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
               "-p", str(self.port), "-U", user, "-d", dbname] + list(extra) + ["-c", sql]
        return run(cmd, check=check, env=e, timeout=timeout, **kw)


def default_config(pg, workdir, port, **overrides):
    cfg = {
        "listen_addresses": "127.0.0.1",
        "port": port,
        "backend_servers": [{"hostname": "127.0.0.1", "port": pg.port, "weight": 1,
                             "role": "primary"}],
        "pool_mode": "session",
        "max_pool": 20,
        "max_client_conn": 1000,
        "auth_type": "scram-sha-256",
        "auth_file": str(Path(workdir) / "userlist.txt"),
        "pgpass_file": None,
        "server_reset_query": "DISCARD ALL",
        "client_login_timeout": 60,
        "query_wait_timeout": 120,
        "server_connect_timeout": 15,
        "log_level": "info",
    }
    for k, v in overrides.items():
        cfg[k] = v
    if cfg.get("pgpass_file") is True:
        cfg["pgpass_file"] = str(Path(workdir) / "pgpass")
    return cfg


def default_users(pg):
    """alice: SCRAM secret (pass-through); bob: plaintext; carol: md5 hash."""
    return {"alice": pg.scram_secrets["alice"], "bob": PASSWORDS["bob"],
            "carol": pg.md5_secrets["carol"]}


def pgpass_escape(s):
    return s.replace("\\", "\\\\").replace(":", "\\:")


def default_pgpass(pg):
    users = ("bob", "carol", "dave")
    return ["127.0.0.1:%d:*:%s:%s" % (pg.port, u, pgpass_escape(PASSWORDS[u])) for u in users] + \
           ["*:*:*:%s:%s" % (u, pgpass_escape(PASSWORDS[u])) for u in users]


def require_binary():
    if not os.path.isfile(PGBALANCER_BIN) or not os.access(PGBALANCER_BIN, os.X_OK):
        pytest.skip("pgbalancer binary not found at %s (set PGBALANCER_BIN)" % PGBALANCER_BIN)


@pytest.fixture
def pgbalancer(pg, tmp_path):
    """Factory: pgbalancer(users=..., pgpass=..., start=True, **config_overrides)."""
    require_binary()
    started = []
    counter = [0]

    def factory(users=None, pgpass=None, start=True, raw_config=None, **overrides):
        counter[0] += 1
        workdir = tmp_path / ("pgb%d" % counter[0])
        workdir.mkdir()
        port = overrides.pop("port", None) or free_port()
        if pgpass is not None and "pgpass_file" not in overrides:
            overrides["pgpass_file"] = True
        cfg = default_config(pg, workdir, port, **overrides)
        b = PgBalancer(workdir, pg, cfg, default_users(pg) if users is None else users, pgpass)
        b.write_files(raw_config)
        if start:
            b.start()
            started.append(b)
        return b

    yield factory

    problems = []
    for b in started:
        if getattr(b, "stopped", False) or getattr(b, "expect_dead", False):
            continue   # the test stopped it itself (and checked the status)
        was_alive = b.proc.poll() is None
        rc = b.stop()
        log = b.log()
        if not was_alive:
            problems.append("pgbalancer exited on its own during the test (status %s)"
                            % b.proc.returncode)
        elif rc != 0:
            problems.append("pgbalancer did not exit 0 on SIGTERM (status %r)" % rc)
        for bad in ("AddressSanitizer", "runtime error:", "LeakSanitizer", "Segmentation fault",
                    "terminate called"):
            if bad in log:
                problems.append("log contains %r" % bad)
        if problems:
            problems.append("log tail:\n" + b.log_tail(80))
            break
    # let PostgreSQL notice the closed server connections, so that the next test's
    # backend counting starts from zero
    if started:
        try:
            wait_for(lambda: not pg.backend_pids(None, DBNAME) and not pg.backend_pids(None, "postgres"),
                     timeout=10, message="backends to go away")
        except AssertionError:
            pass
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def balancer(pgbalancer):
    """pgbalancer with the default config: SCRAM auth, alice SCRAM pass-through."""
    return pgbalancer()


# --------------------------------------------------------------------------
# per-test timeout (pytest-timeout is not installed)
# --------------------------------------------------------------------------

class TestTimeout(Exception):
    pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    marker = item.get_closest_marker("timeout")
    seconds = int(marker.args[0]) if marker else DEFAULT_TIMEOUT

    def on_alarm(signum, frame):
        raise TestTimeout("test exceeded %ds" % seconds)

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# --------------------------------------------------------------------------
# small utilities used by several modules
# --------------------------------------------------------------------------

class BackgroundCall:
    """Run fn in a thread; .result(timeout) returns its value or raises its exception."""

    def __init__(self, fn, *args, **kw):
        self._value = None
        self._exc = None
        self._done = threading.Event()

        def target():
            try:
                self._value = fn(*args, **kw)
            except BaseException as e:  # noqa: BLE001
                self._exc = e
            finally:
                self._done.set()

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def done(self):
        return self._done.is_set()

    def wait(self, timeout):
        return self._done.wait(timeout)

    def result(self, timeout=30):
        if not self._done.wait(timeout):
            raise AssertionError("background call did not finish within %ss" % timeout)
        if self._exc is not None:
            raise self._exc
        return self._value

    def exception(self, timeout=30):
        if not self._done.wait(timeout):
            raise AssertionError("background call did not finish within %ss" % timeout)
        return self._exc


@contextlib.contextmanager
def closing_all(conns):
    try:
        yield conns
    finally:
        for c in conns:
            with contextlib.suppress(Exception):
                c.close()
