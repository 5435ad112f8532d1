"""scripts/spark-submit-wrapper.sh: marker detection, byte-exact argument
pass-through, lookup order, recursion guards, shellcheck.

Fake programs stand in for spark-submit and sparkshim: each dumps its name
and argv NUL-separated to $DUMP_FILE and exits 7, so a test sees exactly
what was exec'd with which arguments, and that the status comes through.
"""
import os
import shutil
import subprocess

import pytest

from exitcodes import EXIT_USAGE  # the wrapper exits like sparkshim on bad config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WRAPPER = os.path.join(ROOT, "scripts", "spark-submit-wrapper.sh")
CONNECT_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
SHELLS = [s for s in ("/bin/dash", "/bin/bash") if os.path.exists(s)]

FAKE = """#!/bin/sh
{ printf '%s\\0' "NAME" "$0"; for a; do printf '%s\\0' "$a"; done; } > "$DUMP_FILE"
exit 7
"""

# Arguments that break naive quoting: spaces, quotes, '=', newlines, empty
# strings, globs, backslashes, $-expansions, option look-alikes, UTF-8.
NASTY = ["", " ", "a b", "it's", 'say "hi"', "k=v=w", "line1\nline2", "*", "?[a]",
         "back\\slash", "$HOME", "`id`", "$(id)", "-", "--", "--conf", "tab\there",
         "trailing\n", "\u00e9t\u00e9", ";", "&&", "|"]


def make_fake(path, name):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(FAKE.replace("NAME", name))
    os.chmod(path, 0o755)


class World:
    """A temp tree: a Spark home with a fake spark-submit, an installed
    layout PREFIX/{bin/sparkshim, libexec/sparkshim/spark-submit-wrapper.sh},
    another sparkshim on PATH, and a dump file."""

    def __init__(self, tmp, shell):
        self.tmp = str(tmp)
        self.shell = shell
        self.spark_home = os.path.join(self.tmp, "spark")
        make_fake(os.path.join(self.spark_home, "bin", "spark-submit"), "spark-submit")
        self.prefix = os.path.join(self.tmp, "prefix")
        make_fake(os.path.join(self.prefix, "bin", "sparkshim"), "prefix-sparkshim")
        self.installed = os.path.join(self.prefix, "libexec", "sparkshim",
                                      "spark-submit-wrapper.sh")
        os.makedirs(os.path.dirname(self.installed))
        shutil.copy2(WRAPPER, self.installed)
        self.pathbin = os.path.join(self.tmp, "pathbin")
        make_fake(os.path.join(self.pathbin, "sparkshim"), "path-sparkshim")
        self.dump = os.path.join(self.tmp, "dump")

    def env(self, **extra):
        env = {"PATH": f"{self.pathbin}:/usr/bin:/bin", "DUMP_FILE": self.dump,
               "SPARK_HOME": self.spark_home}
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env

    def run(self, args, script=None, **env):
        if os.path.exists(self.dump):
            os.unlink(self.dump)
        p = subprocess.run([self.shell, script or WRAPPER] + list(args),
                           env=self.env(**env), capture_output=True, timeout=30)
        dumped = None
        if os.path.exists(self.dump):
            with open(self.dump, "rb") as f:
                parts = f.read().decode().split("\0")
            assert parts[-1] == ""
            dumped = (parts[0], parts[1], parts[2:-1])
        return p, dumped


@pytest.fixture(params=SHELLS)
def world(tmp_path, request):
    return World(tmp_path, request.param)


def kyuubi_args(*middle, jar="/opt/kyuubi/externals/engines/spark/engine.jar"):
    """Shaped like SparkProcessBuilder's command line (after the executable)."""
    return (["--class", "org.apache.kyuubi.engine.spark.SparkSQLEngine"] + list(middle) +
            ["--conf", "spark.kyuubi.ha.addresses=127.0.0.1:2181",
             "--conf", "spark.app.name=kyuubi_USER_SPARK_CONNECT_bob_default_x",
             "--proxy-user", "bob", jar])


