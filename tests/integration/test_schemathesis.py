"""test_schemathesis.py — schemathesis (PyPI) fuzzes the served OpenAPI document against the server.

One kplane with an API token; an embedded cluster c1 (topics t1, t2 and a pattern that
matches both), a stopped group g1
on c1/t1 with two plans, a running group g2 on c1/t2. Then `schemathesis run` against
GET /api/v1/openapi.json as served, with the token, all four phases (examples, coverage,
fuzzing, stateful), EXAMPLES test cases per operation, a fixed deterministic generation
and one worker (the same requests every run), and the checks not_a_server_error,
status_code_conformance, content_type_conformance, response_schema_conformance and
response_headers_conformance. The test fails on any failure and prints schemathesis's
own report of each (the request as curl, the answer, the schema it broke).

Data is positive and negative (mode "all"): invalid input must be a documented 4xx with
a problem+json body, never a 500, and that is most of what the contract promises about
bad input. The negative_data_rejection check is not on: for a free-form string (a topic
pattern, a sink path) schemathesis's idea of "invalid" is often valid to the server (and
the reverse), so it floods the run with false positives; positive_data_acceptance is off
for the same reason (422 for a topic absent on the cluster is right for schema-valid data).

Path parameters point at the seeded data (schemathesis.toml "parameters" below) so that the
operations reach their real work instead of answering 404 to random names, and so that
nothing the run does can start consumers or wait on a cluster that is not there:
- the cluster operations use c1, an embedded cluster that answers at once (a random name
  would be a 404; a cluster created by the fuzzer with a made-up bootstrap address would
  be a 3 s wait per request, KP_KAFKA_METADATA_TIMEOUT_MS); PUT goes to c-put, so c1
  stays embedded;
- DELETE of c1 and of c1/t2 is always 409 (groups use them), DELETE of a group goes to
  the running g2 (409): the seed survives the run;
- start goes to g2 (already running: 409) and stop to g1 (already stopped: 202), so no
  consumer task starts or stops during the run (a start would spin up real consumers
  per fuzzed group: unbounded work for a fuzzer);
- status goes to g2, so a running group's tasks and partitions are checked too.
A 503 is allowed (not_a_server_error) only where the contract makes it the answer for an
unreachable cluster: metadata, topic registration and refresh.
What-if and sweep are fuzzed as they are: their work is bounded by the server's own
limits (KP_WHATIF_PARTITIONS_MAX, KP_SWEEP_WORK_MAX, 422 above them).
"""
import os
import re
import subprocess
import sys
import time

import pytest

from kplane_harness import Server

TOKEN = "schemathesis-token"
# test cases per operation (fuzzing) and scenarios (stateful); more for a deeper run
EXAMPLES = int(os.environ.get("KPLANE_SCHEMATHESIS_EXAMPLES", "25"))
RUN_TIMEOUT_S = 240    # a run takes well under 2 minutes; this only stops a hung one
WANT = (4, 32)         # scripts/setup.sh installs schemathesis>=4.32.5,<4.33
CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "response_headers_conformance"]

# operationId -> fixed path parameters (see the docstring for why each).
PARAMS = {
    "getCluster": {"name": "c1"},
    "deleteCluster": {"name": "c1"},
    "updateCluster": {"name": "c-put"},
    "getClusterMetadata": {"name": "c1"},
    "listTopics": {"cluster": "c1"},
    "registerTopic": {"cluster": "c1"},
    "getTopic": {"cluster": "c1", "topic": "t1"},
    "deleteTopic": {"cluster": "c1", "topic": "t2"},
    "refreshTopic": {"cluster": "c1", "topic": "t1"},
    "getGroup": {"name": "g1"},
    "updateGroup": {"name": "g1"},
    "deleteGroup": {"name": "g2"},
    "listPlans": {"name": "g1"},
    "createPlan": {"name": "g1"},
    "getCurrentPlan": {"name": "g1"},
    "getPlan": {"name": "g1", "version": 1},
    "diffPlans": {"name": "g1", "version": 2},
    "startGroup": {"name": "g2"},
    "stopGroup": {"name": "g1"},
    "getGroupStatus": {"name": "g2"},
}
UNREACHABLE_OK = ["getClusterMetadata", "registerTopic", "refreshTopic"]


def schemathesis_version():
    try:
        from importlib.metadata import version, PackageNotFoundError
        return version("schemathesis")
    except PackageNotFoundError:
        return None


