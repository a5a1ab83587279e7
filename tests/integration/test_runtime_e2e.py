"""Running groups end to end: the real binary reads three `kplane mock` clusters (separate
processes that outlive it) into a file sink, and the sink's files prove at-least-once."""
import os
import signal
import time
from pathlib import Path

import pytest

import runtime_tools as rt
from runtime_tools import Part

TOPIC = "orders"
PARTS = 10
BACKLOG = 3000  # messages per partition produced before a mid-stream event


@pytest.fixture
def clusters():
    """Three single-broker mock clusters with one 10-partition topic each: {name: bootstrap}."""
    with rt.Mocks(3, f"{TOPIC}:{PARTS}") as m:
        yield {f"c{i}": bs for i, bs in enumerate(m.bootstraps)}


@pytest.fixture
def kserver(make_server):
    return make_server(env={"KPLANE_DISCOVERY_INTERVAL_S": "2"})


def targets_of(clusters, topic=TOPIC, parts=PARTS):
    return [(bs, Part(c, topic, p)) for c, bs in clusters.items() for p in range(parts)]


def setup_group(server, clusters, sink, group="g", parallelism=30, rebalance=False, config=None):
    rt.register(server, clusters, TOPIC, PARTS, config=config)
    rt.create_group(server, group, clusters, TOPIC, parallelism, str(sink), rebalance=rebalance)


def wait_all_reading(server, group, timeout=60):
    """Until every partition of the group has been read from (position > 0)."""
    return rt.wait_for(lambda: (lambda st: st if st["partitions"] and all(
        (p["position"] or 0) > 0 for p in st["partitions"]) else None)(rt.status(server, group)),
        timeout=timeout, what="every partition to be read from")


def test_every_message_reaches_the_file_sink_in_its_owners_file(kserver, clusters, tmp_path):
    sink = Path(kserver.sink_dir) / "sink"
    setup_group(kserver, clusters, sink)
    ledger = rt.Ledger()
    ledger.produce(targets_of(clusters), 200)
    st = rt.start(kserver, "g")
    assert len(st["tasks"]) == 30 and len(st["partitions"]) == 30, st
    st = rt.wait_caught_up(kserver, "g", ledger.snapshot())
    assert st["totals"]["messages"] >= ledger.total() == 6000, st["totals"]
    assert all(t["messages"] == 200 for t in st["tasks"]), [t["messages"] for t in st["tasks"]]
    plan = rt.ok(kserver.get("/api/v1/groups/g/plans/current"), 200)
    rt.stop(kserver, "g")

    records = rt.read_sink(str(sink))
    redelivered = rt.check_complete(records, ledger.snapshot())
    print(f"file sink: {len(records)} lines for {ledger.total()} messages, {redelivered} redelivered")
    assert redelivered == 0, "a clean run re-delivers nothing"
    owners = rt.plan_owners(plan)
    in_files = rt.owners_in_files(records)
    wrong = {p: (tasks, owners[p]) for p, tasks in in_files.items() if tasks != [owners[p]]}
    assert not wrong, f"partitions in files other than their plan owner's: {wrong}"
    # each partition in its owner's file in offset order
    for p, recs in rt.by_part(records).items():
        assert [r.offset for r in recs] == list(range(200)), p


def test_kill_9_mid_stream_resumes_on_restart_and_loses_nothing(kserver, clusters, tmp_path):
    sink = Path(kserver.sink_dir) / "sink"
    setup_group(kserver, clusters, sink)
    ledger = rt.Ledger()
    ledger.produce(targets_of(clusters), BACKLOG)  # the kill comes while the tasks are busy with it
    producer = rt.BackgroundProducer(ledger, targets_of(clusters), rounds=16, per_round=30, pause_s=0.4)
    producer.start()
    try:
        rt.start(kserver, "g")
        rt.wait_for(lambda: rt.status(kserver, "g")["totals"]["messages"] >= 1000, timeout=60,
                    what="1000 messages read", interval=0.02)
        kserver.stop(signal.SIGKILL)
        at_kill = len(rt.read_sink(str(sink), live=True))  # killed mid-write
        assert 0 < at_kill < BACKLOG * 30, f"the kill must come mid-stream ({at_kill} lines written)"
        kserver.start()
        # it was running: it runs again by itself, without a start request
        st = rt.wait_for(lambda: (lambda s: s if s["state"] == "running" else None)(rt.status(kserver, "g")),
                         timeout=60, what="the group to resume after restart")
        assert len(st["tasks"]) == 30
        # a second kill once interval commits happened: the restart resumes from them
        before, after = rt.kill9_after_interval_commits(kserver, "g")
        assert producer.rounds_done < producer.rounds, "the second kill must come mid-stream too"
    finally:
        producer.join()
    rt.wait_caught_up(kserver, "g", ledger.snapshot())
    rt.stop(kserver, "g")
    records = rt.read_sink(str(sink))
    redelivered = rt.check_complete(records, ledger.snapshot())
    print(f"kill -9 after {at_kill} lines written, again at {sum(before.values())} committed: "
          f"{ledger.total()} produced, {len(records)} lines, {redelivered} redelivered")
    assert "resumed group g" in kserver.log()


