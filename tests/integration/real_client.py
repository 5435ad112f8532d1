"""A real PySpark Connect client, run as a subprocess by test_real_spark.py.

It is run with the venv python that has the real PySpark client
(SPARK4_PYTHON or SPARK35_PYTHON from .venv/spark-homes.env), never inside
the pytest process:

    python real_client.py sc://127.0.0.1:PORT SCENARIO [args]

One-shot scenarios print exactly one JSON line (the last line of stdout) with
their results; `session` is interactive (one command per stdin line, one
JSON line per command). Everything is bounded: every wait in here has a
deadline, and the test bounds the process too.
"""
import json
import os
import sys
import tempfile
import threading
import time
import traceback


def emit(obj):
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


def connect(url, new=False):
    from pyspark.sql import SparkSession
    b = SparkSession.builder.remote(url)
    return b.create() if new else b.getOrCreate()


def err_info(ex):
    """What the client got: class (with its MRO names), message, error class."""
    info = {"type": type(ex).__name__,
            "module": type(ex).__module__,
            "mro": [c.__name__ for c in type(ex).__mro__],
            "message": str(ex)[:2000]}
    for attr in ("getErrorClass", "getCondition", "getSqlState"):
        f = getattr(ex, attr, None)
        if callable(f):
            try:
                info[attr] = f()
            except Exception:  # noqa: BLE001 - best effort
                pass
    return info


def sum10(spark):
    return spark.range(10).selectExpr("sum(id) AS s").collect()[0]["s"]


# --------------------------------------------------------------- scenarios

def sc_queries(url):
    import pandas as pd
    spark = connect(url)
    out = {"version": spark.version}
    out["sum10"] = sum10(spark)
    out["sql"] = [tuple(r) for r in spark.sql(
        "SELECT k, count(*) AS n FROM VALUES (1), (2), (2), (3), (3), (3) AS t(k) "
        "GROUP BY k ORDER BY k").collect()]
    a = spark.createDataFrame([(1, "one"), (2, "two"), (3, "three"), (4, "four")],
                              "id INT, name STRING")
    b = spark.createDataFrame([(2, 20.0), (3, 30.0), (3, 31.0), (5, 50.0)],
                              "id INT, amount DOUBLE")
    out["join"] = sorted(tuple(r) for r in a.join(b, "id").select("id", "name", "amount")
                         .collect())
    out["left_join_count"] = a.join(b, "id", "left").count()
    pdf = pd.DataFrame({"x": list(range(1000)),
                        "name": ["n%d" % i for i in range(1000)],
                        "f": [i / 4.0 for i in range(1000)]})
    df = spark.createDataFrame(pdf)
    out["pandas_schema"] = df.schema.simpleString()
    agg = df.selectExpr("count(*) AS c", "sum(x) AS sx", "sum(f) AS sf",
                        "max(name) AS mx").collect()[0]
    out["pandas_agg"] = [agg["c"], agg["sx"], agg["sf"], agg["mx"]]
    back = df.orderBy("x").toPandas()
    out["pandas_roundtrip_equal"] = bool(back.equals(pdf))
    t0 = time.monotonic()
    big = spark.range(0, 1000000).selectExpr("id", "id % 7 AS m").toPandas()
    out["big_len"] = len(big)
    out["big_sum"] = int(big["id"].sum())
    out["big_msum"] = int(big["m"].sum())
    out["big_secs"] = round(time.monotonic() - t0, 3)
    spark.stop()
    emit(out)


def _sleep_query(spark, rows, ms):
    """A one-row result that takes rows*ms milliseconds on one partition: each
    row calls java.lang.Thread.sleep through reflect() (the aggregate uses z,
    so the optimizer cannot prune the call); the result is `rows`."""
    return spark.range(0, rows, 1, 1).selectExpr(
        "reflect('java.lang.Thread', 'sleep', CAST(%d AS BIGINT)) AS z" % ms).selectExpr(
        "sum(if(z = 'no such value', 0, 1)) AS c")


