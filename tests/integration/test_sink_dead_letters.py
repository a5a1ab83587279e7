"""Errors and dead letters end to end: the real binary reads a `kplane mock` cluster into an
HTTP receiver of this test that fails a share of requests with 500 and 429 and refuses any
body holding a poison message with 400. With errors.tolerance "all" the poison messages, and
only they, land in a file dead-letter sink with the headers that say why; nothing else is
lost and the offsets are committed past them. With "none" the task fails at the poison
message and a restart reads it again. Bad error documents are 400s naming the field."""
import base64
import collections
import glob
import http.server
import json
import subprocess
import threading

import pytest

import runtime_tools as rt
from kplane_harness import assert_problem
from runtime_tools import Part

TOPIC = "orders"
PARTS = 4
PER_PART = 300


def is_poison(value):
    return int(value) % 37 == 5


class Receiver:
    """An HTTP target: request n is answered 500 when n % 5 == 1, 429 (Retry-After: 1) when
    n % 11 == 3; otherwise 400 when the body holds a poison message, else 200, keeping its
    json_lines records."""

    def __init__(self):
        self.lock = threading.Lock()
        self.records = []
        self.answers = collections.Counter()
        self.n = 0
        recv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                lines = [json.loads(line) for line in body.decode().splitlines()]
                poison = any(is_poison(base64.b64decode(d["value"])) for d in lines)
                with recv.lock:
                    n = recv.n
                    recv.n += 1
                    code = (500 if n % 5 == 1 else 429 if n % 11 == 3 else
                            400 if poison else 200)
                    recv.answers[code] += 1
                    if code == 200:
                        recv.records.extend(lines)
                self.send_response(code)
                if code == 429:
                    self.send_header("Retry-After", "1")
                text = b"poison inside" if code == 400 else b""
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/ingest"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def snapshot(self):
        with self.lock:
            return list(self.records), collections.Counter(self.answers)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def cluster():
    with rt.Mocks(1, f"{TOPIC}:{PARTS}", "dlq:2") as m:
        yield {"c0": m.bootstraps[0]}


def group_body(url, errors=None):
    body = {"name": "g", "parallelism": 2, "topics": [{"cluster": "c0", "topic": TOPIC}],
            "sink": {"type": "http", "url": url, "batch": {"max_messages": 40, "linger_ms": 10},
                     "timeout_ms": 5000,
                     "retry": {"max_attempts": 30, "initial_backoff_ms": 10,
                               "max_backoff_ms": 200}}}
    if errors is not None:
        body["errors"] = errors
    return body


DEAD_LETTERS = {"file": {"type": "file", "path": "dlq"},
                "kafka": {"type": "kafka", "cluster": "c0", "topic": "dlq"}}


def dead_letters(server, kind, bootstrap):
    """Every dead letter as {partition, offset (the source's), value, hdrs}: the file sink's
    task files, or the Kafka topic read with kcat."""
    out = []
    if kind == "file":
        for fn in sorted(glob.glob(f"{server.sink_dir}/dlq/task-*.jsonl")):
            with open(fn) as f:
                for d in (json.loads(line) for line in f if line.strip()):
                    out.append({"hdrs": {h["key"]: base64.b64decode(h["value"]).decode()
                                         for h in d["headers"]},
                                "value": base64.b64decode(d["value"]).decode(),
                                "key": base64.b64decode(d["key"]).decode(),
                                "partition": d["partition"], "offset": d["offset"]})
        return out
    res = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", "dlq", "-e", "-q", "-o",
                          "beginning", "-J"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    for line in res.stdout.splitlines():
        d = json.loads(line)
        h = d.get("headers") or []
        hdrs = dict(zip(h[0::2], h[1::2]))
        out.append({"hdrs": hdrs, "value": d["payload"], "key": d["key"],
                    "partition": int(hdrs["kplane.source.partition"]),
                    "offset": int(hdrs["kplane.source.offset"])})
    return out


