"""Issue 13 item 2: the state file tells the truth. It follows every change
it shows, and it names its process by pid, start time and boot id, so that
`sparkshim ctl --state-file F status` can tell a live engine from one that
was SIGKILLed (file left behind) or whose pid now belongs to someone else.
Real binary, real JVM, stand-in Spark."""
import json
import os
import signal

from ctl_helpers import CTL_NOT_RUNNING, CTL_OK, require_ctl_binary, run_ctl
from engine import loopback_args, no_process_left


def start_ready(engines):
    require_ctl_binary()
    e = engines(loopback_args())
    e.wait_ready()
    return e


def test_ctl_status_through_the_state_file_then_not_running_after_sigkill(engines):
    e = start_ready(engines)
    # Alive: ctl takes the control address from the file and asks the engine.
    out = run_ctl("--state-file", e.state_file, "--json", "status")
    assert out.returncode == CTL_OK, out.stderr
    st = json.loads(out.stdout)
    assert st["state"] == "READY" and st["pid"] == e.pid
    e.proc.send_signal(signal.SIGKILL)
    e.proc.wait(timeout=30)
    assert no_process_left(e.pid)
    # SIGKILL leaves the file behind, still saying READY ...
    with open(e.state_file) as f:
        assert json.load(f)["state"] == "READY"
    # ... and ctl says what is true.
    out = run_ctl("--state-file", e.state_file, "status")
    assert out.returncode == CTL_NOT_RUNNING, (out.returncode, out.stdout, out.stderr)
    assert out.stdout.startswith("state:          not running (")
    assert "pid %d" % e.pid in out.stdout and "stale state file" in out.stdout
    out = run_ctl("--state-file", e.state_file, "--json", "status")
    assert out.returncode == CTL_NOT_RUNNING
    assert json.loads(out.stdout)["state"] == "NOT_RUNNING"


def test_a_reused_pid_is_not_the_engine(engines, tmp_path):
    """A left-behind file whose pid now belongs to another live process (here:
    this test) is recognised by the start time."""
    e = start_ready(engines)
    with open(e.state_file) as f:
        st = json.load(f)
    e.stop()
    st["pid"] = os.getpid()  # alive, but started at another time
    fake = tmp_path / "reused.json"
    fake.write_text(json.dumps(st, indent=2))
    out = run_ctl("--state-file", fake, "status")
    assert out.returncode == CTL_NOT_RUNNING, (out.stdout, out.stderr)
    assert "pid %d" % os.getpid() in out.stdout


def test_no_state_file_is_not_running(tmp_path):
    require_ctl_binary()
    out = run_ctl("--state-file", tmp_path / "none.json", "status")
    assert out.returncode == CTL_NOT_RUNNING
    assert "no state file" in out.stdout
