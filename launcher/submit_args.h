/* spark-submit's command line as Spark itself reads it. submit_opts[] is the
 * one table of the options Spark 3.5 and 4.x know; submit_parse() walks the
 * arguments the way Spark's launcher does (org.apache.spark.launcher's option
 * parser and SparkSubmitCommandBuilder), so the shim's view of a launch is
 * Spark's: the same confs, main class, primary resource and application
 * arguments, and the same refusals, found before any JVM starts.
 *
 * With SparkConnectServer as the main class (always so once
 * submit_make_connect() ran) arguments may be mixed: an argument that is no
 * known option becomes an application argument and parsing goes on. */
#ifndef SPARKSHIM_SUBMIT_ARGS_H
#define SPARKSHIM_SUBMIT_ARGS_H

#include <stddef.h>

#include "base/conf.h"
#include "base/strvec.h"

#define CONNECT_SERVER_CLASS "org.apache.spark.sql.connect.service.SparkConnectServer"
/* The primary resource Spark's launcher sets for its internal classes. */
#define SUBMIT_NO_RESOURCE "spark-internal"
/* Newest Spark: a home whose version is unknown is read as this one. */
#define SUBMIT_SPARK_LATEST 9999

/* What an option does in Spark's launcher. */
enum submit_role {
	SR_PASS,          /* handed on to SparkSubmit, read there */
	SR_HEAD,          /* --master, --remote, --deploy-mode: kept apart, last wins */
	SR_CONF,          /* --conf k=v */
	SR_CLASS,         /* --class */
	SR_PROPS,         /* --properties-file */
	SR_EXTRA_PROPS,   /* --extra-properties-file (repeatable) */
	SR_LOAD_DEFAULTS, /* --load-spark-defaults */
	SR_SPECIAL,       /* --kill, --status, --help, --version, --usage-error: no launch */
};

struct submit_opt {
	const char *name;
	const char *alias;       /* "-c", "-h", "-v" or NULL */
	int takes_value;
	int since;               /* first Spark version knowing it, as 100*major+minor */
	enum submit_role role;
	const char *launcher_key; /* the launcher turns the value into this conf */
	const char *submit_key;   /* SparkSubmit sets this conf, over any --conf of it */
};

extern const struct submit_opt submit_opts[];
extern const size_t n_submit_opts;

/* "4.3.0" -> 403; SUBMIT_SPARK_LATEST when it does not parse. */
int submit_spark_version(const char *version);

/* The option named by arg (name or alias) known to Spark `version`, else
 * NULL. */
const struct submit_opt *submit_find_opt(const char *arg, int version);
/* For the shim's own command line, which is read before the Spark home is
 * known: 1 if some Spark's spark-submit takes a value / no value for opt. */
int submit_opt_takes_value(const char *opt);
int submit_opt_is_flag(const char *opt);

/* One launch as Spark's launcher sees it. */
struct submit_view {
	struct conf conf;            /* --conf and the driver options mapped to keys (later wins) */
	struct conf submit_conf;     /* --master, --name, ...: beat conf in SparkSubmit */
	struct conf head;            /* "--master" -> value, ...: options the launcher keeps apart */
	struct strvec passed;        /* other options (and values) handed on to SparkSubmit */
	char *main_class;            /* NULL if none */
	char *resource;              /* NULL if none */
	struct strvec app_args;
	char *properties_file;       /* NULL if none */
	struct strvec extra_properties;
	int load_defaults;
	const char *special;         /* first --kill/--status/--help/... seen, or NULL */
};

void submit_view_init(struct submit_view *v);
void submit_view_free(struct submit_view *v);

/* Parse like Spark `version`'s launcher. 0, or -1 with Spark's own message in
 * err ("Unrecognized option: --x", "Missing argument for option '--conf'.",
 * "Invalid argument to --conf: x"). */
int submit_parse(const struct strvec *args, int version, struct submit_view *v, char *err,
		 size_t errlen);

/* Spark's launcher refuses a --properties-file or --extra-properties-file
 * that is not a file ("Invalid properties file 'x'."). 0 / -1. */
int submit_check_files(const struct submit_view *v, char *err, size_t errlen);

/* Spark's launcher refuses -Xmx among the driver's java options
 * (spark.driver.defaultJavaOptions, spark.driver.extraJavaOptions, so also
 * --driver-java-options), with its message in err. 0 / -1. */
int submit_check_java_options(const struct conf *conf, char *err, size_t errlen);

/* Effective Spark conf as SparkSubmit would see it: the view's confs over
 * the properties files (--extra-properties-file, --properties-file,
 * spark-defaults.conf in spark_conf_dir, as `version` layers them), with
 * --master/--name/... on top. Also refuses what Spark refuses before the
 * driver runs (a missing properties file) and launches that are no engine
 * (--kill, --status, ...). 0 / -1 (err: one line). */
int submit_collect_conf(const struct strvec *args, int version, const char *spark_conf_dir,
			struct conf *out, char *err, size_t errlen);

/* Make args launch the Spark Connect server. Without --class (among the
 * options Spark reads before any primary resource) `--class
 * SparkConnectServer` is put first; another class is replaced by it (moved
 * first), and that class's primary resource and application arguments are
 * dropped: they belong to that other engine. SparkConnectServer itself
 * leaves args alone. *replaced gets the class replaced or NULL. 0 / -1
 * (ENOMEM). */
int submit_make_connect(struct strvec *args, int version, char **replaced);

/* Append `--conf key=value` for each key of extra that the launch's own
 * options (not its properties files) do not set. 0 / -1 (ENOMEM). */
int submit_add_confs(struct strvec *args, int version, const struct conf *extra);

/* Append `--conf key=value` for each key of force, whatever the launch sets
 * (they come last, and SparkSubmit keeps the last --conf of a key: e.g. the
 * front door's loopback binding for Spark). 0 / -1 (ENOMEM). */
int submit_force_confs(struct strvec *args, const struct conf *force);

#endif
