/* The state file (base/statefile.c) and who wrote it (base/proc_ident.c):
 * the start time parsed out of /proc/<pid>/stat whatever the command name
 * holds, a document that changes only when what it shows changes, and the
 * reader's view of it (issue 13 item 2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/engine_info.h"
#include "base/lifecycle.h"
#include "base/proc_ident.h"
#include "base/statefile.h"

static void stat_line_start_time(void **st)
{
	(void)st;
	unsigned long long v = 0;
	/* Field 22 counted from the last ')': comm may hold spaces and ')'. */
	const char *line = "4242 (a) b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 9 0 "
			   "123456789 1000 200 18446744073709551615";
	assert_int_equal(proc_stat_start_ticks(line, &v), 0);
	assert_true(v == 123456789ULL);
	assert_int_equal(proc_stat_start_ticks("4242 (x) S 1 2 3", &v), -1);
	assert_int_equal(proc_stat_start_ticks("no parenthesis", &v), -1);
}

static void own_identity_is_alive(void **st)
{
	(void)st;
	struct proc_ident me;
	assert_int_equal(proc_ident_of(0, &me), 0);
	assert_int_equal(me.pid, getpid());
	assert_true(me.start_ticks > 0);
	assert_true(strlen(me.boot_id) == 36);
	assert_int_equal(proc_ident_alive(&me), 1);
	struct proc_ident other = me;
	other.start_ticks++; /* same pid, another process */
	assert_int_equal(proc_ident_alive(&other), 0);
	other = me;
	snprintf(other.boot_id, sizeof(other.boot_id), "00000000-0000-0000-0000-000000000000");
	assert_int_equal(proc_ident_alive(&other), 0);
	other.pid = 0;
	assert_int_equal(proc_ident_alive(&other), 0);
}

static void set_reg(struct engine_info *e, void *arg)
{
	e->reg_state = REG_REGISTERED;
	snprintf(e->znode_path, sizeof(e->znode_path), "%s", (const char *)arg);
}

static void set_heap(struct engine_info *e, void *arg)
{
	(void)arg;
	e->heap_used += 4096;
}

static void written_on_change_only(void **st)
{
	(void)st;
	char dir[] = "/tmp/sparkshim-statefile-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/state.json", dir);
	lifecycle_reset();
	engine_info_reset();
	statefile_set_path(path);
	engine_info_set_listener(statefile_refresh);
	assert_int_equal(statefile_write(ST_STARTING), 0);
	struct stat a, b;
	assert_int_equal(stat(path, &a), 0);
	/* Not shown in the file: no rewrite (same inode: rename makes a new one). */
	engine_info_update(set_heap, NULL);
	assert_int_equal(stat(path, &b), 0);
	assert_true(a.st_ino == b.st_ino);
	/* Shown: rewritten by the update itself. */
	engine_info_update(set_reg, "/ns/serverUri=h:1;sequence=0000000001");
	assert_int_equal(stat(path, &b), 0);
	assert_true(a.st_ino != b.st_ino);
	struct statefile_view v;
	assert_int_equal(statefile_read(path, &v), 0);
	assert_int_equal(v.owner.pid, getpid());
	assert_int_equal(proc_ident_alive(&v.owner), 1);
	assert_string_equal(v.state, "STARTING");
	FILE *f = fopen(path, "r");
	char doc[4096];
	size_t n = fread(doc, 1, sizeof(doc) - 1, f);
	fclose(f);
	doc[n] = '\0';
	assert_non_null(strstr(doc, "\"registration\": \"REGISTERED\""));
	assert_non_null(strstr(doc, "\"znode\": \"/ns/serverUri=h:1;sequence=0000000001\""));
	/* Removed: nothing writes it again. */
	statefile_remove();
	engine_info_update(set_reg, "/ns/other");
	assert_int_equal(access(path, F_OK), -1);
	engine_info_set_listener(NULL);
	assert_int_equal(statefile_read(path, &v), -1);
	rmdir(dir);
}

static void not_a_state_file(void **st)
{
	(void)st;
	char path[] = "/tmp/sparkshim-notstate-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_true(write(fd, "{\"x\": 1}\n", 9) == 9);
	close(fd);
	struct statefile_view v;
	assert_int_equal(statefile_read(path, &v), -2);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stat_line_start_time),
		cmocka_unit_test(own_identity_is_alive),
		cmocka_unit_test(written_on_change_only),
		cmocka_unit_test(not_a_state_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
