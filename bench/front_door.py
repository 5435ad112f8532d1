#!/usr/bin/python3
"""Front door section of `make bench`; also runs alone:

    /usr/bin/python3 bench/front_door.py [--rounds 3] [--stream-mib 1024]
        [--config-calls 3000] [--idle-sessions 256] [--no-real] [--out FILE]

Three paths to the same kind of Spark Connect server, alternating round by
round (the order rotates, so drift hits all of them alike):

  direct  the client talks to Spark's own port (an engine with --front-door off)
  door    through sparkshim's front door (an engine with the door on, its Spark
          behind it on an internal port)
  nginx   through Debian's nginx `grpc_pass` to the direct engine's Spark port
          (a peer this script starts on loopback with a temp config, and stops)

each with TLS off and on (a self-signed CA made here; Spark has no TLS, so
"direct" is always plaintext and is the reference in both blocks). Figures:

  * ExecutePlan streaming throughput (MiB/s) and CPU seconds per GiB of the
    server side (engine process, plus nginx's processes on the nginx path;
    "proxy" = what the door or nginx adds: door engine minus direct engine,
    nginx's own processes), on the stand-in's synthetic stream
    (standin.stream.bytes, bench/connect_load.c) and on real Spark 4
    (spark.range(10**7).toPandas() with the real PySpark client);
  * unary Config p50/p99 (bench/connect_load --config; stand-in and real
    Spark): added latency = path - direct;
  * memory per idle session: RSS growth with --idle-sessions sessions (one
    channel and one Config each) held open, per session; the door's own
    share = door engine growth - direct engine growth.

Goals (reported, never asserted): throughput >= 95 % of direct and not
below nginx, p50 added latency <= 100 us, <= 16 KiB per idle session.
Everything on 127.0.0.1; every process started is stopped on any way out."""
import argparse
import atexit
import getpass
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from report import emit

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from engine import SHIM_BIN, STANDIN, free_port  # noqa: E402

BUILD = os.environ.get("BUILD", os.path.join(ROOT, "build"))
LOAD = os.path.join(BUILD, "bench", "connect_load")
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
GiB = float(1 << 30)
PATHS = ("direct", "door", "nginx")
_procs = []


def _kill_all():
    for p in _procs:
        if p.poll() is None:
            try:
                p.kill()
                p.wait(timeout=30)
            except Exception:
                pass


atexit.register(_kill_all)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))


def build_load():
    os.makedirs(os.path.dirname(LOAD), exist_ok=True)
    src = os.path.join(HERE, "connect_load.c")
    if not os.path.exists(LOAD) or os.path.getmtime(src) > os.path.getmtime(LOAD):
        subprocess.run([os.environ.get("CC", "cc"), "-O2", "-std=c11", "-Wall", "-Wextra",
                        "-Werror", "-o", LOAD, src, "-lgrpc", "-lgpr"], check=True)


def make_ca(tmp, name):
    """A CA and a server certificate for localhost / 127.0.0.1, with openssl."""
    d = os.path.join(tmp, name)
    os.makedirs(d)
    def run(*a):
        subprocess.run(["openssl"] + list(a), check=True, capture_output=True, cwd=d)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=bench CA",
        "-keyout", "ca.key", "-out", "ca.pem")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
        "-keyout", "server.key", "-out", "server.csr")
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.pem")
    return {k: os.path.join(d, v) for k, v in
            (("ca", "ca.pem"), ("cert", "server.pem"), ("key", "server.key"))}


# ---- processes and their figures ----

def proc_tree(pid):
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cpu_s(pids):
    t = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                v = f.read().rsplit(")", 1)[1].split()
            t += int(v[11]) + int(v[12])
        except OSError:
            pass
    return t / float(TICK)


def rss_kib(pids):
    t = 0
    for p in pids:
        try:
            with open("/proc/%d/statm" % p) as f:
                t += int(f.read().split()[1]) * PAGE // 1024
        except OSError:
            pass
    return t


