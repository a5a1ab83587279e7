"""The Kafka sink's exactly_once on real Apache Kafka brokers: a group copies a topic into another
(across clusters: positions in the offsets topic; on the same cluster: offsets in the transaction);
kill -9 of kplane mid-copy and restart, or a live plan change that moves partitions between tasks:
a read_committed consumer of the target counts every sequence number once (0 lost, 0 duplicates)."""
import collections
import os
import subprocess
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import runtime_tools as rt  # noqa: E402
from runtime_tools import Part  # noqa: E402
from test_sink_kafka import kill9_after_commits  # noqa: E402

BROKERS = 2  # two clusters: k0 (the source) and k1
PARTS = 6


def read_committed(bootstrap, topic):
    """The keys of every record of @topic a read_committed consumer sees."""
    out = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-e", "-q", "-o", "beginning",
                          "-X", "isolation.level=read_committed", "-f", "%k\n"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def count_exactly_once(bootstrap, topic, ledger, timeout=240):
    """Waits until every produced sequence number is in @topic (read_committed); @returns
    (lost, duplicates, records) and prints them."""
    want = {f"p{p.partition}-{s}" for p, n in ledger.snapshot().items() for s in range(n)}
    keys = rt.wait_for(lambda: (lambda k: k if want <= set(k) else None)(read_committed(bootstrap, topic)),
                       timeout=timeout, what="every record committed in the target", interval=1)
    seen = collections.Counter(keys)
    lost = len(want - set(seen))
    dups = sum(c - 1 for c in seen.values())
    print(f"exactly_once into {topic}: {len(want)} produced, {len(keys)} read_committed, "
          f"{lost} lost, {dups} duplicates")
    return lost, dups, len(keys)


def setup(kafka, kserver, target, parallelism=3):
    """Source topic on k0, target topic on cluster @target (0 or 1); a group copying it with
    exactly_once. @returns (source topic, target topic, bootstrap of the target, targets)."""
    src = f"orders-{uuid.uuid4().hex[:6]}"
    dst = f"mirror.{src}"
    kafka.create_topic(0, src, PARTS)
    kafka.create_topic(target, dst, 4)
    rt.register(kserver, {"k0": kafka.bootstrap(0)}, src, PARTS)
    if target == 1:
        rt.ok(kserver.post("/api/v1/clusters", {"name": "k1", "bootstrap_servers": kafka.bootstrap(1)}), 201)
    rt.ok(kserver.post("/api/v1/groups", {
        "name": "eos", "parallelism": parallelism, "topics": [{"cluster": "k0", "topic": src}],
        "sink": {"type": "kafka", "cluster": f"k{target}", "topic": "mirror.{topic}",
                 "partitioning": "key", "delivery": "exactly_once",
                 "config": {"linger.ms": "5"}}}), 201)
    return src, dst, kafka.bootstrap(target), [(kafka.bootstrap(0), Part("k0", src, p)) for p in range(PARTS)]


def kill_9_mid_copy(kafka, kserver, target):
    src, dst, bs, targets = setup(kafka, kserver, target)
    ledger = rt.Ledger()
    ledger.produce(targets, 2000)
    # the stream goes on for a while: the kill comes while it does
    producer = rt.BackgroundProducer(ledger, targets, rounds=40, per_round=200, pause_s=0.5)
    producer.start()
    try:
        rt.start(kserver, "eos")
        committed, at_kill = kill9_after_commits(kserver, "eos", bs, dst)
        mid = producer.rounds_done < producer.rounds
    finally:
        producer.join()
    rt.wait_caught_up(kserver, "eos", ledger.snapshot(), timeout=240)
    lost, dups, _ = count_exactly_once(bs, dst, ledger)
    print(f"kill -9 with {at_kill} records in the target (committed or not), {committed} committed")
    assert mid and at_kill < ledger.total(), "the kill must come mid-stream"
    assert (lost, dups) == (0, 0)
    rt.stop(kserver, "eos")


