/* The orphan reaper (launcher/reaper.c) with real processes: this test
 * process makes itself a child subreaper. A helper thread stands in for a
 * JVM thread running ProcessBuilder; the test's main thread is the
 * supervisor's. The clock is passed in, so the grace period is exact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "launcher/reaper.h"

/* 'Z', 'S', ... or 0 when there is no such process. */
static char proc_state(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

static void wait_state(pid_t pid, char want)
{
	for (int i = 0; i < 2000; i++) { /* 10 s */
		if (proc_state(pid) == want)
			return;
		usleep(5000);
	}
	fail_msg("pid %d never reached state '%c' (is '%c')", (int)pid, want ? want : '-',
		 proc_state(pid) ? proc_state(pid) : '-');
}

static int main_thread_has_child(pid_t pid);

/* ---- a "JVM thread": forks, then waits for its child by pid when told ---- */

struct jvm_thread {
	int go[2];        /* main -> thread: now waitpid */
	pid_t child;
	int status;       /* what waitpid gave the thread */
	int wait_rc;
	int grandchild;   /* 1: the child double-forks, then exits 7 */
	int release[2];   /* main -> grandchild: exit now */
	int report[2];    /* child -> main: the grandchild's pid */
};

static void *jvm_thread_main(void *arg)
{
	struct jvm_thread *j = arg;
	pid_t c = fork();
	if (c == 0) {
		if (j->grandchild) {
			pid_t g = fork();
			if (g == 0) {
				char b;
				close(j->release[1]);
				while (read(j->release[0], &b, 1) < 0 && errno == EINTR)
					;
				_exit(3);
			}
			if (write(j->report[1], &g, sizeof(g)) != sizeof(g))
				_exit(99);
			_exit(7);
		}
		_exit(5);
	}
	j->child = c;
	char b;
	while (read(j->go[0], &b, 1) < 0 && errno == EINTR)
		;
	while ((j->wait_rc = waitpid(c, &j->status, 0)) < 0 && errno == EINTR)
		;
	return NULL;
}

static void jvm_thread_start(struct jvm_thread *j, pthread_t *t, int grandchild)
{
	memset(j, 0, sizeof(*j));
	j->grandchild = grandchild;
	assert_int_equal(pipe(j->go), 0);
	assert_int_equal(pipe(j->release), 0);
	assert_int_equal(pipe(j->report), 0);
	assert_int_equal(pthread_create(t, NULL, jvm_thread_main, j), 0);
	while (!__atomic_load_n(&j->child, __ATOMIC_SEQ_CST))
		usleep(1000);
}

static void jvm_thread_finish(struct jvm_thread *j, pthread_t t)
{
	assert_int_equal(write(j->go[1], "x", 1), 1);
	assert_int_equal(pthread_join(t, NULL), 0);
	for (int i = 0; i < 2; i++) {
		close(j->go[i]);
		close(j->release[i]);
		close(j->report[i]);
	}
}

static void test_inactive_without_pid1_or_subreaper(void **st)
{
	(void)st;
	char err[256];
	assert_true(getpid() != 1);
	assert_int_equal(reaper_init(0, err, sizeof(err)), 0);
	assert_false(reaper_active());
	assert_int_equal(reaper_next_ms(), 0);
	assert_int_equal(reaper_scan(monotonic_ms()), 0);
}

/* The JVM's own child stays a zombie, however long, until its thread waits:
 * and that thread then gets the real status, not ECHILD. */
static void test_jvm_child_status_is_not_stolen(void **st)
{
	(void)st;
	char err[256];
	assert_int_equal(reaper_init(1, err, sizeof(err)), 1);
	struct jvm_thread j;
	pthread_t t;
	jvm_thread_start(&j, &t, 0);
	wait_state(j.child, 'Z');
	assert_false(main_thread_has_child(j.child)); /* the forking thread's */
	int64_t now = 1000000;
	for (int i = 0; i < 5; i++, now += REAPER_GRACE_MS)
		assert_int_equal(reaper_scan(now), 0);
	assert_int_equal(proc_state(j.child), 'Z');
	jvm_thread_finish(&j, t);
	assert_int_equal(j.wait_rc, j.child);
	assert_true(WIFEXITED(j.status));
	assert_int_equal(WEXITSTATUS(j.status), 5);
}

/* A child that double-forks and exits: the JVM thread gets 7, the
 * grandchild comes to us and is reaped once it has been a zombie for the
 * grace period, not before. */
static void test_adopted_orphan_is_reaped_after_grace(void **st)
{
	(void)st;
	char err[256];
	assert_int_equal(reaper_init(1, err, sizeof(err)), 1);
	struct jvm_thread j;
	pthread_t t;
	jvm_thread_start(&j, &t, 1);
	pid_t g;
	assert_int_equal(read(j.report[0], &g, sizeof(g)), sizeof(g));
	/* The JVM thread waits for its child while the grandchild lives on. */
	assert_int_equal(write(j.go[1], "x", 1), 1);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(j.wait_rc, j.child);
	assert_int_equal(WEXITSTATUS(j.status), 7);
	/* Adopted: its parent is now us. */
	assert_int_not_equal(proc_state(g), 0);
	assert_int_equal(write(j.release[1], "x", 1), 1);
	wait_state(g, 'Z');
	int64_t t0 = 5000000;
	assert_int_equal(reaper_scan(t0), 0);
	assert_int_equal(reaper_next_ms(), t0 + REAPER_SCAN_MS);
	assert_int_equal(reaper_scan(t0 + REAPER_GRACE_MS - 1), 0);
	assert_int_equal(proc_state(g), 'Z');
	assert_int_equal(reaper_scan(t0 + REAPER_GRACE_MS), 1);
	assert_int_equal(proc_state(g), 0);
	assert_int_equal(reaper_scan(t0 + 2 * REAPER_GRACE_MS), 0);
	for (int i = 0; i < 2; i++) {
		close(j.go[i]);
		close(j.release[i]);
		close(j.report[i]);
	}
}

static int main_thread_has_child(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	int c, found = 0;
	while (fscanf(f, "%d", &c) == 1)
		found |= c == pid;
	fclose(f);
	return found;
}

static void *fork_sleeper(void *arg)
{
	int *fds = arg;
	pid_t c = fork();
	if (c == 0) {
		char b;
		close(fds[1]);
		while (read(fds[0], &b, 1) < 0 && errno == EINTR)
			;
		_exit(9);
	}
	return (void *)(intptr_t)c;
}

/* What reaper.c relies on: a child belongs to the thread that forked it
 * (so the JVM's children are not the main thread's), and when that thread
 * exits the kernel hands its children to the main thread, where only the
 * grace period protects them: their status still goes to whoever waits. */
static void test_children_of_an_exited_thread_go_to_main(void **st)
{
	(void)st;
	char err[256];
	assert_int_equal(reaper_init(1, err, sizeof(err)), 1);
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pthread_t t;
	void *ret;
	assert_int_equal(pthread_create(&t, NULL, fork_sleeper, fds), 0);
	assert_int_equal(pthread_join(t, &ret), 0);
	pid_t c = (pid_t)(intptr_t)ret;
	assert_true(c > 0);
	assert_true(main_thread_has_child(c));
	close(fds[1]); /* it exits 9 */
	wait_state(c, 'Z');
	int64_t now = 9000000;
	assert_int_equal(reaper_scan(now), 0);
	assert_int_equal(reaper_scan(now + REAPER_GRACE_MS - 1), 0);
	int status;
	assert_int_equal(waitpid(c, &status, 0), c); /* Java's reaper, in time */
	assert_int_equal(WEXITSTATUS(status), 9);
	assert_int_equal(reaper_scan(now + REAPER_GRACE_MS), 0);
	close(fds[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inactive_without_pid1_or_subreaper),
		cmocka_unit_test(test_jvm_child_status_is_not_stolen),
		cmocka_unit_test(test_adopted_orphan_is_reaped_after_grace),
		cmocka_unit_test(test_children_of_an_exited_thread_go_to_main),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
