/* The exit code table (base/exitcodes.c) is the one source: the README's
 * "Exit codes" table must be it row for row, every exit in
 * docs/operations.md's stopping table must be one of its codes, and
 * tests/integration/exitcodes.py must name exactly its codes. Also the one
 * classifier of how Spark's JVM ended (classify_exit). Run from the
 * repository root (make unit). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/conf.h"
#include "base/exitcodes.h"
#include "launcher/exit_path.h"

/* Split a Markdown table row "| a | b | c |" into at most max cells. */
static int cells(char *line, char **out, int max)
{
	if (line[0] != '|')
		return 0;
	int n = 0;
	char *p = line + 1, *bar;
	while (n < max && (bar = strchr(p, '|'))) {
		*bar = 0;
		out[n++] = str_trim(p);
		p = bar + 1;
	}
	return n;
}

/* The table under the heading `section` of `path`, body rows only:
 * calls fn for each row's cells. Returns the number of rows. */
static int table_rows(const char *path, const char *section,
		      void (*fn)(char **c, int n, void *arg), void *arg)
{
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s (run from the repository root)", path);
	char line[2048];
	int in = 0, rows = 0, seen_header = 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (strncmp(line, "## ", 3) == 0) {
			if (in)
				break;
			in = strcmp(line + 3, section) == 0;
			continue;
		}
		if (!in || line[0] != '|') {
			if (in && seen_header && rows && line[0] != '|')
				break; /* the table ended */
			continue;
		}
		if (!seen_header) { /* header row, then the |---| row */
			seen_header = 1;
			if (!fgets(line, sizeof(line), f))
				break;
			continue;
		}
		char *c[8];
		int n = cells(line, c, 8);
		fn(c, n, arg);
		rows++;
	}
	fclose(f);
	assert_true(in || rows); /* the section exists */
	return rows;
}

static void readme_row(char **c, int n, void *arg)
{
	size_t *i = arg;
	assert_int_equal(n, 2);
	if (*i >= n_exit_codes)
		fail_msg("README has a row the table lacks: %s | %s", c[0], c[1]);
	const struct exit_code_info *x = &exit_codes[*i];
	if (strcmp(c[0], x->shown) != 0 || strcmp(c[1], x->meaning) != 0)
		fail_msg("README row %zu is\n  %s | %s\nbut base/exitcodes.c has\n  %s | %s", *i, c[0],
			 c[1], x->shown, x->meaning);
	if (x->code >= 0 && x->code < EXIT_SIGNAL_BASE)
		assert_int_equal(atoi(c[0]), x->code);
	(*i)++;
}

static void test_readme_table_is_the_c_table(void **st)
{
	(void)st;
	size_t i = 0;
	table_rows("README.md", "Exit codes", readme_row, &i);
	assert_int_equal(i, n_exit_codes);
}

static void operations_row(char **c, int n, void *arg)
{
	int *checked = arg;
	assert_int_equal(n, 3);
	const char *code = c[2];
	if (strcmp(code, "128+signal") == 0 || strcmp(code, "n") == 0)
		return; /* the table's 128+N and "other" rows */
	char *end;
	long v = strtol(code, &end, 10);
	if (*end || end == code)
		fail_msg("docs/operations.md: exit \"%s\" is no code", code);
	for (size_t i = 0; i < n_exit_codes; i++)
		if (exit_codes[i].code == v && exit_codes[i].name) {
			(*checked)++;
			return;
		}
	fail_msg("docs/operations.md: exit %ld (%s) is not in base/exitcodes.c", v, c[0]);
}

static void test_operations_exits_are_in_the_table(void **st)
{
	(void)st;
	int checked = 0;
	assert_true(table_rows("docs/operations.md", "Stopping", operations_row, &checked) > 0);
	assert_true(checked > 0);
}

