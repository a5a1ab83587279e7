"""Real Apache Kafka brokers for kplane's pytest integration suites (wraps tests/kafka/brokers.sh).

Standard library only. Typical use in a suite:

    import sys, pathlib, pytest
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "kafka"))
    from kafka_harness import RealKafka, KafkaUnavailable

    @pytest.fixture(scope="module")
    def kafka():
        try:
            k = RealKafka(n=3).start()
        except KafkaUnavailable as e:
            pytest.skip(str(e))
        with k:
            yield k

Each RealKafka owns a fresh temp state dir, so several suites (or engineers) can run side by
side. Brokers are numbered 0..n-1; each is its own single-node cluster. The brokers are stopped
on exit of the `with` block, by stop(), at interpreter exit (atexit), and - if this process is
killed outright - by a watchdog that brokers.sh starts for the owning pid.
"""

import atexit
import json
import os
import shutil
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BROKERS_SH = os.path.join(HERE, "brokers.sh")
SKIP_EXIT = 77

__all__ = ["RealKafka", "KafkaUnavailable", "KafkaHarnessError", "harness_pids", "BROKERS_SH"]


class KafkaUnavailable(Exception):
    """java or mvn is missing: the caller should skip (the message is the SKIP line)."""


class KafkaHarnessError(RuntimeError):
    """brokers.sh failed; the message carries its stderr (with the broker's last log lines)."""


def harness_pids(state_dir):
    """Pids of live processes that brokers.sh started for state_dir (brokers, watchdog)."""
    marker = ("-Dkplane.kafka.dir=" + os.path.abspath(state_dir)).encode()
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if marker in args:
            pids.append(int(name))
    return pids


