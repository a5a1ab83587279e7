"""Deleting a cluster a group depends on is refused with a 409 that names the group: a cluster the
group reads (its topics) and a cluster its Kafka sink writes to (sink.cluster) alike, so no group is
left pointing at a cluster that is gone. Once nothing names it, the delete goes through."""
from kplane_harness import assert_problem


def embedded(s, name, topic, partitions=2):
    r = s.post("/api/v1/clusters", {"name": name, "embedded": {"topics": [{"name": topic, "partitions": partitions}]}})
    assert r.status == 201, r
    assert s.post(f"/api/v1/clusters/{name}/topics", {"name": topic}).status == 201


def kafka_sink(cluster):
    return {"type": "kafka", "cluster": cluster, "topic": "copy"}


def group(name, sink):
    return {"name": name, "parallelism": 1, "topics": [{"cluster": "src", "topic": "orders"}], "sink": sink}


def test_deleting_a_cluster_that_a_kafka_sink_writes_to_is_409_naming_the_group(server):
    embedded(server, "src", "orders")
    embedded(server, "dst", "copy")
    r = server.post("/api/v1/groups", group("copier", kafka_sink("dst")))
    assert r.status == 201, r
    before = [server.get(p).body for p in ("/api/v1/clusters", "/api/v1/groups")]

    r = server.delete("/api/v1/clusters/dst")
    assert_problem(r, 409)
    assert "copier" in r.json["detail"], r.json
    assert "sink" in r.json["detail"], r.json
    # nothing changed: the cluster, its topic and the group are all still there
    assert [server.get(p).body for p in ("/api/v1/clusters", "/api/v1/groups")] == before
    assert server.get("/api/v1/clusters/dst/metadata").status == 200, "the embedded cluster still runs"

    # the group now writes elsewhere: the cluster is free to go
    r = server.put("/api/v1/groups/copier", group("copier", {"type": "discard"}))
    assert r.status == 200, r
    assert server.delete("/api/v1/clusters/dst").status == 204
    assert server.get("/api/v1/clusters/dst").status == 404


def test_the_first_of_several_sink_users_is_named_and_a_deleted_group_frees_the_cluster(server):
    embedded(server, "src", "orders")
    embedded(server, "dst", "copy")
    for name in ("b-copier", "a-copier"):
        assert server.post("/api/v1/groups", group(name, kafka_sink("dst"))).status == 201
    assert server.post("/api/v1/groups", group("reader", {"type": "discard"})).status == 201
    r = server.delete("/api/v1/clusters/dst")
    assert_problem(r, 409)
    assert "'a-copier'" in r.json["detail"], r.json
    for name in ("a-copier", "b-copier"):
        assert server.delete(f"/api/v1/groups/{name}").status == 204
    assert server.delete("/api/v1/clusters/dst").status == 204
    # the source is still read by "reader": that one stays refused, as before
    r = server.delete("/api/v1/clusters/src")
    assert_problem(r, 409)
    assert "reader" in r.json["detail"], r.json
