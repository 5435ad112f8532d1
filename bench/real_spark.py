#!/usr/bin/python3
"""Real-Spark section of `make bench`; also runs alone:

    /usr/bin/python3 bench/real_spark.py    # REAL_ROUNDS (default 5) rounds after
                                            # REAL_WARMUP (default 1) untimed round
    /usr/bin/python3 bench/real_spark.py --rounds 2 --warmup 0 --out build/bench/results.txt

(run from anywhere; --out defaults to build/bench/results.txt, appended to;
SPARK4_HOME / SPARK4_PYTHON come from the environment, else from
.venv/spark-homes.env; SPARKSHIM_BIN defaults to build/sparkshim.)

Four ways of starting the SAME Spark Connect engine on the real Spark 4
home, with the same spark-submit arguments (ARGS below):

  Ac sparkshim cold  SPARK_HOME=$SPARK4_HOME sparkshim --control-address off
                  --cache-dir CACHE_COLD -- ARGS, CACHE_COLD removed before each
                  launch: Spark's launcher JVM runs, the JVM records the classes
                  it loads, and once serving a background dump at idle priority
                  makes the class-data archive
  Aw sparkshim warm  the same with --cache-dir CACHE_WARM, primed before the
                  rounds: no launcher JVM, the class-data archive mapped
  B  spark-submit $SPARK4_HOME/bin/spark-submit --class SparkConnectServer ARGS
                  (launcher JVM, then the driver JVM exec'd; no app resource,
                  exactly as sbin/start-connect-server.sh: the launcher adds
                  spark-internal for this class itself)
  C  bare java    the driver command Spark's launcher prints for B
                  (org.apache.spark.launcher.Main, parsed as bin/spark-class
                  does), computed once and exec'd directly: one JVM, no
                  launcher

  Gc gateway cold   the engine launched as a Kyuubi gateway does: exec of
                  scripts/spark-submit-wrapper.sh with Kyuubi's command line
                  (ZooKeeper on 127.0.0.1, connect port 0, the default control
                  endpoint, --conf spark.sparkshim.cache.dir=CACHE_GC emptied
                  before each launch)
  Gw gateway warm   the same with a primed CACHE_GW
                  "ready" for G: exec of the wrapper -> the node refId=<id>
                  listed in ZooKeeper (polled every 10 ms, as "node") -> a
                  Config answered on the endpoint the node advertises.

Per round the launches alternate Ac Aw Gc Gw B C (idle-stop launches), then
Ac Aw B C again (busy-stop launches), so drift hits all of them alike. Per launch:

  * a client under SPARK4_PYTHON (bench/real_spark_client.py) is started
    and has finished its imports BEFORE the engine is exec'd; it then polls
    every 10 ms: TCP connect, then a raw Spark Connect Config RPC (grpcio).
    "ready" = exec -> first Config answered. Right after it the real PySpark
    client runs SparkSession.builder.remote(url).getOrCreate() and
    spark.range(1).count(): "1st query" = exec -> that count answered.
    Both stamps are CLOCK_MONOTONIC, read in the client.
  * RSS = sum of VmRSS over the engine pid and all its descendants, read when
    the client reports ready, and again once the first query was answered.
  * Memory of the engine process alone (the CDS dump child excluded), from
    /proc/<pid>/smaps_rollup: RSS and PSS when the client reports ready, and
    (idle launches) again after the first query and a full GC
    (jcmd <pid> GC.run, then 2 s), so that the Java heap of every variant
    is in the same state: the per-round differences to C (bare java, same
    Spark, same heap settings) are what the shim adds.
  * idle launches: SIGTERM to the engine pid with the client connected and
    nothing running -> until the pid has exited.
  * busy launches: the client starts a query whose one task creates
    /tmp/<tag>*.run and then sleeps 10 s (SQL reflect on the driver JVM, as
    local[1] runs tasks there); once that file exists, SIGTERM -> exit, plus
    what the client got back for the query.

Startup figures come from both launches of a round (their mean is the
round's value); the ratios Aw/B, Aw/C, Ac/B are per round. Everything is on
127.0.0.1; every process started is killed on any way out."""
import argparse
import atexit
import getpass
import glob
import json
import os
import queue
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from report import emit

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
JAVA_HOME = "/usr/lib/jvm/java-17-openjdk-amd64"
CONNECT = "org.apache.spark.sql.connect.service.SparkConnectServer"
PORT_SENTINEL = "spark.connect.grpc.binding.port=65535"
READY_TIMEOUT = 240
STOP_TIMEOUT = 90
BUSY_SLEEP_MS = 10000
POLL = 0.01
VARIANTS = ("Ac", "Aw", "Gc", "Gw", "B", "C")
GATEWAY = ("Gc", "Gw")   # idle launches only
NAMES = {"Ac": "shim cold", "Aw": "shim warm", "Gc": "gateway cold", "Gw": "gateway warm",
         "B": "spark-submit", "C": "bare java"}
