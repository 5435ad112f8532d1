#!/usr/bin/python3
"""Start-up, stop and memory figures of sparkshim against the two ways Spark
itself would start the same connect server:

  shim        sparkshim (launcher JVM child + in-process driver JVM)
  submit      $SPARK_HOME/bin/spark-submit (launcher JVM + exec'd driver JVM)
  java        bare `java -cp jars/* SparkSubmit ...` (one JVM, no launcher)

For each: wall time from exec to the connect port answering a real Spark
Connect Config call, RSS once serving, and (shim) SIGTERM-to-exit on an idle
engine. Median of --runs. Everything on 127.0.0.1."""
import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from report import emit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from engine import JDK_BIN, SHIM_BIN, STANDIN, config_call, free_port  # noqa: E402

CONNECT = "org.apache.spark.sql.connect.service.SparkConnectServer"


def spark_args(port):
    return ["--master", "local[1]", "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
            "--conf", "spark.connect.grpc.binding.port=%d" % port,
            "--conf", "spark.ui.enabled=false"]


def rss_kb(pid):
    """RSS of pid and all its descendants (spark-submit's driver is a child)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return total


def wait_answer(port, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("exited with %s" % proc.returncode)
        try:
            config_call(port, timeout=1)
            return
        except Exception:
            time.sleep(0.01)
    raise RuntimeError("no answer")


def one_run(kind, tmp):
    port = free_port()
    env = dict(os.environ, SPARK_HOME=STANDIN, JAVA_HOME=os.path.dirname(JDK_BIN))
    env.pop("NOTIFY_SOCKET", None)
    if kind == "shim":
        argv = [SHIM_BIN, "--control-address", "off", "--"] + spark_args(port)
    elif kind == "submit":
        argv = [os.path.join(STANDIN, "bin", "spark-submit"), "--class", CONNECT] + \
            spark_args(port) + ["spark-internal"]
    else:
        argv = [os.path.join(JDK_BIN, "java"), "-Xmx1g", "-cp",
                "%s/conf/:%s/jars/*" % (STANDIN, STANDIN), "org.apache.spark.deploy.SparkSubmit",
                "--class", CONNECT] + spark_args(port) + ["spark-internal"]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, cwd=tmp, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_answer(port, proc)
        t_ready = time.monotonic() - t0
        # Let the JVM settle a moment so RSS is the serving RSS, not a peak.
        config_call(port)
        rss = rss_kb(proc.pid)
        t1 = time.monotonic()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        t_stop = time.monotonic() - t1
        return t_ready, rss, t_stop
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("shim", "submit", "java"):
            res = [one_run(kind, tmp) for _ in range(a.runs)]
            rows[kind] = [statistics.median(r[i] for r in res) for i in range(3)]
    lines = ["startup (median of %d runs, stand-in Spark %s, exec -> Config answered):"
             % (a.runs, os.path.basename(STANDIN))]
    for kind, (t, rss, stop) in rows.items():
        lines.append("  %-7s ready %.3f s   RSS %6.1f MiB   SIGTERM->exit %.3f s"
                     % (kind, t, rss / 1024, stop))
    lines.append("  shim RSS beyond a bare java serving the same: %+.1f MiB"
                 % ((rows["shim"][1] - rows["java"][1]) / 1024))
    emit(lines, a.out)


if __name__ == "__main__":
    main()
