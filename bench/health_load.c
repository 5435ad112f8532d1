/* Closed-loop load generator for grpc.health.v1.Health/Check, on gRPC C
 * core so the client is not the bottleneck (a Python client tops out far
 * below what the server does). C clients, each with its own channel
 * (own HTTP/2 connection) and exactly one call in flight, are driven by a
 * few threads sharing one completion queue. Prints key=value results.
 *
 *   health_load --address 127.0.0.1:15003 [--clients 64] [--seconds 10]
 *               [--threads 2] [--service NAME] [--warmup 1] [--channels N]
 *
 * --channels N (default = clients) spreads the clients over N channels:
 * fewer connections let HTTP/2 batch frames, as a gateway multiplexing
 * many probes on one connection would.
 *
 * --rate R switches to open loop: R calls/s in total are scheduled at fixed
 * times and handed to an idle client; latency is measured from the
 * scheduled time, so a stalled server shows up as latency instead of
 * silently lowering the offered load (no coordinated omission). Closed
 * loop (default) measures the maximum throughput; there, by Little's law,
 * mean latency = clients / throughput.
 *
 * Standalone on purpose (only grpc.h): bench/health_bench.sh builds it. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#define MAX_SAMPLES (1 << 24)

struct client {
	grpc_channel *ch;
	grpc_call *call;
	grpc_byte_buffer *send, *recv;
	grpc_metadata_array initial, trailing;
	grpc_status_code status;
	grpc_slice details;
	int64_t t0;
};

static grpc_completion_queue *cq;
static grpc_slice method;
static uint8_t req[512];
static size_t req_len;
static atomic_int measuring, stopping;
static atomic_long ok_calls, bad_calls;
static uint32_t *samples; /* latency in microseconds */
static atomic_long n_samples;
static int64_t deadline_ms = 5000;
static double rate;                 /* open loop when > 0 */
static pthread_mutex_t idle_mu = PTHREAD_MUTEX_INITIALIZER;
static struct client **idle;        /* open loop: clients without a call */
static int n_idle;
static atomic_long late;            /* open loop: calls that found no idle client at once */

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int start_call_at(struct client *c, int64_t t0);

static int start_call(struct client *c) { return start_call_at(c, now_us()); }

static int start_call_at(struct client *c, int64_t t0)
{
	c->call = grpc_channel_create_call(
		c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method, NULL,
		gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
			     gpr_time_from_millis(deadline_ms, GPR_TIMESPAN)),
		NULL);
	grpc_slice s = grpc_slice_from_copied_buffer((const char *)req, req_len);
	c->send = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	c->recv = NULL;
	grpc_metadata_array_init(&c->initial);
	grpc_metadata_array_init(&c->trailing);
	c->details = grpc_empty_slice();
	grpc_op ops[6];
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = c->send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->initial;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &c->recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &c->trailing;
	ops[5].data.recv_status_on_client.status = &c->status;
	ops[5].data.recv_status_on_client.status_details = &c->details;
	c->t0 = t0;
	return grpc_call_start_batch(c->call, ops, 6, c, NULL) == GRPC_CALL_OK ? 0 : -1;
}

static void finish_call(struct client *c)
{
	int64_t dt = now_us() - c->t0;
	int good = c->status == GRPC_STATUS_OK && c->recv;
	if (atomic_load(&measuring)) {
		atomic_fetch_add(good ? &ok_calls : &bad_calls, 1);
		long i = atomic_fetch_add(&n_samples, 1);
		if (i < MAX_SAMPLES)
			samples[i] = dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
	}
	if (c->recv)
		grpc_byte_buffer_destroy(c->recv);
	grpc_byte_buffer_destroy(c->send);
	grpc_metadata_array_destroy(&c->initial);
	grpc_metadata_array_destroy(&c->trailing);
	grpc_slice_unref(c->details);
	grpc_call_unref(c->call);
	c->call = NULL;
}

static atomic_int in_flight;

static void *driver(void *arg)
{
	(void)arg;
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC),
							   NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			return NULL;
		struct client *c = ev.tag;
		finish_call(c);
		if (rate > 0) {
			pthread_mutex_lock(&idle_mu);
			idle[n_idle++] = c;
			pthread_mutex_unlock(&idle_mu);
			continue;
		}
		if (!atomic_load(&stopping) && start_call(c) == 0)
			continue;
		if (atomic_fetch_sub(&in_flight, 1) == 1)
			grpc_completion_queue_shutdown(cq);
	}
}