def test_live_change_30_to_20_tasks_moves_partitions_with_one_owner_at_a_time(kserver, clusters, tmp_path):
    sink = Path(kserver.sink_dir) / "sink"
    # small fetches of small batches: a partition's backlog arrives in many pieces, so the
    # change comes while old owners are in the middle of theirs
    setup_group(kserver, clusters, sink, config={"max.partition.fetch.bytes": "1024"})
    ledger = rt.Ledger()
    ledger.produce(targets_of(clusters), BACKLOG, extra=["-X", "batch.num.messages=20"])
    producer = rt.BackgroundProducer(ledger, targets_of(clusters), rounds=10, per_round=30, pause_s=0.4)
    producer.start()
    try:
        rt.start(kserver, "g")
        rt.wait_movers_mid_read(kserver, "g", 20, BACKLOG - 1)
        assert producer.rounds_done < producer.rounds - 3, "the change must come mid-stream"
        plan2 = rt.ok(kserver.post("/api/v1/groups/g/plans", {"parallelism": 20, "apply": True}), 201)
        assert plan2["version"] == 2 and plan2["parallelism"] == 20
        st = rt.wait_for(lambda: (lambda s: s if s["plan_version"] == 2 and len(s["tasks"]) == 20 else None)(
            rt.status(kserver, "g")), timeout=30, what="the running group to switch to plan 2")
        assert st["state"] == "running"
        rounds_at_apply = producer.rounds_done
    finally:
        producer.join()
    assert rounds_at_apply < producer.rounds, "messages were produced after the change"
    st = rt.wait_caught_up(kserver, "g", ledger.snapshot())
    owners2 = rt.plan_owners(plan2)
    assert {Part(p["cluster"], p["topic"], p["partition"]): p["task"] for p in st["partitions"]} == owners2
    rt.stop(kserver, "g")

    plan1 = rt.ok(kserver.get("/api/v1/groups/g/plans/1"), 200)
    records = rt.read_sink(str(sink))
    redelivered = rt.check_complete(records, ledger.snapshot())
    owners1 = rt.plan_owners(plan1)
    handover = rt.check_handover(records, owners1, owners2)
    cut = rt.check_moved_mid_read(records, owners1, owners2, BACKLOG - 1)
    print(f"30 -> 20 tasks: {handover['moved']} partitions moved (old owners' last offsets {cut}), "
          f"{redelivered} redelivered, {ledger.total()} messages")
    assert handover["moved"] >= 10, handover
    assert redelivered == 0, "the old owner commits before the new one starts: nothing read twice"


def test_stop_commits_every_partition_at_its_end(kserver, clusters, tmp_path):
    sink = Path(kserver.sink_dir) / "sink"
    setup_group(kserver, clusters, sink)
    ledger = rt.Ledger()
    ledger.produce(targets_of(clusters), 150)
    rt.start(kserver, "g")
    rt.wait_caught_up(kserver, "g", ledger.snapshot())
    rt.stop(kserver, "g")  # at once: what is committed now was committed by the stop
    lines = len(rt.read_sink(str(sink)))

    # started again, the group reads the committed offsets: each at its partition's end
    rt.start(kserver, "g")
    counts = ledger.snapshot()

    def at_end():
        st = rt.status(kserver, "g")
        parts = {Part(p["cluster"], p["topic"], p["partition"]): p for p in st["partitions"]}
        if any(parts[p]["high_watermark"] is None or parts[p]["committed"] is None for p in counts):
            return None
        return parts
    parts = rt.wait_for(at_end, timeout=30, what="committed offsets and high watermarks")
    wrong = {p: (parts[p]["committed"], parts[p]["high_watermark"]) for p in counts
             if not parts[p]["committed"] == parts[p]["high_watermark"] == counts[p]}
    assert not wrong, f"committed != high watermark after stop: {wrong}"
    time.sleep(1.5)
    st = rt.status(kserver, "g")
    assert st["totals"]["messages"] == 0, "nothing is read again after a clean stop"
    rt.stop(kserver, "g")
    assert len(rt.read_sink(str(sink))) == lines


