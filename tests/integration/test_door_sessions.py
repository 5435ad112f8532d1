"""The front door's sessions (issue 10 item 4, tests of item 5) on the stand-in:
drain and SIGTERM with queries in flight lose nothing and refuse new sessions with
UNAVAILABLE "engine is draining"; the session and operation limits answer
RESOURCE_EXHAUSTED; the idle timeout follows the door's sessions and calls; control
Status lists the sessions and Events streams their opening and closing; 256 concurrent
sessions; a slow reader of a 1 GiB stream keeps the shim's RSS bounded.

Every client goes through the front door (the published endpoint); the stand-in sits
behind it on an internal port."""
import concurrent.futures
import getpass
import json
import signal
import threading
import time
import zlib

import grpc
import pytest

from ctl_helpers import ctl_json, require_ctl_binary, run_ctl
from engine import loopback_args, wait_for
from exitcodes import EXIT_USAGE
from sparkconnect_wire import Client, f_bytes, f_int, f_msg, f_str

USER = getpass.getuser()
GiB = 1 << 30
MiB = 1 << 20


def start(engines, extra=(), shim=()):
    require_ctl_binary()
    e = engines(loopback_args(control="127.0.0.1:0", extra=list(extra), shim=shim))
    e.wait_ready()
    assert e.control_address, e.state()
    return e


def client(e, **kw):
    return Client("127.0.0.1:%d" % e.connect_port, user_id=USER, **kw)


def status(e):
    return ctl_json("--address", e.control_address, "status")


def refused(fn):
    """The grpc.RpcError fn raises (fails if it does not)."""
    with pytest.raises(grpc.RpcError) as ei:
        fn()
    return ei.value


class Query(threading.Thread):
    """An ExecutePlan on its own session that takes a while (stand-in tags)."""

    def __init__(self, e, responses=8, delay_ms=400):
        super().__init__(daemon=True)
        self.c = client(e)
        self.responses, self.delay_ms = responses, delay_ms
        self.data, self.complete, self.error = 0, False, None

    def run(self):
        try:
            # reattachable, detached every 3 responses: reattaches happen during the drain
            out = self.c.execute_all(responses=self.responses, size=16, delay_ms=self.delay_ms,
                                     detach_after=3)
            self.data = sum(1 for r in out if r.arrow_batch)
            self.complete = bool(out) and out[-1].result_complete
        except grpc.RpcError as ex:
            self.error = "%s %s" % (ex.code(), ex.details())
        finally:
            self.c.close()


def queries_in_flight(e, queries):
    for q in queries:
        q.start()
    wait_for(lambda: status(e)["door_calls_in_flight"] == len(queries), 30,
             "%d queries in flight through the door" % len(queries))


def assert_nothing_lost(queries, responses):
    for q in queries:
        q.join(timeout=60)
        assert not q.is_alive(), "query still running"
        assert q.error is None, q.error
        assert (q.data, q.complete) == (responses, True), (q.data, q.complete)


@pytest.mark.parametrize("how", ["ctl drain", "SIGTERM"])
def test_drain_with_queries_in_flight(engines, how):
    e = start(engines)
    old = client(e)
    old.config_get_option(["spark.app.name"])  # an open session, idle
    queries = [Query(e) for _ in range(3)]
    queries_in_flight(e, queries)
    if how == "ctl drain":
        out = run_ctl("--address", e.control_address, "drain")
        assert out.returncode == 0, out.stderr
        wait_for(lambda: (e.state() or {}).get("state") == "DRAINING", 20, "DRAINING")
    else:
        e.send(signal.SIGTERM)
        wait_for(lambda: "refusing new sessions" in e.stderr(), 20, "the door refusing")
    # a new session is refused, and says why
    with client(e) as new:
        err = refused(lambda: new.config_get_option(["spark.app.name"]))
    assert err.code() == grpc.StatusCode.UNAVAILABLE, err
    assert "engine is draining" in err.details(), err.details()
    # an open session goes on while its engine drains
    assert old.config_get_option(["spark.app.name"])
    old.close()
    assert_nothing_lost(queries, 8)
    assert e.wait_exit(60) == 0
    assert "refusing new sessions" in e.stderr()


def test_limits_answer_resource_exhausted(engines):
    e = start(engines, extra=["--conf", "spark.sparkshim.connect.max.sessions=2",
                              "--conf", "spark.sparkshim.connect.max.operations=1"])
    a, b, c = client(e), client(e), client(e)
    a.config_get_option(["spark.app.name"])
    b.config_get_option(["spark.app.name"])
    err = refused(lambda: c.config_get_option(["spark.app.name"]))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
    assert "sparkshim.connect.max.sessions" in err.details()
    # one operation runs; a second one is refused, on any session
    q = threading.Thread(target=lambda: a.execute_all(responses=6, size=8, delay_ms=300),
                         daemon=True)
    q.start()
    wait_for(lambda: status(e)["door_calls_in_flight"] == 1, 30, "one operation in flight")
    err = refused(lambda: b.execute_all(responses=1, size=8))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
    assert "sparkshim.connect.max.operations" in err.details()
    q.join(timeout=60)
    assert b.execute_all(responses=1, size=8)  # room again
    # a released session makes room for a new one
    b.release_session()
    assert c.config_get_option(["spark.app.name"])
    for x in (a, b, c):
        x.close()
    assert status(e)["door_session_count"] == 2


@pytest.mark.parametrize("conf", ["spark.sparkshim.connect.max.sessions=-1",
                                  "spark.sparkshim.connect.max.operations=lots",
                                  "spark.connect.session.manager.defaultSessionTimeout=soon"])
