"""kplane_harness — start the real kplane binary on an ephemeral port and talk HTTP to it."""
import http.client
import json
import os
import signal
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("KPLANE_BIN", os.path.join(ROOT, "build", "kplane"))


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class Server:
    """One kplane serve process with its own database (kept across restart())."""

    def __init__(self, db=None, env=None, args=(), fsize_limit=None):
        self.dir = tempfile.mkdtemp(prefix="kplane-it-")
        self.db = db or os.path.join(self.dir, "kplane.db")
        self.env = dict(os.environ)
        self.env.pop("KPLANE_API_TOKEN", None)
        # file sinks live under the server's own sink directory (relative paths only)
        self.env["KPLANE_SINK_DIR"] = os.path.join(self.dir, "sinks")
        self.env.update(env or {})
        self.sink_dir = self.env["KPLANE_SINK_DIR"]
        self.fsize_limit = fsize_limit
        self.args = list(args)
        self.proc = None
        self.port = None

    def start(self, timeout=20):
        self.proc = subprocess.Popen(
            [BIN, "serve", "--listen", "127.0.0.1:0", "--db", self.db] + self.args,
            stdout=subprocess.PIPE, stderr=open(os.path.join(self.dir, "stderr.log"), "ab"),
            env=self.env, text=True, preexec_fn=self._limit_file_size if self.fsize_limit else None)
        deadline = time.time() + timeout
        line = self.proc.stdout.readline()
        if "listening on http://" not in line or time.time() > deadline:
            self.proc.kill()
            raise RuntimeError(f"kplane did not start: {line!r} {self.log()[-2000:]}")
        self.port = int(line.rsplit(":", 1)[1].strip())
        return self

    def _limit_file_size(self):
        """In the child: no file may grow past fsize_limit, and a write that would fails
        with EFBIG (SIGXFSZ ignored, which exec keeps) instead of killing the server."""
        import resource
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.fsize_limit, resource.RLIM_INFINITY))

    def log(self):
        try:
            with open(os.path.join(self.dir, "stderr.log")) as f:
                return f.read()
        except OSError:
            return ""

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if not self.proc:
            return None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            raise AssertionError(f"kplane did not stop within {timeout}s after {sig}")
        finally:
            self.proc.stdout.close()
            self.proc = None
        # Under SANITIZE=address|undefined|thread builds a report fails the test that
        # caused it (the server's stderr is kept per server).
        for mark in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "WARNING: ThreadSanitizer",
                     "runtime error:"):
            if mark in self.log():
                raise AssertionError(f"sanitizer report in kplane's stderr ({self.dir}/stderr.log): "
                                     + self.log()[self.log().index(mark):][:3000])
        return rc

    def restart(self):
        self.stop()
        return self.start()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def request(self, method, path, body=None, headers=None, raw=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        hdrs = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        resp = Response(r.status, r.getheaders(), r.read().decode("utf-8", "replace"))
        conn.close()
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


def assert_problem(resp, status, field=None):
    """The answer is a problem+json of @status (naming @field in errors when given)."""
    assert resp.status == status, resp
    assert resp.headers.get("content-type", "").startswith("application/problem+json"), resp
    assert resp.json["status"] == status and resp.json["title"] and resp.json["detail"], resp
    if field:
        fields = [e["field"] for e in resp.json.get("errors", [])]
        assert any(f == field or f.startswith(field) for f in fields), (field, resp)
