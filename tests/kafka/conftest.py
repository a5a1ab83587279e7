"""Fixtures shared by the real-Kafka suites: the brokers (BROKERS in the test module, default
3; one module-scoped set per file) and a kplane server (SERVER_ENV in the module, if any)."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
from kafka_harness import KafkaUnavailable, RealKafka  # noqa: E402
from kplane_harness import Server  # noqa: E402


@pytest.fixture(scope="module")
def kafka(request):
    try:
        k = RealKafka(n=getattr(request.module, "BROKERS", 3)).start()
    except KafkaUnavailable as e:  # no java/mvn: run.sh has already said so loudly
        if os.environ.get("KPLANE_TEST_REQUIRE") == "1":  # CI: a skip is a failure
            pytest.fail(f"real Kafka unavailable and KPLANE_TEST_REQUIRE=1: {e}")
        pytest.skip(str(e))
    with k:
        yield k


@pytest.fixture
def kserver(request):
    s = Server(env=getattr(request.module, "SERVER_ENV", None)).start()
    yield s
    if s.alive():
        s.stop()
