"""auth_query: users missing from auth_file are looked up in PostgreSQL as auth_user."""

import pytest

from conftest import DBNAME, PASSWORDS, WRONG_PASSWORD

LOOKUP = "SELECT usename, passwd FROM public.pgbalancer_lookup($1)"


@pytest.fixture(scope="module")
def lookup_function(pg):
    """The usual pgbouncer set-up: a SECURITY DEFINER function so auth_user needs no superuser."""
    pg.admin_query("""
        CREATE OR REPLACE FUNCTION public.pgbalancer_lookup(p_user text, OUT usename name, OUT passwd text)
        RETURNS record LANGUAGE sql SECURITY DEFINER AS
        $$ SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename = p_user $$""")
    pg.admin_query("REVOKE ALL ON FUNCTION public.pgbalancer_lookup(text) FROM PUBLIC")
    pg.admin_query("GRANT EXECUTE ON FUNCTION public.pgbalancer_lookup(text) TO bob")
    yield
    pg.admin_query("DROP FUNCTION public.pgbalancer_lookup(text)")


def test_user_found_through_auth_query_logs_in_with_scram_pass_through(pgbalancer, lookup_function):
    # Only bob (the auth_user, plaintext) is in the auth_file; alice's SCRAM verifier comes from
    # pg_shadow, and pgbalancer then logs in to PostgreSQL as alice with the keys she proved.
    b = pgbalancer(users={"bob": PASSWORDS["bob"]}, auth_user="bob", auth_query=LOOKUP)
    with b.connect("alice") as c:
        assert c.execute("SELECT current_user").fetchone() == ("alice",)
    assert PASSWORDS["alice"] not in b.log()


def test_wrong_password_and_unknown_user_fail_alike(pgbalancer, lookup_function):
    b = pgbalancer(users={"bob": PASSWORDS["bob"]}, auth_user="bob", auth_query=LOOKUP)
    for user, password in (("alice", WRONG_PASSWORD), ("nosuchuser", "whatever")):
        with b.raw() as r:
            err = r.startup(user, DBNAME, password)
        assert err is not None and err["C"] == "28P01", err
        assert err["M"] == 'password authentication failed for user "%s"' % user


def test_auth_query_failure_is_reported_not_hidden(pgbalancer, lookup_function):
    # A query that fails in PostgreSQL must not look like a wrong password, and must not crash.
    b = pgbalancer(users={"bob": PASSWORDS["bob"]}, auth_user="bob",
                   auth_query="SELECT usename, passwd FROM no_such_table WHERE usename=$1")
    with b.raw() as r:
        err = r.startup("alice", DBNAME, PASSWORDS["alice"])
    assert err is not None and err["C"] == "42P01", err
    b.assert_alive()
    with b.connect("bob") as c:
        assert c.execute("SELECT current_user").fetchone() == ("bob",)
