"""The Connect front door (docs/front-door.md): Spark behind it on loopback
with an internal token, every SparkConnectService RPC relayed, TLS and mTLS,
the client token and the user check.

The real PySpark client on real Spark 4.3 goes through one TLS + token
engine (module fixture); the stand-in covers mTLS and faults (client
cancel, Spark's server dying mid-stream). Everything is on 127.0.0.1; the
certificates are made by the test (tlscerts.py)."""
import os
import re
import signal
import threading
import time
import uuid

import grpc
import pytest

import tlscerts
from engine import OS_USER, STANDIN_35, loopback_args, wait_for
from exitcodes import EXIT_USAGE
from realspark import real_spark, run_client, start_real
from sparkconnect_wire import Client, Msg, f_msg, f_str

TOKEN = "front-door-test-token-%s" % uuid.uuid4().hex
# The real-Spark engine is given Spark's token (the door then sends that one)
# so that the test can call Spark directly and compare; by default the door
# makes a random one that no file shows (test_internal_token_is_secret).
SPARK_TOKEN = "spark-internal-%s" % uuid.uuid4().hex


class TlsClient(Client):
    """sparkconnect_wire.Client over a TLS channel (optionally with a client
    certificate)."""

    def __init__(self, target, ca_pem, client_pair=None, **kw):
        super().__init__(target, **kw)
        self.channel.close()
        key, crt = client_pair if client_pair else (None, None)
        creds = grpc.ssl_channel_credentials(ca_pem, key, crt)
        self.channel = grpc.secure_channel(target, creds, options=[
            ("grpc.max_receive_message_length", -1), ("grpc.enable_http_proxy", 0)])


def spark_port(e):
    """Spark's own connect port, from the engine log."""
    m = re.search(r"Spark Connect server bound port (\d+) \(loopback, behind the front door",
                  e.stderr())
    assert m, e.stderr()[-3000:]
    return int(m.group(1))


def in_proc_files(pid, secret):
    """The secret in the engine's command line or (initial) environment?"""
    for name in ("cmdline", "environ"):
        with open("/proc/%d/%s" % (pid, name), "rb") as f:
            if secret.encode() in f.read():
                return name
    return None


def code_of(fn):
    try:
        fn()
        return grpc.StatusCode.OK
    except grpc.RpcError as ex:
        return ex.code()


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("certs"))
    ca = tlscerts.make_ca(d, "ca")
    ca2 = tlscerts.make_ca(d, "ca2")
    return {"dir": d, "ca": ca, "ca2": ca2,
            "server": tlscerts.make_cert(d, "server", ca),
            "server2": tlscerts.make_cert(d, "server2", ca2),
            "client": tlscerts.make_cert(d, "client", ca, server=False)}


@pytest.fixture(scope="module")
def door(certs, tmp_path_factory):
    """Real Spark 4.3 behind a TLS + token front door; user 'friend' allowed
    besides the engine user."""
    rs = real_spark()
    tmp = tmp_path_factory.mktemp("door")
    tok = tmp / "token"
    tok.write_text(TOKEN + "\n")
    # The door reads these paths again on SIGHUP (test_tls_reload_on_sighup).
    crt, key = str(tmp / "server.pem"), str(tmp / "server-key.pem")
    for src, dst in ((certs["server"][0], crt), (certs["server"][1], key)):
        with open(dst, "wb") as f:
            f.write(tlscerts.read(src))
    e = start_real(tmp, rs, shim=["--connect-tls-cert", crt, "--connect-tls-key", key,
                                  "--connect-token-file", str(tok),
                                  "--connect-allowed-users", "friend"],
                   extra=["--conf", "spark.connect.authenticate.token=" + SPARK_TOKEN])
    e.rs, e.crt, e.key = rs, crt, key
    e.target = "127.0.0.1:%d" % e.connect_port
    e.ca_pem = tlscerts.read(certs["ca"][0])
    yield e
    e.stop()
    e.kill()


@pytest.fixture
def client_env(door, certs, monkeypatch):
    """The PySpark client trusts the test CA through gRPC's roots override."""
    monkeypatch.setenv("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", certs["ca"][0])
    # PySpark's user_id: ;user_id=, else SPARK_USER, else USER.
    monkeypatch.setenv("USER", OS_USER)
    return "sc://127.0.0.1:%d/;use_ssl=true;token=%s" % (door.connect_port, TOKEN)


