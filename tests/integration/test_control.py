"""Issue 4: the gRPC health and control endpoint of a real engine (real
binary, in-process JVM, stand-in Spark), driven with stock python3-grpcio
clients, classes generated from the official grpc.health.v1 proto, and the
`sparkshim ctl` CLI."""
import os
import signal
import socket
import threading
import time

import grpc
import pytest

from ctl_helpers import (CTL_ERROR, CTL_OK, CTL_REJECTED, CTL_UNREACHABLE, CTL_USAGE,
                         OFFICIAL_HEALTH, OFFICIAL_HEALTH_DIR, ROOT, SVC_CONNECT, compile_protos,
                         ctl_engine, ctl_json, descriptor_set, require_ctl_binary, run_ctl,
                         wire_shape)
from engine import missing, loopback_args, no_process_left, process_age_ms
from exitcodes import EXIT_PORT_IN_USE, EXIT_USAGE

CHECK = "/grpc.health.v1.Health/Check"
WATCH = "/grpc.health.v1.Health/Watch"
EVENTS = "/sparkshim.v1.Control/Events"


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    control, health, _ = compile_protos(tmp_path_factory.mktemp("pb"))
    # "official": grpc-proto's health.proto when installed (else ours)
    return type("PB", (), {"control": control, "official": health})


def test_health_proto_is_wire_identical_to_the_public_one(tmp_path):
    """proto/health.proto was written from the field facts; compare it with
    the published grpc.health.v1 proto shipped by Debian's grpc-proto."""
    if not os.path.exists(os.path.join(OFFICIAL_HEALTH_DIR, OFFICIAL_HEALTH)):
        missing("grpc-proto not installed (make deps)")
    ours = wire_shape(descriptor_set(tmp_path, os.path.join(ROOT, "proto"), "health.proto"))
    theirs = wire_shape(descriptor_set(tmp_path, OFFICIAL_HEALTH_DIR, OFFICIAL_HEALTH))
    assert ours == theirs


def check_stub(ch, pb):
    return ch.unary_unary(CHECK, request_serializer=pb.official.HealthCheckRequest.SerializeToString,
                          response_deserializer=pb.official.HealthCheckResponse.FromString)


def serving(pb):
    return pb.official.HealthCheckResponse.SERVING


def test_health_check_with_official_proto(engines, pb):
    e = ctl_engine(engines)
    with grpc.insecure_channel(e.control_address) as ch:
        check = check_stub(ch, pb)
        for svc in ("", SVC_CONNECT):
            r = check(pb.official.HealthCheckRequest(service=svc), timeout=10)
            assert r.status == serving(pb)
        with pytest.raises(grpc.RpcError) as ei:
            check(pb.official.HealthCheckRequest(service="no.such.Service"), timeout=10)
        assert ei.value.code() == grpc.StatusCode.NOT_FOUND
        # hand-made bytes, as a probe without codegen would send them
        raw = ch.unary_unary(CHECK)
        assert raw(b"", timeout=10) == b"\x08\x01"  # status: SERVING
    assert run_ctl("--address", e.control_address, "health").returncode == CTL_OK
    assert e.stop() == 0


def test_watch_follows_drain_and_stop(engines, pb):
    e = ctl_engine(engines)
    with grpc.insecure_channel(e.control_address) as ch:
        watch = ch.unary_stream(WATCH,
                                request_serializer=pb.official.HealthCheckRequest.SerializeToString,
                                response_deserializer=pb.official.HealthCheckResponse.FromString)
        it = watch(pb.official.HealthCheckRequest(service=SVC_CONNECT), timeout=60)
        assert next(it).status == serving(pb)
        out = run_ctl("--address", e.control_address, "drain", "--reason", "test")
        assert out.returncode == CTL_OK, out.stderr
        assert next(it).status == pb.official.HealthCheckResponse.NOT_SERVING
        # an idle drained engine stops by itself (the main loop's rule);
        # the stream must then end, not hang
        rest = list(it)
        assert all(m.status != serving(pb) for m in rest)
    assert e.wait_exit(60) == 0
    err = e.stderr()
    assert "control Drain: deregistering, then draining" in err
    assert "draining: deregistered; stopping once no operation runs" in err
    assert no_process_left(e.pid)


