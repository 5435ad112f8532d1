"""Runs the real sparkshim binary against the stand-in Spark home.

An Engine is one sparkshim process in its own temp dir, on loopback and a
free port, with stdout/stderr captured to files. Every wait is bounded and
polls a real condition (state file, port, exit); nothing sleeps to
synchronise. Engines are always killed in teardown.
"""
import json
import os
import signal
import socket
import subprocess
import time

import grpc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIM_BIN = os.environ.get("SPARKSHIM_BIN", os.path.join(ROOT, "build", "sparkshim"))
STANDIN = os.environ.get("SPARKSHIM_STANDIN", os.path.join(ROOT, "build", "spark-home"))
STANDIN_35 = STANDIN + "-3.5"
CONNECT_JARS = os.path.join(os.path.dirname(STANDIN), "connect-jars")
JDK_BIN = "/usr/lib/jvm/java-17-openjdk-amd64/bin"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def missing(why):
    """A prerequisite that the build (make, make standin, make deps) must
    provide is absent: fail loudly. A skip would turn a broken build into
    a green run."""
    import pytest
    pytest.fail("prerequisite missing (the build must provide it): %s" % why, pytrace=False)


def wait_for(cond, timeout, what, interval=0.05):
    """Poll cond() until truthy or timeout; returns its value or raises."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _ld(field, payload):
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def config_get_request(session_id, user_id, keys):
    """spark.connect.ConfigRequest{session_id=1, user_context=2{user_id=1},
    operation=3{get=2{keys=1}}} encoded by hand."""
    get = b"".join(_ld(1, k.encode()) for k in keys)
    op = _ld(2, get)
    return (_ld(1, session_id.encode()) + _ld(2, _ld(1, user_id.encode())) + _ld(3, op))


def config_call(port, keys=("spark.app.name",), timeout=10):
    """A real Spark Connect Config RPC; returns the raw response bytes."""
    with grpc.insecure_channel("127.0.0.1:%d" % port) as ch:
        call = ch.unary_unary("/spark.connect.SparkConnectService/Config")
        return call(config_get_request("3b8c4d2e-0000-4000-8000-000000000001", "tester",
                                       list(keys)), timeout=timeout)


class Engine:
    def __init__(self, tmp_path, args, env=None, spark_home=STANDIN, cwd=None, binary=SHIM_BIN,
                 state_file=True, prefix=()):
        """prefix: a command that runs the engine, e.g. unshare, or `ip netns
        exec NS` (netns.Host.argv, which execs it); self.pid is the pid of
        what Popen started."""
        self.tmp = tmp_path
        self.state_file = os.path.join(str(tmp_path), "state.json")
        self.out_path = os.path.join(str(tmp_path), "stdout.log")
        self.err_path = os.path.join(str(tmp_path), "stderr.log")
        e = dict(os.environ)
        e.pop("NOTIFY_SOCKET", None)
        e.pop("SPARK_CONF_DIR", None)
        if spark_home is None:
            e.pop("SPARK_HOME", None)
        else:
            e["SPARK_HOME"] = spark_home
        e.setdefault("JAVA_HOME", os.path.dirname(JDK_BIN))
        if env:
            for k, v in env.items():
                if v is None:
                    e.pop(k, None)
                else:
                    e[k] = v
        self.argv = list(prefix) + [binary] + (["--state-file", self.state_file] if state_file else []) + list(args)
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdout=self._out, stderr=self._err,
                                     stdin=subprocess.DEVNULL, env=e,
                                     cwd=cwd or str(tmp_path))
        self.pid = self.proc.pid

    # -- observation
    def stdout(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode(errors="replace")

    def state(self):
        try:
            with open(self.state_file) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def url(self):
        for line in self.stdout().splitlines():
            if line.startswith("sc://"):
                return line.strip()
        return None

    def wait_ready(self, timeout=60):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("engine exited with %s before READY:\n%s"
                                     % (self.proc.returncode, self.stderr()[-4000:]))
            st = self.state()
            return st if st and st.get("state") == "READY" else None
        st = wait_for(ready, timeout, "READY")
        self.connect_port = st["connect_port"]
        self.control_address = st.get("control_address", "")
        return st

    def wait_exit(self, timeout=60):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("engine still running after %ss:\n%s"
                                 % (timeout, self.stderr()[-3000:]))

    def send(self, sig):
        if self.proc.poll() is None:
            os.kill(self.pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=60):
        self.send(sig)
        return self.wait_exit(timeout)

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self._out.close()
        self._err.close()


def loopback_args(port=0, extra=(), control="127.0.0.1:0", shim=()):
    """Shim + spark-submit args that keep everything on 127.0.0.1."""
    a = list(shim)
    if control is not None:
        a += ["--control-address", control]
    a += ["--", "--master", "local[1]",
          "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
          "--conf", "spark.connect.grpc.binding.port=%d" % port,
          "--conf", "spark.ui.enabled=false"]
    a += list(extra)
    return a


def no_process_left(pid):
    """True when pid is gone (not even a zombie of ours)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split()[2] == "Z"
    except OSError:
        return True


def process_age_ms(pid):
    """How long ago pid started, from /proc (clock-tick precision)."""
    with open("/proc/%d/stat" % pid) as f:
        start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as f:
        now_s = float(f.read().split()[0])
    return int((now_s - start_ticks / os.sysconf("SC_CLK_TCK")) * 1000)


def process_start_epoch_ms(pid):
    """The epoch ms at which pid started (the kernel's record, not the engine's)."""
    return int(time.time() * 1000) - process_age_ms(pid)


class EventFollower:
    """`sparkshim ctl --json events` following an engine's lifecycle (the
    backlog from its start, then live) until the control server ends the
    stream on the way out."""

    def __init__(self, e):
        self.path = os.path.join(str(e.tmp), "events.jsonl")
        self._f = open(self.path, "wb")
        self.proc = subprocess.Popen([SHIM_BIN, "ctl", "--address", e.control_address, "--json",
                                      "events"], stdout=self._f, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL)

    def events(self, timeout=30):
        """Every event, once the stream ended (call after the engine exited)."""
        try:
            self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._f.close()
        with open(self.path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def transitions(self, timeout=30):
        return [x for x in self.events(timeout) if x["kind"] == "TRANSITION"]

