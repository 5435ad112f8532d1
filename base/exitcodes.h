/* Exit codes of sparkshim: one per failure cause, so a gateway or systemd
 * unit can tell them apart without parsing logs. The README has the table. */
#ifndef SPARKSHIM_EXITCODES_H
#define SPARKSHIM_EXITCODES_H

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
	/* 128+N: stop forced by signal N (second TERM/INT).
	 * Any other code: the JVM's own System.exit(n) status. */
};

#endif
