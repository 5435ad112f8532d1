#!/usr/bin/python3
"""Cluster section of `make bench` (issue 14); also runs alone:

    /usr/bin/python3 bench/cluster.py                  # REAL_ROUNDS (default 5) rounds
    /usr/bin/python3 bench/cluster.py --rounds 2 --warmup 1 --out build/bench/results.txt

The same sparkshim engine (real Spark 4 home, warm start-up cache) started
with `--master local[1]` and with `--master spark://127.0.0.1:PORT` on a real
standalone cluster (one master, one worker with 1 core, started once for the
run; tests/integration/standalone.py). Per round the two launches alternate
(the order flips every round), so drift hits both alike. Per launch, as in
bench/real_spark.py (same client, bench/real_spark_client.py, imports done
before the exec):

  ready      exec -> the first Spark Connect Config RPC answered
  1st query  exec -> spark.range(1).count() answered by the real client (on
             the cluster its task runs on the executor: the figure includes
             the executor's launch unless it was already up)

and for the cluster launch, from the master's /json and /proc, polled every
50 ms: app registered (the application appears on the master), executor
granted (the worker's core is in use) and executor JVM (its process exists).
Then SIGTERM; the next launch waits until the application is FINISHED and
its executor gone. Reported: medians [min-max], the per-round ratios
cluster/local and the per-round differences (the extra cost of registering
the application and acquiring the executor). Skipped (one line in the
results) without the real Spark home."""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))

from real_spark import (Client, _kill_all, _live, base_env, fmt, free_port,  # noqa: E402
                        load_homes, stats)
from report import emit  # noqa: E402
from standalone import Standalone  # noqa: E402

READY_TIMEOUT = 240


def engine_args(master, port, cache):
    shim = os.environ.get("SPARKSHIM_BIN", os.path.join(os.path.dirname(HERE), "build",
                                                        "sparkshim"))
    return [shim, "--control-address", "off", "--cache-dir", cache, "--stop-timeout", "60s",
            "--", "--master", master,
            "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
            "--conf", "spark.connect.grpc.binding.port=%d" % port,
            "--conf", "spark.ui.enabled=false",
            "--conf", "spark.driver.host=127.0.0.1",
            "--conf", "spark.driver.bindAddress=127.0.0.1",
            "--conf", "spark.executor.memory=512m"]


class MasterWatch:
    """Polls the master (50 ms) from t0: when an app appeared, when the
    worker's core was granted, when an executor JVM existed."""

    def __init__(self, cluster, t0):
        self.c, self.t0 = cluster, t0
        self.app = self.granted = self.jvm = None
        self.app_id = None
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set() and self.jvm is None:
            now = time.monotonic() - self.t0
            try:
                st = self.c.status(timeout=2.0)
            except (OSError, ValueError):
                st = {}
            apps = st.get("activeapps", [])
            if apps and self.app is None:
                self.app, self.app_id = now, apps[0]["id"]
            if self.granted is None and apps and st.get("coresused", 0) >= 1:
                self.granted = now
            if self.app_id and self.jvm is None and self.c.executor_pids(self.app_id):
                self.jvm = time.monotonic() - self.t0
            self._stop.wait(0.05)

    def stop(self):
        self._stop.set()
        self._t.join(5)