def sc_interrupt(url, kind="sleep", gate="none", budget="90"):
    """A long query, interrupted with spark.interruptAll() from this process
    once it runs. gate=stdin: announce {"started": true} and wait for a line
    on stdin first (the test waits until the engine reports the operation)."""
    budget = float(budget)
    spark = connect(url)
    out = {"version": spark.version, "sum10_before": sum10(spark)}
    if kind == "sleep":
        df = _sleep_query(spark, 100000, 1000)
    else:
        df = spark.range(0, 10 ** 13).selectExpr("sum(id)")
    res = {}

    def run():
        t = time.monotonic()
        try:
            res["rows"] = [tuple(r) for r in df.collect()]
        except BaseException as ex:  # noqa: BLE001 - reported
            res["error"] = err_info(ex)
        res["secs"] = time.monotonic() - t

    th = threading.Thread(target=run, daemon=True)
    t0 = time.monotonic()
    th.start()
    if gate == "stdin":
        emit({"started": True})
        if not sys.stdin.readline():
            raise RuntimeError("stdin closed before the go-ahead to interrupt")
    # Interrupt once the operation is really running on the server: poll
    # interruptAll() until it reports the operation it interrupted.
    interrupted = []
    deadline = time.monotonic() + budget / 2
    while not interrupted and th.is_alive() and time.monotonic() < deadline:
        interrupted = spark.interruptAll()
        if not interrupted:
            time.sleep(0.2)
    out["interrupted_ids"] = interrupted
    out["interrupt_after_secs"] = round(time.monotonic() - t0, 3)
    th.join(max(1.0, budget / 2))
    out["thread_alive_after_join"] = th.is_alive()
    out["query"] = {k: v for k, v in res.items()}
    # The engine keeps serving: the same session and a new one.
    out["sum10_same_session"] = sum10(spark)
    s2 = connect(url, new=True)
    out["new_session_differs"] = s2.client._session_id != spark.client._session_id \
        if hasattr(s2, "client") else None
    out["sum10_new_session"] = sum10(s2)
    s2.stop()
    spark.stop()
    emit(out)


MODULE_SRC = '''
MAGIC = 1000

def scale(x):
    return x * 3 + MAGIC
'''


def sc_artifact(url):
    from pyspark.sql.functions import col, udf
    spark = connect(url)
    d = tempfile.mkdtemp(prefix="shimart")
    modname = "shim_artifact_mod_%d" % os.getpid()
    path = os.path.join(d, modname + ".py")
    with open(path, "w") as f:
        f.write(MODULE_SRC)
    spark.addArtifacts(path, pyfile=True)

    def use_module(x):
        import importlib
        m = importlib.import_module(modname)
        return m.scale(x)

    f = udf(use_module, "bigint")
    rows = spark.range(5).select(col("id"), f(col("id")).alias("v")).orderBy("id").collect()
    out = {"version": spark.version, "module": modname,
           "rows": [[r["id"], r["v"]] for r in rows]}
    spark.stop()
    emit(out)


def short_retries(spark):
    """PySpark's default retry policy tolerates >= 10 min of an unreachable
    server (every RPC, and the background ReleaseExecute threads, which also
    hold up interpreter exit). For a client of an engine that is being
    stopped, bound it to a few seconds. Returns whether it could be set."""
    try:
        from pyspark.sql.connect.client.retries import DefaultPolicy
        spark.client.set_retry_policies([DefaultPolicy(max_retries=3, initial_backoff=200,
                                                       max_backoff=2000)])
        return True
    except (ImportError, AttributeError):
        return False


def sc_sleep(url, rows="10", ms="1000", retries="short"):
    """One long query (rows*ms ms); reports rows or the error the client got.
    The result is fetched with toArrow() where it exists: collect() makes a
    Config RPC after the result arrived, which would fail (after retries)
    if the engine stopped meanwhile although the query's answer came."""
    spark = connect(url)
    out = {"version": spark.version}
    if retries == "short":
        out["short_retries"] = short_retries(spark)
    df = _sleep_query(spark, int(rows), int(ms))
    df.schema  # analyse now, while the engine certainly runs
    t0 = time.monotonic()
    try:
        if hasattr(df, "toArrow"):
            out["count"] = df.toArrow().column("c")[0].as_py()
        else:
            out["count"] = df.collect()[0]["c"]
    except BaseException as ex:  # noqa: BLE001 - reported
        out["error"] = err_info(ex)
    out["secs"] = round(time.monotonic() - t0, 3)
    t1 = time.monotonic()
    try:
        spark.stop()
    except BaseException as ex:  # noqa: BLE001 - engine may be gone
        out["stop_error"] = err_info(ex)
    out["stop_secs"] = round(time.monotonic() - t1, 3)
    emit(out)