def test_status_json_matches_engine(engines):
    e = ctl_engine(engines)
    st = ctl_json("--address", e.control_address, "status")
    assert st["state"] == "READY"
    assert st["pid"] == e.pid
    assert st["connect_endpoint"].endswith(":%d" % e.connect_port)
    assert st["connect_alive"] is True
    assert st["control_endpoint"] == e.control_address
    assert st["spark_version"] == "4.0.1"  # the stand-in home's version
    # uptime is the process's age: compare with what the kernel says.
    age_before = process_age_ms(e.pid)
    up = ctl_json("--address", e.control_address, "status")["uptime_ms"]
    age_after = process_age_ms(e.pid)
    assert age_before - 500 <= up <= age_after + 500, (age_before, up, age_after)
    human = run_ctl("--address", e.control_address, "status")
    assert human.returncode == 0 and "state:          READY" in human.stdout
    assert e.stop() == 0


def test_events_backlog_then_stop(engines, pb):
    e = ctl_engine(engines)
    with grpc.insecure_channel(e.control_address) as ch:
        events = ch.unary_stream(EVENTS,
                                 request_serializer=pb.control.EventsRequest.SerializeToString,
                                 response_deserializer=pb.control.Event.FromString)
        it = events(pb.control.EventsRequest(), timeout=90)
        seen = []
        for ev in it:
            seen.append(ev)
            if ev.to_state == pb.control.STATE_READY:
                break
        assert [x.seq for x in seen] == list(range(1, len(seen) + 1))
        # live: a stop request shows up as STOPPING, then the stream ends
        assert run_ctl("--address", e.control_address, "stop").returncode == 0
        rest = list(it)
    kinds = [x.kind for x in rest]
    states = [x.to_state for x in rest if x.kind == pb.control.Event.KIND_TRANSITION]
    assert pb.control.STATE_STOPPING in states
    assert kinds[-1] == pb.control.Event.KIND_END_OF_STREAM
    assert e.wait_exit(60) == 0
    # the CLI prints the same backlog and ends on its own with --no-follow
    # (checked on a second engine while it runs)
    e2 = ctl_engine(engines)
    out = run_ctl("--address", e2.control_address, "events", "--no-follow")
    assert out.returncode == 0 and "STARTING -> READY" in out.stdout
    assert e2.stop() == 0


def test_token_guards_mutating_calls(engines):
    e = ctl_engine(engines, token="t0ken-for-tests")
    addr = e.control_address
    out = run_ctl("--address", addr, "drain")
    assert out.returncode == CTL_REJECTED and "UNAUTHENTICATED" in out.stderr
    out = run_ctl("--address", addr, "drain", env={"SPARKSHIM_CONTROL_TOKEN": "wrong"})
    assert out.returncode == CTL_REJECTED
    assert run_ctl("--address", addr, "status").returncode == CTL_OK  # read-only: open
    assert run_ctl("--address", addr, "--token", "x", "stop").returncode == CTL_USAGE
    assert e.alive()  # nothing got through
    out = run_ctl("--address", addr, "drain", env={"SPARKSHIM_CONTROL_TOKEN": "t0ken-for-tests"})
    assert out.returncode == CTL_OK, out.stderr
    assert "drain requested (engine was READY)" in out.stdout
    assert e.wait_exit(60) == 0  # idle + drained -> clean stop


def test_non_loopback_control_without_token_is_refused(engines):
    require_ctl_binary()
    e = engines(loopback_args(control="0.0.0.0:0"))
    assert e.wait_exit(60) == EXIT_USAGE
    assert "token" in e.stderr()