def test_shellcheck_clean():
    assert shutil.which("shellcheck"), "shellcheck is required (make deps)"
    p = subprocess.run(["shellcheck", "-s", "sh", WRAPPER], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_pass_through_is_byte_exact(world):
    args = ["--master", "local[*]"] + NASTY + ["app.jar", "--conf"] + NASTY
    p, dumped = world.run(args)
    assert p.returncode == 7, p.stderr
    assert p.stderr == b"" and p.stdout == b""
    name, argv0, argv = dumped
    assert name == "spark-submit"
    assert argv0 == os.path.join(world.spark_home, "bin", "spark-submit")
    assert argv == args


def test_no_arguments_pass_through(world):
    p, dumped = world.run([])
    assert p.returncode == 7
    assert dumped[0] == "spark-submit" and dumped[2] == []


@pytest.mark.parametrize("marker", [
    ["--conf", "spark.kyuubi.engine.type=SPARK_CONNECT"],
    ["--conf", "spark.kyuubi.engine.type=spark_connect"],
    ["-c", "spark.kyuubi.engine.type=Spark_Connect"],
    ["--conf=spark.kyuubi.engine.type=SPARK_CONNECT"],
])
def test_engine_type_marker_goes_to_sparkshim(world, marker):
    args = kyuubi_args(*marker)
    p, dumped = world.run(args + NASTY)
    assert p.returncode == 7, p.stderr
    assert dumped[0] == "prefix-sparkshim" or dumped[0] == "path-sparkshim"
    assert dumped[2] == args + NASTY


@pytest.mark.parametrize("marker", [
    ["--class", CONNECT_CLASS],
    [f"--class={CONNECT_CLASS}"],
])
def test_connect_class_marker_goes_to_sparkshim(world, marker):
    args = marker + ["--conf", "spark.connect.grpc.binding.port=0", "--verbose", "x.jar"]
    p, dumped = world.run(args, SPARKSHIM_BIN=os.path.join(world.prefix, "bin", "sparkshim"))
    assert p.returncode == 7, p.stderr
    assert dumped[0] == "prefix-sparkshim"
    assert dumped[2] == args


@pytest.mark.parametrize("args", [
    kyuubi_args("--conf", "spark.kyuubi.engine.type=SPARK_SQL"),
    kyuubi_args(),
    # The last setting of the key counts, as in spark-submit.
    kyuubi_args("--conf", "spark.kyuubi.engine.type=SPARK_CONNECT",
                "--conf", "spark.kyuubi.engine.type=SPARK_SQL"),
    # After the application jar everything is an application argument.
    ["--master", "local", "app.jar", "--conf", "spark.kyuubi.engine.type=SPARK_CONNECT"],
    ["app.jar", "--class", CONNECT_CLASS],
    # "--conf" here is the value of --name; the marker is then the jar.
    ["--name", "--conf", "spark.kyuubi.engine.type=SPARK_CONNECT"],
    # Near misses.
    ["--conf", "spark.kyuubi.engine.typeX=SPARK_CONNECT", "x.jar"],
    ["--conf", "kyuubi.engine.type=SPARK_CONNECT", "x.jar"],
    ["--conf", "spark.kyuubi.engine.type=SPARK_CONNECTED", "x.jar"],
    ["--class", CONNECT_CLASS + "X", "x.jar"],
    # spark-submit needs a non-empty value after "--opt=": this ends parsing.
    ["--conf=", "--conf", "spark.kyuubi.engine.type=SPARK_CONNECT"],
    # An unknown option ends parsing (spark-submit rejects it anyway).
    ["--bogus", "--class", CONNECT_CLASS],
    ["-c=spark.kyuubi.engine.type=SPARK_CONNECT", "x.jar"],
])
def test_non_connect_launches_pass_through(world, args):
    p, dumped = world.run(args)
    assert p.returncode == 7, p.stderr
    assert dumped[0] == "spark-submit"
    assert dumped[2] == args


def test_switches_do_not_end_option_parsing(world):
    args = ["--verbose", "-v", "--supervise", "--verbose=true", "--conf",
            "spark.kyuubi.engine.type=SPARK_CONNECT", "x.jar"]
    p, dumped = world.run(args)
    assert dumped[0] in ("prefix-sparkshim", "path-sparkshim") and dumped[2] == args


def test_sparkshim_lookup_order(world):
    args = kyuubi_args("--conf", "spark.kyuubi.engine.type=SPARK_CONNECT")
    # 1. $SPARKSHIM_BIN wins.
    own = os.path.join(world.tmp, "own", "sparkshim")
    make_fake(own, "own-sparkshim")
    p, dumped = world.run(args, script=world.installed, SPARKSHIM_BIN=own)
    assert (p.returncode, dumped[0], dumped[1]) == (7, "own-sparkshim", own)
    # 2. Installed layout: PREFIX/libexec/sparkshim/ -> PREFIX/bin/sparkshim,
    #    even with another sparkshim on PATH.
    p, dumped = world.run(args, script=world.installed)
    assert dumped[0] == "prefix-sparkshim"
    assert os.path.realpath(dumped[1]) == os.path.join(world.prefix, "bin", "sparkshim")
    # ... also when the gateway runs it through a symlink elsewhere.
    link = os.path.join(world.tmp, "links", "spark-submit")
    os.makedirs(os.path.dirname(link))
    os.symlink(world.installed, link)
    p, dumped = world.run(args, script=link)
    assert dumped[0] == "prefix-sparkshim"
    # 3. PATH when the script is not installed next to a sparkshim.
    p, dumped = world.run(args)
    assert dumped[0] == "path-sparkshim" and dumped[2] == args
    # 4. Nothing: 127 and one line.
    p, dumped = world.run(args, PATH="/usr/bin:/bin")
    assert p.returncode == 127 and dumped is None
    err = p.stderr.decode()
    assert err.count("\n") == 1 and "sparkshim not found" in err
    # A SPARKSHIM_BIN that is not executable is an error, not skipped.
    p, dumped = world.run(args, SPARKSHIM_BIN=os.path.join(world.tmp, "nope"))
    assert p.returncode == 127 and dumped is None
    assert "SPARKSHIM_BIN=" in p.stderr.decode()


def test_real_spark_submit_lookup(world):
    other = os.path.join(world.tmp, "other-spark", "bin", "spark-submit")
    make_fake(other, "other-spark-submit")
    p, dumped = world.run(["x.jar"], SPARKSHIM_REAL_SPARK_SUBMIT=other)
    assert (p.returncode, dumped[0]) == (7, "other-spark-submit")
    # An override works without SPARK_HOME too.
    p, dumped = world.run(["x.jar"], SPARKSHIM_REAL_SPARK_SUBMIT=other, SPARK_HOME=None)
    assert dumped[0] == "other-spark-submit"


def test_spark_home_unset_is_exit_64(world):
    p, dumped = world.run(["--version"], SPARK_HOME=None)
    assert p.returncode == EXIT_USAGE and dumped is None
    err = p.stderr.decode()
    assert err.count("\n") == 1
    assert err.startswith("spark-submit-wrapper: error: SPARK_HOME is not set")
    p, dumped = world.run(["--version"], SPARK_HOME="")
    assert p.returncode == EXIT_USAGE


def test_missing_real_spark_submit_is_127(world):
    p, dumped = world.run(["x.jar"], SPARK_HOME=os.path.join(world.tmp, "empty"))
    assert p.returncode == 127 and dumped is None
    assert "is not an executable file" in p.stderr.decode()


def test_wrapper_installed_as_spark_submit_via_symlink(world):
    """SPARK_HOME/bin/spark-submit -> wrapper, no override: refuse, never loop."""
    target = os.path.join(world.spark_home, "bin", "spark-submit")
    os.unlink(target)
    os.symlink(world.installed, target)
    p, dumped = world.run(["x.jar"], script=target)
    assert p.returncode == EXIT_USAGE and dumped is None
    assert "SPARKSHIM_REAL_SPARK_SUBMIT" in p.stderr.decode()
    # With the override it works, and connect launches still go to sparkshim.
    real = os.path.join(world.tmp, "real", "spark-submit")
    make_fake(real, "real-spark-submit")
    p, dumped = world.run(["x.jar"], script=target, SPARKSHIM_REAL_SPARK_SUBMIT=real)
    assert (p.returncode, dumped[0]) == (7, "real-spark-submit")
    p, dumped = world.run(["--class", CONNECT_CLASS, "x.jar"], script=target)
    assert dumped[0] == "prefix-sparkshim"


def test_wrapper_copied_over_spark_submit(world):
    """A copy defeats the path check; the pid guard still stops the loop."""
    target = os.path.join(world.spark_home, "bin", "spark-submit")
    shutil.copy2(WRAPPER, target)
    p, dumped = world.run(["x.jar"])
    assert p.returncode == EXIT_USAGE and dumped is None
    err = p.stderr.decode()
    assert err.count("\n") == 1 and "is the wrapper itself" in err


def test_sparkshim_bin_pointing_at_wrapper(world):
    p, dumped = world.run(["--class", CONNECT_CLASS, "x.jar"], SPARKSHIM_BIN=WRAPPER)
    assert p.returncode == EXIT_USAGE and dumped is None


def test_exit_status_and_stdio_come_through(world):
    script = os.path.join(world.tmp, "talk", "spark-submit")
    os.makedirs(os.path.dirname(script))
    with open(script, "w") as f:
        f.write("#!/bin/sh\necho out; echo err >&2; read -r line; echo \"got $line\"; exit 42\n")
    os.chmod(script, 0o755)
    p = subprocess.run([world.shell, WRAPPER, "x"], input=b"hello\n", capture_output=True,
                       env=world.env(SPARKSHIM_REAL_SPARK_SUBMIT=script), timeout=30)
    assert p.returncode == 42
    assert p.stdout == b"out\ngot hello\n" and p.stderr == b"err\n"


def test_debug_output(world):
    p, dumped = world.run(["x.jar"], SPARKSHIM_WRAPPER_DEBUG="1")
    assert b"pass-through: exec" in p.stderr
