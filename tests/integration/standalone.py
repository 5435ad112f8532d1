"""A real Spark standalone cluster (one master, one worker) for tests.

The PyPI Spark home has no sbin/start-*.sh, so the master and the worker are
run as Spark documents for the foreground: `bin/spark-class
org.apache.spark.deploy.master.Master` and `...worker.Worker`. Everything is
small and private: the worker offers 1 core and WORKER_MEM, the daemons get
DAEMON_MEM of heap, every port is free (or picked by the kernel), the work,
local and conf dirs are in the test's temp dir. By default everything is on
127.0.0.1; in a network namespace (netns.Host) it binds the host's address.

    c = Standalone(tmp, spark_home, host=None).start()   # READY: worker ALIVE
    c.url                       # spark://HOST:PORT for --master
    c.status()                  # the master's /json
    c.app(app_id)               # one application of /json (active or completed)
    c.executor_pids(app_id)     # executor JVMs of the worker for that app
    c.stop()

Every wait is a bounded poll of the master's /json or of /proc.
"""
import json
import os
import signal
import socket
import subprocess
import time

from engine import JDK_BIN, free_port, wait_for

DAEMON_MEM = "256m"
WORKER_MEM = "1g"
EXECUTOR_MEM = "512m"
EXECUTOR_CLASS = "org.apache.spark.executor.CoarseGrainedExecutorBackend"


def http_get(connect, host, port, path, timeout=5.0):
    """GET http://host:port/path over a socket from connect(host, port,
    timeout); returns the body (str)."""
    s = connect(host, port, timeout)
    try:
        s.settimeout(timeout)
        s.sendall(("GET %s HTTP/1.0\r\nHost: %s:%d\r\n\r\n" % (path, host, port)).encode())
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    finally:
        s.close()
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n", 1)[0]:
        raise OSError("HTTP %s" % head.split(b"\r\n", 1)[0].decode(errors="replace"))
    return body.decode(errors="replace")


def _tcp(host, port, timeout):
    return socket.create_connection((host, port), timeout=timeout)


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def gone(pid):
    """pid is gone (or a zombie)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


class Standalone:
    def __init__(self, root, spark_home, host=None):
        """host: a netns.Host to run in (its address), or None: 127.0.0.1."""
        self.root = str(root)
        self.home = spark_home
        self.ns = host
        self.host = host.ip if host else "127.0.0.1"
        self.port = free_port() if not host else 7077
        self.ui_port = free_port() if not host else 8080
        self.url = "spark://%s:%d" % (self.host, self.port)
        self.master = self.worker = None
        self.connect = host.connect if host else _tcp
        for d in ("conf", "work", "local", "logs"):
            os.makedirs(os.path.join(self.root, d), exist_ok=True)

    def _env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SPARK_", "PYSPARK_")) and k not in ("PYTHONPATH",)}
        env.update({
            "SPARK_HOME": self.home,
            "JAVA_HOME": os.path.dirname(JDK_BIN),
            "SPARK_CONF_DIR": os.path.join(self.root, "conf"),
            "SPARK_DAEMON_MEMORY": DAEMON_MEM,
            "SPARK_LOCAL_IP": self.host,
            "SPARK_LOCAL_HOSTNAME": self.host,
            "SPARK_LOCAL_DIRS": os.path.join(self.root, "local"),
            "SPARK_WORKER_DIR": os.path.join(self.root, "work"),
            "SPARK_LOG_DIR": os.path.join(self.root, "logs"),
            # Keep the executors small and quick to start.
            "SPARK_WORKER_OPTS": "-Dspark.worker.cleanup.enabled=false",
            # No REST submission server (it would take the fixed port 6066).
            "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",
            "SPARK_NO_DAEMONIZE": "1",
        })
        return env

    def _spawn(self, name, argv):
        log = open(os.path.join(self.root, name + ".log"), "wb")
        cmd = [os.path.join(self.home, "bin", "spark-class")] + argv
        try:
            kw = dict(stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                      env=self._env(), cwd=self.root, start_new_session=True)
            return self.ns.popen(cmd, **kw) if self.ns else subprocess.Popen(cmd, **kw)
        finally:
            log.close()

    def log(self, name):
        try:
            with open(os.path.join(self.root, name + ".log"), "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def status(self, timeout=5.0):
        return json.loads(http_get(self.connect, self.host, self.ui_port, "/json/", timeout))

    def _status_or_none(self):
        for name, p in (("master", self.master), ("worker", self.worker)):
            if p is not None and p.poll() is not None:
                raise AssertionError("%s exited %s:\n%s" % (name, p.returncode,
                                                            self.log(name)[-3000:]))
        try:
            return self.status(timeout=2.0)
        except (OSError, ValueError):
            return None

    def start(self, timeout=120):
        try:
            self.master = self._spawn("master", [
                "org.apache.spark.deploy.master.Master", "--host", self.host,
                "--port", str(self.port), "--webui-port", str(self.ui_port)])
            wait_for(self._status_or_none, timeout, "the master's /json on %s:%d"
                     % (self.host, self.ui_port), interval=0.2)
            self.worker = self._spawn("worker", [
                "org.apache.spark.deploy.worker.Worker", "--host", self.host,
                "--port", "0", "--webui-port", "0" if self.ns else str(free_port()),
                "--cores", "1", "--memory", WORKER_MEM,
                "--work-dir", os.path.join(self.root, "work"), self.url])

            def worker_alive():
                st = self._status_or_none()
                return st if st and any(w.get("state") == "ALIVE"
                                        for w in st.get("workers", [])) else None
            wait_for(worker_alive, timeout, "an ALIVE worker on the master", interval=0.2)
        except BaseException:
            self.stop()
            raise
        return self

    # -- what the master and the worker report
    def app(self, app_id):
        """(where, app) for app_id: where is 'active' or 'completed'."""
        st = self.status()
        for where in ("activeapps", "completedapps"):
            for a in st.get(where, []):
                if a.get("id") == app_id:
                    return where[:-4], a
        return None, None

    def wait_app(self, app_id, pred, timeout, what):
        last = {}

        def check():
            last["v"] = self.app(app_id)
            return last["v"] if pred(*last["v"]) else None
        try:
            return wait_for(check, timeout, what, interval=0.2)
        except AssertionError as ex:
            raise AssertionError("%s; last seen: %s; active apps: %s" % (
                ex, last.get("v"), [(a.get("id"), a.get("state"))
                                    for a in self.status().get("activeapps", [])]))

    def executor_pids(self, app_id=None):
        """Executor JVMs running for app_id (any app when None): processes
        of CoarseGrainedExecutorBackend whose working directory is in this
        cluster's work dir (the worker runs each in work/APP/EXEC), from /proc."""
        work = os.path.join(self.root, "work") + "/"
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            argv = cmdline(int(d))
            if EXECUTOR_CLASS.encode() not in argv or gone(int(d)):
                continue
            if app_id is not None and app_id.encode() not in argv:
                continue
            try:
                cwd = os.readlink("/proc/%s/cwd" % d)
            except OSError:
                continue
            if (cwd + "/").startswith(work):
                out.append(int(d))
        return out

    def stop(self):
        for name in ("worker", "master"):
            p = getattr(self, name)
            if p is None:
                continue
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    p.kill()
                p.wait(timeout=30)
            setattr(self, name, None)
        # Executors the worker started are in its process group too, but
        # an executor that outlived it would be ours to remove.
        for pid in self.executor_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        deadline = time.monotonic() + 30
        while self.executor_pids() and time.monotonic() < deadline:
            time.sleep(0.05)
