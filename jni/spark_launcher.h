/* Ask Spark itself how to launch the driver JVM, exactly as bin/spark-class
 * does: source bin/load-spark-env.sh (which reads conf/spark-env.sh), run
 * org.apache.spark.launcher.Main once in a short-lived child JVM and read the
 * java command it prints NUL-separated. We then create that JVM in-process
 * instead of exec'ing it. The environment after spark-env.sh is captured
 * too, because the real driver JVM would have inherited it. */
#ifndef SPARKSHIM_SPARK_LAUNCHER_H
#define SPARKSHIM_SPARK_LAUNCHER_H

#include <stddef.h>

#include "base/strvec.h"

struct launcher_result {
	struct strvec cmd;  /* e.g. /usr/.../java -cp ... -Xmx1g org.apache.spark.deploy.SparkSubmit ... */
	struct strvec env;  /* K=V that load-spark-env.sh set or changed */
	int exit_code;      /* the launcher JVM's exit status */
};

void launcher_result_free(struct launcher_result *r);

/* SPARK_HOME=spark_home and, unless set, JAVA_HOME=java_home in our own
 * environment: what the launcher runs with (spark_launcher_run does it). */
void spark_launcher_prepare_env(const char *spark_home, const char *java_home);

/* Runs the launcher with SPARK_HOME=spark_home. `java_home` is exported as
 * JAVA_HOME unless spark-env.sh sets its own. args = spark-submit args.
 * 0 = ran and exited 0 with a command; -1 = failed (err says why). */
int spark_launcher_run(const char *spark_home, const char *java_home, char *const *args,
		       size_t n_args, struct launcher_result *out, char *err, size_t errlen);

#endif
