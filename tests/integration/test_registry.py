"""Registration against a real ZooKeeper, through tests/tools/zkreg_driver
(the registry module in a tiny program; see its header for the protocol).

Checked with our own minimal ZooKeeper client the way a Kyuubi gateway
looks: node name, data and ACL; deletion by the gateway; session expiry;
ZooKeeper going away and coming back; digest ACLs; CONNECTION-level
cleanup; bounded failures; the client's log in our format.
"""
import base64
import json
import os
import queue
import re
import signal
import statistics
import subprocess
import threading
import time
import uuid

import pytest

from zkclient import (NOAUTH, PERM_ALL, PERM_READ, ZkClient, ZkError,
                      digest_id, nodes_with)
from engine import JDK_BIN, missing, wait_for
from exitcodes import EXIT_REGISTER, EXIT_USAGE
from kyuubi_app_mgr import (APP_MGR, APP_MGR_INFO, APP_MGR_INFO_PUBLISHED,
                            kyuubi_decode_app_mgr_info)
from zkserver import free_port, zk  # noqa: F401  (fixture)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VERSION = "1.10.0"


def driver_path():
    explicit = os.environ.get("SPARKSHIM_ZKREG_DRIVER")
    if explicit:
        return explicit
    tools = os.environ.get("SPARKSHIM_TOOLS", os.path.join(ROOT, "build", "tools"))
    return os.path.join(tools, "zkreg_driver")


DRIVER = driver_path()
@pytest.fixture(autouse=True)
def _driver_built():
    if not os.access(DRIVER, os.X_OK):
        missing(f"{DRIVER} not built (make tools)")

LOG_LINE = re.compile(r"^\d\d/\d\d/\d\d \d\d:\d\d:\d\d (DEBUG|INFO|WARN|ERROR) sparkshim: ")




class Driver:
    def __init__(self, args, tmp):
        self.stderr_path = os.path.join(str(tmp), f"driver-{uuid.uuid4().hex[:8]}.err")
        self._err = open(self.stderr_path, "wb")
        self.p = subprocess.Popen([DRIVER] + args, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self._err, text=True)
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, prefix, timeout=15.0):
        """Next stdout line starting with prefix (others are kept in seen)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no '{prefix}' within {timeout}s; saw {self.seen}; "
                                     f"stderr: {self.stderr()}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"driver ended before '{prefix}'; saw {self.seen}; "
                                     f"stderr: {self.stderr()}")
            self.seen.append(line)
            if line.startswith(prefix):
                return line

    def send(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()

    def stderr(self):
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def wait(self, timeout=20):
        return self.p.wait(timeout=timeout)

    def kill(self):
        if self.p.poll() is None:
            try:
                os.kill(self.p.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            self.p.kill()
            self.p.wait(timeout=10)
        self._err.close()


@pytest.fixture
def drivers(tmp_path):
    started = []

    def start(args):
        d = Driver(args, tmp_path)
        started.append(d)
        return d

    yield start
    for d in started:
        d.kill()


def kyuubi_conf(addresses, user="bob", ref=None, level="USER", **extra):
    """(namespace, refId, conf) of an engine launched the way Kyuubi does,
    for any discovery backend: extra holds the backend's settings."""
    ref = ref or str(uuid.uuid4())
    if level == "CONNECTION":
        ns = f"/kyuubi_{VERSION}_CONNECTION_SPARK_CONNECT/{user}/{ref}"
    else:
        ns = f"/kyuubi_{VERSION}_{level}_SPARK_CONNECT/{user}/default"
    conf = {
        "spark.kyuubi.ha.addresses": addresses,
        "spark.kyuubi.ha.namespace": ns,
        "spark.kyuubi.ha.engine.ref.id": ref,
        "spark.kyuubi.engine.share.level": level,
    }
    conf.update(extra)
    return ns, ref, conf


