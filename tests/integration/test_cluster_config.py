"""A cluster config whose properties are each valid but that librdkafka refuses as a whole is
refused at registration (POST and PUT, embedded clusters too), not when a group starts."""
import time

import runtime_tools as rt
from kplane_harness import assert_problem

# Each property is valid alone; rd_kafka_new refuses the combination.
CONSUMER_REFUSES = {"fetch.max.bytes": "1000"}  # below message.max.bytes (1000000)
PRODUCER_REFUSES = {"enable.idempotence": True, "acks": "1"}  # kplane's metadata reads use a producer


def config_error(resp):
    assert_problem(resp, 400, "config")
    errs = [e for e in resp.json["errors"] if e["field"] == "config"]
    assert errs, resp
    return errs[0]["message"]


def test_post_refuses_a_combination_the_consumer_refuses_naming_it(server):
    t0 = time.time()
    r = server.post("/api/v1/clusters", {"name": "a", "bootstrap_servers": "127.0.0.1:1",
                                         "config": CONSUMER_REFUSES})
    took = time.time() - t0
    msg = config_error(r)
    assert "fetch.max.bytes" in msg and "message.max.bytes" in msg, msg
    assert took < 2, f"the check builds clients without connecting, took {took:.2f} s"
    assert_problem(server.get("/api/v1/clusters/a"), 404)


def test_post_refuses_a_combination_the_metadata_client_refuses(server):
    r = server.post("/api/v1/clusters", {"name": "a", "bootstrap_servers": "127.0.0.1:1",
                                         "config": PRODUCER_REFUSES})
    assert "acks" in config_error(r)


def test_combination_that_holds_is_accepted(server):
    r = server.post("/api/v1/clusters", {"name": "a", "bootstrap_servers": "127.0.0.1:1",
                                         "config": {"fetch.max.bytes": 1000, "message.max.bytes": 1000}})
    assert r.status == 201, r


def test_unknown_property_still_names_the_property(server):
    r = server.post("/api/v1/clusters", {"name": "a", "bootstrap_servers": "127.0.0.1:1",
                                         "config": {"no.such.property": "1"}})
    assert_problem(r, 400, "config.no.such.property")
    assert "no.such.property" in r.json["errors"][0]["message"]


def test_put_refuses_the_combination_and_keeps_the_stored_config(server):
    rt.ok(server.post("/api/v1/clusters", {"name": "a", "bootstrap_servers": "127.0.0.1:1",
                                           "config": {"client.id": "mine"}}), 201)
    r = server.put("/api/v1/clusters/a", {"bootstrap_servers": "127.0.0.1:1", "config": CONSUMER_REFUSES})
    assert "fetch.max.bytes" in config_error(r)
    assert rt.ok(server.get("/api/v1/clusters/a"), 200)["config"] == {"client.id": "mine"}


def test_embedded_cluster_with_the_combination_is_refused_and_not_started(server):
    spec = {"topics": [{"name": "t", "partitions": 2}]}
    r = server.post("/api/v1/clusters", {"name": "e", "embedded": spec, "config": CONSUMER_REFUSES})
    assert "fetch.max.bytes" in config_error(r)
    assert_problem(server.get("/api/v1/clusters/e"), 404)
    # registered without it, a PUT bringing it in is refused too
    rt.ok(server.post("/api/v1/clusters", {"name": "e", "embedded": spec}), 201)
    r = server.put("/api/v1/clusters/e", {"embedded": spec, "config": CONSUMER_REFUSES})
    assert "fetch.max.bytes" in config_error(r)
    assert rt.ok(server.get("/api/v1/clusters/e"), 200)["config"] == {}


def test_accepted_config_starts_a_group(server):
    """What registration accepts, the runtime's consumer accepts too."""
    config = {"fetch.max.bytes": 2000000, "message.max.bytes": 1500000, "queued.max.messages.kbytes": 4096}
    rt.ok(server.post("/api/v1/clusters", {"name": "e", "embedded": {
        "topics": [{"name": "t", "partitions": 2}]}, "config": config}), 201)
    rt.ok(server.post("/api/v1/clusters/e/topics", {"name": "t"}), 201)
    rt.ok(server.post("/api/v1/groups", {"name": "g", "parallelism": 2, "topics": [{"cluster": "e", "topic": "t"}],
                                         "sink": {"type": "discard"}}), 201)
    st = rt.start(server, "g")
    assert st["state"] == "running" and all(t["state"] == "running" for t in st["tasks"]), st
    rt.stop(server, "g")
