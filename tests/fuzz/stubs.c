/* What the fuzz harnesses link instead of jni/jvm_host.c (no JVM here). */
#include <stdio.h>

#include "jni/jvm_host.h"

/* SetLogLevel's default hook: "OFF" fails so the error path is fuzzed too. */
int jvm_set_log_level(const char *level, char *err, size_t errlen, int timeout_ms)
{
	(void)timeout_ms;
	if (level[0] == 'O') {
		snprintf(err, errlen, "java.lang.RuntimeException: no");
		return -1;
	}
	return 0;
}
