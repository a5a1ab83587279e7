"""Hardening of the HTTP front door (issue 12, items 5, 7, 9, 10, 16): no port sharing, no request
smuggling, no cross-site writes, no slow client starving the others, and errors as problem+json
(with the exact list of libmicrohttpd's own answers that cannot be, docs/ARCHITECTURE.md).

Raw sockets wherever a client library would normalise the request (framing, Host, Origin)."""
import json
import os
import re
import resource
import selectors
import socket
import subprocess
import threading
import time

from kplane_harness import BIN, Server, assert_problem

# server/base/config.h
MAX_URL = 2048                  # KP_HTTP_MAX_URL
REQUEST_DEADLINE_S = 10         # KP_HTTP_REQUEST_DEADLINE_S
PER_IP_CONNECTION_LIMIT = 128   # KP_HTTP_PER_IP_CONNECTION_LIMIT (KP_HTTP_CONNECTION_LIMIT / 8)


def exchange(port, data, timeout=10.0, source=None):
    """Sends @data on a fresh connection and reads until the server closes it or @timeout.
    @returns (bytes, closed_by_server, seconds)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if source:
        s.bind((source, 0))
    s.settimeout(timeout)
    t0 = time.monotonic()
    s.connect(("127.0.0.1", port))
    s.sendall(data)
    out, closed = b"", False
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                closed = True
                break
            out += chunk
    except socket.timeout:
        pass
    except ConnectionResetError:
        closed = True
    finally:
        s.close()
    return out, closed, time.monotonic() - t0


def statuses(raw):
    """The status codes of every status line in a raw reply."""
    return [int(c) for c in re.findall(rb"^HTTP/1\.[01] (\d{3}) ", raw, re.M)]


def problem_of(raw):
    """The first answer of a raw reply: (status, headers, JSON body); its body must be complete."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    body = rest[:int(headers["content-length"])]
    assert headers["content-type"].startswith("application/problem+json"), raw
    doc = json.loads(body)
    assert doc["status"] == int(lines[0].split()[1]) and doc["title"] and doc["detail"], doc
    return doc["status"], headers, doc


