"""The network-namespace fixture itself (netns.py): hosts reach each other on
the private LAN and nothing else, processes run inside, and teardown removes
every namespace and process even when the test failed."""
import ipaddress
import subprocess
import sys

import pytest

from netns import RANGE, _ip, free_subnets, make_lan, ns_pids
from netns import lan as lan_fixture


def _namespaces():
    return set(_ip("netns", "list", check=False).stdout.split())


def test_hosts_reach_each_other_and_teardown_removes_all():
    lan = make_lan()
    try:
        a, b = lan.host("a"), lan.host("b")
        assert ipaddress.ip_address(a.ip) in RANGE and a.ip != b.ip
        srv = b.popen([sys.executable, "-c",
                       "import socket,sys\n"
                       "s=socket.socket(); s.bind(('%s', 0)); s.listen()\n"
                       "print(s.getsockname()[1], flush=True)\n"
                       "c,_=s.accept(); c.sendall(b'hello'); c.close()" % b.ip],
                      stdout=subprocess.PIPE, text=True)
        port = int(srv.stdout.readline())
        with a.connect(b.ip, port, timeout=10) as s:
            assert s.recv(5) == b"hello"
        assert srv.wait(10) == 0
        # The root namespace cannot see the LAN (no route to it).
        with pytest.raises(OSError):
            import socket
            socket.create_connection((b.ip, port), timeout=0.5)
        assert (b.ip, port) not in a.listening()
        # A process left running inside is killed at teardown.
        left = a.popen(["sleep", "600"])
        assert left.pid in ns_pids(a.ns)
        names = list(lan.namespaces)
        assert set(names) <= _namespaces()
    finally:
        lan.teardown()
    assert not set(names) & _namespaces()
    assert left.poll() is not None


def test_fixture_tears_down_when_the_test_fails():
    """The `lan` fixture's generator, driven as pytest does when the test
    body raises: the namespaces and the process inside are gone after."""
    gen = lan_fixture.__pytest_wrapped__.obj()
    n = next(gen)
    p = n.host("x").popen(["sleep", "600"])
    names = list(n.namespaces)
    assert set(names) <= _namespaces()
    with pytest.raises(ZeroDivisionError):
        gen.throw(ZeroDivisionError("the test failed"))
    assert not set(names) & _namespaces()
    assert p.poll() is not None


def test_subnets_avoid_the_machines_networks():
    used = [ipaddress.ip_network(t, strict=False)
            for t in _ip("-4", "-o", "addr", "show").stdout.split() if "/" in t
            and t[0].isdigit()]
    for s in free_subnets(4):
        assert s.subnet_of(RANGE)
        assert not any(s.overlaps(u) for u in used)