class RealKafka:
    """n independent single-node KRaft Kafka clusters on loopback, started by brokers.sh."""

    def __init__(self, n=3, workdir=None, keep=None, start_timeout=None, watchdog=True):
        """workdir: state dir to use (default: a new temp dir, removed on stop unless keep).
        keep: leave the state dir (logs) after stop; default from $KPLANE_KAFKA_KEEP.
        start_timeout: seconds brokers.sh waits for the brokers to answer.
        watchdog: let brokers.sh stop the brokers if this process dies without stopping them."""
        self.n = n
        self._own_dir = workdir is None
        self.state_dir = os.path.abspath(workdir) if workdir else None
        if keep is None:
            keep = os.environ.get("KPLANE_KAFKA_KEEP", "") not in ("", "0")
        self.keep = keep
        self.start_timeout = start_timeout
        self.watchdog = watchdog
        self.bootstraps = []
        self.start_seconds = None
        self._started = False

    # --- lifecycle ------------------------------------------------------------------------

    def start(self):
        """Start the brokers; returns self. Raises KafkaUnavailable or KafkaHarnessError."""
        if self._started:
            return self
        if self.state_dir is None:
            self.state_dir = tempfile.mkdtemp(prefix="kplane-kafka-")
        os.makedirs(self.state_dir, exist_ok=True)
        # Registered before starting: a Ctrl-C during startup still stops what came up.
        atexit.register(self.stop)
        self._started = True
        t0 = time.monotonic()
        try:
            out = self._run("start", str(self.n), timeout=1200)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - t0
        self.bootstraps = [line.strip() for line in out.splitlines() if line.strip()]
        if len(self.bootstraps) != self.n:
            self.stop()
            raise KafkaHarnessError("brokers.sh start printed %r, expected %d addresses"
                                    % (out, self.n))
        return self

    def stop(self):
        """Stop every broker (SIGTERM, then SIGKILL); idempotent; removes the temp state dir."""
        if not self._started:
            return
        self._started = False
        try:
            atexit.unregister(self.stop)
        except Exception:  # interpreter shutting down
            pass
        try:
            self._run("stop", timeout=120)
        finally:
            if self._own_dir and not self.keep and self.state_dir:
                shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        return False

    # --- one broker -----------------------------------------------------------------------

    def bootstrap(self, i):
        """host:port of broker i."""
        return self.bootstraps[i]

    def kill(self, i):
        """kill -9 broker i; its port and log dir stay reserved for restart(i)."""
        self._run("kill", str(i), timeout=60)

    def restart(self, i):
        """kill -9 broker i if alive, start it on the same port and log dir, wait until ready."""
        self._run("restart", str(i), timeout=300)

    def create_topic(self, i, name, partitions):
        """Create topic name with the given partition count on broker i (Kafka's TopicCommand)."""
        self._run("create-topic", str(i), name, str(partitions), timeout=120)

    def add_partitions(self, i, name, total):
        """Raise topic name on broker i to total partitions."""
        self._run("add-partitions", str(i), name, str(total), timeout=120)

    def run_tool(self, i, main_class, *args, timeout=120):
        """Run a Kafka CLI class against broker i (--bootstrap-server added); returns stdout.
        E.g. run_tool(0, "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        "--describe", "--group", "g")."""
        return self._run("tool", str(i), main_class, *[str(a) for a in args], timeout=timeout)

    def committed_offsets(self, i, group, timeout=30):
        """{(topic, partition): committed offset} of a consumer group on broker i.

        A broker that was just restarted answers nothing while its group coordinator is
        still loading the offsets topic: ask again for up to @timeout seconds."""
        deadline = time.time() + timeout
        while True:
            out = self.run_tool(i, "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
                                "--describe", "--group", group)
            offsets = {}
            for line in out.splitlines():
                parts = line.split()
                if len(parts) >= 4 and parts[0] == group and parts[2].isdigit():
                    offsets[(parts[1], int(parts[2]))] = None if parts[3] == "-" else int(parts[3])
            if offsets or time.time() > deadline:
                return offsets
            time.sleep(1)

    def status(self):
        """[{index, pid, bootstrap, alive}] per broker, from the state file."""
        rows = []
        for line in self._run("status", timeout=30).splitlines():
            parts = line.split()
            if len(parts) == 4:
                rows.append({"index": int(parts[0]),
                             "pid": None if parts[1] == "-" else int(parts[1]),
                             "bootstrap": parts[2], "alive": parts[3] == "alive"})
        return rows

    def pids(self):
        """Pids of live processes of this harness (brokers and watchdog)."""
        return harness_pids(self.state_dir) if self.state_dir else []

    def log_path(self, i):
        """The server.log of broker i (for failure messages)."""
        return os.path.join(self.state_dir, "b%d" % i, "logs", "server.log")

    def metadata(self, i, topic=None, timeout_s=5):
        """kcat -L -J metadata of broker i (optionally of one topic), parsed."""
        cmd = ["kcat", "-b", self.bootstraps[i], "-L", "-J", "-m", str(timeout_s)]
        if topic is not None:
            cmd += ["-t", topic]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s + 30)
        if res.returncode != 0:
            raise KafkaHarnessError("kcat -L on broker %d failed: %s" % (i, res.stderr.strip()))
        return json.loads(res.stdout)

    def partition_count(self, i, topic):
        """Partitions of topic as broker i reports them (0 if unknown)."""
        for t in self.metadata(i, topic).get("topics", []):
            if t.get("topic") == topic and not t.get("error"):
                return len(t.get("partitions", []))
        return 0

    # --- plumbing -------------------------------------------------------------------------

    def _run(self, *args, timeout):
        env = dict(os.environ)
        env["KPLANE_KAFKA_DIR"] = self.state_dir
        if self.watchdog:
            env["KPLANE_KAFKA_OWNER_PID"] = str(os.getpid())
        else:
            env.pop("KPLANE_KAFKA_OWNER_PID", None)
        # Only a temp dir of our own may be removed by brokers.sh (its watchdog, if we die).
        env["KPLANE_KAFKA_RMDIR"] = "1" if self._own_dir and not self.keep else "0"
        if self.start_timeout is not None:
            env["KPLANE_KAFKA_START_TIMEOUT"] = str(self.start_timeout)
        res = subprocess.run(["bash", BROKERS_SH] + list(args), env=env, capture_output=True,
                             text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if res.returncode == SKIP_EXIT:
            msg = (res.stdout.strip().splitlines() or ["SKIP: real Kafka unavailable"])[-1]
            raise KafkaUnavailable(msg)
        if res.returncode != 0:
            raise KafkaHarnessError("brokers.sh %s failed (exit %d):\n%s%s" % (
                " ".join(args), res.returncode, res.stdout, res.stderr))
        return res.stdout