def toml_str(v):
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def config_toml():
    out = []
    for op, params in PARAMS.items():
        out.append("[[operations]]")
        out.append(f"include-operation-id = {toml_str(op)}")
        kv = ", ".join(f'{toml_str("path." + k)} = {v if isinstance(v, int) else toml_str(v)}'
                       for k, v in params.items())
        out.append(f"parameters = {{ {kv} }}")
        if op in UNREACHABLE_OK:
            out.append('checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "503"]')
        out.append("")
    return "\n".join(out)


def seed(s):
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def ok(r, *codes):
        assert r.status in codes, r
        return r

    ok(s.post("/api/v1/clusters", {"name": "c1", "embedded": {
        "brokers": 1, "topics": [{"name": "t1", "partitions": 4}, {"name": "t2", "partitions": 2}]}},
        headers=auth), 201)
    ok(s.post("/api/v1/clusters", {"name": "c-put", "embedded": {
        "brokers": 1, "topics": [{"name": "p", "partitions": 1}]}}, headers=auth), 201)
    for t in ("t1", "t2"):
        ok(s.post("/api/v1/clusters/c1/topics", {"name": t}, headers=auth), 201)
    # a pattern that resolves to both, so topic lists carry a pattern registration too
    ok(s.post("/api/v1/clusters/c1/topics", {"pattern": "^t[0-9]$"}, headers=auth), 201)
    ok(s.post("/api/v1/groups", {"name": "g1", "topics": [{"cluster": "c1", "topic": "t1"}],
                                 "parallelism": 2}, headers=auth), 201)
    ok(s.post("/api/v1/groups/g1/plans", {}, headers=auth), 201)
    ok(s.post("/api/v1/groups/g1/plans", {"parallelism": 3, "strategy": "range"}, headers=auth), 201)
    ok(s.post("/api/v1/groups", {"name": "g2", "topics": [{"cluster": "c1", "topic": "t2"}],
                                 "parallelism": 2}, headers=auth), 201)
    ok(s.post("/api/v1/groups/g2/start", headers=auth), 202)
    deadline = time.time() + 60
    while time.time() < deadline:
        st = ok(s.get("/api/v1/groups/g2/status", headers=auth), 200).json
        if st["state"] == "running":
            return
        assert st["state"] in ("starting",), st
        time.sleep(0.2)
    raise AssertionError(f"g2 did not reach running: {st}")


def test_schemathesis_finds_nothing(make_server, tmp_path):
    have = schemathesis_version()
    if have is None or tuple(int(x) for x in have.split(".")[:2]) != WANT:
        why = f"schemathesis {'.'.join(map(str, WANT))}.x is not installed (have {have}): run scripts/setup.sh"
        if os.environ.get("KPLANE_TEST_REQUIRE") == "1":
            pytest.fail(why)
        pytest.skip(why)

    s = make_server(env={"KPLANE_API_TOKEN": TOKEN})
    seed(s)
    cfg = tmp_path / "schemathesis.toml"
    cfg.write_text(config_toml())
    cmd = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(cfg), "run",
           f"{s.url}/api/v1/openapi.json",
           "--header", f"Authorization: Bearer {TOKEN}",
           "--checks", ",".join(CHECKS),
           "--mode", "all",
           "--max-examples", str(EXAMPLES),
           "--generation-deterministic",
           "--workers", "1",
           "--request-timeout", "30",
           "--no-color",
           "--output-truncate", "true",
           "--report", "har", "--report-dir", str(tmp_path / "report")]
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, SCHEMATHESIS_HOOKS="schemathesis_hooks",
               PYTHONPATH=os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")])))
    start = time.monotonic()
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                             env=env, cwd=tmp_path)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"schemathesis ran over {RUN_TIMEOUT_S}s: {(e.stdout or '')[-4000:]}")
    took = time.monotonic() - start
    out = run.stdout + run.stderr
    print(f"schemathesis {have}: {EXAMPLES} examples per operation, {took:.1f}s, exit {run.returncode}")
    print("\n".join(l for l in out.splitlines()
                    if re.search(r"\(in [0-9.]+s\)$|Tested:|generated", l)))

    assert s.alive(), f"kplane died under schemathesis: {s.log()[-3000:]}"
    if run.returncode != 0:
        at = out.find("FAILURES")
        report = out[at:] if at >= 0 else out
        pytest.fail(f"schemathesis found failures (exit {run.returncode}, {took:.0f}s):\n"
                    + report[:20000], pytrace=False)
    # not a vacuous pass: every operation of the document was tested
    selected = re.search(r"Selected: (\d+)/(\d+)", out)
    tested = re.search(r"Tested: (\d+)", out)
    assert selected and tested, out[-3000:]
    assert selected[1] == selected[2] == tested[1], out[-3000:]
