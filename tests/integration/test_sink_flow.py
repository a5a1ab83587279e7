"""A group's sink flow seen from outside (issue 14 items 4, 5): max_in_flight_bytes is
checked (400 naming the field), and a running group shows each task's sink counters in
status and in /metrics. The pause itself is proved in tests/unit/test_runtime_worker.c with
a sink that can stall (no kind reachable from the binary stalls on purpose)."""
import re

import pytest

import runtime_tools as rt

TOPIC = "flow"
PARTS = 4


@pytest.fixture
def clusters():
    with rt.Mocks(1, f"{TOPIC}:{PARTS}") as m:
        yield {"c0": m.bootstraps[0]}


def text(r):
    return r.body.decode() if isinstance(r.body, bytes) else r.body


def group_body(name, sink):
    return {"name": name, "parallelism": 2, "topics": [{"cluster": "c0", "topic": TOPIC}],
            "sink": sink}


@pytest.mark.parametrize("value", [0, 65535, 1073741825, "16MiB", 1.5, None, True])
def test_max_in_flight_bytes_out_of_range_is_a_400_naming_the_field(server, clusters, value):
    rt.register(server, clusters, TOPIC, PARTS)
    r = server.post("/api/v1/groups", group_body("g", {"type": "discard", "max_in_flight_bytes": value}))
    assert r.status == 400, r
    assert "sink.max_in_flight_bytes" in text(r), r


@pytest.mark.parametrize("sink", [{"type": "discard", "max_in_flight_bytes": 65536},
                                  {"type": "file", "path": "out", "max_in_flight_bytes": 1073741824}])
def test_max_in_flight_bytes_in_range_is_taken_by_every_sink_kind(server, clusters, sink):
    rt.register(server, clusters, TOPIC, PARTS)
    got = rt.ok(server.post("/api/v1/groups", group_body("g", sink)), 201)
    assert got["sink"]["max_in_flight_bytes"] == sink["max_in_flight_bytes"], got


def test_running_tasks_show_sink_counters_in_status_and_metrics(server, clusters):
    rt.register(server, clusters, TOPIC, PARTS)
    rt.ok(server.post("/api/v1/groups", group_body(
        "g", {"type": "discard", "max_in_flight_bytes": 65536})), 201)
    ledger = rt.Ledger()
    ledger.produce([(clusters["c0"], rt.Part("c0", TOPIC, p)) for p in range(PARTS)], 50)
    rt.start(server, "g")
    st = rt.wait_caught_up(server, "g", ledger.snapshot())

    def delivered():
        s = rt.status(server, "g")
        return s if sum(t["sink"]["delivered"] for t in s["tasks"]) == 200 else None
    st = rt.wait_for(delivered, timeout=30, what="every record delivered")
    for t in st["tasks"]:
        sink = t["sink"]
        assert sink["type"] == "discard"
        assert sink["delivered"] == t["messages"] == 100, t
        assert sink["in_flight"] == 0 and sink["in_flight_bytes"] == 0, t
        assert sink["retries"] == 0 and sink["dead_letters"] == 0, t
        assert sink["paused_partitions"] == 0 and sink["last_error"] is None, t

    metrics = text(server.get("/metrics"))
    for name in ("kplane_sink_delivered_total", "kplane_sink_retries_total",
                 "kplane_sink_dead_letters_total", "kplane_sink_in_flight_bytes"):
        assert f"# TYPE {name} " in metrics, name
    got = {int(m.group(1)): int(m.group(2)) for m in re.finditer(
        r'^kplane_sink_delivered_total\{group="g",task="(\d+)"\} (\d+)$', metrics, re.M)}
    assert got == {0: 100, 1: 100}, got
    assert re.search(r'^kplane_sink_in_flight_bytes\{group="g",task="0"\} 0$', metrics, re.M)
    rt.stop(server, "g")