def sc_session(url):
    """Interactive: commands on stdin, one JSON line answer each.
    query | keepalive SECS INTERVAL | stop | exit | abandon"""
    spark = None
    emit({"hello": True, "pid": os.getpid()})
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        try:
            if cmd[0] == "query":
                if spark is None:
                    spark = connect(url)
                t0 = time.monotonic()
                v = sum10(spark)
                emit({"ok": True, "sum10": v, "t0": t0, "t": time.monotonic(),
                      "version": spark.version})
            elif cmd[0] == "keepalive":
                # A small query every INTERVAL seconds for SECS seconds.
                secs, interval = float(cmd[1]), float(cmd[2])
                if spark is None:
                    spark = connect(url)
                end = time.monotonic() + secs
                n = 0
                last = None
                while True:
                    assert sum10(spark) == 45
                    n += 1
                    last = time.monotonic()
                    if last >= end:
                        break
                    time.sleep(interval)
                emit({"ok": True, "queries": n, "t": last})
            elif cmd[0] == "stop":
                t = time.monotonic()
                spark.stop()
                spark = None
                emit({"ok": True, "t": t, "t_done": time.monotonic()})
            elif cmd[0] == "exit":
                emit({"ok": True, "bye": True})
                return
            elif cmd[0] == "abandon":
                # Vanish like a killed client: no ReleaseSession at exit
                # (PySpark's atexit hook would retry it for minutes against
                # an engine that is gone).
                emit({"ok": True, "bye": True})
                os._exit(0)
            else:
                emit({"ok": False, "error": "unknown command %r" % cmd[0]})
        except BaseException as ex:  # noqa: BLE001 - reported
            emit({"ok": False, "error": err_info(ex), "tb": traceback.format_exc()[-2000:]})


def _executor_of_this_process():
    """Run inside a Python worker: walk up the process tree to the executor
    JVM (CoarseGrainedExecutorBackend) that started it; its pid, executor id
    and host as its command line gives them (what SparkEnv.get.executorId
    is on that JVM), or the driver's pid when the task ran in the driver."""
    pid = os.getpid()
    for _ in range(10):
        with open("/proc/%d/stat" % pid) as f:
            pid = int(f.read().rsplit(")", 1)[1].split()[1])
        if pid <= 1:
            break
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0")]
        if "org.apache.spark.executor.CoarseGrainedExecutorBackend" in argv:
            def arg(name):
                return argv[argv.index(name) + 1] if name in argv else None
            return {"jvm_pid": pid, "executor_id": arg("--executor-id"),
                    "host": arg("--hostname"), "app_id": arg("--app-id"),
                    "driver_url": arg("--driver-url")}
    return {"jvm_pid": None, "executor_id": "driver", "host": None, "app_id": None,
            "driver_url": None}


def sc_executor(url, rows="1000000", parts="4"):
    """A query whose tasks run where Spark schedules them: mapInPandas over
    `parts` partitions reports, per partition, the rows it saw, their sum,
    and which JVM ran it (see _executor_of_this_process)."""
    import socket
    import pandas as pd
    rows, parts = int(rows), int(parts)
    spark = connect(url)
    out = {"version": spark.version}

    def where(batches):
        n = s = 0
        for b in batches:
            n += len(b)
            s += int(b["id"].sum())
        info = _executor_of_this_process()
        yield pd.DataFrame([{"n": n, "s": s, "worker_pid": os.getpid(),
                             "hostname": socket.gethostname(), **info}])

    schema = ("n long, s long, worker_pid long, hostname string, jvm_pid long, "
              "executor_id string, host string, app_id string, driver_url string")
    t0 = time.monotonic()
    rows_out = spark.range(0, rows, 1, parts).mapInPandas(where, schema).collect()
    out["secs"] = round(time.monotonic() - t0, 3)
    out["partitions"] = [r.asDict() for r in rows_out]
    spark.stop()
    emit(out)


SCENARIOS = {"queries": sc_queries, "executor": sc_executor, "interrupt": sc_interrupt, "artifact": sc_artifact,
             "sleep": sc_sleep, "session": sc_session}


def _test_lan(host):
    """198.18.0.0/15: the private LANs the tests build in network
    namespaces of their own (tests/integration/netns.py)."""
    import ipaddress
    try:
        return ipaddress.ip_address(host) in ipaddress.ip_network("198.18.0.0/15")
    except ValueError:
        return False


def main():
    # `kill -USR1` prints every thread's stack on stderr (for a hung client).
    import faulthandler
    import signal
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    if len(sys.argv) < 3 or sys.argv[2] not in SCENARIOS:
        sys.stderr.write("usage: real_client.py URL {%s} [args]\n" % "|".join(SCENARIOS))
        return 64
    url = sys.argv[1]
    host = url.split("//", 1)[1].split(":")[0].strip("[]")
    if host not in ("127.0.0.1", "::1", "localhost") and not _test_lan(host):
        sys.stderr.write("real_client.py: refusing non-loopback URL %s\n" % url)
        return 64
    try:
        SCENARIOS[sys.argv[2]](url, *sys.argv[3:])
    except BaseException as ex:  # noqa: BLE001 - reported for the test
        emit({"fatal": err_info(ex), "tb": traceback.format_exc()[-3000:]})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
