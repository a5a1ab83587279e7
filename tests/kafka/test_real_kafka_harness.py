"""Proves tests/kafka: real Kafka brokers start, serve topics, survive kill -9 and stop cleanly."""

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kafka_harness import BROKERS_SH, KafkaUnavailable, RealKafka, harness_pids  # noqa: E402

KCAT_TIMEOUT_S = 30

pytestmark = pytest.mark.skipif(
    subprocess.run(["which", "kcat"], capture_output=True).returncode != 0,
    reason="SKIP: kcat not installed (needed to talk to the brokers)")


@pytest.fixture(scope="module")
def kafka():
    try:
        k = RealKafka(n=3).start()
    except KafkaUnavailable as e:
        pytest.skip(str(e))
    print("\nstarted 3 brokers in %.1fs: %s" % (k.start_seconds, " ".join(k.bootstraps)))
    with k:
        yield k


def unique_topic(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def produce(bootstrap, topic, partition, lines):
    subprocess.run(["kcat", "-b", bootstrap, "-P", "-t", topic, "-p", str(partition)],
                   input="".join(line + "\n" for line in lines), text=True, check=True,
                   timeout=KCAT_TIMEOUT_S)


def consume_all(bootstrap, topic, partition):
    res = subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", topic, "-p", str(partition),
                          "-o", "beginning", "-e", "-q"],
                         capture_output=True, text=True, check=True, timeout=KCAT_TIMEOUT_S)
    return res.stdout.splitlines()


