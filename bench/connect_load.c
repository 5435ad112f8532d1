/* Spark Connect load client on gRPC C core, for the front door bench
 * (bench/front_door.py). Speaks just enough of spark.connect to drive the
 * stand-in (and real Spark's Config), with raw hand-encoded requests, so
 * the client is never the bottleneck and every path gets the same bytes.
 * Prints key=value results on stdout.
 *
 *   connect_load --address H:P MODE [options]
 *
 * modes:
 *   --stream BYTES   one ExecutePlan per round tagged standin.stream.bytes=BYTES
 *                    (the stand-in streams that many payload bytes, bounded);
 *                    --rounds N (default 1): bytes=, seconds=, mib_s=
 *   --config N       N unary Config calls (GetOption spark.app.name), one at a
 *                    time after --warmup W: p50_us=, p99_us=, mean_us=
 *   --idle N         N sessions, each its own channel (HTTP/2 connection) with
 *                    one Config call; prints "ready" and holds them until
 *                    stdin closes
 *   --slow BYTES     one ExecutePlan stream of BYTES read at --rate MIB_S
 *                    (a slow reader): bytes=, seconds=
 * options:
 *   --user U         user_context.user_id (default: $USER)
 *   --token T        authorization: Bearer T
 *   --tls CA.pem     TLS with this root CA (server name --authority, default localhost)
 *   --authority A
 *
 * Standalone on purpose (only grpc.h): bench/front_door.py builds it. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#define SVC "/spark.connect.SparkConnectService/"

static const char *address, *user, *token, *tls_ca, *authority = "localhost";
static grpc_completion_queue *cq;

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char *what)
{
	fprintf(stderr, "connect_load: %s\n", what);
	exit(1);
}

/* ---- protobuf, by hand ---- */

struct buf {
	uint8_t b[4096];
	size_t n;
};

