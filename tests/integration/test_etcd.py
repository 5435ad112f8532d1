"""etcd discovery (kyuubi.ha.client.class = Kyuubi's EtcdDiscoveryClient)
against a real etcd (tests/integration/etcdserver.py), read back with
Debian's etcdctl the way a Kyuubi gateway lists an engine space.

The registry runs in tests/tools/zkreg_driver (backend-neutral despite its
name; see its header for the protocol); the end-to-end tests at the bottom
run the real binary on the stand-in Spark through the spark-submit wrapper.
"""
import base64
import json
import os
import signal
import time

import pytest

from kyuubi_app_mgr import (APP_MGR, APP_MGR_INFO, APP_MGR_INFO_PUBLISHED,
                            kyuubi_decode_app_mgr_info)
from engine import wait_for
from etcdserver import etcd, etcd_tls  # noqa: F401  (fixtures)
from test_registry import (DRIVER, args_for, drivers,  # noqa: F401  (fixture)
                           kyuubi_conf, kyuubi_parse, registered)

ETCD_CLASS = "org.apache.kyuubi.ha.client.etcd.EtcdDiscoveryClient"
VERSION = "1.10.0"

pytestmark = pytest.mark.skipif(
    not os.access(DRIVER, os.X_OK),
    reason=f"{DRIVER} not built (make -f Makefile -f tests/tools/tools.mk tools)")


def etcd_conf(etcd, user="bob", ref=None, level="USER", **extra):
    return kyuubi_conf(f"http://{etcd.address}", user, ref, level, **{
        "spark.kyuubi.ha.client.class": ETCD_CLASS,
        "spark.kyuubi.ha.etcd.lease.timeout": "4s",
        "spark.kyuubi.ha.zookeeper.connection.timeout": "5000",
        "spark.kyuubi.ha.zookeeper.connection.base.retry.wait": "500",
        "spark.kyuubi.ha.zookeeper.connection.max.retries": "20",
        **extra})


def children(etcd, ns):
    """The engine space as Kyuubi's etcd client lists it: keys under
    "<ns>/", names after the prefix, lock keys skipped."""
    out = []
    for key, value, lease in etcd.get_prefix(ns + "/"):
        name = key[len(ns) + 1:].decode()
        if not name.startswith("lock"):
            out.append((name, value, lease))
    return out


def test_key_layout_like_kyuubi(etcd, drivers, tmp_path):
    ns, ref, conf = etcd_conf(etcd, **{
        "spark.kyuubi.engine.appMgrInfo": APP_MGR_INFO,
        "spark.driver.memory": "2g"})
    d = drivers(args_for(conf, 15002, "--app-id", "local-1700000000000",
                         "--control", "127.0.0.1:15003"))
    _, path = registered(d)
    expected = (f"serverUri=127.0.0.1:15002;version={VERSION};"
                f"kyuubi.engine.appMgrInfo={APP_MGR_INFO_PUBLISHED};"
                "spark.driver.memory=2g;spark.executor.memory=;"
                "kyuubi.engine.id=local-1700000000000;sparkshim.control=127.0.0.1:15003;"
                f"refId={ref};sequence=0000000000")
    assert path == f"{ns}/{expected}"
    # The gateway reads appMgrInfo back with Kyuubi's own decoding.
    assert kyuubi_decode_app_mgr_info(tmp_path, APP_MGR_INFO_PUBLISHED) == APP_MGR
    assert d.expect("EVENT reg-registered") == f"EVENT reg-registered 0 {path}"
    # Byte for byte: the namespace key holds its own path, the engine key
    # holds host:port and is bound to a lease with the configured TTL.
    assert etcd.get(ns)[:2] == (ns.encode(), ns.encode())
    kids = children(etcd, ns)
    assert [(n, v) for n, v, _ in kids] == [(expected, b"127.0.0.1:15002")]
    lease = kids[0][2]
    assert lease != 0
    ttl, granted = etcd.lease_ttl(lease)
    assert granted == 4 and 0 < ttl <= 4
    attrs = kyuubi_parse(kids[0][0])
    assert attrs["serverUri"] == "127.0.0.1:15002" and attrs["refId"] == ref
    assert int(attrs["sequence"]) == 0
    # The lock is released: nothing else under the space.
    assert [k for k, _, _ in etcd.get_prefix(ns + "/")] == [f"{ns}/{expected}".encode()]
    # The lease is kept alive past its TTL (polled, not slept on).
    t0 = time.monotonic()
    wait_for(lambda: time.monotonic() - t0 > 6 and etcd.lease_ttl(lease)[0] > 0,
             12, "the lease to outlive its TTL", interval=0.5)
    assert etcd.get(path) is not None
    # Deregister: the lease is revoked and the key gone; the space stays.
    d.send("deregister")
    assert d.expect("DEREGISTERED").startswith("DEREGISTERED 0 ")
    assert etcd.get(path) is None
    assert etcd.lease_ttl(lease)[0] == -1
    assert etcd.get(ns) is not None
    d.send("info")
    assert d.expect("INFO").startswith("INFO DEREGISTERED")
    d.send("quit")
    d.expect("BYE")
    assert not any(s.startswith("EVENT reg-node-deleted") for s in d.seen)


