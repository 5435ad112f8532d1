/* `sparkshim ctl [options] COMMAND [args]`. Options may appear before or
 * after the command. The bearer token is read from --token-file or
 * SPARKSHIM_CONTROL_TOKEN, never taken from the command line (it would show
 * in ps and in the gateway's launch logs). */
#include "shim/ctl/ctl_cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/grpc.h>

#include "base/conf.h"
#include "base/log.h"
#include "base/statefile.h"
#include "control.pb-c.h"
#include "health.pb-c.h"
#include "shim/ctl/ctl_service.h"
#include "shim/ctl/grpc_util.h"
#include "shim/ctl/json_out.h"
#include "shim/ctl/rpc_client.h"

#define DEFAULT_ADDRESS "127.0.0.1:15003"
#define DEFAULT_TIMEOUT_MS 5000

struct cli {
	const char *address;
	const char *token_file;
	const char *state_file; /* --state-file: check the engine is alive first */
	char *token;          /* owned */
	int json;
	int timeout_ms;       /* unary calls; events: -1 unless --timeout given */
	int timeout_given;
	const char *cmd;
	const char *arg;      /* health service / log level */
	const char *reason;
	int64_t grace_ms;     /* -1 = not given */
	uint64_t after;
	int no_follow;
	grpc_channel *ch;
};

static void usage(FILE *f)
{
	fputs("usage: sparkshim ctl [--address A | --state-file F] [--token-file F] [--json] [--timeout S] COMMAND\n"
	      "commands:\n"
	      "  status                      engine state, endpoint, Spark app, registration\n"
	      "  health [SERVICE]            grpc.health.v1 Check (\"\" or spark.connect.SparkConnectService)\n"
	      "  drain [--reason R]          stop taking new work (token)\n"
	      "  stop [--grace D] [--reason R]  graceful stop; D like 30s, 2min, 500ms (token)\n"
	      "  events [--after N] [--no-follow]  lifecycle events, then follow\n"
	      "  log-level LEVEL             Spark log level: " LOG_SPARK_LEVELS " (token)\n"
	      "address: --address, else the --state-file's control address,\n"
	      "         else $SPARKSHIM_CONTROL_ADDRESS, else " DEFAULT_ADDRESS "\n"
	      "token:   --token-file, else $SPARKSHIM_CONTROL_TOKEN\n"
	      "exit:    0 ok, 1 error, 2 unreachable, 3 rejected, 4 not serving,\n"
	      "         5 not running (--state-file: no file, or its process is gone), 64 usage\n",
	      f);
}

static int usage_error(const char *fmt, const char *a)
{
	fputs("sparkshim ctl: ", stderr);
	fprintf(stderr, fmt, a);
	fputs("\n(try: sparkshim ctl --help)\n", stderr);
	return CTL_EXIT_USAGE;
}

/* "--name=value" or "--name value"; advances *i. NULL when absent. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, int *missing)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = 1;
		return NULL;
	}
	return argv[++*i];
}

/* Seconds as "5" / "2.5", or any duration parse_duration_ms knows ("500ms"). */
static int parse_timeout(const char *s, int *ms)
{
	char *end;
	errno = 0;
	double d = strtod(s, &end);
	if (end != s && *end == '\0' && !errno && d > 0 && d <= 86400) {
		*ms = (int)(d * 1000);
		return *ms > 0 ? 0 : -1;
	}
	int64_t v;
	if (parse_duration_ms(s, &v) == 0 && v > 0 && v <= 86400000) {
		*ms = (int)v;
		return 0;
	}
	return -1;
}

