#!/usr/bin/python3
"""Gateway registration time: a real ZooKeeper (tests/integration/zkserver.py)
or, with --backend etcd, a real etcd (tests/integration/etcdserver.py) on
127.0.0.1, and the engine launched the way a Kyuubi gateway does
(scripts/spark-submit-wrapper.sh with Kyuubi's command line, as in
tests/integration/test_registry_engine.py). Per run:

  exec -> node          from exec of the wrapper to the ZooKeeper node whose
                        name contains refId=<id> being listed
  SIGTERM -> node gone  until that node is no longer listed
  SIGTERM -> exit       until the process has exited (status must be 0)

ZooKeeper is polled every 10 ms with tests/integration/zkclient.py over one
session; etcd every 10 ms with a KV.Range call over one gRPC channel (the
engine space listed as a gateway does). Median of --runs, with the range."""
import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from report import emit

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from engine import JDK_BIN, OS_USER, SHIM_BIN, STANDIN, config_call  # noqa: E402
from zkclient import NONODE, ZkClient, ZkError  # noqa: E402
from zkserver import ZkServer  # noqa: E402
from etcdserver import EtcdServer  # noqa: E402
import grpc  # noqa: E402

WRAPPER = os.path.join(ROOT, "scripts", "spark-submit-wrapper.sh")
CONNECT_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
KYUUBI_VERSION = "1.10.0"
POLL = 0.01
TIMEOUT = 120


ETCD_CLASS = "org.apache.kyuubi.ha.client.etcd.EtcdDiscoveryClient"


def kyuubi_argv(zk_address, ns, ref, user, log_path, backend="zookeeper"):
    """What Kyuubi's SparkProcessBuilder runs for a USER-level connect engine."""
    confs = [("spark.kyuubi.ha.client.class", ETCD_CLASS)] if backend == "etcd" else []
    confs += [
        ("spark.kyuubi.engine.type", "SPARK_CONNECT"),
        ("spark.kyuubi.engine.share.level", "USER"),
        ("spark.kyuubi.ha.addresses", zk_address),
        ("spark.kyuubi.ha.namespace", ns),
        ("spark.kyuubi.ha.engine.ref.id", ref),
        ("spark.kyuubi.engine.submit.time", str(int(time.time() * 1000))),
        ("spark.kyuubi.session.engine.initialize.timeout", "PT3M"),
        ("spark.kyuubi.ha.zookeeper.session.timeout", "4000"),
        ("spark.kyuubi.ha.zookeeper.connection.timeout", "10000"),
        ("spark.kyuubi.ha.zookeeper.connection.max.retries", "10"),
        ("spark.kyuubi.engine.engineLog.path", log_path),
        ("spark.app.name", "kyuubi_USER_SPARK_CONNECT_%s_default_%s" % (user, ref)),
        ("spark.yarn.tags", "KYUUBI,%s" % ref),
        ("spark.master", "local[1]"),
        ("spark.ui.enabled", "false"),
        ("spark.connect.grpc.binding.address", "127.0.0.1"),
        ("spark.connect.grpc.binding.port", "0"),
    ]
    argv = [WRAPPER, "--class", CONNECT_CLASS]
    for k, v in confs:
        argv += ["--conf", "%s=%s" % (k, v)]
    jars = [j for j in os.listdir(os.path.join(STANDIN, "jars")) if j.startswith("spark-connect_")]
    return argv + ["--proxy-user", user,
                   os.path.join(STANDIN, "jars", jars[0]) if jars else "spark-internal"]


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _fields(buf):
    """Length-delimited and varint fields of a protobuf message: [(no, value)]."""
    i, out = 0, []
    while i < len(buf):
        tag = shift = 0
        while True:
            b = buf[i]
            i += 1
            tag |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        no, wt = tag >> 3, tag & 7
        if wt == 0:
            v = shift = 0
            while True:
                b = buf[i]
                i += 1
                v |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
        elif wt == 2:
            ln = shift = 0
            while True:
                b = buf[i]
                i += 1
                ln |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            v = buf[i:i + ln]
            i += ln
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        else:
            v, i = buf[i:i + 4], i + 4
        out.append((no, v))
    return out


class EtcdLister:
    """The engine space over etcd's KV.Range (etcdserverpb.RangeRequest:
    key = 1, range_end = 2; RangeResponse.kvs = 2, KeyValue key = 1,
    value = 5), one channel, like a gateway's client."""

    def __init__(self, address):
        self.ch = grpc.insecure_channel(address, options=[("grpc.enable_http_proxy", 0)])
        self.range = self.ch.unary_unary("/etcdserverpb.KV/Range")

    def close(self):
        self.ch.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def kvs(self, ns):
        prefix = (ns + "/").encode()
        end = prefix[:-1] + bytes([prefix[-1] + 1])
        req = (b"\x0a" + _varint(len(prefix)) + prefix + b"\x12" + _varint(len(end)) + end)
        out = []
        for no, kv in _fields(self.range(req, timeout=5)):
            if no == 2:
                f = dict(_fields(kv))
                out.append((f.get(1, b"")[len(prefix):].decode(), f.get(5, b"")))
        return out

    def children(self, ns):
        return [n for n, _ in self.kvs(ns) if not n.startswith("lock")]

    def get(self, path):
        ns, name = path.rsplit("/", 1)
        return dict(self.kvs(ns))[name], None


