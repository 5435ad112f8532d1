"""A real etcd server for integration tests, as a pytest fixture.

Debian's `etcd-server` (etcd 3.4) in the foreground: loopback only, free
client and peer ports, a temp data dir. Readiness is a bounded poll of
`etcdctl endpoint health` (Debian's `etcd-client`); teardown always stops
the process. `stop()`/`start()` keep the ports and the data dir so tests can
take etcd away and bring it back (`wipe=True` forgets every key and lease).

Usage in a test module:  `from etcdserver import etcd  # noqa: F401` (fixture).
"""
import base64
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from zkserver import free_port

ETCD = "/usr/bin/etcd"
ETCDCTL = "/usr/bin/etcdctl"


class EtcdServer:
    def __init__(self, root):
        self.root = str(root)
        self.port = free_port()
        self.peer_port = free_port()
        while self.peer_port == self.port:
            self.peer_port = free_port()
        self.data_dir = os.path.join(self.root, "etcd-data")
        self.log_path = os.path.join(self.root, "etcd.log")
        self.proc = None

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self, timeout=30):
        client = f"http://127.0.0.1:{self.port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        log = open(self.log_path, "ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
        self.proc = subprocess.Popen(
            [ETCD, "--name", "default", "--data-dir", self.data_dir,
             "--listen-client-urls", client, "--advertise-client-urls", client,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"default={peer}"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"etcd exited {self.proc.returncode}: {self.log()[-2000:]}")
            if self.ctl("endpoint", "health", check=False, timeout=5).returncode == 0:
                return
            if time.monotonic() >= deadline:
                raise RuntimeError(f"etcd not healthy within {timeout}s: {self.log()[-2000:]}")
            time.sleep(0.1)

    def stop(self, kill=False):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def restart(self, kill=True, wipe=False):
        self.stop(kill=kill)
        if wipe:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        self.start()

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def ctl(self, *args, check=True, timeout=15):
        env = {"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"}
        p = subprocess.run([ETCDCTL, "--endpoints", self.address, "--dial-timeout", "2s",
                            "--command-timeout", "5s"] + list(args),
                           capture_output=True, env=env, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"etcdctl {' '.join(args)}: {p.stderr.decode(errors='replace')}")
        return p

    def get_prefix(self, prefix):
        """[(key, value, lease)] under prefix, as a client lists them (bytes)."""
        out = json.loads(self.ctl("get", "--prefix", prefix, "-w", "json").stdout)
        return [(base64.b64decode(kv["key"]), base64.b64decode(kv.get("value", "")),
                 int(kv.get("lease", 0))) for kv in out.get("kvs", [])]

    def get(self, key):
        kvs = [kv for kv in self.get_prefix(key) if kv[0] == key.encode()]
        return kvs[0] if kvs else None

    def delete(self, key):
        return int(self.ctl("del", key).stdout.decode().split()[0] or 0)

    def lease_ttl(self, lease):
        """(remaining TTL, granted TTL) of a lease; remaining -1 when gone."""
        out = json.loads(self.ctl("lease", "timetolive", f"{lease:x}", "-w", "json").stdout)
        return int(out.get("ttl", -1)), int(out.get("granted-ttl", 0))

    def revoke(self, lease):
        self.ctl("lease", "revoke", f"{lease:x}")


@pytest.fixture
def etcd(tmp_path):
    if not (os.access(ETCD, os.X_OK) and os.access(ETCDCTL, os.X_OK)):
        pytest.skip("etcd-server / etcd-client are not installed (scripts/install-deps.sh)")
    s = EtcdServer(tmp_path)
    try:
        s.start()
        yield s
    finally:
        s.stop(kill=True)
