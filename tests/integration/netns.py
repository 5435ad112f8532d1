"""Network namespaces as test "hosts" on a private LAN, as a pytest fixture.

A Lan is one switch namespace holding a Linux bridge, plus one namespace per
host, each joined to the bridge by a veth pair and given an address on a
/24 of the benchmarking range 198.18.0.0/15 that none of the machine's own
interfaces or routes uses (checked with `ip -4 addr` / `ip -4 route`).
Nothing is added to the machine's own namespace: the veth pairs are created
directly in the namespaces that hold their ends.

    lan = make_lan()                 # or the `lan` fixture
    gw = lan.host("gw")              # Host: name, ip, its loopback is up
    p = gw.popen(["java", ...])      # `ip netns exec <ns> ...`, same pid
    s = gw.connect(ip, port)         # a socket opened inside the namespace
    extra_ip = gw.add_link("side")   # a second interface on its own subnet

Teardown kills every process still inside the namespaces (those the test
started and any they left), then deletes the namespaces, which removes their
interfaces; it runs at fixture teardown, and at interpreter exit for anything
a crash left. Where namespaces cannot be created (no CAP_SYS_ADMIN, no `ip`)
the fixture skips with a reason that starts "no permission to create network
namespaces" (conftest.py's ALLOWED_SKIPS).
"""
import atexit
import ctypes
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"
RANGE = ipaddress.ip_network("198.18.0.0/15")
_libc = ctypes.CDLL(None, use_errno=True)
_live = []  # every Lan not torn down yet (atexit)
_seq = [0]


def _ip(*args, check=True, timeout=30):
    p = subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError("ip %s: exit %d: %s" % (" ".join(args), p.returncode,
                                                   p.stderr.strip()))
    return p


def _used_networks():
    """Every IPv4 network on the machine's interfaces and routes."""
    nets = []
    for cmd in (["-4", "-o", "addr", "show"], ["-4", "route", "show", "table", "all"]):
        out = _ip(*cmd, check=False).stdout
        for tok in out.split():
            try:
                nets.append(ipaddress.ip_network(tok, strict=False))
            except ValueError:
                continue
    return nets


def free_subnets(n):
    """n /24s of 198.18.0.0/15 that overlap nothing the machine uses; the
    starting point moves with the pid so parallel runs differ (they could not
    collide anyway: each LAN lives in namespaces of its own)."""
    used = _used_networks()
    subnets = list(RANGE.subnets(new_prefix=24))
    start = (os.getpid() * 7) % len(subnets)
    out = []
    for i in range(len(subnets)):
        s = subnets[(start + i) % len(subnets)]
        if not any(s.overlaps(u) for u in used if u.prefixlen > 0):
            out.append(s)
            if len(out) == n:
                return out
    raise RuntimeError("no free /24 left in %s" % RANGE)


def can_create():
    """None when namespaces can be made here, else why not."""
    if not shutil.which("ip"):
        return "the `ip` command (iproute2) is not installed"
    name = "sst%dprobe" % os.getpid()
    p = _ip("netns", "add", name, check=False)
    if p.returncode != 0:
        return p.stderr.strip() or "ip netns add exited %d" % p.returncode
    p = _ip("-n", name, "link", "add", "pa", "type", "veth", "peer", "name", "pb", check=False)
    _ip("netns", "del", name, check=False)
    if p.returncode != 0:
        return "veth pairs: " + (p.stderr.strip() or "exit %d" % p.returncode)
    return None