def wait_gone(pids, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive = [p for p in pids if os.path.exists("/proc/%d" % p) and not is_zombie(p)]
        if not alive:
            return []
        time.sleep(0.2)
    return alive


def is_zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_three_independent_brokers_answer_metadata_each_as_its_own_cluster(kafka):
    assert len(kafka.bootstraps) == 3
    assert len(set(kafka.bootstraps)) == 3
    for i, bootstrap in enumerate(kafka.bootstraps):
        md = kafka.metadata(i)
        assert [b["name"] for b in md["brokers"]] == [bootstrap]
        assert md["controllerid"] == 1
    assert all(row["alive"] for row in kafka.status())


def test_topic_created_with_ten_partitions_shows_ten_partitions_only_on_its_broker(kafka):
    topic = unique_topic("ten")
    kafka.create_topic(1, topic, 10)
    assert kafka.partition_count(1, topic) == 10
    assert kafka.partition_count(0, topic) == 0


def test_message_produced_with_kcat_is_consumed_back(kafka):
    topic = unique_topic("echo")
    kafka.create_topic(0, topic, 3)
    produce(kafka.bootstrap(0), topic, 2, ["hello real kafka"])
    assert consume_all(kafka.bootstrap(0), topic, 2) == ["hello real kafka"]


def test_killed_and_restarted_broker_keeps_its_data_on_the_same_port(kafka):
    topic = unique_topic("durable")
    kafka.create_topic(2, topic, 2)
    produce(kafka.bootstrap(2), topic, 1, ["before-kill-1", "before-kill-2"])
    old_pid = kafka.status()[2]["pid"]

    kafka.kill(2)
    assert wait_gone([old_pid], 5) == []
    assert kafka.status()[2]["alive"] is False
    dead = subprocess.run(["kcat", "-b", kafka.bootstrap(2), "-L", "-m", "1"],
                          capture_output=True, timeout=KCAT_TIMEOUT_S)
    assert dead.returncode != 0
    assert kafka.status()[0]["alive"] and kafka.status()[1]["alive"]

    t0 = time.monotonic()
    kafka.restart(2)
    print("\nrestart after kill -9 took %.1fs" % (time.monotonic() - t0))
    row = kafka.status()[2]
    assert row["alive"] and row["pid"] != old_pid
    assert row["bootstrap"] == kafka.bootstrap(2)
    assert consume_all(kafka.bootstrap(2), topic, 1) == ["before-kill-1", "before-kill-2"]
    assert kafka.partition_count(2, topic) == 2


def test_add_partitions_raises_the_partition_count_seen_by_clients(kafka):
    topic = unique_topic("grow")
    kafka.create_topic(0, topic, 4)
    assert kafka.partition_count(0, topic) == 4
    kafka.add_partitions(0, topic, 7)
    assert kafka.partition_count(0, topic) == 7


def test_committed_offsets_of_a_kcat_consumer_group_are_read_back(kafka):
    topic = unique_topic("grp")
    group = unique_topic("g")
    kafka.create_topic(1, topic, 2)
    produce(kafka.bootstrap(1), topic, 0, ["a", "b", "c"])
    produce(kafka.bootstrap(1), topic, 1, ["d"])
    res = subprocess.run(["kcat", "-b", kafka.bootstrap(1), "-G", group, "-o", "beginning",
                          "-e", "-q", topic], capture_output=True, text=True,
                         timeout=KCAT_TIMEOUT_S)
    assert sorted(res.stdout.split()) == ["a", "b", "c", "d"]
    assert kafka.committed_offsets(1, group) == {(topic, 0): 3, (topic, 1): 1}


def test_stop_leaves_no_harness_process_and_removes_the_temp_dir(kafka):
    """Runs last in this file: it stops the shared brokers (the fixture's stop is then a no-op)."""
    pids = kafka.pids()
    broker_pids = [row["pid"] for row in kafka.status() if row["pid"]]
    assert len(broker_pids) == 3 and set(broker_pids) <= set(pids)
    state_dir = kafka.state_dir
    kafka.stop()
    assert wait_gone(pids, 1) == []
    assert harness_pids(state_dir) == []
    assert not os.path.exists(state_dir)


def test_start_over_leftover_brokers_replaces_them(tmp_path):
    """A crashed run leaves brokers and a state file behind; the next start clears them."""
    env = dict(os.environ, KPLANE_KAFKA_DIR=str(tmp_path / "k"))
    env.pop("KPLANE_KAFKA_OWNER_PID", None)

    def sh(*args):
        res = subprocess.run(["bash", BROKERS_SH] + list(args), env=env, capture_output=True,
                             text=True, timeout=300)
        if res.returncode == 77:
            pytest.skip(res.stdout.strip())
        assert res.returncode == 0, res.stderr
        return res

    try:
        first = sh("start", "1").stdout.split()
        old = harness_pids(env["KPLANE_KAFKA_DIR"])
        assert len(old) == 1
        second = sh("start", "1")
        assert "leftover" in second.stderr
        assert wait_gone(old, 1) == []
        new = harness_pids(env["KPLANE_KAFKA_DIR"])
        assert len(new) == 1 and new != old
        assert len(first) == 1 and len(second.stdout.split()) == 1
    finally:
        subprocess.run(["bash", BROKERS_SH, "stop"], env=env, capture_output=True, timeout=120)
    assert harness_pids(env["KPLANE_KAFKA_DIR"]) == []


def test_watchdog_stops_brokers_and_removes_temp_dir_when_the_owner_is_killed():
    workdir = None
    child = textwrap.dedent("""
        import sys, time
        sys.path.insert(0, %r)
        from kafka_harness import RealKafka, KafkaUnavailable
        try:
            k = RealKafka(n=1).start()
        except KafkaUnavailable as e:
            print("SKIP", e, flush=True)
            sys.exit(0)
        print("UP", k.state_dir, flush=True)
        time.sleep(600)
    """) % (os.path.dirname(os.path.abspath(__file__)),)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if line.startswith("SKIP"):
            pytest.skip(line.strip())
        assert line.startswith("UP "), line
        workdir = line.split()[1]
        pids = harness_pids(workdir)
        assert len(pids) == 2  # the broker and its watchdog
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert wait_gone(pids, 30) == []
        assert harness_pids(workdir) == []
        deadline = time.monotonic() + 10
        while os.path.exists(workdir) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not os.path.exists(workdir)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if workdir:
            subprocess.run(["bash", BROKERS_SH, "stop"], capture_output=True, timeout=120,
                           env=dict(os.environ, KPLANE_KAFKA_DIR=workdir, KPLANE_KAFKA_RMDIR="1"))
