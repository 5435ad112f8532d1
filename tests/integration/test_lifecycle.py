"""Issue 3: the process lifecycle of a real engine (real binary, real JVM,
stand-in Spark). Each test asserts the exit code, the log line and that
nothing is left: no process, no port, no pid or state file."""
import os
import re
import signal
import socket
import threading
import time

import pytest

from engine import (EventFollower, config_call, loopback_args, no_process_left, port_open,
                    process_start_epoch_ms, wait_for)
from sparkconnect_wire import Client

from ctl_helpers import CTL_NOT_SERVING, CTL_OK, SVC_CONNECT, run_ctl
from exitcodes import (EXIT_ALREADY_RUNNING, EXIT_JVM_CRASH, EXIT_JVM_OOM, EXIT_SPARK_DIED,
                       forced_by)


def assert_gone(e, port=None):
    assert no_process_left(e.pid)
    if port:
        assert not port_open(port)
    assert not os.path.exists(e.state_file)


def start_ready(engines, extra=(), shim=(), **kw):
    e = engines(loopback_args(extra=extra, shim=shim), **kw)
    e.wait_ready()
    return e


def long_stream(port, responses=40, delay_ms=250, on_response=None, reattachable=False,
                before_release=None):
    """Run an ExecutePlan stream in a thread; returns (thread, result dict).
    out["times"]: epoch ms at which each response arrived; on_response(n)
    runs on the stream's thread after the n-th. reattachable: as PySpark and
    the Scala client do by default: the execution stays listed after its
    call ends; the client reattaches if the stream ends early and, after
    ResultComplete, releases it (out["released"]: the echoed operation id)."""
    out = {"n": 0, "first": threading.Event(), "times": []}

    def run():
        try:
            with Client("127.0.0.1:%d" % port) as c:
                op, call = c.execute(responses=responses, size=16, delay_ms=delay_ms,
                                     timeout=120, reattachable=reattachable)
                last_id = None
                while True:
                    for r in c.responses_of(call):
                        out["n"] += 1
                        out["times"].append(time.time() * 1000)
                        last_id = r.response_id
                        if on_response:
                            on_response(out["n"])
                        out["complete"] = r.result_complete
                        out["first"].set()
                    if not reattachable or out.get("complete"):
                        break
                    out["reattached"] = out.get("reattached", 0) + 1
                    call = c.reattach(op, last_id, timeout=120)
                if reattachable:
                    if before_release:
                        before_release()
                    out["released"] = c.release_execute(op, timeout=30)
                    out["op"] = op
        except Exception as ex:  # the test asserts on it
            out["error"] = ex
        out["first"].set()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def check_stream(out, responses, reattachable):
    assert "error" not in out, out
    assert out["n"] >= responses and out["complete"], out  # every response + ResultComplete
    if reattachable:
        assert out["released"] == out["op"], out  # ReleaseExecute answered, not refused


REATTACH = pytest.mark.parametrize("reattachable", [False, True], ids=["plain", "reattachable"])


def test_port_probe_waits_through_not_started(engines):
    """Spark's localPort throws an AssertionError before its gRPC server
    object exists and gRPC's IllegalStateException("Not started") once it
    exists but is not started yet: both mean "not yet" to the port probe,
    which finds the port once the server runs."""
    e = start_ready(engines, extra=["--conf", "spark.standin.startup.delay.ms=1000",
                                    "--conf", "spark.standin.bind.window.ms=2500"])
    err = e.stderr()
    assert "standin: server created, starting it in 2500 ms" in err
    # Spark's own port, behind the front door that e.connect_port is.
    assert re.search(r"Spark Connect server bound port \d+ \(loopback, behind the front door "
                     r"on port %d\)" % e.connect_port, err), err[-3000:]
    assert config_call(e.connect_port)
    assert e.stop() == 0


