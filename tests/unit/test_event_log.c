/* The lifecycle event ring: sequence numbers, snapshot, gaps, listener. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/lifecycle.h"
#include "shim/ctl/event_log.h"

static int setup(void **state)
{
	(void)state;
	lifecycle_reset();
	event_log_reset();
	return 0;
}

static void empty_log(void **state)
{
	(void)state;
	struct event_rec r;
	uint64_t gap;
	assert_int_equal(event_log_last_seq(), 0);
	assert_int_equal(event_log_next(0, &r, &gap), 0);
	assert_int_equal(gap, 0);
}

static void attach_records_snapshot_and_transitions(void **state)
{
	(void)state;
	assert_int_equal(event_log_attach(), 0);
	assert_int_equal(event_log_attach(), 0); /* no second listener */
	struct event_rec r;
	uint64_t gap;
	assert_int_equal(event_log_next(0, &r, &gap), 1);
	assert_int_equal(r.seq, 1);
	assert_int_equal(r.from, -1);
	assert_int_equal(r.to, ST_STARTING);
	assert_int_equal(lifecycle_fire(TR_READY, "port answers"), 0);
	assert_int_equal(event_log_last_seq(), 2); /* exactly one entry per transition */
	assert_int_equal(event_log_next(1, &r, &gap), 1);
	assert_int_equal(r.seq, 2);
	assert_int_equal(r.from, ST_STARTING);
	assert_int_equal(r.to, ST_READY);
	assert_string_equal(r.reason, "port answers");
	assert_true(r.time_ms > 0);
	assert_int_equal(event_log_next(2, &r, &gap), 0);
	/* a refused transition records nothing */
	assert_int_equal(lifecycle_fire(TR_STOPPED, "nope"), -1);
	assert_int_equal(event_log_last_seq(), 2);
}

static void append_kicks_watchers(void **state)
{
	(void)state;
	uint64_t gen = lifecycle_generation();
	event_log_append(ST_READY, ST_DRAINING, "x");
	assert_true(lifecycle_generation() != gen);
}

static void ring_overflow_reports_gap(void **state)
{
	(void)state;
	for (int i = 0; i < EVENT_LOG_SIZE * 2 + 5; i++)
		event_log_append(ST_READY, ST_READY, "f");
	uint64_t last = event_log_last_seq();
	assert_int_equal(last, EVENT_LOG_SIZE * 2 + 5);
	struct event_rec r;
	uint64_t gap;
	uint64_t oldest = last - EVENT_LOG_SIZE + 1;
	assert_int_equal(event_log_next(0, &r, &gap), 1);
	assert_int_equal(gap, oldest - 1);
	assert_int_equal(r.seq, oldest);
	assert_int_equal(event_log_next(oldest - 1, &r, &gap), 1);
	assert_int_equal(gap, 0);
	assert_int_equal(r.seq, oldest);
	assert_int_equal(event_log_next(last - 1, &r, &gap), 1);
	assert_int_equal(r.seq, last);
	assert_int_equal(event_log_next(last, &r, &gap), 0);
	/* a reader from the future (after a restart) just sees nothing */
	assert_int_equal(event_log_next(last + 100, &r, &gap), 0);
}

static void long_reason_truncated(void **state)
{
	(void)state;
	char big[EVENT_LOG_REASON * 2];
	memset(big, 'r', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	event_log_append(ST_READY, ST_FAILED, big);
	event_log_append(ST_READY, ST_FAILED, NULL);
	struct event_rec r;
	uint64_t gap;
	assert_int_equal(event_log_next(0, &r, &gap), 1);
	assert_int_equal(strlen(r.reason), EVENT_LOG_REASON - 1);
	assert_int_equal(event_log_next(1, &r, &gap), 1);
	assert_string_equal(r.reason, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(empty_log, setup),
		cmocka_unit_test_setup(attach_records_snapshot_and_transitions, setup),
		cmocka_unit_test_setup(append_kicks_watchers, setup),
		cmocka_unit_test_setup(ring_overflow_reports_gap, setup),
		cmocka_unit_test_setup(long_reason_truncated, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
