"""The Kafka sink end to end: the real binary copies a topic of one `kplane mock` cluster into a
topic of another (at_least_once), every sequence number arrives, a kill -9 mid-stream loses
nothing, and bad sink documents are refused naming the field with nothing started."""
import collections
import signal
import subprocess

import pytest

import runtime_tools as rt
from kplane_harness import assert_problem
from runtime_tools import Part

SRC_TOPIC = "orders"
SRC_PARTS = 4
DST_TOPIC = "mirror.a.orders"
DST_PARTS = 3


@pytest.fixture
def mocks():
    """Cluster a (the source, 4 partitions) and cluster b (the target, 3 partitions)."""
    with rt.Mocks(1, f"{SRC_TOPIC}:{SRC_PARTS}") as src, rt.Mocks(1, f"{DST_TOPIC}:{DST_PARTS}") as dst:
        yield {"a": src.bootstraps[0], "b": dst.bootstraps[0]}


def sink_doc(**over):
    doc = {"type": "kafka", "cluster": "b", "topic": "mirror.{cluster}.{topic}",
           "partitioning": "source", "delivery": "at_least_once", "source_headers": True,
           "config": {"linger.ms": "5", "compression.type": "lz4"}}
    doc.update(over)
    return doc


def setup(server, mocks, sink, parallelism=2):
    rt.register(server, {"a": mocks["a"]}, SRC_TOPIC, SRC_PARTS)
    rt.ok(server.post("/api/v1/clusters", {"name": "b", "bootstrap_servers": mocks["b"]}), 201)
    body = {"name": "g", "parallelism": parallelism, "topics": [{"cluster": "a", "topic": SRC_TOPIC}],
            "sink": sink}
    return server.post("/api/v1/groups", body)


def read_target(bootstrap, topic=DST_TOPIC):
    """Every record of @topic: (partition, key, value, headers) in partition order."""
    out = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-e", "-q", "-o", "beginning",
                          "-f", "%p\t%k\t%s\t%h\n"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    recs = []
    for line in out.stdout.splitlines():
        p, k, v, h = line.split("\t")
        recs.append((int(p), k, v, h))
    return recs


def check_copied(recs, counts):
    """Every produced (source partition, seq) is in @recs; @returns the duplicates."""
    seen = collections.Counter(k for _, k, _, _ in recs)
    missing = [f"p{p.partition}-{s}" for p, n in counts.items() for s in range(n)
               if not seen[f"p{p.partition}-{s}"]]
    assert not missing, f"{len(missing)} lost, e.g. {missing[:5]}"
    return sum(c - 1 for c in seen.values())


def kill9_after_commits(server, group, bootstrap, topic=DST_TOPIC):
    """kill -9 of @server once every partition of @group has an interval commit, then a
    restart; @returns (records committed before the kill, records in the target at it)."""
    before = rt.wait_for(lambda: (lambda c: c if c and all(c.values()) else None)(
        rt.committed(rt.status(server, group))), timeout=60, what="interval commits", interval=0.1)
    server.stop(signal.SIGKILL)
    at_kill = len(read_target(bootstrap, topic))
    server.start()  # the group was marked to run: it resumes by itself
    return sum(before.values()), at_kill


def wait_copied(bootstrap, total, timeout=180):
    return rt.wait_for(lambda: (lambda r: r if len({k for _, k, _, _ in r}) >= total else None)(
        read_target(bootstrap)), timeout=timeout, what=f"{total} records in the target", interval=1)


