"""Randomised bad input against every writing endpoint: each answer is a precise 2xx/4xx (never a
500, never a dropped connection), every refusal is problem+json with its own status, a refused
request changes nothing stored, and the server keeps serving throughout.

The corpus is generated from a fixed seed (KPLANE_FUZZ_SEED to vary it, KPLANE_FUZZ_ROUNDS for
more), so a failure names the exact body that caused it and reproduces."""
import json
import os
import random

from kplane_harness import assert_problem

SEED = int(os.environ.get("KPLANE_FUZZ_SEED", "20261126"))
ROUNDS = int(os.environ.get("KPLANE_FUZZ_ROUNDS", "40"))
ALLOWED = {200, 201, 202, 204, 400, 404, 405, 409, 413, 415, 422, 503}

# valid bodies per endpoint: the mutations start from these
TEMPLATES = [
    ("POST", "/api/v1/clusters", {"name": "fz", "bootstrap_servers": "127.0.0.1:1",
                                  "config": {"client.id": "x"}}),
    ("PUT", "/api/v1/clusters/fz", {"bootstrap_servers": "127.0.0.1:1", "config": {}}),
    ("POST", "/api/v1/clusters/c1/topics", {"name": "orders"}),
    ("POST", "/api/v1/clusters/c1/topics", {"pattern": "^ord.*"}),
    ("POST", "/api/v1/groups", {"name": "g2", "topics": [{"cluster": "c1", "topic": "orders"}],
                                "parallelism": 3, "strategy": "balanced", "rebalance": False,
                                "start_offset": "earliest", "sink": {"type": "discard"}}),
    ("PUT", "/api/v1/groups/g1", {"topics": [{"cluster": "c1", "topic": "orders"}],
                                  "parallelism": 5, "strategy": "flink"}),
    ("POST", "/api/v1/groups/g1/plans", {"parallelism": 4, "strategy": "range"}),
    ("POST", "/api/v1/plan", {"topics": [{"cluster": "a", "topic": "t", "partitions": 10}],
                              "parallelism": 3, "strategy": "weighted",
                              "weights": [{"cluster": "a", "topic": "t", "partition": 0, "weight": 2.5}]}),
    ("POST", "/api/v1/plan/sweep", {"topics": [{"cluster": "a", "topic": "t", "partitions": 10}],
                                    "parallelism": {"from": 1, "to": 8}, "strategies": ["flink"]}),
]

ODD_VALUES = [None, True, False, 0, -1, 2**31, 2**63, -(2**63) - 1, 1e308, -0.0, 0.5, "", " ",
              "x" * 300, "\u00e9\u4e2d", "\ud83d\ude00", "../../etc/passwd", "a\u0001b", "%00",
              [], [1, "a", None], {}, {"a": {"b": {"c": []}}}, "1e9", "NaN"]


def mutate_value(rng, v, depth=0):
    """A value of the wrong type or range, or a structural mutation of @v."""
    roll = rng.random()
    if isinstance(v, dict) and depth < 3 and roll < 0.5:
        out = dict(v)
        op = rng.choice(["drop", "add", "change", "change"])
        if op == "drop" and out:
            out.pop(rng.choice(sorted(out)))
        elif op == "add":
            out[rng.choice(["extra", "Name", "name ", "", "\u00e9"])] = rng.choice(ODD_VALUES)
        elif out:
            k = rng.choice(sorted(out))
            out[k] = mutate_value(rng, out[k], depth + 1)
        return out
    if isinstance(v, list) and depth < 3 and roll < 0.5:
        out = list(v)
        op = rng.choice(["empty", "dup", "change", "many"])
        if op == "empty":
            return []
        if op == "dup" and out:
            return out + out
        if op == "many" and out:
            return out * rng.choice([2, 50, 2000])
        if out:
            i = rng.randrange(len(out))
            out[i] = mutate_value(rng, out[i], depth + 1)
        return out
    return rng.choice(ODD_VALUES)