def test_sequence_under_concurrent_registration(etcd, drivers):
    ns, _, base = etcd_conf(etcd)
    ds = []
    for i in range(5):
        conf = dict(base, **{"spark.kyuubi.ha.engine.ref.id": f"ref-{i}"})
        ds.append(drivers(args_for(conf, 16000 + i)))
    paths = [registered(d)[1] for d in ds]
    seqs = sorted(int(kyuubi_parse(p)["sequence"]) for p in paths)
    assert seqs == [0, 1, 2, 3, 4], paths
    names = sorted(n for n, _, _ in children(etcd, ns))
    assert names == sorted(p[len(ns) + 1:] for p in paths)
    assert not [k for k, _, _ in etcd.get_prefix(ns + "/lock")]  # every lock released
    # A sixth engine continues after the highest.
    conf = dict(base, **{"spark.kyuubi.ha.engine.ref.id": "ref-5"})
    d = drivers(args_for(conf, 16005))
    assert registered(d)[1].endswith(";refId=ref-5;sequence=0000000005")


def test_gateway_deleting_key_posts_event(etcd, drivers):
    ns, ref, conf = etcd_conf(etcd)
    d = drivers(args_for(conf))
    _, path = registered(d)
    lease = etcd.get(path)[2]
    assert etcd.delete(path) == 1
    assert d.expect("EVENT reg-node-deleted", timeout=10) == f"EVENT reg-node-deleted 0 {path}"
    d.send("info")
    assert d.expect("INFO").startswith("INFO DEREGISTERED")
    # Nothing is re-created, and the lease is let go.
    wait_for(lambda: etcd.lease_ttl(lease)[0] == -1, 10, "the lease to be revoked")
    assert children(etcd, ns) == []
    d.send("deregister")
    assert d.expect("DEREGISTERED").startswith("DEREGISTERED 0")


def _revision(etcd):
    return int(json.loads(etcd.ctl("get", "/", "-w", "json").stdout)["header"]["revision"])


def _engine_keys_at(etcd, ns, ref, rev):
    out = json.loads(etcd.ctl("get", "--prefix", ns + "/", "--rev", str(rev), "-w",
                              "json").stdout)
    keys = [base64.b64decode(kv["key"]).decode() for kv in out.get("kvs", [])]
    return [k for k in keys if f"refId={ref}" in k]