def engine_conf(zk, user="bob", ref=None, level="USER", **extra):
    return kyuubi_conf(zk.address, user, ref, level, **{
        "spark.kyuubi.ha.zookeeper.session.timeout": "4000",
        "spark.kyuubi.ha.zookeeper.connection.timeout": "5000",
        "spark.kyuubi.ha.zookeeper.connection.base.retry.wait": "1000",
        "spark.kyuubi.ha.zookeeper.connection.max.retries": "5",
        **extra})


def args_for(conf, port=15002, *more):
    out = []
    for k, v in conf.items():
        out += ["--conf", f"{k}={v}"]
    return out + ["--host", "127.0.0.1", "--port", str(port)] + list(more)


def registered(d):
    line = d.expect("REGISTERED ")
    _, ms, path = line.split(" ", 2)
    return int(ms), path


def kyuubi_parse(name):
    """How ZookeeperDiscoveryClient reads a node name."""
    attrs = {}
    for part in name.split(";"):
        kv = part.split("=", 1)
        if len(kv) == 2:
            attrs[kv[0]] = kv[1]
    return attrs


def test_node_looks_like_kyuubi_engine(zk, drivers, tmp_path):
    ns, ref, conf = engine_conf(
        zk, **{"spark.kyuubi.engine.appMgrInfo": APP_MGR_INFO, "spark.driver.memory": "2g"})
    d = drivers(args_for(conf, 15002, "--app-id", "local-1700000000000",
                         "--ui-url", "http://127.0.0.1:4040", "--control", "127.0.0.1:7077"))
    assert d.expect("CONFIGURED") == "CONFIGURED 1"
    ms, path = registered(d)
    assert d.expect("EVENT reg-registered") == f"EVENT reg-registered 0 {path}"

    # What the gateway does: children of the engine space, name contains refId=.
    names = nodes_with(zk.port, ns, f"refId={ref}")
    assert len(names) == 1
    name = names[0]
    assert path == f"{ns}/{name}"
    expected = (f"serverUri=127.0.0.1:15002;version={VERSION};"
                f"kyuubi.engine.appMgrInfo={APP_MGR_INFO_PUBLISHED};"
                "spark.driver.memory=2g;spark.executor.memory=;"
                "kyuubi.engine.id=local-1700000000000;kyuubi.engine.url=127.0.0.1:4040;"
                f"sparkshim.control=127.0.0.1:7077;refId={ref};sequence=")
    assert name.startswith(expected)
    assert re.fullmatch(r"\d{10}", name[len(expected):])
    attrs = kyuubi_parse(name)
    assert attrs["serverUri"] == "127.0.0.1:15002" and attrs["refId"] == ref
    assert attrs["version"] == VERSION and attrs["kyuubi.engine.id"] == "local-1700000000000"
    # The gateway reads appMgrInfo back with Kyuubi's own decoding.
    assert kyuubi_decode_app_mgr_info(tmp_path, attrs["kyuubi.engine.appMgrInfo"]) == APP_MGR

    with ZkClient(zk.port) as c:
        data, stat = c.get(path)
        assert data == b"127.0.0.1:15002"
        host, port = data.decode().split(":")  # the gateway splits at ':'
        assert (host, int(port)) == ("127.0.0.1", 15002)
        assert stat["ephemeralOwner"] != 0
        assert c.acl(path) == [(PERM_ALL, "world", "anyone")]
        # Parents are persistent.
        parts = ns.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            p = "/" + "/".join(parts[:i])
            assert c.exists(p)["ephemeralOwner"] == 0, p

    d.send("info")
    assert d.expect("INFO") == f"INFO REGISTERED {path}"
    d.send("quit")
    assert d.expect("BYE")
    assert d.wait() == 0
    # Quitting closed the session: the ephemeral node is gone.
    assert nodes_with(zk.port, ns, f"refId={ref}") == []


