"""Several kplane instances on one real Kafka broker (KPLANE_COORDINATION): each lists all
three with one leader; kill -9 of one (a follower, the leader) is seen by the others within
the session timeout and a few seconds, with a new leader named; a clean SIGTERM leaves at
once (LeaveGroup), long before the session timeout; one stopped (SIGSTOP) past its session is
dropped and rejoins when it wakes; KIP-848 groups work and say the broker's session.
(issue 15, membership)"""
import os
import signal
import socket
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
from kplane_harness import Server  # noqa: E402

BROKERS = 1
SESSION_MS = 6000      # the classic protocol's floor on a default broker
GRACE_S = 5            # after the session timeout: a rebalance, a listing
LONG_SESSION_MS = 30000  # for the clean stop: leaving must not wait for it
CLEAN_LEAVE_S = 5


def start_three(kafka, session_ms):
    env = {"KPLANE_COORDINATION": kafka.bootstrap(0), "KPLANE_SESSION_TIMEOUT_MS": str(session_ms),
           "KPLANE_SERVICE": "t" + uuid.uuid4().hex[:8]}
    servers = []
    for _ in range(3):
        servers.append(Server(env=env).start(timeout=60))
    return servers


def instances(server):
    r = server.get("/api/v1/instances")
    assert r.status == 200, r
    return r.json


def view(server):
    """(sorted ids, leader) as @server sees the service."""
    d = instances(server)
    return sorted(i["id"] for i in d["items"]), d["leader"]


def ident(server):
    return f"{socket.gethostname()}:{server.port}"


def wait_views(servers, ids, timeout, not_leader=None):
    """Waits until every server lists exactly @ids with one leader among them (and not
    @not_leader), the same on all. @returns (leader, seconds waited)."""
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        last = [view(s) for s in servers]
        leaders = {leader for _, leader in last}
        if all(v == sorted(ids) for v, _ in last) and len(leaders) == 1:
            leader = leaders.pop()
            if leader in ids and leader != not_leader:
                return leader, time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"views after {timeout}s: {last}, want {sorted(ids)}")


def wait_stable(servers, timeout=60):
    """Waits until every server's coordinator says the group is Stable (no rebalance under
    way: a member leaving mid-rebalance waits for it to finish, a heartbeat or more)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if all(instances(s)["group_state"] == "Stable" for s in servers):
            return
        time.sleep(0.05)
    raise AssertionError(f"not Stable after {timeout}s: {[instances(s) for s in servers]}")


def stop_all(servers):
    for s in servers:
        if s.alive():
            s.stop()


def test_three_instances_list_each_other_with_one_leader(kafka):
    servers = start_three(kafka, SESSION_MS)
    try:
        ids = [ident(s) for s in servers]
        leader, _ = wait_views(servers, ids, 60)
        d = instances(servers[0])
        assert d["protocol"] == "classic" and d["session_timeout_ms"] == SESSION_MS, d
        wait_stable(servers)
        by_id = {i["id"]: i for i in d["items"]}
        for s in servers:  # each one's URL and join time came through the status topic
            it = by_id[ident(s)]
            assert it["url"] == s.url and it["state"] == "alive" and it["tasks"] == [], it
            assert it["joined_at"] and it["last_seen"], it
        assert leader in ids
    finally:
        stop_all(servers)


def kill9_and_wait(servers, victim, what):
    survivors = [s for s in servers if s is not victim]
    gone = ident(victim)
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait()
    leader, took = wait_views(survivors, [ident(s) for s in survivors],
                              SESSION_MS / 1000 + GRACE_S + 10, not_leader=gone)
    print(f"kill -9 of the {what}: gone from both survivors' lists and {leader} leads "
          f"after {took:.2f}s (session timeout {SESSION_MS} ms)")
    assert took <= SESSION_MS / 1000 + GRACE_S, took
    return survivors


def test_kill_9_of_a_follower_is_seen_within_the_session_timeout(kafka):
    servers = start_three(kafka, SESSION_MS)
    try:
        leader, _ = wait_views(servers, [ident(s) for s in servers], 60)
        victim = next(s for s in servers if ident(s) != leader)
        kill9_and_wait(servers, victim, "follower")
        assert view(servers[0] if servers[0] is not victim else servers[1])[1] == leader
    finally:
        stop_all(servers)


def test_kill_9_of_the_leader_names_a_new_one_within_the_session_timeout(kafka):
    servers = start_three(kafka, SESSION_MS)
    try:
        leader, _ = wait_views(servers, [ident(s) for s in servers], 60)
        victim = next(s for s in servers if ident(s) == leader)
        kill9_and_wait(servers, victim, "leader")
    finally:
        stop_all(servers)


def wait_gone(servers, ids, timeout):
    """Waits until every server lists exactly @ids. @returns the seconds waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if all(view(s)[0] == sorted(ids) for s in servers):
            return time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"views after {timeout}s: {[view(s) for s in servers]}")