def test_sigterm_idle_engine(engines):
    e = start_ready(engines)
    port = e.connect_port
    t0 = time.monotonic()
    assert e.stop(signal.SIGTERM, 30) == 0
    elapsed = time.monotonic() - t0
    assert "stopping: SIGTERM" in e.stderr() and "stopped cleanly" in e.stderr()
    assert_gone(e, port)
    print("SIGTERM->exit on an idle engine: %.3f s" % elapsed)


@REATTACH
def test_sigterm_lets_running_operation_finish(engines, reattachable):
    e = start_ready(engines)
    t, out = long_stream(e.connect_port, responses=8, delay_ms=250, reattachable=reattachable)
    assert out["first"].wait(30) and "error" not in out, out
    assert e.stop(signal.SIGTERM, 30) == 0
    t.join(30)
    check_stream(out, 8, reattachable)


def test_sigterm_waits_for_a_late_release(engines):
    """A reattachable execution stays listed after its stream ends until the
    client's ReleaseExecute. A client that releases only once the stopping
    engine waits for it (after its result, as PySpark does from a thread)
    must still be answered: Spark's connect server stops only after."""
    e = start_ready(engines)
    line = "none sending: waiting up to 1000 ms for the client's ReleaseExecute"

    def before_release():
        wait_for(lambda: line in e.stderr(), 30, "the engine waiting for the release")
    t, out = long_stream(e.connect_port, responses=8, delay_ms=250, reattachable=True,
                         before_release=before_release)
    assert out["first"].wait(30) and "error" not in out, out
    assert e.stop(signal.SIGTERM, 30) == 0
    t.join(30)
    check_stream(out, 8, True)


def test_double_sigterm_forces(engines):
    e = start_ready(engines, shim=["--stop-timeout", "60s"])
    t, out = long_stream(e.connect_port, responses=200, delay_ms=200)
    assert out["first"].wait(30) and "error" not in out, out
    e.send(signal.SIGTERM)
    wait_for(lambda: "stopping: SIGTERM" in e.stderr(), 10, "graceful stop begun")
    assert e.alive()
    assert e.stop(signal.SIGTERM, 10) == forced_by(signal.SIGTERM)
    assert "second SIGTERM: forced stop" in e.stderr()
    assert_gone(e)


def test_sigint(engines):
    e = start_ready(engines)
    assert e.stop(signal.SIGINT, 30) == 0
    assert "stopping: SIGINT" in e.stderr()
    assert_gone(e)


def test_sigterm_during_startup(engines):
    e = engines(loopback_args(extra=["--conf", "spark.standin.startup.delay.ms=30000"]))
    wait_for(lambda: "delaying startup" in e.stderr(), 30, "Spark starting")
    t0 = time.monotonic()
    assert e.stop(signal.SIGTERM, 30) == 0
    assert time.monotonic() - t0 < 15
    assert "stopping: SIGTERM" in e.stderr()
    assert_gone(e)


def test_sigquit_thread_dump(engines):
    e = start_ready(engines)
    e.send(signal.SIGQUIT)
    wait_for(lambda: "Full thread dump" in e.stderr(), 20, "thread dump")
    assert '"main"' in e.stderr()
    assert e.alive() and config_call(e.connect_port)
    assert e.stop() == 0


def test_sigusr1_status_line(engines):
    e = start_ready(engines)
    e.send(signal.SIGUSR1)
    wait_for(lambda: re.search(r"status: state=READY connect=127\.0\.0\.1:%d alive=1"
                               % e.connect_port, e.stderr()), 10, "status line")
    assert e.stop() == 0