def test_kill_9_mid_copy_across_clusters_exactly_once(kafka, kserver):
    kill_9_mid_copy(kafka, kserver, 1)


def test_kill_9_mid_copy_on_the_same_cluster_exactly_once(kafka, kserver):
    kill_9_mid_copy(kafka, kserver, 0)


def test_live_plan_changes_moving_partitions_during_an_exactly_once_copy(kafka, kserver):
    src, dst, bs, targets = setup(kafka, kserver, 1, parallelism=3)
    ledger = rt.Ledger()
    ledger.produce(targets, 3000)
    producer = rt.BackgroundProducer(ledger, targets, rounds=10, per_round=300)
    producer.start()
    try:
        rt.start(kserver, "eos")
        for version, parallelism in ((2, 2), (3, 4)):
            rt.wait_for(lambda: rt.status(kserver, "eos")["totals"]["messages"] >= 1000 * version,
                        timeout=120, what="the copy under way", interval=0.1)
            assert producer.rounds_done < producer.rounds, "the change must come mid-stream"
            rt.ok(kserver.post("/api/v1/groups/eos/plans", {"parallelism": parallelism, "apply": True}), 201)
            rt.wait_for(lambda: (lambda s: s["plan_version"] == version and len(s["tasks"]) == parallelism)(
                rt.status(kserver, "eos")), timeout=60, what=f"the switch to plan {version}")
    finally:
        producer.join()
    rt.wait_caught_up(kserver, "eos", ledger.snapshot(), timeout=240)
    lost, dups, _ = count_exactly_once(bs, dst, ledger)
    assert (lost, dups) == (0, 0)
    st = rt.status(kserver, "eos")
    assert all(t["state"] != "failed" for t in st["tasks"]), st["tasks"]
    rt.stop(kserver, "eos")


def test_kill_9_of_an_instance_mid_copy_exactly_once_across_instances(kafka):
    """Issue 15: three instances run an exactly_once copy across clusters, 2 tasks each; kill -9
    of the leader mid-stream. Its tasks start on the survivors with the same transactional.id
    (<service>:<group>.<task>), which fences the dead producer and aborts its open transaction,
    and resume where the offsets topic says: the target still holds every record once."""
    from test_tasks_real import start_three, wait_spread
    from test_instances_real import ident, stop_all
    import signal
    import time
    servers = start_three(kafka)
    try:
        src, dst, bs, targets = setup(kafka, servers[1], 1, parallelism=6)
        ledger = rt.Ledger()
        ledger.produce(targets, 1000)
        producer = rt.BackgroundProducer(ledger, targets, rounds=30, per_round=200, pause_s=0.5)
        producer.start()
        try:
            rt.ok(servers[1].post("/api/v1/groups/eos/start"), 202)
            owner = wait_spread(servers, n=6, group="eos", counts=[2, 2, 2])
            rt.wait_for(lambda: len(read_committed(bs, dst)) >= 3000, timeout=120,
                        what="the copy under way", interval=0.5)
            leader = servers[0].get("/api/v1/instances").json["leader"]
            victim = next(s for s in servers if ident(s) == leader)
            mid = producer.rounds_done < producer.rounds
            victim.proc.send_signal(signal.SIGKILL)
            t0 = time.monotonic()
            victim.proc.wait()
            survivors = [s for s in servers if s is not victim]
            after = wait_spread(survivors, n=6, group="eos", timeout=60)
            print(f"exactly_once, kill -9 of the leader: its {sorted(t for t in owner if owner[t] == leader)} "
                  f"run on the survivors after {time.monotonic() - t0:.2f}s: {after}")
        finally:
            producer.join()
        lost, dups, _ = count_exactly_once(bs, dst, ledger)
        assert mid, "the kill must come mid-stream"
        assert (lost, dups) == (0, 0)
    finally:
        stop_all(servers)
