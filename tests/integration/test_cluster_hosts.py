"""sparkshim as the driver of a real standalone cluster ACROSS HOSTS
(issue 14 item 2, issue 13 item 10), hosts being network namespaces on a
private LAN of 198.18.0.0/15 that the tests create and remove (netns.py):

    cluster  master + worker (real Spark 4.3, standalone.py)
    engine   sparkshim; multi-homed: eth0 on the LAN and eth1 on a side
             link that nobody else can reach; SPARK_LOCAL_IP names the side
             link, so Spark by itself would put the driver there
    gw       ZooKeeper and a test gateway (ns_gateway.py): finds the
             engine's node and runs the real PySpark client on the sc://
             endpoint it advertises

One setting (the advertised host, or the connect server's bind address)
must give the gateway a reachable endpoint AND the executors a reachable
driver; the control port stays on loopback unless a token is set; an
advertised host that does not resolve is refused before anything starts.
"""
import json
import os
import re
import signal
import time
import uuid

import pytest

from engine import SHIM_BIN, Engine, no_process_left, wait_for
from exitcodes import EXIT_BAD_HOST
from netns import make_lan, ns_pids
from realspark import engine_env, real_spark
from standalone import Standalone, gone
from zkclient import ZkClient, nodes_with
from zkserver import ZkServer

HERE = os.path.dirname(os.path.abspath(__file__))
GATEWAY = os.path.join(HERE, "ns_gateway.py")
STOP_S = 30
NS = "/kyuubi_1.10.0_USER_SPARK_CONNECT/bob/default"


@pytest.fixture(scope="module")
def rs():
    return real_spark()


@pytest.fixture(scope="module")
def net(rs, tmp_path_factory):
    """The LAN, the cluster in its namespace, ZooKeeper in the gateway's."""
    lan = make_lan()
    root = tmp_path_factory.mktemp("hosts")
    cluster = zk = None
    try:
        hosts = {n: lan.host(n) for n in ("cluster", "engine", "gw")}
        hosts["side_ip"] = hosts["engine"].add_link("side")
        zk = ZkServer(root / "zk", port=2181, netns_host=hosts["gw"]).start()
        cluster = Standalone(root / "cluster", rs["SPARK4_HOME"], host=hosts["cluster"]).start()
        hosts.update(zk=zk, cluster_=cluster, lan=lan)
        yield hosts
    finally:
        if cluster:
            cluster.stop()
        if zk:
            zk.stop(kill=True)
        lan.teardown()


def zk_conf(net, ref):
    return ["--conf", "spark.kyuubi.ha.addresses=%s" % net["zk"].address,
            "--conf", "spark.kyuubi.ha.namespace=%s" % NS,
            "--conf", "spark.kyuubi.ha.engine.ref.id=%s" % ref,
            "--conf", "spark.kyuubi.engine.share.level=USER",
            "--conf", "spark.kyuubi.ha.zookeeper.session.timeout=10000"]


@pytest.fixture
def engine(rs, net, tmp_path):
    started = []

    def start(extra, shim=(), env=None, wait=True):
        ref = str(uuid.uuid4())
        args = list(shim) + ["--stop-timeout", "%ds" % STOP_S, "--",
                             "--master", net["cluster_"].url,
                             "--conf", "spark.ui.enabled=false",
                             "--conf", "spark.executor.memory=512m",
                             "--conf", "spark.sql.shuffle.partitions=2"] + zk_conf(net, ref) + \
            list(extra)
        # Spark's own choice points at the side link (as a spark-env.sh
        # written for another network would): only the engine's one
        # setting can put the driver on the LAN.
        e_env = dict(engine_env(rs), SPARK_LOCAL_IP=net["side_ip"], SPARK_LOCAL_HOSTNAME=None)
        e_env.update(env or {})
        d = tmp_path / ("e%d" % len(started))
        d.mkdir()
        e = Engine(d, args, env=e_env, spark_home=rs["SPARK4_HOME"],
                   prefix=net["engine"].argv([]))
        e.ref = ref
        started.append(e)
        if wait:
            e.wait_ready(timeout=180)
        return e

    yield start
    for e in started:
        e.kill()


