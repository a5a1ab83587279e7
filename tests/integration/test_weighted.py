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
    # balancing load, not counts: the busiest task is close to the mean...
    assert a["max_load"] <= a["mean_load"] * 1.35, a
    # ...and the tasks do not all get 3 partitions (hot ones are spread out)
    counts = [len(t["partitions"]) for t in r.json["tasks"]]
    assert max(counts) > min(counts), counts


def test_weighted_plan_with_given_weights(server):
    topics = [{"cluster": "a", "topic": "t", "partitions": 4}]
    weights = [{"cluster": "a", "topic": "t", "partition": 0, "weight": 30.0}]
    r = server.post("/api/v1/plan", {"topics": topics, "parallelism": 2, "strategy": "weighted", "weights": weights})
    assert r.status == 200, r
    owner = {p["partition"]: t["task"] for t in r.json["tasks"] for p in t["partitions"]}
    # the heavy partition is alone on its task
    assert sum(1 for p, t in owner.items() if t == owner[0]) == 1, owner