# ------------------------------------------------- real Spark, real PySpark

def test_topology_spark_behind_the_door(door):
    sp = spark_port(door)
    assert sp != door.connect_port
    assert door.state()["connect_port"] == door.connect_port
    assert door.url() == "sc://127.0.0.1:%d" % door.connect_port
    # Spark listens on loopback only and wants the internal token.
    listen = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name) as f:
            listen += [l.split() for l in f.read().splitlines()[1:] if l.split()[3] == "0A"]
    spark_locals = [l[1].split(":")[0] for l in listen if int(l[1].split(":")[1], 16) == sp]
    loopback = ("0100007F", "0000000000000000FFFF00000100007F")  # 127.0.0.1, v4-mapped
    assert spark_locals and all(a in loopback for a in spark_locals), spark_locals
    tok = SPARK_TOKEN
    with Client("127.0.0.1:%d" % sp, user_id=OS_USER) as c:
        assert code_of(lambda: c.config_get(["spark.app.name"])) == \
            grpc.StatusCode.UNAUTHENTICATED
    with Client("127.0.0.1:%d" % sp, user_id=OS_USER, token=tok) as c:
        assert c.config_get(["spark.app.name"])
    assert TOKEN not in door.stderr() and tok not in door.stderr()


def test_pyspark_queries_over_tls_with_token(door, client_env):
    r = run_client(door.rs["SPARK4_PYTHON"], client_env, "queries", tmp=door.tmp)
    assert r["sum10"] == 45 and r["big_len"] == 1000000 and r["pandas_roundtrip_equal"], r
    assert r["big_sum"] == 999999 * 1000000 // 2


def test_pyspark_interrupt_through_the_door(door, client_env):
    r = run_client(door.rs["SPARK4_PYTHON"], client_env, "interrupt", tmp=door.tmp)
    assert r["interrupted_ids"] and not r["thread_alive_after_join"], r
    assert "error" in r["query"], r
    assert r["sum10_same_session"] == 45 and r["sum10_new_session"] == 45, r


def test_pyspark_add_artifacts_through_the_door(door, client_env):
    r = run_client(door.rs["SPARK4_PYTHON"], client_env, "artifact", tmp=door.tmp)
    assert r["rows"] == [[i, i * 3 + 1000] for i in range(5)], r


def test_token_missing_wrong_right(door):
    for token, want in ((None, grpc.StatusCode.UNAUTHENTICATED),
                        ("wrong-" + TOKEN, grpc.StatusCode.UNAUTHENTICATED),
                        (TOKEN[:-1], grpc.StatusCode.UNAUTHENTICATED),
                        (TOKEN, grpc.StatusCode.OK)):
        with TlsClient(door.target, door.ca_pem, token=token, user_id=OS_USER) as c:
            assert code_of(lambda: c.config_get(["spark.app.name"])) == want, token
    assert TOKEN not in door.stderr()
    assert "invalid bearer token" in door.stderr()


def test_user_check(door):
    with TlsClient(door.target, door.ca_pem, token=TOKEN, user_id="mallory") as c:
        try:
            c.config_get(["spark.app.name"])
            raise AssertionError("mallory was let in")
        except grpc.RpcError as ex:
            assert ex.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "mallory" in ex.details()
    with TlsClient(door.target, door.ca_pem, token=TOKEN, user_id="friend") as c:
        assert c.config_get(["spark.app.name"])
    # A later user_context in the same message wins in Spark's parser: the door
    # must judge that one, not the first.
    with TlsClient(door.target, door.ca_pem, token=TOKEN, user_id=OS_USER) as c:
        req = c.head() + f_msg(2, f_str(1, "mallory")) + f_msg(3, f_msg(2, f_str(1, "x")))
        assert code_of(lambda: c.unary("Config", req)) == grpc.StatusCode.PERMISSION_DENIED


def test_plaintext_client_refused_when_tls(door):
    with Client(door.target, token=TOKEN, user_id=OS_USER, timeout=5) as c:
        assert code_of(lambda: c.config_get(["spark.app.name"])) == grpc.StatusCode.UNAVAILABLE


