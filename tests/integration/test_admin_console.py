"""The SQL admin console (virtual database "pgbalancer") through psql and psycopg: every SHOW
with pgbouncer's column names, RELOAD, PAUSE and RESUME with real clients, who may use it, bad
input; and pgpool-II's SHOW POOL_* answered on ordinary connections in every pool mode."""
import subprocess
import time

import psycopg
import pytest

from conftest import DBNAME, PASSWORDS, BackgroundCall, Raw, pg_error_code, wait_for

# One as a comma-separated string (pgbouncer's style), one as a YAML list.
CONSOLE = {"admin_users": "alice", "stats_users": Raw("[bob]")}


def console(b, user="alice", **kw):
    return psycopg.connect(b.dsn(user=user, dbname="pgbalancer", **kw), autocommit=True)


def show(conn, what):
    cur = conn.execute("SHOW " + what)
    names = [d.name for d in cur.description]
    return names, [dict(zip(names, row)) for row in cur.fetchall()]


def psql_console(b, sql, user="alice", check=True):
    return b.psql(sql, user=user, dbname="pgbalancer", check=check)


def test_show_commands_answer_with_pgbouncer_columns(pgbalancer, pg):
    b = pgbalancer(pool_mode="transaction", **CONSOLE)
    with b.connect(application_name="worker-7") as app, console(b) as admin:
        app.execute("SELECT 1")
        with app.transaction():
            pid = app.execute("SELECT pg_backend_pid()").fetchone()[0]
            names, pools = show(admin, "POOLS")
            assert names[:6] == ["database", "user", "cl_active", "cl_waiting", "sv_active",
                                 "sv_idle"]
            assert [(p["database"], p["user"], p["cl_active"], p["sv_active"], p["pool_mode"])
                    for p in pools] == [(DBNAME, "alice", 1, 1, "transaction")]
            _, clients = show(admin, "CLIENTS")
            (mine,) = [c for c in clients if c["application_name"] == "worker-7"]
            assert (mine["user"], mine["database"], mine["state"], mine["remote_pid"]) == (
                "alice", DBNAME, "idle in transaction", pid)
            assert mine["addr"] == "127.0.0.1" and mine["type"] == "C"
            _, servers = show(admin, "SERVERS")
            assert [(s["remote_pid"], s["state"]) for s in servers] == [(pid, "active")]
        _, stats = show(admin, "STATS")
        (db,) = stats
        assert db["database"] == DBNAME
        assert db["total_query_count"] >= 3 and db["total_xact_count"] >= 2
        assert db["total_received"] > 0 and db["total_sent"] > 0
        assert db["avg_query_time"] > 0
        names, dbs = show(admin, "DATABASES")
        assert {"name", "host", "port", "pool_size", "pool_mode", "current_connections",
                "paused"} <= set(names)
        assert [(d["name"], d["port"], d["pool_size"], d["paused"]) for d in dbs] == [
            (DBNAME, pg.port, 20, 0)]
        names, config = show(admin, "CONFIG")
        assert names == ["key", "value", "default", "changeable"]
        settings = {c["key"]: c for c in config}
        assert settings["pool_mode"]["value"] == "transaction"
        assert settings["pool_mode"]["default"] == "session"
        assert settings["pool_mode"]["changeable"] == "yes"
        assert settings["port"]["changeable"] == "no"
        _, version = show(admin, "VERSION")
        assert version[0]["version"].startswith("pgbalancer ")


def test_psql_on_the_console(pgbalancer):
    b = pgbalancer(**CONSOLE)
    out = psql_console(b, "SHOW POOLS").stdout  # psql's simple query protocol
    assert out == ""  # no pool yet
    b.psql("SELECT 1")
    out = psql_console(b, "SHOW POOLS").stdout.strip()
    assert out.startswith("%s|alice|" % DBNAME), out
    out = psql_console(b, "show help;").stdout
    assert "SHOW POOLS" in out and "RESUME" in out
    # Two statements in one Query, as psql -c sends them.
    out = psql_console(b, "SHOW VERSION; SHOW POOL_VERSION").stdout
    assert out.count("pgbalancer ") == 2  # both answered