static void varint(struct buf *o, uint64_t v)
{
	while (v >= 0x80) {
		o->b[o->n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	o->b[o->n++] = (uint8_t)v;
}

static void field_bytes(struct buf *o, int field, const void *p, size_t len)
{
	varint(o, (uint64_t)field << 3 | 2);
	varint(o, len);
	memcpy(o->b + o->n, p, len);
	o->n += len;
}

static void field_str(struct buf *o, int field, const char *s)
{
	field_bytes(o, field, s, strlen(s));
}

static void field_msg(struct buf *o, int field, const struct buf *m)
{
	field_bytes(o, field, m->b, m->n);
}

/* session_id = 1, user_context = 2 {user_id = 1}: the same in every request. */
static void session_head(struct buf *o, const char *sid)
{
	struct buf uc = {.n = 0};
	field_str(&uc, 1, user);
	field_str(o, 1, sid);
	field_msg(o, 2, &uc);
}

static void make_sid(char *out, unsigned salt)
{
	unsigned r = (unsigned)now_us() ^ (unsigned)getpid() * 2654435761u ^ salt * 40503u;
	snprintf(out, 37, "%08x-%04x-4%03x-8%03x-%012x", r, salt & 0xffff, (r >> 8) & 0xfff,
		 (r >> 4) & 0xfff, (unsigned)(salt * 7919u + r) & 0xfffffffu);
}

/* ConfigRequest{session, user, operation = 3 {get_option = 4 {keys = 1}}}. */
static void config_request(struct buf *o, const char *sid)
{
	struct buf keys = {.n = 0}, op = {.n = 0};
	field_str(&keys, 1, "spark.app.name");
	field_msg(&op, 4, &keys);
	session_head(o, sid);
	field_msg(o, 3, &op);
	field_str(o, 4, "connect_load");
}

/* ExecutePlanRequest{session, user, plan = 3 {root = 1 {sql = ...}}, tags = 7}.
 * The stand-in reads only the tags; the plan is there for shape. */
static void execute_request(struct buf *o, const char *sid, uint64_t bytes)
{
	struct buf sql = {.n = 0}, rel = {.n = 0}, plan = {.n = 0};
	field_str(&sql, 1, "select 1");
	field_msg(&rel, 10, &sql);
	field_msg(&plan, 1, &rel);
	session_head(o, sid);
	field_msg(o, 3, &plan);
	field_str(o, 4, "connect_load");
	char tag[64];
	snprintf(tag, sizeof(tag), "standin.stream.bytes=%" PRIu64, bytes);
	field_str(o, 7, tag);
}

/* ---- gRPC ---- */

static grpc_channel *channel(int salt)
{
	/* A channel per session, as PySpark does: no sharing of subchannels. */
	grpc_arg args[3] = {
		{.type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
		 .value.integer = 256 << 20},
		{.type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL,
		 .value.integer = 1},
		{.type = GRPC_ARG_INTEGER, .key = (char *)"connect_load.salt", .value.integer = salt},
	};
	grpc_channel_args ca = {.num_args = 3, .args = args};
	grpc_channel_credentials *creds;
	if (tls_ca) {
		FILE *f = fopen(tls_ca, "r");
		if (!f)
			die("cannot read --tls CA file");
		static char pem[65536];
		size_t len = fread(pem, 1, sizeof(pem) - 1, f);
		fclose(f);
		pem[len] = '\0';
		creds = grpc_ssl_credentials_create(pem, NULL, NULL, NULL);
	} else {
		creds = grpc_insecure_credentials_create();
	}
	grpc_channel *ch = grpc_channel_create(address, creds, &ca);
	grpc_channel_credentials_release(creds);
	return ch;
}

struct call {
	grpc_call *c;
	grpc_metadata md[1];
	grpc_metadata_array initial, trailing;
	grpc_status_code status;
	grpc_slice details;
	char auth[600];
};

static void pluck(void *tag)
{
	grpc_event ev = grpc_completion_queue_pluck(cq, tag, gpr_inf_future(GPR_CLOCK_MONOTONIC),
						    NULL);
	if (ev.type != GRPC_OP_COMPLETE)
		die("completion queue");
}

/* Start a call: metadata, the one request, half-close. */
static void call_start(struct call *k, grpc_channel *ch, const char *method, const struct buf *req)
{
	memset(k, 0, sizeof(*k));
	grpc_slice m = grpc_slice_from_copied_string(method);
	grpc_slice host = grpc_slice_from_copied_string(authority);
	k->c = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m,
					tls_ca ? &host : NULL,
					gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_slice_unref(m);
	grpc_slice_unref(host);
	size_t nmd = 0;
	if (token) {
		snprintf(k->auth, sizeof(k->auth), "Bearer %s", token);
		k->md[0].key = grpc_slice_from_static_string("authorization");
		k->md[0].value = grpc_slice_from_copied_string(k->auth);
		nmd = 1;
	}
	grpc_slice s = grpc_slice_from_copied_buffer((const char *)req->b, req->n);
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	grpc_metadata_array_init(&k->initial);
	grpc_metadata_array_init(&k->trailing);
	grpc_op ops[4];
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = nmd;
	ops[0].data.send_initial_metadata.metadata = k->md;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = bb;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &k->initial;
	if (grpc_call_start_batch(k->c, ops, 4, k, NULL) != GRPC_CALL_OK)
		die("start_batch");
	pluck(k);
	grpc_byte_buffer_destroy(bb);
	if (nmd)
		grpc_slice_unref(k->md[0].value);
}

/* Next response: its length, or -1 at the end of the stream. */
static int64_t call_recv(struct call *k)
{
	grpc_byte_buffer *bb = NULL;
	grpc_op op;
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &bb;
	if (grpc_call_start_batch(k->c, &op, 1, &k->status, NULL) != GRPC_CALL_OK)
		die("recv batch");
	pluck(&k->status);
	if (!bb)
		return -1;
	int64_t n = (int64_t)grpc_byte_buffer_length(bb);
	grpc_byte_buffer_destroy(bb);
	return n;
}

/* Status; exits on anything but OK. */
static void call_finish(struct call *k)
{
	grpc_op op;
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	op.data.recv_status_on_client.trailing_metadata = &k->trailing;
	op.data.recv_status_on_client.status = &k->status;
	op.data.recv_status_on_client.status_details = &k->details;
	if (grpc_call_start_batch(k->c, &op, 1, &k->trailing, NULL) != GRPC_CALL_OK)
		die("status batch");
	pluck(&k->trailing);
	if (k->status != GRPC_STATUS_OK) {
		char *d = grpc_slice_to_c_string(k->details);
		fprintf(stderr, "connect_load: status %d: %s\n", k->status, d);
		exit(2);
	}
	grpc_slice_unref(k->details);
	grpc_metadata_array_destroy(&k->initial);
	grpc_metadata_array_destroy(&k->trailing);
	grpc_call_unref(k->c);
}

static int64_t unary(grpc_channel *ch, const char *method, const struct buf *req)
{
	struct call k;
	call_start(&k, ch, method, req);
	int64_t n = 0, m;
	while ((m = call_recv(&k)) >= 0)
		n += m;
	call_finish(&k);
	return n;
}

/* ---- modes ---- */

static int by_value(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void mode_config(long n, long warmup)
{
	grpc_channel *ch = channel(0);
	char sid[40];
	make_sid(sid, 1);
	struct buf req = {.n = 0};
	config_request(&req, sid);
	for (long i = 0; i < warmup; i++)
		unary(ch, SVC "Config", &req);
	int64_t *lat = calloc((size_t)n, sizeof(*lat));
	double sum = 0;
	for (long i = 0; i < n; i++) {
		int64_t t0 = now_us();
		unary(ch, SVC "Config", &req);
		lat[i] = now_us() - t0;
		sum += (double)lat[i];
	}
	qsort(lat, (size_t)n, sizeof(*lat), by_value);
	printf("calls=%ld\np50_us=%" PRId64 "\np99_us=%" PRId64 "\nmean_us=%.1f\n", n,
	       lat[n / 2], lat[(n * 99) / 100], sum / (double)n);
	free(lat);
	grpc_channel_destroy(ch);
}

static void mode_stream(uint64_t bytes, long rounds, double rate_mib_s)
{
	grpc_channel *ch = channel(0);
	char sid[40];
	make_sid(sid, 2);
	uint64_t total = 0;
	int64_t t0 = now_us();
	for (long r = 0; r < rounds; r++) {
		struct buf req = {.n = 0};
		execute_request(&req, sid, bytes);
		struct call k;
		call_start(&k, ch, SVC "ExecutePlan", &req);
		int64_t m, start = now_us();
		uint64_t got = 0;
		while ((m = call_recv(&k)) >= 0) {
			got += (uint64_t)m;
			if (rate_mib_s > 0) { /* a slow reader: keep to the rate */
				int64_t due = start + (int64_t)((double)got / (rate_mib_s * 1048576.0) * 1e6);
				int64_t now = now_us();
				if (due > now)
					usleep((useconds_t)(due - now));
			}
		}
		call_finish(&k);
		total += got;
	}
	double secs = (double)(now_us() - t0) / 1e6;
	printf("bytes=%" PRIu64 "\nseconds=%.3f\nmib_s=%.1f\n", total, secs,
	       (double)total / 1048576.0 / secs);
	grpc_channel_destroy(ch);
}

static void mode_idle(long n)
{
	grpc_channel **chs = calloc((size_t)n, sizeof(*chs));
	for (long i = 0; i < n; i++) {
		chs[i] = channel((int)i + 1);
		char sid[40];
		make_sid(sid, (unsigned)i + 100);
		struct buf req = {.n = 0};
		config_request(&req, sid);
		unary(chs[i], SVC "Config", &req);
	}
	printf("ready\n");
	fflush(stdout);
	char b[64];
	while (fread(b, 1, sizeof(b), stdin) > 0)
		;
	for (long i = 0; i < n; i++)
		grpc_channel_destroy(chs[i]);
	free(chs);
}

int main(int argc, char **argv)
{
	long config = 0, warmup = 200, idle = 0, rounds = 1;
	uint64_t stream = 0;
	double rate = 0;
	user = getenv("USER") ? getenv("USER") : "root";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			die("every option takes a value");
		if (!strcmp(a, "--address")) address = v;
		else if (!strcmp(a, "--user")) user = v;
		else if (!strcmp(a, "--token")) token = v;
		else if (!strcmp(a, "--tls")) tls_ca = v;
		else if (!strcmp(a, "--authority")) authority = v;
		else if (!strcmp(a, "--config")) config = atol(v);
		else if (!strcmp(a, "--warmup")) warmup = atol(v);
		else if (!strcmp(a, "--idle")) idle = atol(v);
		else if (!strcmp(a, "--stream")) stream = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--slow")) stream = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--rate")) rate = atof(v);
		else if (!strcmp(a, "--rounds")) rounds = atol(v);
		else die("unknown option");
		i++;
	}
	if (!address)
		die("--address is required");
	grpc_init();
	cq = grpc_completion_queue_create_for_pluck(NULL);
	if (config > 0)
		mode_config(config, warmup);
	else if (idle > 0)
		mode_idle(idle);
	else if (stream > 0)
		mode_stream(stream, rounds, rate);
	else
		die("one of --config, --stream, --slow, --idle");
	grpc_completion_queue_shutdown(cq);
	grpc_completion_queue_destroy(cq);
	grpc_shutdown();
	return 0;
}