RATIOS = (("Aw", "B"), ("Aw", "C"), ("Ac", "B"), ("Gw", "C"))
MEM_DIFFS = ("Ac", "Aw", "Gw")  # minus C, per round
JCMD = os.path.join(JAVA_HOME, "bin", "jcmd")
WRAPPER = os.path.join(ROOT, "scripts", "spark-submit-wrapper.sh")
KYUUBI_VERSION = "1.10.0"
ZK = {}  # "server": the ZkServer of the gateway launches (set in main)
CACHE = {}  # variant -> --cache-dir (set in main)
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "grpc_proxy", "HTTP_PROXY",
              "HTTPS_PROXY", "ALL_PROXY")

_live = []  # Popen objects still to be killed on the way out


def _kill_all():
    for p in _live:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
    _live.clear()


def _on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def spark_args(port):
    return ["--master", "local[1]",
            "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
            "--conf", "spark.connect.grpc.binding.port=%d" % port,
            "--conf", "spark.ui.enabled=false",
            "--conf", "spark.driver.host=127.0.0.1",
            "--conf", "spark.driver.bindAddress=127.0.0.1"]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_homes():
    env = {}
    path = os.path.join(ROOT, ".venv", "spark-homes.env")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    k, v = line.split("=", 1)
                    env[k.strip()] = v.strip().strip("'\"")
    home = os.environ.get("SPARK4_HOME") or env.get("SPARK4_HOME")
    py = os.environ.get("SPARK4_PYTHON") or env.get("SPARK4_PYTHON")
    return home, py


def base_env(spark_home):
    e = dict(os.environ)
    for k in ("NOTIFY_SOCKET", "SPARK_CONF_DIR", "SPARK_ENV_LOADED", "SPARK_SCALA_VERSION",
              "PYSPARK_PYTHON", "SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED") + PROXY_VARS:
        e.pop(k, None)
    e["SPARK_HOME"] = spark_home
    e["JAVA_HOME"] = JAVA_HOME
    e["NO_PROXY"] = e["no_proxy"] = "127.0.0.1,localhost"
    return e


def launcher_env(spark_home):
    """What bin/spark-class (via load-spark-env.sh) gives the launcher and the
    driver JVM it execs."""
    e = base_env(spark_home)
    e["SPARK_ENV_LOADED"] = "1"
    e["SPARK_CONF_DIR"] = os.path.join(spark_home, "conf")
    e["SPARK_SCALA_VERSION"] = "2.13"
    return e


def launcher_command(spark_home):
    """The driver command Spark's launcher computes for B, with the port
    left as PORT_SENTINEL. Output format (bin/spark-class): a leading "\\0\\n"
    marker, then every argument NUL-terminated."""
    argv = [os.path.join(JAVA_HOME, "bin", "java"), "-Xmx128m", "-cp",
            os.path.join(spark_home, "jars", "*"), "org.apache.spark.launcher.Main",
            "org.apache.spark.deploy.SparkSubmit", "--class", CONNECT] + spark_args(65535)
    r = subprocess.run(argv, env=launcher_env(spark_home), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120, stdin=subprocess.DEVNULL)
    out = r.stdout
    if r.returncode != 0 or not out.startswith(b"\0\n"):
        raise RuntimeError("Spark launcher failed (exit %d): %s" %
                           (r.returncode, r.stderr.decode(errors="replace")[-2000:]))
    cmd = [a.decode() for a in out[2:].split(b"\0")]
    if cmd and cmd[-1] == "":
        cmd.pop()
    if cmd.count(PORT_SENTINEL) != 1:
        raise RuntimeError("launcher command does not carry the port once: %r" % cmd)
    return cmd