def test_config_hides_secrets(pgbalancer):
    from test_rest_api import SECRET, rest_block
    from conftest import free_port
    b = pgbalancer(rest_api=rest_block(free_port()), **CONSOLE)
    out = psql_console(b, "SHOW CONFIG").stdout
    assert SECRET not in out
    assert "rest_api.jwt_secret|<redacted>" in out


def test_stats_users_may_only_look(pgbalancer):
    b = pgbalancer(**CONSOLE)
    with console(b, user="bob") as viewer:
        show(viewer, "POOLS")
        for command in ("RELOAD", "PAUSE", "RESUME"):
            with pytest.raises(psycopg.Error) as e:
                viewer.execute(command)
            assert pg_error_code(e.value) == "42501", command
        show(viewer, "VERSION")  # the session carries on


def test_users_not_listed_are_refused_after_authentication(pgbalancer):
    b = pgbalancer(admin_users="alice")
    with pytest.raises(psycopg.OperationalError) as e:
        console(b, user="bob")
    assert "may not use the pgbalancer admin console" in str(e.value)
    with pytest.raises(psycopg.OperationalError) as e:  # a wrong password fails as usual
        console(b, user="alice", password="wrong")
    assert "password authentication failed" in str(e.value)
    assert PASSWORDS["alice"] not in b.log()


def test_console_is_refused_when_nobody_is_listed(pgbalancer):
    b = pgbalancer()
    with pytest.raises(psycopg.OperationalError) as e:
        console(b)
    assert "admin_users" in str(e.value)


def test_bad_commands_get_errors_and_the_session_goes_on(pgbalancer):
    b = pgbalancer(**CONSOLE)
    with console(b) as admin:
        for bad, code in [("SHOW NONSENSE", "42601"), ("DROP TABLE x", "42601"),
                          ("SHOW", "42601")]:
            with pytest.raises(psycopg.Error) as e:
                admin.execute(bad)
            assert pg_error_code(e.value) == code, bad
        with pytest.raises(psycopg.Error) as e:
            admin.execute("SHOW POOLS WHERE %s", (1,))
        assert pg_error_code(e.value) == "0A000"
        cur = psycopg.ClientCursor(admin)  # the simple query protocol
        cur.execute("SHOW VERSION")
        assert cur.fetchone()[0].startswith("pgbalancer")
    b.assert_alive()


def test_reload_from_the_console(pgbalancer):
    b = pgbalancer(**CONSOLE)
    b.config["log_level"] = "debug"
    b.write_files()
    mark = b.log_mark()
    psql_console(b, "RELOAD")
    b.wait_log("reload complete", since=mark)
    text = b.config_path.read_text()
    b.config_path.write_text(text + "frobnicate: 1\n")
    out = psql_console(b, "RELOAD", check=False)
    assert out.returncode != 0 and "frobnicate" in out.stderr


def test_pause_waits_for_transactions_then_holds_clients_until_resume(pgbalancer, pg):
    b = pgbalancer(pool_mode="transaction", **CONSOLE)
    with b.connect() as busy, b.connect() as later, console(b) as admin:
        later.execute("SELECT 1")
        busy.execute("BEGIN")
        busy.execute("SELECT 1")
        pause = BackgroundCall(admin.execute, "PAUSE")
        time.sleep(0.5)
        assert not pause.done()  # the open transaction holds its server connection
        busy.execute("COMMIT")
        pause.result(10)
        wait_for(lambda: pg.backend_pids("alice") == [], message="server connections to close")
        query = BackgroundCall(later.execute, "SELECT 42")
        time.sleep(0.5)
        assert not query.done()  # paused: waits for RESUME
        with console(b) as other:
            _, pools = show(other, "POOLS")
            assert pools[0]["paused"] == 1 and pools[0]["cl_waiting"] == 1
            with pytest.raises(psycopg.Error) as e:
                other.execute("PAUSE")
            assert pg_error_code(e.value) == "55000"
            other.execute("RESUME")
        assert query.result(10).fetchone() == (42,)
        with pytest.raises(psycopg.Error) as e:
            admin.execute("RESUME")
        assert pg_error_code(e.value) == "55000"


