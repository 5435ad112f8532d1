/* Reads everything written to our stderr (the JVM's log4j console, Java
 * stack traces, our own log lines) through a pipe and passes it on to the
 * real stderr unchanged, remembering the last Java exception seen. Spark
 * reports most startup failures by logging a stack trace and calling
 * System.exit(-1); this is how the shim can still say which exception it was,
 * in one line, the way Kyuubi's engine-log tailer does. */
#ifndef SPARKSHIM_OUTPUT_TAP_H
#define SPARKSHIM_OUTPUT_TAP_H

#include <stddef.h>

int output_tap_start(void);            /* 0 / -1 (stderr left as it was) */
/* Put the real stderr back, read what is left in the pipe (bounded), stop.
 * Safe from any thread, idempotent; used in exit and crash paths too. */
void output_tap_stop(int timeout_ms);
/* "java.io.IOException: Failed to bind ... (caused by java.net.BindException: ...)"
 * or "" when no exception was seen. */
void output_tap_last_exception(char *buf, size_t len);

/* Called from the tap thread for every line that mentions Spark Connect's
 * start ("Spark Connect server started at", "...SparkConnectService' on
 * port"), so whoever waits for the port can look now instead of polling. */
void output_tap_set_start_hook(void (*fn)(void));

/* Exposed for unit tests: feed one line (without '\n'). */
void output_tap_scan_line(const char *line);
void output_tap_reset(void);

#endif
