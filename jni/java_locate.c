#include "jni/java_locate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_file(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_exec(const char *p) { return is_file(p) && access(p, X_OK) == 0; }

int jvm_cfg_default_vm(const char *cfg_path, char *vm, size_t vmlen)
{
	FILE *f = fopen(cfg_path, "re");
	if (!f)
		return -1;
	char line[256];
	int rc = -1;
	while (fgets(line, sizeof(line), f)) {
		char name[64], kind[64];
		if (line[0] != '-' || sscanf(line, "-%63s %63s", name, kind) != 2)
			continue;
		if (strcmp(kind, "KNOWN") == 0) {
			snprintf(vm, vmlen, "%s", name);
			rc = 0;
			break;
		}
	}
	fclose(f);
	return rc;
}

/* libjvm under a Java home: JDK 9+ layout first, then the JDK 8 jre/ one. */
static int find_libjvm(const char *home, char *out, size_t outlen)
{
	static const char *const cfgs[] = {"lib/jvm.cfg", "jre/lib/amd64/jvm.cfg"};
	static const char *const dirs[] = {"lib", "jre/lib/amd64"};
	for (size_t i = 0; i < 2; i++) {
		char cfg[PATH_MAX], vm[64] = "server";
		snprintf(cfg, sizeof(cfg), "%s/%s", home, cfgs[i]);
		if (jvm_cfg_default_vm(cfg, vm, sizeof(vm)) < 0 && !is_file(cfg))
			snprintf(vm, sizeof(vm), "server");
		if ((size_t)snprintf(out, outlen, "%s/%s/%s/libjvm.so", home, dirs[i], vm) < outlen &&
		    is_file(out))
			return 0;
	}
	return -1;
}

static int home_from_path(const char *path, char *home, size_t homelen)
{
	if (!path)
		return -1;
	char *copy = strdup(path);
	if (!copy)
		return -1;
	int rc = -1;
	for (char *save = NULL, *dir = strtok_r(copy, ":", &save); dir;
	     dir = strtok_r(NULL, ":", &save)) {
		char cand[PATH_MAX], real[PATH_MAX];
		snprintf(cand, sizeof(cand), "%s/java", *dir ? dir : ".");
		if (!is_exec(cand) || !realpath(cand, real))
			continue;
		/* real = <home>/bin/java */
		char *slash = strrchr(real, '/');
		if (!slash)
			continue;
		*slash = '\0';
		slash = strrchr(real, '/');
		if (!slash || strcmp(slash, "/bin") != 0)
			continue;
		*slash = '\0';
		snprintf(home, homelen, "%s", real);
		rc = 0;
		break;
	}
	free(copy);
	return rc;
}

int java_locate(const char *java_home, const char *path, struct java_install *out,
		char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (java_home && *java_home) {
		if (!realpath(java_home, out->home)) {
			snprintf(err, errlen, "JAVA_HOME=%s: no such directory; expected a JDK or JRE home",
				 java_home);
			return -1;
		}
	} else if (home_from_path(path, out->home, sizeof(out->home)) < 0) {
		snprintf(err, errlen,
			 "no Java found: JAVA_HOME is not set and no java on PATH; install a JDK 17+ or set JAVA_HOME");
		return -1;
	}
	if (find_libjvm(out->home, out->libjvm, sizeof(out->libjvm)) < 0) {
		snprintf(err, errlen,
			 "JAVA_HOME=%s: no libjvm.so under lib/server (per lib/jvm.cfg); expected a HotSpot JDK or JRE",
			 out->home);
		return -1;
	}
	if ((size_t)snprintf(out->java_bin, sizeof(out->java_bin), "%s/bin/java", out->home) >=
		    sizeof(out->java_bin) ||
	    !is_exec(out->java_bin)) {
		snprintf(err, errlen, "JAVA_HOME=%s: no executable bin/java", out->home);
		return -1;
	}
	return 0;
}