def raw_bodies(rng, body):
    """Byte-level damage that no JSON encoder would produce."""
    text = json.dumps(body).encode()
    cut = rng.randrange(1, max(2, len(text)))
    return [
        text[:cut],                                   # truncated
        text.replace(b"{", b"{\"dup\":1,\"dup\":2,", 1),  # duplicate keys
        b"[" * 5000 + b"]" * 5000,                    # deep nesting
        b"{\"name\": \"\xff\xfe\"}",                  # invalid UTF-8
        b"{\"name\": \"a\\u0000b\"}",                 # NUL escape
        b"{\"parallelism\": NaN}",                    # not JSON
        text + b"garbage",                            # trailing bytes
        b"",                                          # empty
        b"\x00" * 64,                                 # binary
    ]


def snapshot(s):
    return [s.get(p).body for p in ("/api/v1/clusters", "/api/v1/clusters/c1/topics",
                                    "/api/v1/groups", "/api/v1/groups/g1/plans")]


def check_answer(resp, what):
    assert resp.status in ALLOWED, (what, resp)
    if resp.status >= 400:
        assert_problem(resp, resp.status)


def send(s, method, path, what, **kw):
    try:
        r = s.request(method, path, timeout=20, **kw)
    except Exception as e:  # a dropped connection is a failure too
        raise AssertionError(f"{what}: no answer ({e!r}); server alive: {s.alive()}")
    check_answer(r, what)
    return r


def test_random_bad_input_is_refused_precisely_and_changes_nothing(server):
    s = server
    assert s.post("/api/v1/clusters", {"name": "c1", "embedded": {"topics": [
        {"name": "orders", "partitions": 6}]}}).status == 201
    assert s.post("/api/v1/clusters/c1/topics", {"name": "orders"}).status == 201
    assert s.post("/api/v1/groups", {"name": "g1", "topics": [{"cluster": "c1", "topic": "orders"}],
                                     "parallelism": 3}).status == 201
    assert s.post("/api/v1/groups/g1/plans", {}).status == 201
    rng = random.Random(SEED)
    refused = accepted = 0
    before = snapshot(s)
    for rnd in range(ROUNDS):
        for method, path, body in TEMPLATES:
            cases = [("json", mutate_value(rng, body)) for _ in range(3)]
            cases += [("raw", b) for b in rng.sample(raw_bodies(rng, body), 2)]
            for kind, b in cases:
                what = f"seed {SEED} round {rnd}: {method} {path} {kind} {str(b)[:300]}"
                if kind == "json":
                    r = send(s, method, path, what, body=b)
                else:
                    r = send(s, method, path, what, raw=b,
                             headers={"Content-Type": "application/json"})
                after = snapshot(s)
                if r.status >= 400:
                    refused += 1
                    assert after == before, f"{what}: a refused request changed stored data"
                else:
                    accepted += 1
                before = after
    # the mutations must mostly be refused, or they test nothing
    assert refused > accepted * 3, (refused, accepted)
    assert s.get("/livez").status == 200 and s.get("/readyz").status == 200
    # what was stored before the storm is still there and whole
    g = s.get("/api/v1/groups/g1")
    assert g.status == 200 and g.json["topics"], g
    assert s.get("/api/v1/groups/g1/plans/current").status == 200


def test_wrong_content_types_and_methods_are_refused(server):
    s = server
    for method in ("PATCH", "OPTIONS", "TRACE"):
        r = send(s, method, "/api/v1/groups", f"{method} /api/v1/groups")
        assert r.status == 405, r
        # RFC 9110: a 405 lists what is allowed
        assert r.headers.get("allow") == "GET, POST", r.headers
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "application/jsonx", ""):
        r = send(s, "POST", "/api/v1/plan", f"content-type {ctype!r}",
                 raw=b'{"topics": [], "parallelism": 1}', headers={"Content-Type": ctype} if ctype else {})
        assert r.status in (400, 415), r
    assert s.get("/livez").status == 200
