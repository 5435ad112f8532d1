/* How Spark's activity figures move the engine's idle clock
 * (engine_activity_update): running operations, the operations mark, and
 * the Connect sessions' last access. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/clock.h"
#include "base/engine_info.h"
#include "jni/jvm_host.h"
#include "launcher/engine_probe.h"

static struct engine_info fresh(int64_t last_activity)
{
	struct engine_info e = {0};
	e.active_sessions = -1;
	e.active_operations = -1;
	e.idle_token = -1;
	e.last_activity_epoch_ms = last_activity;
	return e;
}

static struct jvm_activity quiet(void)
{
	return (struct jvm_activity){.active_operations = 0, .idle_since_token = 7,
				     .open_sessions = -1, .last_session_access_ms = -1};
}

static void session_access_moves_the_idle_clock(void **st)
{
	(void)st;
	struct engine_info e = fresh(1000);
	struct jvm_activity a = quiet();
	a.open_sessions = 2;
	a.last_session_access_ms = 5000;
	engine_activity_update(&e, &a);
	assert_int_equal(e.last_activity_epoch_ms, 5000);
	assert_int_equal(e.active_sessions, 2);
	assert_int_equal(e.active_operations, 0);
}

static void older_access_never_moves_it_back(void **st)
{
	(void)st;
	struct engine_info e = fresh(9000);
	struct jvm_activity a = quiet();
	a.open_sessions = 1;
	a.last_session_access_ms = 4000;
	engine_activity_update(&e, &a);
	assert_int_equal(e.last_activity_epoch_ms, 9000);
	assert_int_equal(e.active_sessions, 1);
}

static void a_released_session_counts_as_activity_once(void **st)
{
	(void)st;
	struct engine_info e = fresh(1000);
	struct jvm_activity a = quiet();
	a.open_sessions = 1;
	a.last_session_access_ms = 6000;
	engine_activity_update(&e, &a);
	a.open_sessions = 0; /* spark.stop() released it */
	a.last_session_access_ms = -1;
	int64_t before = epoch_ms();
	engine_activity_update(&e, &a);
	/* the release itself is the last activity, seen now */
	assert_true(e.last_activity_epoch_ms >= before);
	assert_int_equal(e.active_sessions, 0);
	/* and a later look that finds it still gone changes nothing */
	int64_t seen = e.last_activity_epoch_ms;
	engine_activity_update(&e, &a);
	assert_int_equal(e.last_activity_epoch_ms, seen);
}

static void unknown_sessions_stay_unknown(void **st)
{
	(void)st;
	struct engine_info e = fresh(1000);
	struct jvm_activity a = quiet(); /* Spark 3.5 without a readable cache */
	engine_activity_update(&e, &a);
	assert_int_equal(e.active_sessions, -1);
	assert_int_equal(e.last_activity_epoch_ms, 1000);
}

static void running_operation_counts_as_now(void **st)
{
	(void)st;
	struct engine_info e = fresh(1000);
	struct jvm_activity a = quiet();
	a.active_operations = 1;
	int64_t before = epoch_ms();
	engine_activity_update(&e, &a);
	assert_true(e.last_activity_epoch_ms >= before);
	assert_int_equal(e.active_operations, 1);
}

static void moved_operations_mark_counts_as_now(void **st)
{
	(void)st;
	struct engine_info e = fresh(1000);
	struct jvm_activity a = quiet();
	engine_activity_update(&e, &a); /* first sight of the mark: no change */
	assert_int_equal(e.last_activity_epoch_ms, 1000);
	a.idle_since_token = 8; /* an operation ran and ended in between */
	int64_t before = epoch_ms();
	engine_activity_update(&e, &a);
	assert_true(e.last_activity_epoch_ms >= before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(session_access_moves_the_idle_clock),
		cmocka_unit_test(older_access_never_moves_it_back),
		cmocka_unit_test(a_released_session_counts_as_activity_once),
		cmocka_unit_test(unknown_sessions_stay_unknown),
		cmocka_unit_test(running_operation_counts_as_now),
		cmocka_unit_test(moved_operations_mark_counts_as_now),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