def test_update_without_change_keeps_the_key(etcd, drivers):
    """Issue 13 item 3 on etcd: an unchanged endpoint keeps the very key
    (same name, same create revision, same lease); etcd sees no write."""
    ns, ref, conf = etcd_conf(etcd)
    d = drivers(args_for(conf))
    _, path = registered(d)
    before = json.loads(etcd.ctl("get", path, "-w", "json").stdout)["kvs"][0]
    d.send("update")
    assert d.expect("UPDATED") == f"UPDATED 1 {path}"
    after = json.loads(etcd.ctl("get", path, "-w", "json").stdout)["kvs"][0]
    assert (after["create_revision"], after["mod_revision"], after["lease"]) == \
        (before["create_revision"], before["mod_revision"], before["lease"])
    d.send("deregister")
    d.expect("DEREGISTERED 0")


def test_update_with_change_puts_before_deleting(etcd, drivers):
    """Issue 13 item 3 on etcd: the new key is put (same lease) before the old
    one is deleted. Observed through etcd's own history, not timing: the
    engine space is read at EVERY revision the update went through, and
    none of them is without a key for this engine."""
    ns, ref, conf = etcd_conf(etcd)
    d = drivers(args_for(conf, 15002))
    _, old = registered(d)
    lease = etcd.get(old)[2]
    r0 = _revision(etcd)
    d.send("update 15003")
    line = d.expect("UPDATED")
    _, rc, new = line.split(" ", 2)
    assert rc == "0" and new != old, line
    r1 = _revision(etcd)
    assert r1 > r0
    seen_both = False
    for rev in range(r0, r1 + 1):
        keys = _engine_keys_at(etcd, ns, ref, rev)
        assert keys, f"no key for the engine at revision {rev} ({r0}..{r1})"
        seen_both |= len(keys) == 2
    assert seen_both  # the new key existed before the old one went
    assert [n for n, _, _ in children(etcd, ns)] == [new[len(ns) + 1:]]
    key, value, new_lease = etcd.get(new)
    assert value == b"127.0.0.1:15003" and new_lease == lease
    # Our own delete of the old key is no stop request, and the new key is
    # the one watched: the gateway deleting it stops the engine.
    assert not any(s.startswith("EVENT reg-node-deleted") for s in d.seen)
    assert etcd.delete(new) == 1
    assert d.expect("EVENT reg-node-deleted", timeout=10) == f"EVENT reg-node-deleted 0 {new}"


def test_revoked_lease_reregisters(etcd, drivers):
    ns, ref, conf = etcd_conf(etcd)
    d = drivers(args_for(conf))
    _, path = registered(d)
    d.expect("EVENT reg-registered")
    old_lease = etcd.get(path)[2]
    etcd.revoke(old_lease)
    line = d.expect("EVENT reg-registered", timeout=15)
    new = line.split(" ", 3)[3]
    # The space is empty again, so max + 1 gives the same name; the key is
    # back under a new lease.
    assert new.endswith(f";refId={ref};sequence=0000000000")
    key = etcd.get(new)
    assert key[1] == b"127.0.0.1:15002" and key[2] not in (0, old_lease)
    assert not any(s.startswith(("EVENT reg-node-deleted", "EVENT reg-lost")) for s in d.seen)
    d.send("info")
    assert d.expect("INFO") == f"INFO REGISTERED {new}"


def test_etcd_restart_keeps_or_recreates_the_key(etcd, drivers):
    ns, ref, conf = etcd_conf(etcd)
    d = drivers(args_for(conf))
    _, path = registered(d)
    d.expect("EVENT reg-registered")
    # A crash and restart with its data: the lease survives, so does the key.
    etcd.restart(kill=True)
    wait_for(lambda: etcd.get(path) is not None, 10, "the key after a restart")
    lease = etcd.get(path)[2]
    t0 = time.monotonic()
    wait_for(lambda: time.monotonic() - t0 > 6 and etcd.lease_ttl(lease)[0] > 0, 15,
             "the lease to be kept alive after the restart")
    assert etcd.get(path) is not None
    # Back without its data: the lease is unknown, the engine registers again.
    etcd.restart(kill=True, wipe=True)
    line = d.expect("EVENT reg-registered", timeout=20)
    new = line.split(" ", 3)[3]
    assert new.endswith(f";refId={ref};sequence=0000000000")
    assert etcd.get(new)[1] == b"127.0.0.1:15002"
    assert etcd.get(ns)[1] == ns.encode()
    assert not any(s.startswith(("EVENT reg-lost", "EVENT reg-node-deleted")) for s in d.seen)