static void test_python_module_names_the_table(void **st)
{
	(void)st;
	FILE *f = fopen("tests/integration/exitcodes.py", "r");
	assert_non_null(f);
	char line[512];
	size_t found = 0, named = 0;
	while (fgets(line, sizeof(line), f)) {
		char name[64];
		int code;
		if (sscanf(line, "%63[A-Z_] = %d", name, &code) != 2 || strncmp(name, "EXIT_", 5))
			continue;
		size_t i;
		for (i = 0; i < n_exit_codes; i++)
			if (exit_codes[i].name && strcmp(exit_codes[i].name, name) == 0)
				break;
		if (i == n_exit_codes)
			fail_msg("exitcodes.py: %s is not in base/exitcodes.c", name);
		if (exit_codes[i].code != code)
			fail_msg("exitcodes.py: %s = %d, base/exitcodes.c says %d", name, code,
				 exit_codes[i].code);
		found++;
	}
	fclose(f);
	for (size_t i = 0; i < n_exit_codes; i++)
		named += exit_codes[i].name != NULL;
	assert_int_equal(found, named);
}

static void test_table_is_consistent(void **st)
{
	(void)st;
	for (size_t i = 0; i < n_exit_codes; i++) {
		assert_non_null(exit_codes[i].shown);
		assert_non_null(exit_codes[i].meaning);
		for (size_t j = i + 1; j < n_exit_codes; j++)
			if (exit_codes[i].name)
				assert_int_not_equal(exit_codes[i].code, exit_codes[j].code);
	}
}

/* The unit's RestartPreventExitStatus= is exactly exit_codes_no_restart[],
 * each of them a named code of the table, and SuccessExitStatus= are the
 * codes of a stop forced by a second SIGTERM / SIGINT. */
static void test_systemd_unit_matches_the_table(void **st)
{
	(void)st;
	const char *path = "scripts/systemd/sparkshim@.service.in";
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s (run from the repository root)", path);
	char line[1024];
	int prevent = 0, success = 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (strncmp(line, "RestartPreventExitStatus=", 25) == 0) {
			prevent++;
			size_t n = 0;
			for (char *tok = strtok(line + 25, " "); tok; tok = strtok(NULL, " "), n++) {
				if (n >= n_exit_codes_no_restart)
					fail_msg("%s: RestartPreventExitStatus= lists %s, which "
						 "exit_codes_no_restart[] lacks", path, tok);
				if (atoi(tok) != exit_codes_no_restart[n])
					fail_msg("%s: RestartPreventExitStatus= has %s where base/exitcodes.c "
						 "has %d", path, tok, exit_codes_no_restart[n]);
			}
			if (n != n_exit_codes_no_restart)
				fail_msg("%s: RestartPreventExitStatus= lacks %d (and after)", path,
					 exit_codes_no_restart[n]);
		} else if (strncmp(line, "SuccessExitStatus=", 18) == 0) {
			success++;
			char want[64];
			snprintf(want, sizeof(want), "%d %d", EXIT_SIGNAL_BASE + 15, EXIT_SIGNAL_BASE + 2);
			assert_string_equal(line + 18, want);
		}
	}
	fclose(f);
	assert_int_equal(prevent, 1);
	assert_int_equal(success, 1);
	for (size_t i = 0; i < n_exit_codes_no_restart; i++) {
		size_t j;
		for (j = 0; j < n_exit_codes; j++)
			if (exit_codes[j].name && exit_codes[j].code == exit_codes_no_restart[i])
				break;
		if (j == n_exit_codes)
			fail_msg("exit_codes_no_restart[] has %d, not in the table", exit_codes_no_restart[i]);
		/* a clean stop, a crash or a forced stop must restart */
		assert_true(exit_codes_no_restart[i] > EXIT_INTERNAL);
		assert_true(exit_codes_no_restart[i] < EXIT_JVM_CRASH);
	}
}

static int classify(enum shim_state st, int sys, int status, const char *exc, char *msg)
{
	struct jvm_end e = {.state = st, .system_exit = sys, .status = status, .exception = exc};
	return classify_exit(&e, msg, 1200);
}

