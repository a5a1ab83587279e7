"""runtime_tools — helpers for black-box tests of running groups: clusters, producing, reading file sinks, checking.

Used by tests/integration/test_runtime_e2e.py (against `kplane mock` processes) and
tests/kafka/test_kplane_real_kafka.py (against real Apache Kafka brokers). Standard library
plus kcat only. Every message a test produces is keyed and carries its sequence number
within its partition as the value ("0", "1", ...), so a sink's files prove completeness.
"""
import base64
import collections
import glob
import json
import os
import re
import signal
import subprocess
import threading
import time

from kplane_harness import BIN

Part = collections.namedtuple("Part", "cluster topic partition")
Record = collections.namedtuple("Record", "task line cluster topic partition offset key value")


# --- clusters ----------------------------------------------------------------------------

class Mock:
    """`kplane mock` as its own process: outlives the server under test, takes stdin commands
    (down ID, up ID, topic NAME:PARTITIONS, stop). Always stop() it (kill() as a last resort)."""

    def __init__(self, *topics, brokers=1):
        args = [BIN, "mock", "--brokers", str(brokers)]
        for t in topics:
            args += ["--topic", t]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.bootstrap = self.proc.stdout.readline().strip()
        if ":" not in self.bootstrap:
            self.kill()
            raise RuntimeError(f"kplane mock did not print a bootstrap address: {self.bootstrap!r}")

    def command(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        assert reply.startswith("ok"), f"mock answered {reply!r} to {line!r}"
        return reply

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except (OSError, BrokenPipeError):
                pass

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Mocks:
    """Several Mock clusters, stopped together even when starting one of them failed."""

    def __init__(self, n, *topics, brokers=1):
        self.items = []
        try:
            for _ in range(n):
                self.items.append(Mock(*topics, brokers=brokers))
        except BaseException:
            self.stop()
            raise

    def __getitem__(self, i):
        return self.items[i]

    def __len__(self):
        return len(self.items)

    @property
    def bootstraps(self):
        return [m.bootstrap for m in self.items]

    def stop(self):
        for m in self.items:
            m.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


# --- producing ---------------------------------------------------------------------------

def produce(bootstrap, topic, partition, first, count, extra=()):
    """Produces values first..first+count-1 (keys "p<partition>-<seq>") into one partition with
    kcat; returns the Popen (call finish() on it)."""
    lines = "".join(f"p{partition}-{s}:{s}\n" for s in range(first, first + count))
    proc = subprocess.Popen(["kcat", "-P", "-b", bootstrap, "-t", topic, "-p", str(partition), "-K:",
                             "-X", "message.timeout.ms=120000", "-X", "linger.ms=5"] + list(extra),
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    proc.stdin.write(lines)
    proc.stdin.close()
    proc.kp_what = f"kcat -P {bootstrap} {topic}[{partition}]"
    return proc


def finish(procs, timeout=180):
    """Waits for kcat producers; raises when one failed."""
    deadline = time.time() + timeout
    for p in procs:
        try:
            rc = p.wait(max(1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise AssertionError(f"{p.kp_what} did not finish within {timeout}s")
        err = p.stderr.read()
        p.stderr.close()
        assert rc == 0, f"{p.kp_what} failed rc={rc}: {err[-1000:]}"


class Ledger:
    """What was produced: per Part, how many messages (their values are 0..n-1)."""

    def __init__(self):
        self.count = collections.Counter()
        self.lock = threading.Lock()

    def produce(self, targets, per_partition, extra=(), parallel=10):
        """Produces per_partition more messages into each of targets [(bootstrap, Part)],
        at most @parallel kcat processes at once; records them once delivered."""
        todo = list(targets)
        while todo:
            batch, todo = todo[:parallel], todo[parallel:]
            with self.lock:
                firsts = [self.count[p] for _, p in batch]
            procs = [produce(bs, p.topic, p.partition, f, per_partition, extra)
                     for (bs, p), f in zip(batch, firsts)]
            finish(procs)
            with self.lock:
                for _, p in batch:
                    self.count[p] += per_partition

    def total(self):
        with self.lock:
            return sum(self.count.values())

    def snapshot(self):
        with self.lock:
            return dict(self.count)


class BackgroundProducer(threading.Thread):
    """Produces @rounds rounds of @per_round messages per partition, @pause_s apart, into
    @targets while the test does other things; join() re-raises what went wrong."""

    def __init__(self, ledger, targets, rounds, per_round, pause_s=0.3, extra=()):
        super().__init__(daemon=True)
        self.ledger, self.targets, self.rounds, self.per_round = ledger, targets, rounds, per_round
        self.pause_s, self.extra = pause_s, extra
        self.error = None
        self.rounds_done = 0

    def run(self):
        try:
            for _ in range(self.rounds):
                self.ledger.produce(self.targets, self.per_round, self.extra)
                self.rounds_done += 1
                time.sleep(self.pause_s)
        except BaseException as e:  # reported by join()
            self.error = e

    def join(self, timeout=240):
        super().join(timeout)
        assert not self.is_alive(), "background producer did not finish"
        if self.error:
            raise self.error


# --- the server --------------------------------------------------------------------------

def wait_for(pred, timeout=60, what="condition", interval=0.3):
    """Polls pred() until it answers something true (returned); fails after @timeout s."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def ok(resp, *codes):
    assert resp.status in codes, resp
    return resp.json


def register(server, clusters, topic, parts=None, config=None):
    """Registers clusters {name: bootstrap} (with librdkafka @config) and @topic on each;
    checks the partition count."""
    for name, bs in clusters.items():
        body = {"name": name, "bootstrap_servers": bs}
        if config:
            body["config"] = config
        ok(server.post("/api/v1/clusters", body), 201)
        doc = ok(server.post(f"/api/v1/clusters/{name}/topics", {"name": topic}), 201)
        if parts is not None:
            assert doc["partitions"] == parts, doc


def create_group(server, name, clusters, topic, parallelism, sink_dir, rebalance=False):
    """@sink_dir: a directory under server.sink_dir (file sink paths are relative to it)."""
    body = {"name": name, "parallelism": parallelism, "rebalance": rebalance,
            "topics": [{"cluster": c, "topic": topic} for c in clusters],
            "sink": {"type": "file", "path": os.path.relpath(str(sink_dir), server.sink_dir)}}
    return ok(server.post("/api/v1/groups", body), 201)


def status(server, group):
    return ok(server.get(f"/api/v1/groups/{group}/status"), 200)


def start(server, group):
    ok(server.post(f"/api/v1/groups/{group}/start"), 202)
    return wait_for(lambda: (lambda s: s if s["state"] == "running" else None)(status(server, group)),
                    timeout=60, what=f"group {group} to run")


def stop(server, group):
    ok(server.post(f"/api/v1/groups/{group}/stop"), 202)
    return wait_for(lambda: status(server, group)["state"] == "stopped", timeout=30,
                    what=f"group {group} to stop")


def positions(st):
    """{Part: position} of a status document (None when unknown)."""
    return {Part(p["cluster"], p["topic"], p["partition"]): p["position"] for p in st["partitions"]}


def committed(st):
    """{Part: committed offset} of a status document (None when not known)."""
    return {Part(p["cluster"], p["topic"], p["partition"]): p["committed"] for p in st["partitions"]}


def cluster_status(st, name):
    """The entry of cluster @name in a status document's "clusters" (state, last_error,
    last_error_at)."""
    found = [c for c in st["clusters"] if c["cluster"] == name]
    assert len(found) == 1, f"cluster {name} in status: {st['clusters']}"
    return found[0]


def kill9_after_interval_commits(server, group, timeout=60):
    """kill -9 of @server once every partition of running @group has an offset committed
    (by the interval commits), restart, and check that the group resumes by itself from
    offsets at least as far as those. @returns (committed before, committed after)."""
    before = wait_for(lambda: (lambda c: c if c and all(v for v in c.values()) else None)(
        committed(status(server, group))), timeout=timeout, what="interval commits", interval=0.1)
    server.stop(signal.SIGKILL)
    server.start()

    def resumed():
        # a stopped group's status reads committed offsets from the cluster too: only a
        # running group proves it resumed by itself
        st = status(server, group)
        c = committed(st)
        return c if st["state"] == "running" and c and all(v is not None for v in c.values()) else None
    after = wait_for(resumed, timeout=timeout, what="the group to resume (running) with its offsets")
    behind = {p: (before[p], after.get(p)) for p in before if after.get(p) is None or after[p] < before[p]}
    assert not behind, f"after kill -9 the group resumed behind what it had committed: {behind}"
    return before, after


def wait_caught_up(server, group, ledger_counts, timeout=120):
    """Waits until every produced partition's position in the group's status is at its end
    (positions are offsets; a fresh topic's offsets equal the values 0..n-1)."""
    def done():
        st = status(server, group)
        if st["state"] != "running":
            raise AssertionError(f"group {group} is {st['state']}: {st.get('error')}")
        pos = positions(st)
        behind = {p: (pos.get(p), n) for p, n in ledger_counts.items() if (pos.get(p) or 0) < n}
        return st if not behind else None
    return wait_for(done, timeout=timeout, what=f"group {group} to read everything produced",
                    interval=0.5)


def plan_owners(plan):
    """{Part: task} of a plan document."""
    owners = {}
    for t in plan["tasks"]:
        for p in t["partitions"]:
            part = Part(p["cluster"], p["topic"], p["partition"])
            assert part not in owners, f"{part} appears twice in plan {plan['version']}"
            owners[part] = t["task"]
    return owners


# --- the file sink -----------------------------------------------------------------------

_TASK_FILE = re.compile(r"task-(\d+)\.jsonl$")


def read_sink(path, live=False):
    """Every line of every task-NNNN.jsonl under @path as a Record (key/value decoded to str),
    in file order. A line that is not whole JSON fails the test (a torn line left by a kill -9
    must not stay in the file), except, with @live (files read while kplane writes them), a
    last line not yet ended by a newline."""
    records = []
    for fn in sorted(glob.glob(os.path.join(path, "task-*.jsonl"))):
        task = int(_TASK_FILE.search(fn).group(1))
        with open(fn, "rb") as f:
            data = f.read()
        lines = data.split(b"\n")
        if live and lines and lines[-1]:
            lines.pop()
        for i, raw in enumerate(lines):
            if not raw:
                continue
            try:
                d = json.loads(raw)
            except ValueError:
                raise AssertionError(f"{fn} line {i + 1} is not JSON: {raw[:200]!r}")
            key = None if d.get("key") is None else base64.b64decode(d["key"]).decode()
            value = None if d.get("value") is None else base64.b64decode(d["value"]).decode()
            records.append(Record(task, i, d["cluster"], d["topic"], d["partition"], d["offset"],
                                  key, value))
    return records


def by_part(records):
    """{Part: [Record, ...]} in file order."""
    out = collections.defaultdict(list)
    for r in records:
        out[Part(r.cluster, r.topic, r.partition)].append(r)
    return out


def check_complete(records, counts):
    """Asserts that every produced message (counts {Part: n}: values and offsets 0..n-1) is in
    the sink with its key, and nothing else is; @returns the number of redeliveries (lines
    beyond one per distinct message)."""
    parts = by_part(records)
    extra = set(parts) - set(p for p, n in counts.items() if n)
    assert not extra, f"sink holds partitions nobody produced to: {sorted(extra)[:5]}"
    problems = []
    for p, n in sorted(counts.items()):
        recs = parts.get(p, [])
        offsets = {r.offset for r in recs}
        values = {r.value for r in recs}
        missing = sorted(set(range(n)) - offsets)
        if missing:
            problems.append(f"{p}: {len(missing)} of {n} offsets missing, e.g. {missing[:5]}")
        missing_v = sorted(set(str(i) for i in range(n)) - values, key=int)
        if missing_v:
            problems.append(f"{p}: {len(missing_v)} values missing, e.g. {missing_v[:5]}")
        beyond = sorted(o for o in offsets if o >= n)
        if beyond:
            problems.append(f"{p}: offsets beyond what was produced: {beyond[:5]}")
        bad = [r for r in recs if r.key != f"p{p.partition}-{r.value}"]
        if bad:
            problems.append(f"{p}: key does not match value: {bad[:2]}")
        # the same offset read twice must carry the same message
        seen = {}
        for r in recs:
            if seen.setdefault(r.offset, r.value) != r.value:
                problems.append(f"{p}: offset {r.offset} read as {seen[r.offset]!r} and {r.value!r}")
                break
    assert not problems, "sink is not complete:\n" + "\n".join(problems[:20])
    return len(records) - sum(len({r.offset for r in recs}) for recs in parts.values())


def check_committed_in_sink(records, committed):
    """At least once, checked while a group runs: every offset below what is committed
    (committed {Part: offset or None}, offsets of a fresh topic from 0) is in the sink
    already (@records read after @committed)."""
    parts = by_part(records)
    ahead = {}
    for p, c in committed.items():
        if not c:
            continue
        have = {r.offset for r in parts.get(p, [])}
        missing = [o for o in range(c) if o not in have]
        if missing:
            ahead[p] = (c, missing[:5])
    assert not ahead, f"committed past what the sink took (committed, missing offsets): {ahead}"


def owners_in_files(records):
    """{Part: [task, ...]} the tasks whose files hold the partition's lines, in order of
    each task's first offset."""
    out = {}
    for p, recs in by_part(records).items():
        first = {}
        for r in recs:
            first.setdefault(r.task, r.offset)
            first[r.task] = min(first[r.task], r.offset)
        out[p] = sorted(first, key=first.get)
    return out


def check_handover(records, old_owners, new_owners):
    """For a live plan change: each partition is in the files of its old owner and/or its new
    owner only; when it moved, the old owner's offsets all precede the new owner's (never two
    readers at once) and the new owner starts at or before the old owner's last + 1 (nothing
    skipped). @returns {"moved": number of partitions that changed owner}."""
    parts = by_part(records)
    moved = 0
    problems = []
    for p, old in old_owners.items():
        new = new_owners[p]
        recs = parts.get(p, [])
        tasks = {r.task for r in recs}
        if not tasks <= {old, new}:
            problems.append(f"{p}: read by tasks {sorted(tasks)}, plan owners were {old} -> {new}")
            continue
        if old == new:
            offs = [r.offset for r in recs]
            if offs != sorted(offs):
                problems.append(f"{p}: owner {old} read out of order")
            continue
        moved += 1
        o = [r.offset for r in recs if r.task == old]
        n = [r.offset for r in recs if r.task == new]
        if o and n:
            if max(o) >= min(n):
                problems.append(f"{p}: old owner {old} read up to {max(o)}, new owner {new} from {min(n)}: "
                                "two owners at once (or the new one re-read)")
            if min(n) > max(o) + 1:
                problems.append(f"{p}: gap between old owner's {max(o)} and new owner's {min(n)}")
    assert not problems, "handover broken:\n" + "\n".join(problems[:20])
    return {"moved": moved}


def wait_movers_mid_read(server, group, new_parallelism, backlog_end, timeout=60):
    """Before a live change to @new_parallelism tasks, waits until every partition that a
    sticky change will move (those of tasks >= @new_parallelism in the current plan) has
    been started by its owner, and at least one is still mid-backlog: only then does the
    change hand a partition over in the middle of its read. Waiting on a total instead
    let a busy machine read 1,000 messages from partitions that stay put."""
    owners = plan_owners(ok(server.get(f"/api/v1/groups/{group}/plans/current"), 200))
    movers = {p for p, t in owners.items() if t >= new_parallelism}
    assert movers, "the change must move something"

    def ready():
        pos = positions(status(server, group))
        got = [pos.get(p) or 0 for p in movers]
        if min(got) >= 1 and min(got) < backlog_end:
            return got
        if min(got) >= backlog_end:
            raise AssertionError(f"every moving partition was read to its end first: {got}")
        return None
    return wait_for(ready, timeout=timeout, what="each moving partition started, one mid-read",
                    interval=0.02)


def check_moved_mid_read(records, owners1, owners2, backlog_end):
    """The live change moved partitions while their backlog was being read, and only
    their old and new owners read them. An old owner may not have read a moved partition
    at all before the change (busy cores): then only the new owner did, equally correct.
    Returns the old owners' last offsets of the moved partitions (-1: read nothing)."""
    parts = by_part(records)
    cut = sorted(max((r.offset for r in recs if r.task == owners1[p]), default=-1)
                 for p, recs in parts.items() if owners1[p] != owners2[p])
    assert any(c < backlog_end for c in cut), "the change must come while the backlog was being read"
    readers = owners_in_files(records)
    assert all(set(readers[p]) <= {owners1[p], owners2[p]} for p in readers), "only the old and new owner read"
    assert any(len(t) == 2 for t in readers.values()), "some moved partition changed hands mid-read"
    return cut
