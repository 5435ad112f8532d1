#include "jni/spark_home.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int spark_jar_version(const char *name, const char *artifact, char *scala, size_t scalalen,
		      char *version, size_t versionlen)
{
	size_t alen = strlen(artifact), nlen = strlen(name);
	if (nlen < alen + 6 || strncmp(name, artifact, alen) != 0 || name[alen] != '_' ||
	    strcmp(name + nlen - 4, ".jar") != 0)
		return -1;
	const char *sv = name + alen + 1;
	const char *dash = strchr(sv, '-');
	if (!dash || dash == sv)
		return -1;
	const char *ver = dash + 1;
	size_t verlen = (size_t)(name + nlen - 4 - ver);
	if (verlen == 0 || (size_t)(dash - sv) >= scalalen || verlen >= versionlen)
		return -1;
	/* A version starts with a digit: rules out spark-core_2.13-tests.jar. */
	if (*ver < '0' || *ver > '9')
		return -1;
	memcpy(scala, sv, (size_t)(dash - sv));
	scala[dash - sv] = '\0';
	memcpy(version, ver, verlen);
	version[verlen] = '\0';
	return 0;
}

int spark_home_inspect(const char *dir, struct spark_home *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	struct stat st;
	if (!dir || !*dir || !realpath(dir, out->path) || stat(out->path, &st) < 0 ||
	    !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "SPARK_HOME=%s: no such directory; expected the root of a Spark distribution",
			 dir ? dir : "");
		return -1;
	}
	char jars[PATH_MAX + 8];
	snprintf(jars, sizeof(jars), "%s/jars", out->path);
	DIR *d = opendir(jars);
	if (!d) {
		snprintf(err, errlen, "SPARK_HOME=%s: no jars/ directory; expected the root of a Spark distribution",
			 out->path);
		return -1;
	}
	int has_launcher = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char scala[16], ver[64];
		if (spark_jar_version(e->d_name, "spark-core", scala, sizeof(scala), ver,
				      sizeof(ver)) == 0) {
			snprintf(out->version, sizeof(out->version), "%s", ver);
			snprintf(out->scala_version, sizeof(out->scala_version), "%s", scala);
		} else if (strncmp(e->d_name, "spark-launcher_", 15) == 0) {
			has_launcher = 1;
		} else if (strncmp(e->d_name, "spark-connect_", 14) == 0) {
			out->has_connect_jar = 1;
		}
	}
	closedir(d);
	if (!out->version[0] || !has_launcher) {
		snprintf(err, errlen,
			 "SPARK_HOME=%s: jars/ has no %s; expected the root of a Spark 3.5+ distribution",
			 out->path, out->version[0] ? "spark-launcher_*.jar" : "spark-core_*.jar");
		return -1;
	}
	return 0;
}
