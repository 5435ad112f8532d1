#include "launcher/submit_args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const value_opts[] = {
	"--master", "--remote", "--deploy-mode", "--class", "--name", "--jars", "--packages",
	"--exclude-packages", "--repositories", "--py-files", "--files", "--archives", "--conf",
	"-c", "--properties-file", "--driver-memory", "--driver-java-options",
	"--driver-library-path", "--driver-class-path", "--executor-memory", "--proxy-user",
	"--driver-cores", "--total-executor-cores", "--executor-cores", "--num-executors",
	"--principal", "--keytab", "--queue", "--kill", "--status", NULL,
};
static const char *const flag_opts[] = {
	"--verbose", "-v", "--supervise", "--help", "-h", "--version", "--usage-error", NULL,
};

static int in(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; list[i]; i++)
		if (n ? (strlen(list[i]) == n && strncmp(s, list[i], n) == 0) : !strcmp(s, list[i]))
			return 1;
	return 0;
}

int submit_opt_takes_value(const char *opt) { return in(opt, value_opts, 0); }
int submit_opt_is_flag(const char *opt) { return in(opt, flag_opts, 0); }

/* Split args[i] into option and value, accepting both "--opt v" and
 * "--opt=v". Returns the number of args consumed (1 or 2), 0 if args[i] is
 * not an option with a value, -1 if the value is missing. */
static int opt_value(const struct strvec *a, size_t i, char *opt, size_t optlen, const char **val)
{
	const char *s = a->v[i];
	const char *eq = strchr(s, '=');
	if (s[0] == '-' && s[1] == '-' && eq && in(s, value_opts, (size_t)(eq - s))) {
		snprintf(opt, optlen, "%.*s", (int)(eq - s), s);
		*val = eq + 1;
		return 1;
	}
	if (!submit_opt_takes_value(s))
		return 0;
	snprintf(opt, optlen, "%s", s);
	if (i + 1 >= a->n)
		return -1;
	*val = a->v[i + 1];
	return 2;
}

int submit_collect_conf(const struct strvec *args, const char *spark_conf_dir, struct conf *out,
			char **main_class, char *err, size_t errlen)
{
	*main_class = NULL;
	struct conf cli;
	conf_init(&cli);
	const char *props = NULL;
	for (size_t i = 0; i < args->n;) {
		char opt[64];
		const char *val = NULL;
		int used = opt_value(args, i, opt, sizeof(opt), &val);
		if (used < 0) {
			snprintf(err, errlen, "spark-submit option %s: missing value", args->v[i]);
			goto fail;
		}
		if (used == 0) {
			if (args->v[i][0] != '-' || !submit_opt_is_flag(args->v[i]))
				break; /* primary resource: the rest are app args */
			i++;
			continue;
		}
		int rc = 0;
		if (!strcmp(opt, "--conf") || !strcmp(opt, "-c")) {
			if (conf_set_kv(&cli, val) < 0) {
				snprintf(err, errlen, "--conf %s: expected key=value", val);
				goto fail;
			}
		} else if (!strcmp(opt, "--properties-file")) {
			props = val;
		} else if (!strcmp(opt, "--class")) {
			free(*main_class);
			*main_class = strdup(val);
		} else if (!strcmp(opt, "--name")) {
			rc = conf_set(&cli, "spark.app.name", val);
		} else if (!strcmp(opt, "--master")) {
			rc = conf_set(&cli, "spark.master", val);
		} else if (!strcmp(opt, "--proxy-user")) {
			rc = conf_set(&cli, "spark.sparkshim.proxy.user", val);
		}
		if (rc < 0)
			goto nomem;
		i += (size_t)used;
	}
	/* Defaults first, command line on top: same precedence as SparkSubmit. */
	char path[4096];
	if (!props && spark_conf_dir) {
		snprintf(path, sizeof(path), "%s/spark-defaults.conf", spark_conf_dir);
		props = path;
	}
	if (props) {
		int bad = 0;
		if (conf_load_file(out, props, &bad) < 0 && (errno != ENOENT || props != path)) {
			if (bad)
				snprintf(err, errlen, "%s:%d: expected key=value", props, bad);
			else
				snprintf(err, errlen, "--properties-file %s: %s", props, strerror(errno));
			goto fail;
		}
	}
	for (size_t i = 0; i < cli.n; i++)
		if (conf_set(out, cli.v[i].key, cli.v[i].value) < 0)
			goto nomem;
	conf_free(&cli);
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	conf_free(&cli);
	free(*main_class);
	*main_class = NULL;
	return -1;
}

/* Insert --conf k=v for each entry of c at *i (moved past them); entries
 * whose key is in skip (if given) are left out. 0 / -1. */
static int insert_confs(struct strvec *args, size_t *i, const struct conf *c, const struct conf *skip)
{
	for (size_t k = 0; c && k < c->n; k++) {
		if (skip && conf_get(skip, c->v[k].key))
			continue;
		char *kv = NULL;
		if (asprintf(&kv, "%s=%s", c->v[k].key, c->v[k].value) < 0)
			return -1;
		int rc = strvec_insert(args, *i, "--conf") | strvec_insert(args, *i + 1, kv);
		free(kv);
		if (rc < 0)
			return -1;
		*i += 2;
	}
	return 0;
}

int submit_make_connect(struct strvec *args, const struct conf *extra, const struct conf *force,
			char **replaced)
{
	*replaced = NULL;
	int have_class = 0;
	struct conf seen;
	conf_init(&seen);
	size_t i = 0;
	while (i < args->n) {
		char opt[64];
		const char *val = NULL;
		int used = opt_value(args, i, opt, sizeof(opt), &val);
		if (used <= 0) {
			if (args->v[i][0] == '-' && submit_opt_is_flag(args->v[i])) {
				i++;
				continue;
			}
			break;
		}
		if (!strcmp(opt, "--conf") || !strcmp(opt, "-c"))
			conf_set_kv(&seen, val);
		if (!strcmp(opt, "--class")) {
			have_class = 1;
			if (strcmp(val, CONNECT_SERVER_CLASS) != 0) {
				*replaced = strdup(val);
				/* Rewrite in place, keeping the option's spelling. */
				strvec_remove(args, i);
				if (used == 2)
					strvec_remove(args, i);
				if (strvec_insert(args, i, "--class") < 0 ||
				    strvec_insert(args, i + 1, CONNECT_SERVER_CLASS) < 0)
					goto nomem;
				used = 2;
			}
		}
		i += (size_t)used;
	}
	/* i = primary resource (if any). Another engine's jar and its args
	 * mean nothing to the connect server; its own resource is kept. */
	if (*replaced)
		while (args->n > i)
			strvec_remove(args, i);
	if (!have_class) {
		if (strvec_insert(args, 0, "--class") < 0 ||
		    strvec_insert(args, 1, CONNECT_SERVER_CLASS) < 0)
			goto nomem;
		i += 2;
	}
	/* After every --conf of the user's: SparkSubmit keeps the last one. */
	if (insert_confs(args, &i, extra, &seen) < 0 || insert_confs(args, &i, force, NULL) < 0)
		goto nomem;
	conf_free(&seen);
	return 0;
nomem:
	conf_free(&seen);
	return -1;
}
