"""SIGHUP reload: new values apply to new connections; a broken file keeps the old config."""

import signal
import time

import psycopg
import pytest

from conftest import DBNAME, PASSWORDS, render_config, wait_for


def can_login(b, user, password=None):
    try:
        with b.connect(user, password=password) as c:
            return c.execute("SELECT current_user").fetchone()[0] == user
    except psycopg.OperationalError:
        return False


def test_reload_adds_user_to_auth_file(pgbalancer, pg):
    b = pgbalancer(users={"alice": pg.scram_secrets["alice"]})
    assert can_login(b, "alice")
    assert not can_login(b, "bob"), "bob logged in although not in the auth_file"
    b.users["bob"] = PASSWORDS["bob"]
    with b.connect() as survivor:   # an existing session survives the reload
        b.reload()
        wait_for(lambda: can_login(b, "bob"), timeout=15,
                 message="bob to be accepted after adding him to the auth_file + SIGHUP")
        assert survivor.execute("SELECT 'still here'").fetchone() == ("still here",)
    assert can_login(b, "alice")


def test_reload_removes_user(pgbalancer, pg):
    b = pgbalancer()
    assert can_login(b, "bob")
    del b.users["bob"]
    b.reload()
    wait_for(lambda: not can_login(b, "bob"), timeout=15,
             message="bob to be rejected after removing him from the auth_file")
    assert can_login(b, "alice")


def test_reload_changes_auth_type(pgbalancer, pg):
    b = pgbalancer(auth_type="scram-sha-256",
                   users={"bob": PASSWORDS["bob"], "alice": pg.scram_secrets["alice"]})
    assert not can_login(b, "bob", password="")
    assert can_login(b, "bob")
    b.reload(auth_type="trust")
    wait_for(lambda: can_login(b, "bob", password=""), timeout=15,
             message="passwordless login after switching auth_type to trust")
    b.reload(auth_type="password")
    wait_for(lambda: not can_login(b, "bob", password=""), timeout=15,
             message="password required again after switching to auth_type password")
    with b.raw() as r:
        assert r.startup("bob", DBNAME, PASSWORDS["bob"]) is None
        assert r.auth_codes[0] == 3   # AuthenticationCleartextPassword


def test_reload_changes_server_reset_query(pgbalancer):
    b = pgbalancer(max_pool=1)
    with b.connect() as c:
        c.execute("CREATE TEMP TABLE before_reload(x int)")
    with b.connect() as c:
        assert c.execute("SELECT to_regclass('before_reload')").fetchone() == (None,)
    b.reload(server_reset_query="RESET ALL")
    time.sleep(2)

    def temp_table_survives():
        with b.connect() as c:
            c.execute("CREATE TEMP TABLE IF NOT EXISTS after_reload(x int)")
        with b.connect() as c:
            return c.execute("SELECT to_regclass('after_reload')").fetchone()[0] is not None

    wait_for(temp_table_survives, timeout=15,
             message="new server_reset_query (RESET ALL keeps temp tables) to apply")


@pytest.mark.timeout(90)
def test_reload_broken_file_keeps_old_config(pgbalancer):
    b = pgbalancer(auth_type="scram-sha-256")
    good = b.config_path.read_text()
    assert "auth_type: 'scram-sha-256'" in good
    mark = b.log_mark()
    # same file with a changed auth_type *and* an unknown key: nothing may be applied
    cfg = dict(b.config)
    cfg["auth_type"] = "trust"
    cfg["bogus_reload_key"] = 1
    with b.connect() as survivor:
        b.reload(raw_config=render_config(cfg))
        b.wait_log(r"bogus_reload_key", since=mark, timeout=15)
        b.assert_alive()
        time.sleep(1)
        assert not can_login(b, "bob", password=""), "broken config was partially applied"
        assert can_login(b, "alice")
        assert survivor.execute("SELECT 1").fetchone() == (1,)
    # YAML that doesn't parse at all
    mark = b.log_mark()
    b.config_path.write_text(good + "max_pool: [unterminated\n")
    b.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: len(b.log_since(mark).strip()) > 0, timeout=15,
             message="a log message about the failed reload")
    b.assert_alive()
    assert can_login(b, "alice")
    # and a good file afterwards is applied again
    b.reload(auth_type="trust")
    wait_for(lambda: can_login(b, "bob", password=""), timeout=15,
             message="a valid config to apply after earlier failed reloads")


def test_reload_missing_auth_file_keeps_old(pgbalancer):
    b = pgbalancer()
    mark = b.log_mark()
    b.userlist_path.unlink()
    b.proc.send_signal(signal.SIGHUP)
    b.wait_log(r"auth_file|userlist", since=mark, timeout=15)
    b.assert_alive()
    assert can_login(b, "alice")
    assert can_login(b, "bob")


def test_many_reloads_under_load(pgbalancer):
    b = pgbalancer()
    from conftest import BackgroundCall

    def load():
        n = 0
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            with b.connect() as c:
                assert c.execute("SELECT 1").fetchone() == (1,)
            n += 1
        return n

    calls = [BackgroundCall(load) for _ in range(3)]
    for i in range(20):
        b.reload(max_pool=10 + i)
        time.sleep(0.2)
    assert all(c.result(60) > 0 for c in calls)
    b.assert_alive()
