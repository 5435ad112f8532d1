"""The engine end to end: the real binary, a real in-process JVM running the
stand-in Spark, real gRPC clients. Startup failures each get their exit code
and one clear line, and leave nothing running."""
import os
import re
import signal
import socket
import subprocess

import pytest

from engine import (CONNECT_JARS, missing, JDK_BIN, SHIM_BIN, STANDIN, STANDIN_35, config_call,
                    free_port, loopback_args, no_process_left, port_open)

from exitcodes import (EXIT_BAD_SPARK_HOME, EXIT_JVM_CREATE, EXIT_NO_JAVA, EXIT_PORT_IN_USE,
                       EXIT_SPARK_START, EXIT_START_TIMEOUT, EXIT_USAGE)


def error_line(e):
    lines = [l for l in e.stderr().splitlines() if l.startswith("sparkshim: error: ")]
    assert lines, "no error line in stderr:\n" + e.stderr()[-3000:]
    return lines[-1]


def test_help_and_version(shim_bin):
    out = subprocess.run([shim_bin, "--help"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and "--stop-timeout" in out.stdout
    out = subprocess.run([shim_bin, "--version"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and re.match(r"sparkshim \d+\.\d+\.\d+", out.stdout)


def test_start_config_call_and_sigterm(engines):
    e = engines(loopback_args(port=0))
    st = e.wait_ready()
    port = st["connect_port"]
    assert port > 0 and st["connect_url"] == e.url() == "sc://127.0.0.1:%d" % port
    # A real Spark Connect client call through the printed port.
    resp = config_call(port, ["spark.app.name"])
    assert b"spark.app.name" in resp
    # jps -ml shows the engine like a java launch (Kyuubi kills by refId this way).
    jps = subprocess.run([os.path.join(JDK_BIN, "jps"), "-ml"], capture_output=True,
                         text=True, timeout=30).stdout
    assert re.search(r"^%d org\.apache\.spark\.deploy\.SparkSubmit .*SparkConnectServer" % e.pid,
                     jps, re.M), jps
    assert e.stop(signal.SIGTERM, timeout=30) == 0
    assert not port_open(port)
    assert no_process_left(e.pid)
    assert not os.path.exists(e.state_file)
    assert "stopped cleanly" in e.stderr()


def test_sigint_stops_cleanly(engines):
    e = engines(loopback_args(port=0))
    port = e.wait_ready()["connect_port"]
    assert e.stop(signal.SIGINT, timeout=30) == 0
    assert not port_open(port)


def test_fixed_port(engines):
    port = free_port()
    e = engines(loopback_args(port=port))
    assert e.wait_ready()["connect_port"] == port
    assert config_call(port)
    assert e.stop() == 0


def test_port_in_use(engines):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        e = engines(loopback_args(port=port))
        assert e.wait_exit(30) == EXIT_PORT_IN_USE
    line = error_line(e)
    assert str(port) in line and "in use" in line


def test_bad_spark_home(engines, tmp_path):
    e = engines(loopback_args(), spark_home=str(tmp_path / "nope"))
    assert e.wait_exit(30) == EXIT_BAD_SPARK_HOME
    assert "SPARK_HOME=%s" % (tmp_path / "nope") in error_line(e)
    (tmp_path / "empty" / "jars").mkdir(parents=True)
    e = engines(loopback_args(), spark_home=str(tmp_path / "empty"))
    assert e.wait_exit(30) == EXIT_BAD_SPARK_HOME
    assert "spark-core" in error_line(e)


def test_no_java(engines, tmp_path):
    e = engines(loopback_args(), env={"JAVA_HOME": str(tmp_path / "nojdk")})
    assert e.wait_exit(30) == EXIT_NO_JAVA
    assert "JAVA_HOME=%s" % (tmp_path / "nojdk") in error_line(e)
    e = engines(loopback_args(), env={"JAVA_HOME": None, "PATH": "/usr/sbin:/sbin"})
    assert e.wait_exit(30) == EXIT_NO_JAVA
    assert "no Java found" in error_line(e)


def test_jvm_creation_failure(engines):
    e = engines(loopback_args(extra=["--conf", "spark.driver.extraJavaOptions=-Xms1zz"]))
    assert e.wait_exit(60) == EXIT_JVM_CREATE
    line = error_line(e)
    assert "cannot create the JVM" in line and "1zz" in line, line


def test_spark_start_exception(engines):
    e = engines(loopback_args(extra=["--conf", "spark.standin.startup.fault=exception"]))
    assert e.wait_exit(60) == EXIT_SPARK_START
    line = error_line(e)
    assert "Spark failed to start" in line and "IllegalStateException" in line, line
    assert no_process_left(e.pid)


def test_spark_start_exit(engines):
    e = engines(loopback_args(extra=["--conf", "spark.standin.startup.fault=exit"]))
    assert e.wait_exit(60) == EXIT_SPARK_START
    assert "Spark failed to start" in error_line(e)


def test_start_timeout(engines):
    e = engines(loopback_args(shim=["--start-timeout", "2s"],
                              extra=["--conf", "spark.standin.startup.delay.ms=60000"]))
    assert e.wait_exit(60) == EXIT_START_TIMEOUT
    assert "start timeout" in error_line(e)
    assert no_process_left(e.pid)


def test_usage_errors(engines, shim_bin):
    for args, needle in ((["--stop-timeout", "soon"], "soon"),
                         (["--", "--bogus-option", "--class",
                           "org.apache.spark.sql.connect.service.SparkConnectServer"],
                          "Unrecognized option: --bogus-option"),
                         (["--", "--conf", "novalue"], "novalue"),
                         (["--", "--conf", "spark.connect.grpc.binding.port=99999"], "99999"),
                         (["--", "--conf", "spark.kyuubi.session.engine.idle.timeout=later"],
                          "later"),
                         (["--", "--conf", "spark.sparkshim.cache.max.age=0"],
                          "sparkshim.cache.max.age=0"),
                         (["--", "--conf", "spark.sparkshim.cache.max.size.mb=0"],
                          "sparkshim.cache.max.size.mb=0")):
        e = engines(args)
        assert e.wait_exit(30) == EXIT_USAGE, (args, e.stderr())
        assert needle in error_line(e)


def test_bundled_standin_when_no_spark_home(engines):
    e = engines(loopback_args(), spark_home=None, binary=SHIM_BIN)
    if not os.path.isdir(os.path.join(os.path.dirname(SHIM_BIN), "spark-home")):
        missing("no bundled stand-in next to %s (make standin)" % SHIM_BIN)
    e.wait_ready()
    assert "using the bundled stand-in Spark home" in e.stderr()
    assert e.stop() == 0


def test_spark35_needs_connect_jar(engines):
    if not os.path.isdir(STANDIN_35):
        missing("no 3.5 stand-in at %s (make standin)" % STANDIN_35)
    off = ["--front-door", "off"]  # the front door needs Spark 4 (test_front_door.py)
    e = engines(loopback_args(shim=off), spark_home=STANDIN_35)
    assert e.wait_exit(60) == EXIT_SPARK_START
    line = error_line(e)
    assert "could not load the main class" in line and "--packages" in line, line
    jar = [j for j in os.listdir(CONNECT_JARS) if j.startswith("spark-connect_2.12")][0]
    e = engines(loopback_args(shim=off, extra=["--jars", os.path.join(CONNECT_JARS, jar),
                                               "--conf", "spark.standin.bind.address=127.0.0.1"]),
                spark_home=STANDIN_35)
    st = e.wait_ready()
    assert st["spark_version"] == "3.5.3" and config_call(st["connect_port"])
    assert e.stop() == 0
    # --packages, resolved offline from an Ivy directory like a warmed-up cache.
    ivy = os.path.join(os.path.dirname(STANDIN), "connect-ivy")
    e = engines(loopback_args(shim=off, extra=["--packages", "org.apache.spark:spark-connect_2.12:3.5.3",
                                     "--conf", "spark.jars.ivy=" + ivy,
                                     "--conf", "spark.standin.bind.address=127.0.0.1"]),
                spark_home=STANDIN_35)
    assert config_call(e.wait_ready()["connect_port"])
    assert e.stop() == 0


def test_gateway_launch_errors_carry_exception_line(engines):
    """Kyuubi builds its launch error from engine-log lines with "Exception:"."""
    e = engines(loopback_args(extra=["--conf", "spark.kyuubi.ha.engine.ref.id=r-1",
                                     "--conf", "spark.standin.startup.fault=exit"]))
    assert e.wait_exit(60) == EXIT_SPARK_START
    lines = [l for l in e.stderr().splitlines() if "Exception: " in l]
    assert any(l.startswith("sparkshim.EngineStartException: Spark failed to start")
               for l in lines), e.stderr()[-2000:]


def held_port():
    """A listening socket on 127.0.0.1 that the caller holds: a port in use."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s


def ui_args(port):
    # the web UI on (loopback_args turns it off; the later --conf wins), on a
    # port that is in use, no retries
    return ["--conf", "spark.ui.enabled=true", "--conf", "spark.ui.port=%d" % port,
            "--conf", "spark.port.maxRetries=0"]


def test_web_ui_port_clash_is_not_the_connect_port(engines):
    """Spark's web UI cannot bind (4040 and up are often taken by other
    engines on the host): Spark logs "Failed to bind SparkUI" and exits 1.
    That is a start failure, not "Spark Connect could not bind its port"."""
    with held_port() as s:
        port = s.getsockname()[1]
        e = engines(loopback_args(extra=ui_args(port)), env={"SPARK_LOCAL_IP": "127.0.0.1"})
        assert e.wait_exit(60) == EXIT_SPARK_START, e.stderr()[-3000:]
    err = e.stderr()
    assert "ERROR SparkUI: Failed to bind SparkUI" in err
    line = error_line(e)
    assert "Spark failed to start: its web UI could not bind a port" in line, line
    assert "Service 'SparkUI' failed after 0 retries (starting from %d)" % port in line, line
    assert "Spark Connect could not bind" not in err
    assert no_process_left(e.pid)


def test_web_ui_binds_like_spark(engines):
    """With the UI on and a port for it, the engine serves and the UI port is
    bound while it runs, released after."""
    e = engines(loopback_args(extra=["--conf", "spark.ui.enabled=true",
                                     "--conf", "spark.ui.port=0"]),
                env={"SPARK_LOCAL_IP": "127.0.0.1"})
    e.wait_ready()
    m = re.search(r"Successfully started service 'SparkUI' on port (\d+)\.", e.stderr())
    assert m, e.stderr()[-3000:]
    ui = int(m.group(1))
    assert "Bound SparkUI to 127.0.0.1, and started at http://" in e.stderr()
    assert port_open(ui)
    assert e.stop() == 0
    assert not port_open(ui)
