"""Bad input is refused before any JVM starts, and Spark's reading of the
arguments is the shim's (issue 13, items 1 and 4).

"No JVM started" is proven, not assumed: every engine here runs with
JAVA_TOOL_OPTIONS=-Xlog:gc:file=<dir>/jvm-%p.log, which makes every JVM
(Spark's launcher JVM and the in-process driver JVM alike) create a file at
start. A refusal must leave that directory empty.
"""
import os
import socket
import uuid

from engine import STANDIN, loopback_args, no_process_left
from exitcodes import EXIT_PORT_IN_USE, EXIT_USAGE
from zkclient import ZkClient, nodes_with
from zkserver import zk  # noqa: F401  (fixture)

SCS = "org.apache.spark.sql.connect.service.SparkConnectServer"


def jvm_marker_env(tmp):
    d = os.path.join(str(tmp), "jvms")
    os.makedirs(d, exist_ok=True)
    return d, {"JAVA_TOOL_OPTIONS": "-Xlog:gc:file=%s/jvm-%%p.log" % d}


def error_lines(e):
    return [l for l in e.stderr().splitlines() if l.startswith("sparkshim: error: ")]


def refused_before_jvm(engines, tmp_path, args, code, needle, **kw):
    d, env = jvm_marker_env(tmp_path)
    env.update(kw.pop("env", {}))
    e = engines(args, env=env, **kw)
    assert e.wait_exit(60) == code, e.stderr()[-3000:]
    lines = error_lines(e)
    assert len(lines) == 1 and needle in lines[0], e.stderr()[-3000:]
    assert os.listdir(d) == [], "a JVM was started: %s\n%s" % (os.listdir(d), e.stderr())
    assert "Spark Connect server bound port" not in e.stderr()
    assert no_process_left(e.pid)
    assert not os.path.exists(e.state_file)
    return lines[0]


def test_marker_proves_a_jvm(engines, tmp_path):
    """The proof works: a good launch leaves JVM marker files."""
    d, env = jvm_marker_env(tmp_path)
    e = engines(loopback_args(), env=env)
    e.wait_ready()
    assert os.listdir(d)
    assert e.stop() == 0


def test_bad_control_address_syntax(engines, tmp_path):
    line = refused_before_jvm(engines, tmp_path, loopback_args(control="127.0.0.1:zz"),
                              EXIT_USAGE, "127.0.0.1:zz")
    assert "expected host:port" in line


def test_non_loopback_control_without_token(engines, tmp_path):
    line = refused_before_jvm(engines, tmp_path, loopback_args(control="0.0.0.0:0"),
                              EXIT_USAGE, "0.0.0.0:0 is not loopback")
    assert "token" in line


def test_fixed_control_port_taken(engines, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        refused_before_jvm(engines, tmp_path, loopback_args(control="127.0.0.1:%d" % port),
                           EXIT_PORT_IN_USE, "port in use")


def test_spark_refusal_before_jvm(engines, tmp_path):
    """What Spark's launcher refuses, refused with its message, before it runs."""
    args = ["--", "--bogus", "--class", SCS, "--conf", "spark.ui.enabled=false"]
    line = refused_before_jvm(engines, tmp_path, args, EXIT_USAGE,
                              "Unrecognized option: --bogus")
    assert "spark-submit" in line
    refused_before_jvm(engines, tmp_path, ["--", "--conf"], EXIT_USAGE,
                       "Missing argument for option '--conf'.", sub="missing")
    refused_before_jvm(engines, tmp_path, ["--", "--kill", "app-1"], EXIT_USAGE, "--kill",
                       sub="kill")
    refused_before_jvm(engines, tmp_path, ["--", "--driver-java-options", "-Dx=1 -Xmx1g"],
                       EXIT_USAGE, "Not allowed to specify max heap(Xmx)", sub="xmx")


def test_unknown_option_before_confs_keeps_registration(engines, tmp_path, zk):
    """The issue's example: --bogus-flag before the --confs. Spark reads the
    confs anyway, so the engine registers, and advertises the bound host."""
    ref = str(uuid.uuid4())
    ns = "/kyuubi_1.10.0_USER_SPARK_CONNECT/bob/default"
    args = ["--control-address", "127.0.0.1:0", "--bogus-flag",
            "--conf", "spark.kyuubi.engine.type=SPARK_CONNECT",
            "--conf", "spark.kyuubi.engine.share.level=USER",
            "--conf", "spark.kyuubi.ha.addresses=" + zk.address,
            "--conf", "spark.kyuubi.ha.namespace=" + ns,
            "--conf", "spark.kyuubi.ha.engine.ref.id=" + ref,
            "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
            "--conf", "spark.ui.enabled=false", "--master", "local[1]"]
    e = engines(args, spark_home=STANDIN)
    st = e.wait_ready()
    assert "unknown option --bogus-flag" in e.stderr()

    def node():
        names = nodes_with(zk.port, ns, "refId=" + ref)
        if not names:
            return None
        with ZkClient(zk.port) as c:
            return c.get(ns + "/" + names[0])[0].decode()
    from engine import wait_for
    data = wait_for(node, 60, "the engine's znode")
    assert data == "127.0.0.1:%d" % st["connect_port"], data
    assert e.stderr().count("registered with the gateway as") == 1, e.stderr()[-3000:]
    assert e.stop() == 0