def gateway(rs, net, ref, scenario="executor", *args, timeout=240):
    """The test gateway in the gw namespace: discovery + the real client."""
    p = net["gw"].run([rs["SPARK4_PYTHON"], GATEWAY, net["zk"].address, NS, ref, "120",
                       scenario] + [str(a) for a in args],
                      capture_output=True, text=True, timeout=timeout,
                      env={k: v for k, v in os.environ.items()
                           if not k.lower().endswith("_proxy") and k not in
                           ("SPARK_HOME", "PYTHONPATH", "SPARK_REMOTE")})
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    assert lines, "gateway printed nothing (exit %s):\n%s" % (p.returncode, p.stderr[-3000:])
    out = json.loads(lines[-1])
    assert "fatal" not in out, "gateway failed: %s\n%s\n%s" % (out["fatal"], out.get("tb"),
                                                             p.stderr[-3000:])
    return out


def nothing_on_the_side_link(net):
    """No socket of the engine listens on the side link's address: the
    driver's RPC and block manager ports went where the setting said."""
    side = [x for x in net["engine"].listening() if x[0] == net["side_ip"]]
    assert not side, "listening on the side link: %s" % side


def check_executor_query(out, net, e, lan_ip):
    r = out["result"]
    parts = r["partitions"]
    assert len(parts) == 4, r
    assert sum(p["n"] for p in parts) == 10 ** 6
    for p in parts:
        # The tasks ran in the executor JVM in the cluster namespace, whose
        # driver URL is the engine's LAN address (the one setting).
        assert p["host"] == net["cluster"].ip, p
        assert p["jvm_pid"] and p["jvm_pid"] != e.pid, p
        assert "@%s:" % lan_ip in p["driver_url"], p
    return parts[0]["app_id"], parts[0]["jvm_pid"]


def listening(net, port):
    return sorted(a for a, p in net["engine"].listening() if p == port)


def ended(net, app_id, exec_pid):
    c = net["cluster_"]
    c.wait_app(app_id, lambda w, a: w == "completed", STOP_S + 30, "%s completed" % app_id)
    assert c.app(app_id)[1]["state"] == "FINISHED"
    # Released by the driver (Spark's context stopped in the engine).
    assert "Received unregister request from application %s" % app_id in c.log("master")
    wait_for(lambda: gone(exec_pid), STOP_S, "the executor JVM gone")


def test_one_setting_drives_advertised_and_driver_host(rs, net, engine):
    """spark.kyuubi.frontend.advertised.host alone: the node advertises it,
    the driver (spark.driver.host, its bind address) uses it, so executors in
    the cluster namespace reach the driver inside sparkshim and the gateway
    reaches the connect port; the control port stays on 127.0.0.1."""
    lan_ip = net["engine"].ip
    e = engine(["--conf", "spark.kyuubi.frontend.advertised.host=%s" % lan_ip])
    nothing_on_the_side_link(net)
    out = gateway(rs, net, e.ref, "executor", 10 ** 6, 4)
    assert (out["host"], out["port"]) == (lan_ip, e.connect_port), out
    assert out["node"].startswith("serverUri=%s:%d;" % (lan_ip, e.connect_port))
    app_id, exec_pid = check_executor_query(out, net, e, lan_ip)
    assert "spark.driver.host=%s" % lan_ip in e.stderr(), e.stderr()[-3000:]
    # The control port: loopback only, not reachable from the gateway.
    ctl_port = int(e.control_address.rsplit(":", 1)[1])
    assert listening(net, ctl_port) == ["127.0.0.1"], net["engine"].listening()
    assert not net["gw"].port_open(lan_ip, ctl_port)
    assert net["gw"].port_open(lan_ip, e.connect_port)
    assert not net["gw"].port_open(net["side_ip"], e.connect_port)  # not routed
    # The gateway deletes the node: the application and its executor end.
    names = nodes_with(net["zk"].port, NS, "refId=%s" % e.ref, host=net["zk"].host,
                       connect=net["gw"].connect)
    with ZkClient(net["zk"].port, host=net["zk"].host, connect=net["gw"].connect) as c:
        c.delete("%s/%s" % (NS, names[0]))
    assert e.wait_exit(STOP_S + 15) == 0, e.stderr()[-3000:]
    ended(net, app_id, exec_pid)


