"""What the REST API reports, checked against the truth: nodes and their operations, health
probes, pools, clients and server connections (matched with PostgreSQL's own backend pids),
traffic statistics after known work, the redacted configuration, log rotation, and every
/metrics family parsed with prometheus_client."""
import json
import os

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import DBNAME, free_port, wait_for
from test_rest_api import SECRET, _listening, request, rest_block, token


def start_api(pgbalancer, **config):
    port = free_port()
    b = pgbalancer(rest_api=rest_block(port), **config)
    wait_for(lambda: _listening(port), message="REST API to listen")
    return b, port


def get(port, path, role="viewer"):
    resp, body = request(port, "GET", path, token(role))
    assert resp.status == 200, (path, resp.status, body)
    return json.loads(body)


def metrics(port):
    resp, body = request(port, "GET", "/metrics")
    assert resp.status == 200, body
    return {f.name: f for f in text_string_to_metric_families(body)}


@pytest.fixture
def two_nodes(pgbalancer, pg):
    """The primary, and a standby entry on a port where nothing listens."""
    dead = free_port()
    servers = [{"hostname": "127.0.0.1", "port": pg.port, "weight": 1, "role": "primary"},
               {"hostname": "127.0.0.1", "port": dead, "weight": 2, "role": "standby"}]
    b, port = start_api(pgbalancer, backend_servers=servers)
    return b, port, dead


def test_nodes_report_role_status_connections_and_queries(two_nodes, pg):
    b, port, dead = two_nodes
    nodes = get(port, "/api/v1/nodes")
    assert [(n["id"], n["role"], n["status"], n["weight"]) for n in nodes] == [
        (0, "primary", "unknown", 1), (1, "standby", "unknown", 2)]
    with b.connect() as c:
        for _ in range(3):
            c.execute("SELECT 1")
        primary = get(port, "/api/v1/nodes/0")
        assert primary["status"] == "up"
        assert primary["port"] == pg.port
        assert primary["connections"] == 1
        assert primary["queries_routed"] >= 3
    standby = get(port, "/api/v1/nodes/1")
    assert standby["port"] == dead and standby["queries_routed"] == 0
    assert standby["connections"] == 0


def test_node_operations_answer_501_and_unknown_nodes_404(two_nodes):
    _, port, _ = two_nodes
    for op in ("attach", "detach", "promote", "recovery"):
        resp, body = request(port, "POST", "/api/v1/nodes/1/" + op, token("admin"))
        assert resp.status == 501, body
        err = json.loads(body)
        assert err["error"] == "not_implemented" and op in err["message"], body
    resp, body = request(port, "POST", "/api/v1/nodes/1/detach", token("viewer"))
    assert resp.status == 403, body
    resp, body = request(port, "GET", "/api/v1/nodes/1/detach", token("admin"))
    assert resp.status == 405 and resp.getheader("Allow") == "POST", body
    for path in ("/api/v1/nodes/2", "/api/v1/nodes/abc", "/api/v1/nodes/-1",
                 "/api/v1/nodes/0/frobnicate", "/api/v1/nodes/2/detach"):
        resp, body = request(port, "GET" if "detach" not in path else "POST", path,
                             token("admin"))
        assert resp.status == 404 and json.loads(body)["error"] == "not_found", (path, body)


def test_health_probes_every_backend(two_nodes, pg):
    _, port, dead = two_nodes
    health = get(port, "/api/v1/health")
    up, down = health["nodes"]
    assert (up["id"], up["port"], up["status"], up["error"]) == (0, pg.port, "up", None)
    assert up["latency_ms"] > 0
    assert up["checked_at"].endswith("Z") and up["checked_at"][:2] == "20"
    assert (down["id"], down["port"], down["status"]) == (1, dead, "down")
    assert "refused" in down["error"].lower(), down
    fams = metrics(port)
    failures = {s.labels["node_id"]: s.value
                for s in fams["pgbalancer_health_check_failures"].samples
                if s.name.endswith("_total")}
    assert failures == {"0": 0, "1": 1}


