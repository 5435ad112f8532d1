#include "jni/java_cmdline.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void java_cmd_free(struct java_cmd *c)
{
	strvec_free(&c->env);
	strvec_free(&c->options);
	strvec_free(&c->args);
	free(c->main_class);
	c->main_class = NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_jar(const char *name)
{
	size_t l = strlen(name);
	return l > 4 && (strcmp(name + l - 4, ".jar") == 0 || strcmp(name + l - 4, ".JAR") == 0);
}

/* Append the jars of dir to out (sorted). */
static int expand_dir(const char *dir, struct strvec *out)
{
	DIR *d = opendir(*dir ? dir : ".");
	if (!d)
		return 0;
	struct strvec names;
	strvec_init(&names);
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d)))
		if (is_jar(e->d_name) && strvec_push(&names, e->d_name) < 0)
			rc = -1;
	closedir(d);
	if (names.n)
		qsort(names.v, names.n, sizeof(*names.v), cmp_str);
	for (size_t i = 0; rc == 0 && i < names.n; i++)
		rc = *dir ? strvec_pushf(out, "%s/%s", dir, names.v[i])
			  : strvec_push(out, names.v[i]);
	strvec_free(&names);
	return rc;
}

char *classpath_expand(const char *cp)
{
	struct strvec parts;
	strvec_init(&parts);
	char *copy = strdup(cp);
	if (!copy)
		return NULL;
	int rc = 0;
	char *p = copy;
	for (;;) {
		char *colon = strchr(p, ':');
		if (colon)
			*colon = '\0';
		size_t l = strlen(p);
		if (l >= 1 && p[l - 1] == '*' && (l == 1 || p[l - 2] == '/')) {
			p[l == 1 ? 0 : l - 2] = '\0';
			rc = expand_dir(p, &parts);
		} else if (l > 0) {
			rc = strvec_push(&parts, p);
		}
		if (rc < 0 || !colon)
			break;
		p = colon + 1;
	}
	free(copy);
	char *joined = rc == 0 ? strvec_join(&parts, 0, ":") : NULL;
	strvec_free(&parts);
	return joined;
}

/* java launcher options that take their value as the next argument and that
 * the VM only understands in the joined --opt=value form. */
static const char *const joined_opts[] = {
	"--add-opens",  "--add-exports",        "--add-reads",   "--add-modules",
	"--limit-modules", "--module-path",     "--upgrade-module-path",
	"--patch-module", "--enable-native-access", NULL,
};
/* Flags only the java launcher understands; the VM would refuse them. */
static const char *const launcher_only[] = {"-server", "-client", "-d64", "-d32", NULL};

static int in_list(const char *s, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

static int push_jdk_java_options(struct strvec *opts, const char *val)
{
	if (!val)
		return 0;
	const char *p = val;
	while (*p) {
		while (isspace((unsigned char)*p))
			p++;
		const char *start = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
		if (p > start && strvec_push_n(opts, start, (size_t)(p - start)) < 0)
			return -1;
	}
	return 0;
}

int java_cmd_parse(const struct strvec *cmd, const char *jdk_java_options,
		   struct java_cmd *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	size_t i = 0;
	if (i < cmd->n && strcmp(cmd->v[i], "env") == 0) {
		for (i++; i < cmd->n && strchr(cmd->v[i], '=') && cmd->v[i][0] != '-'; i++)
			if (strvec_push(&out->env, cmd->v[i]) < 0)
				goto nomem;
	}
	if (i >= cmd->n) {
		snprintf(err, errlen, "Spark's launcher printed no java command");
		goto fail;
	}
	i++; /* the java executable: we are the JVM now */
	if (push_jdk_java_options(&out->options, jdk_java_options) < 0)
		goto nomem;
	for (; i < cmd->n; i++) {
		const char *a = cmd->v[i];
		if (a[0] != '-')
			break;
		const char *next = i + 1 < cmd->n ? cmd->v[i + 1] : NULL;
		if (!strcmp(a, "-cp") || !strcmp(a, "-classpath") || !strcmp(a, "--class-path")) {
			if (!next) {
				snprintf(err, errlen, "java option %s has no value", a);
				goto fail;
			}
			char *cp = classpath_expand(next);
			if (!cp || strvec_pushf(&out->options, "-Djava.class.path=%s", cp) < 0) {
				free(cp);
				goto nomem;
			}
			free(cp);
			i++;
		} else if (in_list(a, joined_opts) || !strcmp(a, "-p")) {
			if (!next) {
				snprintf(err, errlen, "java option %s has no value", a);
				goto fail;
			}
			if (strvec_pushf(&out->options, "%s=%s",
					 strcmp(a, "-p") ? a : "--module-path", next) < 0)
				goto nomem;
			i++;
		} else if (in_list(a, launcher_only)) {
			continue;
		} else if (!strcmp(a, "-jar") || !strcmp(a, "-m") || !strcmp(a, "--module") ||
			   !strcmp(a, "-version") || !strcmp(a, "--version")) {
			snprintf(err, errlen,
				 "java option %s in Spark's launch command is not supported in-process", a);
			goto fail;
		} else if (strvec_push(&out->options, a) < 0) {
			goto nomem;
		}
	}
	if (i >= cmd->n) {
		snprintf(err, errlen, "Spark's launch command names no main class");
		goto fail;
	}
	out->main_class = strdup(cmd->v[i]);
	if (!out->main_class)
		goto nomem;
	for (i++; i < cmd->n; i++)
		if (strvec_push(&out->args, cmd->v[i]) < 0)
			goto nomem;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	java_cmd_free(out);
	return -1;
}
