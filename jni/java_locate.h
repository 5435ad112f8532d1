/* Where is Java? JAVA_HOME if set (like spark-class), else the `java` on
 * PATH with symlinks resolved (/usr/bin/java -> /usr/lib/jvm/.../bin/java).
 * libjvm.so is chosen the way the java launcher does: lib/jvm.cfg names the
 * VM flavours, the first KNOWN one is the default (normally "server"). */
#ifndef SPARKSHIM_JAVA_LOCATE_H
#define SPARKSHIM_JAVA_LOCATE_H

#include <limits.h>
#include <stddef.h>

struct java_install {
	char home[PATH_MAX];    /* JAVA_HOME (resolved) */
	char java_bin[PATH_MAX];/* home/bin/java */
	char libjvm[PATH_MAX];  /* home/lib/<vm>/libjvm.so */
};

/* java_home: value of JAVA_HOME or NULL; path: value of PATH or NULL.
 * 0 ok; -1 with a one-line error naming what was looked at. */
int java_locate(const char *java_home, const char *path, struct java_install *out,
		char *err, size_t errlen);

/* First KNOWN VM name from a jvm.cfg file ("server" for "-server KNOWN").
 * 0 ok, -1 when the file is unreadable or lists no KNOWN VM. */
int jvm_cfg_default_vm(const char *cfg_path, char *vm, size_t vmlen);

#endif
