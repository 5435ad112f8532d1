/* The front door's relay against an in-process fake Spark (a ctl_server
 * with a generic echo handler): what reaches Spark (headers: the client's
 * minus hop-by-hop and authorization, plus the internal token; the bytes
 * as sent), what reaches the client (Spark's messages, status, message and
 * trailers incl. grpc-status-details-bin), and the refusals decided from
 * headers and the first message (token, user, unknown service, no upstream
 * yet). No JVM. */
#include "tests/unit/ctl_testlib.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "shim/ctl/ctl_call.h"
#include "shim/ctl/door_sessions.h"
#include "shim/ctl/front_door.h"
#include "shim/ctl/grpc_util.h"

#define M_CONFIG "/spark.connect.SparkConnectService/Config"
#define M_ADD "/spark.connect.SparkConnectService/AddArtifacts"
#define M_FUTURE "/spark.connect.SparkConnectService/NotInventedYet"
/* Per call: valgrind on a loaded machine is slow. */
#define T_CALL 30000
#define DETAILS_BIN "\x08\x03\x12\x02no\x00\xff"

/* ---- fake Spark: echoes every message, then a status with trailers ---- */

static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static char seen_auth[128], seen_custom[64], seen_ua[128], seen_te[64];
static int seen_calls;

static void spark_start(struct ctl_call *c)
{
	pthread_mutex_lock(&seen_mu);
	seen_calls++;
	ctl_call_metadata_get(c, "authorization", seen_auth, sizeof(seen_auth)) || (seen_auth[0] = 0);
	ctl_call_metadata_get(c, "x-custom", seen_custom, sizeof(seen_custom)) || (seen_custom[0] = 0);
	ctl_call_metadata_get(c, "x-client-ua", seen_ua, sizeof(seen_ua)) || (seen_ua[0] = 0);
	ctl_call_metadata_get(c, "te", seen_te, sizeof(seen_te)) || (seen_te[0] = 0);
	pthread_mutex_unlock(&seen_mu);
	grpc_metadata h;
	memset(&h, 0, sizeof(h));
	h.key = grpc_slice_from_static_string("x-spark-header");
	h.value = grpc_slice_from_static_string("h1");
	ctl_call_send_metadata(c, &h, 1);
	ctl_call_read(c);
}

static void spark_message(struct ctl_call *c, const uint8_t *msg, size_t len)
{
	ctl_call_write(c, msg, len);
	ctl_call_read(c);
}

static void spark_half_close(struct ctl_call *c)
{
	grpc_metadata t[2];
	memset(t, 0, sizeof(t));
	t[0].key = grpc_slice_from_static_string("x-trailer");
	t[0].value = grpc_slice_from_static_string("t1");
	t[1].key = grpc_slice_from_static_string("grpc-status-details-bin");
	t[1].value = grpc_slice_from_static_buffer(DETAILS_BIN, sizeof(DETAILS_BIN) - 1);
	ctl_call_finish(c, GRPC_STATUS_FAILED_PRECONDITION, "spark says no", t, 2);
}

/* Flood: as fast as flow control lets it, FLOOD_N messages of FLOOD_SIZE
 * bytes, a few queued at a time; flood_sent counts what left. */
#define M_FLOOD "/spark.connect.SparkConnectService/Flood"
#define FLOOD_N 400
#define FLOOD_SIZE (256 * 1024)
static atomic_int flood_sent, flood_queued;

static void flood_more(struct ctl_call *c)
{
	static uint8_t chunk[FLOOD_SIZE];
	while (atomic_load(&flood_queued) < FLOOD_N && ctl_call_pending_writes(c) < 4) {
		atomic_fetch_add(&flood_queued, 1);
		ctl_call_write(c, chunk, sizeof(chunk));
	}
	if (atomic_load(&flood_queued) == FLOOD_N && ctl_call_pending_writes(c) == 0)
		ctl_call_finish(c, GRPC_STATUS_OK, NULL, NULL, 0);
}