def test_etcd_gone_too_long_posts_lost(etcd, drivers):
    ns, ref, conf = etcd_conf(etcd, **{
        "spark.kyuubi.ha.etcd.lease.timeout": "2s",
        "spark.kyuubi.ha.zookeeper.connection.retry.policy": "N_TIME",
        "spark.kyuubi.ha.zookeeper.connection.base.retry.wait": "250",
        "spark.kyuubi.ha.zookeeper.connection.max.retries": "2"})
    d = drivers(args_for(conf))
    registered(d)
    etcd.stop(kill=True)
    t0 = time.monotonic()
    line = d.expect("EVENT reg-lost", timeout=20)
    took = time.monotonic() - t0
    assert int(line.split()[2]) >= 2500  # lease 2 s + N_TIME 2 x 250 ms
    assert took < 10
    # Stop paths stay bounded with etcd gone.
    t0 = time.monotonic()
    d.send("deregister")
    assert d.expect("DEREGISTERED").split()[1] in ("0", "-1")
    assert time.monotonic() - t0 < 4
    t0 = time.monotonic()
    d.send("close")
    d.expect("CLOSED")
    assert time.monotonic() - t0 < 8


def test_sigkill_key_expires_with_the_lease(etcd, drivers):
    ns, ref, conf = etcd_conf(etcd, **{"spark.kyuubi.ha.etcd.lease.timeout": "3s"})
    d = drivers(args_for(conf))
    _, path = registered(d)
    d.p.kill()
    d.p.wait(timeout=10)
    t0 = time.monotonic()
    wait_for(lambda: etcd.get(path) is None, 10, "the key to expire")
    assert time.monotonic() - t0 < 3 + 1.5  # within the TTL (+ etcd's expiry tick)


def test_connection_level_removes_namespace_on_close(etcd, drivers):
    ns, ref, conf = etcd_conf(etcd, level="CONNECTION")
    d = drivers(args_for(conf))
    registered(d)
    d.send("close")
    d.expect("CLOSED")
    assert etcd.get_prefix(ns) == []


def test_register_fails_bounded_when_etcd_absent(etcd, drivers):
    ns, ref, conf = etcd_conf(etcd, **{"spark.kyuubi.ha.zookeeper.connection.timeout": "800"})
    etcd.stop(kill=True)
    d = drivers(args_for(conf))
    t0 = time.monotonic()
    line = d.expect("FAILED")
    assert "could not register with etcd" in line and "800 ms" in line
    assert d.wait() == 73
    assert time.monotonic() - t0 < 5


def test_failover_to_the_next_endpoint(etcd, drivers):
    from zkserver import free_port
    dead = free_port()
    ns, ref, conf = etcd_conf(etcd, **{
        "spark.kyuubi.ha.addresses": f"127.0.0.1:{dead},{etcd.address}"})
    d = drivers(args_for(conf))
    _, path = registered(d)
    assert etcd.get(path)[1] == b"127.0.0.1:15002"


def test_bad_etcd_conf_exits_64_with_one_line(drivers):
    d = drivers(["--conf", "kyuubi.ha.client.class=" + ETCD_CLASS,
                 "--conf", "kyuubi.ha.addresses=https://127.0.0.1:1,http://127.0.0.1:2"])
    assert d.wait() == 64
    err = d.stderr().strip().splitlines()
    assert len(err) == 1 and "mixes http:// and https://" in err[0]