def test_deregister_removes_node_and_is_idempotent(zk, drivers):
    ns, ref, conf = engine_conf(zk)
    d = drivers(args_for(conf))
    registered(d)
    d.send("deregister")
    line = d.expect("DEREGISTERED")
    rc, ms = line.split()[1:]
    assert rc == "0" and int(ms) < 2000
    # The delete completed before the call returned.
    assert nodes_with(zk.port, ns, f"refId={ref}") == []
    d.send("deregister")
    assert d.expect("DEREGISTERED").startswith("DEREGISTERED 0 ")
    d.send("info")
    assert d.expect("INFO").startswith("INFO DEREGISTERED")
    d.send("close")
    d.expect("CLOSED")
    d.send("quit")
    d.expect("BYE")
    assert d.wait() == 0
    # Our own delete is not reported as the gateway's.
    assert not any(s.startswith("EVENT reg-node-deleted") for s in d.seen)
    # USER level: the engine space stays for the next engine.
    with ZkClient(zk.port) as c:
        assert c.exists(ns) is not None


def test_gateway_deleting_node_posts_event(zk, drivers):
    ns, ref, conf = engine_conf(zk)
    d = drivers(args_for(conf))
    _, path = registered(d)
    with ZkClient(zk.port) as c:
        c.delete(path)
    assert d.expect("EVENT reg-node-deleted", timeout=10) == f"EVENT reg-node-deleted 0 {path}"
    d.send("info")
    assert d.expect("INFO").startswith("INFO DEREGISTERED")
    # Not re-created: the gateway meant it.
    assert nodes_with(zk.port, ns, f"refId={ref}") == []
    d.send("deregister")
    assert d.expect("DEREGISTERED").startswith("DEREGISTERED 0")
    assert "deleted by another client" in d.stderr()


def test_update_without_change_keeps_the_node(zk, drivers):
    """Issue 13 item 3: a SIGHUP whose endpoint is unchanged keeps the very
    node: same path, same creation (czxid), same session; the engine space
    sees no child change at all."""
    ns, ref, conf = engine_conf(zk)
    d = drivers(args_for(conf))
    _, path = registered(d)
    with ZkClient(zk.port) as c:
        before, parent0 = c.exists(path), c.exists(ns)
    d.send("update")
    assert d.expect("UPDATED") == f"UPDATED 1 {path}"
    with ZkClient(zk.port) as c:
        after, parent1 = c.exists(path), c.exists(ns)
    assert after is not None
    assert (after["czxid"], after["ephemeralOwner"]) == (before["czxid"],
                                                         before["ephemeralOwner"])
    assert parent1["cversion"] == parent0["cversion"]
    d.send("deregister")
    d.expect("DEREGISTERED 0")


def test_update_with_change_creates_before_deleting(zk, drivers):
    """Issue 13 item 3: when the name changes (here the port), the new node
    is created before the old one is deleted, on the same session. Observed
    through ZooKeeper's own order, not timing: the engine space changed
    exactly twice (one create, one delete), and its last child change (pzxid,
    the delete) comes after the new node's creation (czxid), so there was
    never a moment without a node for this engine."""
    ns, ref, conf = engine_conf(zk)
    d = drivers(args_for(conf, 15002))
    _, old = registered(d)
    with ZkClient(zk.port) as c:
        old_stat, parent0 = c.exists(old), c.exists(ns)
    d.send("update 15003")
    line = d.expect("UPDATED")
    _, rc, new = line.split(" ", 2)
    assert rc == "0" and new != old, line
    assert new.rsplit("/", 1)[1].startswith("serverUri=127.0.0.1:15003;")
    with ZkClient(zk.port) as c:
        assert c.children(ns) == [new.rsplit("/", 1)[1]]
        new_stat, parent1 = c.exists(new), c.exists(ns)
        data, _ = c.get(new)
    assert data == b"127.0.0.1:15003"
    assert new_stat["ephemeralOwner"] == old_stat["ephemeralOwner"]  # same session
    assert parent1["cversion"] == parent0["cversion"] + 2, (parent0, parent1)
    assert parent1["pzxid"] > new_stat["czxid"], (parent1, new_stat)
    # Our own delete of the old node is no stop request.
    d.send("info")
    assert d.expect("INFO") == f"INFO REGISTERED {new}"
    assert not any(s.startswith("EVENT reg-node-deleted") for s in d.seen)
    d.send("deregister")
    d.expect("DEREGISTERED 0")
    assert nodes_with(zk.port, ns, f"refId={ref}") == []


