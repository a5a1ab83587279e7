"""GET /api/v1/groups/{name}/history: a running group's lag over the last minutes, from the
runtime's bounded rings: one total each second, the most lagging partitions every 5 s."""
import json
import time
from pathlib import Path

import pytest

import runtime_tools as rt
from test_openapi import DOC_PATH, check, response_schema

PART_EVERY = 5  # KP_HISTORY_PART_EVERY: partition samples per group sample
FULL_AT = 1 << 30  # the server may not grow a file past this (see test_runtime_e2e.py)


@pytest.fixture(scope="module")
def doc():
    with open(DOC_PATH, encoding="utf-8") as f:
        return json.load(f)


def history(s, group, **query):
    q = "&".join(f"{k}={v}" for k, v in query.items())
    r = s.get(f"/api/v1/groups/{group}/history" + (f"?{q}" if q else ""))
    assert r.status == 200, r
    return r.json


def valid(doc, h):
    schema = response_schema(doc, "GET", "/api/v1/groups/{name}/history", "200")
    errs = check(doc, schema, h)
    assert errs == [], errs


def test_history_grows_a_sample_a_second_and_stays_within_its_ring(make_server, doc):
    ring = 12  # KPLANE_HISTORY_SAMPLES: a short ring, so the test sees it wrap
    s = make_server(args=["--demo"], env={"KPLANE_HISTORY_SAMPLES": str(ring)})
    rt.wait_for(lambda: len(history(s, "analytics")["samples"]["t"]) >= 3, timeout=60,
                what="three samples")
    h = history(s, "analytics")
    valid(doc, h)
    assert h["state"] == "running" and h["interval_ms"] == 1000 and h["capacity"] == ring
    assert h["partition_interval_ms"] == 1000 * PART_EVERY
    assert h["partition_capacity"] == -(-ring // PART_EVERY)
    t = h["samples"]["t"]
    assert t == sorted(t) and len(set(t)) == len(t)
    # about one a second (a loaded box may be late, never early by much)
    gaps = [b - a for a, b in zip(t, t[1:])]
    assert all(800 <= g <= 10000 for g in gaps), gaps
    # a poller asks only for what it has not seen
    newer = history(s, "analytics", since=t[-1])
    assert all(x > t[-1] for x in newer["samples"]["t"])
    assert all(x > t[-1] for x in newer["partition_t"])
    assert all(len(p["lag"]) == len(newer["partition_t"]) for p in newer["partitions"])
    # past the ring's length the history stays at it, the newest kept
    rt.wait_for(lambda: history(s, "analytics")["samples"]["t"][0] > t[-1], timeout=90,
                what="the ring to wrap")
    h = history(s, "analytics", top=30)
    valid(doc, h)
    assert len(h["samples"]["t"]) == ring == len(h["samples"]["lag"]) == len(h["samples"]["messages_per_s"])
    assert len(h["partition_t"]) <= h["partition_capacity"]
    assert len(h["partitions"]) == 30  # the seed's 30 partitions
    for p in h["partitions"]:
        assert len(p["lag"]) == len(h["partition_t"])
    assert max(h["samples"]["messages_per_s"]) > 0
    # partitions are named most lagging first, at most top of them
    assert len(history(s, "analytics", top=2)["partitions"]) == 2
    assert history(s, "analytics", top=0)["partitions"] == []


def test_history_of_a_stopped_or_unknown_group(make_server, doc):
    s = make_server(args=["--demo"])
    assert s.post("/api/v1/groups/analytics/stop", {}).status == 202
    rt.wait_for(lambda: rt.status(s, "analytics")["state"] == "stopped", timeout=30, what="stop")
    h = history(s, "analytics")
    valid(doc, h)
    assert h["state"] == "stopped" and h["samples"]["t"] == [] and h["partitions"] == []
    assert s.get("/api/v1/groups/nope/history").status == 404
    for bad in ("since=-1", "since=x", "top=101", "top=", "top=1.5"):
        r = s.get(f"/api/v1/groups/analytics/history?{bad}")
        assert r.status == 400, (bad, r)


def test_lag_rises_in_the_history_when_a_task_cannot_write(make_server, doc, tmp_path):
    """One task, its sink file full: it fails at its first flush, after which nothing of its
    partition is taken, so what is produced then is lag: the history's total shows it, equals
    the sum of the partitions' lags at each partition sample, and agrees with status."""
    with rt.Mocks(1, "orders:2") as m:
        s = make_server(fsize_limit=FULL_AT)
        clusters = {"c0": m.bootstraps[0]}
        sink = Path(s.sink_dir) / "sink"
        rt.register(s, clusters, "orders", 2)
        rt.create_group(s, "g", clusters, "orders", 1, str(sink))
        rt.ok(s.post("/api/v1/groups/g/plans", {}), 201)
        sink.mkdir(parents=True, exist_ok=True)
        with open(sink / "task-0000.jsonl", "wb") as f:
            f.seek(FULL_AT - 1)
            f.write(b"\n")
        rt.start(s, "g")
        rt.finish([rt.produce(m.bootstraps[0], "orders", 0, 0, 20)])
        rt.wait_for(lambda: rt.status(s, "g")["tasks"][0]["state"] == "failed", timeout=60,
                    what="the task to fail on its full file")
        # what the task took before it failed is not lag (the lag is from the position)
        base = rt.wait_for(lambda: (lambda x: x[-1] is not None and x)(history(s, "g")["samples"]["lag"]),
                           timeout=60, what="a known lag")[-1]
        assert base == rt.status(s, "g")["totals"]["lag"]
        rt.finish([rt.produce(m.bootstraps[0], "orders", 0, 20, 50)])

        def lagging():
            h = history(s, "g", top=2)
            return (h["samples"]["lag"][-1] or 0) >= base + 50 and h
        rt.wait_for(lagging, timeout=60, what="the lag to show in the history")
        # a partition sample after the lag rose (every 5 s)
        h = rt.wait_for(lambda: (lambda x: x if x["partitions"] and (x["partitions"][0]["lag"][-1] or 0) >= base + 50
                                 else None)(history(s, "g", top=2)), timeout=60,
                        what="a partition sample with the lag")
        valid(doc, h)
        assert min(v for v in h["samples"]["lag"] if v is not None) <= base  # before
        top = h["partitions"][0]
        assert (top["cluster"], top["topic"], top["partition"]) == ("c0", "orders", 0)
        # the total at a partition sample is the sum of the partitions' lags then
        by_t = dict(zip(h["samples"]["t"], h["samples"]["lag"]))
        for i, t in enumerate(h["partition_t"]):
            vals = [p["lag"][i] for p in h["partitions"]]
            if t in by_t and None not in vals and by_t[t] is not None:
                assert by_t[t] == sum(vals), (t, by_t[t], vals)
        # nothing is read any more: the history's last total is status's lag
        st = rt.status(s, "g")
        assert st["totals"]["lag"] == history(s, "g")["samples"]["lag"][-1]
        rt.stop(s, "g")


def test_lag_seconds_is_the_age_of_the_oldest_unread_message(make_server, doc):
    """Lag in time, as kafka-lag-exporter estimates it: the task's sink is full, so from some
    offset on nothing is read; the age status, the overview and /metrics give is the time since
    the oldest unread message was produced (interpolated between the 5-s high watermark samples,
    so at most one sample interval too old), and it grows with the clock."""
    with rt.Mocks(1, "orders:2") as m:
        s = make_server(fsize_limit=FULL_AT)
        clusters = {"c0": m.bootstraps[0]}
        sink = Path(s.sink_dir) / "sink"
        rt.register(s, clusters, "orders", 2)
        rt.create_group(s, "g", clusters, "orders", 1, str(sink))
        rt.ok(s.post("/api/v1/groups/g/plans", {}), 201)
        sink.mkdir(parents=True, exist_ok=True)
        with open(sink / "task-0000.jsonl", "wb") as f:
            f.seek(FULL_AT - 1)
            f.write(b"\n")
        rt.start(s, "g")
        t0 = time.time()
        rt.finish([rt.produce(m.bootstraps[0], "orders", 0, 0, 20)])
        rt.wait_for(lambda: rt.status(s, "g")["tasks"][0]["state"] == "failed", timeout=60,
                    what="the task to fail on its full file")
        base = rt.wait_for(lambda: (lambda st: st if st["totals"]["lag_seconds"] is not None else None)(
            rt.status(s, "g")), timeout=30, what="a known lag in time")["totals"]["lag"]
        tA = time.time()
        rt.finish([rt.produce(m.bootstraps[0], "orders", 0, 20, 50)])
        ref = t0 if base > 0 else tA  # when the oldest unread message was produced
        time.sleep(8)

        def aged():
            st = rt.status(s, "g")
            got = st["totals"]["lag_seconds"]
            return (got, time.time() - ref, st) if got is not None and st["totals"]["lag"] >= base + 50 else None
        got, want, st = rt.wait_for(aged, timeout=30, what="the lag in time with the new messages")
        assert want - 1.5 <= got <= want + 6.5, (got, want)
        errs = check(doc, response_schema(doc, "GET", "/api/v1/groups/{name}/status", "200"), st)
        assert errs == [], errs
        rows = {p["partition"]: p for p in st["partitions"]}
        assert rows[0]["lag_seconds"] == got
        # partition 1 never had a message: no position, so no lag and no age either
        assert (rows[1]["lag_seconds"] is None) == (rows[1]["lag"] is None)
        time.sleep(3)
        got2 = rt.status(s, "g")["totals"]["lag_seconds"]
        assert got2 >= got + 2, (got, got2)  # the message is not read: it only gets older
        ov = s.get("/api/v1/overview").json
        row = next(g for g in ov["groups"] if g["name"] == "g")
        assert row["lag_seconds"] >= got2
        metrics = s.get("/metrics").body
        line = next(l for l in metrics.splitlines()
                    if l.startswith('kplane_consumergroup_lag_seconds{group="g",cluster="c0",topic="orders",partition="0"}'))
        assert float(line.split()[-1]) >= got2
        rt.stop(s, "g")