def test_bind_to_one_interface(rs, net, engine):
    """spark.connect.grpc.binding.address=<LAN address>: the connect port and
    the driver's ports listen on that address only, it is what is advertised,
    the executor registers with the driver there; a control port on the LAN
    needs (and gets) a token. (The query across hosts is the test above's.)"""
    lan_ip = net["engine"].ip
    e = engine(["--conf", "spark.connect.grpc.binding.address=%s" % lan_ip],
               shim=["--control-address", "%s:0" % lan_ip],
               env={"SPARKSHIM_CONTROL_TOKEN": "s3cret-token"})
    nothing_on_the_side_link(net)
    app_id = wait_for(lambda: (e.state() or {}).get("app_id"), 30, "the app id")
    c = net["cluster_"]
    exec_pid = wait_for(lambda: c.executor_pids(app_id), 120, "the executor JVM")[0]
    # The executor in the cluster namespace reached the driver on the LAN.
    m = wait_for(lambda: re.search(r"Registered executor \S+ \((%s):\d+\) with ID 0"
                                   % re.escape(net["cluster"].ip), e.stderr()), 120,
                 "the executor registered with the driver")
    assert m
    argv = b" ".join(open("/proc/%d/cmdline" % exec_pid, "rb").read().split(b"\0")).decode()
    driver_port = int(re.search(r"--driver-url spark://CoarseGrainedScheduler@%s:(\d+)"
                                % re.escape(lan_ip), argv).group(1))
    assert listening(net, driver_port) == [lan_ip]
    assert listening(net, e.connect_port) == [lan_ip]
    # What the gateway sees and reaches.
    names = nodes_with(net["zk"].port, NS, "refId=%s" % e.ref, host=net["zk"].host,
                       connect=net["gw"].connect)
    assert len(names) == 1 and names[0].startswith("serverUri=%s:%d;" % (lan_ip, e.connect_port))
    assert net["gw"].port_open(lan_ip, e.connect_port)
    ctl_port = int(e.control_address.rsplit(":", 1)[1])
    assert listening(net, ctl_port) == [lan_ip]
    assert net["gw"].port_open(lan_ip, ctl_port)
    t0 = time.monotonic()
    e.send(signal.SIGTERM)
    assert e.wait_exit(STOP_S + 15) == 0, e.stderr()[-3000:]
    ended(net, app_id, exec_pid)
    print("bind to one interface: SIGTERM -> exit and app FINISHED in %.2f s"
          % (time.monotonic() - t0))


def test_unresolvable_advertised_host_is_refused_before_start(rs, net, engine):
    """A name that does not resolve (in the engine's namespace no DNS server
    is reachable: nothing leaves the machine): one line naming the key and the
    value, its own exit code, no JVM, no node, nothing left running."""
    e = engine(["--conf", "spark.kyuubi.frontend.advertised.host=no-such-engine.invalid"],
               wait=False)
    rc = e.wait_exit(60)
    err = e.stderr()
    assert rc == EXIT_BAD_HOST, err[-3000:]
    lines = [l for l in err.splitlines() if "error" in l.lower()]
    assert len(lines) == 1, err[-3000:]
    assert "spark.kyuubi.frontend.advertised.host=no-such-engine.invalid" in lines[0], lines
    assert "resolve" in lines[0], lines
    assert "SparkContext" not in err and "Running Spark version" not in err, err[-3000:]
    assert no_process_left(e.pid)
    assert not ns_pids(net["engine"].ns)
    assert nodes_with(net["zk"].port, NS, "refId=%s" % e.ref, host=net["zk"].host,
                      connect=net["gw"].connect) == []
    assert not os.path.exists(e.state_file)
    assert SHIM_BIN in e.argv
