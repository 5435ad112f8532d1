/* Test driver for the registry module: registers like the engine would and
 * reports on stdout, one line per fact, so a pytest test can drive it
 * against a real ZooKeeper:
 *
 *   zkreg_driver [--conf k=v]... --host H --port P [--app-id ID] [--ui-url URL]
 *                [--control HOST:PORT] [--state STARTING|READY]
 *   zkreg_driver --conf k=v... --check-submit NOW_MS
 *   zkreg_driver --conf k=v... --advertise
 *
 * Output: "CONFIGURED <enabled>", "REGISTERED <ms> <path>",
 * "EVENT <name> <value> <text>" for every event posted, and replies to
 * commands read from stdin, one per line:
 *   deregister -> "DEREGISTERED <rc> <ms>"    register -> "REGISTERED <ms> <path>" / "FAILED <err>"
 *   close      -> "CLOSED <ms>"               drain / stop -> "STATE <state>"
 *   info       -> "INFO <reg_state> <path>"   quit (or EOF) -> close, "BYE", exit 0
 *   update [PORT] -> registry_update with that port (default: the same
 *                 endpoint): "UPDATED <rc> <path>" / "FAILED <err>"
 * Errors: "error: <msg>" on stderr; exit 64 (configure), 73 (register). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/conf.h"
#include "base/engine_info.h"
#include "base/events.h"
#include "base/exitcodes.h"
#include "base/lifecycle.h"
#include "base/log.h"
#include "shim/registry/registry.h"

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct opts {
	const char *host, *app_id, *ui_url, *control, *state, *check_submit;
	int port, advertise;
};

static int do_register(const struct opts *o)
{
	char err[1024];
	struct reg_endpoint ep = {o->host, o->port, o->control, o->app_id, o->ui_url};
	int64_t t0 = mono_ms();
	if (registry_register(&ep, err, sizeof(err)) < 0) {
		printf("FAILED %s\n", err);
		fprintf(stderr, "error: %s\n", err);
		return -1;
	}
	struct engine_info info;
	engine_info_get(&info);
	printf("REGISTERED %lld %s\n", (long long)(mono_ms() - t0), info.znode_path);
	return 0;
}

/* 1 = keep going, 0 = quit. */
static int command(const struct opts *o, const char *line)
{
	int64_t t0 = mono_ms();
	if (strcmp(line, "deregister") == 0) {
		int rc = registry_deregister();
		printf("DEREGISTERED %d %lld\n", rc, (long long)(mono_ms() - t0));
	} else if (strcmp(line, "register") == 0) {
		do_register(o);
	} else if (strcmp(line, "close") == 0) {
		registry_close();
		printf("CLOSED %lld\n", (long long)(mono_ms() - t0));
	} else if (strcmp(line, "drain") == 0 || strcmp(line, "stop") == 0) {
		lifecycle_fire(line[0] == 'd' ? TR_DRAIN : TR_STOP, "driver");
		printf("STATE %s\n", state_name(lifecycle_state()));
	} else if (strncmp(line, "update", 6) == 0 && (line[6] == '\0' || line[6] == ' ')) {
		struct opts u = *o;
		if (line[6])
			u.port = atoi(line + 7);
		char err[1024];
		struct reg_endpoint ep = {u.host, u.port, u.control, u.app_id, u.ui_url};
		int rc = registry_update(&ep, err, sizeof(err));
		struct engine_info info;
		engine_info_get(&info);
		if (rc < 0)
			printf("FAILED %s\n", err);
		else
			printf("UPDATED %d %s\n", rc, info.znode_path);
	} else if (strcmp(line, "info") == 0) {
		struct engine_info info;
		engine_info_get(&info);
		printf("INFO %s %s\n", reg_state_name(info.reg_state), info.znode_path);
	} else if (strcmp(line, "quit") == 0) {
		return 0;
	} else if (line[0]) {
		printf("UNKNOWN %s\n", line);
	}
	return 1;
}

static void drain_events(void)
{
	struct shim_event ev;
	while (events_pop(&ev))
		printf("EVENT %s %lld %s\n", event_name(ev.type), ev.value, ev.text);
}

static int loop(const struct opts *o)
{
	char buf[4096];
	size_t len = 0;
	for (;;) {
		struct pollfd fds[2] = {{.fd = events_fd(), .events = POLLIN},
					{.fd = 0, .events = POLLIN}};
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (fds[0].revents)
			drain_events();
		if (!fds[1].revents)
			continue;
		ssize_t n = read(0, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			return 0; /* EOF: like quit */
		len += (size_t)n;
		char *nl;
		while ((nl = memchr(buf, '\n', len)) != NULL) {
			*nl = '\0';
			int go = command(o, buf);
			size_t used = (size_t)(nl - buf) + 1;
			memmove(buf, buf + used, len - used);
			len -= used;
			drain_events();
			if (!go)
				return 0;
		}
		if (len == sizeof(buf) - 1)
			len = 0; /* overlong line: drop it */
	}
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct conf c;
	conf_init(&c);
	struct opts o = {.host = "127.0.0.1", .app_id = "", .ui_url = "", .control = "",
			 .state = "READY"};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int takes = 1;
		if (strcmp(a, "--conf") == 0 && v) {
			if (conf_set_kv(&c, v) < 0) {
				fprintf(stderr, "error: bad --conf %s\n", v);
				return EXIT_USAGE;
			}
		} else if (strcmp(a, "--host") == 0 && v) {
			o.host = v;
		} else if (strcmp(a, "--port") == 0 && v) {
			o.port = atoi(v);
		} else if (strcmp(a, "--app-id") == 0 && v) {
			o.app_id = v;
		} else if (strcmp(a, "--ui-url") == 0 && v) {
			o.ui_url = v;
		} else if (strcmp(a, "--control") == 0 && v) {
			o.control = v;
		} else if (strcmp(a, "--state") == 0 && v) {
			o.state = v;
		} else if (strcmp(a, "--check-submit") == 0 && v) {
			o.check_submit = v;
		} else if (strcmp(a, "--advertise") == 0) {
			o.advertise = 1;
			takes = 0;
		} else {
			fprintf(stderr, "error: unknown argument %s\n", a);
			return EXIT_USAGE;
		}
		i += takes;
	}
	char err[1024];
	if (o.check_submit) {
		int rc = registry_check_submit_time(&c, atoll(o.check_submit), err, sizeof(err));
		printf("SUBMIT %d %s\n", rc, rc ? err : "");
		conf_free(&c);
		return 0;
	}
	if (o.advertise) {
		char host[512];
		int rc = advertised_host(&c, host, sizeof(host));
		printf("ADVERTISE %d %s\n", rc, host);
		conf_free(&c);
		return 0;
	}
	if (events_init() < 0)
		return EXIT_INTERNAL;
	engine_info_reset();
	lifecycle_reset();
	if (strcmp(o.state, "READY") == 0)
		lifecycle_fire(TR_READY, "driver");
	int rc = registry_configure(&c, err, sizeof(err));
	conf_free(&c); /* the registry keeps its own copies */
	if (rc < 0) {
		fprintf(stderr, "error: %s\n", err);
		return EXIT_USAGE;
	}
	printf("CONFIGURED %d\n", registry_enabled());
	if (registry_enabled() && do_register(&o) < 0) {
		registry_close();
		events_close();
		return EXIT_REGISTER;
	}
	drain_events();
	loop(&o);
	registry_close();
	drain_events();
	events_close();
	printf("BYE\n");
	return 0;
}
