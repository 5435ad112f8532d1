"""A real ZooKeeper server for integration tests, as a pytest fixture.

The server is the Debian `zookeeper` package's ZooKeeperServerMain run in the
foreground: loopback only, a free port, a temp data dir, no admin server.
Every wait is a bounded poll (`ruok` -> `imok`, then `srvr` shows a Mode),
and teardown always stops
the JVM. `stop()`/`start()` keep the same port and data dir so tests can take
ZooKeeper away and bring it back (`wipe=True` forgets every session and node,
which makes a returning client see its session as expired).

Usage in a test module:  `from zkserver import zk  # noqa: F401` (fixture).
"""
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

JAVA_DIR = "/usr/share/java"
CLASSPATH = ":".join(os.path.join(JAVA_DIR, j) for j in (
    "zookeeper.jar", "zookeeper-jute.jar", "slf4j-api.jar", "slf4j-simple.jar"))
MAIN = "org.apache.zookeeper.server.ZooKeeperServerMain"

# tickTime bounds the session timeouts a client may negotiate
# (2 x tick .. maxSessionTimeout); 100 ms lets tests use sub-second sessions.
TICK_MS = 100


def free_port():
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tcp(host, port, timeout):
    return socket.create_connection((host, port), timeout=timeout)


def four_letter(port, cmd, timeout=1.0, host="127.0.0.1", connect=_tcp):
    """Send a ZooKeeper four-letter command; '' when nobody answers."""
    try:
        with connect(host, port, timeout) as s:
            s.sendall(cmd.encode())
            chunks = []
            while True:
                b = s.recv(4096)
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""


class ZkServer:
    def __init__(self, root, port=None, netns_host=None):
        """netns_host: a netns.Host to run in, listening on its address."""
        self.root = str(root)
        self.ns = netns_host
        self.host = netns_host.ip if netns_host else "127.0.0.1"
        self.connect = netns_host.connect if netns_host else _tcp
        self.port = port or free_port()
        self.data_dir = os.path.join(self.root, "data")
        self.cfg = os.path.join(self.root, "zoo.cfg")
        self.log_path = os.path.join(self.root, "zookeeper.log")
        self.proc = None
        os.makedirs(self.data_dir, exist_ok=True)
        with open(self.cfg, "w") as f:
            f.write(
                f"tickTime={TICK_MS}\n"
                f"dataDir={self.data_dir}\n"
                f"clientPort={self.port}\n"
                f"clientPortAddress={self.host}\n"
                "admin.enableServer=false\n"
                "4lw.commands.whitelist=ruok,srvr,stat,cons\n"
                f"minSessionTimeout={2 * TICK_MS}\n"
                "maxSessionTimeout=120000\n"
                # Keep the server from spending time on anything else.
                "autopurge.purgeInterval=0\n")

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def start(self, timeout=30.0):
        assert self.proc is None, "already running"
        log = open(self.log_path, "ab")
        try:
            argv = ["java", "-Xmx128m", "-cp", CLASSPATH, MAIN, self.cfg]
            kw = dict(stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                      start_new_session=True)
            self.proc = self.ns.popen(argv, **kw) if self.ns else subprocess.Popen(argv, **kw)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ZooKeeper exited with {self.proc.returncode}; "
                                   f"see {self.log_path}")
            # `ruok` answers before the server takes sessions; `srvr`
            # reports a Mode only once it serves requests.
            if (self._4lw("ruok", 0.5) == "imok" and "Mode: " in self._4lw("srvr", 0.5)):
                return self
            time.sleep(0.05)
        self.stop(kill=True)
        raise RuntimeError(f"ZooKeeper did not answer ruok within {timeout}s")

    def stop(self, kill=False, timeout=15.0):
        """Stop the server (SIGKILL when kill=True, like a crash)."""
        if self.proc is None:
            return
        p, self.proc = self.proc, None
        if p.poll() is None:
            p.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=timeout)
        # The port must be closed before a restart can reuse it.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._4lw("ruok", 0.2):
            time.sleep(0.05)

    def _4lw(self, cmd, timeout):
        return four_letter(self.port, cmd, timeout, self.host, self.connect)

    def restart(self, wipe=False, kill=False):
        self.stop(kill=kill)
        if wipe:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            os.makedirs(self.data_dir, exist_ok=True)
        return self.start()

    def running(self):
        return self.proc is not None and self.proc.poll() is None


@pytest.fixture
def zk(tmp_path):
    server = ZkServer(tmp_path / "zk")
    server.start()
    try:
        yield server
    finally:
        server.stop(kill=True)
