#include "launcher/submit_args.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Versions, as 100*major+minor. Read from the launcher jars of 3.5.7 and
 * 4.3.0 (javap); 4.0 added --driver-default-class-path (SPARK-47152) and
 * --load-spark-defaults (SPARK-48392), --extra-properties-file came with
 * SPARK-54313 (after 4.1). */
#define V_ANY 0
#define V_40 400
#define V_42 402

/* Every spark-submit option Spark 3.5 and 4.x know. */
const struct submit_opt submit_opts[] = {
	{"--archives", NULL, 1, V_ANY, SR_PASS, NULL, NULL},
	{"--class", NULL, 1, V_ANY, SR_CLASS, NULL, NULL},
	{"--conf", "-c", 1, V_ANY, SR_CONF, NULL, NULL},
	{"--deploy-mode", NULL, 1, V_ANY, SR_HEAD, NULL, "spark.submit.deployMode"},
	{"--driver-class-path", NULL, 1, V_ANY, SR_CONF, "spark.driver.extraClassPath", NULL},
	{"--driver-default-class-path", NULL, 1, V_40, SR_CONF, "spark.driver.defaultExtraClassPath", NULL},
	{"--driver-cores", NULL, 1, V_ANY, SR_PASS, NULL, NULL},
	{"--driver-java-options", NULL, 1, V_ANY, SR_CONF, "spark.driver.extraJavaOptions", NULL},
	{"--driver-library-path", NULL, 1, V_ANY, SR_CONF, "spark.driver.extraLibraryPath", NULL},
	{"--driver-memory", NULL, 1, V_ANY, SR_CONF, "spark.driver.memory", NULL},
	{"--executor-cores", NULL, 1, V_ANY, SR_PASS, NULL, NULL},
	{"--executor-memory", NULL, 1, V_ANY, SR_PASS, NULL, NULL},
	{"--exclude-packages", NULL, 1, V_ANY, SR_PASS, NULL, NULL},
	{"--extra-properties-file", NULL, 1, V_42, SR_EXTRA_PROPS, NULL, NULL},
	{"--files", NULL, 1, V_ANY, SR_PASS, NULL, NULL},
	{"--jars", NULL, 1, V_ANY, SR_PASS, NULL, NULL},
	{"--keytab", NULL, 1, V_ANY, SR_PASS, NULL, NULL},
	{"--kill", NULL, 1, V_ANY, SR_SPECIAL, NULL, NULL},
	{"--master", NULL, 1, V_ANY, SR_HEAD, NULL, "spark.master"},
	{"--name", NULL, 1, V_ANY, SR_PASS, NULL, "spark.app.name"},
	{"--num-executors", NULL, 1, V_ANY, SR_PASS, NULL, NULL},
	{"--packages", NULL, 1, V_ANY, SR_PASS, NULL, NULL},
	{"--principal", NULL, 1, V_ANY, SR_PASS, NULL, NULL},
	{"--properties-file", NULL, 1, V_ANY, SR_PROPS, NULL, NULL},
	{"--proxy-user", NULL, 1, V_ANY, SR_PASS, NULL, NULL},
	{"--py-files", NULL, 1, V_ANY, SR_PASS, NULL, NULL},
	{"--queue", NULL, 1, V_ANY, SR_PASS, NULL, NULL},
	{"--remote", NULL, 1, V_ANY, SR_HEAD, NULL, NULL},
	{"--repositories", NULL, 1, V_ANY, SR_PASS, NULL, NULL},
	{"--status", NULL, 1, V_ANY, SR_SPECIAL, NULL, NULL},
	{"--total-executor-cores", NULL, 1, V_ANY, SR_PASS, NULL, NULL},
	/* Switches. */
	{"--help", "-h", 0, V_ANY, SR_SPECIAL, NULL, NULL},
	{"--load-spark-defaults", NULL, 0, V_40, SR_LOAD_DEFAULTS, NULL, NULL},
	{"--supervise", NULL, 0, V_ANY, SR_PASS, NULL, NULL},
	{"--usage-error", NULL, 0, V_ANY, SR_SPECIAL, NULL, NULL},
	{"--verbose", "-v", 0, V_ANY, SR_PASS, NULL, NULL},
	{"--version", NULL, 0, V_ANY, SR_SPECIAL, NULL, NULL},
};
const size_t n_submit_opts = sizeof(submit_opts) / sizeof(submit_opts[0]);