def test_broker_down_and_up_mid_stream_loses_nothing(kserver, tmp_path):
    sink = Path(kserver.sink_dir) / "sink"
    with rt.Mocks(3, f"{TOPIC}:{PARTS}", brokers=3) as m:
        clusters = {f"c{i}": bs for i, bs in enumerate(m.bootstraps)}
        setup_group(kserver, clusters, sink)
        ledger = rt.Ledger()
        # a producer per partition of c0 (those led by the broker that goes down wait for it,
        # the others go on) and one per other cluster; 50 rounds (15 s) so that the others
        # still produce through every window below on a loaded box (with 30, a CI run under
        # load saw them finish before a window showed both)
        producers = [rt.BackgroundProducer(ledger, [t], rounds=50, per_round=30, pause_s=0.3)
                     for t in targets_of({"c0": clusters["c0"]})]
        producers += [rt.BackgroundProducer(ledger, targets_of({c: bs}), rounds=50, per_round=30, pause_s=0.3)
                      for c, bs in clusters.items() if c != "c0"]
        for p in producers:
            p.start()

        def window():
            """Positions 1.5 s apart while the broker is down: the c0 partitions that did not
            move (those it leads) and those that did (led by the other brokers), and what the
            other clusters read meanwhile. A loaded box may still be draining what was fetched
            before the broker went down, so this is asked again until a window shows both."""
            a = rt.positions(rt.status(kserver, "g"))
            time.sleep(1.5)
            b = rt.positions(rt.status(kserver, "g"))
            c0 = [p for p in a if p.cluster == "c0"]
            stalled = [p.partition for p in c0 if a[p] == b[p]]
            others = sum(b[p] - a[p] for p in a if p.cluster != "c0")
            return (stalled, others) if stalled and len(stalled) < len(c0) and others > 0 else None
        try:
            rt.start(kserver, "g")
            wait_all_reading(kserver, "g")
            assert producers[0].rounds_done < producers[0].rounds - 10, "the broker must go down mid-stream"
            m[0].command("down 1")
            stalled, others = rt.wait_for(window, timeout=10, what="c0's partitions of broker 1 stalled, the rest read")
            m[0].command("up 1")
        finally:
            for p in producers:
                p.join()
        print(f"while broker 1 of c0 was down: c0 partitions {stalled} stalled, "
              f"c1 and c2 read {others} messages")
        st = rt.wait_caught_up(kserver, "g", ledger.snapshot(), timeout=120)
        assert st["state"] == "running" and all(t["state"] == "running" for t in st["tasks"]), st["tasks"]
        rt.stop(kserver, "g")
    records = rt.read_sink(str(sink))
    redelivered = rt.check_complete(records, ledger.snapshot())
    print(f"broker 1 of c0 down 3 s and up: {ledger.total()} messages, {redelivered} redelivered")


def test_rebalance_keeps_40_tasks_on_30_partitions_busy_within_20_percent(kserver, clusters, tmp_path):
    sink = Path(kserver.sink_dir) / "sink"
    setup_group(kserver, clusters, sink, parallelism=40, rebalance=True)
    ledger = rt.Ledger()
    ledger.produce(targets_of(clusters), 200)
    st = rt.start(kserver, "g")
    assert len(st["tasks"]) == 40
    st = rt.wait_caught_up(kserver, "g", ledger.snapshot())
    # every task has finished its share before the totals add up
    st = rt.wait_for(lambda: (lambda s: s if sum(t["messages"] for t in s["tasks"]) >= ledger.total() else None)(
        rt.status(kserver, "g")), timeout=30, what="tasks to count every message")
    counts = [t["messages"] for t in st["tasks"]]
    print(f"rebalance: per-task messages min {min(counts)} max {max(counts)} over {len(counts)} tasks")
    assert min(counts) > 0, f"idle tasks in rebalance mode: {counts}"
    assert min(counts) >= 0.8 * max(counts), f"per-task counts not within 20%: {counts}"
    rt.stop(kserver, "g")
    records = rt.read_sink(str(sink))
    redelivered = rt.check_complete(records, ledger.snapshot())
    tasks_with_lines = {r.task for r in records}
    assert tasks_with_lines == set(range(40)), sorted(set(range(40)) - tasks_with_lines)
    assert redelivered == 0
    # stop committed only what every task finished: started again, nothing is read twice
    rt.start(kserver, "g")
    time.sleep(1.5)
    assert rt.status(kserver, "g")["totals"]["messages"] == 0
    rt.stop(kserver, "g")