static void flood_done(struct ctl_call *c, int ok)
{
	if (ok && strcmp(ctl_call_method(c), M_FLOOD) == 0) {
		atomic_fetch_add(&flood_sent, 1);
		flood_more(c);
	}
}

static void spark_dispatch_start(struct ctl_call *c)
{
	if (strcmp(ctl_call_method(c), M_FLOOD) == 0) {
		flood_more(c);
		return;
	}
	spark_start(c);
}

static const struct ctl_call_handler spark_handler = {
	.on_start = spark_dispatch_start, .on_message = spark_message,
	.on_half_close = spark_half_close, .on_write_done = flood_done};

/* ---- fixture -------------------------------------------------------- */

struct fx {
	struct ctl_server *spark;
	struct door_sessions *sessions;
	struct front_door *door;
	grpc_channel *ch;
	int spark_port;
};

static int port_of_addr(const char *a) { return atoi(strrchr(a, ':') + 1); }

static int setup(void **state)
{
	static struct fx f;
	memset(&f, 0, sizeof(f));
	char bound[300], err[512];
	grpc_init();
	struct ctl_server_opts so = {.bind = "127.0.0.1:0", .generic = &spark_handler, .name = "spark",
				     .max_message = 1 << 20};
	f.spark = ctl_server_start(&so, bound, sizeof(bound), err, sizeof(err));
	assert_non_null(f.spark);
	f.spark_port = port_of_addr(bound);
	struct door_limits lim = {0, 0, 60000};
	f.sessions = door_sessions_new(&lim);
	struct front_door_opts o = {.bind = "127.0.0.1:0", .client_token = "CLI",
				    .internal_token = "INT", .engine_user = "alice",
				    .allowed_users = "bob", .sessions = f.sessions};
	f.door = front_door_start(&o, bound, sizeof(bound), err, sizeof(err));
	assert_non_null(f.door);
	assert_int_equal(front_door_port(f.door), port_of_addr(bound));
	f.ch = rpc_channel_open(bound);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	grpc_channel_destroy(f->ch);
	front_door_stop(f->door);
	door_sessions_free(f->sessions);
	ctl_server_stop(f->spark);
	grpc_shutdown();
	return 0;
}

/* ---- client helpers ------------------------------------------------- */

static size_t ld(uint8_t *out, unsigned field, const void *p, size_t n)
{
	out[0] = (uint8_t)(field << 3 | 2);
	out[1] = (uint8_t)n;
	memcpy(out + 2, p, n);
	return n + 2;
}

/* A request: session_id, user_context{user_id}, then `extra` bytes. */
static size_t request(uint8_t *out, const char *user, const char *extra)
{
	uint8_t uc[64];
	size_t n = ld(out, 1, "sess-1", 6);
	n += ld(out + n, 2, uc, ld(uc, 1, user, strlen(user)));
	memcpy(out + n, extra, strlen(extra));
	return n + strlen(extra);
}

static grpc_metadata md1(const char *key, const char *value)
{
	grpc_metadata m;
	memset(&m, 0, sizeof(m));
	m.key = grpc_slice_from_static_string(key);
	m.value = grpc_slice_from_copied_string(value);
	return m;
}

struct outcome {
	grpc_status_code status;
	char details[256];
	int n_msgs;
	uint8_t last[256];
	size_t last_len;
	char trailer[32], header[32];
	uint8_t details_bin[32];
	size_t details_bin_len;
};

/* One client-streaming call through the door with msgs (NUL-separated
 * lengths given), the given token (NULL: none) and an x-custom header. */