def proc_tree(pid):
    """[(pid, comm, VmRSS kB)] for pid and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        rss, comm = 0, "?"
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("Name:"):
                        comm = line.split(None, 1)[1].strip()
                    elif line.startswith("VmRSS:"):
                        rss = int(line.split()[1])
            out.append((p, comm, rss))
            for t in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, t)) as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def smaps_rollup(pid):
    """(RSS, PSS) of one process in MiB, from /proc/<pid>/smaps_rollup."""
    got = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Rss", "Pss"):
                got[k] = int(v.split()[0]) / 1024.0
    return got["Rss"], got["Pss"]


def after_gc(pid):
    """(RSS, PSS) after a full GC of the JVM in pid, and 2 s to settle."""
    subprocess.run([JCMD, str(pid), "GC.run"], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60, check=True)
    time.sleep(2)
    return smaps_rollup(pid)


def heap_rss(pid):
    """RSS (MiB) of the Java heap's address range, from jcmd GC.heap_info:
    what the JVM's collector decides, which varies from start to start by
    more than the shim adds; the rest of the process is compared without it."""
    out = subprocess.run([JCMD, str(pid), "GC.heap_info"], capture_output=True, text=True,
                         timeout=60).stdout
    m = re.search(r"\[(0x[0-9a-f]+), (0x[0-9a-f]+)\)", out)
    if not m:
        return None
    lo, hi = int(m.group(1), 16), int(m.group(2), 16)
    kb, inside = 0, False
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                a, b = (int(x, 16) for x in line.split()[0].split("-"))
                inside = a >= lo and b <= hi
            elif inside and line.startswith("Rss:"):
                kb += int(line.split()[1])
    return kb / 1024.0


def wait_node(ns, ref, proc, t0):
    """Poll ZooKeeper every POLL s for the node refId=<ref>: (its port, when)."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    from zkclient import NONODE, ZkClient, ZkError
    with ZkClient(ZK["server"].port) as c:
        while True:
            try:
                names = [n for n in c.children(ns) if "refId=%s" % ref in n]
            except ZkError as e:
                if e.code != NONODE:
                    raise
                names = []
            if names:
                t = time.monotonic()
                data, _ = c.get("%s/%s" % (ns, names[0]))
                return int(data.decode().rsplit(":", 1)[1]), t
            if proc.poll() is not None:
                raise RuntimeError("engine exited %s before registering" % proc.returncode)
            if time.monotonic() - t0 > READY_TIMEOUT:
                raise RuntimeError("no node refId=%s within %ss" % (ref, READY_TIMEOUT))
            time.sleep(POLL)