def _error_of(c, op):
    """Status, message and trailers of a ReattachExecute for an unknown operation."""
    try:
        for _ in c.server_stream("ReattachExecute", c.head() + f_str(3, op) + f_str(4, "t")):
            pass
    except grpc.RpcError as ex:
        return ex.code(), ex.details(), list(ex.trailing_metadata() or ())
    raise AssertionError("no error")


def _status_details(trailers):
    """google.rpc.Status from grpc-status-details-bin, errorId values dropped
    (Spark makes a new one per error)."""
    raw = dict(trailers)["grpc-status-details-bin"]
    st = Msg(raw)
    out = [st.int(1), st.str(2)]
    for any_ in st.msgs(3):
        info = Msg(any_.bytes(2))
        meta = sorted((kv.str(1), kv.str(2)) for kv in info.msgs(3) if kv.str(1) != "errorId")
        out.append((any_.str(1), info.str(1), info.str(2), meta))
    return out


def test_status_and_details_relayed_exactly(door):
    op = str(uuid.uuid4())
    sid = str(uuid.uuid4())
    with Client("127.0.0.1:%d" % spark_port(door), user_id=OS_USER, session_id=sid,
                token=SPARK_TOKEN) as c:
        direct = _error_of(c, op)
    with TlsClient(door.target, door.ca_pem, token=TOKEN, user_id=OS_USER, session_id=sid) as c:
        relayed = _error_of(c, op)
    assert relayed[0] == direct[0] and relayed[0] != grpc.StatusCode.OK
    assert relayed[1] == direct[1]
    assert [k for k, _ in relayed[2]] == [k for k, _ in direct[2]]
    assert "grpc-status-details-bin" in dict(relayed[2])
    assert _status_details(relayed[2]) == _status_details(direct[2])


def test_tls_reload_on_sighup(door, certs):
    """Last on this engine: it swaps the certificate to one of another CA."""
    for src, dst in ((certs["server2"][0], door.crt), (certs["server2"][1], door.key)):
        with open(dst, "wb") as f:
            f.write(tlscerts.read(src))
    door.send(signal.SIGHUP)
    wait_for(lambda: "front door token and TLS files re-read" in door.stderr(), 20, "reload")
    ca2 = tlscerts.read(certs["ca2"][0])
    with TlsClient(door.target, ca2, token=TOKEN, user_id=OS_USER) as c:
        assert c.config_get(["spark.app.name"])
    with TlsClient(door.target, door.ca_pem, token=TOKEN, user_id=OS_USER, timeout=5) as c:
        assert code_of(lambda: c.config_get(["spark.app.name"])) == grpc.StatusCode.UNAVAILABLE


# ------------------------------------------------------------ stand-in

def test_mtls(engines, certs):
    e = engines(loopback_args(shim=["--connect-tls-cert", certs["server"][0],
                                    "--connect-tls-key", certs["server"][1],
                                    "--connect-tls-client-ca", certs["ca"][0]]))
    port = e.wait_ready()["connect_port"]
    ca = tlscerts.read(certs["ca"][0])
    pair = (tlscerts.read(certs["client"][1]), tlscerts.read(certs["client"][0]))
    with TlsClient("127.0.0.1:%d" % port, ca, user_id=OS_USER, timeout=5) as c:
        assert code_of(lambda: c.config_get(["spark.app.name"])) == grpc.StatusCode.UNAVAILABLE
    with TlsClient("127.0.0.1:%d" % port, ca, client_pair=pair, user_id=OS_USER) as c:
        assert c.config_get(["spark.app.name"])
    assert e.stop() == 0


def test_client_cancel_reaches_spark(engines):
    e = engines(loopback_args())
    port = e.wait_ready()["connect_port"]
    with Client("127.0.0.1:%d" % port, user_id=OS_USER, timeout=60) as c:
        # One response, after 20 s: until then only a cancel can end it.
        op, call = c.execute(responses=1, delay_ms=20000)
        key = "ExecuteKey(%s,%s,%s)" % (OS_USER, c.session_id, op)
        wait_for(lambda: key + " is created" in e.stderr(), 20, "the execution in Spark")
        call.cancel()
        wait_for(lambda: key + " is removed" in e.stderr(), 8,
                 "Spark to see the client's cancel (well before the 20 s response)")
        # The client's deadline ends Spark's call too.
        op, call = c.execute(responses=1, delay_ms=20000, timeout=3)
        key = "ExecuteKey(%s,%s,%s)" % (OS_USER, c.session_id, op)
        assert code_of(lambda: list(call)) == grpc.StatusCode.DEADLINE_EXCEEDED
        wait_for(lambda: key + " is removed" in e.stderr(), 8, "Spark to see the deadline")
    assert e.stop() == 0


