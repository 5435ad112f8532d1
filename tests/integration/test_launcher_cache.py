"""The launcher cache: a warm start needs no launcher JVM and gets exactly the
command a fresh launcher run would give.

`sparkshim --print-launch-command` prints the driver command ("cmd X") and
what spark-env.sh sets ("env K=V") the way start_engine_jvm would use them,
and exits; with --log-level debug the log says "launcher cache: hit" or
"miss". A fresh run is --no-launcher-cache with the same arguments.

Per-launch values (refId, submit time, app name) differ between the run that
fills the cache and the run that hits it: the hit must carry the second
run's values. Runs on a copy of the stand-in home (so jars can be touched)
and on the real Spark 4.x home from `make deps`.
"""
import os
import shutil
import subprocess
import threading
import time

import pytest

from engine import (JDK_BIN, SHIM_BIN, STANDIN, Engine, config_call, loopback_args,
                    no_process_left, wait_for)
from realspark import real_spark

JDK17 = os.path.dirname(JDK_BIN)
JDK25 = "/usr/lib/jvm/temurin-25-jdk-amd64"


def per_launch(ref):
    """What a gateway changes on every launch."""
    return ["--conf", "spark.kyuubi.ha.engine.ref.id=%s" % ref,
            # taken per launch, not at collection: a slow run must not let it
            # pass the engine's submit timeout (exit 74)
            "--conf", "spark.kyuubi.engine.submit.time=%d" % (int(time.time() * 1000) - len(ref)),
            "--conf", "spark.yarn.tags=KYUUBI,%s" % ref,
            "--name", "kyuubi_USER_SPARK_CONNECT_alice_default_%s" % ref]


class Launch:
    def __init__(self, home, cache_dir, env=None, cwd=None):
        self.home = home
        self.cache_dir = str(cache_dir)
        self.env = dict(env or {})
        self.cwd = cwd

    def run(self, args, cache=True, ref="ref-a", env=None, shim=()):
        e = dict(os.environ)
        for k in ("SPARK_CONF_DIR", "NOTIFY_SOCKET", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS",
                  "SPARK_SUBMIT_OPTS", "HADOOP_CONF_DIR"):
            e.pop(k, None)
        e["SPARK_HOME"] = self.home
        e["JAVA_HOME"] = JDK17
        for k, v in list(self.env.items()) + list((env or {}).items()):
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
        argv = [SHIM_BIN, "--log-level", "debug", "--print-launch-command",
                "--cache-dir", self.cache_dir] + (["--no-launcher-cache"] if not cache else [])
        argv += list(shim) + ["--", "--master", "local[1]",
                              "--conf", "spark.connect.grpc.binding.port=0"]
        argv += per_launch(ref) + list(args)
        p = subprocess.run(argv, env=e, cwd=self.cwd, capture_output=True, timeout=120)
        out, err = p.stdout.decode(), p.stderr.decode()
        assert p.returncode == 0, "exit %d:\n%s" % (p.returncode, err[-3000:])
        source = ("hit" if "launcher cache: hit" in err else
                  "miss" if "launcher cache: miss" in err else
                  "fallback" if "launcher cache:" in err and "running Spark's launcher" in err
                  else "off")
        return out, source, err

    def check_equal_to_fresh(self, args=(), env=None, expect_first="miss"):
        """Fill (ref A), hit (ref B), compare with a fresh launcher run (ref B)."""
        out_a, src_a, err_a = self.run(args, ref="ref-a-1111", env=env)
        assert src_a == expect_first, err_a[-2000:]
        out_b, src_b, err_b = self.run(args, ref="ref-b-22", env=env)
        assert src_b == "hit", err_b[-2000:]
        fresh, src_f, _ = self.run(args, cache=False, ref="ref-b-22", env=env)
        assert src_f == "off"
        assert out_b == fresh
        assert "ref-b-22" in out_b and "ref-a-1111" not in out_b
        assert "@@sparkshim" not in out_b
        return out_b


