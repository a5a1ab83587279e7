"""The demo is alive on first sight, and GET /api/v1/overview sums up every group and cluster
without contacting a cluster."""
import time


def wait_for(fn, timeout=60, interval=0.25):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"not true within {timeout}s: {last!r}")


def test_demo_starts_its_group_and_it_consumes(make_server):
    s = make_server(args=["--demo"])
    st = s.get("/api/v1/groups/analytics/status")
    assert st.status == 200, st
    assert st.json["state"] in ("starting", "running"), st.json

    def consuming():
        j = s.get("/api/v1/groups/analytics/status").json
        return j["state"] == "running" and j["totals"]["messages"] > 0 and j
    consuming_status = wait_for(consuming)
    assert sum(t["messages_per_s"] for t in consuming_status["tasks"]) >= 0


def test_demo_group_runs_again_after_a_restart_even_if_stopped(make_server):
    s = make_server(args=["--demo"])
    assert s.post("/api/v1/groups/analytics/stop", {}).status == 202
    s.restart()
    assert s.get("/api/v1/groups/analytics").json["state"] in ("starting", "running")
