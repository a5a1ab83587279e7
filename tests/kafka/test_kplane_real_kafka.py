"""kplane against three real Apache Kafka brokers (each its own cluster): discovery, plans,
at-least-once into a file sink, kill -9 of kplane, live plan change, a broker killed and
restarted mid-stream, and partitions added to a live topic."""
import os
import signal
import sys
import time
import uuid
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import runtime_tools as rt  # noqa: E402
from runtime_tools import Part  # noqa: E402

PARTS = 10
BROKERS = 3          # brokers (each its own cluster) of this file's fixture
SERVER_ENV = {"KPLANE_DISCOVERY_INTERVAL_S": "2"}


def new_topic(kafka, prefix, parts=PARTS):
    """A fresh topic of @parts partitions on each of the three clusters (offsets from 0)."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    for i in range(3):
        kafka.create_topic(i, name, parts)
    return name


def clusters_of(kafka):
    return {f"k{i}": bs for i, bs in enumerate(kafka.bootstraps)}


def targets_of(clusters, topic, parts=PARTS):
    return [(bs, Part(c, topic, p)) for c, bs in clusters.items() for p in range(parts)]


def setup(kafka, server, sink, topic_prefix, parallelism=30, config=None):
    topic = new_topic(kafka, topic_prefix)
    clusters = clusters_of(kafka)
    rt.register(server, clusters, topic, PARTS, config=config)
    rt.create_group(server, "g-" + topic, clusters, topic, parallelism, str(sink))
    return clusters, topic, "g-" + topic


def test_discovery_and_seed_plans_at_30_20_40_on_real_kafka(kafka, kserver, tmp_path):
    topic = new_topic(kafka, "seed")
    clusters = clusters_of(kafka)
    rt.register(kserver, clusters, topic, PARTS)
    for name, bs in clusters.items():
        md = rt.ok(kserver.get(f"/api/v1/clusters/{name}/metadata"), 200)
        assert [f"{b['host']}:{b['port']}" for b in md["brokers"]] == [bs], md
        assert {"name": topic, "partitions": PARTS} in md["topics"], md
    rt.create_group(kserver, "seed", clusters, topic, 30, str(Path(kserver.sink_dir) / "sink"))
    every = {Part(c, topic, p) for c in clusters for p in range(PARTS)}
    expect = {30: ("partitions_equal_parallelism", 0, 1, 1),
              20: ("partitions_above_parallelism", 0, 1, 2),
              40: ("partitions_below_parallelism", 10, 0, 1)}
    for version, (parallelism, (case, idle, lo, hi)) in enumerate(expect.items(), start=1):
        plan = rt.ok(kserver.post("/api/v1/groups/seed/plans", {"parallelism": parallelism}), 201)
        assert plan["version"] == version and plan["parallelism"] == parallelism
        assert set(rt.plan_owners(plan)) == every, "every partition of the three clusters exactly once"
        assert [t["task"] for t in plan["tasks"]] == list(range(parallelism))
        a = plan["analysis"]
        assert (a["case"], a["idle_tasks"], a["partitions"], a["tasks"]) == (case, idle, 30, parallelism), a
        sizes = [len(t["partitions"]) for t in plan["tasks"]]
        assert (min(sizes), max(sizes)) == (lo, hi), sizes
        if parallelism == 30:
            assert a["skew"] == 1.0
    # the flink strategy on the same partitions is Flink's owner function
    plan = rt.ok(kserver.post("/api/v1/groups/seed/plans", {"parallelism": 7, "strategy": "flink"}), 201)

    def java_hash(s):
        h = 0
        for ch in s:
            h = (31 * h + ord(ch)) & 0xFFFFFFFF
        return h
    start = ((java_hash(topic) * 31) & 0x7FFFFFFF) % 7
    for part, task in rt.plan_owners(plan).items():
        assert task == (start + part.partition) % 7, (part, task)


def test_every_message_reaches_the_file_sink_and_stop_commits_the_end_on_real_kafka(kafka, kserver, tmp_path):
    sink = Path(kserver.sink_dir) / "sink"
    clusters, topic, group = setup(kafka, kserver, sink, "alo")
    ledger = rt.Ledger()
    ledger.produce(targets_of(clusters, topic), 300)
    rt.start(kserver, group)
    rt.wait_caught_up(kserver, group, ledger.snapshot())
    plan = rt.ok(kserver.get(f"/api/v1/groups/{group}/plans/current"), 200)
    rt.stop(kserver, group)
    records = rt.read_sink(str(sink))
    redelivered = rt.check_complete(records, ledger.snapshot())
    print(f"real Kafka: {ledger.total()} messages, {len(records)} lines, {redelivered} redelivered")
    assert redelivered == 0
    owners = rt.plan_owners(plan)
    wrong = {p: t for p, t in rt.owners_in_files(records).items() if t != [owners[p]]}
    assert not wrong, wrong
    # the committed offsets, as Kafka's own tool reads them: each partition at its end
    for i, c in enumerate(clusters):
        committed = kafka.committed_offsets(i, group)
        want = {(topic, p): 300 for p in range(PARTS)}
        assert committed == want, f"cluster {c}: {committed}"


def test_kill_9_of_kplane_mid_stream_loses_nothing_on_real_kafka(kafka, kserver, tmp_path):
    sink = Path(kserver.sink_dir) / "sink"
    clusters, topic, group = setup(kafka, kserver, sink, "kill")
    ledger = rt.Ledger()
    ledger.produce(targets_of(clusters, topic), 2000)
    producer = rt.BackgroundProducer(ledger, targets_of(clusters, topic), rounds=12, per_round=30, pause_s=0.3)
    producer.start()
    try:
        rt.start(kserver, group)
        rt.wait_for(lambda: rt.status(kserver, group)["totals"]["messages"] >= 1000, timeout=60,
                    what="1000 messages read", interval=0.02)
        kserver.stop(signal.SIGKILL)
        at_kill = len(rt.read_sink(str(sink), live=True))  # killed mid-write
        assert 0 < at_kill < ledger.total(), f"the kill must come mid-stream ({at_kill} lines)"
        kserver.start()
        rt.wait_for(lambda: rt.status(kserver, group)["state"] == "running", timeout=60,
                    what="the group to resume by itself")
        # a second kill once interval commits happened: the restart resumes from them
        before, after = rt.kill9_after_interval_commits(kserver, group)
    finally:
        producer.join()
    rt.wait_caught_up(kserver, group, ledger.snapshot(), timeout=150)
    rt.stop(kserver, group)
    records = rt.read_sink(str(sink))
    redelivered = rt.check_complete(records, ledger.snapshot())
    print(f"real Kafka, kill -9 of kplane after {at_kill} lines, again at {sum(before.values())} committed: "
          f"{ledger.total()} messages, {len(records)} lines, {redelivered} redelivered")


def test_live_change_30_to_20_tasks_one_owner_at_a_time_on_real_kafka(kafka, kserver, tmp_path):
    sink = Path(kserver.sink_dir) / "sink"
    clusters, topic, group = setup(kafka, kserver, sink, "live", config={"max.partition.fetch.bytes": "1024"})
    ledger = rt.Ledger()
    ledger.produce(targets_of(clusters, topic), 2000, extra=["-X", "batch.num.messages=20"])
    producer = rt.BackgroundProducer(ledger, targets_of(clusters, topic), rounds=8, per_round=30, pause_s=0.3)
    producer.start()
    try:
        rt.start(kserver, group)
        rt.wait_movers_mid_read(kserver, group, 20, 1999)
        assert producer.rounds_done < producer.rounds - 2, "the change must come mid-stream"
        plan2 = rt.ok(kserver.post(f"/api/v1/groups/{group}/plans", {"parallelism": 20, "apply": True}), 201)
        rt.wait_for(lambda: (lambda s: s["plan_version"] == 2 and len(s["tasks"]) == 20)(rt.status(kserver, group)),
                    timeout=30, what="the switch to plan 2")
    finally:
        producer.join()
    rt.wait_caught_up(kserver, group, ledger.snapshot(), timeout=150)
    rt.stop(kserver, group)
    plan1 = rt.ok(kserver.get(f"/api/v1/groups/{group}/plans/1"), 200)
    records = rt.read_sink(str(sink))
    redelivered = rt.check_complete(records, ledger.snapshot())
    owners1, owners2 = rt.plan_owners(plan1), rt.plan_owners(plan2)
    handover = rt.check_handover(records, owners1, owners2)
    cut = rt.check_moved_mid_read(records, owners1, owners2, 1999)
    print(f"real Kafka, 30 -> 20: {handover['moved']} moved (old owners' last offsets {cut}), "
          f"{redelivered} redelivered of {ledger.total()}")
    assert handover["moved"] >= 10
    assert redelivered == 0, "the old owner commits before the new one starts: nothing read twice"


def test_broker_killed_and_restarted_mid_stream_loses_nothing_on_real_kafka(kafka, kserver, tmp_path):
    sink = Path(kserver.sink_dir) / "sink"
    clusters, topic, group = setup(kafka, kserver, sink, "bkill")
    ledger = rt.Ledger()
    everything = targets_of(clusters, topic)
    ledger.produce(everything, 1000)
    rt.start(kserver, group)
    rt.wait_for(lambda: rt.status(kserver, group)["totals"]["messages"] >= 1000, timeout=60,
                what="1000 messages read", interval=0.02)
    kafka.kill(1)
    t_kill = time.time()
    k1_at_kill = sum(1 for r in rt.read_sink(str(sink), live=True) if r.cluster == "k1")
    # the stream goes on on the two other clusters while k1 is gone
    others = [(bs, p) for bs, p in everything if p.cluster != "k1"]
    ledger.produce(others, 100)
    st = rt.status(kserver, group)
    assert st["state"] == "running", st.get("error")
    kafka.restart(1)
    down_s = time.time() - t_kill
    ledger.produce(everything, 200)
    st = rt.wait_caught_up(kserver, group, ledger.snapshot(), timeout=150)
    assert st["state"] == "running" and all(t["state"] == "running" for t in st["tasks"]), st["tasks"]
    rt.stop(kserver, group)
    records = rt.read_sink(str(sink))
    redelivered = rt.check_complete(records, ledger.snapshot())
    print(f"real Kafka, broker k1 killed after {k1_at_kill} of its 10000 backlog read, down {down_s:.1f}s: "
          f"{ledger.total()} messages, {redelivered} redelivered")
    committed = kafka.committed_offsets(1, group)
    assert committed == {(topic, p): 1200 for p in range(PARTS)}, (committed, kafka.run_tool(
        1, "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", "--describe", "--group", group))


def test_partitions_added_to_a_live_topic_are_discovered_and_read_from_earliest(kafka, kserver, tmp_path):
    sink = Path(kserver.sink_dir) / "sink"
    clusters, topic, group = setup(kafka, kserver, sink, "grow", parallelism=12)
    # the group itself starts at the latest offset: new partitions must start at the earliest anyway
    doc = rt.ok(kserver.put(f"/api/v1/groups/{group}", dict(
        {k: v for k, v in rt.ok(kserver.get(f"/api/v1/groups/{group}"), 200).items()
         if k in ("name", "topics", "parallelism", "strategy", "rebalance", "sink")},
        start_offset="latest")), 200)
    assert doc["start_offset"] == "latest", doc
    rt.start(kserver, group)
    # fetching has begun (the latest offsets are resolved) before anything is produced
    rt.wait_for(lambda: all(p["high_watermark"] is not None for p in rt.status(kserver, group)["partitions"]),
                timeout=30, what="high watermarks of the empty partitions")
    ledger = rt.Ledger()
    ledger.produce(targets_of(clusters, topic), 100)
    rt.wait_caught_up(kserver, group, ledger.snapshot())
    # Partitions are added and produced into at once. When kplane has not re-planned by the
    # time the messages are in, reading them proves the new partitions start at the earliest
    # offset; discovery runs every 2 s, so when it won the race, add more and try again.
    total, proven, attempts = PARTS, False, 0
    while not proven and attempts < 4:
        attempts += 1
        version = rt.status(kserver, group)["plan_version"]
        kafka.add_partitions(0, topic, total + 2)
        total += 2
        rt.wait_for(lambda: kafka.partition_count(0, topic) == total, timeout=30, what=f"{total} partitions on k0")
        ledger.produce([(clusters["k0"], Part("k0", topic, p)) for p in (total - 2, total - 1)], 100)
        proven = rt.status(kserver, group)["plan_version"] == version
        st = rt.wait_for(lambda: (lambda s: s if len(s["partitions"]) == 2 * PARTS + total else None)(
            rt.status(kserver, group)), timeout=60, what="the new partitions in the running group")
        assert st["plan_version"] > version and st["state"] == "running", st.get("error")
    assert proven, "in 4 tries kplane always re-planned before the messages were produced"
    plan = rt.ok(kserver.get(f"/api/v1/groups/{group}/plans/current"), 200)
    assert len(rt.plan_owners(plan)) == 2 * PARTS + total and plan["parallelism"] == 12
    everything = targets_of(clusters, topic) + [(clusters["k0"], Part("k0", topic, p)) for p in range(PARTS, total)]
    ledger.produce(everything, 50)
    rt.wait_caught_up(kserver, group, ledger.snapshot())
    rt.stop(kserver, group)
    records = rt.read_sink(str(sink))
    redelivered = rt.check_complete(records, ledger.snapshot())
    print(f"real Kafka, partitions added ({attempts} tries until produced before discovery): "
          f"{ledger.total()} messages, {redelivered} redelivered")