def one_launch(kind, cluster, spark_home, python, tmp, seq, cache):
    tag = "%s%d" % (kind, seq)
    client = Client(python, tmp, tag)
    port = free_port()
    master = cluster.url if kind == "cluster" else "local[1]"
    env = base_env(spark_home)
    env["PYSPARK_PYTHON"] = python
    err = open(os.path.join(tmp, "engine-%s.err" % tag), "wb")
    res = {}
    proc = watch = None
    try:
        t0 = time.monotonic()
        proc = subprocess.Popen(engine_args(master, port, cache), env=env, cwd=tmp,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err, start_new_session=True)
        _live.append(proc)
        if kind == "cluster":
            watch = MasterWatch(cluster, t0)
        client.send(cmd="ready", port=port, timeout=READY_TIMEOUT)
        res["ready"] = client.expect("ready", READY_TIMEOUT, proc)["t"] - t0
        res["query"] = client.expect("query", READY_TIMEOUT, proc)["t"] - t0
        if watch:
            deadline = time.monotonic() + 60
            while watch.jvm is None and time.monotonic() < deadline:
                time.sleep(0.05)
            watch.stop()
            res.update(app=watch.app, granted=watch.granted, jvm=watch.jvm)
        client.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=90)
        if watch and watch.app_id:
            cluster.wait_app(watch.app_id, lambda w, a: w == "completed", 60, "app completed")
            deadline = time.monotonic() + 60
            while cluster.executor_pids() and time.monotonic() < deadline:
                time.sleep(0.05)
            if cluster.executor_pids():
                raise RuntimeError("an executor outlived its application")
    finally:
        if watch:
            watch.stop()
        client.close()
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        err.close()
    return res


def report(rounds, n_rounds, warmup):
    def col(kind, key):
        return [r[kind].get(key) for r in rounds]

    lines = ["", "== cluster: sparkshim on a real standalone cluster (1 worker, 1 core) "
             "vs local[1]; %d rounds after %d warm-up, launches alternating; "
             "seconds, median [min-max]" % (n_rounds, warmup)]
    for kind, name in (("local", "local[1]"), ("cluster", "spark://")):
        lines.append("  %-9s ready %s   1st query %s" % (name, fmt(stats(col(kind, "ready")), 2),
                                                      fmt(stats(col(kind, "query")), 2)))
    for key, what in (("ready", "ready"), ("query", "1st query")):
        ratios = [c / l for c, l in zip(col("cluster", key), col("local", key))]
        diffs = [c - l for c, l in zip(col("cluster", key), col("local", key))]
        lines.append("  %-9s cluster/local per round: %s (median %.2f); extra: %s s"
                     % (what, " ".join("%.2f" % r for r in ratios),
                        stats(ratios)[0], fmt(stats(diffs), 2)))
    lines.append("  cluster, from exec: app registered on the master %s, executor granted %s, "
                 "executor JVM running %s"
                 % (fmt(stats(col("cluster", "app")), 2), fmt(stats(col("cluster", "granted")), 2),
                    fmt(stats(col("cluster", "jvm")), 2)))
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("REAL_ROUNDS", "5")))
    ap.add_argument("--warmup", type=int, default=int(os.environ.get("REAL_WARMUP", "1")))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(HERE), "build", "bench",
                                                  "results.txt"))
    a = ap.parse_args()
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    spark_home, python = load_homes()
    if not spark_home or not os.path.isdir(os.path.join(spark_home or "", "jars")) or \
            not python:
        emit(["", "== cluster: skipped (no real Spark 4 home: make deps)"], a.out)
        return 0
    tmp = tempfile.mkdtemp(prefix="sparkshim-bench-cluster-")
    cache = os.path.join(tmp, "cache")
    cluster = None
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(128 + s))
    try:
        cluster = Standalone(os.path.join(tmp, "standalone"), spark_home).start()
        rounds = []
        for i in range(a.warmup + a.rounds):
            order = ("local", "cluster") if i % 2 == 0 else ("cluster", "local")
            r = {k: one_launch(k, cluster, spark_home, python, tmp, i, cache) for k in order}
            print("round %d%s: %s" % (i, " (warm-up)" if i < a.warmup else "",
                                      {k: {x: round(v, 2) for x, v in r[k].items() if v}
                                       for k in r}), flush=True)
            if i >= a.warmup:
                rounds.append(r)
        emit(report(rounds, a.rounds, a.warmup), a.out)
    finally:
        _kill_all()
        if cluster:
            cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