def test_tls_with_client_certificate(etcd_tls, drivers):
    c = etcd_tls.certs
    ns, ref, conf = etcd_conf(etcd_tls, **{
        "spark.kyuubi.ha.addresses": etcd_tls.url,
        "spark.kyuubi.ha.etcd.ssl.ca.path": c["ca.pem"],
        "spark.kyuubi.ha.etcd.ssl.client.certificate.path": c["client.pem"],
        "spark.kyuubi.ha.etcd.ssl.client.key.path": c["client.key"]})
    d = drivers(args_for(conf))
    _, path = registered(d)
    assert etcd_tls.get(path)[1] == b"127.0.0.1:15002"
    assert etcd_tls.delete(path) == 1
    assert d.expect("EVENT reg-node-deleted", timeout=10) == f"EVENT reg-node-deleted 0 {path}"


def test_tls_without_client_certificate_is_refused_in_time(etcd_tls, drivers):
    ns, ref, conf = etcd_conf(etcd_tls, **{
        "spark.kyuubi.ha.addresses": etcd_tls.url,
        "spark.kyuubi.ha.etcd.ssl.ca.path": etcd_tls.certs["ca.pem"],
        "spark.kyuubi.ha.zookeeper.connection.timeout": "1500"})
    d = drivers(args_for(conf))
    assert "could not register with etcd" in d.expect("FAILED")
    assert d.wait() == 73
    assert etcd_tls.get_prefix(ns) == []


def test_user_password_auth(etcd, drivers):
    etcd.ctl("user", "add", "root:rootpw")
    etcd.ctl("auth", "enable")
    etcd.user = "root:rootpw"
    ns, ref, conf = etcd_conf(etcd, **{"spark.sparkshim.registry.etcd.user": "root",
                                       "spark.sparkshim.registry.etcd.password": "rootpw"})
    d = drivers(args_for(conf))
    _, path = registered(d)
    assert etcd.get(path)[1] == b"127.0.0.1:15002"
    d.send("deregister")
    assert d.expect("DEREGISTERED").startswith("DEREGISTERED 0 ")
    assert etcd.get(path) is None
    # A wrong password fails at once, and is never echoed.
    ns, ref, conf = etcd_conf(etcd, **{"spark.sparkshim.registry.etcd.user": "root",
                                       "spark.sparkshim.registry.etcd.password": "wrong-pw"})
    d2 = drivers(args_for(conf))
    line = d2.expect("FAILED")
    assert "authentication as root failed" in line
    assert d2.wait() == 73
    assert "wrong-pw" not in line and "wrong-pw" not in d2.stderr()


# ---- the real binary on the stand-in Spark, launched through the wrapper ----

import test_registry_engine as tre  # noqa: E402  (only helpers; its tests stay there)

engine_needed = [
    pytest.mark.skipif(tre.BIN is None, reason=tre.WHY or "no binary"),
    pytest.mark.skipif(not tre.STANDIN or not os.path.isdir(os.path.join(tre.STANDIN or "",
                                                                         "jars")),
                       reason="SPARKSHIM_STANDIN is not a built stand-in Spark home"),
]


class _Addr:
    def __init__(self, address):
        self.address = address


def launch_etcd(etcd, tmp, launched, **kw):
    extra = [("spark.kyuubi.ha.client.class", ETCD_CLASS),
             ("spark.kyuubi.ha.etcd.lease.timeout", "4s")] + list(kw.pop("extra", ()))
    la = tre.Launch(_Addr(f"http://{etcd.address}"), tmp, extra=extra, **kw)
    launched.append(la)
    return la


def discover_etcd(etcd, la, timeout=120):
    """Poll the engine space for a key naming our refId, like the gateway."""
    deadline = time.monotonic() + timeout
    while True:
        if la.proc.poll() is not None:
            raise AssertionError(f"engine exited {la.proc.returncode}:\n{la.text()[-4000:]}")
        for name, value, _ in children(etcd, la.ns):
            if f";refId={la.ref};" in name:
                host, port = value.decode().split(":")
                return name, host, int(port)
        if time.monotonic() >= deadline:
            raise AssertionError(f"no key for refId={la.ref} in {timeout}s:\n{la.text()[-4000:]}")
        time.sleep(0.5)


@pytest.fixture
def etcd_gateway(tmp_path, etcd):
    launched = []
    yield lambda **kw: launch_etcd(etcd, tmp_path, launched, **kw)
    for la in launched:
        la.kill()


