"""Client half of bench/real_spark.py; runs under SPARK4_PYTHON (the venv
with the real PySpark Connect client and grpcio). Not meant to be run by
hand.

It does its imports first and says {"ev": "hello"}, so Python and PySpark
import time is never inside a figure. Then it takes one JSON command a line
on stdin and answers JSON lines on stdout, each stamped with
time.monotonic() (CLOCK_MONOTONIC, the same clock the driver reads):

  {"cmd": "ready", "port": P, "timeout": S}
      poll 127.0.0.1:P every 10 ms: a TCP connect, then, once the port
      accepts, a raw Spark Connect Config RPC (hand-encoded ConfigRequest,
      tests/integration/engine.py). The first answered Config is
      {"ev": "ready"}. Right after, the real client:
      SparkSession.builder.remote(sc://127.0.0.1:P).getOrCreate() and
      spark.range(1).count() -> {"ev": "query"}.
  {"cmd": "busy", "prefix": X, "sleep_ms": N}
      in a thread, a query that creates /tmp/X*.run (so the driver sees it
      running) and then sleeps N ms in its task -> {"ev": "busy_sent"} at
      once, {"ev": "busy_done", "ok": ..., "err": ...} when it returns.
  {"cmd": "quit"}
      exit at once (no goodbye RPCs to a stopped server).
"""
import getpass
import json
import os
import socket
import sys
import threading
import time

import grpc
from pyspark.sql.connect.session import SparkSession

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from engine import config_get_request  # noqa: E402

POLL = 0.01
USER = os.environ.get("USER") or getpass.getuser()  # the engine's user
_out_lock = threading.Lock()
spark = None


def say(ev, **kw):
    kw["ev"] = ev
    kw.setdefault("t", time.monotonic())
    with _out_lock:
        sys.stdout.write(json.dumps(kw) + "\n")
        sys.stdout.flush()


def port_accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def config_answered(port):
    # A fresh channel each attempt: a reused one would sit in gRPC's
    # reconnect back-off (1 s and up) and make the figure coarser.
    opts = [("grpc.enable_http_proxy", 0)]
    try:
        with grpc.insecure_channel("127.0.0.1:%d" % port, options=opts) as ch:
            call = ch.unary_unary("/spark.connect.SparkConnectService/Config")
            # user_id: the engine's user (the OS user), which the front door admits
            call(config_get_request("3b8c4d2e-0000-4000-8000-0000000000b1", USER,
                                    ["spark.app.name"]), timeout=2)
        return True
    except grpc.RpcError:
        return False


def do_ready(port, timeout):
    global spark
    deadline = time.monotonic() + timeout
    attempts = 0
    while True:
        attempts += 1
        if port_accepts(port) and config_answered(port):
            break
        if time.monotonic() >= deadline:
            say("error", what="no Config answer within %ss" % timeout)
            return
        time.sleep(POLL)
    say("ready", attempts=attempts)
    try:
        spark = SparkSession.builder.remote("sc://127.0.0.1:%d" % port).getOrCreate()
        n = spark.range(1).count()
        say("query", ok=(n == 1))
    except Exception as e:  # reported, the driver decides
        say("query", ok=False, err=str(e)[:300])


def do_busy(prefix, sleep_ms):
    say("busy_sent")
    try:
        rows = spark.sql(
            "SELECT reflect('java.io.File', 'createTempFile', '%s', '.run') AS f, "
            "reflect('java.lang.Thread', 'sleep', CAST(%d AS BIGINT)) AS z"
            % (prefix, sleep_ms)).collect()
        say("busy_done", ok=len(rows) == 1)
    except Exception as e:
        say("busy_done", ok=False, err=" ".join(str(e).split())[:300])


def main():
    say("hello", pid=os.getpid())
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["cmd"] == "ready":
            threading.Thread(target=do_ready, args=(cmd["port"], cmd["timeout"]),
                             daemon=True).start()
        elif cmd["cmd"] == "busy":
            threading.Thread(target=do_busy, args=(cmd["prefix"], cmd["sleep_ms"]),
                             daemon=True).start()
        elif cmd["cmd"] == "quit":
            break
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
