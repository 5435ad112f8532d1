import os
import shutil

import pytest

from engine import SHIM_BIN, STANDIN, Engine


def _have_binary():
    return os.access(SHIM_BIN, os.X_OK)


@pytest.fixture
def shim_bin():
    if not _have_binary():
        pytest.skip("sparkshim binary not built (%s)" % SHIM_BIN)
    return SHIM_BIN


@pytest.fixture
def standin_home():
    if not os.path.isdir(os.path.join(STANDIN, "jars")):
        pytest.skip("stand-in Spark home not built (make standin)")
    return STANDIN


@pytest.fixture
def engines(tmp_path, shim_bin, standin_home):
    """Factory: start(args, **kw) -> Engine; every engine is killed at teardown."""
    started = []

    def start(args, sub=None, **kw):
        d = tmp_path / (sub or "e%d" % len(started))
        d.mkdir(exist_ok=True)
        e = Engine(d, args, **kw)
        started.append(e)
        return e

    yield start
    for e in started:
        e.kill()
    # hs_err files would mean a crash we did not ask for; they live in tmp.


@pytest.fixture
def workdir(tmp_path):
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)