def test_log_level(engines):
    e = ctl_engine(engines, token="tk")
    env = {"SPARKSHIM_CONTROL_TOKEN": "tk"}
    out = run_ctl("--address", e.control_address, "log-level", "bogus", env=env)
    assert out.returncode == CTL_REJECTED and "invalid log level" in out.stderr
    out = run_ctl("--address", e.control_address, "--json", "log-level", "warn", env=env)
    assert out.returncode == CTL_OK, out.stderr  # SparkContext.setLogLevel in the JVM
    assert '"level":"WARN"' in out.stdout
    out = run_ctl("--address", e.control_address, "log-level", "INFO", env=env)
    assert out.returncode == CTL_OK and "log level set to INFO" in out.stdout
    assert e.stop() == 0


def test_robustness_malformed_oversized_unknown(engines):
    e = ctl_engine(engines)
    with grpc.insecure_channel(e.control_address) as ch:
        raw = ch.unary_unary(CHECK)
        with pytest.raises(grpc.RpcError) as ei:
            raw(b"\x0a\x05ab", timeout=10)  # truncated string field
        assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as ei:
            raw(b"\x0a" + b"\x80\x80\x04" + b"x" * 65536, timeout=10)  # > 64 KiB
        assert ei.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        with pytest.raises(grpc.RpcError) as ei:
            ch.unary_unary("/sparkshim.v1.Control/Nope")(b"", timeout=10)
        assert ei.value.code() == grpc.StatusCode.UNIMPLEMENTED
        # cancelled streams are reaped; the server keeps answering
        for _ in range(20):
            it = ch.unary_stream(WATCH)(b"", timeout=30)
            next(it)
            it.cancel()
        assert raw(b"", timeout=10) == b"\x08\x01"
    assert e.stop() == 0


def test_64_concurrent_clients(engines):
    e = ctl_engine(engines)
    errors, ok = [], [0]
    lock = threading.Lock()

    def client():
        try:
            with grpc.insecure_channel(e.control_address) as ch:
                raw = ch.unary_unary(CHECK)
                for _ in range(25):
                    assert raw(b"", timeout=20) == b"\x08\x01"
                    with lock:
                        ok[0] += 1
        except Exception as ex:  # reported below
            errors.append(ex)

    threads = [threading.Thread(target=client) for _ in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    assert ok[0] == 64 * 25
    assert e.stop() == 0


def test_cli_against_wrong_or_missing_endpoint(engines):
    e = ctl_engine(engines)
    # Spark's own connect port is a gRPC server, but not ours
    out = run_ctl("--address", "127.0.0.1:%d" % e.connect_port, "status")
    assert out.returncode == CTL_ERROR and "UNIMPLEMENTED" in out.stderr
    assert "not the connect port" in out.stderr
    assert e.stop() == 0
    out = run_ctl("--address", e.control_address, "--timeout", "3", "status")
    assert out.returncode == CTL_UNREACHABLE


def test_sigterm_with_streams_open(engines, pb):
    e = ctl_engine(engines)
    chans, its = [], []
    for i in range(8):
        ch = grpc.insecure_channel(e.control_address)
        chans.append(ch)
        if i % 2:
            it = ch.unary_stream(WATCH)(b"", timeout=60)
        else:
            it = ch.unary_stream(EVENTS)(b"", timeout=60)
        next(it)
        its.append(it)
    t0 = time.monotonic()
    assert e.stop(signal.SIGTERM, 60) == 0
    for it in its:
        try:
            for _ in it:
                pass
        except grpc.RpcError as ex:  # the process may be gone before the final status
            assert ex.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
    for ch in chans:
        ch.close()
    print("SIGTERM with 8 control streams open -> exit in %.2f s" % (time.monotonic() - t0))
    assert no_process_left(e.pid)


def test_fixed_control_port_in_use(engines):
    require_ctl_binary()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        e = engines(loopback_args(control="127.0.0.1:%d" % port))
        assert e.wait_exit(60) == EXIT_PORT_IN_USE
    err = e.stderr()
    assert "in use" in err
    # Refused before Spark started (test_early_checks.py proves no JVM ran):
    # nothing was bound, no process and no state file left behind.
    assert "Spark Connect server bound port" not in err
    assert no_process_left(e.pid)
    assert not os.path.exists(e.state_file)
