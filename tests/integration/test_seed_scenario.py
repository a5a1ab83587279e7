"""The seed's scenario over HTTP: 3 embedded clusters x 1 topic x 10 partitions at parallelism 30, 20, 40."""
import json
import subprocess

from kplane_harness import assert_problem

TOPICS = [("seed-a", "orders"), ("seed-b", "payments"), ("seed-c", "clicks")]


def setup_seed(s, group="analytics", parallelism=30):
    for cluster, topic in TOPICS:
        r = s.post("/api/v1/clusters", {"name": cluster, "embedded": {
            "brokers": 1, "topics": [{"name": topic, "partitions": 10}]}})
        assert r.status == 201, r
        assert r.headers["location"] == f"/api/v1/clusters/{cluster}"
        r = s.post(f"/api/v1/clusters/{cluster}/topics", {"name": topic})
        assert r.status == 201, r
        assert r.json["partitions"] == 10
    r = s.post("/api/v1/groups", {"name": group, "parallelism": parallelism,
                                  "topics": [{"cluster": c, "topic": t} for c, t in TOPICS]})
    assert r.status == 201, r
    return r


def partitions_of(plan):
    return [(p["cluster"], p["topic"], p["partition"]) for t in plan["tasks"] for p in t["partitions"]]


def check_plan(plan, tasks):
    assert [t["task"] for t in plan["tasks"]] == list(range(tasks))
    parts = partitions_of(plan)
    assert len(parts) == 30 and len(set(parts)) == 30, "every partition exactly once"


def test_seed_parallelism_30_20_40(server):
    s = server
    setup_seed(s)
    r = s.post("/api/v1/groups/analytics/plans", {})
    assert r.status == 201, r
    p = r.json
    assert p["version"] == 1 and p["group"] == "analytics"
    check_plan(p, 30)
    a = p["analysis"]
    assert a["case"] == "partitions_equal_parallelism"
    assert a["idle_tasks"] == 0 and a["min_partitions_per_task"] == 1 and a["max_partitions_per_task"] == 1
    assert a["skew"] == 1.0

    r = s.post("/api/v1/groups/analytics/plans", {"parallelism": 20})
    assert r.status == 201 and r.json["version"] == 2
    check_plan(r.json, 20)
    a = r.json["analysis"]
    assert a["case"] == "partitions_above_parallelism"
    assert (a["min_partitions_per_task"], a["max_partitions_per_task"], a["idle_tasks"]) == (1, 2, 0)

    r = s.post("/api/v1/groups/analytics/plans", {"parallelism": 40})
    assert r.status == 201 and r.json["version"] == 3
    check_plan(r.json, 40)
    a = r.json["analysis"]
    assert a["case"] == "partitions_below_parallelism"
    assert a["idle_tasks"] == 10
    assert any("rebalance" in rec for rec in a["recommendations"]), a

    r = s.get("/api/v1/groups/analytics/plans/current")
    assert r.status == 200 and r.json["version"] == 3 and r.json["parallelism"] == 40
    r = s.get("/api/v1/groups/analytics/plans/2")
    assert r.status == 200 and r.json["parallelism"] == 20
    r = s.get("/api/v1/groups/analytics/plans")
    assert [i["version"] for i in r.json["items"]] == [3, 2, 1]


def test_flink_strategy_shows_the_seed_problem(server):
    """Flink's placement of 3 topics x 10 partitions on 30 tasks leaves tasks idle."""
    s = server
    setup_seed(s)
    r = s.post("/api/v1/groups/analytics/plans", {"strategy": "flink"})
    assert r.status == 201, r
    a = r.json["analysis"]
    check_plan(r.json, 30)
    assert a["idle_tasks"] > 0 and a["max_partitions_per_task"] >= 2, a


def test_whatif_and_sweep(server):
    s = server
    topics = [{"cluster": c, "topic": t, "partitions": 10} for c, t in TOPICS]
    r = s.post("/api/v1/plan", {"topics": topics, "parallelism": 30, "strategy": "flink"})
    assert r.status == 200, r
    check_plan(r.json, 30)
    r = s.post("/api/v1/plan/sweep", {"topics": topics, "parallelism": {"from": 1, "to": 64},
                                      "strategies": ["flink", "balanced"]})
    assert r.status == 200, r
    items = r.json["items"]
    assert len(items) == 128
    bal30 = [i for i in items if i["parallelism"] == 30 and i["strategy"] == "balanced"][0]
    assert bal30["analysis"]["idle_tasks"] == 0
    # nothing was stored by a what-if
    assert s.get("/api/v1/groups").json["items"] == []


def test_outside_client_reads_embedded_cluster_metadata(server):
    """kcat, an outside Kafka client, reads the embedded cluster kplane hosts."""
    s = server
    setup_seed(s)
    bs = s.get("/api/v1/clusters/seed-a").json["bootstrap_servers"]
    assert bs and ":" in bs
    out = subprocess.run(["kcat", "-b", bs, "-L", "-J"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    md = json.loads(out.stdout)
    topics = {t["topic"]: len(t["partitions"]) for t in md["topics"]}
    assert topics.get("orders") == 10
    r = s.get("/api/v1/clusters/seed-a/metadata")
    assert r.status == 200 and {"name": "orders", "partitions": 10} in r.json["topics"]


def test_restart_keeps_everything(server):
    s = server
    setup_seed(s)
    s.post("/api/v1/groups/analytics/plans", {"parallelism": 20})
    before = {p: s.get(p).json for p in ["/api/v1/clusters", "/api/v1/groups",
                                          "/api/v1/groups/analytics/plans/current",
                                          "/api/v1/clusters/seed-a/topics"]}
    s.restart()
    for p, doc in before.items():
        after = s.get(p).json
        if p == "/api/v1/clusters":
            # embedded clusters come back on new ports
            for c in doc["items"] + after["items"]:
                c.pop("bootstrap_servers")
        assert after == doc, p
    # the embedded cluster is back, with its topic
    r = s.get("/api/v1/clusters/seed-b/metadata")
    assert r.status == 200 and {"name": "payments", "partitions": 10} in r.json["topics"]


def test_kill_9_keeps_committed_state(server):
    import signal
    s = server
    setup_seed(s)
    s.post("/api/v1/groups/analytics/plans", {"parallelism": 20})
    s.stop(signal.SIGKILL)
    s.start()
    r = s.get("/api/v1/groups/analytics/plans/current")
    assert r.status == 200 and r.json["version"] == 1 and r.json["parallelism"] == 20
