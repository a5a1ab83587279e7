"""The weighted strategy balances measured load: messages/s sampled from the clusters when
the group is not running, the running tasks' rates when it is."""


def test_weighted_plan_samples_rates_of_a_stopped_group(make_server):
    # --demo streams ~300 messages/s into 30 partitions, some several times hotter
    s = make_server(args=["--demo"])
    # the demo starts its group: stop it, so the rates are sampled from the clusters
    assert s.post("/api/v1/groups/analytics/stop", {}).status == 202
    r = s.post("/api/v1/groups/analytics/plans", {"strategy": "weighted", "parallelism": 10})
    assert r.status == 201, r
    a = r.json["analysis"]
    # with counts the mean load would be 30 / 10 = 3 partitions; measured it is msgs/s
    assert a["mean_load"] > 5, a
    # balancing load, not counts: the busiest task is close to the mean. The demo's partition
    # p of cluster c carries (c + 1) * (1 + p % 4) shares, so the count plan (flat index % 10)
    # gives task t 6 * (1 + t % 4) shares: its busiest 24 against a mean of 13.8, 1.74x.
    # (Not "counts differ": three partitions a task can be load-balanced too, and the
    # sampled rates sometimes make it the LPT's answer.)
    assert a["max_load"] <= a["mean_load"] * 1.35, a


def test_weighted_plan_with_given_weights(server):
    topics = [{"cluster": "a", "topic": "t", "partitions": 4}]
    weights = [{"cluster": "a", "topic": "t", "partition": 0, "weight": 30.0}]
    r = server.post("/api/v1/plan", {"topics": topics, "parallelism": 2, "strategy": "weighted", "weights": weights})
    assert r.status == 200, r
    owner = {p["partition"]: t["task"] for t in r.json["tasks"] for p in t["partitions"]}
    # the heavy partition is alone on its task
    assert sum(1 for p, t in owner.items() if t == owner[0]) == 1, owner