def test_a_clean_stop_leaves_at_once(kafka):
    """With a 30 s session, only a LeaveGroup explains a departure seen within 5 s: first a
    follower (it owns no slot: it must leave all the same), then the leader, whose successor
    is named once the survivors' next heartbeat (a fifth of the session) starts the
    rebalance."""
    servers = start_three(kafka, LONG_SESSION_MS)
    try:
        leader, _ = wait_views(servers, [ident(s) for s in servers], 60)
        for what in ("follower", "leader"):
            wait_stable(servers)
            victim = next(s for s in servers if (ident(s) == leader) == (what == "leader"))
            servers.remove(victim)
            ids = [ident(s) for s in servers]
            t0 = time.monotonic()
            assert victim.stop() == 0
            wait_gone(servers, ids, 30)
            took = time.monotonic() - t0  # from the signal: the process's exit included
            leader, _ = wait_views(servers, ids, LONG_SESSION_MS / 5000 + GRACE_S,
                                   not_leader=ident(victim))
            named = time.monotonic() - t0
            print(f"SIGTERM of the {what}: gone from the others' lists after {took:.2f}s, "
                  f"{leader} leads after {named:.2f}s (session {LONG_SESSION_MS} ms)")
            assert took < CLEAN_LEAVE_S, took
    finally:
        stop_all(servers)


def test_a_single_process_lists_only_itself(kserver):
    d = instances(kserver)
    assert d["protocol"] is None and d["session_timeout_ms"] is None and d["group_state"] is None, d
    assert [i["id"] for i in d["items"]] == [ident(kserver)] and d["leader"] == ident(kserver), d
    assert d["items"][0]["url"] == kserver.url, d


def test_kip_848_consumer_protocol_lists_members_and_says_the_brokers_session(kafka):
    """KPLANE_GROUP_PROTOCOL=consumer: the broker decides the session timeout (Kafka 4.1's
    default group.consumer.session.timeout.ms, 45 s), and the list says that one."""
    env = {"KPLANE_COORDINATION": kafka.bootstrap(0), "KPLANE_GROUP_PROTOCOL": "consumer",
           "KPLANE_SERVICE": "c" + uuid.uuid4().hex[:8]}
    servers = [Server(env=env).start(timeout=60) for _ in range(2)]
    try:
        _, took = wait_views(servers, [ident(s) for s in servers], 60)
        print(f"KIP-848: both listed after {took:.2f}s")
        d = instances(servers[0])
        assert d["protocol"] == "consumer" and d["session_timeout_ms"] == 45000, d
        victim = servers.pop()
        t0 = time.monotonic()
        assert victim.stop() == 0
        wait_gone(servers, [ident(servers[0])], 30)
        took = time.monotonic() - t0
        # the survivor leads once its next heartbeat (the broker's 5 s) brings partition 0
        wait_views(servers, [ident(servers[0])], 30)
        print(f"KIP-848: SIGTERM gone after {took:.2f}s, "
              f"successor named after {time.monotonic() - t0:.2f}s")
        assert took < CLEAN_LEAVE_S, took
    finally:
        stop_all(servers)


def test_an_instance_stopped_past_its_session_is_dropped_and_rejoins_when_it_wakes(kafka):
    """SIGSTOP (a frozen machine, a partition from the coordinator) for longer than the
    session: the others drop it like a dead one; SIGCONT: librdkafka finds the session
    expired, it joins again and every instance (itself included) lists all three once more."""
    servers = start_three(kafka, SESSION_MS)
    try:
        leader, _ = wait_views(servers, [ident(s) for s in servers], 60)
        victim = next(s for s in servers if ident(s) != leader)
        others = [s for s in servers if s is not victim]
        victim.proc.send_signal(signal.SIGSTOP)
        try:
            _, took = wait_views(others, [ident(s) for s in others],
                                 SESSION_MS / 1000 + GRACE_S + 10)
            print(f"SIGSTOP: dropped after {took:.2f}s")
        finally:
            victim.proc.send_signal(signal.SIGCONT)
        _, back = wait_views(servers, [ident(s) for s in servers], 60)
        print(f"SIGCONT: all three listed again after {back:.2f}s")
    finally:
        stop_all(servers)
