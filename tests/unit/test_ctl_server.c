/* The server object's call modes beyond the health/control tables: a
 * client-streaming echo, a bidi echo, a generic handler for unknown
 * methods, cancellation reaching a handler, two servers at once, and
 * stopping with handler calls open. Driven by rpc_client's streaming
 * functions. */
#include "tests/unit/ctl_testlib.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include <grpc/support/time.h>

#include "shim/ctl/ctl_call.h"
#include "shim/ctl/grpc_util.h"

#define M_COLLECT "/test.Echo/Collect"
#define M_CHAT "/test.Echo/Chat"
#define M_HANG "/test.Echo/Hang"
#define M_GUARDED "/test.Echo/Guarded"
#define M_LATER "/test.Echo/Later"
#define M_PLAN "/spark.connect.SparkConnectService/ExecutePlan"

static atomic_int n_cancelled, n_done, n_server_stop;

static int cancelled_count(void) { return atomic_load(&n_cancelled); }
static int done_count(void) { return atomic_load(&n_done); }

static void reset_counts(void)
{
	atomic_store(&n_cancelled, 0);
	atomic_store(&n_done, 0);
	atomic_store(&n_server_stop, 0);
}

static grpc_metadata md1(const char *key, const char *value)
{
	grpc_metadata m;
	memset(&m, 0, sizeof(m));
	m.key = grpc_slice_from_static_string(key);
	m.value = grpc_slice_from_copied_string(value);
	return m;
}

/* Value of key in md, or "" when absent. */
static const char *md_value(const grpc_metadata_array *md, const char *key, char *buf, size_t cap)
{
	buf[0] = '\0';
	for (size_t i = 0; md && i < md->count; i++)
		if (grpc_slice_str_cmp(md->metadata[i].key, key) == 0)
			slice_to_cstr(md->metadata[i].value, buf, cap);
	return buf;
}

static void count_cancel(struct ctl_call *c)
{
	(void)c;
	atomic_fetch_add(&n_cancelled, 1);
}

static void free_state_done(struct ctl_call *c)
{
	free(ctl_call_state(c));
	atomic_fetch_add(&n_done, 1);
}

/* ---- Collect: client streaming, one concatenated answer --------------- */

struct collect {
	uint8_t buf[4096];
	size_t len;
	int count;
};

static void collect_start(struct ctl_call *c)
{
	ctl_call_set_state(c, calloc(1, sizeof(struct collect)));
	ctl_call_read(c);
}

static void collect_message(struct ctl_call *c, const uint8_t *msg, size_t len)
{
	struct collect *st = ctl_call_state(c);
	if (st->len + len <= sizeof(st->buf)) {
		memcpy(st->buf + st->len, msg, len);
		st->len += len;
	}
	st->count++;
	ctl_call_read(c);
}

static void collect_half_close(struct ctl_call *c)
{
	struct collect *st = ctl_call_state(c);
	char n[16];
	snprintf(n, sizeof(n), "%d", st->count);
	grpc_metadata t = md1("x-count", n);
	ctl_call_write(c, st->buf, st->len);
	ctl_call_finish(c, GRPC_STATUS_OK, NULL, &t, 1);
	grpc_slice_unref(t.value);
}

static const struct ctl_call_handler collect_handler = {
	.on_start = collect_start, .on_message = collect_message,
	.on_half_close = collect_half_close, .on_cancel = count_cancel,
	.on_done = free_state_done,
};

/* ---- Chat: bidi echo -------------------------------------------------- */

static void chat_start(struct ctl_call *c)
{
	grpc_metadata m = md1("x-chat", "hello");
	ctl_call_send_metadata(c, &m, 1);
	grpc_slice_unref(m.value);
	ctl_call_read(c);
}

static void chat_message(struct ctl_call *c, const uint8_t *msg, size_t len)
{
	ctl_call_write(c, msg, len);
	ctl_call_read(c);
}

static void chat_half_close(struct ctl_call *c)
{
	ctl_call_finish(c, GRPC_STATUS_OK, "bye", NULL, 0);
}

static void chat_server_stop(struct ctl_call *c)
{
	atomic_fetch_add(&n_server_stop, 1);
	ctl_call_write(c, "server stopping", 15);
	ctl_call_finish(c, GRPC_STATUS_OK, "stopped", NULL, 0);
}

static const struct ctl_call_handler chat_handler = {
	.on_start = chat_start, .on_message = chat_message, .on_half_close = chat_half_close,
	.on_cancel = count_cancel, .on_server_stop = chat_server_stop,
	.on_done = free_state_done,
};

