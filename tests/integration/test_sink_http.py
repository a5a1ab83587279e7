"""The http sink end to end: the real binary reads a `kplane mock` cluster into an HTTP
receiver of this test (http.server in a thread) that fails a share of requests with 500 and
429 (Retry-After); every message arrives, none is lost. Bad sink documents are 400s naming
the field; the configured headers never come back."""
import base64
import collections
import http.server
import json
import signal
import threading
import time

import pytest

import runtime_tools as rt
from kplane_harness import assert_problem
from runtime_tools import Part, Record

TOPIC = "orders"
PARTS = 4
SECRET = "Bearer s3cr3t-for-the-receiver"


class Receiver:
    """An HTTP target: answers request n with 500 when n % 5 == 1, 429 (Retry-After: 1) when
    n % 11 == 3, else 200 and keeps the json_lines records of the body."""

    def __init__(self):
        self.lock = threading.Lock()
        self.records = []
        self.answers = collections.Counter()
        self.auth = set()
        self.n = 0
        recv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with recv.lock:
                    n = recv.n
                    recv.n += 1
                    recv.auth.add(self.headers.get("Authorization"))
                    code = 500 if n % 5 == 1 else 429 if n % 11 == 3 else 200
                    recv.answers[code] += 1
                    if code == 200:
                        for line in body.decode().splitlines():
                            recv.records.append(json.loads(line))
                self.send_response(code)
                if code == 429:
                    self.send_header("Retry-After", "1")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/ingest"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def snapshot(self):
        with self.lock:
            return list(self.records)

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
    with rt.Mocks(1, f"{TOPIC}:{PARTS}") as m:
        yield {"c0": m.bootstraps[0]}


def http_sink(url, **extra):
    sink = {"type": "http", "url": url, "headers": {"Authorization": SECRET},
            "format": "json_lines", "batch": {"max_messages": 50, "linger_ms": 10},
            "timeout_ms": 5000,
            "retry": {"max_attempts": 20, "initial_backoff_ms": 10, "max_backoff_ms": 200}}
    sink.update(extra)
    return sink


def as_records(lines):
    return [Record(0, i, d["cluster"], d["topic"], d["partition"], d["offset"],
                   base64.b64decode(d["key"]).decode(), base64.b64decode(d["value"]).decode())
            for i, d in enumerate(lines)]


def test_every_message_reaches_a_failing_http_target_and_none_is_lost(server, cluster, receiver):
    rt.register(server, cluster, TOPIC, PARTS)
    body = {"name": "g", "parallelism": 2, "topics": [{"cluster": "c0", "topic": TOPIC}],
            "sink": http_sink(receiver.url)}
    created = rt.ok(server.post("/api/v1/groups", body), 201)
    assert created["sink"]["headers"] == {"Authorization": "******"}, created
    ledger = rt.Ledger()
    ledger.produce([(cluster["c0"], Part("c0", TOPIC, p)) for p in range(PARTS)], 400)
    rt.start(server, "g")
    total = ledger.total()

    def all_there():
        st = rt.status(server, "g")
        assert st["state"] == "running", st
        got = {(r["partition"], r["offset"]) for r in receiver.snapshot()}
        return len(got) >= total
    rt.wait_for(all_there, timeout=120, what=f"{total} messages at the receiver")
    # the requests the sink sent again after a 500 or a 429 show in status as retries
    retries = sum(t["sink"]["retries"] for t in rt.status(server, "g")["tasks"])
    rt.stop(server, "g")

    records = as_records(receiver.snapshot())
    redelivered = rt.check_complete(records, ledger.snapshot())
    print(f"http sink: {len(records)} records for {total} messages, {redelivered} redelivered, "
          f"answers {dict(receiver.answers)}")
    assert receiver.answers[500] and receiver.answers[429], receiver.answers
    assert retries >= receiver.answers[500] + receiver.answers[429], (retries, receiver.answers)
    assert receiver.auth == {SECRET}, receiver.auth
    # the secret is in no answer and no log line
    doc = rt.ok(server.get("/api/v1/groups/g"), 200)
    assert doc["sink"]["headers"] == {"Authorization": "******"}, doc
    for path in ("/api/v1/groups", "/api/v1/groups/g/status", "/metrics"):
        assert "s3cr3t" not in server.get(path).body, path
    assert "s3cr3t" not in server.log()
    # everything delivered is committed at stop
    committed = rt.committed(rt.status(server, "g"))
    assert all(committed[p] == n for p, n in ledger.snapshot().items()), committed


def test_kill_9_mid_stream_then_restart_loses_nothing_through_http(make_server, cluster, receiver):
    """kill -9 of kplane while it posts a steady stream to a target that fails a share of
    requests; the restarted server resumes the group by itself: every message reaches the
    receiver, and what arrives twice is at most what the receiver had taken beyond the
    offsets committed before the kill (at least once, duplicates bounded)."""
    server = make_server()
    rt.register(server, cluster, TOPIC, PARTS)
    body = {"name": "g", "parallelism": 2, "topics": [{"cluster": "c0", "topic": TOPIC}],
            "sink": http_sink(receiver.url)}
    rt.ok(server.post("/api/v1/groups", body), 201)
    ledger = rt.Ledger()
    producer = rt.BackgroundProducer(ledger, [(cluster["c0"], Part("c0", TOPIC, p)) for p in range(PARTS)],
                                     rounds=25, per_round=40, pause_s=0.2)
    producer.start()
    rt.start(server, "g")
    committed = rt.wait_for(lambda: (lambda c: c if c and all(c.values()) else None)(
        rt.committed(rt.status(server, "g"))), timeout=60, what="interval commits", interval=0.1)
    server.stop(signal.SIGKILL)
    time.sleep(0.5)  # a request whose body arrived before the kill is still counted
    at_kill = len(receiver.snapshot())
    assert producer.rounds_done < producer.rounds, "the kill must come mid-stream"
    server.start()  # the group was marked to run: it resumes by itself
    producer.join()
    total = ledger.total()
    rt.wait_for(lambda: len({(r["partition"], r["offset"]) for r in receiver.snapshot()}) >= total,
                timeout=120, what=f"{total} messages at the receiver")
    rt.stop(server, "g")
    records = as_records(receiver.snapshot())
    redelivered = rt.check_complete(records, ledger.snapshot())
    bound = at_kill - sum(committed.values())
    print(f"http sink, kill -9 mid-stream: {total} messages, {redelivered} redelivered "
          f"(bound {bound}: {at_kill} at the receiver, {sum(committed.values())} committed before)")
    assert redelivered <= bound, (redelivered, bound)