@pytest.mark.parametrize("kind", ["file", "kafka"])
def test_poison_messages_land_in_the_dead_letters_and_nothing_else_is_lost(server, cluster,
                                                                          receiver, kind):
    rt.register(server, cluster, TOPIC, PARTS)
    errors = {"tolerance": "all", "dead_letter": DEAD_LETTERS[kind]}
    created = rt.ok(server.post("/api/v1/groups", group_body(receiver.url, errors)), 201)
    assert created["errors"] == errors, created
    assert rt.ok(server.get("/api/v1/groups/g"), 200)["errors"] == errors
    ledger = rt.Ledger()
    ledger.produce([(cluster["c0"], Part("c0", TOPIC, p)) for p in range(PARTS)], PER_PART)
    rt.start(server, "g")
    counts = ledger.snapshot()
    poison = {(p.partition, o) for p, n in counts.items() for o in range(n) if is_poison(o)}
    good = {(p.partition, o) for p, n in counts.items() for o in range(n)} - poison

    def all_there():
        st = rt.status(server, "g")
        assert all(t["state"] != "failed" for t in st["tasks"]), st["tasks"]
        committed = rt.committed(st)
        return all(committed[p] == n for p, n in counts.items())
    rt.wait_for(all_there, timeout=180, what="every partition committed to its end")
    st = rt.status(server, "g")
    assert sum(t["sink"]["dead_letters"] for t in st["tasks"]) == len(poison), st["tasks"]
    metrics = server.get("/metrics").body
    assert sum(int(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
               if line.startswith("kplane_sink_dead_letters_total{")) == len(poison)
    rt.stop(server, "g")

    records, answers = receiver.snapshot()
    got = {(r["partition"], r["offset"]) for r in records}
    assert good <= got, f"lost: {sorted(good - got)[:10]}"
    assert not got & poison, f"poison delivered: {sorted(got & poison)[:10]}"
    assert answers[500] and answers[429] and answers[400], answers

    letters = dead_letters(server, kind, cluster["c0"])
    keys = collections.Counter((d["partition"], d["offset"]) for d in letters)
    assert set(keys) == poison and max(keys.values()) == 1, keys
    for d in letters:
        h = d["hdrs"]
        assert h["kplane.error.status"] == "400", h
        assert "400" in h["kplane.error.reason"] and "poison inside" in h["kplane.error.reason"]
        assert h["kplane.source.cluster"] == "c0" and h["kplane.source.topic"] == TOPIC, h
        assert h["kplane.source.partition"] == str(d["partition"]), h
        assert h["kplane.source.offset"] == str(d["offset"]), h
        assert d["value"] == str(d["offset"]) and is_poison(d["value"]), d
        assert d["key"] == f"p{d['partition']}-{d['value']}", d  # its own key, kept
    committed = rt.committed(rt.status(server, "g"))
    assert all(committed[p] == n for p, n in counts.items()), committed
    print(f"dead letters: {len(letters)} poison of {ledger.total()}, answers {dict(answers)}")


def test_tolerance_none_fails_the_task_at_the_poison_and_a_restart_reads_it_again(
        server, cluster, receiver):
    rt.register(server, cluster, TOPIC, PARTS)
    created = rt.ok(server.post("/api/v1/groups", group_body(receiver.url)), 201)
    assert created["errors"] == {"tolerance": "none"}, created
    ledger = rt.Ledger()
    ledger.produce([(cluster["c0"], Part("c0", TOPIC, p)) for p in range(PARTS)], 20)
    first_poison = 5  # 5 % 37 == 5: every partition's offset 5
    for run in range(2):
        before = receiver.snapshot()[1][400]
        rt.start(server, "g")

        def failed():
            st = rt.status(server, "g")
            bad = [t for t in st["tasks"] if t["state"] == "failed"]
            return st if len(bad) == 2 else None
        st = rt.wait_for(failed, timeout=90, what="both tasks failed at the poison")
        for t in st["tasks"]:
            assert "refused for good: 400" in t["error"], t
            assert t["sink"]["dead_letters"] == 0, t
        committed = rt.committed(st)
        assert all(c is None or c <= first_poison for c in committed.values()), committed
        assert receiver.snapshot()[1][400] > before  # the poison was read and sent again
        rt.stop(server, "g")
        committed = rt.committed(rt.status(server, "g"))
        assert all(c is None or c <= first_poison for c in committed.values()), (run, committed)


@pytest.mark.parametrize("errors,field", [
    ({"tolerance": "some"}, "errors.tolerance"),
    ({"tolerance": "all"}, "errors.dead_letter"),
    ({"tolerance": "none", "dead_letter": {"type": "file", "path": "d"}}, "errors.dead_letter"),
    ({"tolerance": "all", "dead_letter": {"type": "http", "url": "http://127.0.0.1:9/x"}},
     "errors.dead_letter.type"),
    ({"tolerance": "all", "dead_letter": {"type": "discard"}}, "errors.dead_letter.type"),
    ({"tolerance": "all", "dead_letter": {"type": "file", "path": "../x"}},
     "errors.dead_letter.path"),
    ({"tolerance": "all", "dead_letter": {"type": "file", "path": "out"}},
     "errors.dead_letter.path"),  # the group's own sink writes there
    ({"tolerance": "all", "dead_letter": {"type": "kafka", "cluster": "c0"}},
     "errors.dead_letter.topic"),
    ({"tolerance": "all", "dead_letter": {"type": "kafka", "cluster": "c0", "topic": "d",
                                          "source_headers": True}},
     "errors.dead_letter.source_headers"),
    ({"tolerance": "all", "dead_letter": "file"}, "errors.dead_letter"),
    ({"colour": "blue"}, "errors.colour"),
    ("all", "errors"),
])
def test_bad_error_documents_are_400_naming_the_field(server, cluster, errors, field):
    rt.register(server, cluster, TOPIC, PARTS)
    body = {"name": "g", "parallelism": 1, "topics": [{"cluster": "c0", "topic": TOPIC}],
            "sink": {"type": "file", "path": "out"}, "errors": errors}
    assert_problem(server.post("/api/v1/groups", body), 400, field)
    assert server.get("/api/v1/groups/g").status == 404


def test_a_kafka_dead_letter_on_an_unknown_cluster_is_422(server, cluster):
    rt.register(server, cluster, TOPIC, PARTS)
    body = {"name": "g", "parallelism": 1, "topics": [{"cluster": "c0", "topic": TOPIC}],
            "errors": {"tolerance": "all",
                       "dead_letter": {"type": "kafka", "cluster": "nowhere", "topic": "dlq"}}}
    resp = server.post("/api/v1/groups", body)
    assert_problem(resp, 422)
    assert "errors.dead_letter.cluster" in resp.json["detail"], resp
    assert server.get("/api/v1/groups/g").status == 404
