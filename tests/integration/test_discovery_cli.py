"""Topic patterns, periodic re-discovery against a separate `kplane mock` cluster, and the CLI."""
import json
import os
import subprocess
import time

from kplane_harness import BIN, assert_problem


class Mock:
    """`kplane mock` in its own process: outlives the server under test, takes stdin commands."""

    def __init__(self, *topics, brokers=1):
        args = [BIN, "mock", "--brokers", str(brokers)]
        for t in topics:
            args += ["--topic", t]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.bootstrap = self.proc.stdout.readline().strip()
        assert ":" in self.bootstrap, self.bootstrap

    def command(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        assert reply.startswith("ok"), reply
        return reply

    def stop(self):
        self.proc.terminate()
        assert self.proc.wait(15) == 0


def wait_for(pred, timeout=20, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_pattern_resolves_and_rediscovery_finds_new_topics(make_server):
    mock = Mock("orders.eu:4", "orders.us:6", "payments:3")
    try:
        s = make_server(env={"KPLANE_DISCOVERY_INTERVAL_S": "1"})
        assert s.post("/api/v1/clusters", {"name": "m", "bootstrap_servers": mock.bootstrap}).status == 201
        r = s.post("/api/v1/clusters/m/topics", {"pattern": "^orders\\."})
        assert r.status == 201, r
        assert sorted((t["name"], t["partitions"]) for t in r.json["topics"]) == [("orders.eu", 4), ("orders.us", 6)]
        r = s.post("/api/v1/groups", {"name": "g", "parallelism": 5, "topics": [{"cluster": "m", "pattern": "^orders\\."}]})
        assert r.status == 201, r
        r = s.post("/api/v1/groups/g/plans", {})
        assert r.status == 201 and r.json["analysis"]["partitions"] == 10
        # a new matching topic appears on the cluster: periodic discovery picks it up and
        # re-plans the group (same parallelism, sticky)
        mock.command("topic orders.apac:5")
        wait_for(lambda: any(t["name"] == "orders.apac" for t in
                             s.get("/api/v1/clusters/m/topics/%5Eorders%5C.").json.get("topics", [])),
                 what="pattern to resolve orders.apac")
        cur = wait_for(lambda: (lambda j: j if j["version"] >= 2 else None)(s.get("/api/v1/groups/g/plans/current").json),
                       what="automatic re-plan")
        assert cur["analysis"]["partitions"] == 15 and cur["parallelism"] == 5
        assert cur["analysis"]["moved_from_previous"] == 0, "new partitions fill the tasks, old ones stay"
        # a non-matching topic changes nothing
        assert all(t["name"].startswith("orders.") for t in s.get("/api/v1/clusters/m/topics/%5Eorders%5C.").json["topics"])
        # refresh on demand answers the current registration
        r = s.post("/api/v1/clusters/m/topics/%5Eorders%5C./refresh")
        assert r.status == 200 and len(r.json["topics"]) == 3
    finally:
        mock.stop()


def test_cluster_goes_away_then_503_and_back(make_server):
    mock = Mock("t:2")
    s = make_server()
    assert s.post("/api/v1/clusters", {"name": "m", "bootstrap_servers": mock.bootstrap}).status == 201
    assert s.post("/api/v1/clusters/m/topics", {"name": "t"}).status == 201
    mock.stop()
    t0 = time.time()
    assert_problem(s.post("/api/v1/clusters/m/topics/t/refresh"), 503)
    assert time.time() - t0 < 6
    # nothing was damaged: the registration is as it was
    r = s.get("/api/v1/clusters/m/topics/t")
    assert r.status == 200 and r.json["partitions"] == 2


def test_cli_plan_text_and_json():
    out = subprocess.run([BIN, "plan", "--topic", "orders:10", "--topic", "payments:10", "--topic", "clicks:10",
                          "--parallelism", "30", "--strategy", "flink", "--format", "json"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert [t["task"] for t in doc["tasks"]] == list(range(30))
    assert doc["analysis"]["idle_tasks"] > 0
    out = subprocess.run([BIN, "plan", "--topic", "orders:10", "--parallelism", "4", "--strategy", "balanced"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "partitions_above_parallelism" in out.stdout
    out = subprocess.run([BIN, "plan", "--parallelism", "0"], capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr


def test_cli_batch_mode():
    lines = "\n".join(json.dumps({"topics": [{"cluster": "c", "topic": "topic1", "partitions": 3}],
                                  "parallelism": p, "strategy": "flink"}) for p in (1, 2, 7)) + "\n"
    out = subprocess.run([BIN, "plan", "--batch"], input=lines, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    owners = [json.loads(l)["owners"] for l in out.stdout.splitlines()]
    # "topic1".hashCode() == -868034334; start = ((h * 31) & 0x7FFFFFFF) % T
    def flink(T, p):
        h = -868034334
        return ((((h * 31) & 0xFFFFFFFF) & 0x7FFFFFFF) % T + p) % T
    assert owners == [[[flink(T, p) for p in range(3)]] for T in (1, 2, 7)]


def test_cli_version_help_and_unknown_command():
    out = subprocess.run([BIN, "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("kplane ")
    out = subprocess.run([BIN, "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "kplane mock" in out.stdout and "kplane plan" in out.stdout
    out = subprocess.run([BIN, "frobnicate"], capture_output=True, text=True)
    assert out.returncode == 2 and "unknown command" in out.stderr


def test_healthcheck_command(server):
    env = dict(os.environ, KPLANE_LISTEN=f"127.0.0.1:{server.port}")
    assert subprocess.run([BIN, "healthcheck"], env=env).returncode == 0
    env["KPLANE_LISTEN"] = "127.0.0.1:1"
    assert subprocess.run([BIN, "healthcheck"], env=env, capture_output=True).returncode == 1


def test_sigterm_exits_cleanly_and_fast(server):
    t0 = time.time()
    assert server.stop() == 0
    assert time.time() - t0 < 10