static int parse_args(struct cli *c, int argc, char **argv)
{
	const char *pos[3] = {NULL, NULL, NULL};
	int npos = 0;
	for (int i = 1; i < argc; i++) {
		int missing = 0;
		const char *v;
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return -2;
		} else if (!strcmp(a, "--json")) {
			c->json = 1;
		} else if (!strcmp(a, "--no-follow")) {
			c->no_follow = 1;
		} else if (!strncmp(a, "--token", 7) && (a[7] == '\0' || a[7] == '=')) {
			/* Refused on purpose: see the header comment. */
			return usage_error("%s: a token on the command line is visible to every user; "
					   "use --token-file or SPARKSHIM_CONTROL_TOKEN", "--token");
		} else if ((v = opt_value(argc, argv, &i, "--address", &missing))) {
			c->address = v;
		} else if ((v = opt_value(argc, argv, &i, "--token-file", &missing))) {
			c->token_file = v;
		} else if ((v = opt_value(argc, argv, &i, "--state-file", &missing))) {
			c->state_file = v;
		} else if ((v = opt_value(argc, argv, &i, "--timeout", &missing))) {
			if (parse_timeout(v, &c->timeout_ms) < 0)
				return usage_error("bad --timeout '%s' (seconds, or 500ms / 2min)", v);
			c->timeout_given = 1;
		} else if ((v = opt_value(argc, argv, &i, "--grace", &missing))) {
			if (parse_duration_ms(v, &c->grace_ms) < 0 || c->grace_ms < 0)
				return usage_error("bad --grace '%s' (30s, 2min, 500ms, PT1M, or ms)", v);
		} else if ((v = opt_value(argc, argv, &i, "--reason", &missing))) {
			c->reason = v;
		} else if ((v = opt_value(argc, argv, &i, "--after", &missing))) {
			char *end;
			errno = 0;
			unsigned long long n = strtoull(v, &end, 10);
			if (!*v || *end || errno || v[0] == '-')
				return usage_error("bad --after '%s' (an event sequence number)", v);
			c->after = n;
		} else if (missing) {
			return usage_error("%s needs a value", a);
		} else if (a[0] == '-' && a[1] != '\0') {
			return usage_error("unknown option %s", a);
		} else {
			if (npos == 3)
				return usage_error("unexpected argument '%s'", a);
			pos[npos++] = a;
		}
	}
	if (npos == 0)
		return usage_error("%s", "missing command");
	c->cmd = pos[0];
	const char *cmds[] = {"status", "health", "drain", "stop", "events", "log-level"};
	int known = 0;
	for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++)
		known |= !strcmp(c->cmd, cmds[k]);
	if (!known)
		return usage_error("unknown command '%s'", c->cmd);
	int want = !strcmp(c->cmd, "log-level") ? 1 : !strcmp(c->cmd, "health") ? -1 : 0;
	if ((want == 1 && npos != 2) || (want == 0 && npos != 1) || (want == -1 && npos > 2))
		return usage_error("wrong number of arguments for '%s'", c->cmd);
	c->arg = npos == 2 ? pos[1] : NULL;
	if (c->grace_ms >= 0 && strcmp(c->cmd, "stop"))
		return usage_error("--grace only applies to 'stop' (not '%s')", c->cmd);
	return 0;
}

/* First line of the file, trailing whitespace stripped. 0 / -1 (message
 * printed). */
static int read_token_file(const char *path, char **out)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "sparkshim ctl: cannot read token file %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, f);
	fclose(f);
	while (n > 0 && isspace((unsigned char)line[n - 1]))
		line[--n] = '\0';
	if (n <= 0) {
		fprintf(stderr, "sparkshim ctl: token file %s is empty\n", path);
		free(line);
		return -1;
	}
	*out = line;
	return 0;
}

static int load_token(struct cli *c)
{
	if (c->token_file)
		return read_token_file(c->token_file, &c->token);
	const char *env = getenv("SPARKSHIM_CONTROL_TOKEN");
	if (env && *env) {
		c->token = strdup(env);
		if (!c->token)
			return -1;
	}
	return 0;
}

/* ---- result handling -------------------------------------------------- */

static int exit_for_status(grpc_status_code st)
{
	switch (st) {
	case GRPC_STATUS_OK:
		return CTL_EXIT_OK;
	case GRPC_STATUS_UNAVAILABLE:
	case GRPC_STATUS_DEADLINE_EXCEEDED:
		return CTL_EXIT_UNREACHABLE;
	case GRPC_STATUS_UNAUTHENTICATED:
	case GRPC_STATUS_PERMISSION_DENIED:
	case GRPC_STATUS_INVALID_ARGUMENT:
	case GRPC_STATUS_FAILED_PRECONDITION:
	case GRPC_STATUS_NOT_FOUND:
		return CTL_EXIT_REJECTED;
	default:
		return CTL_EXIT_ERROR;
	}
}