def _in_netns(ns, fn):
    """Run fn() on a thread that joined namespace ns (setns is per thread);
    sockets it creates stay in that namespace."""
    box = {}

    def run():
        fd = os.open(os.path.join(NETNS_DIR, ns), os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                e = ctypes.get_errno()
                raise OSError(e, "setns(%s): %s" % (ns, os.strerror(e)))
        finally:
            os.close(fd)
        box["v"] = fn()

    def guarded():
        try:
            run()
        except BaseException as ex:  # noqa: BLE001 - re-raised in the caller
            box["e"] = ex
    t = threading.Thread(target=guarded, daemon=True)
    t.start()
    t.join(60)
    if "e" in box:
        raise box["e"]
    if "v" not in box:
        raise RuntimeError("no answer from namespace %s in 60 s" % ns)
    return box["v"]


def ns_pids(ns):
    out = _ip("netns", "pids", ns, check=False).stdout.split()
    return [int(x) for x in out if x.isdigit()]


class Host:
    """One namespace on the LAN: a 'host' with its own interfaces."""

    def __init__(self, lan, label, ns, ip, ifname):
        self.lan, self.label, self.ns, self.ip, self.ifname = lan, label, ns, ip, ifname
        self.procs = []

    def argv(self, argv):
        return ["ip", "netns", "exec", self.ns] + list(argv)

    def popen(self, argv, **kw):
        """subprocess.Popen inside the namespace; the pid is the command's
        (`ip netns exec` execs it)."""
        p = subprocess.Popen(self.argv(argv), **kw)
        self.procs.append(p)
        return p

    def run(self, argv, timeout=60, **kw):
        return subprocess.run(self.argv(argv), timeout=timeout, **kw)

    def connect(self, host, port, timeout=1.0):
        """A TCP socket connected from inside this namespace."""
        return _in_netns(self.ns, lambda: socket.create_connection((host, port),
                                                                   timeout=timeout))

    def port_open(self, host, port):
        try:
            self.connect(host, port, timeout=0.5).close()
            return True
        except OSError:
            return False

    def listening(self):
        """(address, port) of every TCP socket listening in this namespace."""
        out = self.run(["ss", "-Htln"], capture_output=True, text=True).stdout
        res = []
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 4:
                addr, _, port = parts[3].rpartition(":")
                addr = addr.strip("[]")
                if addr.startswith("::ffff:"):  # IPv4-mapped (Java's sockets)
                    addr = addr[len("::ffff:"):]
                res.append((addr, int(port)))
        return res

    def add_link(self, label):
        """A second interface, on a subnet of its own, to a peer namespace
        that has nothing else: returns the address of this side."""
        return self.lan._side_link(self, label)


class Lan:
    def __init__(self, prefix=None):
        self.tag = prefix or "sst%d%d" % (os.getpid() % 100000, _seq[0])
        _seq[0] += 1
        self.namespaces = []
        self.hosts = {}
        self.subnet, = free_subnets(1)
        self._addrs = self.subnet.hosts()
        next(self._addrs)  # .1 stays unused (a gateway address by habit)
        self.switch = self._add_ns("sw")
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        _live.append(self)

    def _add_ns(self, label):
        ns = "%s-%s" % (self.tag, label)
        _ip("netns", "add", ns)
        self.namespaces.append(ns)
        _ip("-n", ns, "link", "set", "lo", "up")
        return ns

    def host(self, label):
        ns = self._add_ns(label)
        ip = str(next(self._addrs))
        port = "p%d" % len(self.hosts)
        # Both ends created where they live: nothing in the root namespace.
        _ip("link", "add", "name", port, "netns", self.switch, "type", "veth",
            "peer", "name", "eth0", "netns", ns)
        _ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
        _ip("-n", ns, "addr", "add", "%s/%d" % (ip, self.subnet.prefixlen), "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        h = Host(self, label, ns, ip, "eth0")
        self.hosts[label] = h
        return h

    def _side_link(self, host, label):
        sub, = [s for s in free_subnets(8) if s != self.subnet][:1]
        peer = self._add_ns(label)
        addrs = sub.hosts()
        mine, theirs = str(next(addrs)), str(next(addrs))
        _ip("link", "add", "name", "eth1", "netns", host.ns, "type", "veth",
            "peer", "name", "eth0", "netns", peer)
        _ip("-n", host.ns, "addr", "add", "%s/24" % mine, "dev", "eth1")
        _ip("-n", peer, "addr", "add", "%s/24" % theirs, "dev", "eth0")
        _ip("-n", host.ns, "link", "set", "eth1", "up")
        _ip("-n", peer, "link", "set", "eth0", "up")
        return mine

    def teardown(self):
        """Kill what runs inside, then delete every namespace (and with them
        their interfaces). Safe to call twice."""
        for h in self.hosts.values():
            for p in h.procs:
                if p.poll() is None:
                    p.kill()
        for ns in self.namespaces:
            for pid in ns_pids(ns):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        for h in self.hosts.values():
            for p in h.procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    pass
        deadline = time.monotonic() + 30
        for ns in self.namespaces:
            while ns_pids(ns) and time.monotonic() < deadline:
                time.sleep(0.05)
            _ip("netns", "del", ns, check=False)
        self.namespaces = []
        if self in _live:
            _live.remove(self)


def _cleanup_all():
    for lan in list(_live):
        lan.teardown()


atexit.register(_cleanup_all)


def make_lan():
    """A Lan, or a skip when this machine cannot make namespaces."""
    why = can_create()
    if why:
        pytest.skip("no permission to create network namespaces here: %s" % why)
    return Lan()


@pytest.fixture
def lan():
    n = make_lan()
    try:
        yield n
    finally:
        n.teardown()