def test_sighup_reload(engines, tmp_path):
    cfg = tmp_path / "shim.conf"
    cfg.write_text("sparkshim.stop.timeout=10s\n")
    e = start_ready(engines, shim=["--config", str(cfg)])
    cfg.write_text("sparkshim.stop.timeout = 20s\nsparkshim.log.level=debug\n")
    e.send(signal.SIGHUP)
    wait_for(lambda: "SIGHUP: stop_timeout_ms 10000 -> 20000" in e.stderr(), 10, "reload")
    cfg.write_text("sparkshim.stop.timeout=never\n")
    e.send(signal.SIGHUP)
    wait_for(lambda: "SIGHUP: config not reloaded" in e.stderr(), 10, "bad reload refused")
    assert e.alive()
    assert e.stop() == 0


def test_system_exit_while_serving(engines):
    e = start_ready(engines, extra=["--conf", "spark.standin.serving.fault=exit",
                                    "--conf", "spark.standin.fault.exit.code=7",
                                    "--conf", "spark.standin.serving.fault.after.ms=4000"])
    port = e.connect_port
    assert e.wait_exit(30) == 7
    assert "Spark called System.exit(7)" in e.stderr()
    assert_gone(e, port)


def test_jvm_crash(engines):
    e = start_ready(engines, extra=["--conf", "spark.standin.serving.fault=segv",
                                    "--conf", "spark.standin.serving.fault.after.ms=4000",
                                    "--conf", "spark.driver.extraJavaOptions=-XX:-CreateCoredumpFile"])
    port = e.connect_port
    assert e.wait_exit(60) == EXIT_JVM_CRASH
    assert "the JVM crashed" in e.stderr()
    assert_gone(e, port)


def test_oom_during_startup(engines):
    e = engines(loopback_args(extra=["--conf", "spark.standin.startup.fault=oom",
                                     "--driver-memory", "64m"]))
    assert e.wait_exit(60) == EXIT_JVM_OOM
    assert "OutOfMemoryError" in e.stderr().splitlines()[-1]
    assert_gone(e)


def test_oom_while_serving_exit_on_oom(engines):
    e = start_ready(engines, extra=["--conf", "spark.standin.serving.fault=oom",
                                    "--conf", "spark.standin.serving.fault.after.ms=4000",
                                    "--driver-memory", "64m",
                                    "--conf", "spark.driver.extraJavaOptions=-XX:+ExitOnOutOfMemoryError"])
    assert e.wait_exit(60) == EXIT_JVM_OOM
    assert "ran out of memory" in e.stderr()
    assert_gone(e)


def test_spark_dies_while_serving(engines):
    e = start_ready(engines, extra=["--conf", "spark.standin.serving.fault=exception",
                                    "--conf", "spark.standin.serving.fault.after.ms=4000"])
    port = e.connect_port
    # Spark's main returns normally once its gRPC server terminated (as
    # real SparkConnectServer.main does): Spark stopped on its own.
    assert e.wait_exit(60) == EXIT_SPARK_DIED, e.stderr()[-2000:]
    assert "Spark stopped on its own while serving" in e.stderr()
    assert_gone(e, port)


def test_idle_timeout_with_nanotime_activity_clock(engines):
    """Newer Spark reports idleness with System.nanoTime(): an opaque mark."""
    e = start_ready(engines, extra=[
        "--conf", "spark.standin.list.clock=nanos",
        "--conf", "spark.kyuubi.session.engine.idle.timeout=PT1.5S",
        "--conf", "spark.kyuubi.session.engine.check.interval=200"])
    assert_idle_stop_only_after_stream(e, responses=15, idle_ms=1500, interval_ms=200)


# Slack for a loaded 2-core machine: the idle/max-lifetime stop may come
# this much after "value + one check interval" (the final activity query, a
# JNI call, runs in between), and clocks are read in whole milliseconds.
LATE_MS = 1000
EARLY_MS = 20


def stop_transition(events):
    """The one transition to STOPPING, after checking nothing else (no
    DRAINING, no second stop) happened: STARTING -> READY -> STOPPING."""
    tos = [x["to"] for x in events]
    # STOPPED happens after the control server ended the stream, if at all
    assert tos[:3] == ["STARTING", "READY", "STOPPING"] and tos[3:] in ([], ["STOPPED"]), events
    return events[2]