def test_clients_and_servers_match_postgresql(pgbalancer, pg):
    b, port = start_api(pgbalancer)
    with b.connect(application_name="reporting") as c, b.connect() as other:
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        other.execute("SELECT 1")
        c.execute("BEGIN")
        c.execute("SELECT 1")
        clients = get(port, "/api/v1/clients")
        assert len(clients) == 2
        mine = next(x for x in clients if x["application_name"] == "reporting")
        assert (mine["user"], mine["database"], mine["state"], mine["backend_pid"]) == (
            "alice", DBNAME, "idle in transaction", pid)
        assert mine["address"].startswith("127.0.0.1:") and mine["tls"] is False
        assert mine["since"].endswith("Z")
        c.execute("COMMIT")
        states = {x["application_name"]: x["state"] for x in get(port, "/api/v1/clients")}
        assert states["reporting"] == "idle"
        servers = get(port, "/api/v1/servers")
        assert sorted(s["backend_pid"] for s in servers) == sorted(pg.backend_pids("alice"))
        assert {(s["user"], s["database"], s["state"], s["node_id"]) for s in servers} == {
            ("alice", DBNAME, "active", 0)}
        assert len({s["id"] for s in servers}) == 2
    wait_for(lambda: get(port, "/api/v1/clients") == [], message="clients to leave the list")
    servers = get(port, "/api/v1/servers")
    assert [s["state"] for s in servers] == ["idle", "idle"]


def test_transaction_mode_client_holds_no_server_between_transactions(pgbalancer):
    b, port = start_api(pgbalancer, pool_mode="transaction")
    with b.connect(application_name="tx") as c:
        c.execute("SELECT 1")
        (client,) = get(port, "/api/v1/clients")
        assert (client["state"], client["backend_pid"]) == ("idle", None)
        with c.transaction():
            pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
            (client,) = get(port, "/api/v1/clients")
            assert (client["state"], client["backend_pid"]) == ("idle in transaction", pid)
            (pool,) = get(port, "/api/v1/pools")
            assert (pool["clients_active"], pool["servers_active"]) == (1, 1)
        (pool,) = get(port, "/api/v1/pools")
        assert (pool["clients_active"], pool["servers_active"], pool["servers_idle"]) == (1, 0, 1)


def test_stats_count_known_work(pgbalancer):
    b, port = start_api(pgbalancer, pool_mode="transaction")
    with b.connect() as c:
        c.execute("SELECT 1")  # the pool exists from here on
        (before,) = get(port, "/api/v1/stats")
        for i in range(20):
            # Extended protocol, one Sync each (prepare=False: no separate Parse round trip).
            c.execute("SELECT %s::int", (i,), prepare=False)
        with c.transaction():
            c.execute("SELECT 1")
            c.execute("SELECT pg_sleep(0.05)")
        (after,) = get(port, "/api/v1/stats")
    # 20 statements, then BEGIN, two statements and COMMIT: one answer each.
    assert after["queries"] - before["queries"] == 24
    assert after["transactions"] - before["transactions"] == 21
    assert after["bytes_received"] > before["bytes_received"]
    assert after["bytes_sent"] > before["bytes_sent"]
    assert 0 < after["query_time_avg_us"] < 1e6
    assert after["query_time_p99_us"] >= after["query_time_avg_us"]
    # The transaction with the sleep raises the average transaction time above 50 ms / 21.
    assert after["transaction_time_avg_us"] * after["transactions"] >= 50_000
    fams = metrics(port)
    (queries,) = [s.value for s in fams["pgbalancer_queries"].samples if s.name.endswith("_total")]
    assert queries == after["queries"]
    hist = {s.name: s for s in fams["pgbalancer_query_duration_seconds"].samples
            if "le" not in s.labels or s.labels["le"] == "+Inf"}
    assert hist["pgbalancer_query_duration_seconds_count"].value == queries
    assert hist["pgbalancer_query_duration_seconds_bucket"].value == queries
    assert hist["pgbalancer_query_duration_seconds_sum"].value >= 0.05


def test_config_shows_effective_settings_without_secrets(pgbalancer):
    b, port = start_api(pgbalancer, pool_mode="transaction", max_pool=7)
    resp, body = request(port, "GET", "/api/v1/config", token())
    assert resp.status == 200
    assert SECRET not in body
    cfg = json.loads(body)
    assert cfg["pool_mode"] == "transaction" and cfg["max_pool"] == 7
    assert cfg["port"] == b.port and cfg["ssl"] is False
    assert cfg["query_wait_timeout"] == "120s"
    assert cfg["rest_api"]["jwt_secret"] == "<redacted>"
    assert cfg["rest_api"]["port"] == port