def copy_standin(tmp_path):
    if not os.path.isdir(os.path.join(STANDIN, "jars")):
        pytest.skip("stand-in Spark home not built (make standin)")
    home = str(tmp_path / "spark-home")
    shutil.copytree(STANDIN, home, symlinks=True)
    return home


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def matrix(tmp_path):
    """(name, args, env) cases; files live under tmp_path."""
    conf = tmp_path / "conf"
    conf.mkdir(exist_ok=True)
    write(str(conf / "spark-env.sh"),
          "export SHIM_TEST_FROM_SPARK_ENV=yes\nSPARK_DRIVER_MEMORY=1200m\n")
    write(str(conf / "spark-defaults.conf"),
          "spark.driver.extraJavaOptions -Dfrom.defaults=1\n")
    props = tmp_path / "extra.properties"
    write(str(props), "spark.driver.memory 900m\nspark.driver.extraJavaOptions -Dfrom.props=2\n")
    return [
        ("plain", [], None),
        ("driver-memory", ["--driver-memory", "3g"], None),
        ("java-options", ["--conf", "spark.driver.extraJavaOptions=-Dx=1 -Dy=two words"], None),
        ("class-and-library-path", ["--driver-class-path", "/opt/x.jar:/opt/y/*",
                                    "--conf", "spark.driver.extraLibraryPath=/opt/native"], None),
        ("submit-opts-env", [], {"SPARK_SUBMIT_OPTS": "-Dsubmit.opts=1"}),
        ("conf-dir", [], {"SPARK_CONF_DIR": str(conf)}),
        ("properties-file", ["--properties-file", str(props)], None),
        ("kyuubi-confs", ["--conf", "spark.kyuubi.session.user=bob",
                          "--conf", "kyuubi.engine.share.level=USER"], None),
    ]


def test_cached_command_equals_fresh_launcher_run_standin(tmp_path, shim_bin):
    home = copy_standin(tmp_path)
    for name, args, env in matrix(tmp_path):
        lc = Launch(home, tmp_path / ("cache-" + name))
        lc.check_equal_to_fresh(args, env)


def test_cached_command_equals_fresh_launcher_run_real_spark(tmp_path):
    rs = real_spark()
    for name, args, env in matrix(tmp_path):
        lc = Launch(rs["SPARK4_HOME"], tmp_path / ("cache-" + name))
        out = lc.check_equal_to_fresh(args, env)
        if name == "driver-memory":
            assert "cmd -Xmx3g" in out.splitlines()
        if name == "conf-dir":
            assert "env SHIM_TEST_FROM_SPARK_ENV=yes" in out.splitlines()