def test_idle_timeout_fires(engines):
    e = start_ready(engines, extra=[
        "--conf", "spark.kyuubi.session.engine.idle.timeout=PT2S",
        "--conf", "spark.kyuubi.session.engine.check.interval=200"])
    ev = EventFollower(e)
    assert e.wait_exit(30) == 0
    m = re.search(r"stopping: idle for (\d+) ms \(idle timeout 2000 ms\)", e.stderr())
    assert m, e.stderr()[-2000:]
    # idle is measured from READY (nothing ran): no earlier than the timeout,
    # no later than the timeout plus one check interval.
    assert 2000 <= int(m.group(1)) <= 2000 + 200 + LATE_MS, m.group(0)
    tr = ev.transitions()
    stopping, ready = stop_transition(tr), tr[1]
    waited = stopping["time_ms"] - ready["time_ms"]
    assert 2000 - EARLY_MS <= waited <= 2000 + 200 + LATE_MS, (waited, tr)
    assert "idle" in stopping["reason"]
    assert_gone(e)


def assert_idle_stop_only_after_stream(e, responses, idle_ms, interval_ms, reattachable=False):
    """A stream that runs for several idle timeouts: the engine must not
    begin a stop while it runs (a graceful stop would let it finish, so
    the stream's success alone proves nothing), and then stops by
    idleness. Checked three ways: the log while the stream still runs,
    the lifecycle events, and the time of STOPPING."""
    ev = EventFollower(e)
    seen = {}

    def on_response(n):
        # the second-to-last response: the operation still runs (the last
        # one is sent delay_ms later), so no stop may have begun yet
        if n == responses - 1:
            seen["log"] = e.stderr()
    t, out = long_stream(e.connect_port, responses=responses, delay_ms=200,
                         on_response=on_response, reattachable=reattachable)
    t.join(60)
    check_stream(out, responses, reattachable)
    assert "stopping:" not in seen["log"] and "draining" not in seen["log"], seen["log"][-2000:]
    # The engine stops only after the stream ended, by idleness.
    assert e.wait_exit(30) == 0
    assert "stopping: idle" in e.stderr()
    stopping = stop_transition(ev.transitions())
    assert "idle" in stopping["reason"]
    still_running = out["times"][-2]  # the server sent the last one after this
    assert stopping["time_ms"] >= still_running, (stopping, out["times"][-3:])
    # and no later than an idle timeout after the end, plus one check interval
    assert stopping["time_ms"] <= out["times"][-1] + idle_ms + interval_ms + LATE_MS, (
        stopping, out["times"][-1])


@REATTACH
def test_idle_timeout_not_during_long_stream(engines, reattachable):
    e = start_ready(engines, extra=[
        "--conf", "spark.kyuubi.session.engine.idle.timeout=PT1.5S",
        "--conf", "spark.kyuubi.session.engine.check.interval=200"])
    # ~5 s > 3x idle timeout
    assert_idle_stop_only_after_stream(e, responses=25, idle_ms=1500, interval_ms=200,
                                       reattachable=reattachable)