/* ---- Hang: reads, never answers --------------------------------------- */

static void hang_start(struct ctl_call *c) { ctl_call_read(c); }

static void hang_message(struct ctl_call *c, const uint8_t *msg, size_t len)
{
	(void)msg;
	(void)len;
	ctl_call_read(c);
}

static const struct ctl_call_handler hang_handler = {
	.on_start = hang_start, .on_message = hang_message, .on_cancel = count_cancel,
	.on_done = free_state_done,
};

/* ---- Later: answered from another thread, holding a reference --------- */

static void *later_main(void *arg)
{
	struct ctl_call *c = arg;
	tl_sleep_ms(50);
	ctl_call_write(c, "late", 4);
	ctl_call_finish(c, GRPC_STATUS_OK, NULL, NULL, 0);
	ctl_call_unref(c);
	return NULL;
}

static void later_start(struct ctl_call *c)
{
	pthread_t t;
	ctl_call_ref(c);
	if (pthread_create(&t, NULL, later_main, c) != 0) {
		ctl_call_unref(c);
		ctl_call_finish(c, GRPC_STATUS_INTERNAL, "no thread", NULL, 0);
		return;
	}
	pthread_detach(t);
}

static const struct ctl_call_handler later_handler = {
	.on_start = later_start, .on_done = free_state_done,
};

/* ---- generic: any method -------------------------------------------- */

/* Initial metadata: x-tag echoed, x-method, x-deadline (yes/no); then
 * every message echoed; x-method again as trailing metadata. */
static void generic_start(struct ctl_call *c)
{
	char tag[64] = "";
	ctl_call_metadata_get(c, "x-tag", tag, sizeof(tag));
	gpr_timespec dl = ctl_call_deadline(c);
	int has_dl = gpr_time_cmp(dl, gpr_inf_future(dl.clock_type)) != 0;
	grpc_metadata m[3] = {md1("x-tag", tag), md1("x-method", ctl_call_method(c)),
			      md1("x-deadline", has_dl ? "yes" : "no")};
	ctl_call_send_metadata(c, m, 3);
	for (int i = 0; i < 3; i++)
		grpc_slice_unref(m[i].value);
	ctl_call_read(c);
}

static void generic_half_close(struct ctl_call *c)
{
	grpc_metadata t = md1("x-method", ctl_call_method(c));
	ctl_call_finish(c, GRPC_STATUS_OK, NULL, &t, 1);
	grpc_slice_unref(t.value);
}

static const struct ctl_call_handler generic_handler = {
	.on_start = generic_start, .on_message = chat_message,
	.on_half_close = generic_half_close, .on_cancel = count_cancel,
	.on_done = free_state_done,
};

static const struct ctl_method echo_methods[] = {
	{.path = M_COLLECT, .call = &collect_handler},
	{.path = M_CHAT, .call = &chat_handler},
	{.path = M_HANG, .call = &hang_handler},
	{.path = M_GUARDED, .mutating = 1, .call = &collect_handler},
	{.path = M_LATER, .call = &later_handler},
};
static const struct ctl_service echo_service = {
	.name = "test.Echo", .methods = echo_methods,
	.n_methods = sizeof(echo_methods) / sizeof(echo_methods[0]),
};
static const struct ctl_service *const echo_services[] = {&echo_service};

static struct ctl_server *echo_srv;
static grpc_channel *echo_ch;
static char echo_addr[300];

static void echo_up(int with_generic, const char *token)
{
	reset_counts();
	struct ctl_server_opts o = {.bind = "127.0.0.1:0", .token = token, .name = "echo",
				    .services = echo_services, .n_services = 1,
				    .generic = with_generic ? &generic_handler : NULL};
	char err[256];
	echo_srv = ctl_server_start(&o, echo_addr, sizeof(echo_addr), err, sizeof(err));
	if (!echo_srv)
		fail_msg("ctl_server_start: %s", err);
	echo_ch = rpc_channel_open(echo_addr);
	assert_non_null(echo_ch);
}

static void echo_down(void)
{
	if (echo_ch)
		grpc_channel_destroy(echo_ch);
	echo_ch = NULL;
	ctl_server_stop(echo_srv);
	echo_srv = NULL;
}

static int echo_streams(void) { return ctl_server_stream_count(echo_srv); }

static int teardown(void **state)
{
	echo_down();
	return tl_down(state);
}

