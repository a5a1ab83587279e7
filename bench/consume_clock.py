#!/usr/bin/env python3
"""consume_clock.py — times a kplane group reading COUNT messages, for scripts/bench.sh's
consume section: POSTs the group's start, then reads its status over one kept-alive
connection every few ms until totals.messages reaches COUNT.

Usage: consume_clock.py URL GROUP COUNT [TIMEOUT_S (60)]
Output: kplane_clock messages=<n> wall_ms=<from the start call> steady_ms=<from the first
        message seen> steady_messages=<read after that poll> polls=<status reads>
Exit: 0, 1 when the start failed or COUNT was not reached within the timeout.

Why not a curl loop: the baselines time themselves inside their own process
(rdkafka_performance, bench_raw_consumer), while a shell loop forks curl and two greps every
10 ms, which on the 2-core machine took a good part of a core from the group it timed. One
process and one connection cost a status answer per poll (a few tenths of a ms of the
server's); the first message and the end are seen within POLL_S plus one answer.
"""
import http.client
import re
import sys
import time

POLL_S = 0.005
TOTAL = re.compile(rb'"totals":\{"messages":(\d+)')


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    url, group, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 60.0
    conn = http.client.HTTPConnection(url.split("//", 1)[-1].rstrip("/"), timeout=10)

    def call(method, path):
        conn.request(method, "/api/v1/groups/" + group + path)
        resp = conn.getresponse()
        return resp.status, resp.read()

    t0 = time.monotonic()
    status, body = call("POST", "/start")
    if status // 100 != 2:
        print("consume_clock: start: %d %s" % (status, body[:200]), file=sys.stderr)
        return 1
    n, first, n_first, polls = 0, None, 0, 0
    while n < count and time.monotonic() - t0 < timeout:
        status, body = call("GET", "/status")
        polls += 1
        m = TOTAL.search(body) if status == 200 else None
        n = int(m.group(1)) if m else 0
        if n and first is None:
            first, n_first = time.monotonic(), n
        if n < count:
            time.sleep(POLL_S)
    t1 = time.monotonic()
    # steady: what was read after the poll that first saw a message, over the time since
    # (the messages already counted by then took time before it)
    print("kplane_clock messages=%d wall_ms=%.1f steady_ms=%.1f steady_messages=%d polls=%d" %
          (n, (t1 - t0) * 1e3, (t1 - first) * 1e3 if first else 0.0, n - n_first, polls))
    return 0 if n >= count else 1


if __name__ == "__main__":
    sys.exit(main())
