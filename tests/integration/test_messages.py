"""What the engine says is true and said once (issue 13, item 5).

- the "sparkshim.EngineStartException:" tag marks start failures only;
- `ctl events --timeout` ends normally;
- a ZooKeeper give-up says how long it really tried;
- a clean stop prints no WARN;
- a moved control port is said at INFO, on stdout and in the state file;
- unknown sparkshim.* keys are warned about with a did-you-mean from the one
  table of known keys (launcher/settings.c), which knows every key the
  sources read.
"""
import os
import re
import signal
import socket
import subprocess
import time
import uuid

from ctl_helpers import CTL_OK, run_ctl
from engine import ROOT, loopback_args, no_process_left, wait_for
from exitcodes import forced_by
from test_lifecycle import long_stream, start_ready
from zkclient import nodes_with
from zkserver import zk  # noqa: F401  (fixture)

TOOLS = os.environ.get("SPARKSHIM_TOOLS", os.path.join(ROOT, "build", "tools"))


def sparkshim_warnings(text, after=""):
    """Log lines at WARN from after the first line containing `after`."""
    if after:
        text = text[text.index(after):]
    return [l for l in text.splitlines() if re.match(r"\d\d/\d\d/\d\d \S+ WARN ", l)]


def test_forced_stop_of_a_serving_engine_has_no_start_tag(engines):
    """A second SIGTERM while a serving engine stops: no start failure."""
    e = start_ready(engines, shim=["--stop-timeout", "60s"],
                    extra=["--conf", "spark.kyuubi.ha.engine.ref.id=" + str(uuid.uuid4())])
    t, out = long_stream(e.connect_port, responses=200, delay_ms=200)
    assert out["first"].wait(30) and "error" not in out, out
    e.send(signal.SIGTERM)
    wait_for(lambda: "stopping: SIGTERM" in e.stderr(), 10, "graceful stop begun")
    assert e.stop(signal.SIGTERM, 10) == forced_by(signal.SIGTERM)
    err = e.stderr()
    assert "sparkshim: error: second SIGTERM: forced stop" in err
    assert "EngineStartException" not in err, err[-2000:]
    assert no_process_left(e.pid)


def test_start_failure_keeps_the_tag(engines):
    e = engines(loopback_args(extra=["--conf", "spark.kyuubi.ha.engine.ref.id=r1",
                                     "--conf", "spark.standin.startup.fault=exception"]))
    e.wait_exit(60)
    assert "sparkshim.EngineStartException: Spark failed to start" in e.stderr()


def test_ctl_events_timeout_is_a_normal_end(engines):
    e = start_ready(engines)
    t0 = time.monotonic()
    out = run_ctl("--address", e.control_address, "--timeout", "1", "events")
    assert out.returncode == CTL_OK, (out.returncode, out.stderr)
    assert "cannot reach" not in out.stderr
    assert "READY" in out.stdout
    assert time.monotonic() - t0 < 20
    assert e.stop() == 0


def test_zookeeper_give_up_says_how_long_it_tried(tmp_path):
    """The number in the message is the time really spent."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there
    t0 = time.monotonic()
    p = subprocess.run([os.path.join(TOOLS, "zkreg_driver"),
                        "--conf", "spark.kyuubi.ha.addresses=127.0.0.1:%d" % port,
                        "--conf", "spark.kyuubi.ha.namespace=/t",
                        "--conf", "spark.kyuubi.ha.zookeeper.connection.timeout=1500",
                        "--host", "127.0.0.1", "--port", "1"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    took_ms = (time.monotonic() - t0) * 1000
    m = re.search(r"gave up after (\d+) ms \(kyuubi.ha.zookeeper.connection.timeout=1500 ms\)",
                  p.stdout + p.stderr)
    assert m, p.stdout + p.stderr
    assert 1500 <= int(m.group(1)) <= took_ms + 50, (m.group(0), took_ms)


def test_clean_stop_prints_no_warning(engines):
    e = start_ready(engines)
    assert e.stop() == 0
    assert sparkshim_warnings(e.stderr(), after="stopping: SIGTERM") == [], e.stderr()[-2000:]


def test_moved_control_port_is_said(engines):
    """The default control port is the connect port + 1; when that is taken
    the engine says where it went: INFO, stdout's control: line, state file."""
    for _ in range(20):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        blocker = socket.socket()
        try:
            blocker.bind(("127.0.0.1", port + 1))
            break
        except OSError:
            blocker.close()
    blocker.listen(1)
    try:
        e = engines(loopback_args(port=port, control=None))
        st = e.wait_ready()
        moved = st["control_address"]
        assert moved and moved != "127.0.0.1:%d" % (port + 1), st
        taken = "127.0.0.1:%d" % (port + 1)
        assert re.search(r" INFO sparkshim: control port %s is taken: the control endpoint is %s"
                         % (re.escape(taken), re.escape(moved)), e.stderr()), e.stderr()[-2000:]
        wait_for(lambda: "control: " in e.stdout(), 10, "the control: line")
        assert "control: %s (%s (the connect port + 1) was taken)" % (moved, taken) \
            in e.stdout(), e.stdout()
        assert st["control_note"] == "%s (the connect port + 1) was taken" % taken, st
        assert e.stop() == 0
    finally:
        blocker.close()


def test_unknown_shim_keys_are_warned_with_a_suggestion(engines, tmp_path):
    cfg = tmp_path / "shim.conf"
    cfg.write_text("sparkshim.stop.timout=5s\nsparkshim.log.level=info\nsparkshim.zzz=1\n")
    e = start_ready(engines, shim=["--config", str(cfg)],
                    extra=["--conf", "spark.sparkshim.probe.intervall=3s"])
    err = e.stderr()
    assert ("WARN sparkshim: unknown key sparkshim.stop.timout in --config %s (ignored); "
            "did you mean sparkshim.stop.timeout?" % cfg) in err, err[-3000:]
    assert "unknown key sparkshim.zzz in --config %s (ignored)\n" % cfg in err
    assert ("unknown key sparkshim.probe.intervall (--conf spark.sparkshim.*) (ignored); "
            "did you mean sparkshim.probe.interval?") in err
    assert "sparkshim.log.level" not in err
    assert e.stop() == 0


def test_known_keys_table_knows_every_key_read():
    """Every "sparkshim.<key>" literal in the C sources is in the table."""
    with open(os.path.join(ROOT, "launcher", "settings.c")) as f:
        src = f.read()
    table = src[src.index("settings_known_keys[] = {"):]
    table = set(re.findall(r'"(sparkshim\.[a-z0-9.]+)"', table[:table.index("};")]))
    read = set()
    for d in ("base", "jni", "shim", "launcher"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, d)):
            for n in files:
                if n.endswith(".c"):
                    with open(os.path.join(dirpath, n)) as f:
                        read |= set(re.findall(r'"(?:spark\.)?(sparkshim\.[a-z0-9]+\.[a-z0-9.]+'
                                               r'|sparkshim\.cds)"', f.read()))
    # Not keys: the znode attribute and the gRPC package.
    read -= {"sparkshim.control", "sparkshim.v1"}
    assert read - table == set(), read - table
