/* What the shim needs to know about spark-submit's command line: which
 * options take a value, which confs it sets, and how to turn any engine
 * launch into a Spark Connect server launch. Spark's own launcher parses the
 * arguments again later; we only read and adjust them. */
#ifndef SPARKSHIM_SUBMIT_ARGS_H
#define SPARKSHIM_SUBMIT_ARGS_H

#include <stddef.h>

#include "base/conf.h"
#include "base/strvec.h"

#define CONNECT_SERVER_CLASS "org.apache.spark.sql.connect.service.SparkConnectServer"

/* 1 if spark-submit's `opt` (e.g. "--conf", "--master") takes a value. */
int submit_opt_takes_value(const char *opt);
/* 1 if opt is a spark-submit flag without value (--verbose, --supervise). */
int submit_opt_is_flag(const char *opt);

/* Effective Spark conf as SparkSubmit would see it: spark-defaults.conf (or
 * --properties-file), then --conf in order, plus --name/--master/--proxy-user
 * mapped to their keys. The main class goes to *main_class (malloc'd, NULL if
 * none). 0 / -1 (err: e.g. "--conf foo: expected key=value"). */
int submit_collect_conf(const struct strvec *args, const char *spark_conf_dir,
			struct conf *out, char **main_class, char *err, size_t errlen);

/* Make args launch the Spark Connect server: --class is set to
 * SparkConnectServer (another class is replaced, and its primary resource and
 * app arguments dropped: they belong to that other engine), and
 * `--conf key=value` pairs from `extra` are appended for keys args does not
 * set, then those of `force` whatever args set (they come last, and
 * SparkSubmit keeps the last --conf of a key). Returns 0 / -1 (ENOMEM).
 * *replaced gets the class replaced or NULL. */
int submit_make_connect(struct strvec *args, const struct conf *extra, const struct conf *force,
			char **replaced);

#endif