def test_session_expiry_recreates_node(zk, drivers):
    """Freeze the engine past its session timeout: ZooKeeper expires the
    session and drops the node; on waking the engine re-registers."""
    ns, ref, conf = engine_conf(zk, **{"spark.kyuubi.ha.zookeeper.session.timeout": "1000"})
    d = drivers(args_for(conf))
    _, old = registered(d)
    d.expect("EVENT reg-registered")
    with ZkClient(zk.port) as c:
        old_owner = c.get(old)[1]["ephemeralOwner"]
    os.kill(d.p.pid, signal.SIGSTOP)
    try:
        wait_for(lambda: not nodes_with(zk.port, ns, f"refId={ref}"), 15,
                 "the server to expire the frozen session")
    finally:
        os.kill(d.p.pid, signal.SIGCONT)
    line = d.expect("EVENT reg-registered", timeout=15)
    new = line.split(" ", 3)[3]
    assert new != old
    names = nodes_with(zk.port, ns, f"refId={ref}")
    assert [f"{ns}/{n}" for n in names] == [new]
    with ZkClient(zk.port) as c:
        assert c.get(new)[1]["ephemeralOwner"] not in (0, old_owner)
    err = d.stderr()
    assert "session expired" in err and "re-registered with a new ZooKeeper session" in err
    d.send("info")
    assert d.expect("INFO") == f"INFO REGISTERED {new}"
    assert not any(s.startswith("EVENT reg-lost") for s in d.seen)


def test_expiry_while_draining_does_not_recreate(zk, drivers):
    ns, ref, conf = engine_conf(zk, **{"spark.kyuubi.ha.zookeeper.session.timeout": "1000"})
    d = drivers(args_for(conf))
    registered(d)
    d.send("drain")
    assert d.expect("STATE") == "STATE DRAINING"
    os.kill(d.p.pid, signal.SIGSTOP)
    try:
        wait_for(lambda: not nodes_with(zk.port, ns, f"refId={ref}"), 15, "session expiry")
    finally:
        os.kill(d.p.pid, signal.SIGCONT)
    wait_for(lambda: "session expired" in d.stderr(), 15, "the engine to see the expiry")
    d.send("info")
    assert d.expect("INFO").startswith("INFO DEREGISTERED")
    assert nodes_with(zk.port, ns, f"refId={ref}") == []


def test_zookeeper_restart_keeps_session(zk, drivers):
    """ZooKeeper crashes and comes back with its data: the session (and the
    node) survive, nothing is reported."""
    ns, ref, conf = engine_conf(zk)
    d = drivers(args_for(conf))
    _, path = registered(d)
    zk.restart(kill=True)
    # First the engine notices the loss, only then can it reconnect: a
    # "connected" from before the restart does not count.
    wait_for(lambda: "connection lost" in d.stderr(), 20, "the engine to notice the restart")
    wait_for(lambda: "connected" in d.stderr().split("connection lost", 1)[1], 20,
             "the engine to reconnect")
    sessions = re.findall(r"ZooKeeper session (0x[0-9a-f]+) connected", d.stderr())
    assert len(sessions) == 2 and sessions[0] == sessions[1], sessions
    assert nodes_with(zk.port, ns, f"refId={ref}") == [path.rsplit("/", 1)[1]]
    d.send("info")
    assert d.expect("INFO") == f"INFO REGISTERED {path}"
    assert not any(s.startswith(("EVENT reg-lost", "EVENT reg-node-deleted")) for s in d.seen)


