"""GET /groups/{g}/plans/{v}/diff: the partitions whose owner differs between two plan versions,
checked against the two stored plans themselves."""
from kplane_harness import assert_problem


def owners(plan):
    return {(p["cluster"], p["topic"], p["partition"]): t["task"]
            for t in plan["tasks"] for p in t["partitions"]}


def expected_diff(old, new):
    a, b = owners(old), owners(new)
    moves = {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}
    return moves, sum(1 for k in a if k in b and a[k] == b[k])


def check(s, group, v, frm):
    d = s.get(f"/api/v1/groups/{group}/plans/{v}/diff" + (f"?from={frm}" if frm else ""))
    assert d.status == 200, d
    new = s.get(f"/api/v1/groups/{group}/plans/{v}").json
    old = s.get(f"/api/v1/groups/{group}/plans/{frm or new['version'] - 1}").json
    moves, kept = expected_diff(old, new)
    got = {(m["cluster"], m["topic"], m["partition"]): (m["from_task"], m["to_task"])
           for m in d.json["moves"]}
    assert len(got) == len(d.json["moves"])  # each partition once
    assert got == moves
    assert d.json["unchanged"] == kept
    assert d.json["moved"] == sum(1 for a, b in moves.values() if a is not None and b is not None)
    assert d.json["added"] == sum(1 for a, _ in moves.values() if a is None)
    assert d.json["removed"] == sum(1 for _, b in moves.values() if b is None)
    assert (d.json["from"], d.json["to"]) == (old["version"], new["version"])
    assert (d.json["from_parallelism"], d.json["to_parallelism"]) == (old["parallelism"], new["parallelism"])
    return d.json


def test_diff_lists_exactly_the_partitions_that_change_owner(server):
    s = server
    for c, t in (("a", "orders"), ("b", "clicks")):
        assert s.post("/api/v1/clusters", {"name": c, "embedded": {"topics": [{"name": t, "partitions": 10}]}}).status == 201
        assert s.post(f"/api/v1/clusters/{c}/topics", {"name": t}).status == 201
    assert s.post("/api/v1/groups", {"name": "g", "topics": [{"cluster": "a", "topic": "orders"}],
                                     "parallelism": 10}).status == 201
    assert s.post("/api/v1/groups/g/plans", {}).status == 201                      # v1: 10 tasks
    assert s.post("/api/v1/groups/g/plans", {"parallelism": 5}).status == 201      # v2: sticky 10 -> 5
    d = check(s, "g", "current", None)
    assert d["moved"] == 5 and d["added"] == d["removed"] == 0 and d["unchanged"] == 5
    # a second topic joins: its partitions are added, sticky keeps the rest where they were
    assert s.put("/api/v1/groups/g", {"topics": [{"cluster": "a", "topic": "orders"},
                                                 {"cluster": "b", "topic": "clicks"}],
                                      "parallelism": 5}).status == 200
    assert s.post("/api/v1/groups/g/plans", {}).status == 201                      # v3
    d = check(s, "g", 3, None)
    assert d["added"] == 10 and d["removed"] == 0 and d["moved"] == 0
    assert all(m["from_task"] is None and m["topic"] == "clicks" for m in d["moves"])
    # and leaves again under another strategy: removed partitions have no new owner
    assert s.put("/api/v1/groups/g", {"topics": [{"cluster": "b", "topic": "clicks"}],
                                      "parallelism": 4, "strategy": "flink"}).status == 200
    assert s.post("/api/v1/groups/g/plans", {}).status == 201                      # v4
    d = check(s, "g", 4, None)
    assert d["removed"] == 10
    assert all(m["to_task"] is None for m in d["moves"] if m["topic"] == "orders")
    # any two versions, either order
    check(s, "g", 4, 1)
    check(s, "g", 2, 4)
    d = check(s, "g", 3, 3)
    assert d["moves"] == [] and d["unchanged"] == 20


def test_diff_errors_are_precise(server):
    s = server
    assert s.post("/api/v1/clusters", {"name": "a", "embedded": {"topics": [{"name": "orders", "partitions": 4}]}}).status == 201
    assert s.post("/api/v1/clusters/a/topics", {"name": "orders"}).status == 201
    assert s.post("/api/v1/groups", {"name": "g", "topics": [{"cluster": "a", "topic": "orders"}],
                                     "parallelism": 2}).status == 201
    assert_problem(s.get("/api/v1/groups/g/plans/current/diff"), 404)   # no plan yet
    assert s.post("/api/v1/groups/g/plans", {}).status == 201
    r = s.get("/api/v1/groups/g/plans/1/diff")                          # the first has no predecessor
    assert_problem(r, 404)
    assert "first" in r.json["detail"]
    assert_problem(s.get("/api/v1/groups/g/plans/1/diff?from=7"), 404)
    assert_problem(s.get("/api/v1/groups/g/plans/x/diff"), 404)
    assert_problem(s.get("/api/v1/groups/nope/plans/1/diff"), 404)
    for bad in ("0", "-1", "abc", "1.5", ""):
        assert_problem(s.get(f"/api/v1/groups/g/plans/1/diff?from={bad}"), 400, "from")
    r = s.post("/api/v1/groups/g/plans/1/diff", {})
    assert_problem(r, 405)
    assert r.headers["allow"] == "GET"