def test_every_input_change_invalidates(tmp_path, shim_bin):
    home = copy_standin(tmp_path)
    conf = tmp_path / "conf"
    conf.mkdir()
    props = tmp_path / "p.properties"
    write(str(props), "spark.driver.memory 700m\n")
    lc = Launch(home, tmp_path / "cache", env={"SPARK_CONF_DIR": str(conf)})
    args = ["--properties-file", str(props)]
    state = {"args": list(args), "env": {}}

    def step(what, expect="miss"):
        """After a change: the first run misses and equals a fresh run; the
        next one hits."""
        out, src, err = lc.run(state["args"], env=state["env"], ref="r-" + what)
        assert src == expect, "%s: %s\n%s" % (what, src, err[-2000:])
        fresh, _, _ = lc.run(state["args"], env=state["env"], ref="r-" + what, cache=False)
        assert out == fresh, what
        _, src2, err2 = lc.run(state["args"], env=state["env"], ref="r2-" + what)
        assert src2 == "hit", "%s: %s\n%s" % (what, src2, err2[-2000:])
        return out

    step("first start")
    write(str(conf / "spark-env.sh"), "export A_FROM_ENV=1\n")
    step("spark-env.sh created")
    write(str(conf / "spark-env.sh"), "export A_FROM_ENV=2\n")
    out = step("spark-env.sh changed")
    assert "env A_FROM_ENV=2" in out.splitlines()
    write(str(conf / "spark-defaults.conf"), "spark.driver.memory 1100m\n")
    step("spark-defaults.conf created")
    write(str(conf / "java-opts"), "-Dfrom.java.opts=1\n")
    step("java-opts created")
    write(str(props), "spark.driver.memory 800m\n")
    step("properties file changed")
    state["env"]["SPARK_SUBMIT_OPTS"] = "-Dsubmit=1"
    step("SPARK_SUBMIT_OPTS set")
    state["env"]["SPARK_SUBMIT_OPTS"] = "-Dsubmit=2"
    step("SPARK_SUBMIT_OPTS changed")
    state["env"]["HADOOP_CONF_DIR"] = str(tmp_path)
    step("HADOOP_CONF_DIR set")
    state["env"]["YARN_CONF_DIR"] = str(tmp_path)
    step("YARN_CONF_DIR set")
    state["env"]["JDK_JAVA_OPTIONS"] = "-Dfrom.jdk.java.options=1"
    step("JDK_JAVA_OPTIONS set")
    state["env"]["_JAVA_OPTIONS"] = "-Dfrom.underscore=1"
    step("_JAVA_OPTIONS set")
    state["env"]["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    step("PATH changed")
    jar = os.path.join(home, "jars", "guava.jar")
    st = os.stat(jar)
    os.utime(jar, ns=(st.st_atime_ns, st.st_mtime_ns + 1000000000))
    step("a jar's mtime changed")
    shutil.copy(jar, os.path.join(home, "jars", "extra-lib-1.0.jar"))
    step("a jar added")
    with open(os.path.join(home, "bin", "load-spark-env.sh"), "a") as f:
        f.write("\nexport FROM_LOAD_SPARK_ENV=1\n")
    step("load-spark-env.sh changed")
    state["args"] += ["--driver-memory", "2g"]
    out = step("a spark-submit option added")
    assert "cmd -Xmx2g" in out.splitlines()
    state["args"] += ["--conf", "spark.driver.extraJavaOptions=-Dq=1"]
    step("a driver conf added")
    if os.path.isdir(JDK25):
        state["env"]["JAVA_HOME"] = JDK25
        out = step("another JDK")
        assert out.splitlines()[0] == "cmd %s/bin/java" % JDK25
    # Only per-launch values differ: still a hit.
    _, src, _ = lc.run(state["args"], env=state["env"], ref="completely-other-ref")
    assert src == "hit"


def test_off_switches(tmp_path, shim_bin):
    home = copy_standin(tmp_path)
    lc = Launch(home, tmp_path / "cache")
    _, src, _ = lc.run([], cache=False)
    assert src == "off"
    _, src, _ = lc.run(["--conf", "spark.sparkshim.launcher.cache=false"])
    assert src == "off"
    assert not os.path.exists(str(tmp_path / "cache"))


def test_unusable_cache_falls_back(tmp_path, shim_bin):
    home = copy_standin(tmp_path)
    fresh, _, _ = Launch(home, tmp_path / "c0").run([], cache=False)
    # A cache dir that cannot be created (its parent is a file): root can
    # write anywhere, so a read-only mode would prove nothing here.
    write(str(tmp_path / "afile"), "x")
    lc = Launch(home, tmp_path / "afile" / "cache")
    out, src, err = lc.run([])
    assert src == "miss" and out == fresh
    assert "cannot store the result" in err
    # A corrupt entry: warned about, launcher used, entry rewritten.
    lc = Launch(home, tmp_path / "cache")
    lc.run([])
    entries = [f for f in os.listdir(lc.cache_dir) if f.startswith("launcher-")]
    assert len(entries) == 1
    path = os.path.join(lc.cache_dir, entries[0])
    with open(path, "r+b") as f:
        f.seek(200)
        f.write(b"#garbage#")
    out, src, err = lc.run([])
    assert src == "fallback" and "corrupt" in err and out == fresh
    out, src, _ = lc.run([])
    assert src == "hit" and out == fresh
    # A directory where the entry should be: unusable, still a start.
    os.unlink(path)
    os.mkdir(path)
    out, src, err = lc.run([])
    assert out == fresh and src == "fallback"


def test_concurrent_starts(tmp_path, shim_bin):
    home = copy_standin(tmp_path)
    lc = Launch(home, tmp_path / "cache")
    fresh, _, _ = lc.run([], cache=False, ref="same")
    results = []

    def one():
        results.append(lc.run([], ref="same"))

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6
    for out, src, _ in results:
        assert out == fresh
    names = os.listdir(lc.cache_dir)
    assert len([n for n in names if n.startswith("launcher-")]) == 1, names
    assert not [n for n in names if n.startswith(".tmp")], names
    out, src, _ = lc.run([], ref="same")
    assert src == "hit" and out == fresh


def test_engine_started_from_the_cache_carries_this_launch_values(engines, tmp_path):
    cache = str(tmp_path / "cache")
    first = engines(loopback_args(shim=["--log-level", "debug", "--cache-dir", cache],
                                  extra=["--name", "first-app-r1"]))
    first.wait_ready(60)
    assert "launcher cache: miss" in first.stderr()
    first.stop()
    second = engines(loopback_args(shim=["--log-level", "debug", "--cache-dir", cache],
                                   extra=["--name", "second-app-r2"]))
    second.wait_ready(60)
    assert "launcher cache: hit" in second.stderr()
    resp = config_call(second.connect_port, keys=("spark.app.name",))
    assert b"second-app-r2" in resp and b"first-app" not in resp
    assert second.stop() == 0


# ---- the class-data archive (cds_archive.h) ----

def cds_files(cache):
    if not os.path.isdir(cache):
        return [], []
    names = os.listdir(cache)
    return ([n for n in names if n.startswith("cds-") and n.endswith(".jsa")],
            [n for n in names if n.startswith("cds-") and n.endswith(".tmp")])


def standin_empty_conf(tmp_path):
    """A stand-in home whose conf/ is empty: JDK 17 archives no class path
    with a non-empty directory on it."""
    home = copy_standin(tmp_path)
    conf = os.path.join(home, "conf")
    for n in os.listdir(conf):
        os.unlink(os.path.join(conf, n))
    return home


def cds_engine(engines, home, cache, name, extra_shim=()):
    e = engines(loopback_args(shim=["--log-level", "debug", "--cache-dir", cache] +
                              list(extra_shim)), spark_home=home, sub=name)
    e.wait_ready(90)
    return e


RECORDING = "recording the classes Spark loads"


def wait_dumped(e, timeout=240):
    """The background dump (idle priority, so bounded generously) ends."""
    wait_for(lambda: "class-data archive written" in e.stderr()
             or "the dump failed" in e.stderr(), timeout, "the class-data archive dump")
    assert "class-data archive written" in e.stderr(), e.stderr()[-3000:]


def test_cds_archive_dumped_used_and_a_bad_one_rebuilt(engines, tmp_path):
    home = standin_empty_conf(tmp_path)
    cache = str(tmp_path / "cache")
    os.makedirs(cache)
    stale = os.path.join(cache, "cds-0000.jsa.999999999.tmp")  # a dead process's dump
    write(stale, "x")
    e = cds_engine(engines, home, cache, "dump")
    assert RECORDING in e.stderr()
    assert not os.path.exists(stale)
    wait_dumped(e)
    assert e.stop() == 0
    archives, tmps = cds_files(cache)
    assert len(archives) == 1 and not tmps, os.listdir(cache)
    path = os.path.join(cache, archives[0])

    e = cds_engine(engines, home, cache, "use")
    assert "class-data archive in use" in e.stderr()
    config_call(e.connect_port)
    assert e.stop() == 0

    # Corrupt in the middle: the JVM's checksums refuse it; the start goes
    # on without it, the archive is deleted, the next start dumps again.
    # (mtime kept: the shim's own size/mtime check would catch it first)
    st = os.stat(path)
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        f.write(b"\x55" * 64)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    e = cds_engine(engines, home, cache, "corrupt")
    assert "was refused by the JVM" in e.stderr()
    assert not os.path.exists(path)
    assert e.stop() == 0
    e = cds_engine(engines, home, cache, "redump")
    assert RECORDING in e.stderr()
    wait_dumped(e)
    assert e.stop() == 0
    assert len(cds_files(cache)[0]) == 1

    # A class path that no longer matches (a jar changed): another key, so
    # another archive; an archive whose jar changed under the same name is
    # refused by the JVM's own class path check.
    jar = os.path.join(home, "jars", "guava.jar")
    st = os.stat(jar)
    os.utime(jar, ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))
    e = cds_engine(engines, home, cache, "newjar")
    assert RECORDING in e.stderr()
    wait_dumped(e)
    assert e.stop() == 0
    # Truncated (a full disk, a copy cut short): the JVM would take a SIGBUS
    # mapping it, so the shim's record of the written file refuses it first.
    archives, _ = cds_files(cache)
    assert len(archives) == 2
    for a in archives:
        p = os.path.join(cache, a)
        os.chmod(p, 0o644)
        os.truncate(p, 4096)
    e = cds_engine(engines, home, cache, "truncated")
    assert "truncated or changed" in e.stderr()
    assert RECORDING in e.stderr()
    wait_dumped(e)
    assert e.stop() == 0
    e = cds_engine(engines, home, cache, "after-truncated")
    assert "class-data archive in use" in e.stderr()
    assert e.stop() == 0


