/* Test tool: the shim's reading of spark-submit arguments, as JSON on one
 * line, for tests that compare it with Spark's own launcher:
 *
 *   submit_view VERSION [--connect] [--] ARGS...
 *
 * VERSION is the Spark version ("4.3.0"). --connect first turns the
 * arguments into a Spark Connect server launch (submit_make_connect), as the
 * engine does; "final" holds the arguments then read. Output keys: final,
 * replaced, error (Spark's message or null), conf, head, passed, class,
 * resource, app_args, properties_file, extra_properties, load_defaults.
 * Exit 0, or 1 when the arguments are refused (error set). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strvec.h"
#include "launcher/submit_args.h"

static void jstr(const char *s)
{
	if (!s) {
		fputs("null", stdout);
		return;
	}
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void jvec(const char *key, const struct strvec *v)
{
	printf(", \"%s\": [", key);
	for (size_t i = 0; i < v->n; i++) {
		if (i)
			fputs(", ", stdout);
		jstr(v->v[i]);
	}
	putchar(']');
}

static void jconf(const char *key, const struct conf *c)
{
	printf(", \"%s\": {", key);
	for (size_t i = 0; i < c->n; i++) {
		if (i)
			fputs(", ", stdout);
		jstr(c->v[i].key);
		fputs(": ", stdout);
		jstr(c->v[i].value);
	}
	putchar('}');
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: submit_view VERSION [--connect] [--] ARGS...\n");
		return 2;
	}
	int version = submit_spark_version(argv[1]), connect = 0, i = 2;
	if (i < argc && !strcmp(argv[i], "--connect")) {
		connect = 1;
		i++;
	}
	if (i < argc && !strcmp(argv[i], "--"))
		i++;
	struct strvec args;
	strvec_init(&args);
	for (; i < argc; i++)
		if (strvec_push(&args, argv[i]) < 0)
			return 2;
	char *replaced = NULL, err[1024];
	if (connect && submit_make_connect(&args, version, &replaced) < 0)
		return 2;
	struct submit_view v;
	submit_view_init(&v);
	int rc = submit_parse(&args, version, &v, err, sizeof(err));
	if (rc == 0)
		rc = submit_check_files(&v, err, sizeof(err));
	if (rc == 0)
		rc = submit_check_java_options(&v.conf, err, sizeof(err));
	fputs("{\"replaced\": ", stdout);
	jstr(replaced);
	jvec("final", &args);
	fputs(", \"error\": ", stdout);
	jstr(rc < 0 ? err : NULL);
	jconf("conf", &v.conf);
	jconf("head", &v.head);
	jvec("passed", &v.passed);
	fputs(", \"class\": ", stdout);
	jstr(v.main_class);
	fputs(", \"resource\": ", stdout);
	jstr(v.resource);
	jvec("app_args", &v.app_args);
	fputs(", \"properties_file\": ", stdout);
	jstr(v.properties_file);
	jvec("extra_properties", &v.extra_properties);
	printf(", \"load_defaults\": %s}\n", v.load_defaults ? "true" : "false");
	submit_view_free(&v);
	strvec_free(&args);
	free(replaced);
	return rc < 0 ? 1 : 0;
}
