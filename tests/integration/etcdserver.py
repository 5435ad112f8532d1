"""A real etcd server for integration tests, as a pytest fixture.

Debian's `etcd-server` (etcd 3.4) in the foreground: loopback only, free
client and peer ports, a temp data dir. Readiness is a bounded poll of
`etcdctl endpoint health` (Debian's `etcd-client`); teardown always stops
the process. `stop()`/`start()` keep the ports and the data dir so tests can
take etcd away and bring it back (`wipe=True` forgets every key and lease).

Usage in a test module:  `from etcdserver import etcd  # noqa: F401` (fixture;
`etcd_tls` is the same on https with client certificates).
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


def make_certs(d):
    """A CA, a server certificate for 127.0.0.1 and a client certificate
    (openssl, in d); returns their paths."""
    os.makedirs(d, exist_ok=True)
    p = {n: os.path.join(d, n) for n in (
        "ca.key", "ca.pem", "server.key", "server.pem", "client.key", "client.pem", "ext")}

    def run(*a):
        subprocess.run(["openssl"] + list(a), check=True, capture_output=True, timeout=60)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", p["ca.key"], "-out", p["ca.pem"])
    with open(p["ext"], "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n")
    for who in ("server", "client"):
        csr = os.path.join(d, who + ".csr")
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={who}",
            "-keyout", p[who + ".key"], "-out", csr)
        run("x509", "-req", "-in", csr, "-CA", p["ca.pem"], "-CAkey", p["ca.key"],
            "-CAcreateserial", "-days", "2", "-extfile", p["ext"], "-out", p[who + ".pem"])
    return p


class EtcdServer:
    def __init__(self, root, tls=False):
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)
        self.certs = make_certs(os.path.join(self.root, "certs")) if tls else None
        self.user = None  # "name:password" for etcdctl once auth is on
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

    @property
    def url(self):
        return f"{'https' if self.certs else 'http'}://{self.address}"

    def start(self, timeout=30):
        client = self.url
        peer = f"http://127.0.0.1:{self.peer_port}"
        log = open(self.log_path, "ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
        self.proc = subprocess.Popen(
            [ETCD, "--name", "default", "--data-dir", self.data_dir,
             "--listen-client-urls", client, "--advertise-client-urls", client,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"default={peer}"] + (
                 ["--cert-file", self.certs["server.pem"], "--key-file", self.certs["server.key"],
                  "--trusted-ca-file", self.certs["ca.pem"], "--client-cert-auth"]
                 if self.certs else []),
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
        tls = ["--cacert", self.certs["ca.pem"], "--cert", self.certs["client.pem"],
               "--key", self.certs["client.key"]] if self.certs else []
        user = ["--user", self.user] if self.user else []
        p = subprocess.run([ETCDCTL, "--endpoints", self.url, "--dial-timeout", "2s",
                            "--command-timeout", "5s"] + tls + user + list(args),
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


def _serve(tmp_path, tls):
    if not (os.access(ETCD, os.X_OK) and os.access(ETCDCTL, os.X_OK)):
        pytest.skip("etcd-server / etcd-client are not installed (scripts/install-deps.sh)")
    s = EtcdServer(tmp_path, tls=tls)
    try:
        s.start()
        yield s
    finally:
        s.stop(kill=True)


@pytest.fixture
def etcd(tmp_path):
    yield from _serve(tmp_path, False)


@pytest.fixture
def etcd_tls(tmp_path):
    """etcd on https with client certificate auth (a test CA made by openssl)."""
    yield from _serve(tmp_path, True)