/* Main classes whose unknown arguments are application arguments (Spark's
 * launcher sets their primary resource itself). */
static const char *const mixed_classes[] = {
	CONNECT_SERVER_CLASS,
	"org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
	"org.apache.spark.sql.hive.thriftserver.SparkSQLCLIDriver",
	"org.apache.spark.repl.Main",
	"org.apache.spark.sql.application.ConnectRepl",
	NULL,
};

int submit_spark_version(const char *version)
{
	int major, minor;
	if (!version || sscanf(version, "%d.%d", &major, &minor) != 2 || major < 0 || minor < 0 ||
	    minor > 99 || major > 98)
		return SUBMIT_SPARK_LATEST;
	return major * 100 + minor;
}

static const struct submit_opt *lookup(const char *name, size_t len, int version)
{
	for (size_t i = 0; i < n_submit_opts; i++) {
		const struct submit_opt *o = &submit_opts[i];
		if (o->since > version)
			continue;
		if ((strlen(o->name) == len && !strncmp(name, o->name, len)) ||
		    (o->alias && strlen(o->alias) == len && !strncmp(name, o->alias, len)))
			return o;
	}
	return NULL;
}

const struct submit_opt *submit_find_opt(const char *arg, int version)
{
	return lookup(arg, strlen(arg), version);
}

int submit_opt_takes_value(const char *opt)
{
	const struct submit_opt *o = submit_find_opt(opt, SUBMIT_SPARK_LATEST);
	return o && o->takes_value;
}

int submit_opt_is_flag(const char *opt)
{
	const struct submit_opt *o = submit_find_opt(opt, SUBMIT_SPARK_LATEST);
	return o && !o->takes_value;
}

void submit_view_init(struct submit_view *v)
{
	memset(v, 0, sizeof(*v));
	conf_init(&v->conf);
	conf_init(&v->submit_conf);
	conf_init(&v->head);
	strvec_init(&v->passed);
	strvec_init(&v->app_args);
	strvec_init(&v->extra_properties);
}

void submit_view_free(struct submit_view *v)
{
	conf_free(&v->conf);
	conf_free(&v->submit_conf);
	conf_free(&v->head);
	strvec_free(&v->passed);
	strvec_free(&v->app_args);
	strvec_free(&v->extra_properties);
	free(v->main_class);
	free(v->resource);
	free(v->properties_file);
	submit_view_init(v);
}

/* Spark splits "--name=value" when the name has no '=' and the value is not
 * empty; Java's '.' does not match line terminators, so a value holding one
 * is not split. Returns the length of the name part. */
static size_t split_eq(const char *arg, const char **value)
{
	*value = NULL;
	const char *eq = strchr(arg, '=');
	if (strncmp(arg, "--", 2) != 0 || !eq || eq == arg + 2 || !eq[1])
		return strlen(arg);
	for (const unsigned char *p = (const unsigned char *)eq + 1; *p; p++)
		if (*p == '\n' || *p == '\r' || (p[0] == 0xc2 && p[1] == 0x85) ||
		    (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)))
			return strlen(arg);
	*value = eq + 1;
	return (size_t)(eq - arg);
}

static int set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v);
	return *dst ? 0 : -1;
}

static int is_mixed_class(const char *cls)
{
	for (size_t i = 0; mixed_classes[i]; i++)
		if (!strcmp(cls, mixed_classes[i]))
			return 1;
	return 0;
}

