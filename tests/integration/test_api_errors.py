"""Every bad input of API.md gets its exact status and a problem+json body; the server keeps serving
and no stored data is damaged."""
import http.client
import socket
import time

from kplane_harness import Server, assert_problem


def embedded(s, name="c1", topic="orders", partitions=4):
    r = s.post("/api/v1/clusters", {"name": name, "embedded": {"topics": [{"name": topic, "partitions": partitions}]}})
    assert r.status == 201, r
    return r


def snapshot(s):
    return [s.get(p).body for p in ("/api/v1/clusters", "/api/v1/groups")]


def test_malformed_json_is_400_with_position(server):
    r = server.request("POST", "/api/v1/clusters", raw=b'{"name": "x",', headers={"Content-Type": "application/json"})
    assert_problem(r, 400)
    assert "line" in r.json["detail"]


def test_duplicate_keys_are_400(server):
    r = server.request("POST", "/api/v1/clusters", raw=b'{"name": "a", "name": "b", "bootstrap_servers": "x:1"}',
                       headers={"Content-Type": "application/json"})
    assert_problem(r, 400)


def test_body_not_json_is_415(server):
    r = server.request("POST", "/api/v1/clusters", raw=b"name=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_problem(r, 415)


def test_body_not_an_object_is_400(server):
    r = server.post("/api/v1/clusters", [1, 2])
    assert_problem(r, 400)


def test_unknown_field_is_400_naming_it(server):
    r = server.post("/api/v1/clusters", {"name": "a", "bootstrap_servers": "h:1", "bootstrap_server": "typo"})
    assert_problem(r, 400, "bootstrap_server")


def test_wrong_types_are_400_per_field(server):
    embedded(server)
    server.post("/api/v1/clusters/c1/topics", {"name": "orders"})
    r = server.post("/api/v1/groups", {"name": "g", "topics": [{"cluster": "c1", "topic": "orders"}],
                                       "parallelism": "thirty", "strategy": "fastest", "rebalance": "yes",
                                       "start_offset": "middle"})
    assert_problem(r, 400)
    fields = {e["field"] for e in r.json["errors"]}
    assert {"parallelism", "strategy", "rebalance", "start_offset"} <= fields, fields
    r = server.post("/api/v1/groups", {"name": "g", "topics": [{"cluster": "c1", "topic": "orders"}], "parallelism": 0})
    assert_problem(r, 400, "parallelism")
    assert "1..100000" in r.json["errors"][0]["message"]


def test_invalid_names_are_400(server):
    for name in ["", "has space", "-leading", "x" * 65, "a/b"]:
        r = server.post("/api/v1/clusters", {"name": name, "bootstrap_servers": "h:1"})
        assert_problem(r, 400, "name")


def test_unknown_librdkafka_property_is_400_naming_it(server):
    r = server.post("/api/v1/clusters", {"name": "a", "bootstrap_servers": "h:1", "config": {"no.such.property": "1"}})
    assert_problem(r, 400)
    assert "no.such.property" in r.body
    r = server.post("/api/v1/clusters", {"name": "a", "bootstrap_servers": "h:1", "config": {"session.timeout.ms": "abc"}})
    assert_problem(r, 400)
    assert "session.timeout.ms" in r.body


def test_body_over_1mib_is_413_by_content_length(server):
    # Declared length over the limit: refused before a byte is sent.
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(b"POST /api/v1/clusters HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 2000000\r\n\r\n")
    data = sock.recv(4096).decode()
    sock.close()
    assert data.startswith("HTTP/1.1 413"), data
    assert "application/problem+json" in data
    # The limit is exact: a body of exactly 1 MiB is read (and is then malformed JSON: 400).
    r = server.request("POST", "/api/v1/clusters", raw=b"{" + b" " * (1024 * 1024 - 1),
                       headers={"Content-Type": "application/json"})
    assert_problem(r, 400)
    assert server.get("/livez").status == 200


def test_chunked_body_over_limit_is_413(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    chunk = b" " * 65536

    def body():
        yield b"{"
        for _ in range(20):
            yield chunk
        yield b"}"
    conn.request("POST", "/api/v1/plan", body=body(), headers={"Content-Type": "application/json"}, encode_chunked=True)
    r = conn.getresponse()
    assert r.status == 413
    conn.close()


def test_unknown_resources_are_404(server):
    for path in ["/api/v1/clusters/nope", "/api/v1/groups/nope", "/api/v1/groups/nope/plans/current",
                 "/api/v1/clusters/nope/topics", "/api/v1/nothing", "/api/v1/groups/nope/status"]:
        assert_problem(server.get(path), 404)
    embedded(server)
    assert_problem(server.get("/api/v1/clusters/c1/topics/unregistered"), 404)


def test_wrong_method_is_405_with_allow(server):
    r = server.request("PATCH", "/api/v1/clusters")
    assert_problem(r, 405)
    assert r.headers["allow"] == "GET, POST"
    r = server.delete("/api/v1/plan")
    assert_problem(r, 405)
    assert r.headers["allow"] == "POST"


def test_name_exists_is_409(server):
    embedded(server)
    assert_problem(server.post("/api/v1/clusters", {"name": "c1", "bootstrap_servers": "h:1"}), 409)


def test_delete_in_use_is_409_and_keeps_data(server):
    embedded(server)
    assert server.post("/api/v1/clusters/c1/topics", {"name": "orders"}).status == 201
    assert server.post("/api/v1/groups", {"name": "g", "parallelism": 2,
                                          "topics": [{"cluster": "c1", "topic": "orders"}]}).status == 201
    before = snapshot(server)
    assert_problem(server.delete("/api/v1/clusters/c1"), 409)
    assert_problem(server.delete("/api/v1/clusters/c1/topics/orders"), 409)
    assert snapshot(server) == before
    assert server.delete("/api/v1/groups/g").status == 204
    assert server.delete("/api/v1/clusters/c1/topics/orders").status == 204
    assert server.delete("/api/v1/clusters/c1").status == 204
    assert server.get("/api/v1/clusters").json["items"] == []


def test_topic_absent_on_cluster_is_422(server):
    embedded(server)
    r = server.post("/api/v1/clusters/c1/topics", {"name": "absent"})
    assert_problem(r, 422)
    # and it was not auto-created on the cluster
    md = server.get("/api/v1/clusters/c1/metadata").json
    assert "absent" not in [t["name"] for t in md["topics"]]


def test_group_on_unregistered_topic_is_422(server):
    embedded(server)
    r = server.post("/api/v1/groups", {"name": "g", "topics": [{"cluster": "c1", "topic": "orders"}],
                                       "parallelism": 2})
    assert_problem(r, 422)


def test_bad_pattern_is_400(server):
    embedded(server)
    assert_problem(server.post("/api/v1/clusters/c1/topics", {"pattern": "(unclosed"}), 400, "pattern")


def test_unreachable_cluster_is_503_within_seconds(server):
    # a port nothing listens on
    r = server.post("/api/v1/clusters", {"name": "dead", "bootstrap_servers": "127.0.0.1:1"})
    assert r.status == 201, r
    t0 = time.time()
    r = server.get("/api/v1/clusters/dead/metadata")
    took = time.time() - t0
    assert_problem(r, 503)
    assert took < 6, took
    t0 = time.time()
    assert_problem(server.post("/api/v1/clusters/dead/topics", {"name": "orders"}), 503)
    assert time.time() - t0 < 6
    assert server.get("/livez").status == 200


def test_whatif_validation(server):
    r = server.post("/api/v1/plan", {"topics": [{"cluster": "a", "topic": "t", "partitions": 0}],
                                     "parallelism": 100001, "strategy": "nope"})
    assert_problem(r, 400)
    fields = {e["field"] for e in r.json["errors"]}
    assert "parallelism" in fields and "strategy" in fields, fields
    assert any(f.startswith("topics[0]") for f in fields), fields


def test_token_auth(make_server):
    s = make_server(env={"KPLANE_API_TOKEN": "s3cret"})
    r = s.get("/api/v1/clusters")
    assert_problem(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert_problem(s.get("/api/v1/clusters", headers={"Authorization": "Bearer wrong"}), 401)
    assert s.get("/api/v1/clusters", headers={"Authorization": "Bearer s3cret"}).status == 200
    for open_path in ["/livez", "/readyz", "/metrics"]:
        assert s.get(open_path).status == 200


def test_secrets_are_masked(server):
    r = server.post("/api/v1/clusters", {"name": "sec", "bootstrap_servers": "h:9092",
                                         "config": {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                                                    "sasl.username": "u", "sasl.password": "hunter2"}})
    assert r.status == 201, r
    assert "hunter2" not in r.body and r.json["config"]["sasl.password"] == "******"
    assert "hunter2" not in server.get("/api/v1/clusters/sec").body
    assert "hunter2" not in server.get("/api/v1/clusters").body


def test_server_survives_garbage(server):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.sendall(b"\x00\x01garbage\r\n\r\n")
    try:
        sock.recv(1024)
    except OSError:
        pass
    sock.close()
    assert server.get("/livez").status == 200
    assert server.get("/readyz").status == 200


def test_ops_endpoints(server):
    assert server.get("/livez").json == {"status": "ok"}
    r = server.get("/metrics")
    assert r.status == 200 and "kplane_http_requests_total" in r.body
    r = server.get("/api/v1/openapi.json")
    assert r.status == 200 and r.json["openapi"].startswith("3.")
    r = server.get("/")
    assert r.status == 200 and "text/html" in r.headers["content-type"]