def children(c, ns, needle):
    if isinstance(c, EtcdLister):
        return [n for n in c.children(ns) if needle in n]
    try:
        return [n for n in c.children(ns) if needle in n]
    except ZkError as e:
        if e.code == NONODE:
            return []
        raise


def tail(path):
    with open(path, "rb") as f:
        return f.read().decode(errors="replace")[-4000:]


def one_run(zk, tmp, n, backend="zookeeper"):
    # The engine's user is the OS user: config_call sends it as user_id,
    # and the front door admits only the engine's user.
    user, ref = OS_USER, str(uuid.uuid4())
    ns = "/kyuubi_%s_USER_SPARK_CONNECT/%s/default" % (KYUUBI_VERSION, user)
    work = os.path.join(tmp, "work%d" % n)
    os.makedirs(work)
    log_path = os.path.join(work, "kyuubi-spark-connect-engine.log")
    env = {"PATH": "/usr/bin:/bin", "SPARK_HOME": STANDIN, "SPARKSHIM_BIN": SHIM_BIN,
           "JAVA_HOME": os.path.dirname(JDK_BIN), "HOME": tmp}
    argv = kyuubi_argv(zk.address, ns, ref, user, log_path, backend)
    needle = "refId=%s" % ref
    client = EtcdLister(zk.address) if backend == "etcd" else ZkClient(zk.port)
    with client as c, open(log_path, "wb") as log:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, cwd=work, env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            while True:
                names = children(c, ns, needle)
                if names:
                    t_reg = time.monotonic() - t0
                    break
                if proc.poll() is not None:
                    raise RuntimeError("engine exited %s before registering:\n%s"
                                       % (proc.returncode, tail(log_path)))
                if time.monotonic() - t0 > TIMEOUT:
                    raise RuntimeError("no node %s after %ss:\n%s" % (needle, TIMEOUT,
                                                                      tail(log_path)))
                time.sleep(POLL)
            # The registered address must answer Spark Connect (not timed).
            data, _ = c.get("%s/%s" % (ns, names[0]))
            config_call(int(data.decode().rsplit(":", 1)[1]))
            t1 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            t_gone = t_exit = None
            while t_gone is None or t_exit is None:
                # Each time is taken after its check answered: an upper bound.
                if t_gone is None and not children(c, ns, needle):
                    t_gone = time.monotonic() - t1
                if t_exit is None and proc.poll() is not None:
                    t_exit = time.monotonic() - t1
                now = time.monotonic() - t1
                if now > TIMEOUT:
                    raise RuntimeError("after SIGTERM: node gone %s, exit %s after %ss:\n%s"
                                       % (t_gone, t_exit, TIMEOUT, tail(log_path)))
                time.sleep(POLL)
            if proc.returncode != 0:
                raise RuntimeError("engine exited %s on SIGTERM:\n%s"
                                   % (proc.returncode, tail(log_path)))
            return t_reg, t_gone, t_exit
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", required=True)
    ap.add_argument("--backend", choices=("zookeeper", "etcd"), default="zookeeper")
    a = ap.parse_args()
    etcd = a.backend == "etcd"
    with tempfile.TemporaryDirectory(prefix="sparkshim-bench-") as tmp:
        srv = EtcdServer(os.path.join(tmp, "etcd")) if etcd else ZkServer(os.path.join(tmp, "zk"))
        srv.start()
        try:
            res = [one_run(srv, tmp, i, a.backend) for i in range(a.runs)]
        finally:
            srv.stop(kill=True)
    lines = ["gateway registration (real %s, Kyuubi launch via spark-submit-wrapper.sh, "
             "polled every %d ms, median of %d runs [min-max]):"
             % ("etcd" if etcd else "ZooKeeper", POLL * 1000, a.runs)]
    node = "key" if etcd else "node"
    for i, what in enumerate(("exec -> %s refId=<id> listed" % node, "SIGTERM -> %s gone" % node,
                              "SIGTERM -> process exit (0)")):
        v = [r[i] for r in res]
        lines.append("  %-32s %7.3f s  [%.3f-%.3f]" % (what, statistics.median(v), min(v), max(v)))
    emit(lines, a.out)


if __name__ == "__main__":
    main()