class Engine:
    def __init__(self, tmp, name, spark_home, door, tls=None, extra=()):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        self.state = os.path.join(self.dir, "state.json")
        argv = [SHIM_BIN, "--state-file", self.state, "--control-address", "off"]
        if not door:
            argv += ["--front-door", "off"]
        if tls:
            argv += ["--connect-tls-cert", tls["cert"], "--connect-tls-key", tls["key"]]
        argv += ["--", "--master", "local[1]", "--driver-memory", "1g",
                 "--conf", "spark.driver.extraJavaOptions=-Xms1g -XX:+AlwaysPreTouch",
                 "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
                 "--conf", "spark.connect.grpc.binding.port=0",
                 "--conf", "spark.ui.enabled=false"] + list(extra)
        env = dict(os.environ, SPARK_HOME=spark_home)
        env.pop("SPARK_CONF_DIR", None)
        self.err = open(os.path.join(self.dir, "stderr.log"), "wb")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self.err,
                                     stdin=subprocess.DEVNULL, env=env, cwd=self.dir)
        _procs.append(self.proc)
        self.port = self._wait_ready(300)
        self.pid = self.proc.pid

    def _wait_ready(self, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise SystemExit("engine %s exited %s:\n%s" % (self.dir, self.proc.returncode,
                                                               self.tail()))
            try:
                with open(self.state) as f:
                    st = json.load(f)
                if st.get("state") == "READY":
                    return st["connect_port"]
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        raise SystemExit("engine %s not READY in %ss:\n%s" % (self.dir, timeout, self.tail()))

    def tail(self):
        with open(os.path.join(self.dir, "stderr.log"), "rb") as f:
            return f.read()[-3000:].decode(errors="replace")

    def pids(self):
        return proc_tree(self.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


NGINX_CONF = """worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  client_max_body_size 0;
  http2_max_concurrent_streams 1024;
  upstream spark {{ server 127.0.0.1:{spark}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{plain} http2;
    location / {{ grpc_pass grpc://spark; grpc_read_timeout 600s; grpc_send_timeout 600s; }}
  }}
  server {{
    listen 127.0.0.1:{tls} ssl http2;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    location / {{ grpc_pass grpc://spark; grpc_read_timeout 600s; grpc_send_timeout 600s; }}
  }}
}}
"""


class Nginx:
    def __init__(self, tmp, spark_port, tls):
        self.dir = os.path.join(tmp, "nginx-%d" % spark_port)
        os.makedirs(self.dir)
        self.plain, self.tls = free_port(), free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(d=self.dir, spark=spark_port, plain=self.plain,
                                      tls=self.tls, cert=tls["cert"], key=tls["key"]))
        self.proc = subprocess.Popen(["nginx", "-p", self.dir, "-c", conf, "-e",
                                      os.path.join(self.dir, "error.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _procs.append(self.proc)
        end = time.monotonic() + 30
        while len(proc_tree(self.proc.pid)) < 2:
            if self.proc.poll() is not None or time.monotonic() > end:
                raise SystemExit("nginx did not start: %s" % open(
                    os.path.join(self.dir, "error.log")).read()[-2000:])
            time.sleep(0.05)
        time.sleep(0.2)

    def pids(self):
        return proc_tree(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---- measurements ----

def load(addr, *args, tls_ca=None, stdin=None):
    argv = [LOAD, "--address", addr, "--user", getpass.getuser()] + [str(a) for a in args]
    if tls_ca:
        argv += ["--tls", tls_ca, "--authority", "localhost"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    if out.returncode != 0:
        raise SystemExit("connect_load %s failed: %s" % (" ".join(argv), out.stderr))
    return dict(line.split("=", 1) for line in out.stdout.split() if "=" in line)


def measured(pids_of, fn):
    """Run fn(); CPU seconds of each named group of processes meanwhile."""
    groups = {k: v() for k, v in pids_of.items()}
    c0 = {k: cpu_s(v) for k, v in groups.items()}
    res = fn()
    return res, {k: cpu_s(v) - c0[k] for k, v in groups.items()}


def idle_growth(addr, n, groups, tls_ca=None):
    """RSS growth (KiB) of each group with n idle sessions open on addr."""
    before = {k: rss_kib(v()) for k, v in groups.items()}
    argv = [LOAD, "--address", addr, "--user", getpass.getuser(), "--idle", str(n)]
    if tls_ca:
        argv += ["--tls", tls_ca, "--authority", "localhost"]
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    _procs.append(p)
    line = p.stdout.readline()
    if line.strip() != "ready":
        p.kill()
        raise SystemExit("connect_load --idle did not get ready")
    time.sleep(1.0)  # let the servers settle
    after = {k: rss_kib(v()) for k, v in groups.items()}
    p.stdin.close()
    p.wait(timeout=60)
    return {k: after[k] - before[k] for k in groups}


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def standin_block(tmp, rounds, stream_mib, config_calls, idle_n, out):
    tls = make_ca(tmp, "ca")
    direct = Engine(tmp, "standin-direct", STANDIN, door=False)
    door = Engine(tmp, "standin-door", STANDIN, door=True)
    door_tls = Engine(tmp, "standin-door-tls", STANDIN, door=True, tls=tls)
    ngx = Nginx(tmp, direct.port, tls)
    lines = []
    try:
        for mode in ("plaintext", "TLS"):
            t = mode == "TLS"
            ca = tls["ca"] if t else None
            paths = {
                "direct": ("127.0.0.1:%d" % direct.port, None, {"srv": direct.pids}),
                "door": ("127.0.0.1:%d" % (door_tls.port if t else door.port), ca,
                         {"srv": (door_tls if t else door).pids}),
                "nginx": ("127.0.0.1:%d" % (ngx.tls if t else ngx.plain), ca,
                          {"srv": direct.pids, "proxy": ngx.pids}),
            }
            thr = {p: [] for p in PATHS}
            cpu = {p: [] for p in PATHS}
            proxy_cpu = {p: [] for p in PATHS}
            p50 = {p: [] for p in PATHS}
            p99 = {p: [] for p in PATHS}
            nbytes = stream_mib << 20
            for p in PATHS:  # warm-up, untimed
                addr, a_ca, _ = paths[p]
                load(addr, "--stream", 256 << 20, "--rounds", 2, tls_ca=a_ca)
                load(addr, "--config", 300, "--warmup", 100, tls_ca=a_ca)
            for r in range(rounds):
                order = PATHS[r % 3:] + PATHS[:r % 3]
                for p in order:
                    addr, a_ca, groups = paths[p]
                    res, c = measured(groups, lambda: load(addr, "--stream", nbytes, tls_ca=a_ca))
                    gib = int(res["bytes"]) / GiB
                    thr[p].append(float(res["mib_s"]))
                    cpu[p].append(sum(c.values()) / gib)
                    proxy_cpu[p].append(c.get("proxy", 0.0) / gib)
                    res = load(addr, "--config", config_calls, "--warmup", 200, tls_ca=a_ca)
                    p50[p].append(int(res["p50_us"]))
                    p99[p].append(int(res["p99_us"]))
            # door's own CPU: its engine minus the direct engine, per GiB
            proxy_cpu["door"] = [c - med(cpu["direct"]) for c in cpu["door"]]
            d_thr, d50 = med(thr["direct"]), med(p50["direct"])
            lines.append("front door, stand-in synthetic stream (%d MiB per round), %s, %d rounds "
                         "(medians):" % (stream_mib, mode, rounds))
            lines.append("  %-7s %9s %8s %10s %11s %8s %8s %10s" % (
                "path", "MiB/s", "%direct", "CPU s/GiB", "proxy s/GiB", "p50 us", "p99 us",
                "+p50 us"))
            for p in PATHS:
                lines.append("  %-7s %9.0f %7.0f%% %10.2f %11.2f %8d %8d %10d" % (
                    p + ("" if p == "direct" or not t else "+tls"), med(thr[p]),
                    100 * med(thr[p]) / d_thr, med(cpu[p]), med(proxy_cpu[p]), med(p50[p]),
                    med(p99[p]), med(p50[p]) - d50))
            ratio = med(thr["door"]) / d_thr
            lines.append("  goals: door throughput %.0f%% of direct (>= 95%%: %s), %s nginx; "
                         "door p50 +%d us (<= 100: %s)" % (
                             100 * ratio, "met" if ratio >= 0.95 else "MISSED",
                             "not below" if med(thr["door"]) >= med(thr["nginx"]) else "BELOW",
                             med(p50["door"]) - d50,
                             "met" if med(p50["door"]) - d50 <= 100 else "MISSED"))
        # memory per idle session (plaintext)
        g_direct = idle_growth("127.0.0.1:%d" % direct.port, idle_n, {"srv": direct.pids})
        g_door = idle_growth("127.0.0.1:%d" % door.port, idle_n, {"srv": door.pids})
        g_ngx = idle_growth("127.0.0.1:%d" % ngx.plain, idle_n,
                            {"srv": direct.pids, "proxy": ngx.pids})
        per = lambda kib: kib / float(idle_n)  # noqa: E731
        door_own = per(g_door["srv"] - g_direct["srv"])
        lines.append("front door, memory per idle session (%d sessions, one channel + one Config "
                     "each, RSS growth / session):" % idle_n)
        lines.append("  direct engine %.1f KiB; door engine %.1f KiB (door's own share %.1f KiB, "
                     "goal <= 16: %s); nginx %.1f KiB (+ its Spark %.1f KiB)" % (
                         per(g_direct["srv"]), per(g_door["srv"]), door_own,
                         "met" if door_own <= 16 else "MISSED", per(g_ngx["proxy"]),
                         per(g_ngx["srv"])))
    finally:
        ngx.stop()
        for e in (direct, door, door_tls):
            e.stop()
    emit(lines, out)


REAL_CLIENT = r"""
import sys, time
from pyspark.sql import SparkSession
url, n, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = SparkSession.builder.remote(url).getOrCreate()
s.range(10**5).toPandas()
for _ in range(rounds):
    t = time.monotonic()
    pdf = s.range(n).toPandas()
    print("secs=%.4f rows=%d" % (time.monotonic() - t, len(pdf)), flush=True)
s.stop()
"""


def spark_homes():
    env = {}
    p = os.path.join(ROOT, ".venv", "spark-homes.env")
    if os.path.exists(p):
        for line in open(p):
            if "=" in line:
                k, v = line.strip().split("=", 1)
                env[k] = v
    return (os.environ.get("SPARK4_HOME", env.get("SPARK4_HOME")),
            os.environ.get("SPARK4_PYTHON", env.get("SPARK4_PYTHON")))


def real_block(tmp, rounds, config_calls, out):
    home, python = spark_homes()
    if not home or not os.path.isdir(home or ""):
        emit(["front door, real Spark: skipped (no SPARK4_HOME; make deps)"], out)
        return
    tls = make_ca(tmp, "real-ca")
    direct = Engine(tmp, "real-direct", home, door=False)
    door = Engine(tmp, "real-door", home, door=True, tls=None)
    door_tls = Engine(tmp, "real-door-tls", home, door=True, tls=tls)
    ngx = Nginx(tmp, direct.port, tls)
    lines = []
    n = 10 ** 7
    try:
        for mode in ("plaintext", "TLS"):
            t = mode == "TLS"
            ssl = ";use_ssl=true" if t else ""
            host = "localhost" if t else "127.0.0.1"
            paths = {
                "direct": ("sc://127.0.0.1:%d" % direct.port, "127.0.0.1:%d" % direct.port, None,
                           {"srv": direct.pids}),
                "door": ("sc://%s:%d/%s" % (host, (door_tls if t else door).port, ssl),
                         "127.0.0.1:%d" % (door_tls if t else door).port, tls["ca"] if t else None,
                         {"srv": (door_tls if t else door).pids}),
                "nginx": ("sc://%s:%d/%s" % (host, ngx.tls if t else ngx.plain, ssl),
                          "127.0.0.1:%d" % (ngx.tls if t else ngx.plain), tls["ca"] if t else None,
                          {"srv": direct.pids, "proxy": ngx.pids}),
            }
            secs = {p: [] for p in PATHS}
            cpu = {p: [] for p in PATHS}
            p50 = {p: [] for p in PATHS}
            p99 = {p: [] for p in PATHS}
            # PySpark's user_id comes from SPARK_USER / USER: the engine user
            env = dict(os.environ, GRPC_DEFAULT_SSL_ROOTS_FILE_PATH=tls["ca"],
                       USER=getpass.getuser())
            for r in range(rounds):
                order = PATHS[r % 3:] + PATHS[:r % 3]
                for p in order:
                    url, addr, ca, groups = paths[p]

                    def q():
                        o = subprocess.run([python, "-c", REAL_CLIENT, url, str(n), "1"],
                                           capture_output=True, text=True, env=env, timeout=600)
                        if o.returncode != 0:
                            raise SystemExit("real client on %s failed:\n%s" % (url, o.stderr[-3000:]))
                        return float(o.stdout.split("secs=")[1].split()[0])
                    s, c = measured(groups, q)
                    secs[p].append(s)
                    cpu[p].append(sum(c.values()))
                    res = load(addr, "--config", config_calls, "--warmup", 200, tls_ca=ca)
                    p50[p].append(int(res["p50_us"]))
                    p99[p].append(int(res["p99_us"]))
            d = med(secs["direct"])
            lines.append("front door, real Spark 4 spark.range(10**7).toPandas() (PySpark client), %s, "
                         "%d rounds (medians; CPU = server side incl. the client's session start):"
                         % (mode, rounds))
            lines.append("  %-9s %8s %8s %12s %8s %8s %8s" % ("path", "seconds", "%direct",
                                                             "server CPU s", "p50 us", "p99 us",
                                                             "+p50 us"))
            for p in PATHS:
                lines.append("  %-9s %8.2f %7.0f%% %12.2f %8d %8d %8d" % (
                    p + ("" if p == "direct" or not t else "+tls"), med(secs[p]),
                    100 * d / med(secs[p]), med(cpu[p]), med(p50[p]), med(p99[p]),
                    med(p50[p]) - med(p50["direct"])))
    finally:
        ngx.stop()
        for e in (direct, door, door_tls):
            e.stop()
    emit(lines, out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("FD_ROUNDS", "3")))
    ap.add_argument("--stream-mib", type=int, default=int(os.environ.get("FD_STREAM_MIB", "1024")))
    ap.add_argument("--config-calls", type=int, default=3000)
    ap.add_argument("--idle-sessions", type=int, default=256)
    ap.add_argument("--no-real", action="store_true")
    ap.add_argument("--no-standin", action="store_true")
    ap.add_argument("--out", default=os.path.join(BUILD, "bench", "results.txt"))
    a = ap.parse_args()
    if not shutil.which("nginx"):
        emit(["front door: skipped (no nginx; make deps)"], a.out)
        return
    build_load()
    tmp = tempfile.mkdtemp(prefix="sparkshim-fd-bench-")
    try:
        if not a.no_standin:
            standin_block(tmp, a.rounds, a.stream_mib, a.config_calls, a.idle_sessions, a.out)
        if not a.no_real:
            real_block(tmp, a.rounds, a.config_calls, a.out)
    finally:
        _kill_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
