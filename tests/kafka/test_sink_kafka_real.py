"""The Kafka sink on real Apache Kafka brokers: a group copies a topic of one cluster into a
topic of another (at_least_once, idempotent, acks=all); kill -9 of kplane mid-copy, restart:
every sequence number arrives, duplicates only from what was not yet committed."""
import os
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import runtime_tools as rt  # noqa: E402
from runtime_tools import Part  # noqa: E402
from test_sink_kafka import check_copied, kill9_after_commits, read_target  # noqa: E402

BROKERS = 2  # two clusters: the source k0 and the target k1
PARTS = 6


def test_kill_9_mid_copy_between_real_clusters_loses_nothing(kafka, kserver):
    src = f"orders-{uuid.uuid4().hex[:6]}"
    dst = f"mirror.k0.{src}"
    kafka.create_topic(0, src, PARTS)
    kafka.create_topic(1, dst, 4)
    rt.register(kserver, {"k0": kafka.bootstrap(0)}, src, PARTS)
    rt.ok(kserver.post("/api/v1/clusters", {"name": "k1", "bootstrap_servers": kafka.bootstrap(1)}), 201)
    rt.ok(kserver.post("/api/v1/groups", {
        "name": "copy", "parallelism": 3, "topics": [{"cluster": "k0", "topic": src}],
        "sink": {"type": "kafka", "cluster": "k1", "topic": "mirror.{cluster}.{topic}",
                 "partitioning": "key", "source_headers": True}}), 201)
    ledger = rt.Ledger()
    targets = [(kafka.bootstrap(0), Part("k0", src, p)) for p in range(PARTS)]
    ledger.produce(targets, 5000)
    producer = rt.BackgroundProducer(ledger, targets, rounds=8, per_round=500)
    producer.start()
    rt.start(kserver, "copy")
    committed, at_kill = kill9_after_commits(kserver, "copy", kafka.bootstrap(1), dst)
    producer.join()
    rt.wait_caught_up(kserver, "copy", ledger.snapshot(), timeout=240)
    recs = rt.wait_for(lambda: (lambda r: r if len({k for _, k, _, _ in r}) >= ledger.total() else None)(
        read_target(kafka.bootstrap(1), dst)), timeout=240, what="every record in the target", interval=1)
    dups = check_copied(recs, ledger.snapshot())
    print(f"real Kafka: kill -9 with {at_kill} copied, {committed} committed; {ledger.total()} "
          f"produced, {len(recs)} in the target, {dups} duplicates")
    assert at_kill < ledger.total(), "the kill must come mid-stream"
    assert dups <= at_kill - committed, (dups, at_kill, committed)
