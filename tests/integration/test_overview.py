"""The demo is alive on first sight, and GET /api/v1/overview sums up every group and cluster
without contacting a cluster."""
import time


def wait_for(fn, timeout=60, interval=0.25):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"not true within {timeout}s: {last!r}")


def test_demo_starts_its_group_and_it_consumes(make_server):
    s = make_server(args=["--demo"])
    st = s.get("/api/v1/groups/analytics/status")
    assert st.status == 200, st
    assert st.json["state"] in ("starting", "running"), st.json

    def consuming():
        j = s.get("/api/v1/groups/analytics/status").json
        return j["state"] == "running" and j["totals"]["messages"] > 0 and j
    consuming_status = wait_for(consuming)
    assert sum(t["messages_per_s"] for t in consuming_status["tasks"]) >= 0


def test_demo_group_runs_again_after_a_restart_even_if_stopped(make_server):
    s = make_server(args=["--demo"])
    assert s.post("/api/v1/groups/analytics/stop", {}).status == 202
    s.restart()
    assert s.get("/api/v1/groups/analytics").json["state"] in ("starting", "running")


def overview(s):
    r = s.get("/api/v1/overview")
    assert r.status == 200, r
    return r.json


def test_overview_shows_the_demo_group_running_with_flinks_idle_tasks(make_server):
    s = make_server(args=["--demo"])

    def live():
        o = overview(s)
        gs = {x["name"]: x for x in o["groups"]}
        g, m = gs.get("analytics"), gs.get("mirror")
        return (g and g["state"] == "running" and g["messages_per_s"] > 0 and m
                and m["state"] == "running" and (o, g))
    o, g = wait_for(live)
    assert g["parallelism"] == 30 and g["strategy"] == "balanced" and g["plan_version"] >= 1
    assert g["partitions"] == 30 and g["tasks_running"] + g["tasks_idle"] == 30
    assert g["skew"] == 1.0
    assert g["lag"] >= 0 and g["lag_state"] in ("OK", "UNKNOWN", "WARN", "STALL") and g["lag_rule"]  # demo-b is slow in phases
    assert g["sink"] == {"type": "discard", "delivery": "none"}
    assert g["clusters"] == ["demo-a", "demo-b", "demo-c"]
    # the seed's topology: Flink leaves 4 of 30 tasks idle and is even at 28 (and 38)
    assert g["flink"]["idle_tasks"] == 4 and not g["flink"]["even"], g["flink"]
    assert g["flink"]["nearest_even_parallelism"] == 28, g["flink"]
    # the same figures as the what-if of the flink strategy
    topics = [{"cluster": c, "topic": t, "partitions": 10}
              for c, t in (("demo-a", "orders"), ("demo-b", "payments"), ("demo-c", "clicks"))]
    wi = s.post("/api/v1/plan", {"topics": topics, "parallelism": 30, "strategy": "flink"}).json
    assert wi["analysis"]["idle_tasks"] == g["flink"]["idle_tasks"]
    # the demo's second group copies demo-a's topic to demo-b through the Kafka sink
    m = {x["name"]: x for x in o["groups"]}["mirror"]
    assert m["sink"] == {"type": "kafka", "delivery": "at_least_once"} and m["clusters"] == ["demo-a"]
    assert o["totals"]["groups"] == 2 and o["totals"]["groups_running"] == 2
    assert o["totals"]["messages_per_s"] > 0
    clusters = {c["name"]: c for c in o["clusters"]}
    assert set(clusters) == {"demo-a", "demo-b", "demo-c"}
    for c in clusters.values():
        assert c["reachable"] is True and c["embedded"] and c["brokers"] == 1
        assert c["topics"] == 1 and c["partitions"] == 10
        assert c["groups"] == (["analytics", "mirror"] if c["name"] == "demo-a" else ["analytics"])
    # stopped: STOP, no lag figure (the overview reads no cluster), plan figures stay
    assert s.post("/api/v1/groups/analytics/stop", {}).status == 202
    g = {x["name"]: x for x in overview(s)["groups"]}["analytics"]
    assert g["state"] == "stopped" and g["lag_state"] == "STOP" and g["lag"] is None
    assert g["tasks_running"] == 0 and g["messages_per_s"] == 0 and g["skew"] == 1.0
    assert overview(s)["totals"]["groups_running"] == 1  # the mirror runs on


