"""The production systemd unit (scripts/systemd/sparkshim@.service.in).

- `make install` writes it with the real PREFIX;
- `systemd-analyze verify` accepts it, and `systemd-analyze security
  --offline=yes` scores it as docs/operations.md says;
- booted for real: a systemd container (`systemd-nspawn --volatile=yes`, the
  host's /usr on a tmpfs root, private network, so ports 15002/15003 are the
  container's own loopback) runs the unit as installed: DynamicUser, the
  sandbox, Type=notify (`systemctl start` returns once READY=1 came), a clean
  `systemctl stop`, a restart after a clean exit and after a crash, and no
  restart after a configuration error (RestartPreventExitStatus=).
"""
import os
import re
import shutil
import json
import signal
import subprocess

import pytest

from engine import ROOT, SHIM_BIN, STANDIN, JDK_BIN, wait_for

PREFIX = "/opt/sparkshim-test"
JAVA_HOME = os.path.dirname(JDK_BIN)
DOCS = os.path.join(ROOT, "docs", "operations.md")
# The engine in the container (its own loopback: fixed ports are free).
ENGINE_ARGS = ("--control-address 127.0.0.1:15003 -- --master local[1] "
               "--conf spark.connect.grpc.binding.address=127.0.0.1 "
               "--conf spark.connect.grpc.binding.port=15002 --conf spark.ui.enabled=false")


def install(tmp_path, prefix, destdir=""):
    """`make install` into destdir with PREFIX=prefix; the unit's path."""
    build = os.path.dirname(SHIM_BIN)
    # Not the jobserver of a `make test` this may run under.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    r = subprocess.run(["make", "-s", "-C", ROOT, "install", "BUILD=%s" % build,
                        "PREFIX=%s" % prefix, "DESTDIR=%s" % destdir],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    return os.path.join(destdir + prefix, "lib", "systemd", "system", "sparkshim@.service")


@pytest.fixture
def installed_unit(tmp_path):
    """Installed with PREFIX=<tmp> (no DESTDIR), so its ExecStart exists on
    this host, as `verify` wants; copied to an instance name."""
    prefix = str(tmp_path / "prefix")
    unit = install(tmp_path, prefix)
    inst = tmp_path / "units" / "sparkshim@verify.service"
    inst.parent.mkdir()
    shutil.copy(unit, inst)
    return prefix, str(inst)


def test_install_substitutes_prefix(installed_unit):
    prefix, unit = installed_unit
    text = open(unit).read()
    assert "@PREFIX@" not in text
    exec_start = re.search(r"^ExecStart=(\S+)", text, re.M).group(1)
    assert exec_start == prefix + "/bin/sparkshim"
    assert os.access(exec_start, os.X_OK)


def test_systemd_analyze_verify(installed_unit):
    _, unit = installed_unit
    r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr


def documented_score():
    m = re.search(r"`systemd-analyze security` scores it \*\*(\d+\.\d)\*\*", open(DOCS).read())
    assert m, "docs/operations.md must state the unit's systemd-analyze security score"
    return float(m.group(1))


def test_systemd_analyze_security_score(installed_unit):
    """The exposure score (0 = locked down, 10 = unprotected) is the one
    the docs state, and stays "OK" (below 2)."""
    _, unit = installed_unit
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", unit],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d) (\w+)", r.stdout)
    assert m, r.stdout + r.stderr
    score = float(m.group(1))
    assert score == documented_score(), (score, r.stdout)
    assert score < 2.0 and m.group(2) == "OK", r.stdout
    # What the JVM needs stays allowed, for the reasons the unit gives.
    assert re.search(r"✗ MemoryDenyWriteExecute=", r.stdout)


# ---- booted for real ----