static void call(struct fx *f, const char *method, const char *token, const uint8_t *const *msgs,
		 const size_t *lens, size_t n, struct outcome *o)
{
	memset(o, 0, sizeof(*o));
	grpc_metadata md[4];
	size_t nmd = 0;
	char bearer[64];
	if (token) {
		snprintf(bearer, sizeof(bearer), "Bearer %s", token);
		md[nmd++] = md1("authorization", bearer);
	}
	md[nmd++] = md1("x-custom", "v1");
	md[nmd++] = md1("x-client-ua", "unit");
	struct rpc_stream *s;
	char err[128];
	assert_int_equal(rpc_stream_start(f->ch, method, md, nmd, T_CALL, &s, err, sizeof(err)), 0);
	for (size_t i = 0; i < nmd; i++)
		grpc_slice_unref(md[i].value);
	for (size_t i = 0; i < n; i++)
		if (rpc_stream_write(s, msgs[i], lens[i], T_CALL) < 0)
			break;
	rpc_stream_close_send(s, T_CALL);
	uint8_t *m;
	size_t len;
	while (rpc_stream_next(s, &m, &len, T_CALL) == 1) {
		o->n_msgs++;
		o->last_len = len < sizeof(o->last) ? len : sizeof(o->last);
		memcpy(o->last, m, o->last_len);
		free(m);
	}
	const char *d;
	o->status = rpc_stream_status(s, &d);
	snprintf(o->details, sizeof(o->details), "%s", d);
	const grpc_metadata_array *tr = rpc_stream_trailing_metadata(s);
	for (size_t i = 0; tr && i < tr->count; i++) {
		if (!grpc_slice_str_cmp(tr->metadata[i].key, "x-trailer"))
			slice_to_cstr(tr->metadata[i].value, o->trailer, sizeof(o->trailer));
		if (!grpc_slice_str_cmp(tr->metadata[i].key, "grpc-status-details-bin")) {
			o->details_bin_len = GRPC_SLICE_LENGTH(tr->metadata[i].value);
			memcpy(o->details_bin, GRPC_SLICE_START_PTR(tr->metadata[i].value),
			       o->details_bin_len < 32 ? o->details_bin_len : 32);
		}
	}
	const grpc_metadata_array *h = rpc_stream_initial_metadata(s, 0);
	for (size_t i = 0; h && i < h->count; i++)
		if (!grpc_slice_str_cmp(h->metadata[i].key, "x-spark-header"))
			slice_to_cstr(h->metadata[i].value, o->header, sizeof(o->header));
	rpc_stream_close(s);
}

static int calls_seen(void)
{
	pthread_mutex_lock(&seen_mu);
	int n = seen_calls;
	pthread_mutex_unlock(&seen_mu);
	return n;
}

/* ---- tests ---------------------------------------------------------- */

static void not_serving_before_upstream(void **state)
{
	struct fx *f = *state;
	uint8_t req[128];
	const uint8_t *msgs[] = {req};
	size_t lens[] = {request(req, "alice", "")};
	struct outcome o;
	call(f, M_CONFIG, "CLI", msgs, lens, 1, &o);
	/* Set before asserting: the other tests need it. */
	assert_int_equal(front_door_set_upstream(f->door, "127.0.0.1", f->spark_port), 0);
	assert_int_equal(o.status, GRPC_STATUS_UNAVAILABLE);
	assert_non_null(strstr(o.details, "not serving yet"));
}

static void relays_bytes_headers_status_trailers(void **state)
{
	struct fx *f = *state;
	uint8_t a[128], b[128];
	const uint8_t *msgs[] = {a, b};
	size_t lens[] = {request(a, "alice", "\x1a\x01x"), request(b, "alice", "\x1a\x02yz")};
	struct outcome o;
	call(f, M_ADD, "CLI", msgs, lens, 2, &o);
	assert_int_equal(o.status, GRPC_STATUS_FAILED_PRECONDITION);
	assert_string_equal(o.details, "spark says no");
	assert_int_equal(o.n_msgs, 2);
	assert_int_equal(o.last_len, lens[1]);
	assert_memory_equal(o.last, b, lens[1]);
	assert_string_equal(o.trailer, "t1");
	assert_string_equal(o.header, "h1");
	assert_int_equal(o.details_bin_len, sizeof(DETAILS_BIN) - 1);
	assert_memory_equal(o.details_bin, DETAILS_BIN, sizeof(DETAILS_BIN) - 1);
	pthread_mutex_lock(&seen_mu);
	assert_string_equal(seen_auth, "Bearer INT"); /* never the client's */
	assert_string_equal(seen_custom, "v1");
	assert_string_equal(seen_ua, "unit");
	assert_string_equal(seen_te, "");
	pthread_mutex_unlock(&seen_mu);
	/* A method that does not exist yet is relayed the same way. */
	call(f, M_FUTURE, "CLI", msgs, lens, 1, &o);
	assert_int_equal(o.status, GRPC_STATUS_FAILED_PRECONDITION);
	assert_int_equal(o.n_msgs, 1);
}

