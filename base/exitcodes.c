/* The exit code table (see exitcodes.h). The meanings are the README's
 * words, checked both ways by tests/unit/test_exitcodes.c. */
#include "base/exitcodes.h"


const struct exit_code_info exit_codes[] = {
	{EXIT_CLEAN, "EXIT_CLEAN", "0",
	 "stopped cleanly (signal, control Stop, gateway deleted the node, idle timeout, max lifetime)"},
	{EXIT_INTERNAL, "EXIT_INTERNAL", "1", "internal error"},
	{EXIT_USAGE, "EXIT_USAGE", "64", "bad command line or configuration value"},
	{EXIT_BAD_SPARK_HOME, "EXIT_BAD_SPARK_HOME", "66",
	 "`SPARK_HOME` missing or not a Spark distribution; Spark's launcher failed"},
	{EXIT_NO_JAVA, "EXIT_NO_JAVA", "67",
	 "no usable Java (`JAVA_HOME`, `java` on `PATH`, `libjvm.so`)"},
	{EXIT_JVM_CREATE, "EXIT_JVM_CREATE", "68", "`JNI_CreateJavaVM` failed (e.g. a bad JVM option)"},
	{EXIT_SPARK_START, "EXIT_SPARK_START", "69",
	 "Spark failed to start (exception or `System.exit` during start-up; the exception is named)"},
	{EXIT_PORT_IN_USE, "EXIT_PORT_IN_USE", "70", "the connect (or control) port is in use"},
	{EXIT_START_TIMEOUT, "EXIT_START_TIMEOUT", "71",
	 "the connect port did not answer within the start timeout"},
	{EXIT_ALREADY_RUNNING, "EXIT_ALREADY_RUNNING", "72",
	 "the pid file is locked by another running instance"},
	{EXIT_REGISTER, "EXIT_REGISTER", "73", "registration with the gateway failed"},
	{EXIT_SUBMIT_EXPIRED, "EXIT_SUBMIT_EXPIRED", "74",
	 "`spark.kyuubi.engine.submit.time` is older than the initialize timeout"},
	{EXIT_JVM_CRASH, "EXIT_JVM_CRASH", "75",
	 "the JVM crashed (fatal error: SIGSEGV, abort; see `hs_err_pid*.log`)"},
	{EXIT_SPARK_DIED, "EXIT_SPARK_DIED", "76", "Spark stopped or failed on its own while serving"},
	{EXIT_JVM_OOM, "EXIT_JVM_OOM", "77", "the JVM ran out of memory"},
	{EXIT_STOP_TIMEOUT, "EXIT_STOP_TIMEOUT", "78",
	 "a graceful stop exceeded its budget and was forced"},
	{EXIT_BAD_HOST, "EXIT_BAD_HOST", "79",
	 "the engine's host (advertised host, `spark.driver.host`) does not resolve"},
	{EXIT_SIGNAL_BASE, "EXIT_SIGNAL_BASE", "128+N", "forced stop by signal N (second SIGTERM = 143)"},
	{-1, NULL, "other",
	 "Spark called `System.exit(n)` while serving: the engine exits with n"},
};

const size_t n_exit_codes = sizeof(exit_codes) / sizeof(exit_codes[0]);

/* 68: a bad JVM option. 72: another instance holds the pid file; systemd
 * would only race it. 74: a submit time that is already too old stays so.
 * Not here: 69 (Spark's start can fail on something transient), 70 (a port
 * can be freed), 71, 73 (ZooKeeper can come back), 79 (so can a DNS server),
 * the crashes. */
const int exit_codes_no_restart[] = {
	EXIT_USAGE, EXIT_BAD_SPARK_HOME, EXIT_NO_JAVA, EXIT_JVM_CREATE, EXIT_ALREADY_RUNNING,
	EXIT_SUBMIT_EXPIRED,
};

const size_t n_exit_codes_no_restart =
	sizeof(exit_codes_no_restart) / sizeof(exit_codes_no_restart[0]);