@engine_needed[0]
@engine_needed[1]
def test_engine_discover_call_and_stop_by_deleting_the_key(etcd, etcd_gateway):
    e = etcd_gateway()
    name, host, port = discover_etcd(etcd, e)
    assert name.startswith(f"serverUri=127.0.0.1:{port};version={VERSION};")
    assert name.endswith(f";refId={e.ref};sequence=0000000000")
    tre.config_call(host, port, e.user)
    etcd.delete(f"{e.ns}/{name}")
    assert e.wait() == 0, e.text()[-4000:]
    assert not tre.port_open(host, port)
    assert children(etcd, e.ns) == []


@engine_needed[0]
@engine_needed[1]
def test_engine_sigterm_removes_key_before_connect_port_closes(etcd, etcd_gateway):
    e = etcd_gateway()
    name, host, port = discover_etcd(etcd, e)
    path = f"{e.ns}/{name}"
    lease = etcd.get(path)[2]
    key_gone = port_closed = None
    e.proc.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    while time.monotonic() < t0 + 90 and (key_gone is None or port_closed is None):
        now = time.monotonic() - t0
        if key_gone is None and etcd.get(path) is None:
            key_gone = now
        if port_closed is None and not tre.port_open(host, port):
            port_closed = now
    assert key_gone is not None and port_closed is not None, e.text()[-4000:]
    assert key_gone <= port_closed, (key_gone, port_closed)
    assert e.wait() == 0, e.text()[-4000:]
    assert etcd.lease_ttl(lease)[0] == -1  # revoked, not left to expire


@engine_needed[0]
@engine_needed[1]
def test_engine_reregisters_after_etcd_loses_its_data(etcd, etcd_gateway):
    e = etcd_gateway()
    name, host, port = discover_etcd(etcd, e)
    etcd.restart(kill=True, wipe=True)
    name2, host2, port2 = discover_etcd(etcd, e, timeout=60)
    assert (host2, port2) == (host, port)
    tre.config_call(host2, port2, e.user)
    e.proc.send_signal(signal.SIGTERM)
    assert e.wait() == 0, e.text()[-4000:]


@engine_needed[0]
@engine_needed[1]
def test_engine_connection_level_cleans_its_namespace(etcd, etcd_gateway):
    e = etcd_gateway(share="CONNECTION")
    discover_etcd(etcd, e)
    e.proc.send_signal(signal.SIGTERM)
    assert e.wait() == 0, e.text()[-4000:]
    assert etcd.get_prefix(e.ns) == []


@engine_needed[0]
@engine_needed[1]
def test_engine_stops_when_etcd_is_gone_longer_than_the_budget(etcd, etcd_gateway):
    e = etcd_gateway(extra=[("spark.kyuubi.ha.etcd.lease.timeout", "2s"),
                            ("spark.kyuubi.ha.zookeeper.connection.base.retry.wait", "250"),
                            ("spark.kyuubi.ha.zookeeper.connection.max.retries", "2")])
    name, host, port = discover_etcd(etcd, e)
    etcd.stop(kill=True)
    t0 = time.monotonic()
    assert e.wait(timeout=60) == 0, e.text()[-4000:]  # a graceful stop, like ZooKeeper's LOST
    assert time.monotonic() - t0 >= 2.5
    assert "lost the discovery service beyond the retry budget" in e.text()
    assert not tre.port_open(host, port)


@engine_needed[0]
@engine_needed[1]
def test_engine_sigkill_key_expires_with_the_lease(etcd, etcd_gateway):
    e = etcd_gateway()  # lease 4 s
    name, host, port = discover_etcd(etcd, e)
    e.proc.kill()
    e.proc.wait(timeout=30)
    t0 = time.monotonic()
    wait_for(lambda: etcd.get(f"{e.ns}/{name}") is None, 15, "the key to expire")
    assert time.monotonic() - t0 < 4 + 1.5