static void refusals(void **state)
{
	struct fx *f = *state;
	uint8_t req[128], other[128], bob[128];
	const uint8_t *msgs[] = {req};
	size_t lens[] = {request(req, "alice", "")};
	int before = calls_seen();
	struct outcome o;
	call(f, M_CONFIG, NULL, msgs, lens, 1, &o);
	assert_int_equal(o.status, GRPC_STATUS_UNAUTHENTICATED);
	call(f, M_CONFIG, "CLX", msgs, lens, 1, &o);
	assert_int_equal(o.status, GRPC_STATUS_UNAUTHENTICATED);
	call(f, M_CONFIG, "CLIX", msgs, lens, 1, &o);
	assert_int_equal(o.status, GRPC_STATUS_UNAUTHENTICATED);
	call(f, "/other.Service/Method", "CLI", msgs, lens, 1, &o);
	assert_int_equal(o.status, GRPC_STATUS_UNIMPLEMENTED);
	const uint8_t *m2[] = {other};
	size_t l2[] = {request(other, "mallory", "")};
	call(f, M_CONFIG, "CLI", m2, l2, 1, &o);
	assert_int_equal(o.status, GRPC_STATUS_PERMISSION_DENIED);
	assert_non_null(strstr(o.details, "mallory"));
	/* A later message of a stream is checked too. */
	const uint8_t *m3[] = {req, other};
	size_t l3[] = {lens[0], l2[0]};
	int mid = calls_seen();
	call(f, M_ADD, "CLI", m3, l3, 2, &o);
	assert_int_equal(o.status, GRPC_STATUS_PERMISSION_DENIED);
	assert_int_equal(calls_seen(), mid + 1);
	static const uint8_t junk[] = {0x0b};
	const uint8_t *m4[] = {junk};
	size_t l4[] = {1};
	call(f, M_CONFIG, "CLI", m4, l4, 1, &o);
	assert_int_equal(o.status, GRPC_STATUS_INVALID_ARGUMENT);
	call(f, M_CONFIG, "CLI", NULL, NULL, 0, &o);
	assert_int_equal(o.status, GRPC_STATUS_INVALID_ARGUMENT);
	assert_int_equal(calls_seen(), before + 1); /* only the stream's first message got through */
	const uint8_t *m5[] = {bob};
	size_t l5[] = {request(bob, "bob", "")};
	call(f, M_CONFIG, "CLI", m5, l5, 1, &o);
	assert_int_equal(o.status, GRPC_STATUS_FAILED_PRECONDITION); /* Spark's answer */
	/* A new token on SIGHUP. */
	char err[128];
	assert_int_equal(front_door_reload(f->door, "NEW", err, sizeof(err)), 0);
	call(f, M_CONFIG, "CLI", msgs, lens, 1, &o);
	assert_int_equal(o.status, GRPC_STATUS_UNAUTHENTICATED);
	call(f, M_CONFIG, "NEW", msgs, lens, 1, &o);
	assert_int_equal(o.status, GRPC_STATUS_FAILED_PRECONDITION);
	assert_int_equal(front_door_reload(f->door, "CLI", err, sizeof(err)), 0);
}

/* One message in flight per direction: a client that stops reading stops
 * the door reading from Spark, and flow control holds Spark back. */
