"""Issue 13 item 7: the idle timeout per mode. Gateway engines keep Kyuubi's
default (30 min); manual and systemd-dedicated engines do not stop when idle
unless kyuubi.session.engine.idle.timeout says so. The start-up log names the
mode, the timeout and where it came from. Real binary, stand-in Spark."""
import os
import socket

from engine import ROOT, loopback_args, wait_for

WRAPPER = os.path.join(ROOT, "scripts", "spark-submit-wrapper.sh")
CONNECT_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


def policy_line(e):
    def line():
        for ln in e.stderr().splitlines():
            if "idle policy: " in ln:
                return ln.split("sparkshim: ", 1)[1]
        return None
    return wait_for(line, 60, "the idle policy line")


def test_manual_engine_has_no_idle_stop(engines):
    e = engines(loopback_args())
    assert policy_line(e) == "idle policy: manual engine, no idle stop (default for manual engines)"
    e.wait_ready()
    assert e.stop() == 0


def test_systemd_engine_has_no_idle_stop(engines, tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    try:
        e = engines(loopback_args(), env={"NOTIFY_SOCKET": path})
        assert policy_line(e) == \
            "idle policy: systemd engine, no idle stop (default for systemd engines)"
        e.wait_ready()
        assert e.stop() == 0
    finally:
        sock.close()


def test_configured_idle_timeout_applies_to_a_manual_engine(engines):
    e = engines(loopback_args(extra=[
        "--conf", "spark.kyuubi.session.engine.idle.timeout=PT1S",
        "--conf", "spark.kyuubi.session.engine.check.interval=200"]))
    assert policy_line(e) == ("idle policy: manual engine, stops after 1000 ms without work "
                              "(spark.kyuubi.session.engine.idle.timeout)")
    assert e.wait_exit(60) == 0
    assert "idle for " in e.stderr()


def test_gateway_engine_through_the_wrapper_keeps_kyuubis_default(engines, shim_bin):
    """Launched through scripts/spark-submit-wrapper.sh (exec: the wrapper's
    pid is the engine's) even without Kyuubi's confs."""
    args = ["--class", CONNECT_CLASS, "--master", "local[1]",
            "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
            "--conf", "spark.connect.grpc.binding.port=0",
            "--conf", "spark.ui.enabled=false",
            "--conf", "spark.sparkshim.control.address=off", "spark-internal"]
    e = engines(args, binary=WRAPPER, state_file=False, env={"SPARKSHIM_BIN": shim_bin})
    assert policy_line(e) == ("idle policy: gateway engine, stops after 1800000 ms without "
                              "work (Kyuubi's default for gateway engines)")
    wait_for(lambda: "serving Spark Connect at" in e.stderr(), 60, "READY")
    assert e.stop() == 0
