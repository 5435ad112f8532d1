/* Turn a `java ...` command line (as Spark's launcher prints it) into what
 * JNI_CreateJavaVM takes. The java launcher does a few things the VM does
 * not: it expands classpath wildcards ("dir/" followed by an asterisk), turns -cp into
 * -Djava.class.path, joins "--add-opens X" into "--add-opens=X", drops
 * launcher-only flags (-server), and reads JDK_JAVA_OPTIONS. We do the same so
 * the in-process JVM matches the one spark-class would exec. */
#ifndef SPARKSHIM_JAVA_CMDLINE_H
#define SPARKSHIM_JAVA_CMDLINE_H

#include <stddef.h>

#include "base/strvec.h"

struct java_cmd {
	struct strvec env;     /* K=V from a leading `env K=V ...` (Unix launcher form) */
	struct strvec options; /* VM options, classpath as -Djava.class.path=... */
	char *main_class;      /* dotted class name */
	struct strvec args;    /* main's arguments */
};

void java_cmd_free(struct java_cmd *c);

/* cmd->v[0..] = [env K=V...] java [options] MainClass [args].
 * jdk_java_options: value of JDK_JAVA_OPTIONS or NULL (whitespace-split,
 * prepended like the java launcher does). 0 / -1 (err). */
int java_cmd_parse(const struct strvec *cmd, const char *jdk_java_options,
		   struct java_cmd *out, char *err, size_t errlen);

/* Expand "a:dir/STAR:b" (STAR = the asterisk) into "a:dir/x.jar:dir/y.jar:b" (jars sorted by name;
 * a wildcard dir that does not exist expands to nothing, like java).
 * Returns a malloc'd string or NULL on ENOMEM. */
char *classpath_expand(const char *cp);

#endif
