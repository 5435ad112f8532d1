"""Issue 15 item 5: the JNI method descriptors the shim resolves
(GetMethodID / GetStaticMethodID / GetStaticFieldID by name and erased
signature, jni/jvm_host.c) checked against the REAL Spark jars of the pinned
PySpark installs (`make deps`: Spark 4.3 in .venv, 3.5.7 + the Maven connect
jar), not against the stand-in, which was written to match them.

The (name, descriptor) pairs are read from the shim's source, so a
descriptor changed in the C code is checked against Spark as it is.
A missing install fails (realspark.real_spark), it never skips."""
import os
import re
import subprocess

import pytest

from engine import JDK_BIN, ROOT
from realspark import real_spark

JAVAP = os.path.join(JDK_BIN, "javap")
JVM_HOST = os.path.join(ROOT, "jni", "jvm_host.c")
JNI_UTIL = os.path.join(ROOT, "jni", "jni_util.c")

SVC = "org.apache.spark.sql.connect.service.SparkConnectService$"
SC = "org.apache.spark.SparkContext"
# Which Spark class each method the shim calls by name lives on. Methods on
# Scala/Java library types (Option.isEmpty, Either.isLeft, Seq.length, ...)
# are not Spark's and not listed.
NAME_CLASS = {
    "localPort": SVC,
    "stop": SVC,
    "listActiveExecutions": SVC,
    "sessionManager": SVC,
    "userSessionMapping": SVC,
    "listActiveSessions": "org.apache.spark.sql.connect.service.SparkConnectSessionManager",
    "lastAccessTimeMs": "org.apache.spark.sql.connect.service.SessionHolderInfo",
    "getActive": SC + "$",
    "uiWebUrl": SC,
    "setLogLevel": SC,
}
# Which of them each Spark line has (the shim tries the others and copes).
ONLY_IN = {"sessionManager": "4", "listActiveSessions": "4", "lastAccessTimeMs": "4",
           "userSessionMapping": "3.5"}
# ju_call_string(env, obj, name, ...): a no-argument String method.
STRING_GETTERS = {"applicationId": SC, "appName": SC, "version": SC}
# ExecuteInfo's "detached since" mark: one of these per version.
DETACHED_MARKS = ("lastAttachedRpcTimeNs", "lastAttachedRpcTime", "lastAttachedRpcTimeMs")
EXECUTE_INFO = "org.apache.spark.sql.connect.service.ExecuteInfo"


def shim_calls():
    """{name: {descriptor}} from jni/jvm_host.c: "name", "descriptor" pairs
    and "name", MACRO with #define MACRO "descriptor"."""
    src = open(JVM_HOST).read()
    macros = dict(re.findall(r'#define\s+(\w+)\s+"([^"]*)"', src))
    calls = {}
    for name, desc, macro in re.findall(r'"([\w$]+)",\s*(?:"(\([^"]*)"|([A-Z_]+_SIG)\b)', src):
        calls.setdefault(name, set()).add(desc or macros[macro])
    return calls


def javap(cp, cls):
    r = subprocess.run([JAVAP, "-s", "-p", "-cp", cp, cls], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, "javap %s: %s" % (cls, r.stderr or r.stdout)
    return r.stdout


def members(out):
    """{(name, descriptor)} of a javap -s -p listing."""
    got, name = set(), None
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("descriptor:"):
            if name:
                got.add((name, line.split(":", 1)[1].strip()))
            name = None
            continue
        m = re.search(r"([\w$]+)\(", line) or re.search(r"([\w$]+);$", line)
        name = m.group(1) if m else None
    return got


def check_home(cp, line, classes_cache):
    def of(cls):
        if cls not in classes_cache:
            classes_cache[cls] = members(javap(cp, cls))
        return classes_cache[cls]

    calls = shim_calls()
    wrong = []
    for name, cls in NAME_CLASS.items():
        assert name in calls, "the shim no longer calls %s: update NAME_CLASS" % name
        if ONLY_IN.get(name, line) != line:
            continue
        for desc in calls[name]:
            if (name, desc) not in of(cls):
                wrong.append("%s.%s%s" % (cls, name, desc))
    for name, cls in STRING_GETTERS.items():
        assert re.search(r'ju_call_string\(env, \w+, "%s"' % name, open(JVM_HOST).read()), name
        if (name, "()Ljava/lang/String;") not in of(cls):
            wrong.append("%s.%s()Ljava/lang/String;" % (cls, name))
    # the Scala objects' MODULE$ fields (ju_scala_object: GetStaticFieldID)
    assert '"MODULE$"' in open(JNI_UTIL).read()
    for obj in (SVC, SC + "$"):
        if ("MODULE$", "L%s;" % obj.replace(".", "/")) not in of(obj):
            wrong.append("%s.MODULE$" % obj)
    # at least one of the detached marks the shim tries
    src = open(JVM_HOST).read()
    assert all('"%s"' % m in src for m in DETACHED_MARKS)
    if not any((m, "()Lscala/Option;") in of(EXECUTE_INFO) for m in DETACHED_MARKS):
        wrong.append("%s: none of %s" % (EXECUTE_INFO, DETACHED_MARKS))
    # main(String[]): SparkSubmit, run through JNI, and the launcher's Main
    main_desc = re.search(r'GetStaticMethodID\(env, cls, "main", "([^"]+)"\)', src).group(1)
    for cls in ("org.apache.spark.deploy.SparkSubmit", "org.apache.spark.launcher.Main"):
        if ("main", main_desc) not in of(cls):
            wrong.append("%s.main%s" % (cls, main_desc))
    # Reached by name (ju_call_by_name: grpc's Server is shaded per build):
    # SparkConnectService.server() and that class's shutdownNow().
    for name in ("server", "shutdownNow"):
        assert re.search(r'ju_call_by_name\(env, \w+, "%s"' % name, src), name
    srv = [d for n, d in of(SVC) if n == "server" and d.startswith("()L")]
    if not srv:
        wrong.append("%s.server()" % SVC)
    else:
        srv_cls = srv[0][3:-1].replace("/", ".")
        if ("shutdownNow", srv[0]) not in of(srv_cls):  # returns the Server too
            wrong.append("%s.shutdownNow()" % srv_cls)
    assert not wrong, "not in real Spark %s: %s" % (line, wrong)


def test_descriptors_match_real_spark_4():
    home = real_spark()["SPARK4_HOME"]
    check_home(os.path.join(home, "jars", "*"), "4", {})


def test_descriptors_match_real_spark_35():
    rs = real_spark()
    cp = os.path.join(rs["SPARK35_HOME"], "jars", "*") + ":" + rs["SPARK35_CONNECT_JAR"]
    check_home(cp, "3.5", {})


@pytest.mark.parametrize("text,expected", [
    ("  public int localPort();\n    descriptor: ()I\n", {("localPort", "()I")}),
    ("  public static final a.B$ MODULE$;\n    descriptor: La/B$;\n", {("MODULE$", "La/B$;")}),
])
def test_javap_parser(text, expected):
    assert members(text) == expected