FULL_AT = 1 << 30  # the server may not grow a file past this


def test_a_task_whose_sink_cannot_write_loses_nothing_and_shows_stalled(make_server, clusters, tmp_path):
    """One task's sink file is full (every write: EFBIG; file sinks follow no symlink, so
    /dev/full cannot stand in: the server may not grow files past FULL_AT and this one is
    that long already, sparse, ending in a newline). The file sink buffers, so the
    task takes messages before its flush fails: those must never be committed. Status names
    the failed task and its partition as stalled while the others read on; after the sink is
    fixed a stop and start re-reads the partition, and the files hold every message."""
    kserver = make_server(env={"KPLANE_DISCOVERY_INTERVAL_S": "2"}, fsize_limit=FULL_AT)
    sink = Path(kserver.sink_dir) / "sink"
    setup_group(kserver, clusters, sink)
    plan = rt.ok(kserver.post("/api/v1/groups/g/plans", {}), 201)
    owners = rt.plan_owners(plan)
    bad_task = 7
    bad_parts = {p for p, t in owners.items() if t == bad_task}
    sink.mkdir(parents=True, exist_ok=True)
    bad_file = sink / f"task-{bad_task:04d}.jsonl"
    with open(bad_file, "wb") as f:
        f.seek(FULL_AT - 1)
        f.write(b"\n")
    ledger = rt.Ledger()
    ledger.produce(targets_of(clusters), 100)
    rt.start(kserver, "g")

    def stalled():
        st = rt.status(kserver, "g")
        parts = {Part(p["cluster"], p["topic"], p["partition"]): p for p in st["partitions"]}
        if st.get("lag_state") != "stalled" or any(parts[p]["lag_state"] != "stalled" for p in bad_parts):
            return None
        return st, parts
    st, parts = rt.wait_for(stalled, timeout=30, what="the failed task's partition to be stalled")
    task = next(t for t in st["tasks"] if t["task"] == bad_task)
    assert task["state"] == "failed" and "File too large" in task["error"], task
    for p in bad_parts:
        assert parts[p]["committed"] is None, parts[p]  # nothing it took is committed
    good = [p for p in parts if p not in bad_parts]
    rt.wait_for(lambda: all((rt.committed(rt.status(kserver, "g"))[p] or 0) == 100 for p in good),
                timeout=30, what="the other partitions to be committed to their end")
    rt.stop(kserver, "g")

    os.unlink(bad_file)  # the sink works again
    rt.start(kserver, "g")
    rt.wait_caught_up(kserver, "g", ledger.snapshot())
    rt.stop(kserver, "g")
    records = rt.read_sink(str(sink))
    rt.check_complete(records, ledger.snapshot())
    assert {r.task for r in records if Part(r.cluster, r.topic, r.partition) in bad_parts} == {bad_task}


def test_sigterm_with_every_cluster_gone_stops_within_dockers_grace(make_server):
    """SIGTERM while a running group's clusters (and discovery's) no longer answer: the
    server exits well within the 10 s `docker stop` gives before SIGKILL. The commit of a
    cluster that does not answer is tried once, not again for most of the stop's wait, a
    consumer whose coordinator is gone is not waited for, and a discovery pass stops after
    its current read instead of asking each dead registration in turn (18.7 s before)."""
    s = make_server(env={"KPLANE_DISCOVERY_INTERVAL_S": "1"})
    sink = Path(s.sink_dir) / "sink"
    with rt.Mocks(3, f"{TOPIC}:{PARTS}", brokers=3) as m:
        clusters = {f"c{i}": bs for i, bs in enumerate(m.bootstraps)}
        setup_group(s, clusters, sink)
        ledger = rt.Ledger()
        ledger.produce(targets_of(clusters), 100)
        rt.start(s, "g")
        wait_all_reading(s, "g")
    # the mock clusters are gone: let a commit round and a discovery pass find it
    rt.wait_for(lambda: all(c["state"] == "error" for c in rt.status(s, "g")["clusters"]) or None,
                timeout=30, what="the group to see every cluster in error")
    t = time.monotonic()
    assert s.stop(timeout=30) == 0
    took = time.monotonic() - t
    print(f"SIGTERM with every cluster gone: stopped in {took:.1f} s")
    assert took < 9.0, f"stop took {took:.1f} s, beyond docker stop's 10 s grace"
