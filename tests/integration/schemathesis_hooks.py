"""schemathesis_hooks — loaded by the schemathesis run of test_schemathesis.py (SCHEMATHESIS_HOOKS).

Keeps the answers small and the work short, not the inputs tame: a what-if of a million
partitions or a plan of 100000 tasks is a valid request that kplane answers in a fraction of
a second, but the answer is 3 to 47 MB of JSON that schemathesis then validates in Python (seconds and ~500 MB of
memory each, most of a run). Such requests are dropped, and so are embedded clusters of
more than EMBEDDED_PARTITIONS_MAX partitions; the limits themselves are tested by
test_security_limits.py. Only integer fields are looked at, so negative data (wrong types,
out-of-range values below the bound) still goes through.
"""
import schemathesis

# Tasks plus partitions one answer may list: a few hundred kB of JSON at most.
ANSWER_ITEMS_MAX = 10000
# Partitions of one embedded cluster: a mock of 16 brokers and tens of thousands of
# partitions takes over 10 s to start on a loaded 2-core box (and a run makes dozens).
EMBEDDED_PARTITIONS_MAX = 1000


def _int(v):
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _partitions(body):
    topics = body.get("topics")
    if not isinstance(topics, list):
        return 0
    return sum(_int(t.get("partitions")) for t in topics if isinstance(t, dict))


@schemathesis.hook
def filter_case(context, case):
    """Every phase (examples, coverage, fuzzing, stateful) passes its cases through here."""
    body = case.body
    if not isinstance(body, dict):
        return True
    label = case.operation.label
    if label == "POST /api/v1/plan":
        return _partitions(body) + _int(body.get("parallelism")) <= ANSWER_ITEMS_MAX
    if label == "POST /api/v1/plan/sweep":
        rng = body.get("parallelism")
        steps = _int(rng.get("to")) - _int(rng.get("from")) if isinstance(rng, dict) else 0
        return _partitions(body) + steps <= ANSWER_ITEMS_MAX
    if label == "POST /api/v1/groups/{name}/plans":
        return _int(body.get("parallelism")) <= ANSWER_ITEMS_MAX
    if label in ("POST /api/v1/clusters", "PUT /api/v1/clusters/{name}"):
        emb = body.get("embedded")
        return not isinstance(emb, dict) or _partitions(emb) <= EMBEDDED_PARTITIONS_MAX
    return True