@REATTACH
def test_drain_with_running_operation(engines, reattachable):
    """Drain while an operation runs: the engine leaves the gateway at once
    (health NOT_SERVING, state DRAINING: new work is refused), the
    operation completes with all its responses, and only then does the
    engine stop, by itself, cleanly."""
    e = start_ready(engines)
    ev = EventFollower(e)
    seen = {}
    responses = 15

    def on_response(n):
        if n == responses - 1:  # the operation still runs (the last one comes 200 ms later)
            seen["log"] = e.stderr()
            seen["state"] = e.state()["state"]
    t, out = long_stream(e.connect_port, responses=responses, delay_ms=200,
                         on_response=on_response, reattachable=reattachable)
    assert out["first"].wait(30) and "error" not in out, out
    drained = run_ctl("--address", e.control_address, "drain", "--reason", "test")
    assert drained.returncode == CTL_OK, drained.stderr
    assert "drain requested (engine was READY)" in drained.stdout
    wait_for(lambda: (e.state() or {}).get("state") == "DRAINING", 10, "DRAINING")
    # the gateway-facing answer: not serving (new work refused); the control
    # server itself still answers
    health = run_ctl("--address", e.control_address, "health", SVC_CONNECT)
    assert health.returncode == CTL_NOT_SERVING, (health.stdout, health.stderr)
    again = run_ctl("--address", e.control_address, "drain")
    assert again.returncode == CTL_OK, again.stderr  # draining again: no second event
    t.join(60)
    check_stream(out, responses, reattachable)
    assert "stopping:" not in seen["log"], seen["log"][-2000:]
    assert seen["state"] == "DRAINING"
    assert e.wait_exit(30) == 0
    assert "stopping: drained: no operation running" in e.stderr()
    tr = ev.transitions()
    tos = [x["to"] for x in tr]
    assert tos[:4] == ["STARTING", "READY", "DRAINING", "STOPPING"] and tos[4:] in ([], ["STOPPED"]), tr
    # the stop began after the operation ended
    assert tr[3]["time_ms"] >= out["times"][-2], (tr[3], out["times"][-3:])
    assert_gone(e)


def test_max_lifetime(engines):
    e = start_ready(engines, extra=[
        "--conf", "spark.kyuubi.session.engine.spark.max.lifetime=PT8S",
        "--conf", "spark.kyuubi.session.engine.check.interval=200"])
    started = process_start_epoch_ms(e.pid)  # the kernel's record, not the engine's
    ev = EventFollower(e)
    assert e.wait_exit(30) == 0
    assert "max lifetime reached" in e.stderr()
    stopping = stop_transition(ev.transitions())
    assert "max lifetime" in stopping["reason"]
    # max lifetime counts from the engine's start: no earlier than 8 s, no
    # later than 8 s plus one check interval (the process start clock has
    # 10 ms ticks)
    lived = stopping["time_ms"] - started
    assert 8000 - EARLY_MS - 10 <= lived <= 8000 + 200 + LATE_MS, lived


def test_pid_file_refuses_second_instance(engines, tmp_path):
    pidf = str(tmp_path / "engine.pid")
    a = start_ready(engines, shim=["--pid-file", pidf])
    assert open(pidf).read().strip() == str(a.pid)
    b = engines(loopback_args(shim=["--pid-file", pidf]))
    assert b.wait_exit(30) == EXIT_ALREADY_RUNNING
    assert "locked by a running sparkshim (pid %d)" % a.pid in b.stderr()
    assert a.alive()
    assert a.stop() == 0
    assert not os.path.exists(pidf)


def test_exit_with_parent(engines, tmp_path):
    """--exit-with-parent: the engine stops (gracefully) when its parent dies."""
    import subprocess
    import sys
    script = tmp_path / "parent.py"
    script.write_text(
        "import subprocess, sys\n"
        "p = subprocess.Popen(sys.argv[1:])\n"
        "print(p.pid, flush=True)\n"
        "sys.stdin.read()\n")
    from engine import SHIM_BIN, STANDIN
    env = dict(os.environ, SPARK_HOME=STANDIN)
    env.pop("NOTIFY_SOCKET", None)
    args = [SHIM_BIN, "--state-file", str(tmp_path / "st.json"), "--exit-with-parent"] + \
        loopback_args()
    parent = subprocess.Popen([sys.executable, str(script)] + args, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                              cwd=str(tmp_path))
    child = int(parent.stdout.readline())
    try:
        wait_for(lambda: (tmp_path / "st.json").exists() and
                 '"READY"' in (tmp_path / "st.json").read_text(), 60, "READY")
        parent.kill()
        parent.wait(10)
        wait_for(lambda: no_process_left(child), 30, "engine gone after parent death")
        assert not (tmp_path / "st.json").exists()
    finally:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass


