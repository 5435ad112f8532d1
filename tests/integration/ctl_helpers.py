"""Helpers for the control-channel integration tests (issue 4).

- proto modules: our proto/*.proto and the official grpc.health.v1 proto
  from Debian's grpc-proto package, compiled with protoc at test time, so
  the tests talk to the shim with stock generated classes (and thereby check
  that proto/health.proto is wire-identical to the public one);
- run_ctl(): the `sparkshim ctl` CLI as a subprocess;
- ctl_engine(): one engine with its control endpoint, built on the lead's
  engine.py (Engine, loopback_args). It is the only place that knows how an
  engine is started; swap it for a conftest fixture without touching tests.
"""
import importlib
import json
import os
import subprocess
import sys

import pytest

from engine import SHIM_BIN, loopback_args, missing

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OFFICIAL_HEALTH_DIR = "/usr/share/grpc-proto"
OFFICIAL_HEALTH = "grpc/health/v1/health.proto"

# `sparkshim ctl` exit codes (docs/control.md)
CTL_OK, CTL_ERROR, CTL_UNREACHABLE, CTL_REJECTED, CTL_NOT_SERVING, CTL_USAGE = 0, 1, 2, 3, 4, 64
CTL_NOT_RUNNING = 5

SVC_CONNECT = "spark.connect.SparkConnectService"


def require_ctl_binary():
    """Fail unless SPARKSHIM_BIN (or build/sparkshim) is a binary whose
    `ctl` subcommand prints its help: a ctl that cannot is broken, not absent."""
    if not os.access(SHIM_BIN, os.X_OK):
        missing("sparkshim binary not built (%s)" % SHIM_BIN)
    try:
        out = subprocess.run([SHIM_BIN, "ctl", "--help"], capture_output=True, text=True,
                             timeout=10)
    except OSError as ex:
        pytest.fail("cannot run %s: %s" % (SHIM_BIN, ex), pytrace=False)
    if out.returncode != 0 or "usage: sparkshim ctl" not in out.stdout:
        pytest.fail("`%s ctl --help` exited %d without its usage:\n%s%s"
                    % (SHIM_BIN, out.returncode, out.stdout, out.stderr), pytrace=False)


def _need_protoc():
    if subprocess.run(["which", "protoc"], capture_output=True).returncode != 0:
        missing("protoc not installed (make deps: protobuf-compiler)")


def compile_protos(out_dir):
    """protoc --python_out for proto/control.proto and for the health
    proto: the official one from grpc-proto when installed (one process
    cannot load both, they define the same names), else ours.
    Returns (control_pb2, health_pb2, is_official)."""
    _need_protoc()
    out_dir = str(out_dir)
    ours = os.path.join(out_dir, "ours")
    os.makedirs(ours, exist_ok=True)
    official = os.path.exists(os.path.join(OFFICIAL_HEALTH_DIR, OFFICIAL_HEALTH))
    subprocess.run(["protoc", "--proto_path", os.path.join(ROOT, "proto"), "--python_out", ours,
                    "control.proto"] + ([] if official else ["health.proto"]), check=True)
    control = _load(os.path.join(ours, "control_pb2.py"), "ctl_control_pb2")
    if official:
        subprocess.run(["protoc", "--proto_path", OFFICIAL_HEALTH_DIR, "--python_out", out_dir,
                        OFFICIAL_HEALTH], check=True)
        health = _load(os.path.join(out_dir, "grpc", "health", "v1", "health_pb2.py"),
                       "ctl_health_pb2")
    else:
        health = _load(os.path.join(ours, "health_pb2.py"), "ctl_health_pb2")
    return control, health, official


def descriptor_set(out_dir, proto_path, proto_file):
    """FileDescriptorSet bytes of one proto file (for wire comparisons)."""
    _need_protoc()
    out = os.path.join(str(out_dir), os.path.basename(proto_file) + ".pb")
    subprocess.run(["protoc", "--proto_path", proto_path, "--descriptor_set_out", out,
                    proto_file], check=True)
    with open(out, "rb") as f:
        return f.read()


def wire_shape(fds_bytes):
    """What decides the wire format, with names kept (JSON mapping and
    reflection use them): package, messages (fields: name, number, type,
    label, type name), enums (name -> number), services (method, input,
    output, streaming)."""
    from google.protobuf import descriptor_pb2
    fds = descriptor_pb2.FileDescriptorSet.FromString(fds_bytes)
    f = fds.file[0]

    def msg(m, prefix):
        out = {}
        name = prefix + m.name
        out[name] = sorted((x.name, x.number, x.type, x.label, x.type_name) for x in m.field)
        for e in m.enum_type:
            out[name + "." + e.name] = sorted((v.name, v.number) for v in e.value)
        for n in m.nested_type:
            out.update(msg(n, name + "."))
        return out

    shape = {"package": f.package}
    for m in f.message_type:
        shape.update(msg(m, ""))
    for e in f.enum_type:
        shape[e.name] = sorted((v.name, v.number) for v in e.value)
    for svc in f.service:
        shape["service " + svc.name] = sorted(
            (x.name, x.input_type, x.output_type, x.client_streaming, x.server_streaming)
            for x in svc.method)
    return shape


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def run_ctl(*args, env=None, timeout=30):
    """Run `sparkshim ctl ARGS`; env entries set to None are removed."""
    e = dict(os.environ)
    e.pop("SPARKSHIM_CONTROL_TOKEN", None)
    e.pop("SPARKSHIM_CONTROL_ADDRESS", None)
    for k, v in (env or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    return subprocess.run([SHIM_BIN, "ctl"] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout, env=e)


def ctl_json(*args, **kw):
    out = run_ctl("--json", *args, **kw)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def ctl_engine(engines, token=None, control="127.0.0.1:0", shim=()):
    """Start an engine with a control endpoint and wait for READY. The
    returned Engine has .connect_port and .control_address (from the state
    file key control_address)."""
    require_ctl_binary()
    env = {"SPARKSHIM_CONTROL_TOKEN": token} if token else None
    e = engines(loopback_args(control=control, shim=shim), env=env)
    e.wait_ready()
    assert e.control_address, "state file has no control_address: %s" % e.state()
    return e
