/* What kind of Spark home is this? Checked before anything starts so a bad
 * SPARK_HOME is a one-line error, not a Java stack trace. */
#ifndef SPARKSHIM_SPARK_HOME_H
#define SPARKSHIM_SPARK_HOME_H

#include <limits.h>
#include <stddef.h>

struct spark_home {
	char path[PATH_MAX];     /* resolved */
	char version[64];        /* from jars/spark-core_<scala>-<version>.jar */
	char scala_version[16];  /* "2.13" */
	int has_connect_jar;     /* jars/spark-connect_*.jar present (Spark 4.x) */
};

/* 0 ok; -1 with err naming the path and what was expected. */
int spark_home_inspect(const char *dir, struct spark_home *out, char *err, size_t errlen);

/* Parse "spark-core_2.13-4.0.1.jar" -> scala "2.13", version "4.0.1".
 * 0 ok, -1 when the name does not have that shape. */
int spark_jar_version(const char *jar_name, const char *artifact, char *scala,
		      size_t scalalen, char *version, size_t versionlen);

#endif