def test_logrotate_reopens_the_log_file(pgbalancer, tmp_path):
    log_file = tmp_path / "pgbalancer-file.log"
    b, port = start_api(pgbalancer, log_file=str(log_file))
    wait_for(lambda: log_file.exists() and "started" in log_file.read_text(),
             message="the log file to be written")
    rotated = tmp_path / "pgbalancer-file.log.1"
    os.rename(log_file, rotated)  # what logrotate does before asking for a reopen
    resp, body = request(port, "POST", "/api/v1/logrotate", token("admin"))
    assert resp.status == 200, body
    assert json.loads(body) == {"reopened": True, "message": "reopened %s" % log_file}
    with b.connect() as c:
        c.execute("SELECT 1")
    wait_for(lambda: log_file.exists() and "log file reopened" in log_file.read_text(),
             message="logging to the new file")
    assert "log file reopened" not in rotated.read_text()


def test_logrotate_without_log_file_says_so(pgbalancer):
    _, port = start_api(pgbalancer)
    resp, body = request(port, "POST", "/api/v1/logrotate", token("admin"))
    assert resp.status == 200, body
    assert json.loads(body)["reopened"] is False
    assert "stderr" in json.loads(body)["message"]


def test_metrics_cover_backends_pools_and_traffic(two_nodes):
    b, port, _ = two_nodes
    with b.connect() as c:
        c.execute("SELECT 1")
        fams = metrics(port)
    types = {name: f.type for name, f in fams.items()}
    for name, kind in [("pgbalancer_backend_up", "gauge"), ("pgbalancer_backend_role", "gauge"),
                       ("pgbalancer_backend_connections", "gauge"),
                       ("pgbalancer_backend_queries", "counter"),
                       ("pgbalancer_backend_connect_failures", "counter"),
                       ("pgbalancer_health_check_failures", "counter"),
                       ("pgbalancer_pool_connections_active", "gauge"),
                       ("pgbalancer_pool_clients_active", "gauge"),
                       ("pgbalancer_queries", "counter"), ("pgbalancer_transactions", "counter"),
                       ("pgbalancer_received_bytes", "counter"),
                       ("pgbalancer_sent_bytes", "counter"),
                       ("pgbalancer_query_duration_seconds", "histogram")]:
        assert types.get(name) == kind, name
    up = {s.labels["node_id"]: s.value for s in fams["pgbalancer_backend_up"].samples}
    assert up == {"0": 1}  # the standby was never tried: no sample rather than a false 0
    roles = {s.labels["node_id"]: s.labels["role"] for s in fams["pgbalancer_backend_role"].samples}
    assert roles == {"0": "primary", "1": "standby"}
    conns = {s.labels["node_id"]: s.value for s in fams["pgbalancer_backend_connections"].samples}
    assert conns == {"0": 1, "1": 0}


def test_pools_that_share_a_name_stay_apart(pgbalancer):
    """Session mode keys pools by every startup parameter: two application names, two pools of
    one user and database, listed and exported under different names."""
    b, port = start_api(pgbalancer)
    with b.connect(application_name="one") as a, b.connect(application_name="two") as c:
        a.execute("SELECT 1")
        c.execute("SELECT 1")
        pools = get(port, "/api/v1/pools")
        assert len(pools) == 2 and len({p["name"] for p in pools}) == 2
        assert [p["clients_active"] for p in pools] == [1, 1]
        assert any(p["name"].endswith(" #2") for p in pools)
        fams = metrics(port)  # the parser refuses duplicate series
        assert len(fams["pgbalancer_pool_connections_active"].samples) == 2


def test_metrics_behind_jwt_when_configured(pgbalancer):
    port = free_port()
    pgbalancer(rest_api=rest_block(port, jwt_for_metrics="true"))
    wait_for(lambda: _listening(port), message="REST API to listen")
    resp, _ = request(port, "GET", "/metrics")
    assert resp.status == 401
    resp, body = request(port, "GET", "/metrics", token("viewer"))
    assert resp.status == 200 and "pgbalancer_up 1" in body