static int report_failure(const struct cli *c, grpc_status_code st, const char *details)
{
	int code = exit_for_status(st);
	const char *what = code == CTL_EXIT_UNREACHABLE ? "cannot reach the control service at"
			   : code == CTL_EXIT_REJECTED	 ? "request rejected by"
							 : "request failed at";
	fprintf(stderr, "sparkshim ctl: %s %s: %s%s%s\n", what, c->address, status_code_name(st),
		details && *details ? ": " : "", details ? details : "");
	if (st == GRPC_STATUS_UNIMPLEMENTED)
		fputs("sparkshim ctl: (is this a sparkshim control address, not the connect port?)\n",
		      stderr);
	if (c->json) {
		int first = 1;
		fputs("{\"error\":{", stdout);
		json_kv_str(stdout, &first, "code", status_code_name(st));
		json_kv_str(stdout, &first, "message", details);
		fputs("}}\n", stdout);
	}
	return code;
}

/* One unary call, its response decoded as a `desc` message into *out
 * (free with protobuf_c_message_free_unpacked). CTL_EXIT_OK, or the exit
 * code of the failure, already reported. */
static int call(struct cli *c, const char *method, const ProtobufCMessage *req, int with_token,
		const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out)
{
	uint8_t *buf;
	size_t n;
	*out = NULL;
	if (ctl_pack(req, &buf, &n) < 0) {
		fputs("sparkshim ctl: out of memory\n", stderr);
		return CTL_EXIT_ERROR;
	}
	struct rpc_result res;
	int rc = rpc_unary(c->ch, method, buf, n, with_token ? c->token : NULL, c->timeout_ms, &res);
	free(buf);
	if (rc < 0) {
		fprintf(stderr, "sparkshim ctl: %s\n", res.details);
		rc = CTL_EXIT_ERROR;
	} else if (res.status != GRPC_STATUS_OK) {
		rc = report_failure(c, res.status, res.details);
	} else if (!res.resp) {
		fputs("sparkshim ctl: server sent no response message\n", stderr);
		rc = CTL_EXIT_ERROR;
	} else if (!(*out = protobuf_c_message_unpack(desc, NULL, res.resp_len, res.resp))) {
		fprintf(stderr, "sparkshim ctl: malformed %s\n", desc->short_name);
		rc = CTL_EXIT_ERROR;
	} else {
		rc = CTL_EXIT_OK;
	}
	rpc_result_free(&res);
	return rc;
}

static const char *enum_name(const ProtobufCEnumDescriptor *d, int v, const char *prefix)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
	if (!ev)
		return "?";
	size_t n = strlen(prefix);
	return strncmp(ev->name, prefix, n) == 0 ? ev->name + n : ev->name;
}

static const char *state_str(int v)
{
	return enum_name(&sparkshim__v1__state__descriptor, v, "STATE_");
}

static void fmt_time(int64_t ms, char *buf, size_t cap)
{
	if (ms <= 0) {
		snprintf(buf, cap, "-");
		return;
	}
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm);
}

static void fmt_bytes(int64_t b, char *buf, size_t cap)
{
	if (b < 0)
		snprintf(buf, cap, "unknown");
	else
		snprintf(buf, cap, "%lld MiB", (long long)(b >> 20));
}

