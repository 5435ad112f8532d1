#!/usr/bin/python3
"""Gateway registration time: a real ZooKeeper (tests/integration/zkserver.py)
on 127.0.0.1, and the engine launched the way a Kyuubi gateway does
(scripts/spark-submit-wrapper.sh with Kyuubi's command line, as in
tests/integration/test_registry_engine.py). Per run:

  exec -> node          from exec of the wrapper to the ZooKeeper node whose
                        name contains refId=<id> being listed
  SIGTERM -> node gone  until that node is no longer listed
  SIGTERM -> exit       until the process has exited (status must be 0)

ZooKeeper is polled every 10 ms with tests/integration/zkclient.py over one
session. Median of --runs, with the range."""
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
from engine import JDK_BIN, SHIM_BIN, STANDIN, config_call  # noqa: E402
from zkclient import NONODE, ZkClient, ZkError  # noqa: E402
from zkserver import ZkServer  # noqa: E402

WRAPPER = os.path.join(ROOT, "scripts", "spark-submit-wrapper.sh")
CONNECT_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
KYUUBI_VERSION = "1.10.0"
POLL = 0.01
TIMEOUT = 120


def kyuubi_argv(zk_address, ns, ref, user, log_path):
    """What Kyuubi's SparkProcessBuilder runs for a USER-level connect engine."""
    confs = [
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


def children(c, ns, needle):
    try:
        return [n for n in c.children(ns) if needle in n]
    except ZkError as e:
        if e.code == NONODE:
            return []
        raise


def tail(path):
    with open(path, "rb") as f:
        return f.read().decode(errors="replace")[-4000:]


def one_run(zk, tmp, n):
    user, ref = "bench", str(uuid.uuid4())
    ns = "/kyuubi_%s_USER_SPARK_CONNECT/%s/default" % (KYUUBI_VERSION, user)
    work = os.path.join(tmp, "work%d" % n)
    os.makedirs(work)
    log_path = os.path.join(work, "kyuubi-spark-connect-engine.log")
    env = {"PATH": "/usr/bin:/bin", "SPARK_HOME": STANDIN, "SPARKSHIM_BIN": SHIM_BIN,
           "JAVA_HOME": os.path.dirname(JDK_BIN), "HOME": tmp}
    argv = kyuubi_argv(zk.address, ns, ref, user, log_path)
    needle = "refId=%s" % ref
    with ZkClient(zk.port) as c, open(log_path, "wb") as log:
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
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sparkshim-bench-") as tmp:
        zk = ZkServer(os.path.join(tmp, "zk"))
        zk.start()
        try:
            res = [one_run(zk, tmp, i) for i in range(a.runs)]
        finally:
            zk.stop(kill=True)
    lines = ["gateway registration (real ZooKeeper, Kyuubi launch via spark-submit-wrapper.sh, "
             "polled every %d ms, median of %d runs [min-max]):" % (POLL * 1000, a.runs)]
    for i, what in enumerate(("exec -> node refId=<id> listed", "SIGTERM -> node gone",
                              "SIGTERM -> process exit (0)")):
        v = [r[i] for r in res]
        lines.append("  %-32s %7.3f s  [%.3f-%.3f]" % (what, statistics.median(v), min(v), max(v)))
    emit(lines, a.out)


if __name__ == "__main__":
    main()
