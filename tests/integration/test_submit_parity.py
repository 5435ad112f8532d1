"""spark-submit argument parity: the shim reads a launch exactly as Spark does.

For each argument vector of ARGV, the shim's reader (build/tools/submit_view,
the code the engine runs: launcher/submit_args.c) turns it into a Spark
Connect launch and reads it; the very arguments it would hand on are then
given to Spark's own launcher (org.apache.spark.launcher.Main, from each
Spark home's jars: the stand-in 4.0/3.5 homes and the real 4.3 and 3.5.7
ones). Both must agree on the confs, main class, primary resource,
application arguments and the other options, or refuse with the same
message. One JVM per Spark home runs every vector (LauncherHarness below).

The engine-level tests at the end prove the consequences: with --bogus-flag
before the --confs, registration stays on and the advertised host is the
one asked for; Spark's refusals come before any JVM starts.
"""
import json
import os
import subprocess

import pytest

from engine import JDK_BIN, ROOT, SHIM_BIN, STANDIN, STANDIN_35
from realspark import real_spark

TOOLS = os.environ.get("SPARKSHIM_TOOLS", os.path.join(ROOT, "build", "tools"))
VIEW = os.path.join(TOOLS, "submit_view")
SCS = "org.apache.spark.sql.connect.service.SparkConnectServer"
SUBMIT = "org.apache.spark.deploy.SparkSubmit"

HARNESS = r"""
import java.io.*;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.util.*;

/* Runs Spark's launcher Main on each argument vector of the input file
 * (vectors separated by \u0001, arguments by \0) and prints, per vector,
 * one line: base64(stdout) base64(stderr). */
public class LauncherHarness {
  public static void main(String[] a) throws Exception {
    String in = new String(Files.readAllBytes(Paths.get(a[0])), StandardCharsets.UTF_8);
    Method main = Class.forName("org.apache.spark.launcher.Main")
        .getDeclaredMethod("main", String[].class);
    main.setAccessible(true);
    PrintStream realOut = System.out, realErr = System.err;
    Base64.Encoder b64 = Base64.getEncoder();
    for (String vec : in.split("\u0001", -1)) {
      List<String> args = new ArrayList<>();
      args.add("org.apache.spark.deploy.SparkSubmit");
      if (!vec.isEmpty()) args.addAll(Arrays.asList(vec.split("\0", -1)));
      ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
      System.setOut(new PrintStream(out, true, "UTF-8"));
      System.setErr(new PrintStream(err, true, "UTF-8"));
      try {
        main.invoke(null, (Object) args.toArray(new String[0]));
      } catch (java.lang.reflect.InvocationTargetException e) {
        System.err.println("Exception: " + e.getCause());
      } finally {
        System.out.flush();
        System.err.flush();
        System.setOut(realOut);
        System.setErr(realErr);
      }
      realOut.println(b64.encodeToString(out.toByteArray()) + " "
          + b64.encodeToString(err.toByteArray()));
    }
    realOut.flush();
  }
}
"""


def homes():
    rs = real_spark()
    return [
        ("standin-4.0", STANDIN, "4.0.1", "2.13"),
        ("standin-3.5", STANDIN_35, "3.5.3", "2.12"),
        ("real-4.3", rs["SPARK4_HOME"], "4.3.0", "2.13"),
        ("real-3.5", rs["SPARK35_HOME"], "3.5.7", "2.12"),
    ]


