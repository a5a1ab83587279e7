"""Threads grow with clusters, not with groups (issue 12): running groups that read a cluster
share its consumer lanes, workers and one control thread, and each still commits its own
offsets under its own group id."""
import os

import runtime_tools as rt
from runtime_tools import Part

GROUPS = 100
CLUSTERS = 3
PARTS = 2
PER_PART = 5
THREADS_MAX = 64  # issue 12: 100 running groups over 3 clusters stay under 64 threads


def threads(server):
    return len(os.listdir(f"/proc/{server.proc.pid}/task"))


def embedded(server, name, topics):
    rt.ok(server.post("/api/v1/clusters", {"name": name, "embedded": {
        "topics": [{"name": t, "partitions": PARTS} for t in topics]}}), 201)
    for t in topics:
        rt.ok(server.post(f"/api/v1/clusters/{name}/topics", {"name": t}), 201)
    return rt.ok(server.get(f"/api/v1/clusters/{name}"), 200)["bootstrap_servers"]


def make_group(server, name, cluster, topic):
    rt.ok(server.post("/api/v1/groups", {
        "name": name, "parallelism": 2, "topics": [{"cluster": cluster, "topic": topic}],
        "sink": {"type": "discard"}}), 201)


def committed_all(server, group, want):
    st = rt.status(server, group)
    got = rt.committed(st)
    return all(got.get(p) == n for p, n in want.items())


def test_100_groups_over_3_clusters_stay_under_64_threads_and_commit_their_own(server):
    # group i reads its own topic "t<i>" on cluster "c<i % 3>"
    where = {i: (f"c{i % CLUSTERS}", f"t{i}") for i in range(GROUPS)}
    boot = {}
    for c in range(CLUSTERS):
        name = f"c{c}"
        boot[name] = embedded(server, name, [t for cl, t in where.values() if cl == name])
    ledger = rt.Ledger()
    ledger.produce([(boot[c], Part(c, t, p)) for c, t in where.values() for p in range(PARTS)],
                   PER_PART, parallel=20)
    for i, (c, t) in where.items():
        make_group(server, f"g{i}", c, t)
    before = threads(server)
    for i in range(GROUPS):
        rt.ok(server.post(f"/api/v1/groups/g{i}/start"), 202)
    rt.wait_for(lambda: all(rt.status(server, f"g{i}")["state"] == "running" for i in range(GROUPS)),
                timeout=180, what="every group to run")
    counts = ledger.snapshot()
    for i, (c, t) in where.items():  # each group read its topic and committed it
        want = {p: n for p, n in counts.items() if p.cluster == c and p.topic == t}
        rt.wait_for(lambda: committed_all(server, f"g{i}", want), timeout=120,
                    what=f"g{i} to commit {want}")
    running = threads(server)
    print(f"threads: {before} before the starts, {running} with {GROUPS} groups running")
    assert running < THREADS_MAX, f"{running} threads with {GROUPS} groups over {CLUSTERS} clusters"

    # the offsets are each group's own on the cluster: a stopped group's status reads them
    # back from the cluster under its group id
    for i in (0, 1, 2, GROUPS - 1):
        rt.stop(server, f"g{i}")
        c, t = where[i]
        st = rt.status(server, f"g{i}")
        assert st["state"] == "stopped", st
        assert {p: n for p, n in rt.committed(st).items()} == \
            {p: n for p, n in counts.items() if p.cluster == c and p.topic == t}, st
    # a stopped group leaves the others on its lane reading
    c, t = where[3]
    ledger.produce([(boot[c], Part(c, t, p)) for p in range(PARTS)], PER_PART)
    want = {p: n for p, n in ledger.snapshot().items() if p.cluster == c and p.topic == t}
    rt.wait_for(lambda: committed_all(server, "g3", want), timeout=60, what="g3 to go on")


def test_two_groups_reading_one_topic_both_get_every_message_and_commit_apart(server):
    bs = embedded(server, "e", ["shared"])
    ledger = rt.Ledger()
    targets = [(bs, Part("e", "shared", p)) for p in range(PARTS)]
    ledger.produce(targets, 20)
    for g in ("a", "b"):
        make_group(server, g, "e", "shared")
    rt.start(server, "a")
    want = ledger.snapshot()
    rt.wait_for(lambda: committed_all(server, "a", want), timeout=60, what="a to commit")
    rt.start(server, "b")  # a's partitions are assigned already: b reads them too
    rt.wait_for(lambda: committed_all(server, "b", want), timeout=60, what="b to commit")
    ledger.produce(targets, 10)
    want = ledger.snapshot()
    for g in ("a", "b"):
        rt.wait_for(lambda: committed_all(server, g, want), timeout=60, what=f"{g} to commit more")
        st = rt.status(server, g)
        assert st["totals"]["messages"] == sum(want.values()), st["totals"]
    # stopping one leaves the other reading
    rt.stop(server, "a")
    ledger.produce(targets, 5)
    want = ledger.snapshot()
    rt.wait_for(lambda: committed_all(server, "b", want), timeout=60, what="b to go on after a stopped")
    assert rt.committed(rt.status(server, "a")) == {p: n - 5 for p, n in want.items()}
