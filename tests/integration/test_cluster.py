"""sparkshim's in-process driver on a REAL Spark standalone cluster (issue 14).

One master and one worker (1 core) from the real Spark 4.3 home, on
127.0.0.1, shared by the module (standalone.py). Each test starts its own
engine with `--master spark://127.0.0.1:PORT`, checks the master's /json
(the application RUNNING, an executor JVM on the worker), runs the real
PySpark client on it (a mapInPandas whose tasks report the JVM that ran
them) and then stops the engine one way: SIGTERM, idle timeout, SIGKILL
(node deletion by the gateway: test_cluster_hosts.py, where the gateway and
ZooKeeper are on another host). Every way must end the application on the
master and make the worker's executor JVM go away; the worker has one core,
so an application left behind would also starve the next test's. A
graceful stop must be the driver's own unregistration (Spark's context
stopped inside the engine), SIGKILL the master's removal on disconnect.

Timings are printed (pytest -s), never asserted beyond generous bounds
that still fail when nothing is released.
"""
import signal
import time

import pytest

from engine import Engine, no_process_left, wait_for
from realspark import engine_env, real_args, real_spark, run_client
from standalone import Standalone, gone

STOP_S = 30            # the engines' --stop-timeout
IDLE_S = 10            # idle timeout of the idle test (the executor starts first)
APP_START_S = 120      # an application gets its executor within this


@pytest.fixture(scope="module")
def rs():
    return real_spark()


@pytest.fixture(scope="module")
def cluster(rs, tmp_path_factory):
    c = Standalone(tmp_path_factory.mktemp("standalone"), rs["SPARK4_HOME"]).start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
def engines(rs, tmp_path):
    started = []

    def start(cluster, extra=(), shim=(), sub="e"):
        d = tmp_path / sub
        d.mkdir()
        e = Engine(d, real_args(master=cluster.url, shim=["--stop-timeout", "%ds" % STOP_S]
                                + list(shim),
                                extra=["--conf", "spark.executor.memory=512m"] + list(extra)),
                   env=engine_env(rs), spark_home=rs["SPARK4_HOME"])
        started.append(e)
        e.wait_ready(timeout=180)
        return e

    yield start
    for e in started:
        e.kill()


def app_running(cluster, e):
    """The engine's application RUNNING on the master with its executor;
    returns (app id, executor pid)."""
    app_id = wait_for(lambda: (e.state() or {}).get("app_id"), 30, "the app id in the state file")
    cluster.wait_app(app_id, lambda where, a: where == "active" and a["state"] == "RUNNING"
                     and a.get("cores", 0) >= 1, APP_START_S,
                     "%s RUNNING with a core granted" % app_id)
    pids = wait_for(lambda: cluster.executor_pids(app_id), APP_START_S,
                    "an executor JVM of %s on the worker" % app_id)
    assert len(pids) == 1, pids
    return app_id, pids[0]


def query_on_executor(rs, e, app_id, exec_pid):
    r = run_client(rs["SPARK4_PYTHON"], "sc://127.0.0.1:%d" % e.connect_port, "executor", 10 ** 6, 4, tmp=e.tmp)
    parts = r["partitions"]
    assert len(parts) == 4, r
    assert sum(p["n"] for p in parts) == 10 ** 6
    assert sum(p["s"] for p in parts) == 10 ** 6 * (10 ** 6 - 1) // 2
    for p in parts:
        # Ran in the worker's executor JVM, not in the driver (sparkshim).
        assert p["executor_id"] == "0" and p["jvm_pid"] == exec_pid, p
        assert p["app_id"] == app_id and p["jvm_pid"] != e.pid, p
        assert p["host"] == "127.0.0.1", p
    return r


UNREGISTER = "Received unregister request from application %s"


def ended(cluster, app_id, exec_pid, t0, states=("FINISHED",), timeout=STOP_S, graceful=True):
    """The application completed on the master in one of states, and its
    executor JVM gone, within timeout of t0; returns both delays. graceful:
    the driver itself unregistered the application (Spark's context stopped
    in the engine), rather than the master dropping it when the driver's
    connection closed."""
    where, a = cluster.wait_app(app_id, lambda w, a: w == "completed", timeout + 30,
                                "%s completed on the master" % app_id)
    t_app = time.monotonic() - t0
    assert a["state"] in states, a
    wait_for(lambda: gone(exec_pid), timeout + 30, "executor JVM %d gone" % exec_pid)
    t_exec = time.monotonic() - t0
    assert t_exec <= timeout, "executor JVM went away only %.1f s after the stop" % t_exec
    assert not cluster.executor_pids(app_id)
    assert not [x for x in cluster.status()["activeapps"] if x["id"] == app_id]
    assert (UNREGISTER % app_id in cluster.log("master")) == graceful, \
        cluster.log("master")[-3000:]
    return t_app, t_exec


def test_query_on_executor_then_sigterm(rs, cluster, engines):
    e = engines(cluster)
    app_id, exec_pid = app_running(cluster, e)
    r = query_on_executor(rs, e, app_id, exec_pid)
    t0 = time.monotonic()
    e.send(signal.SIGTERM)
    assert e.wait_exit(STOP_S + 15) == 0, e.stderr()[-3000:]
    t_exit = time.monotonic() - t0
    t_app, t_exec = ended(cluster, app_id, exec_pid, t0)
    print("cluster query: %.2f s; SIGTERM: engine exit %.2f s, app FINISHED seen %.2f s, "
          "executor gone %.2f s" % (r["secs"], t_exit, t_app, t_exec))


def test_idle_timeout_releases_the_application(rs, cluster, engines):
    e = engines(cluster, extra=[
        "--conf", "spark.kyuubi.session.engine.idle.timeout=PT%dS" % IDLE_S,
        "--conf", "spark.kyuubi.session.engine.check.interval=PT1S"])
    # No query: idle from the start (the SIGTERM test covers the query).
    app_id, exec_pid = app_running(cluster, e)
    wait_for(lambda: "stopping: idle" in e.stderr() or not e.alive(), IDLE_S + 60,
             "the idle stop")
    t0 = time.monotonic()
    assert e.wait_exit(STOP_S + 15) == 0, e.stderr()[-3000:]
    t_app, t_exec = ended(cluster, app_id, exec_pid, t0)
    print("idle stop: app FINISHED seen %.2f s, executor gone %.2f s after the engine exited"
          % (t_app, t_exec))


def test_sigkill_releases_the_application(rs, cluster, engines):
    """Nothing in the engine runs after SIGKILL: the master notices the
    driver's connection drop and removes the application; the worker kills
    the executor (and the executor exits on losing its driver)."""
    e = engines(cluster)
    app_id, exec_pid = app_running(cluster, e)
    t0 = time.monotonic()
    e.send(signal.SIGKILL)
    e.wait_exit(30)
    assert no_process_left(e.pid)
    t_app, t_exec = ended(cluster, app_id, exec_pid, t0, states=("FINISHED", "KILLED"),
                          graceful=False)
    print("SIGKILL: app %s seen %.2f s, executor gone %.2f s after the kill"
          % (cluster.app(app_id)[1]["state"], t_app, t_exec))
