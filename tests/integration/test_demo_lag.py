"""The demo's lag moves: `kplane serve --demo` slows demo-b's broker in phases (KP_DEMO_SLOW_* in
server/base/config.h: 15 s of every 30, the first from 15 s on), so a group falls behind, its lag
and the age of its oldest unread message climb, and it catches up again, while both groups keep
running. Before, the demo's lag sat at 0 and the overview's sparkline was a flat line."""
import time


def overview(s):
    r = s.get("/api/v1/overview")
    assert r.status == 200, r
    return {g["name"]: g for g in r.json["groups"]}


class Episode:
    """One stretch of a group's non-zero lag: it must climb for seconds, not blip."""

    def __init__(self, now):
        self.start, self.top, self.top_at, self.age, self.lags = now, 0, now, None, []

    def add(self, now, lag, age):
        self.lags.append(lag)
        if lag > self.top:
            self.top, self.top_at, self.age = lag, now, age

    def climbed(self):
        # the slow phase: ~30 messages/s more than the mirror can copy, for 15 s
        return (self.top >= 100 and self.top_at - self.start >= 5 and len(set(self.lags)) >= 2
                and self.age is not None and self.age >= 3)


def test_the_demos_lag_rises_and_falls_while_its_groups_keep_running(make_server):
    s = make_server(args=["--demo"])
    episode = {}   # group -> its current Episode
    fell = {}      # group -> an Episode that climbed, then fell below half its top
    seen = {}      # group -> the longest episodes seen, for the failure message
    messages = {}
    deadline = time.time() + 120  # two slow phases' worth, for a loaded box
    while time.time() < deadline and not fell:
        groups = overview(s)
        now = time.time()
        for name in ("analytics", "mirror"):
            g = groups[name]
            assert g["state"] in ("starting", "running"), g
            assert g["lag_state"] != "ERR", g
            if g["state"] != "running" or g["lag"] is None:
                continue
            messages.setdefault(name, []).append(g["messages"])
            e = episode.get(name)
            if e and e.climbed() and g["lag"] < e.top / 2:
                fell[name] = e
            if g["lag"] == 0:
                if e:
                    seen[name] = max(seen.get(name, e), e, key=lambda x: x.top)
                episode.pop(name, None)
                continue
            if not e:
                e = episode[name] = Episode(now)
            e.add(now, g["lag"], g["lag_seconds"])
        time.sleep(0.5)
    assert fell, "no group's lag climbed for seconds and fell again within 120 s: " + repr(
        {n: (e.top, round(e.top_at - e.start, 1), e.age) for n, e in {**seen, **episode}.items()})
    # both groups kept running and consuming all along
    groups = overview(s)
    for name in ("analytics", "mirror"):
        assert groups[name]["state"] == "running", groups[name]
        assert groups[name]["messages"] > messages[name][0], (name, groups[name]["messages"], messages[name][0])