def test_cds_dump_dies_with_the_engine(engines, tmp_path):
    """An engine that stops while its dump runs takes the dump with it; the
    next start cleans up and records again."""
    home = standin_empty_conf(tmp_path)
    cache = str(tmp_path / "cache")
    e = cds_engine(engines, home, cache, "first")
    wait_for(lambda: "dumping in the background" in e.stderr(), 30, "the dump to start")
    pid = int(e.stderr().split("dumping in the background at idle priority (pid ")[1].split(")")[0])
    e.proc.kill()  # SIGKILL: no clean-up of ours runs
    e.wait_exit(30)
    wait_for(lambda: not os.path.exists("/proc/%d" % pid) or
             open("/proc/%d/stat" % pid).read().split()[2] == "Z", 30, "the dump to die")
    e = cds_engine(engines, home, cache, "second")
    archives, tmps = cds_files(cache)
    if not archives:  # the first dump had not finished: recorded again
        assert RECORDING in e.stderr()
        assert all(".%d." % e.pid in t for t in tmps), tmps
        # A clean stop while the dump runs: the dump is killed and reaped
        # before the engine exits, nothing is left.
        wait_for(lambda: "dumping in the background" in e.stderr(), 30, "the dump to start")
        pid = int(e.stderr().split("idle priority (pid ")[1].split(")")[0])
        assert e.stop() == 0
        assert no_process_left(pid)
    else:
        assert e.stop() == 0


def test_cds_off_and_non_empty_class_path_dir(engines, tmp_path):
    home = standin_empty_conf(tmp_path)
    cache = str(tmp_path / "cache")
    e = cds_engine(engines, home, cache, "off", extra_shim=["--no-cds"])
    assert e.stop() == 0
    assert cds_files(cache) == ([], [])
    # The stand-in as built has conf/*.template on the class path.
    e = cds_engine(engines, STANDIN, cache, "nonempty")
    assert "non-empty directory" in e.stderr()
    assert e.stop() == 0
    assert cds_files(cache) == ([], [])


def test_cds_on_real_spark(engines, tmp_path):
    rs = real_spark()
    cache = str(tmp_path / "cache")
    e = cds_engine(engines, rs["SPARK4_HOME"], cache, "dump")
    assert RECORDING in e.stderr()
    wait_dumped(e, 400)
    assert e.stop() == 0
    assert cds_files(cache)[1] == []
    assert len(cds_files(cache)[0]) == 1
    e = cds_engine(engines, rs["SPARK4_HOME"], cache, "use")
    assert "class-data archive in use" in e.stderr()
    assert "launcher cache: hit" in e.stderr()
    config_call(e.connect_port)
    assert e.stop() == 0
