"""Hostile topic patterns and request paths (issue 12, items 4 and 14): a pattern is matched in
linear time or refused with a 400 naming the field, and a path that a C string or JSON cannot
carry (a %00, bytes that are not UTF-8) is a problem+json 400, never an answer about another
resource or an empty body."""
import json
import threading
import time
import urllib.parse

from kplane_harness import Server, assert_problem

LONG = "a" * 249  # Kafka's longest topic name: the attack string


def cluster(s, name="c1"):
    r = s.post("/api/v1/clusters", {"name": name, "embedded": {"topics": [
        {"name": LONG, "partitions": 1}, {"name": "orders", "partitions": 2}]}})
    assert r.status == 201, r


class GetProbe:
    """GETs /livez in a loop on another thread; records the slowest answer."""

    def __init__(self, s):
        self.s, self.worst, self.count, self.errors = s, 0.0, 0, []
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            t0 = time.time()
            try:
                r = self.s.get("/livez", timeout=30)
                if r.status != 200:
                    self.errors.append(r)
            except OSError as e:  # a timeout: the server stopped answering
                self.errors.append(e)
            self.worst = max(self.worst, time.time() - t0)
            self.count += 1
            time.sleep(0.02)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.t.join(35)


def post_pattern(s, pattern, timeout=20):
    t0 = time.time()
    r = s.post("/api/v1/clusters/c1/topics", {"pattern": pattern}, timeout=timeout)
    return r, time.time() - t0


def test_a_back_reference_pattern_is_a_prompt_400_naming_the_field(server):
    cluster(server)
    with GetProbe(server) as probe:
        # glibc backtracked on this against the 249-character topic, forever
        r, took = post_pattern(server, r"^(a*)*\1\1$")
        assert_problem(r, 400, "pattern")
        msg = [e["message"] for e in r.json["errors"] if e["field"] == "pattern"][0]
        assert "back-reference" in msg and "back-reference" in r.json["detail"], r
        assert took < 5, took
        r, took = post_pattern(server, r"(a)\2")
        assert_problem(r, 400, "pattern")
        assert took < 5, took
    assert not probe.errors and probe.count > 0, probe.errors
    # nothing was registered
    assert server.get("/api/v1/clusters/c1/topics").json["items"] == []


def test_a_pattern_that_would_expand_without_bound_is_refused_at_once(server):
    cluster(server)
    # glibc took 10 s of CPU to compile the first (it expands the counts); the engine
    # sizes the program before expanding anything
    for pattern in ("(a*){1,100}{1,100}", "((a{1,255}){1,255}){1,255}", "(a{1,100}){1,100}"):
        r, took = post_pattern(server, pattern)
        assert_problem(r, 400, "pattern")
        assert "too complex" in r.json["errors"][0]["message"], r
        assert took < 5, (pattern, took)


def test_other_refusals_say_which_construct(server):
    cluster(server)
    for pattern, why in ((r"\w+", "unsupported escape"), ("(orders", "unbalanced parenthesis"),
                         ("orders)", "unbalanced parenthesis"), ("[a-", "unbalanced bracket"),
                         ("a{2,1}", "maximum is below"), ("*a", "nothing to repeat"),
                         ("a{300}", "over 255")):
        r, _ = post_pattern(server, pattern)
        assert_problem(r, 400, "pattern")
        assert why in r.json["errors"][0]["message"], (pattern, r)


def test_pathological_patterns_without_back_references_answer_promptly(server):
    cluster(server)
    with GetProbe(server) as probe:
        for pattern, matches in (("^(a|a)*(a|a)*(a|a)*b$", []), ("(a*)*b", []),
                                 ("^(a|a)*(a|a)*(a|a)*$", [LONG]), ("^(a+)+$", [LONG]),
                                 ("(.*)*(.*)*(.*)*x", [])):
            r, took = post_pattern(server, pattern)
            assert r.status == 201, (pattern, r)
            assert [t["name"] for t in r.json["topics"]] == matches, (pattern, r)
            assert took < 5, (pattern, took)
            # the refresh re-evaluates the stored pattern the same way
            key = urllib.parse.quote(pattern, safe="")
            t0 = time.time()
            r = server.post(f"/api/v1/clusters/c1/topics/{key}/refresh", timeout=20)
            assert r.status == 200, (pattern, r)
            assert time.time() - t0 < 5
    assert not probe.errors and probe.count > 0, probe.errors
    assert probe.worst < 5, probe.worst