def test_zookeeper_back_without_our_session_recreates_node(zk, drivers):
    """ZooKeeper comes back having lost its state (new ensemble, wiped
    disk): the returning client is told its session expired and re-creates
    the node under a new session."""
    ns, ref, conf = engine_conf(zk)
    d = drivers(args_for(conf))
    _, old = registered(d)
    d.expect("EVENT reg-registered")
    zk.restart(kill=True, wipe=True)
    line = d.expect("EVENT reg-registered", timeout=20)
    new = line.split(" ", 3)[3]
    names = nodes_with(zk.port, ns, f"refId={ref}")
    assert [f"{ns}/{n}" for n in names] == [new]
    # Refused for its newer zxid, the old session never comes back: the
    # registry gives it up after a session timeout (as Curator does).
    err = d.stderr()
    assert "giving the session up and starting a new one" in err
    assert "re-registered with a new ZooKeeper session" in err
    assert not any(s.startswith("EVENT reg-lost") for s in d.seen)
    del old


def test_zookeeper_gone_too_long_posts_lost(zk, drivers):
    ns, ref, conf = engine_conf(zk, **{
        "spark.kyuubi.ha.zookeeper.session.timeout": "1000",
        "spark.kyuubi.ha.zookeeper.connection.base.retry.wait": "250",
        "spark.kyuubi.ha.zookeeper.connection.max.retries": "2",
        "spark.sparkshim.registry.zookeeper.log.level": "ERROR"})
    d = drivers(args_for(conf))
    registered(d)
    zk.stop(kill=True)
    t0 = time.monotonic()
    line = d.expect("EVENT reg-lost", timeout=20)
    took = time.monotonic() - t0
    down_ms = int(line.split()[2])
    assert down_ms >= 1500  # session 1000 + N_TIME 2 x 250
    assert took < 10
    # Stop paths stay bounded with ZooKeeper gone.
    t0 = time.monotonic()
    d.send("deregister")
    rc = d.expect("DEREGISTERED").split()[1]
    # The session was given up before the budget ran out (1000 < 1500 ms), its
    # node with it: nothing is left to delete, which is a success.
    assert rc == "0"
    assert time.monotonic() - t0 < 4
    t0 = time.monotonic()
    d.send("close")
    d.expect("CLOSED")
    assert time.monotonic() - t0 < 8
    # The retry noise of the client is folded, not one line per attempt.
    err = d.stderr()
    assert err.count("Connection refused") < 20, err[-2000:]


def test_digest_acl(zk, drivers):
    ns, ref, conf = engine_conf(zk, **{
        "spark.kyuubi.ha.zookeeper.auth.type": "DIGEST",
        "spark.kyuubi.ha.zookeeper.auth.digest": "alice:s3cret"})
    d = drivers(args_for(conf))
    _, path = registered(d)
    expected = [(PERM_READ, "world", "anyone"), (PERM_ALL, "digest", digest_id("alice:s3cret"))]
    with ZkClient(zk.port) as c:
        c.add_auth_digest("alice:s3cret")  # others see the hash redacted
        assert c.acl(path) == expected
        assert c.acl(ns) == expected  # the parent we created too
    with ZkClient(zk.port) as c:
        assert c.acl(path)[0] == (PERM_READ, "world", "anyone")
        assert c.get(path)[0] == b"127.0.0.1:15002"  # world-readable
        with pytest.raises(ZkError) as e:
            c.delete(path)
        assert e.value.code == NOAUTH
    with ZkClient(zk.port) as c:
        c.add_auth_digest("mallory:guess")
        with pytest.raises(ZkError) as e:
            c.delete(path)
        assert e.value.code == NOAUTH
    with ZkClient(zk.port) as c:  # the gateway holds the same digest
        c.add_auth_digest("alice:s3cret")
        c.delete(path)
    d.expect("EVENT reg-node-deleted", timeout=10)
    assert "s3cret" not in d.stderr()


def test_connection_level_removes_namespace_on_close(zk, drivers):
    ns, ref, conf = engine_conf(zk, level="CONNECTION")
    d = drivers(args_for(conf))
    registered(d)
    d.send("close")
    d.expect("CLOSED")
    with ZkClient(zk.port) as c:
        assert c.exists(ns) is None
        assert c.exists(ns.rsplit("/", 1)[0]) is not None  # the user level stays
    assert "removed the CONNECTION-level namespace" in d.stderr()