static int cmd_status(struct cli *c)
{
	Sparkshim__V1__StatusRequest req = SPARKSHIM__V1__STATUS_REQUEST__INIT;
	ProtobufCMessage *m;
	int rc = call(c, "/sparkshim.v1.Control/Status", &req.base, 0,
		      &sparkshim__v1__status_response__descriptor, &m);
	if (rc != CTL_EXIT_OK)
		return rc;
	Sparkshim__V1__StatusResponse *s = (Sparkshim__V1__StatusResponse *)m;
	const char *reg = enum_name(&sparkshim__v1__registration__descriptor, s->registration,
				    "REGISTRATION_");
	if (c->json) {
		FILE *f = stdout;
		int first = 1;
		fputc('{', f);
		json_kv_str(f, &first, "state", state_str(s->state));
		json_kv_int(f, &first, "pid", s->pid);
		json_kv_int(f, &first, "start_time_ms", s->start_time_ms);
		json_kv_int(f, &first, "uptime_ms", s->uptime_ms);
		json_kv_str(f, &first, "connect_endpoint", s->connect_endpoint);
		json_kv_bool(f, &first, "connect_alive", s->connect_alive);
		json_kv_str(f, &first, "spark_version", s->spark_version);
		json_kv_str(f, &first, "app_id", s->app_id);
		json_kv_str(f, &first, "app_name", s->app_name);
		json_kv_str(f, &first, "ui_url", s->ui_url);
		json_kv_str(f, &first, "registration", reg);
		json_kv_str(f, &first, "znode_path", s->znode_path);
		json_kv_int(f, &first, "active_sessions", s->active_sessions);
		json_kv_int(f, &first, "active_operations", s->active_operations);
		json_kv_int(f, &first, "last_activity_ms", s->last_activity_ms);
		json_kv_int(f, &first, "heap_used_bytes", s->heap_used_bytes);
		json_kv_int(f, &first, "heap_max_bytes", s->heap_max_bytes);
		json_kv_str(f, &first, "shim_version", s->shim_version);
		json_kv_str(f, &first, "control_endpoint", s->control_endpoint);
		json_kv_bool(f, &first, "front_door", s->front_door);
		json_kv_int(f, &first, "door_session_count", s->door_session_count);
		json_kv_int(f, &first, "door_calls_in_flight", s->door_calls_in_flight);
		fputs(",\"door_sessions\":[", f);
		for (size_t i = 0; i < s->n_door_sessions; i++) {
			const Sparkshim__V1__DoorSession *d = s->door_sessions[i];
			int f1 = 1;
			fputs(i ? ",{" : "{", f);
			json_kv_str(f, &f1, "user_id", d->user_id);
			json_kv_str(f, &f1, "session_id", d->session_id);
			json_kv_int(f, &f1, "first_activity_ms", d->first_activity_ms);
			json_kv_int(f, &f1, "last_activity_ms", d->last_activity_ms);
			json_kv_int(f, &f1, "calls_in_flight", d->calls_in_flight);
			json_kv_int(f, &f1, "calls_total", (int64_t)d->calls_total);
			json_kv_int(f, &f1, "bytes_in", (int64_t)d->bytes_in);
			json_kv_int(f, &f1, "bytes_out", (int64_t)d->bytes_out);
			fputc('}', f);
		}
		fputs("]}\n", f);
	} else {
		char t1[32], t2[32], h1[32], h2[32];
		fmt_time(s->start_time_ms, t1, sizeof(t1));
		fmt_time(s->last_activity_ms, t2, sizeof(t2));
		fmt_bytes(s->heap_used_bytes, h1, sizeof(h1));
		fmt_bytes(s->heap_max_bytes, h2, sizeof(h2));
		int64_t up = s->uptime_ms / 1000;
		printf("state:          %s\n", state_str(s->state));
		printf("pid:            %d (started %s, up %lldh%02lldm%02llds)\n", s->pid, t1,
		       (long long)(up / 3600), (long long)(up / 60 % 60), (long long)(up % 60));
		printf("connect:        %s (%s)\n", *s->connect_endpoint ? s->connect_endpoint : "-",
		       s->connect_alive ? "alive" : "not answering");
		printf("spark:          %s  app %s  %s\n", *s->spark_version ? s->spark_version : "-",
		       *s->app_id ? s->app_id : "-", s->app_name);
		printf("ui:             %s\n", *s->ui_url ? s->ui_url : "-");
		printf("registration:   %s %s\n", reg, s->znode_path);
		if (s->active_sessions < 0)
			printf("sessions:       unknown\n");
		else
			printf("sessions:       %d\n", s->active_sessions);
		if (s->active_operations < 0)
			printf("operations:     unknown\n");
		else
			printf("operations:     %d\n", s->active_operations);
		printf("last activity:  %s\n", t2);
		printf("heap:           %s used / %s max\n", h1, h2);
		printf("shim:           %s, control %s\n", s->shim_version, s->control_endpoint);
		if (s->front_door) {
			printf("front door:     %d session(s), %d call(s) in flight\n",
			       s->door_session_count, s->door_calls_in_flight);
			for (size_t i = 0; i < s->n_door_sessions; i++) {
				const Sparkshim__V1__DoorSession *d = s->door_sessions[i];
				char ta[32];
				fmt_time(d->last_activity_ms, ta, sizeof(ta));
				printf("  %s/%s  last %s  calls %d/%llu  in %llu out %llu\n",
				       d->user_id, d->session_id, ta, d->calls_in_flight,
				       (unsigned long long)d->calls_total,
				       (unsigned long long)d->bytes_in,
				       (unsigned long long)d->bytes_out);
			}
		}
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return CTL_EXIT_OK;
}

static int cmd_health(struct cli *c)
{
	Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	req.service = (char *)(c->arg ? c->arg : "");
	ProtobufCMessage *m;
	int rc = call(c, "/grpc.health.v1.Health/Check", &req.base, 0,
		      &grpc__health__v1__health_check_response__descriptor, &m);
	if (rc != CTL_EXIT_OK)
		return rc;
	Grpc__Health__V1__HealthCheckResponse *r = (Grpc__Health__V1__HealthCheckResponse *)m;
	const char *name =
		enum_name(&grpc__health__v1__health_check_response__serving_status__descriptor,
			  r->status, "");
	int serving = r->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
	protobuf_c_message_free_unpacked(m, NULL);
	if (c->json) {
		int first = 1;
		fputc('{', stdout);
		json_kv_str(stdout, &first, "service", req.service);
		json_kv_str(stdout, &first, "status", name);
		fputs("}\n", stdout);
	} else {
		printf("%s\n", name);
	}
	return serving ? CTL_EXIT_OK : CTL_EXIT_NOT_SERVING;
}

/* Drain and Stop: a mutating call whose response holds the state the
 * request was accepted in (field `state` of desc). */
static int call_accepted(struct cli *c, const char *what, const char *method,
			 const ProtobufCMessage *req, const ProtobufCMessageDescriptor *desc)
{
	ProtobufCMessage *m;
	int rc = call(c, method, req, 1, desc, &m);
	if (rc != CTL_EXIT_OK)
		return rc;
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(desc, "state");
	int state = f ? *(const int *)((const char *)m + f->offset) : 0;
	protobuf_c_message_free_unpacked(m, NULL);
	if (c->json) {
		int first = 1;
		fputc('{', stdout);
		json_kv_str(stdout, &first, "accepted", what);
		json_kv_str(stdout, &first, "state", state_str(state));
		fputs("}\n", stdout);
	} else {
		printf("%s requested (engine was %s)\n", what, state_str(state));
	}
	return CTL_EXIT_OK;
}

static int cmd_drain(struct cli *c)
{
	Sparkshim__V1__DrainRequest req = SPARKSHIM__V1__DRAIN_REQUEST__INIT;
	if (c->reason)
		req.reason = (char *)c->reason;
	return call_accepted(c, "drain", "/sparkshim.v1.Control/Drain", &req.base,
			     &sparkshim__v1__drain_response__descriptor);
}

static int cmd_stop(struct cli *c)
{
	Sparkshim__V1__StopRequest req = SPARKSHIM__V1__STOP_REQUEST__INIT;
	if (c->grace_ms >= 0) {
		req.grace_case = SPARKSHIM__V1__STOP_REQUEST__GRACE_GRACE_MS;
		req.grace_ms = c->grace_ms;
	}
	if (c->reason)
		req.reason = (char *)c->reason;
	return call_accepted(c, "stop", "/sparkshim.v1.Control/Stop", &req.base,
			     &sparkshim__v1__stop_response__descriptor);
}

static int cmd_log_level(struct cli *c)
{
	Sparkshim__V1__SetLogLevelRequest req = SPARKSHIM__V1__SET_LOG_LEVEL_REQUEST__INIT;
	req.level = (char *)c->arg;
	ProtobufCMessage *m;
	int rc = call(c, "/sparkshim.v1.Control/SetLogLevel", &req.base, 1,
		      &sparkshim__v1__set_log_level_response__descriptor, &m);
	if (rc != CTL_EXIT_OK)
		return rc;
	const char *level = ((Sparkshim__V1__SetLogLevelResponse *)m)->level;
	if (c->json) {
		int first = 1;
		fputc('{', stdout);
		json_kv_str(stdout, &first, "level", level);
		fputs("}\n", stdout);
	} else {
		printf("log level set to %s\n", level);
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return rc;
}

static void print_event(const struct cli *c, const Sparkshim__V1__Event *ev)
{
	const char *kind = enum_name(&sparkshim__v1__event__kind__descriptor, ev->kind, "KIND_");
	if (c->json) {
		int first = 1;
		fputc('{', stdout);
		json_kv_int(stdout, &first, "seq", (int64_t)ev->seq);
		json_kv_int(stdout, &first, "time_ms", ev->time_ms);
		json_kv_str(stdout, &first, "kind", kind);
		json_kv_str(stdout, &first, "from", state_str(ev->from_state));
		json_kv_str(stdout, &first, "to", state_str(ev->to_state));
		json_kv_str(stdout, &first, "reason", ev->reason);
		if (*ev->session_id) {
			json_kv_str(stdout, &first, "user_id", ev->user_id);
			json_kv_str(stdout, &first, "session_id", ev->session_id);
		}
		fputs("}\n", stdout);
	} else {
		char t[32];
		fmt_time(ev->time_ms, t, sizeof(t));
		if (ev->kind == SPARKSHIM__V1__EVENT__KIND__KIND_TRANSITION)
			printf("%llu %s %s -> %s  %s\n", (unsigned long long)ev->seq, t,
			       ev->from_state ? state_str(ev->from_state) : "(start)",
			       state_str(ev->to_state), ev->reason);
		else if (*ev->session_id)
			printf("%llu %s %s  %s/%s\n", (unsigned long long)ev->seq, t, kind,
			       ev->user_id, ev->session_id);
		else
			printf("%llu %s %s  %s\n", (unsigned long long)ev->seq, t, kind, ev->reason);
	}
	/* A follower piped into another tool wants each event as it happens. */
	fflush(stdout);
}

static int cmd_events(struct cli *c)
{
	Sparkshim__V1__EventsRequest req = SPARKSHIM__V1__EVENTS_REQUEST__INIT;
	req.after_seq = c->after;
	req.backlog_only = c->no_follow;
	size_t n = sparkshim__v1__events_request__get_packed_size(&req);
	uint8_t buf[64];
	sparkshim__v1__events_request__pack(&req, buf);
	struct rpc_stream *s;
	char err[256];
	/* Following is open-ended: only an explicit --timeout bounds it. */
	if (rpc_stream_open(c->ch, "/sparkshim.v1.Control/Events", buf, n, NULL,
			    c->timeout_given || c->no_follow ? c->timeout_ms : -1, &s, err,
			    sizeof(err)) < 0) {
		fprintf(stderr, "sparkshim ctl: %s\n", err);
		return CTL_EXIT_ERROR;
	}
	int rc = CTL_EXIT_OK, got = 0;
	for (;;) {
		uint8_t *msg;
		size_t len;
		int r = rpc_stream_next(s, &msg, &len, -1);
		if (r == 1) {
			got = 1;
			Sparkshim__V1__Event *ev = sparkshim__v1__event__unpack(NULL, len, msg);
			free(msg);
			if (!ev) {
				fputs("sparkshim ctl: malformed Event\n", stderr);
				rc = CTL_EXIT_ERROR;
				break;
			}
			print_event(c, ev);
			sparkshim__v1__event__free_unpacked(ev, NULL);
			continue;
		}
		if (r == 0) {
			const char *details;
			grpc_status_code st = rpc_stream_status(s, &details);
			/* Following until --timeout is a normal end once the
			 * engine answered (its backlog is never empty). */
			int timed_out = st == GRPC_STATUS_DEADLINE_EXCEEDED && got &&
					c->timeout_given && !c->no_follow;
			if (st != GRPC_STATUS_OK && !timed_out)
				rc = report_failure(c, st, details);
		} else {
			fputs("sparkshim ctl: stream read failed\n", stderr);
			rc = CTL_EXIT_ERROR;
		}
		break;
	}
	rpc_stream_close(s);
	return rc;
}

/* --state-file: is the engine that wrote it still running (same pid, start
 * time and boot)? A SIGKILLed engine leaves its file behind, and its pid may
 * belong to another process by now. Takes the control address from the file
 * unless --address was given. CTL_EXIT_OK or CTL_EXIT_NOT_RUNNING (said on
 * stdout, or as JSON). */
static int check_state_file(struct cli *c, struct statefile_view *v)
{
	int rc = statefile_read(c->state_file, v);
	char why[512];
	if (rc == -1 && errno == ENOENT)
		snprintf(why, sizeof(why), "no state file %s", c->state_file);
	else if (rc == -1)
		snprintf(why, sizeof(why), "cannot read %s: %s", c->state_file, strerror(errno));
	else if (rc == -2)
		snprintf(why, sizeof(why), "%s is not a sparkshim state file", c->state_file);
	else if (!proc_ident_alive(&v->owner))
		snprintf(why, sizeof(why), "%s names pid %d (%s), which is no longer running: "
			 "a stale state file", c->state_file, (int)v->owner.pid, v->state);
	else {
		if (!c->address && v->control_address[0])
			c->address = v->control_address;
		return CTL_EXIT_OK;
	}
	if (rc == -1 && errno != ENOENT) {
		fprintf(stderr, "sparkshim ctl: %s\n", why);
		return CTL_EXIT_ERROR;
	}
	if (c->json) {
		int first = 1;
		fputc('{', stdout);
		json_kv_str(stdout, &first, "state", "NOT_RUNNING");
		json_kv_str(stdout, &first, "reason", why);
		fputs("}\n", stdout);
	} else {
		printf("state:          not running (%s)\n", why);
	}
	return CTL_EXIT_NOT_RUNNING;
}

int ctl_main(int argc, char **argv)
{
	struct cli c = {.timeout_ms = DEFAULT_TIMEOUT_MS, .grace_ms = -1};
	int rc = parse_args(&c, argc, argv);
	if (rc == -2)
		return CTL_EXIT_OK;
	if (rc != 0)
		return rc;
	struct statefile_view sv;
	if (c.state_file && (rc = check_state_file(&c, &sv)) != CTL_EXIT_OK)
		return rc;
	if (!c.address) {
		const char *env = getenv("SPARKSHIM_CONTROL_ADDRESS");
		c.address = env && *env ? env : DEFAULT_ADDRESS;
	}
	int mutating = !strcmp(c.cmd, "drain") || !strcmp(c.cmd, "stop") ||
		       !strcmp(c.cmd, "log-level");
	/* Only mutating calls use the token; a broken token file should not
	 * stop someone from reading the status. */
	if (mutating && load_token(&c) < 0)
		return CTL_EXIT_USAGE;
	grpc_init();
	c.ch = rpc_channel_open(c.address);
	if (!c.ch) {
		fprintf(stderr, "sparkshim ctl: cannot create a channel to %s\n", c.address);
		rc = CTL_EXIT_ERROR;
	} else if (!strcmp(c.cmd, "status")) {
		rc = cmd_status(&c);
	} else if (!strcmp(c.cmd, "health")) {
		rc = cmd_health(&c);
	} else if (!strcmp(c.cmd, "drain")) {
		rc = cmd_drain(&c);
	} else if (!strcmp(c.cmd, "stop")) {
		rc = cmd_stop(&c);
	} else if (!strcmp(c.cmd, "events")) {
		rc = cmd_events(&c);
	} else {
		rc = cmd_log_level(&c);
	}
	fflush(stdout);
	if (c.ch)
		grpc_channel_destroy(c.ch);
	grpc_shutdown();
	free(c.token);
	return rc;
}
