"""test_openapi.py — api/openapi.json is a sound OpenAPI 3.0.3 document of every endpoint of API.md.

Stdlib only. Checks the document parses, every $ref resolves, every path+method of the
contract (hard-coded below from /work/shared/API.md: that list IS the contract) is present,
request bodies reject unknown fields, errors are problem+json, and the examples of API.md
validate against the schemas (with a small JSON-Schema subset validator below).
With KPLANE_URL set (a running server), the served /api/v1/openapi.json must equal the file.
"""
import json
import os
import re
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC_PATH = ROOT / "api" / "openapi.json"

# Every endpoint of API.md, as (method, path). Parameter names do not matter (normalised).
CONTRACT = [
    ("GET", "/api/v1/clusters"),
    ("POST", "/api/v1/clusters"),
    ("GET", "/api/v1/clusters/{name}"),
    ("PUT", "/api/v1/clusters/{name}"),
    ("DELETE", "/api/v1/clusters/{name}"),
    ("GET", "/api/v1/clusters/{name}/metadata"),
    ("GET", "/api/v1/clusters/{cluster}/topics"),
    ("POST", "/api/v1/clusters/{cluster}/topics"),
    ("GET", "/api/v1/clusters/{cluster}/topics/{topic}"),
    ("DELETE", "/api/v1/clusters/{cluster}/topics/{topic}"),
    ("POST", "/api/v1/clusters/{cluster}/topics/{topic}/refresh"),
    ("GET", "/api/v1/groups"),
    ("POST", "/api/v1/groups"),
    ("GET", "/api/v1/groups/{name}"),
    ("PUT", "/api/v1/groups/{name}"),
    ("DELETE", "/api/v1/groups/{name}"),
    ("GET", "/api/v1/groups/{name}/plans"),
    ("POST", "/api/v1/groups/{name}/plans"),
    ("GET", "/api/v1/groups/{name}/plans/{version}"),
    ("GET", "/api/v1/groups/{name}/plans/current"),
    ("POST", "/api/v1/plan"),
    ("POST", "/api/v1/plan/sweep"),
    ("POST", "/api/v1/groups/{name}/start"),
    ("POST", "/api/v1/groups/{name}/stop"),
    ("GET", "/api/v1/groups/{name}/status"),
    ("GET", "/livez"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/"),
    # beyond API.md (kplane's own additions, documented in docs/API.md "Beyond the contract")
    ("GET", "/api/v1/groups/{name}/plans/{version}/diff"),
    ("GET", "/api/v1/overview"),
    ("GET", "/api/v1/instances"),  # API.md "Several instances"
    ("GET", "/api/v1/groups/{name}/history"),
]
OPEN_PATHS = {"/livez", "/readyz", "/metrics", "/"}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
REQUIRED_SCHEMAS = [
    "Cluster", "ClusterCreate", "EmbeddedSpec", "Topic", "TopicRegistration",
    "PatternRegistration", "Group", "GroupCreate", "Plan", "PlanSummary", "Analysis", "Task",
    "PartitionRef", "WhatIfRequest", "SweepRequest", "SweepResponse", "GroupStatus", "Problem",
]


@pytest.fixture(scope="module")
def doc():
    with open(DOC_PATH, encoding="utf-8") as f:
        return json.load(f)


def norm(path):
    return re.sub(r"\{[^}]+\}", "{}", path)


def resolve(doc, ref):
    assert ref.startswith("#/"), f"only local refs are used: {ref}"
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"unresolved $ref {ref}"
        node = node[part]
    return node


def deref(doc, node):
    while isinstance(node, dict) and "$ref" in node:
        node = resolve(doc, node["$ref"])
    return node


def walk(node, path=""):
    """Yields (json-path, dict) for every object in the tree."""
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from walk(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}/{i}")


def operations(doc):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, item, operation


# A JSON-Schema subset (what this document uses): enough to tell a valid example from an
# invalid one. Returns a list of error strings, empty when valid.
def check(doc, schema, value, where="$"):
    schema = deref(doc, schema)
    errs = []
    if value is None and schema.get("nullable"):
        return errs
    for sub in schema.get("allOf", []):
        errs += check(doc, sub, value, where)
    if "anyOf" in schema:
        if all(check(doc, s, value, where) for s in schema["anyOf"]):
            errs.append(f"{where}: matches none of anyOf")
    if "oneOf" in schema:
        n = sum(1 for s in schema["oneOf"] if not check(doc, s, value, where))
        if n != 1:
            errs.append(f"{where}: matches {n} of oneOf, want exactly 1")
    t = schema.get("type")
    types = {"object": dict, "array": list, "string": str, "boolean": bool}
    if t in types and not isinstance(value, types[t]):
        return errs + [f"{where}: want {t}"]
    if t == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
        return errs + [f"{where}: want integer"]
    if t == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return errs + [f"{where}: want number"]
    if "enum" in schema and value not in schema["enum"]:
        errs.append(f"{where}: {value!r} not in enum")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errs.append(f"{where}: below minimum")
        if "maximum" in schema and value > schema["maximum"]:
            errs.append(f"{where}: above maximum")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errs.append(f"{where}: {value!r} does not match {schema['pattern']}")
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", 1 << 30):
            errs.append(f"{where}: length out of range")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errs.append(f"{where}: too few items")
        for i, v in enumerate(value):
            errs += check(doc, schema.get("items", {}), v, f"{where}[{i}]")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for k in schema.get("required", []):
            if k not in value:
                errs.append(f"{where}: missing {k}")
        for k, v in value.items():
            if k in props:
                errs += check(doc, props[k], v, f"{where}.{k}")
            elif schema.get("additionalProperties") is False:
                errs.append(f"{where}: unknown field {k}")
            elif isinstance(schema.get("additionalProperties"), dict):
                errs += check(doc, schema["additionalProperties"], v, f"{where}.{k}")
    return errs


def test_document_parses_as_openapi_3_0_3(doc):
    assert doc["openapi"] == "3.0.3"
    assert doc["info"]["title"] == "kplane"
    assert re.match(r"^\d+\.\d+\.\d+", doc["info"]["version"])
    assert isinstance(doc["paths"], dict) and doc["paths"]


def test_document_version_is_the_binary_version(doc):
    config_h = (ROOT / "server" / "base" / "config.h").read_text(encoding="utf-8")
    m = re.search(r'#define\s+KP_VERSION\s+"([^"]+)"', config_h)
    assert m, "KP_VERSION not found in server/base/config.h"
    assert doc["info"]["version"] == m.group(1)


def test_every_ref_resolves(doc):
    refs = [(p, n["$ref"]) for p, n in walk(doc) if "$ref" in n]
    assert len(refs) > 50
    for where, ref in refs:
        assert isinstance(ref, str), where
        resolve(doc, ref)


def test_every_contract_endpoint_is_documented(doc):
    documented = {(m.upper(), norm(p)) for p, m, _, _ in operations(doc)}
    missing = [(m, p) for m, p in CONTRACT if (m, norm(p)) not in documented]
    assert not missing, f"API.md endpoints missing from openapi.json: {missing}"


def test_no_endpoint_beyond_the_contract_goes_unlisted_here(doc):
    # A new endpoint must be added to API.md and to CONTRACT above, so the two stay true.
    contract = {(m, norm(p)) for m, p in CONTRACT}
    extra = [(m.upper(), p) for p, m, _, _ in operations(doc) if (m.upper(), norm(p)) not in contract]
    assert not extra, f"documented but not in the contract list: {extra}"


def test_operation_ids_are_unique(doc):
    ids = [o["operationId"] for _, _, _, o in operations(doc)]
    assert len(ids) == len(set(ids)) == len(CONTRACT)


def test_path_parameters_are_declared(doc):
    for path, method, item, operation in operations(doc):
        declared = set()
        for p in item.get("parameters", []) + operation.get("parameters", []):
            p = deref(doc, p)
            if p["in"] == "path":
                assert p["required"] is True, (path, p["name"])
                declared.add(p["name"])
        assert declared == set(re.findall(r"\{([^}]+)\}", path)), (method, path)


def test_required_component_schemas_exist(doc):
    schemas = doc["components"]["schemas"]
    for name in REQUIRED_SCHEMAS:
        assert name in schemas, name


def test_request_bodies_reject_unknown_fields(doc):
    bodies = 0
    for path, method, _, operation in operations(doc):
        if "requestBody" not in operation:
            continue
        bodies += 1
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        # Every object schema reachable from the body is closed.
        seen, todo = set(), [schema]
        while todo:
            s = todo.pop()
            if isinstance(s, dict) and "$ref" in s:
                if s["$ref"] in seen:
                    continue
                seen.add(s["$ref"])
                s = resolve(doc, s["$ref"])
            if not isinstance(s, dict):
                continue
            if s.get("type") == "object" and "properties" in s:
                # ClientConfig-like maps are open by design (any librdkafka key).
                assert s.get("additionalProperties") is False, (method, path, s.get("description"))
            todo += list(s.get("properties", {}).values())
            for k in ("items", "additionalProperties"):
                if isinstance(s.get(k), dict):
                    todo.append(s[k])
            for k in ("oneOf", "anyOf", "allOf"):
                todo += s.get(k, [])
        assert "400" in operation["responses"], (method, path)
        assert "413" in operation["responses"] and "415" in operation["responses"], (method, path)
    assert bodies >= 8


def test_errors_are_problem_json_with_contract_codes(doc):
    for path, method, _, operation in operations(doc):
        for code, resp in operation["responses"].items():
            if code.startswith(("4", "5")):
                resp = deref(doc, resp)
                content = resp["content"]
                assert list(content) == ["application/problem+json"], (method, path, code)
                schema = content["application/problem+json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}
                assert code in {"400", "401", "403", "404", "405", "409", "413", "415", "422", "501", "503"}, code
            assert code != "500", (method, path)
    responses = doc["components"]["responses"]
    assert "WWW-Authenticate" in responses["Unauthorized"]["headers"]
    assert "Allow" in responses["MethodNotAllowed"]["headers"]


def test_resource_endpoints_answer_contract_statuses(doc):
    ops = {(m.upper(), norm(p)): o for p, m, _, o in operations(doc)}

    def codes(m, p):
        return set(ops[(m, norm(p))]["responses"])

    assert {"201", "409"} <= codes("POST", "/api/v1/clusters")
    assert "Location" in ops[("POST", "/api/v1/clusters")]["responses"]["201"]["headers"]
    assert {"204", "404", "409"} <= codes("DELETE", "/api/v1/clusters/{}")
    assert {"200", "404", "503"} <= codes("GET", "/api/v1/clusters/{}/metadata")
    assert {"201", "422"} <= codes("POST", "/api/v1/clusters/{}/topics")
    assert {"204", "409"} <= codes("DELETE", "/api/v1/clusters/{}/topics/{}")
    assert {"201", "422"} <= codes("POST", "/api/v1/groups")
    assert {"204", "409"} <= codes("DELETE", "/api/v1/groups/{}")
    assert "201" in codes("POST", "/api/v1/groups/{}/plans")
    assert "202" in codes("POST", "/api/v1/groups/{}/start")
    assert "202" in codes("POST", "/api/v1/groups/{}/stop")
    assert "200" in codes("POST", "/api/v1/plan")
    assert {"200", "503"} <= codes("GET", "/readyz")


def test_bearer_auth_covers_api_v1_and_not_the_open_endpoints(doc):
    scheme = doc["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer"}
    assert doc["security"] == [{"bearerAuth": []}]
    for path, method, _, operation in operations(doc):
        if path in OPEN_PATHS:
            assert operation.get("security") == [], (method, path)
            assert "401" not in operation["responses"]
        else:
            assert path.startswith("/api/v1/")
            assert "security" not in operation, (method, path)  # inherits bearerAuth
            assert "401" in operation["responses"], (method, path)


def body_schema(doc, method, path):
    for p, m, _, o in operations(doc):
        if m.upper() == method and norm(p) == norm(path):
            return o["requestBody"]["content"]["application/json"]["schema"]
    raise KeyError((method, path))


def response_schema(doc, method, path, code):
    for p, m, _, o in operations(doc):
        if m.upper() == method and norm(p) == norm(path):
            return deref(doc, o["responses"][code])["content"]["application/json"]["schema"]
    raise KeyError((method, path))


# Request examples of API.md, and what they must not accept.
VALID_BODIES = [
    ("POST", "/api/v1/clusters", {"name": "eu-west", "bootstrap_servers": "k1:9092,k2:9092",
                                  "config": {"security.protocol": "PLAINTEXT"}}),
    ("POST", "/api/v1/clusters", {"name": "demo-a", "embedded": {
        "brokers": 3, "topics": [{"name": "orders", "partitions": 10}]}}),
    ("POST", "/api/v1/clusters/{c}/topics", {"name": "orders"}),
    ("POST", "/api/v1/clusters/{c}/topics", {"pattern": "^orders\\..*"}),
    ("POST", "/api/v1/groups", {
        "name": "analytics",
        "topics": [{"cluster": "eu-west", "topic": "orders"},
                   {"cluster": "us-east", "pattern": "^payments"}],
        "parallelism": 30, "strategy": "balanced", "rebalance": False,
        "start_offset": "earliest", "sink": {"type": "discard"}}),
    ("POST", "/api/v1/groups", {"name": "g", "topics": [{"cluster": "a", "topic": "t"}],
                                "parallelism": 2, "sink": {"type": "file", "path": "data/out"}}),
    ("POST", "/api/v1/groups/{n}/plans", {"parallelism": 20, "strategy": "flink", "apply": True}),
    ("POST", "/api/v1/groups/{n}/plans", {}),
    ("POST", "/api/v1/plan", {
        "topics": [{"cluster": "a", "topic": "orders", "partitions": 10}],
        "parallelism": 30, "strategy": "flink",
        "weights": [{"cluster": "a", "topic": "orders", "partition": 3, "weight": 5.0}]}),
    ("POST", "/api/v1/plan/sweep", {
        "topics": [{"cluster": "a", "topic": "orders", "partitions": 10}],
        "parallelism": {"from": 1, "to": 64}, "strategies": ["flink", "balanced"]}),
]
INVALID_BODIES = [
    ("POST", "/api/v1/clusters", {"name": "eu-west", "bootstrap_servers": "k:9092", "confg": {}}),
    ("POST", "/api/v1/clusters", {"name": "-bad", "bootstrap_servers": "k:9092"}),
    ("POST", "/api/v1/clusters", {"name": "x"}),
    ("POST", "/api/v1/clusters", {"name": "x", "bootstrap_servers": "k:9092",
                                  "embedded": {"brokers": 1}}),
    ("POST", "/api/v1/clusters/{c}/topics", {"name": "orders", "pattern": "^o"}),
    ("POST", "/api/v1/clusters/{c}/topics", {"name": "bad topic"}),
    ("POST", "/api/v1/groups", {"name": "g", "topics": [{"cluster": "a", "topic": "t"}],
                                "parallelism": 0}),
    ("POST", "/api/v1/groups", {"name": "g", "topics": [{"cluster": "a", "topic": "t"}],
                                "parallelism": 2, "strategy": "sticky"}),
    ("POST", "/api/v1/groups", {"name": "g", "topics": [{"cluster": "a", "topic": "t"}],
                                "parallelism": 2, "sink": {"type": "file"}}),
    ("POST", "/api/v1/groups", {"name": "g", "topics": [{"cluster": "a", "topic": "t"}],
                                "parallelism": 2, "sink": {"type": "file", "path": "/data/out"}}),
    ("POST", "/api/v1/groups/{n}/plans", {"parallelism": 100001}),
    ("POST", "/api/v1/plan", {"topics": [{"cluster": "a", "topic": "o", "partitions": 1}],
                              "parallelism": 3, "strategy": "balanced", "extra": 1}),
    ("POST", "/api/v1/plan/sweep", {"topics": [{"cluster": "a", "topic": "o", "partitions": 1}],
                                    "parallelism": 5, "strategies": ["flink"]}),
]


@pytest.mark.parametrize("method,path,body", VALID_BODIES)
def test_api_md_request_examples_validate(doc, method, path, body):
    assert check(doc, body_schema(doc, method, path), body) == []


@pytest.mark.parametrize("method,path,body", INVALID_BODIES)
def test_invalid_request_bodies_are_rejected_by_the_schema(doc, method, path, body):
    assert check(doc, body_schema(doc, method, path), body) != []


def test_api_md_response_examples_validate(doc):
    cluster = {"name": "eu-west", "bootstrap_servers": "k1:9092,k2:9092", "embedded": False,
               "config": {"security.protocol": "PLAINTEXT"}, "created_at": "2026-11-25T20:00:00Z"}
    analysis = {"case": "partitions_equal_parallelism", "partitions": 30, "tasks": 30,
                "idle_tasks": 0, "min_partitions_per_task": 1, "max_partitions_per_task": 1,
                "skew": 1.0, "moved_from_previous": 0, "recommendations": ["..."]}
    plan = {"group": "analytics", "version": 3, "parallelism": 30, "strategy": "balanced",
            "created_at": "2026-11-25T20:00:00Z",
            "tasks": [{"task": 0, "partitions": [{"cluster": "eu-west", "topic": "orders",
                                                  "partition": 0}]}],
            "analysis": analysis}
    status = {"group": "analytics", "state": "running", "plan_version": 3,
              "tasks": [{"task": 0, "state": "running", "partitions": 1, "messages": 12034,
                         "bytes": 1203400, "messages_per_s": 950.0}],
              "partitions": [{"cluster": "eu-west", "topic": "orders", "partition": 0, "task": 0,
                              "position": 12034, "committed": 12000, "high_watermark": 12100,
                              "lag": 66}],
              "totals": {"messages": 361020, "lag": 1980}}
    cases = [
        (("GET", "/api/v1/clusters/{n}", "200"), cluster),
        (("GET", "/api/v1/clusters", "200"), {"items": [cluster]}),
        (("GET", "/api/v1/clusters/{n}/metadata", "200"),
         {"brokers": [{"id": 1, "host": "k1", "port": 9092}],
          "topics": [{"name": "orders", "partitions": 10}]}),
        (("GET", "/api/v1/clusters/{c}/topics/{t}", "200"),
         {"cluster": "eu-west", "name": "orders", "partitions": 10,
          "discovered_at": "2026-11-25T20:00:00Z"}),
        (("GET", "/api/v1/groups/{n}/plans/current", "200"), plan),
        (("POST", "/api/v1/plan", "200"), {"tasks": plan["tasks"], "analysis": analysis}),
        (("POST", "/api/v1/plan/sweep", "200"),
         {"items": [{"parallelism": 1, "strategy": "flink", "analysis": analysis}]}),
        (("GET", "/api/v1/groups/{n}/status", "200"), status),
    ]
    for (method, path, code), example in cases:
        assert check(doc, response_schema(doc, method, path, code), example) == [], path
    problem = {"type": "about:blank", "title": "Bad Request", "status": 400,
               "detail": "invalid field",
               "errors": [{"field": "parallelism", "message": "must be 1..100000"}]}
    assert check(doc, {"$ref": "#/components/schemas/Problem"}, problem) == []
    assert check(doc, {"$ref": "#/components/schemas/Analysis"}, {**analysis, "case": "x"}) != []


def test_served_document_equals_the_file(doc, server):
    """The binary serves exactly api/openapi.json (compiled in at build time)."""
    r = server.get("/api/v1/openapi.json")
    assert r.status == 200
    assert r.headers["content-type"].startswith("application/json")
    assert json.loads(r.body) == doc


def test_live_answers_match_their_schemas(doc, server):
    """What the binary answers, not only API.md's examples, fits the document: lists, a
    group, plans, a diff, what-if, sweep, and the status of a running and a stopped group."""
    import time
    s = server
    assert s.post("/api/v1/clusters", {"name": "c1", "embedded": {"topics": [
        {"name": "orders", "partitions": 4}]}}).status == 201
    assert s.post("/api/v1/clusters/c1/topics", {"name": "orders"}).status == 201
    assert s.post("/api/v1/groups", {"name": "g", "topics": [{"cluster": "c1", "topic": "orders"}],
                                     "parallelism": 3}).status == 201
    assert s.post("/api/v1/groups/g/plans", {}).status == 201
    assert s.post("/api/v1/groups/g/plans", {"parallelism": 2}).status == 201
    whatif = {"topics": [{"cluster": "c1", "topic": "orders", "partitions": 4}], "parallelism": 3}
    sweep = {"topics": whatif["topics"], "parallelism": {"from": 1, "to": 5}}
    cases = [
        ("get", "/api/v1/clusters", "/api/v1/clusters", None, 200),
        ("get", "/api/v1/clusters/{name}", "/api/v1/clusters/c1", None, 200),
        ("get", "/api/v1/clusters/{name}/topics", "/api/v1/clusters/c1/topics", None, 200),
        ("get", "/api/v1/groups", "/api/v1/groups", None, 200),
        ("get", "/api/v1/groups/{name}", "/api/v1/groups/g", None, 200),
        ("get", "/api/v1/groups/{name}/plans", "/api/v1/groups/g/plans", None, 200),
        ("get", "/api/v1/groups/{name}/plans/current", "/api/v1/groups/g/plans/current", None, 200),
        ("get", "/api/v1/groups/{name}/plans/{version}/diff", "/api/v1/groups/g/plans/2/diff", None, 200),
        ("post", "/api/v1/plan", "/api/v1/plan", whatif, 200),
        ("post", "/api/v1/plan/sweep", "/api/v1/plan/sweep", sweep, 200),
        ("get", "/api/v1/groups/{name}/status", "/api/v1/groups/g/status", None, 200),  # stopped
    ]
    for method, doc_path, url, body, status in cases:
        r = s.request(method.upper(), url, body=body)
        assert r.status == status, (url, r)
        errs = check(doc, response_schema(doc, method.upper(), doc_path, str(status)), r.json)
        assert not errs, (url, errs[:5])
    st = s.get("/api/v1/groups/g/status").json
    assert st["state"] == "stopped" and st["partitions"] and st["clusters"], st

    assert s.post("/api/v1/groups/g/start").status == 202
    deadline = time.time() + 30
    while time.time() < deadline:
        st = s.get("/api/v1/groups/g/status").json
        if st["state"] == "running":
            break
        time.sleep(0.2)
    assert st["state"] == "running", st
    errs = check(doc, response_schema(doc, "GET", "/api/v1/groups/{name}/status", "200"), st)
    assert not errs, errs[:5]
    assert st["tasks"] and st["partitions"] and st["clusters"][0]["state"] == "ok", st
    assert s.post("/api/v1/groups/g/stop").status == 202


def test_door_refusals_are_in_the_document(doc):
    """What the HTTP front door answers before any handler (server/http/http_admit.c) is listed
    on every operation it can reach: 403 and 415 on writes, 400 and 501 everywhere."""
    for path, method, _, operation in operations(doc):
        if not path.startswith("/api/v1"):
            continue
        codes = set(operation["responses"])
        assert {"400", "501"} <= codes, (method, path)
        if method.upper() != "GET":
            assert {"403", "415"} <= codes, (method, path)