def test_two_engines_one_space(zk, drivers):
    ns, ref1, conf1 = engine_conf(zk, user="carol")
    _, ref2, conf2 = engine_conf(zk, user="carol")
    d1 = drivers(args_for(conf1, 16001))
    d2 = drivers(args_for(conf2, 16002))
    _, p1 = registered(d1)
    _, p2 = registered(d2)
    with ZkClient(zk.port) as c:
        assert sorted(c.children(ns)) == sorted([p1.rsplit("/", 1)[1], p2.rsplit("/", 1)[1]])
        for ref, port in ((ref1, 16001), (ref2, 16002)):
            (name,) = [n for n in c.children(ns) if f"refId={ref}" in n]
            assert c.get(f"{ns}/{name}")[0] == f"127.0.0.1:{port}".encode()


def test_register_fails_bounded_when_zookeeper_absent(tmp_path, drivers):
    port = free_port()
    conf = {"spark.kyuubi.ha.addresses": f"127.0.0.1:{port}",
            "spark.kyuubi.ha.namespace": "/k/u/d",
            "spark.kyuubi.ha.zookeeper.connection.timeout": "700"}
    t0 = time.monotonic()
    d = drivers(args_for(conf))
    assert d.wait(timeout=20) == EXIT_REGISTER
    assert time.monotonic() - t0 < 6
    errors = [line for line in d.stderr().splitlines() if line.startswith("error: ")]
    assert len(errors) == 1
    assert "could not connect to ZooKeeper" in errors[0] and "700 ms" in errors[0]


@pytest.mark.parametrize("kv,needle", [
    ("spark.kyuubi.ha.zookeeper.auth.type=KERBEROS", "not supported"),
    ("spark.kyuubi.ha.zookeeper.session.timeout=abc", "session.timeout=abc"),
    ("spark.kyuubi.ha.namespace=/a//b", "/a//b"),
])
def test_bad_conf_exits_64_with_one_line(drivers, kv, needle):
    d = drivers(["--conf", "spark.kyuubi.ha.addresses=127.0.0.1:1", "--conf", kv,
                 "--port", "1"])
    assert d.wait() == EXIT_USAGE
    err = d.stderr().strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0]


def test_zookeeper_client_log_uses_our_format(zk, drivers):
    ns, ref, conf = engine_conf(zk, **{"spark.sparkshim.registry.zookeeper.log.level": "INFO"})
    d = drivers(args_for(conf))
    registered(d)
    d.send("quit")
    d.expect("BYE")
    d.wait()
    lines = d.stderr().splitlines()
    zk_lines = [ln for ln in lines if "zookeeper: " in ln]
    assert zk_lines, lines
    for ln in lines:
        assert LOG_LINE.match(ln), ln
        assert "ZOO_INFO@" not in ln and "ZOO_WARN@" not in ln


def test_default_log_level_keeps_zookeeper_quiet(zk, drivers):
    ns, ref, conf = engine_conf(zk)
    d = drivers(args_for(conf))
    registered(d)
    d.send("quit")
    d.expect("BYE")
    d.wait()
    assert "zookeeper: " not in d.stderr()


def test_register_latency(zk, drivers, capsys):
    """Register / deregister round trips on loopback (fresh session each)."""
    ns, ref, conf = engine_conf(zk)
    d = drivers(args_for(conf))
    reg = [registered(d)[0]]
    dereg = []
    for _ in range(20):
        d.send("deregister")
        dereg.append(int(d.expect("DEREGISTERED").split()[2]))
        d.send("register")
        reg.append(registered(d)[0])
    assert len(nodes_with(zk.port, ns, f"refId={ref}")) == 1
    with capsys.disabled():
        print(f"\nregister ms: median {statistics.median(reg)} max {max(reg)} "
              f"(first {reg[0]}); deregister ms: median {statistics.median(dereg)} "
              f"max {max(dereg)}")
    assert max(reg) < 5000 and max(dereg) < 2000
