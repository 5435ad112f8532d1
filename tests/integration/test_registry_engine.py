"""The gateway contract end to end: a test "gateway" launches the engine the
way Kyuubi's SparkProcessBuilder would (through scripts/spark-submit-wrapper.sh,
as a replacement spark-submit), finds it in a real ZooKeeper by refId, talks
Spark Connect to it, and stops it by deleting its znode.

Needs the real binary (env SPARKSHIM_BIN, `--version` must work) and the
stand-in Spark home (env SPARKSHIM_STANDIN); fails otherwise. Everything
binds 127.0.0.1: ZooKeeper, the connect port (port 0), the control port.
"""
import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid

import grpc
import pytest

from zkclient import ZkClient, nodes_with
from engine import missing, wait_for
from exitcodes import EXIT_REGISTER, EXIT_SPARK_START, EXIT_SUBMIT_EXPIRED
from zkserver import zk  # noqa: F401  (fixture)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WRAPPER = os.path.join(ROOT, "scripts", "spark-submit-wrapper.sh")
CONNECT_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
KYUUBI_VERSION = "1.10.0"
JDK_HOME = "/usr/lib/jvm/java-17-openjdk-amd64"


def _binary():
    b = os.environ.get("SPARKSHIM_BIN")
    if not b:
        return None, "SPARKSHIM_BIN is not set"
    try:
        p = subprocess.run([b, "--version"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"{b} --version failed: {e}"
    if p.returncode != 0:
        return None, f"{b} --version exited {p.returncode}"
    return b, ""


BIN, WHY = _binary()
STANDIN = os.environ.get("SPARKSHIM_STANDIN")
@pytest.fixture(autouse=True)
def _prerequisites():
    if BIN is None:
        missing(WHY or "no binary")
    if not STANDIN or not os.path.isdir(os.path.join(STANDIN or "", "jars")):
        missing("SPARKSHIM_STANDIN is not a built stand-in Spark home")




def port_open(host, port):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _ld(field, payload):
    def varint(n):
        out = bytearray()
        while True:
            b, n = n & 0x7F, n >> 7
            out.append(b | (0x80 if n else 0))
            if not n:
                return bytes(out)
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def config_call(host, port, user):
    """A generic unary Config RPC: ConfigRequest{session_id, user_context{user_id},
    operation{get_all{}}}, raw bytes both ways."""
    req = (_ld(1, str(uuid.uuid4()).encode()) + _ld(2, _ld(1, user.encode())) +
           _ld(3, _ld(5, b"")))
    with grpc.insecure_channel(f"{host}:{port}") as ch:
        return ch.unary_unary("/spark.connect.SparkConnectService/Config")(req, timeout=20)


class Launch:
    """One engine launched like a Kyuubi gateway does, with its engine log."""

    def __init__(self, zk, tmp, user="bob", share="USER", submit_time=None, extra=()):
        self.ref = str(uuid.uuid4())
        self.user = user
        if share == "CONNECTION":
            self.ns = f"/kyuubi_{KYUUBI_VERSION}_CONNECTION_SPARK_CONNECT/{user}/{self.ref}"
            app = f"kyuubi_CONNECTION_SPARK_CONNECT_{user}_{self.ref}"
        else:
            self.ns = f"/kyuubi_{KYUUBI_VERSION}_{share}_SPARK_CONNECT/{user}/default"
            app = f"kyuubi_{share}_SPARK_CONNECT_{user}_default_{self.ref}"
        workdir = os.path.join(str(tmp), "work", user)
        os.makedirs(workdir, exist_ok=True)
        self.log_path = os.path.join(workdir, f"kyuubi-spark-connect-engine.log.{self.ref[:8]}")
        submit = submit_time if submit_time is not None else int(time.time() * 1000)
        confs = [
            ("spark.kyuubi.engine.type", "SPARK_CONNECT"),
            ("spark.kyuubi.engine.share.level", share),
            ("spark.kyuubi.ha.addresses", zk.address),
            ("spark.kyuubi.ha.namespace", self.ns),
            ("spark.kyuubi.ha.engine.ref.id", self.ref),
            ("spark.kyuubi.engine.submit.time", str(submit)),
            ("spark.kyuubi.session.engine.initialize.timeout", "PT3M"),
            ("spark.kyuubi.ha.zookeeper.session.timeout", "4000"),
            ("spark.kyuubi.ha.zookeeper.connection.timeout", "10000"),
            ("spark.kyuubi.ha.zookeeper.connection.max.retries", "10"),
            ("spark.kyuubi.engine.engineLog.path", self.log_path),
            ("spark.app.name", app),
            ("spark.yarn.tags", f"KYUUBI,{self.ref}"),
            ("spark.master", "local[1]"),
            ("spark.ui.enabled", "false"),
            ("spark.connect.grpc.binding.address", "127.0.0.1"),
            ("spark.connect.grpc.binding.port", "0"),
        ] + list(extra)
        argv = [WRAPPER, "--class", CONNECT_CLASS]
        for k, v in confs:
            argv += ["--conf", f"{k}={v}"]
        jar = [j for j in os.listdir(os.path.join(STANDIN, "jars"))
               if j.startswith("spark-connect_")]
        argv += ["--proxy-user", user,
                 os.path.join(STANDIN, "jars", jar[0]) if jar else "spark-internal"]
        env = {"PATH": "/usr/bin:/bin", "SPARK_HOME": STANDIN, "SPARKSHIM_BIN": BIN,
               "JAVA_HOME": JDK_HOME, "HOME": str(tmp)}
        self.argv = argv
        self.log = open(self.log_path, "wb")
        # Kyuubi merges stdout and stderr into the engine log.
        self.proc = subprocess.Popen(argv, cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def discover(self, zk, timeout=120):
        """Poll once per second for a node named ...refId=<ref>..., like the
        gateway; returns (node name, host, port)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"engine exited {self.proc.returncode}:\n"
                                     f"{self.text()[-4000:]}")
            names = nodes_with(zk.port, self.ns, f"refId={self.ref}")
            if names:
                with ZkClient(zk.port) as c:
                    data, _ = c.get(f"{self.ns}/{names[0]}")
                host, port = data.decode().split(":")
                return names[0], host, int(port)
            if time.monotonic() >= deadline:
                raise AssertionError(f"no node for refId={self.ref} in {timeout}s:\n"
                                     f"{self.text()[-4000:]}")
            time.sleep(1.0)

    def wait(self, timeout=90):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"engine still running after {timeout}s:\n"
                                 f"{self.text()[-4000:]}")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.log.close()


@pytest.fixture
def gateway(tmp_path, zk):
    launched = []

    def launch(**kw):
        la = Launch(zk, tmp_path, **kw)
        launched.append(la)
        return la

    yield launch
    for la in launched:
        la.kill()


def test_discover_call_and_stop_by_deleting_the_node(zk, gateway):
    e = gateway()
    name, host, port = e.discover(zk)
    assert host == "127.0.0.1"
    assert name.startswith(f"serverUri=127.0.0.1:{port};version={KYUUBI_VERSION};")
    assert f";refId={e.ref};sequence=" in name
    attrs = dict(p.split("=", 1) for p in name.split(";") if "=" in p)
    assert attrs["serverUri"] == f"{host}:{port}"
    config_call(host, port, e.user)
    # Local engines are found by refId on the command line (jps -ml | grep).
    jps = subprocess.run([os.path.join(JDK_HOME, "bin", "jps"), "-ml"], capture_output=True,
                         text=True, timeout=30)
    assert any(e.ref in line and str(e.proc.pid) in line for line in jps.stdout.splitlines())
    with ZkClient(zk.port) as c:
        c.delete(f"{e.ns}/{name}")
    assert e.wait() == 0, e.text()[-4000:]
    assert not port_open(host, port)


def test_reregisters_after_zookeeper_loses_the_session(zk, gateway):
    e = gateway()
    name, host, port = e.discover(zk)
    with ZkClient(zk.port) as c:
        old_owner = c.get(f"{e.ns}/{name}")[1]["ephemeralOwner"]
    # ZooKeeper crashes and comes back without its data: the engine's
    # session is gone, so it must register again under a new one.
    zk.restart(kill=True, wipe=True)
    name2, host2, port2 = e.discover(zk, timeout=60)
    assert (host2, port2) == (host, port)
    with ZkClient(zk.port) as c:
        assert c.get(f"{e.ns}/{name2}")[1]["ephemeralOwner"] != old_owner
    config_call(host2, port2, e.user)
    # And a plain crash/restart with its data keeps serving.
    zk.restart(kill=True)
    e.discover(zk, timeout=60)
    config_call(host, port, e.user)
    e.proc.send_signal(signal.SIGTERM)
    assert e.wait() == 0, e.text()[-4000:]


def test_sigterm_removes_node_before_connect_port_closes(zk, gateway):
    e = gateway()
    name, host, port = e.discover(zk)
    path = f"{e.ns}/{name}"
    node_gone = port_closed = None
    with ZkClient(zk.port) as c:
        e.proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        deadline = t0 + 90
        while time.monotonic() < deadline and (node_gone is None or port_closed is None):
            now = time.monotonic() - t0
            if node_gone is None and c.exists(path) is None:
                node_gone = now
            if port_closed is None and not port_open(host, port):
                port_closed = now
            time.sleep(0.01)
    assert node_gone is not None and port_closed is not None, e.text()[-4000:]
    assert node_gone <= port_closed, (node_gone, port_closed)
    assert e.wait() == 0, e.text()[-4000:]


def test_connection_level_cleans_its_namespace(zk, gateway):
    e = gateway(share="CONNECTION")
    name, host, port = e.discover(zk)
    config_call(host, port, e.user)
    e.proc.send_signal(signal.SIGTERM)
    assert e.wait() == 0, e.text()[-4000:]
    with ZkClient(zk.port) as c:
        assert c.exists(e.ns) is None
        assert c.exists(e.ns.rsplit("/", 1)[0]) is not None


def test_expired_submit_time_refuses_to_start(zk, gateway):
    old = int(time.time() * 1000) - 4 * 60 * 1000  # older than the 3 min init timeout
    e = gateway(submit_time=old)
    assert e.wait(timeout=60) == EXIT_SUBMIT_EXPIRED, e.text()[-4000:]
    assert "kyuubi.session.engine.initialize.timeout" in e.text()
    assert nodes_with(zk.port, e.ns, f"refId={e.ref}") == []


def test_sighup_without_change_keeps_the_node(zk, gateway):
    """Issue 13 item 3: a reload that changes nothing the node shows keeps the
    very node (same path, creation and session): a gateway never sees the
    engine missing."""
    e = gateway()
    name, host, port = e.discover(zk)
    path = f"{e.ns}/{name}"
    with ZkClient(zk.port) as c:
        before, parent0 = c.exists(path), c.exists(e.ns)
    e.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "SIGHUP: the discovery node would not change; keeping it" in e.text(),
             30, "the SIGHUP's decision")
    with ZkClient(zk.port) as c:
        after, parent1 = c.exists(path), c.exists(e.ns)
    assert after is not None, e.text()[-3000:]
    assert (after["czxid"], after["ephemeralOwner"]) == (before["czxid"],
                                                         before["ephemeralOwner"])
    assert parent1["cversion"] == parent0["cversion"]
    assert nodes_with(zk.port, e.ns, f"refId={e.ref}") == [name]
    config_call(host, port, e.user)
    e.proc.send_signal(signal.SIGTERM)
    assert e.wait() == 0, e.text()[-4000:]


def test_state_file_follows_registration(zk, gateway, tmp_path):
    """Issue 13 item 2: a gateway engine's state file shows what `ctl status`
    shows while it serves: REGISTERED and the node's path, not the PENDING
    and "" of the moment READY was written; and who wrote it (pid + start
    time + boot id)."""
    sf = str(tmp_path / "gw-state.json")
    e = gateway(extra=[("spark.sparkshim.state.file", sf)])
    name, host, port = e.discover(zk)

    def registered():
        try:
            with open(sf) as f:
                st = json.load(f)
        except (OSError, ValueError):
            return None
        return st if st.get("registration") == "REGISTERED" else None
    st = wait_for(registered, 30, "REGISTERED in the state file")
    assert st["znode"] == f"{e.ns}/{name}"
    assert st["state"] == "READY"
    assert st["connect_url"] == f"sc://{host}:{port}"
    assert st["pid"] == e.proc.pid
    with open(f"/proc/{e.proc.pid}/stat") as f:
        assert st["pid_start_ticks"] == int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/sys/kernel/random/boot_id") as f:
        assert st["boot_id"] == f.read().strip()
    e.proc.send_signal(signal.SIGTERM)
    assert e.wait() == 0, e.text()[-4000:]
    assert not os.path.exists(sf)


def test_startup_failure_is_reported_for_the_gateway(zk, gateway):
    e = gateway(extra=[("spark.standin.startup.fault", "exception")])
    assert e.wait() == EXIT_SPARK_START
    # Kyuubi's engine-log reader picks lines with "Exception:".
    text = e.text()
    assert "sparkshim.EngineStartException: Spark failed to start: " \
           "java.lang.IllegalStateException: standin: injected startup failure" in text, text[-3000:]
    assert not nodes_with(zk.port, e.ns, f"refId={e.ref}")


# ---- set-up overlapped with the JVM's boot (issue 12, item 3) ----

DEBUG = ("spark.sparkshim.log.level", "debug")


def timeline(text):
    """The debug log's start-up timeline: {phase: (start, end)} and
    {point: at}, in ms since exec (launcher/timeline.h)."""
    phases = {m.group(1): (int(m.group(2)), int(m.group(3))) for m in
              re.finditer(r"timeline: (.+?) (\d+)-(\d+) ms \(\d+ ms\) since exec", text)}
    points = {m.group(1): int(m.group(2)) for m in
              re.finditer(r"timeline: (.+?) at (\d+) ms since exec", text)}
    return phases, points


def test_registry_connects_while_the_jvm_boots(zk, gateway):
    # Spark takes 1.5 s longer to bind: ample time for the connection to
    # be made while it boots, however loaded the machine.
    e = gateway(extra=[DEBUG, ("spark.standin.startup.delay.ms", "1500")])
    e.discover(zk)
    phases, points = timeline(e.text())
    create, conn = phases["JNI_CreateJavaVM"], phases["registry connect"]
    ready = points["READY (connect port answered)"]
    node = phases["registration (node created)"]
    # Not before the JVM: its creation had begun; done before Spark served.
    assert create[0] <= conn[0] and conn[1] > create[0], (create, conn)
    assert conn[1] <= ready, (conn, ready)
    # Registration still only once Spark serves, in the session opened early.
    assert node[0] >= ready, (node, ready)
    assert len(re.findall(r"ZooKeeper session 0x[0-9a-f]+ connected", e.text())) == 1, \
        e.text()[-4000:]
    e.proc.send_signal(signal.SIGTERM)
    assert e.wait() == 0, e.text()[-4000:]


def _stopped_during_boot(e, code, why):
    """The engine failed while Spark was still starting (it would only bind
    after a minute): the JVM stopped through the graceful stop path with the
    right code, the failure as the one error line, nothing registered."""
    assert e.wait(timeout=50) == code, e.text()[-4000:]
    text = e.text()
    assert f"stopping: {why}" in text, text[-4000:]
    assert "serving Spark Connect" not in text and "connect port known" not in text
    errors = [line for line in text.splitlines() if line.startswith("sparkshim: error: ")]
    assert len(errors) == 1 and why in errors[0], errors
    # Kyuubi's engine-log reader picks lines with "Exception:".
    assert f"sparkshim.EngineStartException: {why}" in text


def test_zookeeper_unreachable_during_boot_stops_the_jvm(zk, gateway):
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))  # bound, never listening: connections refused
    try:
        e = gateway(extra=[DEBUG, ("spark.kyuubi.ha.addresses",
                                   "127.0.0.1:%d" % dead.getsockname()[1]),
                           ("spark.kyuubi.ha.zookeeper.connection.timeout", "1500"),
                           ("spark.standin.startup.delay.ms", "60000")])
        _stopped_during_boot(e, EXIT_REGISTER,
                             "registration with the gateway failed: could not connect to "
                             "ZooKeeper")
    finally:
        dead.close()
