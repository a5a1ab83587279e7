"""Replan + apply of one group is serialised: two concurrent `POST .../plans {"apply": true}`
and a discovery re-plan (a pattern refresh that finds a new topic) never leave the runtime
running an older plan version than the group's current one."""
import concurrent.futures

import runtime_tools as rt

ROUNDS = 200
APPLIES = 6


def test_racing_applies_and_a_discovery_replan_leave_the_current_plan_running(server):
    mock = rt.Mock("race-0:12")
    try:
        rt.ok(server.post("/api/v1/clusters", {"name": "c", "bootstrap_servers": mock.bootstrap}), 201)
        rt.ok(server.post("/api/v1/clusters/c/topics", {"pattern": "race-.*"}), 201)
        rt.ok(server.post("/api/v1/groups", {"name": "g", "parallelism": 2,
                                             "topics": [{"cluster": "c", "pattern": "race-.*"}]}), 201)
        rt.start(server, "g")
        pool = concurrent.futures.ThreadPoolExecutor(APPLIES + 1)
        try:
            for r in range(1, ROUNDS + 1):
                mock.command(f"topic race-{r}:1")
                calls = [pool.submit(server.post, "/api/v1/groups/g/plans",
                                     {"apply": True, "parallelism": 1 + (r + k) % 8})
                         for k in range(APPLIES)]
                calls.append(pool.submit(server.post, "/api/v1/clusters/c/topics/race-.*/refresh"))
                for c in calls:
                    rt.ok(c.result(timeout=120), 200, 201)
                current = rt.ok(server.get("/api/v1/groups/g/plans/current"), 200)["version"]
                running = rt.status(server, "g")["plan_version"]
                assert running == current, f"round {r}: the runtime runs plan {running}, current is {current}"
        finally:
            pool.shutdown()
        rt.stop(server, "g")
    finally:
        mock.stop()
