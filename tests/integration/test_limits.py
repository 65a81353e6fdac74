"""Pool limits across pools: min_pool_size, reserve_pool, max_db_connections, max_user_connections."""

import time

import psycopg
import pytest

from conftest import DBNAME, PASSWORDS, BackgroundCall, closing_all, default_users, wait_for


def assert_pool_timeout(exc):
    # FATAL, as pgbouncer does: the client's pending request cannot be run.
    assert "no server connection became available within query_wait_timeout" in str(exc.value)


def tx(**extra):
    return dict(pool_mode="transaction", **extra)


def in_transaction(b, user):
    """A client holding a server connection: an open transaction."""
    c = b.connect(user, autocommit=False)
    c.execute("SELECT 1")
    return c


@pytest.mark.timeout(60)
def test_min_pool_size_keeps_connections_warm(pgbalancer, pg):
    b = pgbalancer(**tx(max_pool=5, min_pool_size=3))
    with b.connect("bob") as c:  # the pool learns how to connect from its first client
        c.execute("SELECT 1")
    wait_for(lambda: len(pg.backend_pids("bob")) == 3, timeout=15,
             message="min_pool_size connections to be opened")
    time.sleep(1.5)  # and no more than that
    assert len(pg.backend_pids("bob")) == 3


@pytest.mark.timeout(60)
def test_reserve_pool_serves_a_client_that_waited(pgbalancer, pg):
    b = pgbalancer(**tx(max_pool=1, reserve_pool_size=1, reserve_pool_timeout="300ms",
                        query_wait_timeout=20))
    holder = in_transaction(b, "bob")
    with closing_all([holder]):
        started = time.monotonic()
        with b.connect("bob") as c:
            assert c.execute("SELECT 2").fetchone() == (2,)
        waited = time.monotonic() - started
        assert waited >= 0.25, "the reserve opened before reserve_pool_timeout (%.2fs)" % waited
        assert len(pg.backend_pids("bob")) == 2
    assert "reserve connection" in b.log()


@pytest.mark.timeout(60)
def test_without_reserve_the_waiting_client_times_out(pgbalancer):
    b = pgbalancer(**tx(max_pool=1, query_wait_timeout="1s"))
    holder = in_transaction(b, "bob")
    with closing_all([holder]):
        with b.connect("bob") as c:
            with pytest.raises(psycopg.Error) as exc:
                c.execute("SELECT 2")
            assert_pool_timeout(exc)


@pytest.mark.timeout(60)
def test_max_db_connections_spans_users(pgbalancer, pg):
    users = dict(default_users(pg), carol=PASSWORDS["carol"])
    b = pgbalancer(users=users, **tx(max_pool=5, max_db_connections=2, query_wait_timeout="1500ms"))
    a, bob = in_transaction(b, "alice"), in_transaction(b, "bob")
    with closing_all([a, bob]):
        assert len(pg.backend_pids()) == 2
        # carol's pool is new: it needs a server connection even to greet her
        with pytest.raises(psycopg.Error) as exc:
            b.connect("carol")
        assert_pool_timeout(exc)
        # Once one transaction ends, its connection sits idle in alice's pool: carol's pool
        # may close it to open its own, so carol is served.
        a.commit()
        with b.connect("carol") as c:
            assert c.execute("SELECT current_user").fetchone() == ("carol",)
        assert len(pg.backend_pids()) <= 2


@pytest.mark.timeout(60)
def test_max_user_connections_spans_databases(pgbalancer, pg):
    b = pgbalancer(**tx(max_pool=5, max_user_connections=1, query_wait_timeout="1500ms"))
    holder = in_transaction(b, "bob")
    with closing_all([holder]):
        with pytest.raises(psycopg.Error) as exc:
            b.connect("bob", dbname="postgres")
        assert_pool_timeout(exc)
        holder.commit()
        with b.connect("bob", dbname="postgres") as c:
            assert c.execute("SELECT current_database()").fetchone() == ("postgres",)
    assert len(pg.backend_pids("bob", DBNAME)) + len(pg.backend_pids("bob", "postgres")) <= 1


@pytest.mark.timeout(60)
def test_a_waiting_client_gets_the_connection_given_back(pgbalancer):
    b = pgbalancer(**tx(max_pool=1, query_wait_timeout=20))
    holder = in_transaction(b, "bob")
    with closing_all([holder]):
        with b.connect("bob") as c:
            call = BackgroundCall(lambda: c.execute("SELECT 3").fetchone())
            time.sleep(0.5)
            assert not call.done(), "ran although the only connection was held"
            holder.commit()
            assert call.result(10) == (3,)
