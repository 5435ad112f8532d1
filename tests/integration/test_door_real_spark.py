"""Drain through the front door on real Spark 4.3 with the real PySpark client
(issue 10 item 4): a ~10 s query runs through the door, `ctl drain` deregisters and
drains; a new session is refused with UNAVAILABLE "engine is draining", the running
query's full result arrives, and the engine stops on its own with exit 0."""
import getpass
import signal
import time

import grpc
import pytest

from realspark import ClientProc, ctl_status, real_spark, start_real
from engine import wait_for
from ctl_helpers import run_ctl
from sparkconnect_wire import Client


@pytest.fixture
def rs():
    return real_spark()


@pytest.fixture
def started(rs, tmp_path):
    made = []

    def start(**kw):
        e = start_real(tmp_path, rs, **kw)
        made.append(e)
        return e

    yield start
    for x in made:
        x.kill()


@pytest.mark.parametrize("how", ["ctl drain", "SIGTERM"])
def test_real_query_survives_drain(rs, started, tmp_path, how):
    e = started(shim=["--stop-timeout", "60s"])
    st = ctl_status(e.control_address)
    assert st["front_door"] is True, st
    c = ClientProc(rs["SPARK4_PYTHON"], e.url(), "sleep", "10", "1000", tmp=tmp_path)
    try:
        wait_for(lambda: ctl_status(e.control_address)["active_operations"] >= 1, 90,
                 "the query running", interval=0.3)
        t0 = time.monotonic()
        if how == "ctl drain":
            out = run_ctl("--address", e.control_address, "drain")
            assert out.returncode == 0, out.stderr
        else:
            e.send(signal.SIGTERM)
        wait_for(lambda: "refusing new sessions" in e.stderr(), 30, "the door refusing")
        with Client("127.0.0.1:%d" % e.connect_port, user_id=getpass.getuser()) as new:
            with pytest.raises(grpc.RpcError) as ei:
                new.config_get_option(["spark.app.name"])
        assert ei.value.code() == grpc.StatusCode.UNAVAILABLE, ei.value
        assert "engine is draining" in ei.value.details()
        r = c.read(90)
        assert "error" not in r and "fatal" not in r, r
        assert r.get("count") == 10, r  # the whole answer, after the drain began
        assert e.wait_exit(90) == 0, e.stderr()[-3000:]
        print("%s with a real query in flight: result %s, engine gone after %.1f s"
              % (how, r, time.monotonic() - t0))
    finally:
        c.close()
