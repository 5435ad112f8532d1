#include "launcher/door_setup.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "base/exitcodes.h"
#include "base/log.h"
#include "launcher/door_wiring.h"
#include "launcher/exit_path.h"
#include "shim/ctl/door_sessions.h"
#include "shim/ctl/front_door.h"

#define TOKEN_KEY "spark.connect.authenticate.token"
#define TOKEN_ENV "SPARK_CONNECT_AUTHENTICATE_TOKEN"

void engine_user_name(const struct conf *c, char *out, size_t outlen)
{
	const char *u = conf_get(c, "spark.sparkshim.proxy.user");
	if (u && *u) {
		snprintf(out, outlen, "%s", u);
		return;
	}
	/* Kyuubi hands the engine its full space: /<ns>_<ver>_<LEVEL>_<TYPE>/<user>/<x>. */
	const char *ns = kconf_get(c, "kyuubi.ha.namespace", NULL);
	const char *lvl = kconf_get(c, "kyuubi.engine.share.level", NULL);
	if (!lvl)
		lvl = kconf_get(c, "kyuubi.session.engine.share.level", NULL);
	int user_level = !lvl || !strcasecmp(lvl, "USER") || !strcasecmp(lvl, "CONNECTION");
	if (ns && user_level && ns[0] == '/') {
		const char *a = strchr(ns + 1, '/');
		if (a && a[1] && a[1] != '/') {
			const char *b = strchr(a + 1, '/');
			size_t n = b ? (size_t)(b - a - 1) : strlen(a + 1);
			snprintf(out, outlen, "%.*s", (int)n, a + 1);
			return;
		}
	}
	struct passwd *pw = getpwuid(geteuid());
	snprintf(out, outlen, "%s", pw && pw->pw_name ? pw->pw_name : "");
}

static int make_token(char *out, size_t outlen)
{
	unsigned char raw[32];
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw) || outlen < 2 * sizeof(raw) + 1)
		return -1;
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	memset(raw, 0, sizeof(raw));
	return 0;
}

static int is_wildcard(const char *h)
{
	return !h || !*h || !strcmp(h, "0.0.0.0") || !strcmp(h, "::") || !strcmp(h, "[::]");
}

int door_plan(struct engine *s, struct conf *force)
{
	if (!s->settings.front_door)
		return 0;
	if (atoi(s->home.version) < 4) {
		die_msg("the Connect front door needs Spark 4.0 or later (a loopback-only, token-protected "
			"Spark behind it); Spark %s at %s has neither: pass --front-door off to publish "
			"Spark's own port directly",
			s->home.version, s->home.path);
		return EXIT_USAGE;
	}
	const char *host = conf_get(&s->spark_conf, "spark.connect.grpc.binding.address");
	const char *port = conf_get_default(&s->spark_conf, "spark.connect.grpc.binding.port", "15002");
	if (is_wildcard(host))
		host = strchr(host ? host : "", ':') ? "[::]" : "0.0.0.0";
	if (strchr(host, ':') && host[0] != '[')
		snprintf(s->door_bind, sizeof(s->door_bind), "[%s]:%s", host, port);
	else
		snprintf(s->door_bind, sizeof(s->door_bind), "%s:%s", host, port);
	/* A token the user configured stays Spark's; the door sends it. */
	const char *given = conf_get(&s->spark_conf, TOKEN_KEY);
	if (given && *given) {
		snprintf(s->internal_token, sizeof(s->internal_token), "%s", given);
		s->internal_token_given = 1;
	} else if (make_token(s->internal_token, sizeof(s->internal_token)) < 0) {
		die_msg("cannot make the front door's internal token: %s", strerror(errno));
		return EXIT_INTERNAL;
	}
	if (conf_set(force, "spark.connect.grpc.binding.address", "127.0.0.1") < 0 ||
	    conf_set(force, "spark.connect.grpc.binding.port", "0") < 0)
		return EXIT_INTERNAL;
	snprintf(s->probe_host, sizeof(s->probe_host), "127.0.0.1");
	engine_user_name(&s->spark_conf, s->engine_user, sizeof(s->engine_user));
	return 0;
}

int door_open(struct engine *s)
{
	if (!s->settings.front_door)
		return 0;
	char err[1024];
	long maxmsg;
	if (conf_get_int(&s->spark_conf, "spark.connect.grpc.maxInboundMessageSize",
			 FRONT_DOOR_MAX_MESSAGE, 1024, 0x7fffffff, &maxmsg, err, sizeof(err)) < 0) {
		die_msg("%s", err);
		return EXIT_USAGE;
	}
	s->door = door_wiring_open(&s->settings);
	if (!s->door) {
		die_msg("front door: out of memory");
		return EXIT_INTERNAL;
	}
	struct settings *st = &s->settings;
	struct front_door_opts o = {
		.bind = s->door_bind,
		.client_token = st->door_token,
		.internal_token = s->internal_token,
		.engine_user = s->engine_user,
		.allowed_users = st->door_allowed_users,
		.tls_cert = st->door_tls_cert,
		.tls_key = st->door_tls_key,
		.tls_client_ca = st->door_tls_client_ca,
		.max_message = (size_t)maxmsg,
		.sessions = s->door,
	};
	char bound[320];
	s->front = front_door_start(&o, bound, sizeof(bound), err, sizeof(err));
	if (!s->front) {
		int inuse = errno == EADDRINUSE;
		door_wiring_close(s->door);
		s->door = NULL;
		if (inuse)
			die_msg("spark.connect.grpc.binding.port: %s; expected a free port (or 0 for any)",
				err);
		else
			die_msg("front door: %s", err);
		return inuse ? EXIT_PORT_IN_USE : EXIT_USAGE;
	}
	if (!st->door_tls_cert[0] && strncmp(s->door_bind, "127.", 4) != 0 &&
	    strncmp(s->door_bind, "[::1]", 5) != 0 && strncmp(s->door_bind, "localhost", 9) != 0)
		log_warn("front door on %s without TLS: tokens and data cross the network in clear "
			 "(--connect-tls-cert/--connect-tls-key)",
			 bound);
	return 0;
}

void door_export_token(struct engine *s)
{
	if (s->front && !s->internal_token_given)
		setenv(TOKEN_ENV, s->internal_token, 1);
}

int door_upstream(struct engine *s, int spark_port)
{
	if (!s->front)
		return spark_port;
	front_door_set_upstream(s->front, "127.0.0.1", spark_port);
	return front_door_port(s->front);
}

void door_reload(struct engine *s, const struct settings *ns)
{
	if (!s->front)
		return;
	char err[1024] = "";
	if (front_door_reload(s->front, ns->door_token, err, sizeof(err)) < 0)
		log_error("SIGHUP: front door TLS files not reloaded, keeping the old ones: %s", err);
	else
		log_info("SIGHUP: front door token%s re-read", s->settings.door_tls_cert[0] ? " and TLS files" : "");
}

void door_close(struct engine *s)
{
	front_door_stop(s->front);
	s->front = NULL;
	door_wiring_close(s->door);
	s->door = NULL;
}