static void test_classify_exit(void **st)
{
	(void)st;
	char m[1200];
	/* System.exit while serving: Spark's status is ours. */
	assert_int_equal(classify(ST_READY, 1, 3, "", m), 3);
	assert_non_null(strstr(m, "System.exit(3)"));
	assert_int_equal(classify(ST_DRAINING, 1, 300, "java.lang.OutOfMemoryError: x", m), 300 & 0xff);
	/* Starting. */
	assert_int_equal(classify(ST_STARTING, 1, 1, "java.net.BindException: Address already in use", m),
			 EXIT_PORT_IN_USE);
	assert_int_equal(classify(ST_STARTING, 0, 0, "java.io.IOException: Failed to bind to 0.0.0.0", m),
			 EXIT_PORT_IN_USE);
	/* Spark 4's connect service names itself: its port */
	assert_int_equal(classify(ST_STARTING, 1, 255,
				  "java.net.BindException: Failed to bind to address /127.0.0.1:15002: Service "
				  "'org.apache.spark.sql.connect.service.SparkConnectService' failed after 0 "
				  "retries (starting from 15002)! Consider explicitly setting ...", m),
			 EXIT_PORT_IN_USE);
	assert_non_null(strstr(m, "Spark Connect could not bind its port"));
	/* the web UI is not the connect port (WebUI.bind: "Failed to bind SparkUI", exit 1) */
	assert_int_equal(classify(ST_STARTING, 1, 1,
				  "java.net.BindException: Failed to bind to /0.0.0.0:4040: Service 'SparkUI' "
				  "failed after 16 retries (starting from 4040)! Consider explicitly setting the "
				  "appropriate port for the service 'SparkUI' (for example spark.ui.port for "
				  "SparkUI) to an available port or increasing spark.port.maxRetries.", m),
			 EXIT_SPARK_START);
	assert_non_null(strstr(m, "Spark failed to start: its web UI could not bind a port"));
	assert_int_equal(classify(ST_STARTING, 1, 1,
				  "java.net.BindException: Failed to bind to /0.0.0.0:7078: Service "
				  "'sparkDriver' failed after 16 retries (starting from 7078)! ...", m),
			 EXIT_SPARK_START);
	assert_non_null(strstr(m, "one of its services could not bind a port"));
	assert_int_equal(classify(ST_STARTING, 1, 101, "", m), EXIT_SPARK_START);
	assert_non_null(strstr(m, "could not load the main class (exit 101); Spark 3.5 needs the connect jar"));
	assert_int_equal(classify(ST_STARTING, 0, 0,
				  "java.lang.ClassNotFoundException: org.apache.spark.sql.connect.X", m),
			 EXIT_SPARK_START);
	assert_non_null(strstr(m, "X. Spark 3.5 needs the connect jar"));
	assert_int_equal(classify(ST_STARTING, 1, 1, "java.lang.OutOfMemoryError: Java heap space", m),
			 EXIT_JVM_OOM);
	assert_string_equal(m, "the JVM ran out of memory while Spark started: java.lang.OutOfMemoryError: Java heap space");
	assert_int_equal(classify(ST_STARTING, 1, 2, "java.lang.IllegalStateException: no", m),
			 EXIT_SPARK_START);
	assert_string_equal(m, "Spark failed to start: java.lang.IllegalStateException: no (then System.exit(2))");
	assert_int_equal(classify(ST_STARTING, 1, 2, "", m), EXIT_SPARK_START);
	assert_string_equal(m, "Spark failed to start: System.exit(2)");
	assert_int_equal(classify(ST_STARTING, 0, 0, "", m), EXIT_SPARK_START);
	assert_string_equal(m, "Spark returned before its connect server started");
	assert_int_equal(classify(ST_STARTING, 0, 0, "java.lang.IllegalStateException: no", m),
			 EXIT_SPARK_START);
	assert_string_equal(m, "Spark failed to start: java.lang.IllegalStateException: no");
	/* Main returned while serving. */
	assert_int_equal(classify(ST_READY, 0, 0, "", m), EXIT_SPARK_DIED);
	assert_string_equal(m, "Spark stopped on its own while serving");
	assert_int_equal(classify(ST_READY, 0, 0, "java.lang.RuntimeException: boom", m), EXIT_SPARK_DIED);
	assert_string_equal(m, "Spark failed while serving: java.lang.RuntimeException: boom");
	assert_int_equal(classify(ST_READY, 0, 0, "java.lang.OutOfMemoryError: Java heap space", m),
			 EXIT_JVM_OOM);
	assert_string_equal(m, "the JVM ran out of memory: java.lang.OutOfMemoryError: Java heap space");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_readme_table_is_the_c_table),
		cmocka_unit_test(test_operations_exits_are_in_the_table),
		cmocka_unit_test(test_python_module_names_the_table),
		cmocka_unit_test(test_table_is_consistent),
		cmocka_unit_test(test_systemd_unit_matches_the_table),
		cmocka_unit_test(test_classify_exit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
