"""The status of a group that is not running reads its offsets from the clusters, as
kafka-consumer-groups --describe does: committed offset, high watermark and lag per partition,
task from the current plan, within a bounded time even when a cluster does not answer."""
import time

import pytest

import runtime_tools as rt
from runtime_tools import Part

TOPIC = "orders"
PARTS = 4


@pytest.fixture
def emb(server):
    """An embedded cluster "e" with a 4-partition topic, registered; @returns its bootstrap."""
    rt.ok(server.post("/api/v1/clusters", {"name": "e", "embedded": {
        "topics": [{"name": TOPIC, "partitions": PARTS}]}}), 201)
    rt.ok(server.post("/api/v1/clusters/e/topics", {"name": TOPIC}), 201)
    return rt.ok(server.get("/api/v1/clusters/e"), 200)["bootstrap_servers"]


def make_group(server, name, clusters, parallelism=2):
    rt.ok(server.post("/api/v1/groups", {
        "name": name, "parallelism": parallelism,
        "topics": [{"cluster": c, "topic": TOPIC} for c in clusters],
        "sink": {"type": "discard"}}), 201)


def rows(st):
    return {Part(p["cluster"], p["topic"], p["partition"]): p for p in st["partitions"]}


def test_stopped_group_shows_committed_offsets_high_watermarks_and_lag(server, emb):
    make_group(server, "g", ["e"])
    ledger = rt.Ledger()
    targets = [(emb, Part("e", TOPIC, p)) for p in range(PARTS)]
    for i, t in enumerate(targets):  # uneven: 10, 20, 30, 40 messages
        ledger.produce([t], 10 * (i + 1))
    rt.start(server, "g")
    rt.wait_caught_up(server, "g", ledger.snapshot(), timeout=60)
    plan = rt.ok(server.get("/api/v1/groups/g/plans/current"), 200)
    rt.stop(server, "g")  # the stop commits what the sinks took

    t0 = time.time()
    st = rt.status(server, "g")
    print(f"stopped status of {PARTS} partitions: {1000 * (time.time() - t0):.0f} ms")
    assert st["state"] == "stopped" and st["plan_version"] == plan["version"], st
    owners = rt.plan_owners(plan)
    got = rows(st)
    assert set(got) == set(ledger.snapshot()), st["partitions"]
    for part, n in ledger.snapshot().items():
        row = got[part]
        assert row["committed"] == n, row  # what was consumed
        assert row["high_watermark"] == n and row["lag"] == 0, row
        assert row["position"] is None and row["task"] == owners[part], row
        assert "error" not in row, row
    assert st["totals"] == {"messages": 0, "lag": 0}, st["totals"]
    assert st["clusters"] == [{"cluster": "e", "state": "ok", "last_error": None,
                               "last_error_at": None}], st

    # produced while stopped: the lag is what the group has not read yet
    ledger.produce([targets[0]], 7)
    ledger.produce([targets[3]], 5)
    got = rows(rt.status(server, "g"))
    assert (got[targets[0][1]]["committed"], got[targets[0][1]]["high_watermark"],
            got[targets[0][1]]["lag"]) == (10, 17, 7)
    assert (got[targets[3][1]]["committed"], got[targets[3][1]]["high_watermark"],
            got[targets[3][1]]["lag"]) == (40, 45, 5)
    assert rt.status(server, "g")["totals"]["lag"] == 12
    for row in got.values():
        assert row["lag"] == row["high_watermark"] - row["committed"], row


def test_never_started_group_shows_no_committed_offsets(server, emb):
    make_group(server, "fresh", ["e"])
    ledger = rt.Ledger()
    ledger.produce([(emb, Part("e", TOPIC, 1))], 6)
    st = rt.status(server, "fresh")
    assert st["state"] == "stopped" and st["plan_version"] is None, st
    assert len(st["partitions"]) == PARTS, st
    for row in st["partitions"]:
        # nothing committed: committed and lag unknown, not 0; no plan: no task
        assert row["committed"] is None and row["lag"] is None, row
        assert row["task"] is None and row["position"] is None, row
        assert row["high_watermark"] == (6 if row["partition"] == 1 else 0), row
    assert st["totals"]["lag"] == 0

    # once planned, the task numbers come from the current plan
    plan = rt.ok(server.post("/api/v1/groups/fresh/plans", {}), 201)
    st = rt.status(server, "fresh")
    owners = rt.plan_owners(plan)
    assert st["plan_version"] == plan["version"]
    assert {Part(p["cluster"], p["topic"], p["partition"]): p["task"]
            for p in st["partitions"]} == owners
    assert all(p["committed"] is None for p in st["partitions"])


def test_unreachable_cluster_answers_quickly_with_its_error(server, emb):
    mock = rt.Mock(f"{TOPIC}:{PARTS}")
    try:
        rt.ok(server.post("/api/v1/clusters", {"name": "gone", "bootstrap_servers": mock.bootstrap}), 201)
        rt.ok(server.post("/api/v1/clusters/gone/topics", {"name": TOPIC}), 201)
    finally:
        mock.stop()  # the cluster is gone: connections to it are refused
    make_group(server, "both", ["e", "gone"])
    ledger = rt.Ledger()
    ledger.produce([(emb, Part("e", TOPIC, 0))], 3)

    t0 = time.time()
    resp = server.get("/api/v1/groups/both/status", timeout=20)
    took = time.time() - t0
    print(f"stopped status with one unreachable cluster: {took:.2f} s")
    st = rt.ok(resp, 200)
    # bounded by the metadata timeout (3 s) for the whole answer, not per partition
    assert took < 5, took
    clusters = {c["cluster"]: c["last_error"] for c in st["clusters"]}
    assert clusters["e"] is None, clusters
    assert isinstance(clusters["gone"], str) and clusters["gone"], clusters
    states = {c["cluster"]: (c["state"], c["last_error_at"]) for c in st["clusters"]}
    assert states["e"] == ("ok", None), states
    assert states["gone"][0] == "error" and states["gone"][1].endswith("Z"), states
    got = rows(st)
    assert len(got) == 2 * PARTS
    for part, row in got.items():
        if part.cluster == "gone":
            assert row["error"] == clusters["gone"], row
            assert row["committed"] is None and row["high_watermark"] is None and row["lag"] is None, row
        else:
            # the reachable cluster is read as usual
            assert "error" not in row, row
            assert row["high_watermark"] == (3 if part.partition == 0 else 0), row

    # Pollers (the web page every 2.5 s) must not wait out the timeout again on every
    # poll: the failure is remembered for a while and answered at once, with its time,
    # while the reachable cluster is still read fresh.
    ledger.produce([(emb, Part("e", TOPIC, 0))], 2)
    t0 = time.time()
    again = rt.ok(server.get("/api/v1/groups/both/status", timeout=20), 200)
    took = time.time() - t0
    print(f"second read with the failure remembered: {took:.2f} s")
    assert took < 1, took
    states2 = {c["cluster"]: (c["state"], c["last_error"], c["last_error_at"]) for c in again["clusters"]}
    assert states2["gone"] == ("error", clusters["gone"], states["gone"][1]), (states2, states)
    assert states2["e"] == ("ok", None, None), states2
    assert rows(again)[Part("e", TOPIC, 0)]["high_watermark"] == 5
