"""Helpers for the real-Spark tests (test_real_spark.py).

- real_spark(): the Spark homes and client pythons installed by `make deps`
  (.venv/spark-homes.env); a missing install FAILS the test (a skipped real
  test proves nothing);
- real_args(): shim + spark-submit args for a small loopback-only engine;
- start_real(): an Engine (engine.py) on a real Spark home, READY;
- run_client(): one real_client.py scenario in the client venv, bounded,
  returns its JSON result; SessionClient: the interactive scenario;
- ctl_status(), children(), jvm_pids(): what the engine and the OS report.

The real PySpark client is never imported in the pytest process.
"""
import getpass
import json
import os
import select
import subprocess
import time

import pytest

from engine import JDK_BIN, ROOT, SHIM_BIN, Engine, wait_for

ENV_FILE = os.path.join(ROOT, ".venv", "spark-homes.env")
CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "real_client.py")
JPS = os.path.join(JDK_BIN, "jps")
NEED = ("SPARK4_HOME", "SPARK4_PYTHON", "SPARK35_HOME", "SPARK35_PYTHON", "SPARK35_CONNECT_JAR")


def real_spark():
    """KEY -> value from .venv/spark-homes.env, every path checked."""
    why = None
    vals = {}
    if not os.path.exists(ENV_FILE):
        why = "%s is missing" % ENV_FILE
    else:
        with open(ENV_FILE) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    k, v = line.split("=", 1)
                    vals[k.strip()] = v.strip().strip('"').strip("'")
        for k in NEED:
            if not vals.get(k):
                why = "%s has no %s" % (ENV_FILE, k)
            elif not os.path.exists(vals[k]):
                why = "%s=%s does not exist" % (k, vals[k])
            if why:
                break
        if not why and not os.path.isdir(os.path.join(vals["SPARK4_HOME"], "jars")):
            why = "SPARK4_HOME=%s has no jars/" % vals["SPARK4_HOME"]
    if why:
        pytest.fail("real Spark not installed: run make deps (%s)" % why, pytrace=False)
    if not os.access(SHIM_BIN, os.X_OK):
        pytest.fail("sparkshim binary not built (%s): run make" % SHIM_BIN, pytrace=False)
    return vals


def real_args(extra=(), shim=(), master="local[1]", binding_address=True, control="127.0.0.1:0"):
    """A small engine, everything on 127.0.0.1 (driver, connect port, control)."""
    a = list(shim)
    if control is not None:
        a += ["--control-address", control]
    a += ["--", "--master", master,
          "--conf", "spark.connect.grpc.binding.port=0",
          "--conf", "spark.ui.enabled=false",
          "--conf", "spark.driver.host=127.0.0.1",
          "--conf", "spark.driver.bindAddress=127.0.0.1",
          "--conf", "spark.sql.shuffle.partitions=2"]
    if binding_address:
        a += ["--conf", "spark.connect.grpc.binding.address=127.0.0.1"]
    return a + list(extra)


def engine_env(rs, python_key="SPARK4_PYTHON"):
    """Python UDF workers must run the client's python (pyspark, pyarrow)."""
    py = rs[python_key]
    return {"PYSPARK_PYTHON": py, "PYSPARK_DRIVER_PYTHON": py, "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_LOCAL_HOSTNAME": "localhost"}


def start_real(tmp, rs, extra=(), shim=(), spark35=False, timeout=150, **kw):
    home = rs["SPARK35_HOME"] if spark35 else rs["SPARK4_HOME"]
    env = engine_env(rs, "SPARK35_PYTHON" if spark35 else "SPARK4_PYTHON")
    env.update(kw.pop("env", {}) or {})
    if spark35:  # the front door needs Spark 4 (docs/front-door.md)
        shim = ["--front-door", "off"] + list(shim)
    e = Engine(tmp, real_args(extra=extra, shim=shim, binding_address=not spark35, **kw),
               env=env, spark_home=home)
    try:
        e.wait_ready(timeout=timeout)
        wait_for(e.url, 10, "the sc:// line on stdout")
    except BaseException:
        e.kill()
        raise
    return e


def _client_env():
    env = dict(os.environ)
    for k in ("SPARK_HOME", "PYTHONPATH", "SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED",
              "http_proxy", "https_proxy", "grpc_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env.pop(k, None)
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost,::1"
    # PySpark's user_id is SPARK_USER, else USER: the front door's engine user
    # is the OS user, and an empty user_id is refused.
    env.setdefault("USER", getpass.getuser())
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _last_json(text):
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def run_client(python, url, scenario, *args, timeout=180, tmp=None):
    """Run one real_client.py scenario; returns its JSON result. Fails the
    test with the client's stderr when it crashed, hung or printed nothing."""
    argv = [python, CLIENT, url, scenario] + [str(a) for a in args]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                           env=_client_env(), stdin=subprocess.DEVNULL,
                           cwd=str(tmp) if tmp else None)
    except subprocess.TimeoutExpired as ex:
        raise AssertionError("client %s timed out after %ss:\n%s" % (
            scenario, timeout, (ex.stderr or b"")[-3000:] if isinstance(ex.stderr, bytes)
            else (ex.stderr or "")[-3000:]))
    res = _last_json(p.stdout)
    assert res is not None and "fatal" not in res, \
        "client %s exited %s: %s\n%s" % (scenario, p.returncode, res, p.stderr[-3000:])
    res["_rc"] = p.returncode
    return res


class ClientProc:
    """A real_client.py process that the test talks to line by line."""

    def __init__(self, python, url, scenario, *args, tmp=None):
        self.err_path = os.path.join(str(tmp), "client-%s-%d.err" % (scenario, time.monotonic_ns())) \
            if tmp else os.devnull
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen([python, CLIENT, url, scenario] + [str(a) for a in args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._err, env=_client_env(), bufsize=0,
                                     cwd=str(tmp) if tmp else None)
        self._buf = b""

    def stderr(self):
        try:
            with open(self.err_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def read(self, timeout):
        """The next JSON line, within timeout seconds."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("client sent nothing in %ss:\n%s" % (timeout,
                                                                          self.stderr()[-3000:]))
            r, _, _ = select.select([self.proc.stdout], [], [], min(left, 0.5))
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    raise AssertionError("client exited (%s) before answering:\n%s"
                                         % (self.proc.poll(), self.stderr()[-3000:]))
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def send(self, cmd):
        self.proc.stdin.write((cmd + "\n").encode())
        self.proc.stdin.flush()

    def call(self, cmd, timeout=120):
        self.send(cmd)
        r = self.read(timeout)
        assert r.get("ok"), "client command %r failed: %s\n%s" % (cmd, r, self.stderr()[-2000:])
        return r

    def alive(self):
        return self.proc.poll() is None

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("client still running after %ss:\n%s"
                                 % (timeout, self.stderr()[-3000:]))

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b"abandon\n")
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self._err.close()


def ctl_status(address, timeout=30):
    p = subprocess.run([SHIM_BIN, "ctl", "--address", address, "--json", "status"],
                       capture_output=True, text=True, timeout=timeout,
                       env={k: v for k, v in os.environ.items()
                            if k not in ("SPARKSHIM_CONTROL_TOKEN", "SPARKSHIM_CONTROL_ADDRESS")})
    assert p.returncode == 0, "ctl status exited %d: %s" % (p.returncode, p.stderr)
    return json.loads(p.stdout)


def children(pid):
    """Pids whose parent is pid (from /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rfind(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(d))
    return out


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def jps_lines(timeout=60):
    p = subprocess.run([JPS, "-ml"], capture_output=True, text=True, timeout=timeout)
    return p.stdout.splitlines()