def argv_table(tmp):
    props = os.path.join(tmp, "p.conf")
    extra = os.path.join(tmp, "extra.conf")
    for f in (props, extra):
        with open(f, "w") as fh:
            fh.write("spark.from.file=1\n")
    return [
        # The issue's example: an unknown switch before the --confs.
        ["--bogus-flag", "--conf", "spark.kyuubi.ha.addresses=127.0.0.1:2181",
         "--conf", "spark.connect.grpc.binding.address=127.0.0.1"],
        ["--load-spark-defaults", "--conf", "spark.a=b"],
        ["--verbose", "-v", "--supervise", "--conf", "a=1", "-c", "b=2", "--conf=c=3=4",
         "--conf", "a=5"],
        ["--master", "local[2]", "--deploy-mode", "client", "--remote", "sc://h", "--name", "n",
         "--jars", "x.jar", "--packages", "g:a:1", "--exclude-packages", "g:b",
         "--repositories", "r", "--py-files", "p.py", "--files", "f", "--archives", "a.zip",
         "--driver-memory", "1g", "--driver-java-options", "-Dx=1", "--driver-library-path",
         "/lib", "--driver-class-path", "/cp", "--executor-memory", "1g", "--proxy-user", "u",
         "--driver-cores", "1", "--total-executor-cores", "2", "--executor-cores", "1",
         "--num-executors", "2", "--principal", "p", "--keytab", "k", "--queue", "q"],
        ["--driver-default-class-path", "/d", "--conf", "x=y"],
        ["--extra-properties-file", extra, "--conf", "x=y"],
        ["--properties-file", props, "--load-spark-defaults", "--conf", "x=y"],
        ["--verbose=yes", "--bogus=1", "--conf=", "-c=a=b", "--=x", "-x", "--conf", "k=v"],
        ["--conf", "a=b", "app.jar", "arg1", "--conf", "c=d"],
        ["--class", "org.apache.kyuubi.engine.spark.SparkSQLEngine", "--conf", "a=b",
         "--proxy-user", "bob", "kyuubi.jar", "--conf", "c=d"],
        ["--class", "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2", "--conf", "a=b",
         "--hiveconf", "x", "--conf", "c=d"],
        ["--class", SCS, "--conf", "a=b", "x", "--conf", "c=d"],
        ["--class=" + SCS, "--name=spark-connect", "--conf", "a=b"],
        ["--master=local", "--master", "local[3]", "--conf", "a=b"],
        ["--conf", "a=", "--conf", "=v", "--conf", "multi=x\ny"],
        ["--conf=spark.nl=x\ny", "--conf", "z=1"],
        ["--kill", "sub-1", "--status", "sub-2"],
        # Refused by Spark, so by the shim: same message.
        ["--bogus", "--class", SCS],
        ["--conf", "novalue"],
        ["--conf"],
        ["-c"],
        ["--conf", "a=b", "--class"],
        ["--properties-file", os.path.join(tmp, "missing.conf")],
        ["--driver-java-options", "-Dx=1 '-Xmx1g'"],
        ["--conf", "spark.driver.defaultJavaOptions=-Xmx1g", "--conf",
         "spark.driver.extraJavaOptions=-Xmx2g"],
        ["--driver-java-options", "-Dx=-Xmx1g \\-Xmx"],
        ["--extra-properties-file", os.path.join(tmp, "missing.conf"), "--conf", "a=b"],
    ]


def shim_view(version, argv):
    p = subprocess.run([VIEW, version, "--connect", "--"] + argv, capture_output=True,
                       text=True, timeout=30)
    assert p.returncode in (0, 1), p.stderr
    return json.loads(p.stdout)


def run_launcher(tmp, home, scala, vectors):
    """Spark's launcher on each vector: list of (stdout, stderr)."""
    src = os.path.join(tmp, "LauncherHarness.java")
    with open(src, "w") as f:
        f.write(HARNESS)
    classes = os.path.join(tmp, "classes")
    subprocess.run([os.path.join(JDK_BIN, "javac"), "-d", classes, src], check=True,
                   timeout=120)
    inp = os.path.join(tmp, "vectors.bin")
    with open(inp, "wb") as f:
        f.write(b"\x01".join(b"\x00".join(a.encode() for a in v) for v in vectors))
    conf_dir = os.path.join(tmp, "empty-conf")
    os.makedirs(conf_dir, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", ""), "SPARK_HOME": home,
           "SPARK_SCALA_VERSION": scala, "SPARK_CONF_DIR": conf_dir,
           "JAVA_HOME": os.path.dirname(JDK_BIN)}
    p = subprocess.run([os.path.join(JDK_BIN, "java"), "-cp",
                        classes + ":" + os.path.join(home, "jars", "*"), "LauncherHarness", inp],
                       capture_output=True, env=env, timeout=300, cwd=tmp)
    assert p.returncode == 0, p.stderr.decode()
    import base64
    lines = p.stdout.decode().splitlines()
    assert len(lines) == len(vectors), p.stderr.decode()
    out = []
    for line in lines:
        o, e = line.split(" ")
        out.append((base64.b64decode(o).decode(), base64.b64decode(e).decode()))
    return out


