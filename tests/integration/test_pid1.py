"""sparkshim as PID 1 of a container (its own PID namespace, made with
`unshare --pid --fork --mount-proc`) and as a child subreaper (--subreaper).

The stand-in's `spark.standin.orphans` knob makes the JVM spawn children
through ProcessBuilder that start a background `sleep` and exit 7 at once:
the sleeps are orphaned and adopted by the engine. They must be reaped (no
zombie left), while Java's own Process.waitFor() still gets each child's
real status 7 (a reaper that took it would leave Java ECHILD, i.e. 0).
"""
import os
import re
import signal
import subprocess

import pytest

from engine import loopback_args, wait_for

UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]
ORPHANS = 3


def _pid_namespaces_work():
    try:
        return subprocess.run(UNSHARE + ["true"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture
def pidns():
    if not _pid_namespaces_work():
        pytest.skip("no permission to create PID namespaces (unshare --pid needs CAP_SYS_ADMIN)")
    return UNSHARE


def children(pid):
    """pid's child processes (every thread's), from /proc."""
    out = []
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def zombies(pid):
    return [c for c in children(pid) if state(c) == "Z"]


def engine_pid(e, in_namespace):
    """The host pid of the sparkshim process (unshare's child in a namespace)."""
    if not in_namespace:
        return e.pid
    return wait_for(lambda: children(e.pid) and children(e.pid)[0], 10, "unshare's child")


def orphan_args(**extra):
    conf = {"spark.standin.orphans": str(ORPHANS), "spark.standin.orphan.life.ms": "300"}
    conf.update(extra)
    a = []
    for k, v in conf.items():
        a += ["--conf", "%s=%s" % (k, v)]
    return a


@pytest.mark.parametrize("mode", ["pid1", "subreaper"])
def test_orphans_reaped_and_java_keeps_its_childs_status(engines, pidns, mode):
    if mode == "pid1":
        e = engines(loopback_args(extra=orphan_args()), prefix=pidns)
    else:
        e = engines(loopback_args(shim=["--subreaper"], extra=orphan_args()))
    e.wait_ready()
    shim = engine_pid(e, mode == "pid1")
    banner = "running as PID 1" if mode == "pid1" else "child subreaper"
    assert banner in e.stderr()

    made = wait_for(lambda: len(re.findall(r"standin: orphan maker exited", e.stderr())) >= ORPHANS
                    and re.findall(r"standin: orphan maker exited (-?\d+), left pid (\d+)",
                                   e.stderr()), 30, "the orphan makers")
    # Java's waitFor() got the children's real status, every time.
    assert [code for code, _ in made] == ["7"] * ORPHANS, made
    left = sorted(int(p) for _, p in made)
    # Each orphan is reaped by the engine (the pids are the namespace's, as
    # the shell and the engine both see them) ...
    reaped = wait_for(lambda: len(re.findall(r"reaped adopted process", e.stderr())) >= ORPHANS
                      and re.findall(r"reaped adopted process (\d+) \(exit 0\)", e.stderr()),
                      30, "the orphans reaped:\n" + e.stderr()[-3000:])
    assert sorted(int(p) for p in reaped) == left
    # ... and none is left behind as a zombie.
    assert zombies(shim) == []

    # Signals reach PID 1's engine as any engine (the kernel drops a signal
    # to a namespace's init that has no handler: ours are blocked and read
    # from a signalfd), and its exit code is the container's.
    os.kill(shim, signal.SIGTERM)
    assert e.wait_exit(60) == 0
    assert "stopping: SIGTERM" in e.stderr()


def test_pid1_exit_code_is_the_engines(engines, pidns):
    """Spark's System.exit(3) while serving: PID 1 exits 3, so the container does."""
    e = engines(loopback_args(extra=["--conf", "spark.standin.serving.fault=exit",
                                     "--conf", "spark.standin.serving.fault.after.ms=8000",
                                     "--conf", "spark.standin.fault.exit.code=3"]),
                prefix=pidns)
    e.wait_ready()  # well before the fault: it is to come while serving
    assert e.wait_exit(60) == 3, e.stderr()[-3000:]
    assert "System.exit(3)" in e.stderr()



def test_kubernetes_pod_spec_probes_the_control_port(engines, tmp_path):
    """docs/kubernetes.md's pod: every probe is a gRPC probe of the control
    port the args bind, for a health service the engine knows, and it needs
    the token a non-loopback control address requires. Each probe's Check
    answers SERVING on a READY engine started with the same control args
    (on loopback here)."""
    import yaml
    from engine import SHIM_BIN, free_port
    doc = open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "kubernetes.md")).read()
    pod = yaml.safe_load(re.search(r"```yaml\n(.*?)```", doc, re.S).group(1))
    c = pod["spec"]["containers"][0]
    args = c["args"]
    host, port = args[args.index("--control-address") + 1].rsplit(":", 1)
    assert host == "0.0.0.0" and "--control-token-file" in args
    probes = [c[k] for k in ("startupProbe", "readinessProbe", "livenessProbe")]
    services = [p["grpc"].get("service", "") for p in probes]
    assert all(p["grpc"]["port"] == int(port) for p in probes)
    assert pod["spec"]["terminationGracePeriodSeconds"] > 30  # the default --stop-timeout

    token = tmp_path / "token"
    token.write_text("s3cret\n")
    cport = free_port()
    e = engines(loopback_args(control="127.0.0.1:%d" % cport,
                              shim=["--control-token-file", str(token)]))
    e.wait_ready()
    for svc in services:
        r = subprocess.run([SHIM_BIN, "ctl", "--address", "127.0.0.1:%d" % cport, "health"] +
                           ([svc] if svc else []), capture_output=True, timeout=30)
        assert r.returncode == 0, (svc, r.stdout, r.stderr)
    assert e.stop() == 0