class NotifyListener:
    """A NOTIFY_SOCKET datagram socket recording (time, message)."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.msgs = []
        self.lock = threading.Lock()
        self.running = True
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        while self.running:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.msgs.append((time.monotonic(), data.decode()))

    def snapshot(self):
        with self.lock:
            return list(self.msgs)

    def close(self):
        self.running = False
        self.t.join(2)
        self.sock.close()


def test_sd_notify_sequence_and_watchdog(engines, tmp_path):
    n = NotifyListener(str(tmp_path / "notify.sock"))
    try:
        e = engines(loopback_args(shim=["--probe-interval", "300ms"]),
                    env={"NOTIFY_SOCKET": n.path, "WATCHDOG_USEC": "1000000"})
        e.wait_ready()
        wait_for(lambda: sum(m == "WATCHDOG=1" for _, m in n.snapshot()) >= 2, 10,
                 "watchdog pings while healthy")
        # Wedge the connect server: the probe stops getting answers and the
        # watchdog pings must stop while it lasts.
        with Client("127.0.0.1:%d" % e.connect_port) as c:
            try:
                c.config_set({"standin.wedge.ms": "6000"}, timeout=1)
            except Exception:
                pass
        t_wedge = time.monotonic()
        wait_for(lambda: "stopped answering" in e.stderr(), 10, "probe notices the wedge")
        t_noticed = time.monotonic()
        wait_for(lambda: "answers again" in e.stderr(), 20, "wedge over")
        t_back = time.monotonic()
        pings = [t for t, m in n.snapshot() if m == "WATCHDOG=1"]
        # From a second after the probe noticed until the JVM answered again: no ping.
        assert not [t for t in pings if t_noticed + 1.0 < t < t_back - 0.5], \
            (t_wedge, t_noticed, t_back, pings)
        wait_for(lambda: [t for t, m in n.snapshot() if m == "WATCHDOG=1" and t > t_back], 10,
                 "pings resume")
        assert e.stop() == 0
        msgs = [m for _, m in n.snapshot() if m != "WATCHDOG=1" and
                not m.startswith("EXTEND_TIMEOUT_USEC=")]
        want = [r"^STATUS=STARTING: Spark \S+ from ",
                r"^STATUS=READY: connect port answers$",
                r"^READY=1\nSTATUS=serving Spark Connect at sc://127\.0\.0\.1:\d+$",
                r"^STATUS=STOPPING: SIGTERM$",
                r"^STOPPING=1\nSTATUS=SIGTERM$",
                r"^STATUS=STOPPED: stopped cleanly",
                r"^STOPPING=1\nSTATUS=stopped cleanly"]
        assert len(msgs) == len(want), msgs
        for m, w in zip(msgs, want):
            assert re.search(w, m), (m, w, msgs)
        assert any(m.startswith("EXTEND_TIMEOUT_USEC=") for _, m in n.snapshot())
    finally:
        n.close()


def test_sd_notify_abstract_socket(engines):
    # NOTIFY_SOCKET="@name" is a socket in the abstract namespace (as
    # systemd's sd_notify(3) reads it).
    name = "sparkshim-test-%d-%d" % (os.getpid(), time.monotonic_ns())
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(60)
    try:
        e = engines(loopback_args(), env={"NOTIFY_SOCKET": "@" + name})
        e.wait_ready()
        deadline = time.monotonic() + 60
        got = []
        while time.monotonic() < deadline and not any(m.startswith("READY=1") for m in got):
            got.append(sock.recv(4096).decode())
        assert any(m.startswith("READY=1\nSTATUS=serving Spark Connect") for m in got), got
        assert e.stop() == 0
    finally:
        sock.close()