/* What the launcher does with one known option. 0 / -1 (err set). */
static int handle(struct submit_view *v, const struct submit_opt *o, const char *value,
		  int *mixed, char *err, size_t errlen)
{
	int rc = 0;
	if (o->launcher_key)
		return conf_set(&v->conf, o->launcher_key, value);
	switch (o->role) {
	case SR_CONF: {
		const char *eq = strchr(value, '=');
		if (!eq) {
			snprintf(err, errlen, "Invalid argument to --conf: %s", value);
			return -2;
		}
		char *key = strndup(value, (size_t)(eq - value));
		rc = key ? conf_set(&v->conf, key, eq + 1) : -1;
		free(key);
		return rc;
	}
	case SR_CLASS:
		if (set_str(&v->main_class, value) < 0)
			return -1;
		if (is_mixed_class(value)) {
			*mixed = 1;
			/* Spark's own resource for these classes. */
			return set_str(&v->resource, strcmp(value, "org.apache.spark.repl.Main") == 0
							    ? "spark-shell"
							    : strstr(value, "ConnectRepl")
								      ? "connect-shell"
								      : SUBMIT_NO_RESOURCE);
		}
		return 0;
	case SR_PROPS:
		return set_str(&v->properties_file, value);
	case SR_EXTRA_PROPS:
		return strvec_push(&v->extra_properties, value);
	case SR_LOAD_DEFAULTS:
		v->load_defaults = 1;
		return 0;
	case SR_HEAD:
		rc = conf_set(&v->head, o->name, value);
		break;
	case SR_SPECIAL:
	case SR_PASS:
		if (o->role == SR_SPECIAL && !v->special)
			v->special = o->name; /* and handed on like any other */
		rc = strvec_push(&v->passed, o->name);
		if (rc == 0 && value)
			rc = strvec_push(&v->passed, value);
		break;
	}
	if (rc == 0 && o->submit_key)
		rc = conf_set(&v->submit_conf, o->submit_key, value);
	return rc;
}