def test_bad_limit_refused_before_the_jvm(engines, conf):
    e = engines(loopback_args(control=None, extra=["--conf", conf]))
    assert e.wait_exit(30) == EXIT_USAGE
    key, value = conf.split("=", 1)
    assert "%s=%s" % (key.replace("spark.sparkshim.", "sparkshim."), value) in e.stderr()
    assert "Starting Spark session" not in e.stderr()


IDLE = ["--conf", "spark.kyuubi.session.engine.idle.timeout=PT3S",
        "--conf", "spark.kyuubi.session.engine.check.interval=300"]


def test_idle_follows_door_sessions(engines):
    """A call held open through the door (a slow AddArtifacts upload, which Spark sees
    only when it begins) keeps the engine past its idle timeout; once it ends, open but
    quiet sessions do not, and the engine stops on its own."""
    e = start(engines, extra=IDLE)
    c = client(e)
    c.config_get_option(["spark.app.name"])
    head = c.head()
    sent = []

    def slow_upload():
        for i in range(9):  # 9 x 1 s: three idle timeouts
            sent.append(i)
            data = b"x%d" % i
            single = f_str(1, "a%d.txt" % i) + f_msg(2, f_bytes(1, data)
                                                    + f_int(2, zlib.crc32(data)))
            yield head + f_msg(3, f_msg(1, single))  # AddArtifactsRequest.batch
            time.sleep(1.0)

    t0 = time.monotonic()
    up = threading.Thread(target=lambda: c.client_stream("AddArtifacts", slow_upload(), 60),
                          daemon=True)
    up.start()
    up.join(timeout=60)
    assert len(sent) == 9
    held = time.monotonic() - t0
    assert held >= 8.5
    # still serving: no stop began while the call was in flight
    assert e.state()["state"] == "READY", e.stderr()[-3000:]
    assert "idle for" not in e.stderr()
    assert status(e)["door_session_count"] == 1  # open, now quiet
    rc = e.wait_exit(30)
    assert rc == 0
    assert "idle for" in e.stderr()
    c.close()


def test_status_and_events_show_sessions(engines):
    e = start(engines)
    a, b = client(e), client(e)
    a.config_get_option(["spark.app.name"])
    b.execute_all(responses=2, size=100)
    st = status(e)
    assert st["front_door"] is True
    assert st["door_session_count"] == 2
    by_id = {s["session_id"]: s for s in st["door_sessions"]}
    assert set(by_id) == {a.session_id, b.session_id}
    assert by_id[b.session_id]["user_id"] == USER
    assert by_id[b.session_id]["bytes_out"] >= 200
    assert by_id[a.session_id]["calls_in_flight"] == 0
    a.release_session()
    st = status(e)
    assert [s["session_id"] for s in st["door_sessions"]] == [b.session_id]
    out = run_ctl("--json", "--address", e.control_address, "events", "--no-follow")
    assert out.returncode == 0, out.stderr
    evs = [json.loads(line) for line in out.stdout.splitlines()]
    sess = [(x["kind"], x["session_id"]) for x in evs if x["kind"].startswith("SESSION")]
    assert sess == [("SESSION_OPENED", a.session_id), ("SESSION_OPENED", b.session_id),
                    ("SESSION_CLOSED", a.session_id)], sess
    a.close()
    b.close()


def test_256_concurrent_sessions(engines):
    e = start(engines)
    n = 256
    clients = [client(e) for _ in range(n)]
    gate = threading.Barrier(64)

    def one(c):
        try:
            gate.wait(timeout=30)
        except threading.BrokenBarrierError:
            pass
        rs = c.execute_all(responses=2, size=64)
        return len(rs)

    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        got = list(pool.map(one, clients))
    assert all(g >= 3 for g in got), got
    st = status(e)
    assert st["door_session_count"] == n
    assert st["door_calls_in_flight"] == 0
    assert {s["session_id"] for s in st["door_sessions"]} == {c.session_id for c in clients}
    for c in clients:
        c.close()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_slow_reader_of_1gib_keeps_rss_bounded(engines):
    """1 GiB streamed through the door to a reader that takes its time: the door keeps
    one message in flight per direction and the stand-in produces at the reader's pace,
    so the engine's RSS (shim + JVM, one process) stays where it was."""
    e = start(engines, extra=["--driver-memory", "256m"])
    c = client(e)
    tag = "standin.stream.bytes=%d"

    def read(total, pause):
        got = 0
        for r in c.server_stream("ExecutePlan", c.execute_request(tags=[tag % total]), 600):
            got += len(r)
            if pause:
                time.sleep(pause)
        return got

    assert read(128 * MiB, 0) >= 128 * MiB  # warm up: JIT, buffers, heap
    base = rss_kib(e.pid)
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(e.pid))
            done.wait(0.1)

    s = threading.Thread(target=sample, daemon=True)
    s.start()
    t0 = time.monotonic()
    try:
        got = read(GiB, 0.01)  # 1024 messages of 1 MiB, >= 10 s
    finally:
        done.set()
        s.join()
    took = time.monotonic() - t0
    assert got >= GiB
    assert took >= 10
    grown = (peak[0] - base) // 1024
    print("slow reader: %.1f s, RSS %d MiB -> peak %d MiB (+%d MiB)"
          % (took, base // 1024, peak[0] // 1024, grown))
    assert grown < 192, "RSS grew by %d MiB while a slow reader took 1 GiB" % grown
    c.close()