def test_a_group_copies_a_topic_to_another_cluster_with_keys_headers_and_partitions(make_server, mocks):
    server = make_server()
    rt.ok(setup(server, mocks, sink_doc()), 201)
    ledger = rt.Ledger()
    targets = [(mocks["a"], Part("a", SRC_TOPIC, p)) for p in range(SRC_PARTS)]
    ledger.produce(targets, 300)
    rt.start(server, "g")
    rt.wait_caught_up(server, "g", ledger.snapshot())
    recs = wait_copied(mocks["b"], ledger.total())
    rt.stop(server, "g")
    assert check_copied(recs, ledger.snapshot()) == 0, "a clean run copies nothing twice"
    for p, k, v, h in recs:
        src = int(k[1:k.index("-")])
        assert p == src % DST_PARTS, f"{k} in target partition {p}: partitioning source"
        assert v == k[k.index("-") + 1:], (k, v)
        assert "kplane.source.cluster=a" in h and f"kplane.source.partition={src}" in h, h
        assert "kplane.source.topic=orders" in h and "kplane.source.offset=" in h, h
    # what was copied is committed: the source group's offsets are at the ends
    st = rt.status(server, "g")
    assert all(p["committed"] == 300 for p in st["partitions"]), st["partitions"]


def test_kill_9_mid_copy_then_restart_loses_nothing(make_server, mocks):
    server = make_server()
    rt.ok(setup(server, mocks, sink_doc(source_headers=False)), 201)
    ledger = rt.Ledger()
    targets = [(mocks["a"], Part("a", SRC_TOPIC, p)) for p in range(SRC_PARTS)]
    ledger.produce(targets, 5000)
    producer = rt.BackgroundProducer(ledger, targets, rounds=10, per_round=300)
    producer.start()
    rt.start(server, "g")
    committed, at_kill = kill9_after_commits(server, "g", mocks["b"])
    producer.join()
    rt.wait_caught_up(server, "g", ledger.snapshot(), timeout=180)
    recs = wait_copied(mocks["b"], ledger.total())
    dups = check_copied(recs, ledger.snapshot())
    print(f"kill -9 with {at_kill} records copied, {committed} committed; {ledger.total()} "
          f"produced, {len(recs)} in the target, {dups} duplicates")
    assert at_kill < ledger.total(), "the kill must come mid-stream"
    # duplicates only from what was copied but not yet committed at the kill
    assert dups <= at_kill - committed, (dups, at_kill, committed)


def test_exactly_once_copies_each_record_once_and_commits_the_source_group_for_lag(make_server):
    """Across `kplane mock` clusters (the mock has no CreateTopics: the offsets topic is made with
    the target; tests/kafka kills kplane mid-copy on real brokers)."""
    with rt.Mocks(1, f"{SRC_TOPIC}:{SRC_PARTS}") as src, \
            rt.Mocks(1, f"{DST_TOPIC}:{DST_PARTS}", "__kplane-offsets:1") as dst:
        server = make_server()
        mocks = {"a": src.bootstraps[0], "b": dst.bootstraps[0]}
        rt.ok(setup(server, mocks, sink_doc(delivery="exactly_once")), 201)
        ledger = rt.Ledger()
        targets = [(mocks["a"], Part("a", SRC_TOPIC, p)) for p in range(SRC_PARTS)]
        ledger.produce(targets, 300)
        rt.start(server, "g")
        rt.wait_caught_up(server, "g", ledger.snapshot())
        recs = wait_copied(mocks["b"], ledger.total())
        assert check_copied(recs, ledger.snapshot()) == 0
        # committed after each transaction: the source group's offsets reach the ends
        rt.wait_for(lambda: all(p["committed"] == 300 for p in rt.status(server, "g")["partitions"]),
                    timeout=30, what="the source group's offsets at the ends")
        st = rt.status(server, "g")
        assert sum(t["sink"]["delivered"] for t in st["tasks"]) == ledger.total(), st["tasks"]
        rt.stop(server, "g")


