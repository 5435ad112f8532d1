"""A ZooKeeper that hangs must not hang the engine's main loop.

The ZooKeeper server is frozen with SIGSTOP (its socket stays open, nothing
answers: every ZooKeeper call waits out its full timeout). Registration and
deregistration then run on workers while the main loop keeps serving
signals: SIGUSR1's status line comes at once, and a second SIGTERM forces
the exit (143) at once, in the middle of a registration or a deregistration
that hangs. The server always gets SIGCONT (and the fixture stops it).
"""
import os
import signal
import time
import uuid
from contextlib import contextmanager

import pytest

from engine import SHIM_BIN, Engine, missing, loopback_args, no_process_left, port_open, wait_for
from exitcodes import EXIT_CLEAN, forced_by
from zkclient import nodes_with
from zkserver import zk  # noqa: F401  (fixture)

@pytest.fixture(autouse=True)
def _binary_built():
    if not os.path.exists(SHIM_BIN):
        missing("no sparkshim binary at %s" % SHIM_BIN)

# How soon the loop must answer a signal while ZooKeeper hangs. A blocked
# loop would take the connection timeout (30 s here) or the deregister
# timeout (20 s here).
PROMPT_S = 5.0


@contextmanager
def frozen(server):
    """ZooKeeper stopped with SIGSTOP for the block, continued after it."""
    pid = server.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def start_registering(server, tmp_path):
    ns = "/kyuubi_1.10.0_USER_SPARK_CONNECT/frozen/default"
    ref = str(uuid.uuid4())
    extra = []
    for k, v in (("spark.kyuubi.ha.addresses", server.address),
                 ("spark.kyuubi.ha.namespace", ns),
                 ("spark.kyuubi.ha.engine.ref.id", ref),
                 ("spark.kyuubi.ha.zookeeper.session.timeout", "20000"),
                 ("spark.kyuubi.ha.zookeeper.connection.timeout", "30000"),
                 ("spark.sparkshim.registry.deregister.timeout", "20000")):
        extra += ["--conf", "%s=%s" % (k, v)]
    e = Engine(tmp_path, loopback_args(extra=extra, shim=["--stop-timeout", "60s"]))
    return e, ns, ref


def log_has(e, text):
    return text in e.stderr()


def serves_sigusr1(e, state):
    """SIGUSR1 -> a status line naming state, within PROMPT_S; returns seconds."""
    before = e.stderr().count("status: state=%s" % state)
    t0 = time.monotonic()
    e.send(signal.SIGUSR1)
    wait_for(lambda: e.stderr().count("status: state=%s" % state) > before, PROMPT_S,
             "the SIGUSR1 status line (state %s)" % state)
    return time.monotonic() - t0


def second_sigterm_forces(e):
    """First SIGTERM begins the stop (logged at once), the second ends the
    process with 143 at once; returns (seconds to begin, seconds to exit)."""
    t0 = time.monotonic()
    e.send(signal.SIGTERM)
    wait_for(lambda: log_has(e, "stopping: SIGTERM"), PROMPT_S, "the stop to begin")
    begun = time.monotonic() - t0
    assert e.alive(), "the graceful stop should still be waiting on ZooKeeper"
    t1 = time.monotonic()
    e.send(signal.SIGTERM)
    rc = e.wait_exit(PROMPT_S)
    took = time.monotonic() - t1
    assert rc == forced_by(signal.SIGTERM), (rc, e.stderr()[-3000:])
    assert "second SIGTERM: forced stop" in e.stderr()
    wait_for(lambda: no_process_left(e.pid), 10, "process gone")
    return begun, took


def test_second_sigterm_while_registration_hangs(zk, tmp_path):
    e, ns, ref = start_registering(zk, tmp_path)
    try:
        with frozen(zk):
            # READY comes first; then the registration starts and hangs.
            e.wait_ready(90)
            # The registration is under way (and hangs): SIGUSR1 says so.
            def pending():
                serves_sigusr1(e, "READY")
                return "registration=PENDING" in e.stderr()
            wait_for(pending, 15, "registration=PENDING in the status line", interval=0.2)
            assert serves_sigusr1(e, "READY") < PROMPT_S
            begun, took = second_sigterm_forces(e)
            print("\nregistration hangs: stop begun after %.3f s, exit 143 after %.3f s"
                  % (begun, took))
            assert took < PROMPT_S
        assert not port_open(e.connect_port)
        # Nothing was registered, and nothing is left once ZooKeeper is back.
        assert nodes_with(zk.port, ns, "refId=%s" % ref) == []
    finally:
        e.kill()


def test_second_sigterm_while_deregistration_hangs(zk, tmp_path):
    e, ns, ref = start_registering(zk, tmp_path)
    try:
        e.wait_ready(90)
        wait_for(lambda: nodes_with(zk.port, ns, "refId=%s" % ref), 30, "the node")
        with frozen(zk):
            begun, took = None, None
            t0 = time.monotonic()
            e.send(signal.SIGTERM)
            wait_for(lambda: log_has(e, "stopping: SIGTERM"), PROMPT_S, "the stop to begin")
            begun = time.monotonic() - t0
            # The deletion hangs (20 s bound); the loop still serves signals.
            assert serves_sigusr1(e, "STOPPING") < PROMPT_S
            assert e.alive()
            t1 = time.monotonic()
            e.send(signal.SIGTERM)
            rc = e.wait_exit(PROMPT_S)
            took = time.monotonic() - t1
            print("\nderegistration hangs: stop begun after %.3f s, exit 143 after %.3f s"
                  % (begun, took))
            assert rc == forced_by(signal.SIGTERM), (rc, e.stderr()[-3000:])
            assert "second SIGTERM: forced stop" in e.stderr()
            assert took < PROMPT_S
    finally:
        e.kill()


def test_stop_goes_on_when_deregistration_hangs(zk, tmp_path):
    """One SIGTERM: deregistration comes first, but a hung one holds Spark's
    stop for ~2.5 s only; the connect port closes while ZooKeeper is still
    frozen, and once it is back the engine finishes cleanly."""
    e, ns, ref = start_registering(zk, tmp_path)
    try:
        e.wait_ready(90)
        wait_for(lambda: nodes_with(zk.port, ns, "refId=%s" % ref), 30, "the node")
        port = e.connect_port
        with frozen(zk):
            t0 = time.monotonic()
            e.send(signal.SIGTERM)
            wait_for(lambda: not port_open(port), 30, "the connect port to close")
            closed = time.monotonic() - t0
            print("\nderegistration hangs: connect port closed after %.3f s" % closed)
            assert closed >= 2.0, "Spark was stopped before the deregistration bound"
            assert "deregistration did not finish within" in e.stderr()
        assert e.wait_exit(60) == EXIT_CLEAN, e.stderr()[-3000:]
        wait_for(lambda: not nodes_with(zk.port, ns, "refId=%s" % ref), 30, "the node gone")
    finally:
        e.kill()
