"""Tests of the stand-in Spark homes on their own (no sparkshim involved).

Every server is a normal double-JVM launch through the home's bin/spark-submit, bound to
127.0.0.1 on a port the JVM picks (binding.port=0, read back from the startup log line), and
killed in teardown. Readiness is awaited by polling the log with a deadline.

Run:  SPARKSHIM_STANDIN=$PWD/build/spark-home /usr/bin/python3 -m pytest -q tests/integration/test_standin.py
"""

import os
import re
import resource
import signal
import socket
import subprocess
import time
import uuid
import zlib
import zipfile

import grpc
import pytest

from engine import missing
from sparkconnect_wire import Client

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOME = os.path.abspath(os.environ.get("SPARKSHIM_STANDIN")
                       or os.path.join(REPO, "build", "spark-home"))
HOME35 = HOME + "-3.5"
BUILD = os.path.dirname(HOME)
CONNECT_JAR35 = os.path.join(BUILD, "connect-jars", "spark-connect_2.12-3.5.3.jar")
CONNECT_IVY = os.path.join(BUILD, "connect-ivy")
SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
STARTED_RE = re.compile(r"Spark Connect server started at: (\S+):(\d+)")
START_TIMEOUT = 60.0

@pytest.fixture(autouse=True)
def _home_built():
    if not os.path.isfile(os.path.join(HOME, "RELEASE")):
        missing("stand-in home not built (make standin): %s" % HOME)


# ---------------------------------------------------------------------------------------
# Process helpers
# ---------------------------------------------------------------------------------------

def clean_env(extra=None):
    """The caller's environment minus anything that would steer Spark elsewhere."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("SPARK_") or k in ("MASTER", "DEPLOY_MODE"))}
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    env["SPARK_LOCAL_HOSTNAME"] = "localhost"
    env.update(extra or {})
    return env


def no_core():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class Proc:
    """A process we started, with its merged stdout+stderr in a log file."""

    def __init__(self, argv, tmp, env, stdin=None, name="proc"):
        self.log_path = os.path.join(tmp, "%s-%s.log" % (name, uuid.uuid4().hex[:8]))
        self._log = open(self.log_path, "wb")
        self.popen = subprocess.Popen(
            argv, cwd=tmp, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            start_new_session=True, preexec_fn=no_core)
        self.port = None

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_for(self, pattern, timeout=START_TIMEOUT):
        """Poll the log for a regex until found, the process exits, or the deadline."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = rx.search(self.log())
            if m:
                return m
            if self.popen.poll() is not None:
                m = rx.search(self.log())
                if m:
                    return m
                raise AssertionError("process exited (%s) before %r:\n%s"
                                     % (self.popen.returncode, pattern, self.log()[-4000:]))
            time.sleep(0.05)
        raise AssertionError("timeout waiting for %r:\n%s" % (pattern, self.log()[-4000:]))

    def wait_exit(self, timeout=START_TIMEOUT):
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("process still running after %ss:\n%s"
                                 % (timeout, self.log()[-4000:]))

    def kill(self):
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        self._log.close()


@pytest.fixture
def spawn(tmp_path):
    """Factory starting processes in tmp_path; all of them are killed at teardown."""
    procs = []

    def start(argv, env=None, stdin=None, name="proc"):
        p = Proc(argv, str(tmp_path), clean_env(env), stdin, name)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.kill()


def submit_argv(home, *args):
    return [os.path.join(home, "bin", "spark-submit")] + list(args)


def server_args(*extra, port=0, address="127.0.0.1"):
    args = ["--class", SERVER_CLASS,
            "--conf", "spark.connect.grpc.binding.port=%d" % port,
            "--driver-java-options", "-XX:-CreateCoredumpFile"]
    if address:
        args += ["--conf", "spark.connect.grpc.binding.address=%s" % address]
    return args + list(extra)


def start_server(spawn, *extra, home=HOME, env=None, port=0, address="127.0.0.1"):
    p = spawn(submit_argv(home, *server_args(*extra, port=port, address=address)), env=env,
              name="server")
    m = p.wait_for(STARTED_RE.pattern)
    assert m.group(1) == "127.0.0.1", m.group(0)
    p.port = int(m.group(2))
    return p