class Client:
    """bench/real_spark_client.py under SPARK4_PYTHON, imports done."""

    def __init__(self, python, tmp, tag):
        env = dict(os.environ)
        for k in PROXY_VARS + ("SPARK_REMOTE", "SPARK_HOME"):
            env.pop(k, None)
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        self.err_path = os.path.join(tmp, "client-%s.err" % tag)
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen([python, "-u", os.path.join(HERE, "real_spark_client.py")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._err, env=env, cwd=tmp,
                                     start_new_session=True)
        _live.append(self.proc)
        self.events = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.expect("hello", 120)

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.events.put(json.loads(line))
            except ValueError:
                pass
        self.events.put({"ev": "eof"})

    def send(self, **cmd):
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        self.proc.stdin.flush()

    def expect(self, ev, timeout, engine=None):
        """Next event named ev; fails on timeout, client error/eof, or (when
        given) the engine process exiting first."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                e = self.events.get(timeout=0.1)
            except queue.Empty:
                if engine is not None and engine.poll() is not None:
                    raise RuntimeError("engine exited (status %s) while waiting for %s"
                                       % (engine.returncode, ev))
                if time.monotonic() >= deadline:
                    raise RuntimeError("client: no %s within %ss" % (ev, timeout))
                continue
            if e["ev"] == ev:
                return e
            if e["ev"] in ("error", "eof"):
                raise RuntimeError("client %s while waiting for %s: %s; stderr: %s"
                                   % (e["ev"], ev, e.get("what", ""), self.stderr_tail()))

    def stderr_tail(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode(errors="replace")[-1500:]

    def close(self):
        if self.proc.poll() is None:
            try:
                self.send(cmd="quit")
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._err.close()


def gateway_argv(ref, cache, log_path):
    """What Kyuubi's SparkProcessBuilder runs for a USER-level connect engine
    (as bench/registration.py), on the real Spark home."""
    # The engine's user is the one the bench's clients send as user_id (the
    # front door admits only it): the OS user, as for a gateway's own user.
    user = os.environ.get("USER") or getpass.getuser()
    ns = "/kyuubi_%s_USER_SPARK_CONNECT/%s/default" % (KYUUBI_VERSION, user)
    confs = [
        ("spark.kyuubi.engine.type", "SPARK_CONNECT"),
        ("spark.kyuubi.engine.share.level", "USER"),
        ("spark.kyuubi.ha.addresses", ZK["server"].address),
        ("spark.kyuubi.ha.namespace", ns),
        ("spark.kyuubi.ha.engine.ref.id", ref),
        ("spark.kyuubi.engine.submit.time", str(int(time.time() * 1000))),
        ("spark.kyuubi.session.engine.initialize.timeout", "PT3M"),
        ("spark.kyuubi.engine.engineLog.path", log_path),
        ("spark.app.name", "kyuubi_USER_SPARK_CONNECT_%s_default_%s" % (user, ref)),
        ("spark.yarn.tags", "KYUUBI,%s" % ref),
        ("spark.sparkshim.cache.dir", cache),
        ("spark.master", "local[1]"),
        ("spark.ui.enabled", "false"),
        ("spark.driver.host", "127.0.0.1"),
        ("spark.driver.bindAddress", "127.0.0.1"),
        ("spark.connect.grpc.binding.address", "127.0.0.1"),
        ("spark.connect.grpc.binding.port", "0"),
    ]
    argv = [WRAPPER, "--class", CONNECT]
    for k, v in confs:
        argv += ["--conf", "%s=%s" % (k, v)]
    return argv + ["--proxy-user", user, "spark-internal"], ns


def engine_argv(variant, port, spark_home, java_cmd, ref=None, log_path=None):
    """(argv, env, ZooKeeper namespace or None)."""
    if variant in GATEWAY:
        if variant == "Gc":
            shutil.rmtree(CACHE[variant], ignore_errors=True)
        argv, ns = gateway_argv(ref, CACHE[variant], log_path)
        env = base_env(spark_home)
        env["SPARKSHIM_BIN"] = os.environ.get("SPARKSHIM_BIN",
                                              os.path.join(ROOT, "build", "sparkshim"))
        return argv, env, ns
    if variant in ("Ac", "Aw"):
        shim = os.environ.get("SPARKSHIM_BIN", os.path.join(ROOT, "build", "sparkshim"))
        if variant == "Ac":
            shutil.rmtree(CACHE[variant], ignore_errors=True)
        return ([shim, "--control-address", "off", "--cache-dir", CACHE[variant], "--"]
                + spark_args(port), base_env(spark_home), None)
    if variant == "B":
        return ([os.path.join(spark_home, "bin", "spark-submit"), "--class", CONNECT]
                + spark_args(port), base_env(spark_home), None)
    argv = [("spark.connect.grpc.binding.port=%d" % port) if a == PORT_SENTINEL else a
            for a in java_cmd]
    return argv, launcher_env(spark_home), None


def tail(path, n=1500):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")[-n:]
    except OSError:
        return ""


def one_launch(variant, busy, spark_home, python, java_cmd, tmp, seq):
    """One engine start and stop; returns a dict of figures."""
    tag = "%s%d%s" % (variant, seq, "b" if busy else "i")
    res = {"variant": variant, "busy": busy}
    client = Client(python, tmp, tag)
    proc = None
    busy_file = None
    log_path = os.path.join(tmp, "engine-%s.log" % tag)
    try:
        port = free_port()
        ref = str(uuid.uuid4())
        argv, env, ns = engine_argv(variant, port, spark_home, java_cmd, ref, log_path + ".kyuubi")
        cwd = os.path.join(tmp, tag)
        os.mkdir(cwd)
        if ns is None:
            client.send(cmd="ready", port=port, timeout=READY_TIMEOUT)
        with open(log_path, "wb") as log:
            t0 = time.monotonic()
            proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        _live.append(proc)
        try:
            if ns is not None:
                port, t_node = wait_node(ns, ref, proc, t0)
                res["node"] = t_node - t0
                client.send(cmd="ready", port=port, timeout=READY_TIMEOUT)
            e = client.expect("ready", READY_TIMEOUT, engine=proc)
            tree = proc_tree(proc.pid)
            res["ready"] = e["t"] - t0
            res["rss_ready"] = sum(r for _, _, r in tree) / 1024.0
            res["procs"] = ",".join(c for _, c, _ in tree)
            res["rss_pid_ready"], res["pss_pid_ready"] = smaps_rollup(proc.pid)
            e = client.expect("query", 120, engine=proc)
            if not e.get("ok"):
                raise RuntimeError("first query failed: %s" % e.get("err"))
            res["query"] = e["t"] - t0
            res["rss_query"] = sum(r for _, _, r in proc_tree(proc.pid)) / 1024.0
            if not busy:
                res["rss_gc"], res["pss_gc"] = after_gc(proc.pid)
            if busy:
                prefix = "sparkshim-bench-%s-" % uuid.uuid4().hex[:12]
                client.send(cmd="busy", prefix=prefix, sleep_ms=BUSY_SLEEP_MS)
                client.expect("busy_sent", 30, engine=proc)
                t_sent = time.monotonic()
                deadline = t_sent + 120
                while True:
                    found = glob.glob("/tmp/%s*.run" % prefix)
                    if found:
                        busy_file = found[0]
                        break
                    if proc.poll() is not None:
                        raise RuntimeError("engine exited before the query ran")
                    if time.monotonic() >= deadline:
                        raise RuntimeError("busy query did not start within 120 s")
                    time.sleep(POLL)
                res["busy_started_after"] = time.monotonic() - t_sent
            t1 = time.monotonic()
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
                res["stop"] = time.monotonic() - t1
                res["exit"] = proc.returncode
            except subprocess.TimeoutExpired:
                res["stop"] = None
                res["exit"] = "no exit in %ds" % STOP_TIMEOUT
            if busy:
                # The client may be retrying against the stopped server; a
                # bounded wait for what it got, then it is killed anyway.
                try:
                    e = client.expect("busy_done", 15)
                    err = e.get("err", "")
                    res["busy_result"] = ("answered ok" if e.get("ok") else
                                          "error: %s" % (err[:err.find(". ") + 1] or err[:120]))
                    res["busy_result_after_term"] = e["t"] - t1
                except RuntimeError:
                    res["busy_result"] = "no reply within 15 s after exit"
        except Exception as e:
            raise RuntimeError("%s; engine output ends: %s" % (e, tail(log_path, 800))) from e
    finally:
        if proc is not None:
            # Anything the engine left behind in its process group after
            # it exited is a leak worth reporting; killed either way.
            if proc.poll() is not None:
                try:
                    os.killpg(proc.pid, 0)
                    res["leftover"] = True
                except OSError:
                    pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait(timeout=30)
        client.close()
        if busy_file:
            try:
                os.unlink(busy_file)
            except OSError:
                pass
    return res


def stats(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return statistics.median(vals), min(vals), max(vals)


def fmt(s, prec):
    if s is None:
        return "n/a"
    med, lo, hi = s
    return "%.*f [%.*f-%.*f]" % (prec, med, prec, lo, prec, hi)


def spark_version(spark_home):
    jars = glob.glob(os.path.join(spark_home, "jars", "spark-core_*.jar"))
    m = re.search(r"spark-core_[\d.]+-(.+)\.jar$", jars[0]) if jars else None
    return m.group(1) if m else "?"


def report(rounds, spark_home, n_rounds, warmup, python, load):
    """rounds: [{variant: {"idle": res|None, "busy": res|None}}]"""
    def per_round(v, key):
        out = []
        for r in rounds:
            xs = [r[v][k][key] for k in ("idle", "busy")
                  if r[v].get(k) and r[v][k].get(key) is not None]
            out.append(statistics.mean(xs) if xs else None)
        return out

    def one(v, kind, key):
        return [r[v][kind].get(key) if r[v].get(kind) else None for r in rounds]

    metrics = [
        ("exec -> Config answered (s)", lambda v: per_round(v, "ready"), 2),
        ("exec -> node listed (G) (s)", lambda v: per_round(v, "node"), 2),
        ("exec -> range(1).count() (s)", lambda v: per_round(v, "query"), 2),
        ("RSS tree at ready (MiB)", lambda v: per_round(v, "rss_ready"), 0),
        ("RSS tree after 1st query (MiB)", lambda v: per_round(v, "rss_query"), 0),
        ("RSS engine pid at ready (MiB)", lambda v: per_round(v, "rss_pid_ready"), 1),
        ("PSS engine pid at ready (MiB)", lambda v: per_round(v, "pss_pid_ready"), 1),
        ("RSS engine pid, query+GC (MiB)", lambda v: one(v, "idle", "rss_gc"), 1),
        ("PSS engine pid, query+GC (MiB)", lambda v: one(v, "idle", "pss_gc"), 1),
        ("SIGTERM -> exit, idle (s)", lambda v: one(v, "idle", "stop"), 2),
        ("SIGTERM -> exit, query running (s)", lambda v: one(v, "busy", "stop"), 2),
    ]
    w, cw = 36, 20
    head = ["%s %s" % (v, NAMES[v]) for v in VARIANTS] + ["%s/%s" % r for r in RATIOS]
    lines = [
        "",
        "== real Spark %s (%s), JDK 17, %d round(s) alternating %s after %d warm-up"
        " round(s), %s; load average at start %s, at end %s"
        % (spark_version(spark_home), spark_home, n_rounds, " ".join(VARIANTS), warmup,
           time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), load[0], load[1]),
        "  ARGS = --master local[1] --conf spark.connect.grpc.binding.address=127.0.0.1",
        "         --conf spark.connect.grpc.binding.port=<free port> --conf spark.ui.enabled=false",
        "         --conf spark.driver.host=127.0.0.1 --conf spark.driver.bindAddress=127.0.0.1",
        "  Ac = SPARK_HOME=$SPARK4_HOME build/sparkshim --control-address off --cache-dir D -- ARGS,",
        "       D emptied before each launch (launcher JVM runs; classes recorded, archive dumped",
        "       in the background at idle priority once serving)",
        "  Aw = the same with D kept (launcher result cached, class-data archive used)",
        "  Gc/Gw = exec of scripts/spark-submit-wrapper.sh with Kyuubi's command line (ZooKeeper",
        "       on 127.0.0.1, connect port 0, default control endpoint), cache emptied / primed;",
        "       ready = exec -> node refId=<id> listed -> Config answered on its endpoint",
        "  B = $SPARK4_HOME/bin/spark-submit --class %s ARGS" % CONNECT,
        "  C = the launcher's driver command for B, exec'd directly (one JVM)",
        "  ready: a client under %s, imports done before exec," % python,
        "    polls every 10 ms (TCP connect, then a raw Spark Connect Config RPC);",
        "    1st query: right after, the real PySpark client's",
        "    SparkSession.builder.remote(url).getOrCreate() + spark.range(1).count().",
        "  RSS tree: sum of VmRSS over the engine pid and its descendants.",
        "  engine pid: /proc/<pid>/smaps_rollup of the engine process alone; query+GC: idle",
        "    launches, after the 1st query, jcmd GC.run and 2 s (same heap state everywhere).",
        "  query running: a %d s task (reflect Thread.sleep), SIGTERM once it runs;"
        % (BUSY_SLEEP_MS // 1000),
        "    A drains (lets it finish, --stop-timeout 30s), B and C stop the SparkContext"
        " at once;",
        "    what the client got for that query is listed per launch below.",
        "  each cell: median [min-max] over rounds; startup and RSS use the mean of",
        "  a round's launches; ratios are per round, then median [min-max].",
        "  %-*s %s" % (w, "metric", " ".join("%-*s" % (cw, h) for h in head)),
    ]
    for name, get, prec in metrics:
        vals = {v: get(v) for v in VARIANTS}
        cells = [fmt(stats(vals[v]), prec) for v in VARIANTS]
        for num, den in RATIOS:
            ratios = [a / b if a is not None and b else None
                      for a, b in zip(vals[num], vals[den])]
            cells.append(fmt(stats(ratios), 2))
        lines.append("  %-*s %s" % (w, name, " ".join("%-*s" % (cw, c) for c in cells)))
    lines.append("  memory beyond bare java (C), per round, then median [min-max] (MiB):")
    for key, what in (("rss_pid_ready", "RSS at ready"), ("pss_pid_ready", "PSS at ready"),
                      ("rss_gc", "RSS query+GC"), ("pss_gc", "PSS query+GC")):
        get = (lambda v, key=key: one(v, "idle", key)) if key.endswith("_gc") else \
            (lambda v, key=key: per_round(v, key))
        cells = []
        for v in MEM_DIFFS:
            d = [a - b if a is not None and b is not None else None
                 for a, b in zip(get(v), get("C"))]
            cells.append("%s-C %s" % (v, fmt(stats(d), 1)))
        lines.append("    %-14s %s" % (what, "   ".join(cells)))
    lines.append("  per variant, every launch:")
    for v in VARIANTS:
        ex_i = [str(r[v]["idle"].get("exit")) if r[v].get("idle") else "fail" for r in rounds]
        ex_b = [str(r[v]["busy"].get("exit")) if r[v].get("busy") else "-" for r in rounds]
        procs = sorted({r[v][k].get("procs", "") for r in rounds for k in ("idle", "busy")
                        if r[v].get(k)})
        leaks = sum(1 for r in rounds for k in ("idle", "busy")
                    if r[v].get(k) and r[v][k].get("leftover"))
        lines.append("    %-2s %-12s exit idle %s, busy %s; tree at ready: %s%s"
                     % (v, NAMES[v], "/".join(ex_i), "/".join(ex_b), " | ".join(procs),
                        "; %d launch(es) left processes behind" % leaks if leaks else ""))
        for r in rounds:
            b = r[v].get("busy")
            if b:
                after = b.get("busy_result_after_term")
                lines.append("      query running at SIGTERM -> %s%s"
                             % (b.get("busy_result"),
                                "" if after is None else " (%.2f s after SIGTERM)" % after))
        fails = [r[v]["errors"] for r in rounds if r[v].get("errors")]
        for f in fails:
            for msg in f:
                lines.append("      FAILED launch: %s" % " ".join(msg.split())[:400])
    lines.append("  per round, idle launch (ready s / 1st query s / RSS pid at ready MiB /"
                 " RSS pid query+GC MiB / stop s):")
    for i, r in enumerate(rounds):
        parts = []
        for v in VARIANTS:
            def g(key, p):
                x = r[v].get("idle") and r[v]["idle"].get(key)
                return "-" if x is None or x is False else "%.*f" % (p, x)
            parts.append("%s %s/%s/%s/%s/%s" % (v, g("ready", 2), g("query", 2),
                                                g("rss_pid_ready", 0), g("rss_gc", 0),
                                                g("stop", 2)))
        lines.append("    %d: %s" % (i + 1, "   ".join(parts)))
    return lines


# ---- memory section: what the shim adds to a bare JVM ----

MEM_VARIANTS = ("Mn", "Mc", "Mg", "C")
MEM_NAMES = {"Mn": "shim warm --no-cds", "Mc": "shim warm (archive)",
             "Mg": "gateway warm no-cds", "C": "bare java"}
MEM_SETTLE = 5.0


def config_answered(port):
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    from engine import config_call
    import grpc
    try:
        config_call(port, timeout=2)
        return True
    except grpc.RpcError:
        return False


def mem_launch(v, spark_home, java_cmd, tmp, seq):
    """Start, wait for a Config answer, settle, measure, stop. Without the
    class-data archive (Mn, Mg) the shim's JVM loads its classes as the bare
    one does, so the difference is what the shim adds (threads, gRPC, the
    probe and the control server, ZooKeeper in Mg); Mc shows the archive's
    own effect on top."""
    base = {"Mn": "Aw", "Mc": "Aw", "Mg": "Gw", "C": "C"}[v]
    ref = str(uuid.uuid4())
    log_path = os.path.join(tmp, "mem-%s%d.log" % (v, seq))
    port = free_port()
    argv, env, ns = engine_argv(base, port, spark_home, java_cmd, ref, log_path + ".kyuubi")
    if v == "Mn":
        argv.insert(1, "--no-cds")
    elif v == "Mg":
        argv[1:1] = ["--conf", "spark.sparkshim.cds=false"]
    with open(log_path, "wb") as log:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, env=env, cwd=tmp, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    _live.append(proc)
    try:
        if ns is not None:
            port, _ = wait_node(ns, ref, proc, t0)
        while not config_answered(port):
            if proc.poll() is not None or time.monotonic() - t0 > READY_TIMEOUT:
                raise RuntimeError("%s: not ready: %s" % (v, tail(log_path, 800)))
            time.sleep(POLL * 10)
        time.sleep(MEM_SETTLE)
        res = dict(zip(("rss", "pss"), smaps_rollup(proc.pid)))
        res.update(zip(("rss_gc", "pss_gc"), after_gc(proc.pid)))
        heap = heap_rss(proc.pid)
        if heap is not None:
            res["rss_noheap"] = res["rss_gc"] - heap
            res["pss_noheap"] = res["pss_gc"] - heap
        res["threads"] = len(os.listdir("/proc/%d/task" % proc.pid))
        return res
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=STOP_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def memory_section(spark_home, java_cmd, tmp, n_rounds):
    rounds = []
    for i in range(n_rounds):
        r = {}
        for v in MEM_VARIANTS:
            try:
                r[v] = mem_launch(v, spark_home, java_cmd, tmp, i)
                print("  memory round %d %-20s RSS %.1f PSS %.1f after GC %.1f/%.1f MiB, %d threads"
                      % (i + 1, MEM_NAMES[v], r[v]["rss"], r[v]["pss"], r[v]["rss_gc"],
                         r[v]["pss_gc"], r[v]["threads"]), file=sys.stderr, flush=True)
            except Exception as e:
                print("  memory round %d %s FAILED: %s" % (i + 1, v, e), file=sys.stderr,
                      flush=True)
                _kill_all()
        rounds.append(r)
    keys = (("rss", "RSS, ready + %ds" % MEM_SETTLE), ("pss", "PSS, ready + %ds" % MEM_SETTLE),
            ("rss_gc", "RSS, then full GC"), ("pss_gc", "PSS, then full GC"),
            ("rss_noheap", "RSS w/o Java heap"), ("pss_noheap", "PSS w/o Java heap"))
    lines = ["", "== memory of the engine process (/proc/<pid>/smaps_rollup), real Spark %s, "
             "%d round(s) alternating %s; load average %.2f"
             % (spark_version(spark_home), n_rounds, " ".join(MEM_VARIANTS), os.getloadavg()[0]),
             "  the same ARGS and heap settings as above; measured %ds after the first Config "
             "answer (no query), then after jcmd GC.run + 2 s" % MEM_SETTLE,
             "  Mn = Aw with --no-cds; Mc = Aw; Mg = Gw with spark.sparkshim.cds=false (control "
             "endpoint, ZooKeeper session); C = bare java",
             "  w/o Java heap: after the GC, minus the RSS of the heap's address range (jcmd "
             "GC.heap_info), whose size the collector decides",
             "  median [min-max] MiB:"]
    lines.append("    %-24s %s" % ("", " ".join("%-22s" % k[1] for k in keys)))
    for v in MEM_VARIANTS:
        lines.append("    %-2s %-21s %s" % (v, MEM_NAMES[v], " ".join(
            "%-22s" % fmt(stats([r[v].get(k) for r in rounds if v in r]), 1) for k, _ in keys)))
    lines.append("  beyond bare java (per round, then median [min-max]) MiB:")
    for v in ("Mn", "Mc", "Mg"):
        lines.append("    %-2s - C %-18s %s" % (v, "", " ".join(
            "%-22s" % fmt(stats([r[v][k] - r["C"][k] for r in rounds
                                 if v in r and "C" in r and k in r[v] and k in r["C"]]), 1)
            for k, _ in keys)))
    thr = {v: stats([r[v]["threads"] for r in rounds if v in r]) for v in MEM_VARIANTS}
    lines.append("  threads: %s" % ", ".join("%s %s" % (v, fmt(thr[v], 0)) for v in MEM_VARIANTS))
    return lines


def prime_warm_cache(variant, spark_home, java_cmd, tmp):
    """One untimed start that fills CACHE[variant]: the launcher result, and
    the class-data archive its background dump writes once it serves."""
    argv, env, _ = engine_argv(variant, free_port(), spark_home, java_cmd, str(uuid.uuid4()),
                               os.path.join(tmp, "prime-kyuubi.log"))
    with open(os.path.join(tmp, "prime.log"), "wb") as log:
        p = subprocess.Popen(argv, env=env, cwd=tmp, stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
    _live.append(p)
    deadline = time.monotonic() + 600
    while not glob.glob(os.path.join(CACHE[variant], "cds-*.jsa.meta")):
        if p.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("priming the warm cache failed: %s"
                               % tail(os.path.join(tmp, "prime.log")))
        time.sleep(0.2)
    os.kill(p.pid, signal.SIGTERM)
    p.wait(timeout=STOP_TIMEOUT)
    print("  %s cache primed: %s" % (variant, sorted(os.listdir(CACHE[variant]))),
          file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("REAL_ROUNDS", "5")))
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench", "results.txt"))
    ap.add_argument("--warmup", type=int, default=int(os.environ.get("REAL_WARMUP", "1")),
                    help="untimed idle launches of A, B, C before the rounds")
    ap.add_argument("--keep", action="store_true", help="keep the engine logs' temp dir")
    ap.add_argument("--mem-rounds", type=int, default=int(os.environ.get("MEM_ROUNDS", "3")),
                    help="rounds of the memory section (0: none)")
    ap.add_argument("--only-memory", action="store_true", help="skip the timed rounds")
    a = ap.parse_args()

    spark_home, python = load_homes()
    if not spark_home or not os.path.isdir(os.path.join(spark_home or "", "jars")) \
            or not python or not os.access(python, os.X_OK):
        emit(["", "== real Spark: skipped (no SPARK4_HOME/SPARK4_PYTHON; see "
              ".venv/spark-homes.env)"], a.out)
        return 0
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    atexit.register(_kill_all)

    tmp = tempfile.mkdtemp(prefix="sparkshim-real-bench-")
    for v in ("Ac", "Aw", "Gc", "Gw"):
        CACHE[v] = os.path.join(tmp, "cache-" + v)
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    from zkserver import ZkServer
    ZK["server"] = ZkServer(os.path.join(tmp, "zk"))
    ZK["server"].start()
    load = ["%.2f" % os.getloadavg()[0], None]
    try:
        java_cmd = launcher_command(spark_home)
        seq = 0
        prime_warm_cache("Aw", spark_home, java_cmd, tmp)
        prime_warm_cache("Gw", spark_home, java_cmd, tmp)
        if a.mem_rounds > 0:
            emit(memory_section(spark_home, java_cmd, tmp, a.mem_rounds), a.out)
        if a.only_memory:
            return 0
        for _ in range(a.warmup):
            # Untimed: page cache (jars), JIT-free first launches out of the figures.
            for v in VARIANTS:
                seq += 1
                try:
                    one_launch(v, False, spark_home, python, java_cmd, tmp, seq)
                    print("  warm-up %s done" % v, file=sys.stderr, flush=True)
                except Exception as e:
                    print("  warm-up %s FAILED: %s" % (v, e), file=sys.stderr, flush=True)
                    _kill_all()
        rounds = []
        for i in range(a.rounds):
            r = {v: {"errors": []} for v in VARIANTS}
            for kind in ("idle", "busy"):
                for v in VARIANTS:
                    if kind == "busy" and v in GATEWAY:
                        continue
                    seq += 1
                    t = time.monotonic()
                    try:
                        r[v][kind] = one_launch(v, kind == "busy", spark_home, python, java_cmd,
                                                tmp, seq)
                        x = r[v][kind]
                        print("  round %d %s %-12s %-4s ready %.2fs query %.2fs RSS %.0f MiB "
                              "(pid %.0f, after GC %s) stop %s exit %s%s" % (
                                  i + 1, v, NAMES[v], kind, x["ready"], x["query"],
                                  x["rss_query"], x["rss_pid_ready"],
                                  "%.0f" % x["rss_gc"] if x.get("rss_gc") else "-",
                                  "%.2fs" % x["stop"] if x.get("stop") is not None else "-",
                                  x.get("exit"),
                                  (" query: " + x["busy_result"]) if kind == "busy" else ""),
                              file=sys.stderr, flush=True)
                    except Exception as e:
                        r[v][kind] = None
                        r[v]["errors"].append("%s: %s" % (kind, e))
                        print("  round %d %s %s FAILED after %.1fs: %s" % (
                            i + 1, v, kind, time.monotonic() - t, e), file=sys.stderr,
                            flush=True)
                        _kill_all()
            rounds.append(r)
        load[1] = "%.2f" % os.getloadavg()[0]
        emit(report(rounds, spark_home, a.rounds, a.warmup, python, load), a.out)
    finally:
        _kill_all()
        ZK["server"].stop(kill=True)
        if a.keep:
            print("logs kept in %s" % tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