def test_exactly_once_between_two_embedded_clusters_makes_its_offsets_topic_and_copies(make_server):
    """Embedded clusters are librdkafka mocks, which answer no CreateTopics: the offsets topic
    of a copy across clusters (__kplane-offsets) is made through the embedded registry, so an
    exactly_once copy between two embedded clusters runs."""
    server = make_server()
    for name, topic, parts in (("a", SRC_TOPIC, SRC_PARTS), ("b", DST_TOPIC, DST_PARTS)):
        rt.ok(server.post("/api/v1/clusters", {"name": name, "embedded": {
            "topics": [{"name": topic, "partitions": parts}]}}), 201)
    rt.ok(server.post("/api/v1/clusters/a/topics", {"name": SRC_TOPIC}), 201)
    boot = {c: server.get(f"/api/v1/clusters/{c}").json["bootstrap_servers"] for c in ("a", "b")}
    rt.ok(server.post("/api/v1/groups", {"name": "g", "parallelism": 2,
                                         "topics": [{"cluster": "a", "topic": SRC_TOPIC}],
                                         "sink": sink_doc(delivery="exactly_once")}), 201)
    ledger = rt.Ledger()
    ledger.produce([(boot["a"], Part("a", SRC_TOPIC, p)) for p in range(SRC_PARTS)], 200)
    rt.start(server, "g")
    rt.wait_caught_up(server, "g", ledger.snapshot())
    recs = wait_copied(boot["b"], ledger.total())
    assert check_copied(recs, ledger.snapshot()) == 0
    # acknowledged once the transactions committed (each commit round)
    rt.wait_for(lambda: sum(t["sink"]["delivered"] for t in rt.status(server, "g")["tasks"])
                == ledger.total(), timeout=60, what="every record delivered")
    assert rt.status(server, "g")["state"] == "running"
    offsets = subprocess.run(["kcat", "-C", "-b", boot["b"], "-t", "__kplane-offsets", "-e", "-q",
                              "-o", "beginning", "-f", "%k\n"], capture_output=True, text=True,
                             timeout=60)
    assert '"group":"g"' in offsets.stdout, offsets
    rt.stop(server, "g")


def test_bad_kafka_sinks_are_refused_naming_the_field_and_start_nothing(make_server, mocks):
    server = make_server()
    rt.register(server, {"a": mocks["a"]}, SRC_TOPIC, SRC_PARTS)
    rt.ok(server.post("/api/v1/clusters", {"name": "b", "bootstrap_servers": mocks["b"]}), 201)

    def create(sink, name="g"):
        return server.post("/api/v1/groups", {"name": name, "parallelism": 1,
                                              "topics": [{"cluster": "a", "topic": SRC_TOPIC}],
                                              "sink": sink})
    for sink, field in [
        (sink_doc(topic="mirror.{nope}"), "sink.topic"),
        (sink_doc(topic=""), "sink.topic"),
        (sink_doc(topic="bad name"), "sink.topic"),
        (sink_doc(partitioning="hash"), "sink.partitioning"),
        (sink_doc(delivery="twice"), "sink.delivery"),
        (sink_doc(delivery="exactly_once", offsets_topic="bad name"), "sink.offsets_topic"),
        (sink_doc(delivery="exactly_once", offsets_topic=7), "sink.offsets_topic"),
        (sink_doc(offsets_topic="__kplane-offsets"), "sink.offsets_topic"),
        (sink_doc(source_headers="yes"), "sink.source_headers"),
        (sink_doc(cluster="-x"), "sink.cluster"),
        (sink_doc(config={"plugin.library.paths": "/tmp/evil.so"}), "sink.config.plugin.library.paths"),
        (sink_doc(config={"interceptors": "x"}), "sink.config.interceptors"),
        (sink_doc(config={"acks": "1"}), "sink.config.acks"),
        (sink_doc(config={"enable.idempotence": "false"}), "sink.config.enable.idempotence"),
        (sink_doc(config={"session.timeout.ms": "6000"}), "sink.config.session.timeout.ms"),
        (sink_doc(config={"linger.ms": "soon"}), "sink.config.linger.ms"),
        (sink_doc(extra=1), "sink.extra"),
    ]:
        r = create(sink)
        assert_problem(r, 400, field)
    # exactly_once with rebalance fan-out: a transaction is one task's (a consumer-group
    # rebalance cannot hand it over), so the group is refused naming rebalance
    r = server.post("/api/v1/groups", {"name": "g", "parallelism": 2, "rebalance": True,
                                       "topics": [{"cluster": "a", "topic": SRC_TOPIC}],
                                       "sink": sink_doc(delivery="exactly_once")})
    assert_problem(r, 400, "rebalance")
    rt.ok(server.post("/api/v1/groups", {"name": "reb", "parallelism": 2, "rebalance": True,
                                         "topics": [{"cluster": "a", "topic": SRC_TOPIC}],
                                         "sink": sink_doc()}), 201)
    r = server.put("/api/v1/groups/reb", {"parallelism": 2, "rebalance": True,
                                          "topics": [{"cluster": "a", "topic": SRC_TOPIC}],
                                          "sink": sink_doc(delivery="exactly_once")})
    assert_problem(r, 400, "rebalance")
    rt.ok(server.delete("/api/v1/groups/reb"), 204)
    r = create(sink_doc(cluster="nowhere"))
    assert_problem(r, 422)
    assert "sink.cluster" in r.json["detail"] and "nowhere" in r.json["detail"], r.json
    assert server.get("/api/v1/groups/g").status == 404
    # a target topic that does not exist: the group is stored, its start is a 422 naming it
    rt.ok(create(sink_doc(topic="absent.{topic}")), 201)
    r = server.post("/api/v1/groups/g/start")
    assert_problem(r, 422)
    assert "absent.orders" in r.json["detail"] and "sink.topic" in r.json["detail"], r.json
    assert rt.status(server, "g")["state"] == "stopped"
    # copying a topic into itself
    rt.ok(create(sink_doc(cluster="a", topic="{topic}"), name="loop"), 201)
    r = server.post("/api/v1/groups/loop/start")
    assert_problem(r, 422)
    assert "itself" in r.json["detail"], r.json
    assert rt.status(server, "loop")["state"] == "stopped"