def cluster_request(name, host="127.0.0.1"):
    """A complete POST that would register an embedded cluster @name: smuggled, it must not run."""
    body = json.dumps({"name": name, "embedded": {"topics": [{"name": "t", "partitions": 1}]}}).encode()
    return (f"POST /api/v1/clusters HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def assert_not_created(server, name):
    # the hidden request, had it run, was answered before the connection closed: no race here
    assert server.get(f"/api/v1/clusters/{name}").status == 404
    assert server.get("/api/v1/clusters").json["items"] == []


def embedded_group(s):
    assert s.post("/api/v1/clusters", {"name": "c1", "embedded": {"topics": [{"name": "orders", "partitions": 3}]}}).status == 201
    assert s.post("/api/v1/clusters/c1/topics", {"name": "orders"}).status == 201
    assert s.post("/api/v1/groups", {"name": "g", "parallelism": 2, "sink": {"type": "discard"},
                                     "topics": [{"cluster": "c1", "topic": "orders"}]}).status == 201


# --- item 7: port sharing -------------------------------------------------------------------

def test_a_second_instance_on_a_busy_port_fails_with_address_in_use(server):
    other = Server()  # its own database: only the port is shared
    p = subprocess.run([BIN, "serve", "--listen", f"127.0.0.1:{server.port}", "--db", other.db],
                       capture_output=True, text=True, timeout=30, env=other.env)
    assert p.returncode != 0, (p.stdout, p.stderr)
    assert "address in use" in p.stderr, p.stderr
    assert "listening" not in p.stdout, p.stdout
    # the first one still owns the port and answers every request
    for _ in range(20):
        assert server.get("/livez").status == 200


def test_restart_on_the_same_port_right_after_a_stop_binds(server):
    port = server.port
    assert server.get("/livez").status == 200  # leaves a connection in TIME_WAIT
    server.stop()
    again = Server(db=server.db, args=["--listen", f"127.0.0.1:{port}"]).start()
    try:
        assert again.port == port and again.get("/livez").status == 200
    finally:
        again.stop()


# --- item 9: request smuggling (RFC 9112 section 6.3) ---------------------------------------

def test_content_length_with_chunked_is_400_closed_and_the_hidden_request_never_runs(server):
    hidden = cluster_request("smuggled")
    req = (b"POST /api/v1/plan HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           b"Content-Length: " + str(5 + len(hidden)).encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"0\r\n\r\n" + hidden)
    out, closed, _ = exchange(server.port, req)
    assert statuses(out) == [400] and closed, out
    status, headers, _ = problem_of(out)
    assert headers["connection"].lower() == "close"
    assert_not_created(server, "smuggled")


def test_two_content_lengths_are_400_closed_and_the_hidden_request_never_runs(server):
    hidden = cluster_request("smuggled")
    for second in (str(2 + len(hidden)), "2"):  # different, then the same one repeated
        req = (b"POST /api/v1/plan HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Content-Length: 2\r\nContent-Length: " + second.encode() + b"\r\n\r\n{}" + hidden)
        out, closed, _ = exchange(server.port, req)
        assert statuses(out) == [400] and closed, (second, out)
        assert problem_of(out)[1]["connection"].lower() == "close"
        assert_not_created(server, "smuggled")


def test_unknown_transfer_encoding_is_501_at_once(server):
    for te in ("gzip", "chunked, gzip", "identity"):
        req = (b"POST /api/v1/plan HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: " + te.encode() + b"\r\n\r\n")
        out, closed, took = exchange(server.port, req, timeout=10)
        assert statuses(out) == [501] and closed, (te, out)
        assert took < 5, f"{te}: answered after {took:.1f} s"
        problem_of(out)


def test_content_length_not_a_number_is_400_closed_and_nothing_after_it_runs(server):
    """libmicrohttpd answers this one itself (docs/ARCHITECTURE.md, "HTTP errors"): its HTML 400,
    whose status line 0.9.75 writes twice, then it closes. What must hold: every status line is
    400, the connection closes, and the bytes after the headers never run as a request."""
    for value in (b"-1", b"+5", b"5, 5", b"0x10", b""):
        req = (b"POST /api/v1/plan HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Content-Length: " + value + b"\r\n\r\n" + cluster_request("smuggled"))
        out, closed, _ = exchange(server.port, req)
        assert closed and statuses(out) and set(statuses(out)) == {400}, (value, out)
        assert len(statuses(out)) <= 2, out  # 2: libmicrohttpd 0.9.75's duplicate
        assert_not_created(server, "smuggled")


def test_http11_without_host_or_with_two_is_400_problem_json(server):
    for req in (b"GET /livez HTTP/1.1\r\n\r\n",
                b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n",
                b"GET /livez HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"):
        out, closed, _ = exchange(server.port, req)
        assert statuses(out) == [400] and closed, (req, out)
        assert "Host" in problem_of(out)[2]["detail"]
    # HTTP/1.0 needs no Host
    out, _, _ = exchange(server.port, b"GET /livez HTTP/1.0\r\n\r\n")
    assert statuses(out) == [200], out


# --- item 10: cross-site requests -----------------------------------------------------------

def test_a_foreign_origin_cannot_change_state(server):
    embedded_group(server)
    for headers in ({"Origin": "http://evil.example"},
                    {"Origin": "null"},
                    {"Origin": f"http://127.0.0.1:{server.port + 1}"},  # another port is another origin
                    {"Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "same-site"}):
        r = server.post("/api/v1/groups/g/start", raw=b"", headers={**headers, "Content-Type": "text/plain"})
        assert_problem(r, 403)
        r = server.post("/api/v1/clusters", {"name": "c2", "bootstrap_servers": "127.0.0.1:1"}, headers=headers)
        assert_problem(r, 403)
        assert_problem(server.delete("/api/v1/groups/g", headers=headers), 403)
    assert server.get("/api/v1/groups/g").status == 200
    assert server.get("/api/v1/groups/g/status").json["state"] != "running"
    assert server.get("/api/v1/clusters/c2").status == 404
    # reading stays open (the browser keeps a foreign page from seeing the answer)
    assert server.get("/api/v1/groups/g", headers={"Origin": "http://evil.example"}).status == 200


def test_the_servers_own_origin_and_non_browser_clients_keep_working(server):
    embedded_group(server)
    own = {"Origin": f"http://127.0.0.1:{server.port}", "Sec-Fetch-Site": "same-origin"}
    # what the web page sends: application/json from its own origin
    r = server.post("/api/v1/groups/g/start", {}, headers=own)
    assert r.status == 202, r
    # curl -XPOST .../stop: no body, no Content-Type, no Origin
    out, _, _ = exchange(server.port, b"POST /api/v1/groups/g/stop HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                      b"Content-Length: 0\r\n\r\n", timeout=30)
    assert statuses(out) == [202], out
    # behind a TLS-terminating proxy that forwards Host, the page's origin is https
    r = server.post("/api/v1/groups/g/start", raw=b"",
                    headers={"Origin": f"https://127.0.0.1:{server.port}", "Sec-Fetch-Site": "none"})
    assert r.status == 202, r
    assert server.post("/api/v1/groups/g/stop").status == 202


def test_a_mutating_request_with_a_non_json_content_type_is_415_even_without_a_body(server):
    embedded_group(server)
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                  "application/jsonx", "application/problem+json"):
        r = server.post("/api/v1/groups/g/start", raw=b"", headers={"Content-Type": ctype})
        assert_problem(r, 415)
        r = server.request("PUT", "/api/v1/groups/g", raw=b'{"parallelism": 3}', headers={"Content-Type": ctype})
        assert_problem(r, 415)
    # a body needs a Content-Type
    assert_problem(server.post("/api/v1/groups/g/plans", raw=b'{"parallelism": 3}'), 415)
    assert server.get("/api/v1/groups/g").json["parallelism"] == 2
    assert server.get("/api/v1/groups/g/status").json["state"] != "running"
    # application/json with parameters is JSON
    r = server.post("/api/v1/groups/g/plans", raw=b'{"parallelism": 3}',
                    headers={"Content-Type": "Application/JSON; charset=utf-8"})
    assert r.status == 201, r


# --- item 5: slow clients -------------------------------------------------------------------

def test_1100_slow_connections_from_one_address_leave_others_fast_and_are_closed_by_the_deadline(server):
    n_slow, drip_every = 1100, 2.0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n_slow + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= n_slow + 256, "not enough fds for the test"

    sel = selectors.DefaultSelector()  # epoll: select() stops at fd 1024
    opened, closed_at = {}, {}
    t_start = time.monotonic()
    for _ in range(n_slow):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.2", 0))
        s.settimeout(10)
        s.connect(("127.0.0.1", server.port))
        s.setblocking(False)
        s.send(b"G")
        opened[s] = time.monotonic()
        sel.register(s, selectors.EVENT_READ)
    t_opened = time.monotonic()

    stop = threading.Event()

    def drip():
        """Sends the next byte of an endless header every drip_every s; notes when each closes."""
        nxt, payload, i = time.monotonic() + drip_every, b"ET / HTTP/1.1\r\nX-Slow: " + b"a" * 4096, 0
        while not stop.is_set() and len(closed_at) < len(opened):
            for key, _ in sel.select(timeout=0.1):
                s = key.fileobj
                try:
                    gone = not s.recv(4096)
                except (BlockingIOError, InterruptedError):
                    gone = False
                except OSError:
                    gone = True
                if gone:
                    closed_at[s] = time.monotonic()
                    sel.unregister(s)
            if time.monotonic() >= nxt:
                for s in opened:
                    if s not in closed_at:
                        try:
                            s.send(payload[i % len(payload):i % len(payload) + 1])
                        except (BlockingIOError, InterruptedError):
                            pass
                        except OSError:
                            closed_at[s] = time.monotonic()
                            sel.unregister(s)
                i, nxt = i + 1, nxt + drip_every

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    try:
        time.sleep(1.0)  # the refused ones are closed at once
        held = len(opened) - len(closed_at)
        # meanwhile another client's GETs answer at once
        times = []
        for _ in range(20):
            t0 = time.monotonic()
            r = server.get("/livez", timeout=5)
            times.append((time.monotonic() - t0) * 1000)
            assert r.status == 200, r
            time.sleep(0.1)
        metrics = server.get("/metrics").body
        # then every slow connection is closed by the server within the deadline + slack
        slack = 5.0
        deadline = t_opened + REQUEST_DEADLINE_S + slack
        while len(closed_at) < len(opened) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        dripper.join(10)
        for s in opened:
            s.close()
        sel.close()
    lifetimes = sorted(closed_at[s] - opened[s] for s in closed_at)
    held_lifetimes = [t for t in lifetimes if t > 1.0]
    print(f"\nslow connections: {n_slow} opened in {t_opened - t_start:.2f} s, {held} held after 1 s "
          f"(per-address limit {PER_IP_CONNECTION_LIMIT}), {len(closed_at)} closed by the server; "
          f"held ones lived {min(held_lifetimes, default=0):.1f}..{max(held_lifetimes, default=0):.1f} s "
          f"(deadline {REQUEST_DEADLINE_S} s)")
    print(f"GET /livez from 127.0.0.1 meanwhile: min {min(times):.1f} ms, median "
          f"{sorted(times)[len(times) // 2]:.1f} ms, max {max(times):.1f} ms over {len(times)}")
    assert held <= PER_IP_CONNECTION_LIMIT, held
    assert max(times) < 100, times
    assert len(closed_at) == n_slow, f"{n_slow - len(closed_at)} slow connections still open"
    assert max(lifetimes) <= REQUEST_DEADLINE_S + slack, lifetimes[-5:]
    # the held ones lived about the deadline: closed by it, not by the inactivity timeout
    assert held_lifetimes and min(held_lifetimes) >= REQUEST_DEADLINE_S - 1, held_lifetimes[:5]
    assert "kplane_http_deadline_closed_total" in metrics
    reaped = server.get("/metrics").body
    assert int(re.search(r"^kplane_http_deadline_closed_total (\d+)$", reaped, re.M).group(1)) >= len(held_lifetimes)
    assert server.get("/livez").status == 200


# --- item 16: errors as problem+json -------------------------------------------------------

def test_early_refusals_are_problem_json_and_libmicrohttpds_own_answers_are_the_documented_ones(server):
    # ours: a URL over KP_HTTP_MAX_URL that still fits MHD's memory pool
    out, _, _ = exchange(server.port, b"GET /" + b"a" * (MAX_URL + 100) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert statuses(out) == [414] and problem_of(out)[0] == 414, out
    out, closed, _ = exchange(server.port, b"POST /api/v1/plan HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                           b"Content-Length: 1048577\r\n\r\n")
    assert statuses(out) == [413] and closed and problem_of(out)[0] == 413, out
    # libmicrohttpd's own (docs/ARCHITECTURE.md, "HTTP errors"): a request line or header
    # section beyond its per-connection memory pool, a version other than HTTP/1.0 and 1.1,
    # a line it cannot parse, a broken chunk. It answers before (or instead of) calling
    # kplane, with its fixed HTML body, and closes the connection.
    cases = [
        (b"GET /" + b"a" * 40000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n", 431),
        (b"GET /livez HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        (b"GET /livez HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n", 400),
        (b"POST /api/v1/plan HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
         b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    ]
    for req, code in cases:
        out, closed, took = exchange(server.port, req)
        assert statuses(out) == [code] and closed and took < 5, (code, out[:300])
        assert b"text/html" in out or b"<html>" in out, out[:300]
    assert server.get("/livez").status == 200