static void backpressure_reaches_spark(void **state)
{
	struct fx *f = *state;
	uint8_t req[128];
	size_t n = request(req, "alice", "");
	grpc_metadata md = md1("authorization", "Bearer CLI");
	struct rpc_stream *s;
	char err[128];
	assert_int_equal(rpc_stream_start(f->ch, M_FLOOD, &md, 1, 60000, &s, err, sizeof(err)), 0);
	grpc_slice_unref(md.value);
	assert_int_equal(rpc_stream_write(s, req, n, T_CALL), 0);
	rpc_stream_close_send(s, T_CALL);
	uint8_t *m;
	size_t len;
	assert_int_equal(rpc_stream_next(s, &m, &len, T_CALL), 1);
	free(m);
	/* The client stalls; Spark could send all 100 MiB in well under this
	 * time if nothing held it back. */
	int last = -1;
	for (int i = 0; i < 20 && last != atomic_load(&flood_sent); i++) {
		last = atomic_load(&flood_sent);
		usleep(250 * 1000);
	}
	int stalled = atomic_load(&flood_sent);
	assert_true(stalled < FLOOD_N / 2);
	int got = 1;
	while (rpc_stream_next(s, &m, &len, T_CALL) == 1) {
		assert_int_equal(len, FLOOD_SIZE);
		free(m);
		got++;
	}
	assert_int_equal(rpc_stream_status(s, NULL), GRPC_STATUS_OK);
	assert_int_equal(got, FLOOD_N);
	rpc_stream_close(s);
	print_message("Spark had sent %d of %d messages while the client stalled\n", stalled, FLOOD_N);
}

/* A client message over the limit never reaches Spark. */
static void message_size_limit(void **state)
{
	struct fx *f = *state;
	char bound[300], err[512];
	struct front_door_opts o = {.bind = "127.0.0.1:0", .engine_user = "alice",
				    .max_message = 1024};
	struct front_door *d = front_door_start(&o, bound, sizeof(bound), err, sizeof(err));
	assert_non_null(d);
	front_door_set_upstream(d, "127.0.0.1", f->spark_port);
	grpc_channel *ch = rpc_channel_open(bound);
	static uint8_t big[2048];
	size_t n = request(big, "alice", "");
	big[n] = 0x1a; /* field 3, 2000 bytes */
	big[n + 1] = 0xd0;
	big[n + 2] = 0x0f;
	struct rpc_result r;
	int before = calls_seen();
	assert_int_equal(rpc_unary(ch, M_CONFIG, big, n + 3 + 2000, NULL, T_CALL, &r), 0);
	assert_int_equal(r.status, GRPC_STATUS_RESOURCE_EXHAUSTED);
	rpc_result_free(&r);
	assert_int_equal(calls_seen(), before);
	grpc_channel_destroy(ch);
	front_door_stop(d);
}

static void bad_tls_files(void **state)
{
	(void)state;
	char bound[300], err[512];
	struct front_door_opts o = {.bind = "127.0.0.1:0", .tls_cert = "/nonexistent/cert.pem",
				    .tls_key = "/nonexistent/key.pem"};
	assert_null(front_door_start(&o, bound, sizeof(bound), err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/cert.pem"));
	struct front_door_opts k = {.bind = "127.0.0.1:0", .tls_cert = "/etc/hostname"};
	assert_null(front_door_start(&k, bound, sizeof(bound), err, sizeof(err)));
	assert_non_null(strstr(err, "without a key"));
	struct front_door_opts p = {.bind = "127.0.0.1:0", .tls_cert = "/etc/hostname",
				    .tls_key = "/etc/hostname"};
	assert_null(front_door_start(&p, bound, sizeof(bound), err, sizeof(err)));
	assert_non_null(strstr(err, "expected a PEM file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(not_serving_before_upstream),
		cmocka_unit_test(relays_bytes_headers_status_trailers),
		cmocka_unit_test(refusals),
		cmocka_unit_test(backpressure_reaches_spark),
		cmocka_unit_test(message_size_limit),
		cmocka_unit_test(bad_tls_files),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