def test_pause_one_database_leaves_the_others(pgbalancer, pg):
    b = pgbalancer(pool_mode="transaction", **CONSOLE)
    with b.connect() as app, console(b) as admin:
        admin.execute('PAUSE "other_db"')
        assert app.execute("SELECT 1").fetchone() == (1,)
        admin.execute("RESUME other_db")


@pytest.mark.parametrize("mode", ["session", "transaction", "statement"])
def test_pgpool_show_commands_on_any_connection(pgbalancer, pg, mode):
    b = pgbalancer(pool_mode=mode, stats_users="alice")
    with b.connect(application_name="pgpool-script") as c:
        c.execute("SELECT 1")
        cur = c.execute("SHOW POOL_NODES")
        names = [d.name for d in cur.description]
        assert names[:8] == ["node_id", "hostname", "port", "status", "pg_status", "lb_weight",
                             "role", "pg_role"]
        (node,) = [dict(zip(names, r)) for r in cur.fetchall()]
        assert (node["node_id"], node["port"], node["status"], node["role"]) == (
            "0", str(pg.port), "up", "primary")
        assert node["load_balance_node"] == "true"
        rows = psycopg.ClientCursor(c).execute("show pool_processes;").fetchall()
        assert len(rows) == 1 and rows[0][3] == DBNAME and rows[0][4] == "alice"
        assert c.execute("SHOW POOL_VERSION").fetchone()[0].startswith("pgbalancer ")
        # Ordinary SHOW still reaches PostgreSQL.
        assert c.execute("SHOW server_encoding").fetchone() == ("UTF8",)
    out = b.psql("SHOW POOL_NODES").stdout
    assert out.startswith("0|127.0.0.1|%d|up|" % pg.port), out


def test_pgpool_show_commands_need_a_listed_user(pgbalancer):
    b = pgbalancer(pool_mode="transaction", stats_users="bob")
    with b.connect() as c:
        for command in ("SHOW POOL_PROCESSES", "show pool_nodes;"):
            with pytest.raises(psycopg.Error) as e:
                c.execute(command)
            assert pg_error_code(e.value) == "42501"
            assert "stats_users" in e.value.diag.message_hint
        assert c.execute("SELECT 1").fetchone() == (1,)  # the session carries on


def test_privileges_follow_a_reload_in_open_sessions(pgbalancer):
    b = pgbalancer(admin_users="alice,bob")
    with console(b, user="bob") as bob:
        b.config["admin_users"] = "alice"
        b.write_files()
        psql_console(b, "RELOAD")
        with pytest.raises(psycopg.Error) as e:
            bob.execute("PAUSE")
        assert pg_error_code(e.value) == "42501"
        with pytest.raises(psycopg.Error) as e:
            show(bob, "POOLS")
        assert pg_error_code(e.value) == "42501"


def test_resume_during_a_pause_ends_it_with_an_error(pgbalancer):
    b = pgbalancer(pool_mode="transaction", **CONSOLE)
    with b.connect() as busy, console(b) as admin:
        busy.execute("BEGIN")
        busy.execute("SELECT 1")
        pause = BackgroundCall(admin.execute, "PAUSE")
        time.sleep(0.3)
        psql_console(b, "RESUME")
        with pytest.raises(psycopg.Error) as e:
            pause.result(10)
        assert pg_error_code(e.value) == "55000" and "resumed" in str(e.value)
        busy.execute("COMMIT")
        assert busy.execute("SELECT 2").fetchone() == (2,)