class Container:
    """A systemd container booted from the host's /usr (volatile root),
    with the installed prefix, the env files, the unit, the JDK's /etc
    files and the stand-in Spark home bound in read-only."""
    count = 0

    def __init__(self, tmp_path, extra_ro=()):
        self.tmp = tmp_path
        root = str(tmp_path / "root")
        unit = install(tmp_path, PREFIX, destdir=root)
        self.units = tmp_path / "units"
        self.units.mkdir()
        shutil.copy(unit, str(self.units))
        self.envs = tmp_path / "etc-sparkshim"
        self.envs.mkdir()
        self.log = open(str(tmp_path / "boot.log"), "wb")
        Container.count += 1
        name = "sparkshim-test-%d-%d" % (os.getpid(), Container.count)
        self.init = None
        self.booting = ""
        binds = ["--bind-ro=%s%s:%s" % (root, PREFIX, PREFIX),
                 "--bind-ro=%s:/etc/sparkshim" % self.envs,
                 "--bind-ro=%s:/etc/systemd/system" % self.units,
                 "--bind-ro=%s" % os.path.dirname(STANDIN)]
        binds += ["--bind-ro=%s" % d for d in extra_ro]
        # The volatile /etc is empty: Java's InetAddress.getLocalHost() (real
        # Spark's Utils) needs the container's host name to resolve.
        hosts = tmp_path / "hosts"
        hosts.write_text("127.0.0.1 localhost %s\n::1 localhost\n" % name)
        binds.append("--bind-ro=%s:/etc/hosts" % hosts)
        # The host's user database and NSS setup: Hadoop (real Spark) needs
        # the dynamic user's name, which nss-systemd resolves.
        for f in ("/etc/java-17-openjdk", "/etc/nsswitch.conf", "/etc/passwd", "/etc/group"):
            if os.path.exists(f):
                binds.append("--bind-ro=%s" % f)
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "-D", "/", "--volatile=yes", "--private-network",
             "--register=no", "--keep-unit", "-M", name, "--console=pipe"] + binds +
            ["-b", "--", "systemd.unit=basic.target", "systemd.firstboot=off"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)

        def init_pid():
            if self.proc.poll() is not None:
                raise AssertionError("systemd-nspawn exited %s:\n%s" % (
                    self.proc.returncode, open(str(tmp_path / "boot.log")).read()[-3000:]))
            # nspawn's first child is a helper that forks the container's
            # init and exits: wait for the child that runs systemd.
            try:
                with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                    for kid in f.read().split():
                        with open("/proc/%s/comm" % kid) as g:
                            if g.read().strip() == "systemd":
                                return int(kid)
            except OSError:
                pass
            return None
        try:
            self.init = wait_for(init_pid, 30, "the container's systemd")
            wait_for(self.booted, 90, "the container booted")
        except AssertionError as e:
            self.close()
            raise AssertionError("%s (is-system-running: %s)\n%s" % (
                e, self.booting, open(str(tmp_path / "boot.log"), errors="replace").read()[-3000:]))

    def booted(self):
        r = self.sh("systemctl", "is-system-running", check=False)
        self.booting = (r.stdout + r.stderr).strip()
        return r.stdout.strip() in ("running", "degraded")

    def sh(self, *cmd, check=True, timeout=120):
        r = subprocess.run(["nsenter", "-t", str(self.init), "-m", "-u", "-i", "-n", "-p"] +
                           list(cmd), capture_output=True, text=True, timeout=timeout)
        if check:
            assert r.returncode == 0, (cmd, r.stdout, r.stderr)
        return r

    def show(self, unit, *props):
        out = self.sh("systemctl", "show", "-p", ",".join(props), unit).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def env(self, instance, args, java_home=JAVA_HOME):
        (self.envs / ("%s.env" % instance)).write_text(
            "SPARK_HOME=%s\nJAVA_HOME=%s\nSPARKSHIM_ARGS=\"%s\"\n" % (STANDIN, java_home, args))

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the container powers off
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.init and os.path.exists("/proc/%d" % self.init):
            os.kill(self.init, signal.SIGKILL)
        self.log.close()


def _can_boot():
    if os.geteuid() != 0:
        return "cannot boot a systemd container: not root"
    for tool in ("systemd-nspawn", "nsenter"):
        if not shutil.which(tool):
            return "cannot boot a systemd container: no %s (apt-get install systemd-container)" % tool
    if not os.path.isdir("/sys/fs/cgroup"):
        return "cannot boot a systemd container: no cgroup file system"
    return None


@pytest.fixture
def container(tmp_path, shim_bin, standin_home):
    why = _can_boot()
    if why:
        pytest.skip(why)
    c = Container(tmp_path)
    yield c
    c.close()


def test_unit_boots_ready_sandboxed_and_stops(container):
    c = container
    c.env("t", ENGINE_ARGS)
    c.sh("systemctl", "start", "sparkshim@t")
    # Type=notify: start returned only after READY=1, i.e. once the
    # connect port answered.
    st = json.loads(c.sh("cat", "/run/sparkshim/t/state.json").stdout)
    assert st["state"] == "READY", st
    p = c.show("sparkshim@t", "ActiveState", "SubState", "MainPID", "StatusText", "NRestarts")
    assert p["ActiveState"] == "active" and p["SubState"] == "running", p
    assert p["StatusText"] == "serving Spark Connect at sc://127.0.0.1:15002", p
    pid = p["MainPID"]
    # A dynamic user, no capabilities, no new privileges, seccomp on.
    status = c.sh("cat", "/proc/%s/status" % pid).stdout
    uid = re.search(r"^Uid:\s+(\d+)", status, re.M).group(1)
    assert uid != "0", status
    assert re.search(r"^CapEff:\s+0+$", status, re.M), status
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.M), status
    assert re.search(r"^Seccomp:\s+2$", status, re.M), status
    assert c.sh("stat", "-c", "%u", "/var/lib/private/sparkshim/t").stdout.strip() == uid
    # Why the unit leaves MemoryDenyWriteExecute= off: the JVM cannot start.
    for mdwe, ok in (("no", True), ("yes", False)):
        r = c.sh("systemd-run", "--wait", "--pipe", "--quiet", "-p", "DynamicUser=yes",
                 "-p", "MemoryDenyWriteExecute=" + mdwe, JAVA_HOME + "/bin/java", "-version",
                 check=False)
        assert (r.returncode == 0) == ok, (mdwe, r.stdout, r.stderr)
        if not ok:
            assert "Failed to mark memory page as executable" in r.stdout + r.stderr
    # The control endpoint answers inside.
    r = c.sh(PREFIX + "/bin/sparkshim", "ctl", "--address", "127.0.0.1:15003", "status")
    assert "READY" in r.stdout
    c.sh("systemctl", "stop", "sparkshim@t")
    p = c.show("sparkshim@t", "ActiveState", "Result", "ExecMainStatus", "NRestarts")
    assert p == {"ActiveState": "inactive", "Result": "success", "ExecMainStatus": "0",
                 "NRestarts": "0"}, p
    log = c.sh("journalctl", "-u", "sparkshim@t", "--no-pager").stdout
    assert "stopped cleanly" in log, log[-3000:]