int submit_parse(const struct strvec *args, int version, struct submit_view *v, char *err,
		 size_t errlen)
{
	int mixed = 0, rc = 0;
	size_t i;
	for (i = 0; i < args->n && rc == 0; i++) {
		const char *arg = args->v[i], *value;
		size_t len = split_eq(arg, &value);
		const struct submit_opt *o = lookup(arg, len, version);
		if (o && o->takes_value) {
			if (!value) {
				if (i + 1 >= args->n) {
					snprintf(err, errlen, "Missing argument for option '%s'.", arg);
					return -1;
				}
				value = args->v[++i];
			}
			rc = handle(v, o, value, &mixed, err, errlen);
			continue;
		}
		if (o) {
			rc = handle(v, o, NULL, &mixed, err, errlen);
			continue;
		}
		/* Unknown; Spark has cut off any "=value" by now. */
		char *name = strndup(arg, len);
		if (!name)
			goto nomem;
		if (mixed) {
			rc = strvec_push(&v->app_args, name);
			free(name);
			continue;
		}
		if (name[0] == '-') {
			snprintf(err, errlen, "Unrecognized option: %s", name);
			free(name);
			return -1;
		}
		free(v->resource);
		v->resource = name;
		for (i++; i < args->n; i++)
			if (strvec_push(&v->app_args, args->v[i]) < 0)
				goto nomem;
		return 0;
	}
	if (rc == -2)
		return -1;
	if (rc < 0)
		goto nomem;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* Load one properties file under what is set already (putIfAbsent). */
static int load_under(struct conf *out, const char *path, int must_exist, char *err,
		      size_t errlen)
{
	struct conf file;
	conf_init(&file);
	int bad = 0;
	if (conf_load_file(&file, path, &bad) < 0) {
		int e = errno;
		conf_free(&file);
		if (e == ENOENT && !must_exist)
			return 0;
		if (bad)
			snprintf(err, errlen, "%s:%d: expected key=value", path, bad);
		else
			snprintf(err, errlen, "properties file %s: %s", path, strerror(e));
		return -1;
	}
	int rc = 0;
	for (size_t i = 0; i < file.n && rc == 0; i++)
		if (!conf_get(out, file.v[i].key))
			rc = conf_set(out, file.v[i].key, file.v[i].value);
	conf_free(&file);
	if (rc < 0)
		snprintf(err, errlen, "out of memory");
	return rc;
}

static int is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Does a token of opts, split as Spark's launcher splits java options
 * (whitespace; '' and "" quotes; backslash escapes), start with -Xmx? */
static int has_xmx(const char *opts)
{
	char tok[4];
	size_t n = 0;
	int in_word = 0;
	char quote = 0;
	for (const char *p = opts;; p++) {
		char c = *p;
		if (!c || (!quote && isspace((unsigned char)c))) {
			if (in_word && n == 4 && !memcmp(tok, "-Xmx", 4))
				return 1;
			in_word = 0;
			n = 0;
			if (!c)
				return 0;
			continue;
		}
		if (quote && c == quote) {
			quote = 0;
			continue;
		}
		if (!quote && (c == '\'' || c == '"')) {
			quote = c;
			in_word = 1;
			continue;
		}
		if (c == '\\' && p[1] && quote != '\'')
			c = *++p;
		in_word = 1;
		if (n < 4)
			tok[n++] = c;
	}
}

int submit_check_java_options(const struct conf *conf, char *err, size_t errlen)
{
	static const char *const keys[] = {"spark.driver.defaultJavaOptions",
					   "spark.driver.extraJavaOptions"};
	for (size_t i = 0; i < 2; i++) {
		const char *v = conf_get(conf, keys[i]);
		if (v && has_xmx(v)) {
			snprintf(err, errlen,
				 "Not allowed to specify max heap(Xmx) memory settings through java options (was %s). Use the corresponding --driver-memory or spark.driver.memory configuration instead.",
				 v);
			return -1;
		}
	}
	return 0;
}

int submit_check_files(const struct submit_view *v, char *err, size_t errlen)
{
	if (v->properties_file && !is_file(v->properties_file)) {
		snprintf(err, errlen, "Invalid properties file '%s'.", v->properties_file);
		return -1;
	}
	for (size_t i = 0; i < v->extra_properties.n; i++)
		if (!is_file(v->extra_properties.v[i])) {
			snprintf(err, errlen, "Invalid properties file '%s'.",
				 v->extra_properties.v[i]);
			return -1;
		}
	return 0;
}

static int merge_files(const struct submit_view *v, int version, const char *conf_dir,
		       struct conf *out, char *err, size_t errlen)
{
	/* --conf over the extra files (the last one first), over
	 * --properties-file, over spark-defaults.conf. Spark 3.5 reads the
	 * defaults only without --properties-file; 4.x also with
	 * --load-spark-defaults. */
	for (size_t i = v->extra_properties.n; i-- > 0;)
		if (load_under(out, v->extra_properties.v[i], 1, err, errlen) < 0)
			return -1;
	if (v->properties_file && load_under(out, v->properties_file, 1, err, errlen) < 0)
		return -1;
	if ((!v->properties_file || (v->load_defaults && version >= V_40)) && conf_dir) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/spark-defaults.conf", conf_dir);
		if (load_under(out, path, 0, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int submit_collect_conf(const struct strvec *args, int version, const char *spark_conf_dir,
			struct conf *out, char *err, size_t errlen)
{
	struct submit_view v;
	submit_view_init(&v);
	char why[1024];
	int rc = -1;
	if (submit_parse(args, version, &v, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "spark-submit arguments rejected as Spark would: %s", why);
		goto out;
	}
	if (v.special) {
		snprintf(err, errlen,
			 "spark-submit option %s: asks Spark for something else than a launch; expected the arguments of an engine launch",
			 v.special);
		goto out;
	}
	if (submit_check_files(&v, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "spark-submit arguments rejected as Spark would: %s", why);
		goto out;
	}
	struct conf eff;
	conf_init(&eff);
	for (size_t i = 0; i < v.conf.n; i++)
		if (conf_set(&eff, v.conf.v[i].key, v.conf.v[i].value) < 0)
			goto nomem;
	if (merge_files(&v, version, spark_conf_dir, &eff, err, errlen) < 0) {
		conf_free(&eff);
		goto out;
	}
	if (submit_check_java_options(&eff, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "spark-submit arguments rejected as Spark would: %s", why);
		conf_free(&eff);
		goto out;
	}
	for (size_t i = 0; i < v.submit_conf.n; i++)
		if (conf_set(&eff, v.submit_conf.v[i].key, v.submit_conf.v[i].value) < 0)
			goto nomem;
	for (size_t i = 0; i < eff.n; i++)
		if (conf_set(out, eff.v[i].key, eff.v[i].value) < 0)
			goto nomem;
	conf_free(&eff);
	rc = 0;
	goto out;
nomem:
	conf_free(&eff);
	snprintf(err, errlen, "out of memory");
out:
	submit_view_free(&v);
	return rc;
}

/* Where each argument stands in Spark's own reading of the original
 * arguments: needed to drop another engine's resource and arguments. */
enum arg_kind { AK_OPT, AK_CLASS, AK_FOREIGN };

/* Classify args like the launcher reads them, without refusing anything
 * (refusals are submit_parse's, on the final arguments). *has_class: a
 * --class was read; *other: the first class named that is not the server's
 * (points into args), else NULL. */
static enum arg_kind *classify(const struct strvec *args, int version, int *has_class,
			       const char **other)
{
	enum arg_kind *k = calloc(args->n + 1, sizeof(*k));
	if (!k)
		return NULL;
	int mixed = 0;
	*has_class = 0;
	*other = NULL;
	for (size_t i = 0; i < args->n; i++) {
		const char *value;
		size_t len = split_eq(args->v[i], &value);
		const struct submit_opt *o = lookup(args->v[i], len, version);
		if (o) {
			int cls = o->role == SR_CLASS;
			k[i] = cls ? AK_CLASS : AK_OPT;
			if (o->takes_value && !value && i + 1 < args->n) {
				value = args->v[++i];
				k[i] = k[i - 1];
			}
			if (cls && value) {
				*has_class = 1;
				if (strcmp(value, CONNECT_SERVER_CLASS) != 0 && !*other)
					*other = value;
				mixed |= is_mixed_class(value);
			}
			continue;
		}
		if (mixed || args->v[i][0] == '-') {
			/* The other engine's argument, or one Spark refuses
			 * before --class: the server ignores it. */
			k[i] = mixed ? AK_FOREIGN : AK_OPT;
			continue;
		}
		for (; i < args->n; i++)
			k[i] = AK_FOREIGN; /* primary resource and its arguments */
	}
	return k;
}

int submit_make_connect(struct strvec *args, int version, char **replaced)
{
	*replaced = NULL;
	int has_class;
	const char *other;
	enum arg_kind *k = classify(args, version, &has_class, &other);
	if (!k)
		return -1;
	if (has_class && !other) {
		free(k);
		return 0;
	}
	struct strvec out;
	strvec_init(&out);
	int rc = strvec_push(&out, "--class") | strvec_push(&out, CONNECT_SERVER_CLASS);
	if (other && !(*replaced = strdup(other)))
		rc = -1;
	/* Another class: only the options stay. No class: everything. */
	for (size_t i = 0; i < args->n && rc == 0; i++)
		if (other ? k[i] == AK_OPT : 1)
			rc = strvec_push(&out, args->v[i]);
	free(k);
	if (rc < 0) {
		strvec_free(&out);
		free(*replaced);
		*replaced = NULL;
		return -1;
	}
	strvec_free(args);
	*args = out;
	return 0;
}

int submit_add_confs(struct strvec *args, int version, const struct conf *extra)
{
	struct submit_view v;
	submit_view_init(&v);
	char err[256];
	/* A launch Spark refuses is refused before this; then nothing is set. */
	if (submit_parse(args, version, &v, err, sizeof(err)) < 0 && !strcmp(err, "out of memory"))
		return -1;
	int rc = 0;
	for (size_t k = 0; extra && k < extra->n && rc == 0; k++) {
		if (conf_get(&v.conf, extra->v[k].key))
			continue;
		rc = strvec_push(args, "--conf") |
		     strvec_pushf(args, "%s=%s", extra->v[k].key, extra->v[k].value);
	}
	submit_view_free(&v);
	return rc < 0 ? -1 : 0;
}

int submit_force_confs(struct strvec *args, const struct conf *force)
{
	/* Last on the line: SparkSubmit keeps the last --conf of a key. */
	int rc = 0;
	for (size_t k = 0; force && k < force->n && rc == 0; k++)
		rc = strvec_push(args, "--conf") |
		     strvec_pushf(args, "%s=%s", force->v[k].key, force->v[k].value);
	return rc < 0 ? -1 : 0;
}
