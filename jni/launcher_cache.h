/* The launcher cache: Spark's launcher JVM (spark_launcher.h) only when
 * something it depends on changed.
 *
 * What the launcher prints is a function of the Spark home, the JDK, the
 * files it and load-spark-env.sh read, some environment variables and the
 * spark-submit arguments. The key is that whole input written out
 * ("material"); the cache file is named after a hash of it and holds the
 * material itself, so a hit is an exact comparison, never a hash match.
 *
 * Per-launch values (a gateway's refId, submit time, app name, credentials)
 * would make every key unique. They are opaque to the launcher, which copies
 * them into SparkSubmit's arguments unchanged: launch_params_split() swaps
 * them for placeholders before keying and running the launcher, and
 * launch_params_fill() puts the real values back into the command.
 *
 * Every cache failure (unreadable, corrupt, read-only or full disk) is a
 * miss: the caller runs the launcher. Writes are tmp file + rename, so
 * concurrent starts at worst both run the launcher and both write the same
 * entry. */
#ifndef SPARKSHIM_LAUNCHER_CACHE_H
#define SPARKSHIM_LAUNCHER_CACHE_H

#include <stddef.h>

#include "base/strvec.h"
#include "jni/spark_launcher.h"

/* The spark-submit arguments with per-launch values replaced. */
struct launch_params {
	struct strvec args;    /* what the launcher gets and the key holds */
	struct strvec values;  /* values[i] replaces placeholder i */
};

/* Placeholders for the values of: --name, and --conf K=V when K is
 * spark.app.name, spark.yarn.tags, spark.kubernetes.driver.pod.name,
 * spark.kubernetes.{driver,executor}.label.*, or any spark.kyuubi.* /
 * kyuubi.* key (the launcher reads none of these). 0 / -1 (ENOMEM). */
int launch_params_split(char *const *args, size_t n_args, struct launch_params *out);
void launch_params_free(struct launch_params *p);
/* 1 if key's value is a per-launch value (exposed for tests). */
int launch_param_key(const char *key);

/* Put the real values back into cmd (every occurrence). *exact = 1 when each
 * placeholder occurs exactly once, in an argument after the main class
 * (SparkSubmit's arguments): only then may the result be cached.
 * 0 / -1 (ENOMEM). */
int launch_params_fill(const struct launch_params *p, struct strvec *cmd, int *exact);

struct launch_inputs {
	const char *spark_home;     /* resolved path */
	const char *spark_version;
	const char *java_home;      /* the JAVA_HOME the launcher will use */
	const char *conf_dir;       /* $SPARK_CONF_DIR or <home>/conf */
	const struct strvec *args;  /* launch_params.args */
};

/* The key material. Returns a malloc'd buffer (*len bytes) or NULL
 * (ENOMEM, or an input file too big to key on: then do not cache). */
char *launcher_cache_material(const struct launch_inputs *in, size_t *len);

/* $XDG_CACHE_HOME/sparkshim, else $HOME/.cache/sparkshim. 0 / -1. */
int launcher_cache_default_dir(char *out, size_t outlen);

/* 0 = hit (out->cmd, out->env filled); 1 = no entry; -1 = unusable entry
 * (err says why; treat as a miss). */
int launcher_cache_load(const char *dir, const char *material, size_t mlen,
			struct launcher_result *out, char *err, size_t errlen);
/* Atomically (tmp + rename) store r under material. 0 / -1 (err). */
int launcher_cache_store(const char *dir, const char *material, size_t mlen,
			 const struct launcher_result *r, char *err, size_t errlen);

/* Entry file for material (exposed for tests and messages). */
int launcher_cache_path(const char *dir, const char *material, size_t mlen, char *out,
			size_t outlen);

#endif