def test_unit_restarts_after_clean_exit_and_crash(container):
    """A dedicated engine comes back after an idle stop (any exit 0 systemctl
    did not ask for, here a control Stop) and after a crash (SIGKILL)."""
    c = container
    c.env("r", ENGINE_ARGS)
    c.sh("systemctl", "start", "sparkshim@r")
    first = c.show("sparkshim@r", "MainPID")["MainPID"]
    c.sh(PREFIX + "/bin/sparkshim", "ctl", "--address", "127.0.0.1:15003", "stop")

    def restarted(n):
        p = c.show("sparkshim@r", "NRestarts", "SubState", "MainPID", "StatusText")
        return p if p["NRestarts"] == str(n) and p["SubState"] == "running" and \
            p["StatusText"].startswith("serving") else None
    p = wait_for(lambda: restarted(1), 90, "restart after exit 0")
    assert p["MainPID"] != first
    c.sh("kill", "-KILL", p["MainPID"])
    wait_for(lambda: restarted(2), 90, "restart after SIGKILL")


@pytest.mark.parametrize("args,java_home,code", [("--stop-timeout bogus", JAVA_HOME, "64"),
                                                 (ENGINE_ARGS, "/usr", "67")])
def test_unit_does_not_restart_on_configuration_error(container, args, java_home, code):
    c = container
    c.env("bad", args, java_home)
    r = c.sh("systemctl", "start", "sparkshim@bad", check=False)
    assert r.returncode != 0
    # A restart would show as SubState=auto-restart right after the exit.
    p = c.show("sparkshim@bad", "ActiveState", "SubState", "Result", "ExecMainStatus",
               "NRestarts")
    assert p == {"ActiveState": "failed", "SubState": "failed", "Result": "exit-code",
                 "ExecMainStatus": code, "NRestarts": "0"}, \
        (p, c.sh("journalctl", "-u", "sparkshim@bad", "--no-pager").stdout[-2000:])


UDF_QUERY = """
from pyspark.sql import SparkSession
from pyspark.sql.functions import udf
# The front door admits the engine's user (here the unit's dynamic user) and
# sparkshim.connect.allowed.users only.
s = SparkSession.builder.remote("sc://127.0.0.1:15002/;user_id=sparkshim").getOrCreate()
print(s.range(100).selectExpr("sum(id) AS n").collect()[0].n)
double = udf(lambda x: x * 2, "long")
print(sorted(r[0] for r in s.range(5).select(double("id")).collect()))
s.stop()
"""


def test_unit_runs_real_spark_with_a_python_udf(tmp_path, shim_bin):
    """The sandbox holds for real Spark 4: the JIT (no MemoryDenyWriteExecute),
    Hadoop's user lookup of the dynamic user (nss-systemd), and Python UDF
    workers under the syscall filter and address family list."""
    from realspark import real_spark
    why = _can_boot()
    if why:
        pytest.skip(why)
    spark = real_spark()
    venv = os.path.dirname(os.path.dirname(spark["SPARK4_PYTHON"]))
    c = Container(tmp_path, extra_ro=[venv])
    try:
        (c.envs / "real.env").write_text(
            "SPARK_HOME=%s\nJAVA_HOME=%s\nPYSPARK_PYTHON=%s\nSPARKSHIM_ARGS=\"%s\"\n"
            % (spark["SPARK4_HOME"], JAVA_HOME, spark["SPARK4_PYTHON"], ENGINE_ARGS))
        c.sh("systemctl", "start", "sparkshim@real", timeout=300)
        r = c.sh("env", "HOME=/tmp", spark["SPARK4_PYTHON"], "-c", UDF_QUERY, check=False,
                 timeout=300)
        log = c.sh("journalctl", "-u", "sparkshim@real", "--no-pager").stdout
        assert r.returncode == 0 and r.stdout.split() == ["4950", "[0,", "2,", "4,", "6,", "8]"], \
            (r.stdout, r.stderr[-2000:], log[-3000:])
        c.sh("systemctl", "stop", "sparkshim@real", timeout=120)
        p = c.show("sparkshim@real", "Result", "ExecMainStatus")
        assert p == {"Result": "success", "ExecMainStatus": "0"}, p
    finally:
        c.close()