static struct rpc_stream *start(const char *method, const grpc_metadata *md, size_t n,
				int timeout_ms)
{
	struct rpc_stream *s;
	char err[256];
	if (rpc_stream_start(echo_ch, method, md, n, timeout_ms, &s, err, sizeof(err)) < 0)
		fail_msg("rpc_stream_start: %s", err);
	return s;
}

/* Next message as a string (caller frees), NULL when the stream ended. */
static char *next_str(struct rpc_stream *s)
{
	uint8_t *msg;
	size_t len;
	int r = rpc_stream_next(s, &msg, &len, T_MS);
	if (r == 0)
		return NULL;
	assert_int_equal(r, 1);
	char *str = malloc(len + 1);
	assert_non_null(str);
	memcpy(str, msg, len);
	str[len] = '\0';
	free(msg);
	return str;
}

static void expect_next(struct rpc_stream *s, const char *want)
{
	char *got = next_str(s);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void expect_end(struct rpc_stream *s, grpc_status_code code)
{
	assert_null(next_str(s));
	assert_int_equal(rpc_stream_status(s, NULL), code);
}

/* ---- tests ------------------------------------------------------------ */

static void client_streaming_echo(void **state)
{
	(void)state;
	echo_up(0, NULL);
	struct rpc_msg msgs[] = {{"a", 1}, {"bb", 2}, {"ccc", 3}};
	struct rpc_result r;
	assert_int_equal(rpc_client_stream(echo_ch, M_COLLECT, msgs, 3, NULL, 0, T_MS, &r), 0);
	assert_int_equal(r.status, GRPC_STATUS_OK);
	assert_int_equal(r.resp_len, 6);
	assert_memory_equal(r.resp, "abbccc", 6);
	rpc_result_free(&r);

	/* no message at all: an empty answer, and the count in the trailer */
	struct rpc_stream *s = start(M_COLLECT, NULL, 0, T_MS);
	assert_int_equal(rpc_stream_close_send(s, T_MS), 0);
	expect_next(s, "");
	expect_end(s, GRPC_STATUS_OK);
	char buf[16];
	assert_string_equal(md_value(rpc_stream_trailing_metadata(s), "x-count", buf, sizeof(buf)),
			    "0");
	rpc_stream_close(s);
	assert_int_equal(tl_wait_for(done_count, 2, T_MS), 2);
	assert_int_equal(cancelled_count(), 0);
	assert_int_equal(tl_wait_for(echo_streams, 0, T_MS), 0);
	echo_down();
}

static void bidi_echo(void **state)
{
	(void)state;
	echo_up(0, NULL);
	struct rpc_stream *s = start(M_CHAT, NULL, 0, T_MS);
	char buf[32];
	assert_string_equal(md_value(rpc_stream_initial_metadata(s, T_MS), "x-chat", buf,
				     sizeof(buf)),
			    "hello");
	/* each message comes back before the next one is sent */
	const char *words[] = {"one", "two", "three"};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(rpc_stream_write(s, words[i], strlen(words[i]), T_MS), 0);
		expect_next(s, words[i]);
	}
	assert_int_equal(rpc_stream_close_send(s, T_MS), 0);
	assert_int_equal(rpc_stream_write(s, "late", 4, T_MS), -1); /* half-closed */
	expect_end(s, GRPC_STATUS_OK);
	const char *details;
	rpc_stream_status(s, &details);
	assert_string_equal(details, "bye");
	rpc_stream_close(s);
	assert_int_equal(tl_wait_for(done_count, 1, T_MS), 1);
	echo_down();
}

/* Messages written from a thread outside the callbacks, holding a ref. */
static void answer_from_another_thread(void **state)
{
	(void)state;
	echo_up(0, NULL);
	struct rpc_result r;
	assert_int_equal(rpc_unary(echo_ch, M_LATER, "", 0, NULL, T_MS, &r), 0);
	assert_int_equal(r.status, GRPC_STATUS_OK);
	assert_int_equal(r.resp_len, 4);
	assert_memory_equal(r.resp, "late", 4);
	rpc_result_free(&r);
	assert_int_equal(tl_wait_for(done_count, 1, T_MS), 1);
	echo_down();
}

