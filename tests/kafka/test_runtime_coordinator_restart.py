"""kplane's running group when the group coordinator broker of one of its clusters is killed
-9 and restarted mid-stream: while the group keeps running (no stop), the interval commits
reach the restarted broker again within a bounded time, the cluster's status error clears,
and nothing committed was ever ahead of what the sink had taken."""
import os
import sys
import time
import uuid
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import runtime_tools as rt  # noqa: E402
from runtime_tools import Part  # noqa: E402

PARTS = 6
BACKLOG = 3000          # per partition, still being read when the broker is killed
AFTER = 300             # per partition, produced after the restart
COMMIT_BOUND_S = 30     # interval commits must cover everything read within this
BROKERS = 2          # brokers (each its own cluster) of this file's fixture


def test_interval_commits_resume_after_the_coordinator_is_killed_and_restarted(kafka, kserver, tmp_path):
    sink = Path(kserver.sink_dir) / "sink"
    topic = f"coord-{uuid.uuid4().hex[:6]}"
    for i in range(2):
        kafka.create_topic(i, topic, PARTS)
    clusters = {f"k{i}": bs for i, bs in enumerate(kafka.bootstraps)}
    group = "g-" + topic
    # small fetches: the backlog takes a while to read, so the kill comes mid-stream
    rt.register(kserver, clusters, topic, PARTS, config={"max.partition.fetch.bytes": "1024"})
    rt.create_group(kserver, group, clusters, topic, PARTS, str(sink))
    everything = [(bs, Part(c, topic, p)) for c, bs in clusters.items() for p in range(PARTS)]
    ledger = rt.Ledger()
    ledger.produce(everything, BACKLOG, extra=["-X", "batch.num.messages=20"])

    rt.start(kserver, group)
    rt.wait_for(lambda: rt.status(kserver, group)["totals"]["messages"] >= 500, timeout=60,
                what="500 messages read", interval=0.02)
    kafka.kill(1)
    t_kill = time.monotonic()
    k1_at_kill = sum(1 for r in rt.read_sink(str(sink), live=True) if r.cluster == "k1")
    # the failure shows in status while the broker is gone, and the group keeps running
    down = rt.wait_for(lambda: (lambda c: c if c["state"] == "error" else None)(
        rt.cluster_status(rt.status(kserver, group), "k1")), timeout=30, what="k1 reported in error")
    assert down["last_error"] and down["last_error_at"], down
    assert rt.cluster_status(rt.status(kserver, group), "k0")["state"] == "ok"
    # the other cluster's stream goes on meanwhile
    ledger.produce([(bs, p) for bs, p in everything if p.cluster == "k0"], 100)
    kafka.restart(1)
    down_s = time.monotonic() - t_kill
    ledger.produce(everything, AFTER)
    want = ledger.snapshot()

    # at-least-once while it runs: whatever status says is committed is in the sink already
    samples = 0

    def caught_up_and_committed_only_what_sank():
        nonlocal samples
        st = rt.status(kserver, group)
        assert st["state"] == "running", st.get("error")
        committed = rt.committed(st)
        rt.check_committed_in_sink(rt.read_sink(str(sink), live=True), committed)
        samples += 1
        pos = rt.positions(st)
        return st if all((pos.get(p) or 0) >= n for p, n in want.items()) else None
    rt.wait_for(caught_up_and_committed_only_what_sank, timeout=150,
                what="everything produced read", interval=0.5)
    t_read = time.monotonic()

    # no stop: the interval commits alone bring the broker's offsets to the end
    def broker_committed():
        got = {c: kafka.committed_offsets(i, group, timeout=5) for i, c in enumerate(clusters)}
        return got if all(got[p.cluster].get((p.topic, p.partition)) == n for p, n in want.items()) else None
    try:
        rt.wait_for(broker_committed, timeout=COMMIT_BOUND_S, what="broker-side commits", interval=0.5)
    except AssertionError:
        raise AssertionError(f"after {COMMIT_BOUND_S}s the brokers hold "
                             f"{ {c: kafka.committed_offsets(i, group, timeout=5) for i, c in enumerate(clusters)} }, "
                             f"status says {rt.committed(rt.status(kserver, group))}\n{kserver.log()[-3000:]}")
    commit_s = time.monotonic() - t_read
    st = rt.wait_for(lambda: (lambda s: s if all(c["state"] == "ok" for c in s["clusters"]) else None)(
        rt.status(kserver, group)), timeout=10, what="clusters back to ok")
    for c in st["clusters"]:
        assert c["last_error"] is None and c["last_error_at"] is None, c
    assert st["state"] == "running" and all(t["state"] == "running" for t in st["tasks"]), st["tasks"]
    assert rt.committed(st) == want, "status committed is the broker's"

    rt.stop(kserver, group)
    records = rt.read_sink(str(sink))
    redelivered = rt.check_complete(records, ledger.snapshot())
    print(f"real Kafka, coordinator k1 killed after {k1_at_kill} of its {PARTS * BACKLOG} backlog read, "
          f"down {down_s:.1f}s; all read -> broker commits at the end in {commit_s:.1f}s "
          f"(bound {COMMIT_BOUND_S}s); {samples} at-least-once samples; "
          f"{ledger.total()} messages, {redelivered} redelivered")
