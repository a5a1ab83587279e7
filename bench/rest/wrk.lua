-- wrk.lua — one wrk script for every REST figure of scripts/bench.sh: optional POST body, machine-readable summary.
--
-- Environment (read once per wrk thread):
--   KP_WRK_METHOD     GET (default) or POST
--   KP_WRK_BODY_FILE  file whose bytes are sent as the body, with Content-Type: application/json
-- wrk's own report stays as it is; done() adds one line scripts/bench.sh parses:
--   KPWRK requests=N seconds=S rps=R p50_ms=A p90_ms=B p99_ms=C max_ms=D errors=E non2xx=F
-- errors counts connect/read/write/timeout failures; non2xx counts answers outside 2xx/3xx,
-- so a server answering fast with errors cannot pass for a fast server.

local method = os.getenv("KP_WRK_METHOD") or "GET"
local body_file = os.getenv("KP_WRK_BODY_FILE")

wrk.method = method
if body_file and body_file ~= "" then
   local f = assert(io.open(body_file, "rb"))
   wrk.body = f:read("*a")
   f:close()
   wrk.headers["Content-Type"] = "application/json"
end

function done(summary, latency, requests)
   local e = summary.errors
   local seconds = summary.duration / 1e6
   io.write(string.format(
      "KPWRK requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f errors=%d non2xx=%d\n",
      summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50) / 1e3, latency:percentile(90) / 1e3,
      latency:percentile(99) / 1e3, latency.max / 1e3,
      e.connect + e.read + e.write + e.timeout, e.status))
end