static void generic_handler_gets_unknown_methods(void **state)
{
	(void)state;
	/* without a generic handler: UNIMPLEMENTED, as on the control server */
	echo_up(0, NULL);
	struct rpc_result r;
	assert_int_equal(rpc_unary(echo_ch, M_PLAN, "", 0, NULL, T_MS, &r), 0);
	assert_int_equal(r.status, GRPC_STATUS_UNIMPLEMENTED);
	assert_non_null(strstr(r.details, M_PLAN));
	rpc_result_free(&r);
	echo_down();

	echo_up(1, NULL);
	grpc_metadata m = md1("x-tag", "abc");
	struct rpc_stream *s = start(M_PLAN, &m, 1, T_MS);
	grpc_slice_unref(m.value);
	char buf[64];
	const grpc_metadata_array *init = rpc_stream_initial_metadata(s, T_MS);
	assert_string_equal(md_value(init, "x-tag", buf, sizeof(buf)), "abc");
	assert_string_equal(md_value(init, "x-method", buf, sizeof(buf)), M_PLAN);
	assert_string_equal(md_value(init, "x-deadline", buf, sizeof(buf)), "yes");
	assert_int_equal(rpc_stream_write(s, "\x0a\x02hi", 4, T_MS), 0);
	expect_next(s, "\x0a\x02hi");
	assert_int_equal(rpc_stream_close_send(s, T_MS), 0);
	expect_end(s, GRPC_STATUS_OK);
	assert_string_equal(md_value(rpc_stream_trailing_metadata(s), "x-method", buf, sizeof(buf)),
			    M_PLAN);
	rpc_stream_close(s);

	/* a unary client of a method nobody has named yet, no deadline */
	s = start("/spark.connect.SparkConnectService/NotYetInvented", NULL, 0, -1);
	assert_string_equal(md_value(rpc_stream_initial_metadata(s, T_MS), "x-deadline", buf,
				     sizeof(buf)),
			    "no");
	rpc_stream_close(s);
	assert_int_equal(rpc_unary(echo_ch, "/spark.connect.SparkConnectService/NotYetInvented",
				   "x", 1, NULL, T_MS, &r),
			 0);
	assert_int_equal(r.status, GRPC_STATUS_OK);
	assert_int_equal(r.resp_len, 1);
	assert_memory_equal(r.resp, "x", 1);
	rpc_result_free(&r);
	/* table methods still go to their tables */
	struct rpc_msg one = {"z", 1};
	assert_int_equal(rpc_client_stream(echo_ch, M_COLLECT, &one, 1, NULL, 0, T_MS, &r), 0);
	assert_int_equal(r.status, GRPC_STATUS_OK);
	assert_memory_equal(r.resp, "z", 1);
	rpc_result_free(&r);
	assert_int_equal(tl_wait_for(done_count, 4, T_MS), 4);
	echo_down();
}

static void token_guards_mutating_call_methods(void **state)
{
	(void)state;
	echo_up(0, "tok");
	struct rpc_msg one = {"z", 1};
	struct rpc_result r;
	assert_int_equal(rpc_client_stream(echo_ch, M_GUARDED, &one, 1, NULL, 0, T_MS, &r), 0);
	assert_int_equal(r.status, GRPC_STATUS_UNAUTHENTICATED);
	rpc_result_free(&r);
	grpc_metadata m = md1("authorization", "Bearer tok");
	assert_int_equal(rpc_client_stream(echo_ch, M_GUARDED, &one, 1, &m, 1, T_MS, &r), 0);
	grpc_slice_unref(m.value);
	assert_int_equal(r.status, GRPC_STATUS_OK);
	rpc_result_free(&r);
	echo_down();
}

static void cancellation_reaches_handler(void **state)
{
	(void)state;
	echo_up(1, NULL);
	/* the client cancels */
	struct rpc_stream *s = start(M_HANG, NULL, 0, -1);
	assert_int_equal(rpc_stream_write(s, "x", 1, T_MS), 0);
	assert_int_equal(tl_wait_for(echo_streams, 1, T_MS), 1);
	rpc_stream_cancel(s);
	assert_int_equal(tl_wait_for(cancelled_count, 1, T_MS), 1);
	assert_int_equal(tl_wait_for(done_count, 1, T_MS), 1);
	expect_end(s, GRPC_STATUS_CANCELLED);
	rpc_stream_close(s);

	/* the deadline passes */
	s = start(M_HANG, NULL, 0, 300);
	assert_int_equal(rpc_stream_write(s, "x", 1, T_MS), 0);
	assert_int_equal(tl_wait_for(cancelled_count, 2, T_MS), 2);
	expect_end(s, GRPC_STATUS_DEADLINE_EXCEEDED);
	rpc_stream_close(s);

	/* the client goes away in the middle of a generic call */
	s = start(M_PLAN, NULL, 0, -1);
	assert_int_equal(rpc_stream_write(s, "x", 1, T_MS), 0);
	expect_next(s, "x");
	rpc_stream_close(s);
	assert_int_equal(tl_wait_for(cancelled_count, 3, T_MS), 3);
	assert_int_equal(tl_wait_for(done_count, 3, T_MS), 3);
	assert_int_equal(tl_wait_for(echo_streams, 0, T_MS), 0);
	echo_down();
}