def test_overview_answers_against_the_openapi_schema(make_server):
    from test_openapi import DOC_PATH, check, response_schema
    import json
    with open(DOC_PATH, encoding="utf-8") as f:
        doc = json.load(f)
    s = make_server(args=["--demo"])
    # an external cluster nobody reads, and a group that was never planned
    assert s.post("/api/v1/clusters", {"name": "far", "bootstrap_servers": "127.0.0.1:9"}).status == 201
    assert s.post("/api/v1/groups", {"name": "unplanned", "parallelism": 3,
                                     "topics": [{"cluster": "demo-a", "topic": "orders"}],
                                     "sink": {"type": "file", "path": "out"}}).status == 201
    schema = response_schema(doc, "GET", "/api/v1/overview", "200")
    o = overview(s)
    assert check(doc, schema, o) == [], check(doc, schema, o)
    groups = {g["name"]: g for g in o["groups"]}
    assert [g["name"] for g in o["groups"]] == sorted(groups)
    u = groups["unplanned"]
    assert u["plan_version"] is None and u["skew"] is None and u["partitions"] == 10
    assert u["sink"] == {"type": "file", "delivery": "at_least_once"}
    assert u["flink"]["even"] is True and u["flink"]["nearest_even_parallelism"] == 3
    far = {c["name"]: c for c in o["clusters"]}["far"]
    assert far["reachable"] is None and far["reachable_from"] == "none" and far["groups"] == []
    # once the demo group runs a while, the live figures validate too
    wait_for(lambda: groups_running(s))
    o = overview(s)
    assert check(doc, schema, o) == [], check(doc, schema, o)


def groups_running(s):
    return overview(s)["totals"]["groups_running"] >= 1


def test_overview_never_waits_for_an_unreachable_cluster(server):
    # 10.255.255.1 does not answer: anything that asked it would wait for a timeout
    for i in range(3):
        assert server.post("/api/v1/clusters", {"name": f"dark{i}",
                                                "bootstrap_servers": "10.255.255.1:9092"}).status == 201
    t0 = time.monotonic()
    o = overview(server)
    took = time.monotonic() - t0
    assert took < 1.0, took
    assert all(c["reachable"] is None for c in o["clusters"]), o["clusters"]


def test_overview_of_1000_groups_answers_in_reasonable_time(server):
    # 1,000 groups over 100,000 partitions, created through the API
    topics = [{"name": f"t{i}", "partitions": 100} for i in range(10)]
    assert server.post("/api/v1/clusters", {"name": "big", "embedded": {"brokers": 1, "topics": topics}}).status == 201
    for t in topics:
        assert server.post("/api/v1/clusters/big/topics", {"name": t["name"]}).status == 201
    for i in range(1000):
        r = server.post("/api/v1/groups", {"name": f"g{i:04d}", "parallelism": 7 + i % 50,
                                           "strategy": "flink" if i % 2 else "balanced",
                                           "topics": [{"cluster": "big", "topic": f"t{i % 10}"},
                                                      {"cluster": "big", "topic": f"t{(i + 1) % 10}"}]})
        assert r.status == 201, r
    for i in range(0, 1000, 10):  # a tenth with a plan
        assert server.post(f"/api/v1/groups/g{i:04d}/plans", {}).status == 201
    times = []
    for _ in range(5):
        t0 = time.monotonic()
        o = overview(server)
        times.append(time.monotonic() - t0)
    times.sort()
    print(f"overview of 1000 groups: median {times[2] * 1000:.0f} ms, slowest {times[-1] * 1000:.0f} ms")
    assert len(o["groups"]) == 1000
    assert sum(g["partitions"] for g in o["groups"]) == 200_000
    assert sum(1 for g in o["groups"] if g["plan_version"]) == 100
    assert all(g["flink"] is not None for g in o["groups"])
    # generous on a loaded 2-core box: a page refreshes this every few seconds
    assert times[2] < 1.0, times