/* Open loop: start the calls that are due, each from its scheduled time. */
static void *pacer(void *arg)
{
	(void)arg;
	int64_t start = now_us();
	double interval = 1e6 / rate;
	long issued = 0;
	while (!atomic_load(&stopping)) {
		int64_t now = now_us();
		while (start + (int64_t)(issued * interval) <= now) {
			int64_t due = start + (int64_t)(issued * interval);
			pthread_mutex_lock(&idle_mu);
			struct client *c = n_idle ? idle[--n_idle] : NULL;
			pthread_mutex_unlock(&idle_mu);
			if (!c) {
				/* all clients busy: the call waits, its clock runs */
				atomic_fetch_add(&late, 1);
				break;
			}
			start_call_at(c, due);
			issued++;
		}
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static void sleep_s(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	const char *address = "127.0.0.1:15003", *service = "";
	int clients = 64, threads = 2, channels = 0;
	double seconds = 10, warmup = 1;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--address"))
			address = argv[i + 1];
		else if (!strcmp(argv[i], "--clients"))
			clients = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--seconds"))
			seconds = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--threads"))
			threads = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--warmup"))
			warmup = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--rate"))
			rate = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--channels"))
			channels = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--service"))
			service = argv[i + 1];
		else {
			fprintf(stderr, "health_load: unknown option %s\n", argv[i]);
			return 64;
		}
	}
	if (channels <= 0 || channels > clients)
		channels = clients;
	if (clients < 1 || threads < 1 || seconds <= 0 || strlen(service) > 400) {
		fprintf(stderr, "health_load: bad arguments\n");
		return 64;
	}
	/* HealthCheckRequest{service}: field 1, length-delimited (< 128 bytes
	 * keeps the length one varint byte; 400 max needs two). */
	size_t sl = strlen(service);
	if (sl) {
		req[req_len++] = 0x0a;
		if (sl < 128) {
			req[req_len++] = (uint8_t)sl;
		} else {
			req[req_len++] = (uint8_t)(0x80 | (sl & 0x7f));
			req[req_len++] = (uint8_t)(sl >> 7);
		}
		memcpy(req + req_len, service, sl);
		req_len += sl;
	}
	samples = malloc(sizeof(uint32_t) * MAX_SAMPLES);
	if (!samples)
		return 1;
	grpc_init();
	cq = grpc_completion_queue_create_for_next(NULL);
	method = grpc_slice_from_static_string("/grpc.health.v1.Health/Check");
	grpc_arg args[] = {
		{.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_ENABLE_HTTP_PROXY, .value.integer = 0},
		/* one connection per client, not one shared subchannel */
		{.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL,
		 .value.integer = 1},
	};
	grpc_channel_args ca = {.num_args = 2, .args = args};
	struct client *cl = calloc((size_t)clients, sizeof(*cl));
	grpc_channel **chs = calloc((size_t)channels, sizeof(*chs));
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	for (int i = 0; i < channels; i++)
		chs[i] = grpc_channel_create(address, creds, &ca);
	grpc_channel_credentials_release(creds);
	for (int i = 0; i < clients; i++)
		cl[i].ch = chs[i % channels];
	pthread_t *t = calloc((size_t)threads, sizeof(*t));
	pthread_t pt;
	if (rate > 0) {
		idle = calloc((size_t)clients, sizeof(*idle));
		for (int i = 0; i < clients; i++)
			idle[n_idle++] = &cl[i];
		pthread_create(&pt, NULL, pacer, NULL);
	} else {
		atomic_store(&in_flight, clients);
		for (int i = 0; i < clients; i++)
			if (start_call(&cl[i]) < 0) {
				fprintf(stderr, "health_load: cannot start calls\n");
				return 1;
			}
	}
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, driver, NULL);
	sleep_s(warmup);
	int64_t t0 = now_us();
	atomic_store(&measuring, 1);
	sleep_s(seconds);
	atomic_store(&measuring, 0);
	int64_t elapsed = now_us() - t0;
	atomic_store(&stopping, 1);
	if (rate > 0) {
		/* let the calls in flight land, then stop the drivers */
		pthread_join(pt, NULL);
		for (int w = 0; w < 1000; w++) {
			pthread_mutex_lock(&idle_mu);
			int all = n_idle == clients;
			pthread_mutex_unlock(&idle_mu);
			if (all)
				break;
			sleep_s(0.01);
		}
		grpc_completion_queue_shutdown(cq);
	}
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	grpc_completion_queue_destroy(cq);
	for (int i = 0; i < channels; i++)
		grpc_channel_destroy(chs[i]);
	free(chs);
	grpc_shutdown();

	long n = atomic_load(&n_samples);
	if (n > MAX_SAMPLES)
		n = MAX_SAMPLES;
	qsort(samples, (size_t)n, sizeof(uint32_t), cmp_u32);
#define PCT(p) (n ? samples[(size_t)((double)(n - 1) * (p))] / 1000.0 : 0.0)
	long ok = atomic_load(&ok_calls), bad = atomic_load(&bad_calls);
	printf("health_check_mode=%s\n", rate > 0 ? "open" : "closed");
	if (rate > 0) {
		printf("health_check_offered_rps=%.0f\n", rate);
		printf("health_check_late=%ld\n", atomic_load(&late));
	}
	printf("health_check_clients=%d\n", clients);
	printf("health_check_channels=%d\n", channels);
	printf("health_check_seconds=%.2f\n", elapsed / 1e6);
	printf("health_check_ok=%ld\n", ok);
	printf("health_check_errors=%ld\n", bad);
	printf("health_check_rps=%.0f\n", ok / (elapsed / 1e6));
	printf("health_check_p50_ms=%.3f\n", PCT(0.50));
	printf("health_check_p90_ms=%.3f\n", PCT(0.90));
	printf("health_check_p99_ms=%.3f\n", PCT(0.99));
	printf("health_check_max_ms=%.3f\n", n ? samples[n - 1] / 1000.0 : 0.0);
	free(samples);
	free(idle);
	free(cl);
	free(t);
	return bad > 0 && ok == 0 ? 1 : 0;
}