def test_the_discovery_thread_re_evaluates_stored_patterns_and_the_api_keeps_answering(make_server):
    s = make_server(env={"KPLANE_DISCOVERY_INTERVAL_S": "1"})
    cluster(s)
    for pattern in ("^(a|a)*(a|a)*(a|a)*b$", "^(a+)+$"):
        assert post_pattern(s, pattern)[0].status == 201
    with GetProbe(s) as probe:
        first = {r["pattern"]: r["discovered_at"] for r in s.get("/api/v1/clusters/c1/topics").json["items"]}
        deadline = time.time() + 60
        while time.time() < deadline:
            now = {r["pattern"]: r["discovered_at"] for r in s.get("/api/v1/clusters/c1/topics").json["items"]}
            if all(now[p] != first[p] for p in first):
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"the discovery thread did not re-read the patterns: {first} {now}")
    assert not probe.errors and probe.worst < 5, (probe.errors, probe.worst)


def test_a_nul_byte_in_the_path_is_400_not_another_resource(server):
    cluster(server)
    assert server.get("/api/v1/clusters/c1").status == 200
    for method in ("GET", "PUT", "DELETE"):
        body = {"name": "c1", "bootstrap_servers": "127.0.0.1:1"} if method == "PUT" else None
        r = server.request(method, "/api/v1/clusters/c1%00junk", body=body)
        assert_problem(r, 400)
        assert "NUL" in r.json["detail"], r
    # a NUL in the query would cut a value short the same way
    assert_problem(server.get("/api/v1/clusters?x=a%00b"), 400)
    assert_problem(server.get("/api/v1/clusters/c1/topics/orders%00x"), 400)
    # c1 was neither replaced nor deleted
    r = server.get("/api/v1/clusters/c1")
    assert r.status == 200 and r.json["embedded"], r
    # %2500 is a percent sign followed by "00": a name, not a NUL
    assert_problem(server.get("/api/v1/clusters/c1%2500"), 404)


def test_a_path_that_is_not_utf8_is_a_problem_json_400(server):
    cluster(server)
    for path in ("/api/v1/clusters/%ff", "/api/v1/clusters/c1/topics/%c3%28", "/api/v1/groups/%ed%a0%80",
                 "/api/v1/clusters/%f8%88%80%80%80", "/%ff", "/api/v1/clusters/c1/topics/%ff/refresh"):
        for method in ("GET", "POST", "DELETE"):
            r = server.request(method, path)
            assert r.body, (method, path, r)
            assert_problem(r, 400)
            assert "UTF-8" in r.json["detail"], r
    # well-formed UTF-8 is a name like any other: 404, and echoed intact
    r = server.get("/api/v1/clusters/%c3%a9t%c3%a9")
    assert_problem(r, 404)
    assert "\u00e9t\u00e9" in r.json["detail"], r


def test_echoed_names_with_quotes_and_control_characters_stay_valid_json(server):
    cluster(server)
    nasty = '%22%5C%0A%0D%09%01%7F%3C'  # " \ LF CR TAB SOH DEL <
    decoded = '"\\\n\r\t\x01\x7f<'
    for path in (f"/api/v1/clusters/x{nasty}", f"/api/v1/clusters/c1/topics/x{nasty}",
                 f"/api/v1/groups/x{nasty}", f"/api/v1/groups/x{nasty}/plans/current",
                 f"/api/v1/clusters/x{nasty}/metadata", f"/x{nasty}"):
        r = server.get(path)
        assert r.status in (400, 404), (path, r)
        assert r.headers["content-type"].startswith("application/problem+json"), r
        doc = json.loads(r.body)  # strict: a raw control character would not parse
        assert doc["status"] == r.status
        if r.status == 404 and path.startswith("/api/v1/clusters/x"):
            assert decoded in doc["detail"], (path, doc)
    # a 405 echoes the method and path
    r = server.request("PATCH", f"/api/v1/clusters/x{nasty}")
    assert r.status == 405 and json.loads(r.body)["status"] == 405, r