def spark_reading(stdout, stderr):
    """What the launcher made of a launch, in the shim tool's terms."""
    errs = [l[len("Error: "):] for l in stderr.splitlines() if l.startswith("Error: ")]
    if errs:
        return {"error": errs[0]}
    assert "Exception" not in stderr, stderr
    toks = stdout.split("\0")
    if toks and toks[-1] == "":
        toks.pop()
    toks = toks[toks.index(SUBMIT) + 1:]
    r = {"error": None, "conf": {}, "head": {}, "class": None, "properties_file": None,
         "extra_properties": [], "load_defaults": False}
    i = 0
    while i < len(toks):
        t = toks[i]
        if t in ("--master", "--remote", "--deploy-mode"):
            r["head"][t] = toks[i + 1]
        elif t == "--conf":
            k, v = toks[i + 1].split("=", 1)
            r["conf"][k] = v
        elif t == "--properties-file":
            r["properties_file"] = toks[i + 1]
        elif t == "--extra-properties-file":
            r["extra_properties"].append(toks[i + 1])
        elif t == "--load-spark-defaults":
            r["load_defaults"] = True
            i -= 1
        elif t == "--class":
            r["class"] = toks[i + 1]
            i += 2
            break
        else:
            break
        i += 2
    rest = toks[i:]
    # The server's resource is Spark's own; what comes before it are the
    # options handed on, what follows the application's arguments.
    at = rest.index("spark-internal")
    r["passed"], r["resource"], r["app_args"] = rest[:at], rest[at], rest[at + 1:]
    return r


COMPARED = ("conf", "head", "class", "resource", "app_args", "passed", "properties_file",
            "extra_properties", "load_defaults")


@pytest.mark.parametrize("name,home,version,scala", homes(), ids=[h[0] for h in homes()])
def test_shim_reads_arguments_as_spark_does(tmp_path, name, home, version, scala):
    tmp = str(tmp_path)
    table = argv_table(tmp)
    views = [shim_view(version, argv) for argv in table]
    spark = run_launcher(tmp, home, scala, [v["final"] for v in views])
    diffs = []
    for argv, view, (out, err) in zip(table, views, spark):
        want = spark_reading(out, err)
        if want["error"] is not None or view["error"] is not None:
            if want["error"] != view["error"]:
                diffs.append("%r: spark error %r, shim error %r" % (argv, want["error"],
                                                                  view["error"]))
            continue
        for k in COMPARED:
            got = view[k]
            if k == "conf":
                got = dict(got)
            if got != want[k]:
                diffs.append("%r: %s: spark %r, shim %r" % (argv, k, want[k], got))
    assert not diffs, "\n".join(diffs)


def test_replaced_class_drops_the_other_engines_arguments(tmp_path):
    """Kyuubi's own engine class: replaced, its jar and arguments dropped,
    its options kept; and the reading stays Spark's."""
    v = shim_view("4.3.0", argv_table(str(tmp_path))[9])
    assert v["replaced"] == "org.apache.kyuubi.engine.spark.SparkSQLEngine"
    assert v["final"] == ["--class", SCS, "--conf", "a=b", "--proxy-user", "bob"]
    assert v["app_args"] == [] and v["conf"] == {"a": "b"}