static void two_servers_at_once(void **state)
{
	(void)state;
	tl_server_up(NULL);
	echo_up(1, NULL);
	assert_string_not_equal(tl_addr, echo_addr);
	/* the control server keeps its UNIMPLEMENTED, the echo server relays */
	assert_int_equal(tl_call_raw(M_PLAN, "", 0, NULL), GRPC_STATUS_UNIMPLEMENTED);
	struct rpc_result r;
	assert_int_equal(rpc_unary(echo_ch, M_PLAN, "", 0, NULL, T_MS, &r), 0);
	assert_int_equal(r.status, GRPC_STATUS_OK);
	rpc_result_free(&r);
	assert_int_equal(rpc_unary(echo_ch, M_CHECK, "", 0, NULL, T_MS, &r), 0);
	assert_int_equal(r.status, GRPC_STATUS_OK); /* generic there, not health */
	rpc_result_free(&r);
	/* a Watch on one and a chat on the other, side by side */
	struct rpc_stream *w = tl_watch("");
	assert_int_equal(tl_watch_next(w, T_MS), 2 /* NOT_SERVING */);
	struct rpc_stream *s = start(M_CHAT, NULL, 0, T_MS);
	assert_int_equal(rpc_stream_write(s, "hi", 2, T_MS), 0);
	expect_next(s, "hi");
	assert_int_equal(tl_stream_count(), 1);
	assert_int_equal(echo_streams(), 1);
	/* only one server publishes the control endpoint */
	char b[300], err[256];
	errno = 0;
	assert_null(tl_start("127.0.0.1:0", NULL, 0, b, sizeof(b), err, sizeof(err)));
	assert_int_equal(errno, EALREADY);
	struct engine_info info;
	engine_info_get(&info);
	assert_string_equal(info.control_endpoint, tl_addr);
	/* stopping the echo server leaves the control server alone */
	assert_int_equal(rpc_stream_close_send(s, T_MS), 0);
	expect_end(s, GRPC_STATUS_OK);
	rpc_stream_close(s);
	echo_down();
	assert_int_equal(tl_check(""), 2);
	engine_info_get(&info);
	assert_string_equal(info.control_endpoint, tl_addr);
	rpc_stream_close(w);
	tl_server_down();
}

static void stop_with_handler_calls_open(void **state)
{
	(void)state;
	echo_up(1, NULL);
	struct rpc_stream *chat = start(M_CHAT, NULL, 0, -1);
	assert_int_equal(rpc_stream_write(chat, "hi", 2, T_MS), 0);
	expect_next(chat, "hi");
	struct rpc_stream *hang = start(M_HANG, NULL, 0, -1);
	assert_int_equal(rpc_stream_write(hang, "x", 1, T_MS), 0);
	assert_int_equal(tl_wait_for(echo_streams, 2, T_MS), 2);
	/* the chat ends itself on on_server_stop; the hang is cancelled after
	 * the grace; stop returns only when both are gone */
	echo_down();
	assert_int_equal(atomic_load(&n_server_stop), 1);
	expect_next(chat, "server stopping");
	expect_end(chat, GRPC_STATUS_OK);
	assert_null(next_str(hang));
	assert_int_not_equal(rpc_stream_status(hang, NULL), GRPC_STATUS_OK);
	assert_int_equal(done_count(), 2);
	assert_int_equal(cancelled_count(), 1);
	rpc_stream_close(chat);
	rpc_stream_close(hang);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(client_streaming_echo, teardown),
		cmocka_unit_test_teardown(bidi_echo, teardown),
		cmocka_unit_test_teardown(answer_from_another_thread, teardown),
		cmocka_unit_test_teardown(generic_handler_gets_unknown_methods, teardown),
		cmocka_unit_test_teardown(token_guards_mutating_call_methods, teardown),
		cmocka_unit_test_teardown(cancellation_reaches_handler, teardown),
		cmocka_unit_test_teardown(two_servers_at_once, teardown),
		cmocka_unit_test_teardown(stop_with_handler_calls_open, teardown),
	};
	log_set_level(LOG_ERROR);
	grpc_init();
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	tl_grpc_quiesce();
	return rc;
}