def test_a_replace_that_sends_the_mask_back_keeps_the_secret(server, cluster, receiver):
    rt.register(server, cluster, TOPIC, PARTS)
    body = {"name": "g", "parallelism": 1, "topics": [{"cluster": "c0", "topic": TOPIC}],
            "sink": http_sink(receiver.url)}
    doc = rt.ok(server.post("/api/v1/groups", body), 201)
    back = {k: doc[k] for k in ("topics", "parallelism", "sink")}
    rt.ok(server.put("/api/v1/groups/g", back), 200)
    ledger = rt.Ledger()
    ledger.produce([(cluster["c0"], Part("c0", TOPIC, 0))], 5)
    rt.start(server, "g")
    rt.wait_for(lambda: len(receiver.snapshot()) >= 5, timeout=60, what="5 records")
    rt.stop(server, "g")
    assert receiver.auth == {SECRET}, receiver.auth
    # to another URL the mask stands for nothing: the secret is not sent elsewhere
    back["sink"]["url"] = receiver.url + "/elsewhere"
    assert_problem(server.put("/api/v1/groups/g", back), 400, "sink.headers")


def test_a_header_may_reference_an_environment_secret_resolved_only_at_use(make_server, cluster,
                                                                          receiver):
    """`${env:KPLANE_SECRET_*}` in a header value: the receiver gets the variable's value, the
    group stores and answers the reference (not the value, which is in no answer or log);
    a variable outside KPLANE_SECRET_* or unset is a 400 naming the header."""
    server = make_server(env={"KPLANE_SECRET_INGEST": SECRET, "KPLANE_NOT_SECRET": "x"})
    rt.register(server, cluster, TOPIC, PARTS)
    ref = "${env:KPLANE_SECRET_INGEST}"
    body = {"name": "g", "parallelism": 1, "topics": [{"cluster": "c0", "topic": TOPIC}],
            "sink": http_sink(receiver.url, headers={"Authorization": ref})}
    doc = rt.ok(server.post("/api/v1/groups", body), 201)
    assert doc["sink"]["headers"] == {"Authorization": ref}, doc
    ledger = rt.Ledger()
    ledger.produce([(cluster["c0"], Part("c0", TOPIC, 0))], 5)
    rt.start(server, "g")
    rt.wait_for(lambda: len(receiver.snapshot()) >= 5, timeout=60, what="5 records")
    rt.stop(server, "g")
    assert receiver.auth == {SECRET}, receiver.auth
    for path in ("/api/v1/groups/g", "/api/v1/groups/g/status", "/metrics"):
        assert "s3cr3t" not in server.get(path).body, path
    assert "s3cr3t" not in server.log()
    for bad in ("${env:KPLANE_NOT_SECRET}", "${env:KPLANE_SECRET_UNSET}", "${env:KPLANE_SECRET_X"):
        body["name"] = "h"
        body["sink"] = http_sink(receiver.url, headers={"Authorization": bad})
        assert_problem(server.post("/api/v1/groups", body), 400, "sink.headers.Authorization")


@pytest.mark.parametrize("sink,field", [
    ({"url": "ftp://example.com/x"}, "sink.url"),
    ({"url": "http://user:pw@example.com/x"}, "sink.url"),
    ({"url": "example.com"}, "sink.url"),
    ({"method": "GET"}, "sink.method"),
    ({"format": "xml"}, "sink.format"),
    ({"batch": {"max_messages": 0}}, "sink.batch.max_messages"),
    ({"batch": {"max_bytes": 1 << 40}}, "sink.batch.max_bytes"),
    ({"batch": {"linger_ms": 3600000}}, "sink.batch.linger_ms"),
    ({"timeout_ms": -5}, "sink.timeout_ms"),
    ({"retry": {"max_attempts": 0}}, "sink.retry.max_attempts"),
    ({"retry": {"initial_backoff_ms": 100, "max_backoff_ms": 10}}, "sink.retry.max_backoff_ms"),
    ({"headers": {"X-A": "line\r\nbreak"}}, "sink.headers"),
    ({"headers": {"X-A": "******"}}, "sink.headers"),
    ({"colour": "blue"}, "sink.colour"),
])
def test_bad_http_sink_documents_are_400_naming_the_field(server, cluster, sink, field):
    rt.register(server, cluster, TOPIC, PARTS)
    doc = http_sink("http://127.0.0.1:9/x")
    doc.update(sink)
    body = {"name": "g", "parallelism": 1, "topics": [{"cluster": "c0", "topic": TOPIC}],
            "sink": doc}
    assert_problem(server.post("/api/v1/groups", body), 400, field)
    assert server.get("/api/v1/groups/g").status == 404