def test_a_new_source_topic_without_its_target_is_not_applied_and_the_copy_runs_on(make_server):
    """A pattern picks up a new source topic while the group copies: the re-plan is stored but
    not applied while the kafka sink's target for it is missing (the log names it), so no task
    writes to a topic that is not there and the running copy goes on; once the target exists,
    an apply takes the new topic and copies it too."""
    with rt.Mocks(1, f"{SRC_TOPIC}:{SRC_PARTS}") as src, rt.Mocks(1, f"{DST_TOPIC}:{DST_PARTS}") as dst:
        server = make_server(env={"KPLANE_DISCOVERY_INTERVAL_S": "1"})
        rt.ok(server.post("/api/v1/clusters", {"name": "a", "bootstrap_servers": src.bootstraps[0]}), 201)
        rt.ok(server.post("/api/v1/clusters", {"name": "b", "bootstrap_servers": dst.bootstraps[0]}), 201)
        rt.ok(server.post("/api/v1/clusters/a/topics", {"pattern": "^orders"}), 201)
        rt.ok(server.post("/api/v1/groups", {
            "name": "g", "parallelism": 2, "topics": [{"cluster": "a", "pattern": "^orders"}],
            "sink": sink_doc()}), 201)
        ledger = rt.Ledger()
        ledger.produce([(src.bootstraps[0], Part("a", SRC_TOPIC, p)) for p in range(SRC_PARTS)], 50)
        rt.start(server, "g")
        wait_copied(dst.bootstraps[0], ledger.total())

        src[0].command("topic orders.new:2")
        rt.wait_for(lambda: "mirror.a.orders.new" in server.log() or None, timeout=30,
                    what="the refused apply naming the missing target")
        st = rt.status(server, "g")
        assert st["state"] == "running" and all(t["state"] == "running" for t in st["tasks"]), st
        assert {p["topic"] for p in st["partitions"]} == {SRC_TOPIC}, st["partitions"]
        ledger.produce([(src.bootstraps[0], Part("a", SRC_TOPIC, p)) for p in range(SRC_PARTS)], 50)
        wait_copied(dst.bootstraps[0], ledger.total())

        dst[0].command("topic mirror.a.orders.new:2")
        rt.ok(server.post("/api/v1/groups/g/plans", {"apply": True}), 201)
        st = rt.status(server, "g")
        assert {p["topic"] for p in st["partitions"]} == {SRC_TOPIC, "orders.new"}, st["partitions"]
        rt.stop(server, "g")