def client(server, **kw):
    return Client("127.0.0.1:%d" % server.port, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launcher(home, *args, env=None):
    """Run the launcher JVM the way spark-class does and return (stdout bytes, stderr)."""
    e = clean_env(env)
    e["SPARK_HOME"] = home
    r = subprocess.run(["java", "-Xmx128m", "-cp", os.path.join(home, "jars", "*"),
                        "org.apache.spark.launcher.Main", "org.apache.spark.deploy.SparkSubmit"]
                       + list(args), env=e, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout, r.stderr.decode()


def parse_launcher(out):
    assert out.startswith(b"\0\n"), out[:40]
    body = out[2:]
    assert body.endswith(b"\0")
    return [a.decode() for a in body[:-1].split(b"\0")]


def rpc_error(fn, *args, **kw):
    with pytest.raises(grpc.RpcError) as ei:
        fn(*args, **kw)
    return ei.value


# ---------------------------------------------------------------------------------------
# Layout and launcher
# ---------------------------------------------------------------------------------------

def test_layout():
    for home, ver, sb, hadoop in ((HOME, "4.0.1", "2.13", "3.4.1"),
                                  (HOME35, "3.5.3", "2.12", "3.3.4")):
        with open(os.path.join(home, "RELEASE")) as f:
            assert f.readline().strip() == "Spark %s built for Hadoop %s" % (ver, hadoop)
        for script in ("bin/spark-submit", "bin/spark-class", "bin/load-spark-env.sh",
                       "sbin/start-connect-server.sh"):
            assert os.access(os.path.join(home, script), os.X_OK), script
        for tmpl in ("log4j2.properties.template", "spark-defaults.conf.template"):
            assert os.path.isfile(os.path.join(home, "conf", tmpl))
        jars = set(os.listdir(os.path.join(home, "jars")))
        for j in ("spark-core_%s-%s.jar", "spark-launcher_%s-%s.jar", "spark-sql_%s-%s.jar"):
            assert j % (sb, ver) in jars
        assert any(j.startswith("scala-library-%s." % sb) for j in jars)
        assert any(j.startswith("grpc-netty-") for j in jars)
        assert any(j.startswith("protobuf") for j in jars)
        with zipfile.ZipFile(os.path.join(home, "jars", "spark-core_%s-%s.jar" % (sb, ver))) as z:
            assert "version=%s" % ver in z.read("spark-version-info.properties").decode()
    assert "spark-connect_2.13-4.0.1.jar" in os.listdir(os.path.join(HOME, "jars"))
    assert not [j for j in os.listdir(os.path.join(HOME35, "jars")) if "connect" in j]
    assert os.path.isfile(CONNECT_JAR35)
    assert os.path.isfile(os.path.join(
        CONNECT_IVY, "jars", "org.apache.spark_spark-connect_2.12-3.5.3.jar"))


def test_launcher_command(tmp_path):
    out, _ = launcher(HOME, "--class", SERVER_CLASS, "--driver-memory", "2g",
                      "--driver-java-options", "-Da=1 -Db='x y'", "--driver-class-path", "/x:/y",
                      "--conf", "spark.connect.grpc.binding.port=0", "--name", "n", "extra")
    cmd = parse_launcher(out)
    assert cmd[0].endswith("/bin/java")
    assert cmd[1] == "-cp"
    assert cmd[2] == "/x:/y:hive-jackson/*:%s/conf/:%s/jars/*" % (HOME, HOME)
    assert cmd[3:6] == ["-Xmx2g", "-Da=1", "-Db=x y"]
    assert "-XX:+IgnoreUnrecognizedVMOptions" in cmd
    assert "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED" in cmd
    i = cmd.index("org.apache.spark.deploy.SparkSubmit")
    rest = cmd[i + 1:]
    # The special class gets the spark-internal resource; unknown args become app args.
    assert rest[-2:] == ["spark-internal", "extra"]
    assert rest[rest.index("--class") + 1] == SERVER_CLASS
    confs = {rest[j + 1] for j, a in enumerate(rest) if a == "--conf"}
    assert {"spark.driver.memory=2g", "spark.connect.grpc.binding.port=0",
            "spark.driver.extraClassPath=/x:/y"} <= confs
    assert rest[rest.index("--name") + 1] == "n"

    # 3.5: no hive-jackson default class path, no vector module.
    cmd35 = parse_launcher(launcher(HOME35, "--class", "x.Y", "app.jar")[0])
    assert cmd35[2] == "%s/conf/:%s/jars/*" % (HOME35, HOME35)
    assert "--add-modules=jdk.incubator.vector" not in cmd35
    assert cmd35[-3:] == ["--class", "x.Y", "app.jar"]


def test_launcher_properties_file_and_env(tmp_path):
    props = tmp_path / "p.conf"
    props.write_text("spark.driver.memory 3g\nspark.driver.extraJavaOptions -Dfrom=props\n")
    cmd = parse_launcher(launcher(HOME, "--properties-file", str(props), "--class", "a.B",
                                  "app.jar")[0])
    assert "-Xmx3g" in cmd and "-Dfrom=props" in cmd
    assert cmd[cmd.index("--properties-file") + 1] == str(props)
    # --driver-memory beats the file; SPARK_DRIVER_MEMORY is only a fallback.
    cmd = parse_launcher(launcher(HOME, "--properties-file", str(props), "--driver-memory", "5g",
                                  "--class", "a.B", "app.jar")[0])
    assert "-Xmx5g" in cmd
    cmd = parse_launcher(launcher(HOME, "--class", "a.B", "app.jar",
                                  env={"SPARK_DRIVER_MEMORY": "700m"})[0])
    assert "-Xmx700m" in cmd
    # Connect server is a daemon: SPARK_DAEMON_MEMORY wins.
    cmd = parse_launcher(launcher(HOME, "--class", SERVER_CLASS,
                                  env={"SPARK_DAEMON_MEMORY": "600m"})[0])
    assert "-Xmx600m" in cmd


def test_launcher_usage_errors():
    out, err = launcher(HOME, "--class", "a.B", "--bogus")
    assert "Error: Unrecognized option: --bogus" in err
    assert parse_launcher(out)[-3:] == ["--class", "a.B", "--usage-error"]
    out, err = launcher(HOME, "--driver-java-options", "-Xmx4g", "--class", "a.B", "app.jar")
    assert "Not allowed to specify max heap(Xmx) memory settings" in err
    assert parse_launcher(out)[-1] == "--usage-error"
    out, err = launcher(HOME, "--class", "a.B")
    assert "Error: Missing application resource." in err
    assert parse_launcher(out)[-1] == "--usage-error"


def test_spark_submit_usage_and_version(spawn):
    p = spawn(submit_argv(HOME, "--bogus"))
    assert p.wait_exit() == 1
    log = p.log()
    assert "Error: Unrecognized option: --bogus" in log
    assert "Usage: spark-submit" in log
    p = spawn(submit_argv(HOME, "--version"))
    assert p.wait_exit() == 0
    assert "version 4.0.1" in p.log()


# ---------------------------------------------------------------------------------------
# Spark Connect 4.0.1 over the wire (one shared server)
# ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server40(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("server40"))
    p = Proc(submit_argv(HOME, *server_args()), tmp, clean_env(), name="server40")
    try:
        m = p.wait_for(STARTED_RE.pattern)
        p.port = int(m.group(2))
        yield p
    finally:
        p.kill()


def test_startup_log_lines(server40):
    log = server40.log()
    assert "Using Spark's default log4j profile" in log
    assert re.search(r"\d\d/\d\d/\d\d \d\d:\d\d:\d\d INFO SparkContext: Running Spark version 4.0.1",
                     log)
    assert "INFO SparkConnectServer: Starting Spark session." in log
    assert ("INFO Utils: Successfully started service "
            "'org.apache.spark.sql.connect.service.SparkConnectService' on port %d."
            % server40.port) in log


def test_config_roundtrip(server40):
    with client(server40) as c:
        resp = c.config_set({"spark.sql.shuffle.partitions": "7", "my.key": "v"})
        assert resp.str(1) == c.session_id
        ssid = resp.str(4)
        uuid.UUID(ssid)
        assert c.config_get(["spark.sql.shuffle.partitions", "my.key"]) == {
            "spark.sql.shuffle.partitions": "7", "my.key": "v"}
        assert c.config_get(["spark.sql.ansi.enabled"]) == {"spark.sql.ansi.enabled": "true"}
        assert c.config_get_option(["missing", "my.key"]) == {"missing": None, "my.key": "v"}
        assert c.config_get_with_default({"missing": "d", "my.key": "x"}) == {
            "missing": "d", "my.key": "v"}
        assert c.config_get_all("spark.sql.shuffle") == {"spark.sql.shuffle.partitions": "7"}
        assert "spark.app.name" in c.config_get_all()
        c.config_unset(["my.key"])
        assert c.config_get_option(["my.key"]) == {"my.key": None}
        err = rpc_error(c.config_get, ["my.key"])
        assert err.code() == grpc.StatusCode.INTERNAL
        assert err.details().startswith("[SQL_CONF_NOT_FOUND]")
        assert c.config_is_modifiable(["spark.sql.x", "spark.connect.grpc.binding.port"]) == {
            "spark.sql.x": "true", "spark.connect.grpc.binding.port": "false"}
        err = rpc_error(c.config_set, {"spark.connect.grpc.binding.port": "1"})
        assert "CANNOT_MODIFY_STATIC_CONFIG" in err.details()
        assert c.server_side_session_id == ssid
        assert c.spark_version() == "4.0.1"
        # Same session id, different user: a different session.
        with client(server40, session_id=c.session_id, user_id="other") as o:
            assert o.config_get_option(["spark.sql.shuffle.partitions"]) == {
                "spark.sql.shuffle.partitions": "200"}


def test_session_errors(server40):
    with client(server40, session_id="not-a-uuid") as c:
        err = rpc_error(c.spark_version)
        assert err.code() == grpc.StatusCode.INTERNAL
        assert err.details().startswith("[INVALID_HANDLE.FORMAT]")
    with client(server40) as c:
        c.spark_version()
        bad = c.head() + b"\x42\x05" + b"wrong"  # client_observed_server_side_session_id = 8
        err = rpc_error(c.unary, "Config", bad + b"\x1a\x02\x2a\x00")
        assert "INVALID_HANDLE.SESSION_CHANGED" in err.details()
        assert c.release_session() == (c.session_id, c.server_side_session_id)
        err = rpc_error(c.config_get_all)
        assert "[INVALID_HANDLE.SESSION_CLOSED]" in err.details()
    with client(server40) as c:
        details = c.fetch_error_details("e1")
        assert details.str(4) == c.session_id and not details.has(1)


def test_unknown_method_unimplemented(server40):
    with client(server40) as c:
        err = rpc_error(c.unary, "CloneSession", c.head())
        assert err.code() == grpc.StatusCode.UNIMPLEMENTED


def test_execute_plan_stream(server40):
    with client(server40) as c:
        op, call = c.execute(responses=5, size=3000, tags=["mine"])
        rs = list(c.responses_of(call))
        assert len(rs) == 6
        assert all(r.arrow_batch and len(r.data) == 3000 and r.row_count == 1 for r in rs[:5])
        assert rs[-1].result_complete
        assert {r.operation_id for r in rs} == {op}
        assert {r.session_id for r in rs} == {c.session_id}
        assert len({r.response_id for r in rs}) == 6
        assert rs[0].server_side_session_id
        # Non-reattachable: gone once the stream completed.
        err = rpc_error(lambda: list(c.reattach(op)))
        assert "OPERATION_NOT_FOUND" in err.details()
        err = rpc_error(lambda: list(c.execute(operation_id="bad")[1]))
        assert "INVALID_HANDLE.FORMAT" in err.details()


def test_execute_large_payload(server40):
    with client(server40) as c:
        rs = c.execute_all(responses=3, size=8 << 20)
        assert [len(r.data) for r in rs[:3]] == [8 << 20] * 3 and rs[3].result_complete


def test_interrupt_by_tag_and_operation(server40):
    with client(server40) as c:
        op, call = c.execute(responses=100000, delay_ms=10, tags=["t-slow"])
        it = c.responses_of(call)
        next(it)
        assert c.interrupt_tag("t-slow") == [op]
        err = rpc_error(lambda: list(it))
        assert err.code() == grpc.StatusCode.INTERNAL
        assert err.details().startswith("[OPERATION_CANCELED]")
        op2, call2 = c.execute(responses=100000, delay_ms=10)
        it2 = c.responses_of(call2)
        next(it2)
        assert c.interrupt_operation(op2) == [op2]
        assert c.interrupt_operation(op2) == []
        with pytest.raises(grpc.RpcError):
            list(it2)
        op3, call3 = c.execute(responses=100000, delay_ms=10)
        next(c.responses_of(call3))
        assert c.interrupt_all() == [op3]
        call3.cancel()


def test_reattach_and_release(server40):
    with client(server40) as c:
        op, call = c.execute(responses=6, size=10, detach_after=2, reattachable=True)
        first = list(c.responses_of(call))
        assert len(first) == 2 and not first[-1].result_complete
        second = list(c.responses_of(c.reattach(op, first[-1].response_id)))
        assert len(second) == 2
        # Replay from an earlier point works until it is released.
        again = list(c.responses_of(c.reattach(op, first[0].response_id)))
        assert [r.response_id for r in again] == [first[1].response_id, second[0].response_id]
        assert c.release_execute(op, until_response_id=second[1].response_id) == op
        err = rpc_error(lambda: list(c.reattach(op, first[0].response_id)))
        assert "INVALID_CURSOR.POSITION_NOT_AVAILABLE" in err.details()
        rest = []
        last = second[-1].response_id
        while not (rest and rest[-1].result_complete):
            chunk = list(c.responses_of(c.reattach(op, last)))
            rest += chunk
            last = chunk[-1].response_id
        assert len(rest) == 3 and rest[-1].result_complete
        assert c.release_execute(op) == op
        err = rpc_error(lambda: list(c.reattach(op)))
        assert "OPERATION_NOT_FOUND" in err.details()
        assert c.release_execute(op) is None
        rs = c.execute_all(responses=7, detach_after=3)
        assert len(rs) == 8 and rs[-1].result_complete


def test_add_artifacts(server40):
    big = os.urandom(200 * 1024)
    with client(server40) as c:
        got = c.add_artifacts([("jars/a.jar", b"abc"), ("jars/big.jar", big),
                               ("classes/C.class", b"xyz")], corrupt={"classes/C.class"})
        assert got == [("jars/a.jar", True), ("jars/big.jar", True), ("classes/C.class", False)]
        assert c.artifact_status(["jars/big.jar", "jars/nope.jar"]) == {
            "jars/big.jar": True, "jars/nope.jar": False}

        assert c.config_get(["standin.artifact.jars/big.jar"]) == {
            "standin.artifact.jars/big.jar": "%d:%x" % (len(big), zlib.crc32(big))}


# ---------------------------------------------------------------------------------------
# Server options and failures (own servers)
# ---------------------------------------------------------------------------------------

def test_auth_token(spawn):
    s = start_server(spawn, env={"SPARK_CONNECT_AUTHENTICATE_TOKEN": "s3cret"})
    with client(s) as c:
        err = rpc_error(c.spark_version)
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED
        assert err.details() == "No authentication token provided"
    with client(s, token="wrong") as c:
        err = rpc_error(c.spark_version)
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED
        assert err.details() == "Invalid authentication token"
    with client(s, token="s3cret") as c:
        assert c.spark_version() == "4.0.1"


def test_auth_token_conf_and_max_inbound(spawn):
    s = start_server(spawn, "--conf", "spark.connect.authenticate.token=t0k",
                     "--conf", "spark.connect.grpc.maxInboundMessageSize=2k")
    with client(s, token="t0k") as c:
        c.config_set({"small": "x"})
        err = rpc_error(c.config_set, {"big": "x" * 8192})
        # Newer grpc-java answers RESOURCE_EXHAUSTED; Debian's 1.41 races between that,
        # INTERNAL ("Half-closed without a request") and an RST_STREAM (CANCELLED).
        assert err.code() in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INTERNAL,
                              grpc.StatusCode.CANCELLED)
        assert c.config_get_option(["big"]) == {"big": None}


def test_bind_failure_port_taken(spawn):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        p = spawn(submit_argv(HOME, *server_args(port=port)), name="server")
        assert p.wait_exit() == 255
    log = p.log()
    assert "ERROR SparkConnectServer: Error starting Spark Connect server" in log
    assert "java.net.BindException: Failed to bind to address" in log
    assert "failed after 0 retries (starting from %d)!" % port in log


def test_port_retries(spawn):
    for _ in range(20):
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen(1)
            port = holder.getsockname()[1]
            try:
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            s = start_server(spawn, "--conf", "spark.connect.grpc.port.maxRetries=3", port=port)
            assert s.port == port + 1
            assert "could not bind on port %d. Attempting port %d." % (port, port + 1) in s.log()
            return
    pytest.skip("no pair of adjacent free ports")


def test_privileged_port_rejected(spawn):
    p = spawn(submit_argv(HOME, *server_args(port=80)), name="server")
    assert p.wait_exit() == 255
    assert "startPort should be between 1024 and 65535" in p.log()


def test_start_connect_server_script(spawn):
    p = spawn([os.path.join(HOME, "sbin", "start-connect-server.sh"), "--wait",
               "--conf", "spark.connect.grpc.binding.port=0",
               "--conf", "spark.connect.grpc.binding.address=127.0.0.1"], name="sbin")
    m = p.wait_for(STARTED_RE.pattern)
    assert "Submitted application: Spark Connect server" in p.log()
    with Client("127.0.0.1:%s" % m.group(2)) as c:
        assert c.spark_version() == "4.0.1"


def test_sigterm_runs_shutdown_hook(spawn):
    s = start_server(spawn)
    os.kill(s.popen.pid, signal.SIGTERM)
    assert s.wait_exit(30) == 143
    log = s.log()
    assert "Invoking stop() from shutdown hook" in log
    assert "Shutdown hook called" in log


def test_startup_delay(spawn):
    t0 = time.monotonic()
    s = start_server(spawn, "--conf", "spark.standin.startup.delay.ms=1500")
    assert time.monotonic() - t0 >= 1.5
    assert "standin: delaying startup by 1500 ms" in s.log()


@pytest.mark.parametrize("fault,code,needle", [
    ("exit", 7, "injecting startup fault 'exit'"),
    ("oom", 1, 'Exception in thread "main" java.lang.OutOfMemoryError: Java heap space'),
    ("exception", 255, "Error starting Spark Connect server"),
])
def test_startup_faults(spawn, fault, code, needle):
    env = {"SPARK_STANDIN_STARTUP_FAULT": fault, "SPARK_STANDIN_FAULT_EXIT_CODE": str(code)}
    p = spawn(submit_argv(HOME, "--driver-memory", "64m", *server_args()), env=env, name="fault")
    assert p.wait_exit() == code
    assert needle in p.log()
    assert "Spark Connect server started at" not in p.log()


def test_startup_segv(spawn, tmp_path):
    p = spawn(submit_argv(HOME, *server_args(
        "--conf", "spark.standin.startup.fault=segv",
        "--conf", "spark.driver.extraJavaOptions=-XX:-CreateCoredumpFile "
                  "-XX:ErrorFile=%s/hs_err_%%p.log" % tmp_path)),
        name="segv")
    rc = p.wait_exit()
    # HotSpot's fatal error handler exits with 1 when it must not dump core (abort() otherwise).
    assert rc in (1, -signal.SIGABRT), rc
    assert "SIGSEGV" in p.log()
    assert [f for f in os.listdir(tmp_path) if f.startswith("hs_err_")]
    assert not [f for f in os.listdir(tmp_path) if f.startswith("core")]


def test_serving_fault_exit(spawn):
    s = start_server(spawn, "--conf", "spark.standin.serving.fault=exit",
                     "--conf", "spark.standin.serving.fault.after.ms=300",
                     "--conf", "spark.standin.fault.exit.code=9")
    assert s.wait_exit() == 9


def test_serving_fault_exception_ends_main(spawn):
    """As real SparkConnectServer.main: when the gRPC server terminates on its
    own, main stops the service and the session in its finally and returns
    normally; nothing is rethrown."""
    s = start_server(spawn, "--conf", "spark.standin.serving.fault=exception",
                     "--conf", "spark.standin.serving.fault.after.ms=300")
    assert s.wait_exit() == 0
    log = s.log()
    assert "standin: serving failure, terminating the gRPC server" in log
    assert 'Exception in thread "main"' not in log
    assert "Successfully stopped SparkContext" in log


def test_web_ui_binds_and_clashes_like_spark(spawn):
    """The UI binds on SPARK_LOCAL_IP, spark.ui.port, with spark.port.maxRetries
    retries; when it cannot: "Failed to bind SparkUI", the BindException, exit 1
    (WebUI.bind's System.exit(1)), before any connect server starts."""
    s = start_server(spawn, "--conf", "spark.ui.port=0")
    m = re.search(r"Successfully started service 'SparkUI' on port (\d+)\.", s.log())
    assert m, s.log()[-3000:]
    ui = int(m.group(1))
    with socket.create_connection(("127.0.0.1", ui), timeout=5) as c:
        assert c.recv(64).startswith(b"HTTP/1.1 302")
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        p = spawn(submit_argv(HOME, *server_args("--conf", "spark.ui.port=%d" % port,
                                                 "--conf", "spark.port.maxRetries=0")),
                  name="clash")
        assert p.wait_exit() == 1
    log = p.log()
    assert "ERROR SparkUI: Failed to bind SparkUI" in log
    assert ("java.net.BindException: Failed to bind to /127.0.0.1:%d: Service 'SparkUI' failed "
            "after 0 retries (starting from %d)!" % (port, port)) in log
    assert "Spark Connect server started" not in log


def test_wedge(spawn):
    s = start_server(spawn)
    with client(s) as c:
        c.config_set({"standin.wedge.ms": "3000"})
        t0 = time.monotonic()
        err = rpc_error(c.config_get_all, timeout=0.5)
        assert err.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        with socket.create_connection(("127.0.0.1", s.port), timeout=2):
            pass  # TCP still accepts
        deadline = time.monotonic() + 15
        while True:
            try:
                c.config_get_all(timeout=0.5)
                break
            except grpc.RpcError:
                assert time.monotonic() < deadline, "server stayed wedged"
                time.sleep(0.1)
        assert time.monotonic() - t0 >= 2.5
    assert "standin: wedging the gRPC call executor for 3000 ms" in s.log()


# ---------------------------------------------------------------------------------------
# Spark 3.5.3 home: connect jar through --jars / --packages
# ---------------------------------------------------------------------------------------

def test_35_needs_connect_jar(spawn):
    p = spawn(submit_argv(HOME35, *server_args()), name="s35")
    assert p.wait_exit() == 101
    log = p.log()
    assert "Error: Failed to load class %s." % SERVER_CLASS in log
    assert "You need to specify Spark Connect jars with --jars or --packages." in log


def test_35_with_jars(spawn):
    s = start_server(spawn, "--jars", CONNECT_JAR35,
                     "--conf", "spark.standin.bind.address=127.0.0.1", home=HOME35)
    log = s.log()
    assert "Running Spark version 3.5.3" in log
    # 3.5 starts its connect server without startServiceOnPort (the UI still uses it)
    assert "Successfully started service 'org.apache.spark.sql.connect.service.SparkConnectService'" not in log
    with client(s) as c:
        assert c.spark_version() == "3.5.3"
        assert c.server_side_session_id is None
        rs = c.execute_all(responses=2)
        assert rs[-1].result_complete and rs[0].server_side_session_id == ""
        assert rpc_error(c.release_session).code() == grpc.StatusCode.UNIMPLEMENTED


def test_35_packages_offline(spawn, tmp_path):
    s = start_server(spawn, "--packages", "org.apache.spark:spark-connect_2.12:3.5.3",
                     "--conf", "spark.jars.ivy=%s" % CONNECT_IVY,
                     "--conf", "spark.standin.bind.address=127.0.0.1", home=HOME35)
    assert "found org.apache.spark#spark-connect_2.12;3.5.3" in s.log()
    p = spawn(submit_argv(HOME35, "--packages", "org.apache.spark:spark-connect_2.12:3.5.3",
                          "--conf", "spark.jars.ivy=%s" % tmp_path, *server_args()), name="nopkg")
    assert p.wait_exit() == 1
    assert ("java.lang.RuntimeException: [unresolved dependency: "
            "org.apache.spark#spark-connect_2.12;3.5.3: not found]") in p.log()


# ---------------------------------------------------------------------------------------
# The JVM-level API the shim calls (plugin start, localPort, stop, listActiveExecutions)
# ---------------------------------------------------------------------------------------

PROBE = r"""
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.reflect.Method;
import java.util.concurrent.TimeUnit;
import org.apache.spark.SparkContext;
import org.apache.spark.sql.SparkSession;

/** Calls the Connect API by name and erased signature, as JNI would, via the TCCL. */
public class Probe {
  static void p(String s) { System.out.println(s); System.out.flush(); }
  static String err(Throwable t) {
    while (t instanceof java.lang.reflect.InvocationTargetException) t = t.getCause();
    return t.getClass().getName() + ": " + t.getMessage();
  }
  public static void main(String[] args) throws Exception {
    ClassLoader tccl = Thread.currentThread().getContextClassLoader();
    p("TCCL " + tccl.getClass().getName());
    Class<?> obj = Class.forName(
        "org.apache.spark.sql.connect.service.SparkConnectService$", true, tccl);
    Object svc = obj.getField("MODULE$").get(null);
    Method localPort = obj.getMethod("localPort");
    Method start = obj.getMethod("start", SparkContext.class);
    Method stop = obj.getMethod("stop", scala.Option.class, scala.Option.class);
    Method list = obj.getMethod("listActiveExecutions");
    Object none = obj.getMethod("stop$default$1").invoke(svc);
    try { p("PORT " + localPort.invoke(svc)); } catch (Exception e) { p("PORT_BEFORE " + err(e)); }
    try { stop.invoke(svc, none, none); p("STOP_BEFORE ok"); }
    catch (Exception e) { p("STOP_BEFORE " + err(e)); }
    SparkSession session = SparkSession.builder().getOrCreate();
    SparkContext sc = SparkContext.getOrCreate();
    if (args.length > 0 && args[0].equals("direct")) start.invoke(svc, sc);
    if (args.length > 0 && args[0].equals("window")) {
      // start on another thread; meanwhile ask localPort until it says something other
      // than "no server yet" (bounded)
      Thread t = new Thread(() -> {
        try { start.invoke(svc, sc); } catch (Exception e) { p("START " + err(e)); }
      });
      t.start();
      String during = null;
      for (long end = System.nanoTime() + 30_000_000_000L; during == null && System.nanoTime() < end; ) {
        try { during = "port " + localPort.invoke(svc); }
        catch (Exception e) { if (!err(e).startsWith("java.lang.AssertionError")) during = err(e); }
        Thread.onSpinWait();
      }
      p("PORT_DURING " + during);
      t.join();
    }
    p("CTX " + sc.applicationId() + " " + sc.version() + " " + sc.appName() + " "
        + sc.uiWebUrl().get() + " " + sc.sparkUser());
    try { sc.setLogLevel("bogus"); } catch (IllegalArgumentException e) { p("LOGLEVEL " + e.getMessage()); }
    p("PORT " + localPort.invoke(svc));
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
    for (String line; (line = in.readLine()) != null; ) {
      switch (line.trim()) {
        case "list":
          scala.util.Either<?, ?> e = (scala.util.Either<?, ?>) list.invoke(svc);
          if (e.isLeft()) p("LIST Left " + ((scala.util.Left<?, ?>) e).value().getClass().getName()
              + " " + ((scala.util.Left<?, ?>) e).value());
          else {
            scala.collection.Seq<?> seq = (scala.collection.Seq<?>) ((scala.util.Right<?, ?>) e).value();
            Object info = seq.apply(0);
            p("LIST Right " + seq.length() + " "
                + info.getClass().getMethod("operationId").invoke(info));
          }
          break;
        case "stop":
          stop.invoke(svc, new scala.Some<Object>(5L), new scala.Some<Object>(TimeUnit.SECONDS));
          p("STOPPED");
          try { p("PORT_AFTER " + localPort.invoke(svc)); } catch (Exception x) { p("PORT_AFTER " + err(x)); }
          break;
        case "stop2":
          try { stop.invoke(svc, none, none); p("STOPPED2 ok"); } catch (Exception x) { p("STOPPED2 " + err(x)); }
          break;
        case "ctxstop":
          sc.stop();
          p("CTXSTOPPED");
          break;
        case "exit":
          return;
        default:
          p("UNKNOWN " + line);
      }
    }
  }
}
"""


@pytest.fixture(scope="module")
def probe_jar(tmp_path_factory):
    d = tmp_path_factory.mktemp("probe")
    (d / "Probe.java").write_text(PROBE)
    cp = os.path.join(HOME, "jars", "*")
    subprocess.run(["javac", "--release", "17", "-cp", cp, "-d", str(d / "classes"),
                    str(d / "Probe.java")], check=True, timeout=120)
    jar = str(d / "probe.jar")
    subprocess.run(["jar", "--create", "--file", jar, "-C", str(d / "classes"), "."],
                   check=True, timeout=60)
    return jar


class ProbeSession:
    def __init__(self, proc):
        self.proc = proc
        self._out = open(proc.log_path, "rb")

    def expect(self, prefix, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        buf = b""
        while time.monotonic() < deadline:
            chunk = self._out.readline()
            if chunk:
                buf += chunk
                if not buf.endswith(b"\n"):
                    continue
                line, buf = buf.decode().rstrip("\n"), b""
                if line.startswith(prefix):
                    return line[len(prefix):].strip()
                continue
            if self.proc.popen.poll() is not None:
                raise AssertionError("probe exited:\n" + self.proc.log()[-4000:])
            time.sleep(0.05)
        raise AssertionError("no %r in:\n%s" % (prefix, self.proc.log()[-4000:]))

    def send(self, cmd):
        self.proc.popen.stdin.write((cmd + "\n").encode())
        self.proc.popen.stdin.flush()


def start_probe(spawn, jar, home, *extra, mode="plugin"):
    args = ["--class", "Probe", "--name", "probe-app", "--proxy-user", "alice",
            "--conf", "spark.connect.grpc.binding.port=0",
            "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
            "--conf", "spark.standin.bind.address=127.0.0.1"]
    if mode == "plugin":
        args += ["--conf", "spark.plugins=org.apache.spark.sql.connect.SparkConnectPlugin"]
    p = spawn(submit_argv(home, *args, *extra, jar, mode), stdin=subprocess.PIPE, name="probe")
    return ProbeSession(p)


def test_jvm_api_40_plugin(spawn, probe_jar):
    pr = start_probe(spawn, probe_jar, HOME)
    assert pr.expect("TCCL ") == "org.apache.spark.util.MutableURLClassLoader"
    assert pr.expect("PORT_BEFORE ") == "java.lang.AssertionError: assertion failed"
    assert pr.expect("STOP_BEFORE ").startswith("java.lang.IllegalStateException: ")
    ctx = pr.expect("CTX ").split()
    assert re.fullmatch(r"local-\d{13}", ctx[0])
    assert ctx[1:3] == ["4.0.1", "probe-app"] and ctx[4] == "alice"
    assert re.fullmatch(r"http://localhost:\d+", ctx[3]), ctx  # the port the UI bound
    assert pr.expect("LOGLEVEL ") == ("requirement failed: Supplied level bogus did not match "
                                      "one of: ALL,DEBUG,ERROR,FATAL,INFO,OFF,TRACE,WARN")
    port = int(pr.expect("PORT "))
    assert "Initialized driver component for plugin org.apache.spark.sql.connect.SparkConnectPlugin" \
        in pr.proc.log()
    pr.send("list")
    kind, cls, ms = pr.expect("LIST ").split()
    assert (kind, cls) == ("Left", "java.lang.Long")
    assert abs(int(ms) / 1000 - time.time()) < 600
    with Client("127.0.0.1:%d" % port) as c:
        op, call = c.execute(responses=100000, delay_ms=10)
        it = c.responses_of(call)
        next(it)
        pr.send("list")
        assert pr.expect("LIST ") == "Right 1 %s" % op
        c.interrupt_operation(op)
        pr.send("list")
        assert pr.expect("LIST ").startswith("Left java.lang.Long")
    pr.send("stop")
    pr.expect("STOPPED")
    assert pr.expect("PORT_AFTER ").startswith("java.lang.IllegalStateException")
    pr.send("stop2")
    assert pr.expect("STOPPED2 ") == "ok"
    assert "The Spark Connect service has already been stopped." in pr.proc.log()
    pr.send("ctxstop")
    pr.expect("CTXSTOPPED")
    pr.send("exit")
    assert pr.proc.wait_exit() == 0


def test_jvm_api_35_direct_start_with_jars(spawn, probe_jar):
    pr = start_probe(spawn, probe_jar, HOME35, "--jars", CONNECT_JAR35,
                     "--conf", "spark.standin.list.clock=nanos", mode="direct")
    assert pr.expect("PORT_BEFORE ") == "java.lang.AssertionError: assertion failed"
    assert pr.expect("STOP_BEFORE ") == "ok"  # 3.5 has no started/stopped guard
    assert pr.expect("CTX ").split()[1] == "3.5.3"
    port = int(pr.expect("PORT "))
    with Client("127.0.0.1:%d" % port) as c:
        assert c.spark_version() == "3.5.3"
    pr.send("list")
    kind, cls, value = pr.expect("LIST ").split()
    assert (kind, cls) == ("Left", "java.lang.Long")
    # spark.standin.list.clock=nanos: System.nanoTime() (CLOCK_MONOTONIC), like newer Spark 4.
    assert abs(int(value) - time.monotonic_ns()) < 600 * 10**9
    pr.send("stop")
    pr.expect("STOPPED")
    pr.send("exit")
    assert pr.proc.wait_exit() == 0


def test_jvm_api_local_port_while_starting(spawn, probe_jar):
    """As Spark: `server` is assigned before `server.start()`, so localPort
    answers gRPC's IllegalStateException("Not started") in between (and the
    AssertionError only before the server object exists)."""
    pr = start_probe(spawn, probe_jar, HOME, "--conf", "spark.standin.bind.window.ms=1500",
                     mode="window")
    assert pr.expect("PORT_BEFORE ") == "java.lang.AssertionError: assertion failed"
    assert pr.expect("PORT_DURING ") == "java.lang.IllegalStateException: Not started"
    assert int(pr.expect("PORT ")) > 0
    assert "standin: server created, starting it in 1500 ms" in pr.proc.log()
    pr.send("stop")
    pr.expect("STOPPED")
    pr.send("exit")
    assert pr.proc.wait_exit() == 0


def test_bytecode_signatures():
    """The descriptors the shim resolves with JNI GetMethodID/GetStaticMethodID."""
    jar = os.path.join(HOME, "jars", "spark-connect_2.13-4.0.1.jar")
    core = os.path.join(HOME, "jars", "spark-core_2.13-4.0.1.jar")
    scala = [j for j in os.listdir(os.path.join(HOME, "jars")) if j.startswith("scala-library")][0]
    cp = ":".join([jar, core, os.path.join(HOME, "jars", scala)])

    def javap(cls):
        r = subprocess.run(["javap", "-s", "-public", "-cp", cp, cls], capture_output=True,
                           text=True, timeout=60, check=True)
        return r.stdout

    obj = javap("org.apache.spark.sql.connect.service.SparkConnectService$")
    for sig in ("public static final org.apache.spark.sql.connect.service.SparkConnectService$ MODULE$;",
                "descriptor: ()I",
                "descriptor: (Lorg/apache/spark/SparkContext;)V",
                "descriptor: (Lscala/Option;Lscala/Option;)V",
                "descriptor: ()Lscala/util/Either;",
                "descriptor: ()Lscala/Option;"):
        assert sig in obj, sig
    cls = javap("org.apache.spark.sql.connect.service.SparkConnectService")
    assert "public static int localPort();" in cls
    assert "public static void start(org.apache.spark.SparkContext);" in cls
    sc = javap("org.apache.spark.SparkContext")
    for sig in ("public static org.apache.spark.SparkContext getOrCreate();",
                "public java.lang.String applicationId();",
                "public scala.Option<java.lang.String> uiWebUrl();",
                "public void setLogLevel(java.lang.String);"):
        assert sig in sc, sig
    some = javap("scala.Some")
    assert "descriptor: (Ljava/lang/Object;)V" in some
