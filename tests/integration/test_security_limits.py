"""Hardening (issue 12): limits that bound the work of a request, file sinks that stay in
their directory, a token by default on a public address, private database files, and bad
input refused with a 400 naming the field."""
import os
import stat

from kplane_harness import Server, assert_problem

WHATIF_PARTITIONS_MAX = 1000000  # server/base/config.h KP_WHATIF_PARTITIONS_MAX


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def embedded(s, name="c1", topic="orders", partitions=3):
    r = s.post("/api/v1/clusters", {"name": name, "embedded": {"topics": [{"name": topic, "partitions": partitions}]}})
    assert r.status == 201, r
    assert s.post(f"/api/v1/clusters/{name}/topics", {"name": topic}).status == 201


def test_whatif_over_1m_partitions_is_422_naming_the_limit_and_value(server):
    r = server.post("/api/v1/plan", {"topics": [
        {"cluster": "a", "topic": "x", "partitions": WHATIF_PARTITIONS_MAX},
        {"cluster": "a", "topic": "y", "partitions": 1}], "parallelism": 1000})
    assert_problem(r, 422)
    assert f"{WHATIF_PARTITIONS_MAX + 1} partitions" in r.json["detail"], r
    assert f"limit of {WHATIF_PARTITIONS_MAX}" in r.json["detail"], r


def test_sweep_too_large_is_422_naming_the_limit_and_value(server):
    r = server.post("/api/v1/plan/sweep", {
        "topics": [{"cluster": "a", "topic": "x", "partitions": 100000}],
        "parallelism": {"from": 1, "to": 4000}, "strategies": ["weighted"]})
    assert_problem(r, 422)
    assert "over the limit of 400000000" in r.json["detail"], r
    assert "1..4000" in r.json["detail"], r
    # parallelism x range counts too, with a single partition
    r = server.post("/api/v1/plan/sweep", {"topics": [{"cluster": "a", "topic": "x", "partitions": 1}],
                                          "parallelism": {"from": 96001, "to": 100000}})
    assert_problem(r, 422)


def test_embedded_cluster_too_large_is_422_and_nothing_is_created(server):
    r = server.post("/api/v1/clusters", {"name": "big", "embedded": {"topics": [
        {"name": f"t{i}", "partitions": 10000} for i in range(11)]}})
    assert_problem(r, 422)
    assert "110000 partitions" in r.json["detail"] and "100000" in r.json["detail"], r
    assert server.get("/api/v1/clusters/big").status == 404
    assert server.get("/api/v1/clusters").json["items"] == []


def test_start_past_kplane_max_tasks_is_422_and_the_group_stays_stopped(make_server):
    s = make_server(env={"KPLANE_MAX_TASKS": "5"})
    embedded(s)
    assert s.post("/api/v1/groups", {"name": "g", "parallelism": 6,
                                     "topics": [{"cluster": "c1", "topic": "orders"}]}).status == 201
    r = s.post("/api/v1/groups/g/start")
    assert_problem(r, 422)
    assert "KPLANE_MAX_TASKS=5" in r.json["detail"] and "6" in r.json["detail"], r
    assert s.get("/api/v1/groups/g/status").json["state"] == "stopped"
    assert s.get("/api/v1/groups/g").json["state"] == "stopped"


def test_huge_or_repeated_weights_are_400_naming_the_entry(server):
    base = {"topics": [{"cluster": "a", "topic": "x", "partitions": 2}], "parallelism": 2, "strategy": "weighted"}
    r = server.post("/api/v1/plan", dict(base, weights=[{"cluster": "a", "topic": "x", "partition": 0, "weight": 1e308}]))
    assert_problem(r, 400, "weights[0].weight")
    r = server.post("/api/v1/plan", dict(base, weights=[
        {"cluster": "a", "topic": "x", "partition": 1, "weight": 2},
        {"cluster": "a", "topic": "x", "partition": 1, "weight": 3}]))
    assert_problem(r, 400, "weights[1]")
    assert "twice" in r.json["errors"][0]["message"], r


def test_group_without_parallelism_is_400(server):
    embedded(server)
    r = server.post("/api/v1/groups", {"name": "g", "topics": [{"cluster": "c1", "topic": "orders"}]})
    assert_problem(r, 400, "parallelism")
    assert server.get("/api/v1/groups").json["items"] == []


def test_file_sink_path_that_leaves_the_sink_dir_is_400_naming_sink_path(server):
    embedded(server)
    for path in ("/tmp/x", "../x", "a/../../x"):
        r = server.post("/api/v1/groups", {"name": "g", "parallelism": 1, "topics": [{"cluster": "c1", "topic": "orders"}],
                                           "sink": {"type": "file", "path": path}})
        assert_problem(r, 400, "sink.path")
    assert server.get("/api/v1/groups").json["items"] == []
    r = server.post("/api/v1/groups", {"name": "g", "parallelism": 1, "topics": [{"cluster": "c1", "topic": "orders"}],
                                       "sink": {"type": "file", "path": "out/g"}})
    assert r.status == 201, r


def test_public_address_without_token_generates_one_kept_0600_and_printed_once(make_server):
    s = make_server(args=["--listen", "0.0.0.0:0"])
    token_file = os.path.join(os.path.dirname(s.db), "api-token")
    assert mode(token_file) == 0o600
    token = open(token_file).read().strip()
    assert len(token) == 64, token
    assert token in s.log()
    assert_problem(s.get("/api/v1/clusters"), 401)
    assert s.get("/api/v1/clusters", headers={"Authorization": "Bearer " + token}).status == 200
    assert s.get("/livez").status == 200
    # a later start reads it and says where it is, not what it is
    before = len(s.log())
    s.restart()
    later = s.log()[before:]
    assert token not in later and token_file in later, later
    assert s.get("/api/v1/clusters", headers={"Authorization": "Bearer " + token}).status == 200
    assert_problem(s.get("/api/v1/clusters"), 401)


def test_insecure_with_an_empty_token_is_the_only_way_to_run_open_publicly(make_server):
    s = make_server(args=["--listen", "0.0.0.0:0"], env={"KPLANE_INSECURE": "1"})
    assert_problem(s.get("/api/v1/clusters"), 401)  # KPLANE_INSECURE alone is not enough
    s.stop()
    s = make_server(args=["--listen", "0.0.0.0:0"], env={"KPLANE_INSECURE": "1", "KPLANE_API_TOKEN": ""})
    assert s.get("/api/v1/clusters").status == 200
    assert not os.path.exists(os.path.join(os.path.dirname(s.db), "api-token"))


def test_loopback_stays_open_and_the_database_is_0600(server):
    assert server.get("/api/v1/clusters").status == 200
    embedded(server)  # a write: the WAL exists
    assert mode(server.db) == 0o600
    for suffix in ("-wal", "-shm"):
        if os.path.exists(server.db + suffix):
            assert mode(server.db + suffix) == 0o600
    assert not os.path.exists(os.path.join(os.path.dirname(server.db), "api-token"))
