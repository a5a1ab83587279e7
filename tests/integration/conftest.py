import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from kplane_harness import Server  # noqa: E402


@pytest.fixture
def server():
    s = Server().start()
    yield s
    if s.alive():
        s.stop()


@pytest.fixture
def make_server():
    made = []

    def make(**kw):
        s = Server(**kw).start()
        made.append(s)
        return s
    yield make
    for s in made:
        if s.alive():
            s.stop()
