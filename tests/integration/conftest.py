import atexit
import os
import re
import shutil
import tempfile

import pytest

from engine import SHIM_BIN, STANDIN, Engine, missing

# sparkshim's start-up cache (launcher results, class-data archives) goes to
# $XDG_CACHE_HOME/sparkshim: one temp dir for the whole run, so that engines
# of one run share it (the real-Spark archive is dumped once) and nothing is
# left in the user's home. Tests of the cache itself pass --cache-dir.
_CACHE = tempfile.mkdtemp(prefix="sparkshim-test-cache-")
os.environ["XDG_CACHE_HOME"] = _CACHE
atexit.register(shutil.rmtree, _CACHE, True)


def _have_binary():
    return os.access(SHIM_BIN, os.X_OK)


@pytest.fixture
def shim_bin():
    if not _have_binary():
        missing("sparkshim binary not built (%s)" % SHIM_BIN)
    return SHIM_BIN


@pytest.fixture
def standin_home():
    if not os.path.isdir(os.path.join(STANDIN, "jars")):
        missing("stand-in Spark home not built (make standin): %s" % STANDIN)
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


# Under `make integration` (and so `make test`) a skip is a failure unless
# its reason is environmental and listed here: "1 passed, 12 skipped" must
# not exit 0 on a broken build. Prerequisites the build provides do not
# skip at all (engine.missing fails).
ALLOWED_SKIPS = (
    # the host's other users hold the ports; nothing of ours is wrong
    re.compile(r"no pair of adjacent free ports"),
    # a container without CAP_SYS_ADMIN
    re.compile(r"no permission to create network namespaces"),
    re.compile(r"no permission to create PID namespaces"),
    # no root, no systemd-nspawn or no cgroups: the unit is still verified
    re.compile(r"cannot boot a systemd container"),
)
STRICT_SKIPS = os.environ.get("SPARKSHIM_NO_SKIPS") == "1"


def _skip_reason(rep):
    if isinstance(rep.longrepr, tuple) and len(rep.longrepr) == 3:
        return str(rep.longrepr[2])
    return str(rep.longrepr)


def _forbid_skip(rep):
    if not (STRICT_SKIPS and rep.skipped and not hasattr(rep, "wasxfail")):
        return
    reason = _skip_reason(rep)
    if any(r.search(reason) for r in ALLOWED_SKIPS):
        return
    rep.outcome = "failed"
    rep.longrepr = ("skipped outside the allow-list (tests/integration/conftest.py "
                    "ALLOWED_SKIPS): %s" % reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _forbid_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _forbid_skip(outcome.get_result())

