/* Exit codes of sparkshim: one per failure cause, so a gateway or systemd
 * unit can tell them apart without parsing logs.
 *
 * exit_codes[] (exitcodes.c) is the one table: code, name, meaning. The
 * README's "Exit codes" table, the exit column of docs/operations.md and
 * tests/integration/exitcodes.py are checked against it by
 * tests/unit/test_exitcodes.c (make unit). */
#ifndef SPARKSHIM_EXITCODES_H
#define SPARKSHIM_EXITCODES_H

#include <stddef.h>

enum shim_exit {
	EXIT_CLEAN = 0,            /* graceful stop completed */
	EXIT_INTERNAL = 1,         /* bug or unexpected system error */
	EXIT_USAGE = 64,           /* bad command line or config value */
	EXIT_BAD_SPARK_HOME = 66,  /* SPARK_HOME missing or not a Spark home */
	EXIT_NO_JAVA = 67,         /* no usable Java / libjvm.so */
	EXIT_JVM_CREATE = 68,      /* JNI_CreateJavaVM failed */
	EXIT_SPARK_START = 69,     /* Spark threw or exited during startup */
	EXIT_PORT_IN_USE = 70,     /* connect (or control) port already bound */
	EXIT_START_TIMEOUT = 71,   /* connect port did not answer in time */
	EXIT_ALREADY_RUNNING = 72, /* pid file held by another instance */
	EXIT_REGISTER = 73,        /* could not register with the gateway */
	EXIT_SUBMIT_EXPIRED = 74,  /* submit.time older than the init timeout */
	EXIT_JVM_CRASH = 75,       /* JVM aborted (fatal error, SIGSEGV, ...) */
	EXIT_SPARK_DIED = 76,      /* Spark stopped on its own while serving */
	EXIT_JVM_OOM = 77,         /* JVM ran out of memory */
	EXIT_STOP_TIMEOUT = 78,    /* graceful stop exceeded --stop-timeout */
	EXIT_BAD_HOST = 79,        /* the engine's host (advertised / driver) does not resolve */
	EXIT_SIGNAL_BASE = 128,    /* 128+N: stop forced by signal N (second TERM/INT) */
	/* Any other code: the JVM's own System.exit(n) status. */
};

struct exit_code_info {
	int code;            /* -1: not one code ("other") */
	const char *name;    /* the enum name, NULL for "other" */
	const char *shown;   /* how the README's code column shows it: "64", "128+N", "other" */
	const char *meaning; /* the README's meaning column, verbatim (Markdown) */
};

/* In README order. */
extern const struct exit_code_info exit_codes[];
extern const size_t n_exit_codes;

/* The codes after which restarting cannot help, only repeat the error: the
 * configuration (or the host) must change first. systemd's
 * RestartPreventExitStatus= in scripts/systemd/sparkshim@.service.in is
 * exactly this list (checked by tests/unit/test_exitcodes.c). */
extern const int exit_codes_no_restart[];
extern const size_t n_exit_codes_no_restart;

#endif