def test_spark_server_dies_mid_stream_unavailable(engines):
    e = engines(loopback_args(extra=["--conf", "spark.standin.serving.fault=exception",
                                     "--conf", "spark.standin.serving.fault.after.ms=4000"]))
    port = e.wait_ready()["connect_port"]
    got = {}
    with Client("127.0.0.1:%d" % port, user_id=OS_USER, timeout=60) as c:
        op, call = c.execute(responses=1, delay_ms=50000)
        key = "ExecuteKey(%s,%s,%s) is created" % (OS_USER, c.session_id, op)
        wait_for(lambda: key in e.stderr(), 20, "the execution in Spark")

        def read():
            try:
                for _ in call:
                    pass
                got["code"] = grpc.StatusCode.OK
            except grpc.RpcError as ex:
                got["code"], got["t"] = ex.code(), time.monotonic()
        t = threading.Thread(target=read, daemon=True)
        t.start()
        wait_for(lambda: "terminating the gRPC server" in e.stderr(), 20, "the serving fault")
        t_fault = time.monotonic()
        t.join(15)
        assert not t.is_alive(), "stream still open after Spark's server died"
    assert got["code"] == grpc.StatusCode.UNAVAILABLE, got
    assert got["t"] - t_fault < 10, got
    e.wait_exit(60)


def test_internal_token_is_secret(engines):
    """By default Spark gets a random token through its environment, set
    inside the process: neither the command line nor /proc/PID/environ
    shows it, and Spark refuses calls without it."""
    e = engines(loopback_args())
    port = e.wait_ready()["connect_port"]
    sp = spark_port(e)
    with Client("127.0.0.1:%d" % sp, user_id=OS_USER) as c:
        assert code_of(lambda: c.config_get(["spark.app.name"])) == \
            grpc.StatusCode.UNAUTHENTICATED
    with Client("127.0.0.1:%d" % port, user_id=OS_USER) as c:
        assert c.config_get(["spark.app.name"])
    assert "SPARK_CONNECT_AUTHENTICATE_TOKEN" not in e.stderr()
    assert in_proc_files(e.pid, "SPARK_CONNECT_AUTHENTICATE_TOKEN") is None
    assert e.stop() == 0


def test_front_door_off_publishes_spark(engines):
    e = engines(loopback_args(shim=["--front-door", "off"]))
    st = e.wait_ready()
    assert "front door" not in e.stderr()
    assert "Spark Connect server bound port %d" % st["connect_port"] in e.stderr()
    assert e.stop() == 0


def test_spark35_refused_with_the_door(engines):
    if not os.path.isdir(STANDIN_35):
        pytest.fail("no 3.5 stand-in at %s (make standin)" % STANDIN_35)
    e = engines(loopback_args(), spark_home=STANDIN_35)
    assert e.wait_exit(30) == EXIT_USAGE
    assert "front door needs Spark 4.0" in e.stderr() and "--front-door off" in e.stderr()


def test_gateway_launch_door_on_any_port_for_the_session_user(engines):
    """Under a gateway (Kyuubi confs) without a port: the door takes any free
    port (not Spark's 15002) and the engine user is the one of the Kyuubi
    engine space. ZooKeeper is unreachable here: only the start matters."""
    e = engines(["--control-address", "off", "--", "--master", "local[1]",
                 "--conf", "spark.kyuubi.ha.addresses=127.0.0.1:1",
                 "--conf", "spark.kyuubi.ha.namespace=/kyuubi_1.10.0_USER_SPARK_CONNECT/bob/default",
                 "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
                 "--conf", "spark.ui.enabled=false"])
    pat = r"front door: plaintext on 127\.0\.0\.1:(\d+); user check: engine user 'bob'"
    m = wait_for(lambda: re.search(pat, e.stderr()), 30, "the front door's start line")
    assert int(m.group(1)) not in (0, 15002), m.group(0)
