#include "launcher/cli.h"

#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/suggest.h"
#include "launcher/submit_args.h"

enum opt_kind { K_KEY, K_FLAG, K_FLAG_OFF, K_SPARK_HOME, K_JAVA_HOME, K_CONFIG, K_PRINT_LAUNCH };

static const struct shim_opt {
	const char *name;
	enum opt_kind kind;
	const char *key; /* for K_KEY / K_FLAG */
	const char *help;
} shim_opts[] = {
	{"--spark-home", K_SPARK_HOME, NULL, "DIR   Spark home (default: $SPARK_HOME, else the bundled stand-in)"},
	{"--java-home", K_JAVA_HOME, NULL, "DIR    Java home (default: $JAVA_HOME, else java on PATH)"},
	{"--config", K_CONFIG, NULL, "FILE      shim config file (sparkshim.* keys), re-read on SIGHUP"},
	{"--start-timeout", K_KEY, "sparkshim.start.timeout", "DUR  connect port must answer within (default: kyuubi init timeout, 180s)"},
	{"--stop-timeout", K_KEY, "sparkshim.stop.timeout", "DUR   graceful stop budget before a forced exit (default 30s)"},
	{"--control-address", K_KEY, "sparkshim.control.address", "A  health/control gRPC bind: host:port, host:0, unix:/path, off (default 127.0.0.1:<connect port+1>)"},
	{"--control-token-file", K_KEY, "sparkshim.control.token.file", "F  bearer token for mutating control calls (or env SPARKSHIM_CONTROL_TOKEN)"},
	{"--front-door", K_KEY, "sparkshim.connect.front.door", "on|off  publish the connect endpoint through the front door (default on; docs/front-door.md)"},
	{"--connect-token-file", K_KEY, "sparkshim.connect.token.file", "F  bearer token clients must send (or env SPARKSHIM_CONNECT_TOKEN)"},
	{"--connect-tls-cert", K_KEY, "sparkshim.connect.tls.cert", "F  front door TLS certificate chain (PEM); with --connect-tls-key"},
	{"--connect-tls-key", K_KEY, "sparkshim.connect.tls.key", "F   front door TLS private key (PEM)"},
	{"--connect-tls-client-ca", K_KEY, "sparkshim.connect.tls.client.ca", "F  require client certificates signed by this CA (mTLS)"},
	{"--connect-allowed-users", K_KEY, "sparkshim.connect.allowed.users", "U  user_ids allowed besides the engine user (comma-separated, * = any)"},
	{"--state-file", K_KEY, "sparkshim.state.file", "F     JSON state file, written atomically, removed on stop"},
	{"--pid-file", K_KEY, "sparkshim.pid.file", "F       pid file, locked: a second instance is refused"},
	{"--exit-with-parent", K_FLAG, "sparkshim.exit.with.parent", "   stop when the parent process dies (manual use; gateways want engines to outlive them)"},
	{"--subreaper", K_FLAG, "sparkshim.subreaper", "         adopt and reap orphaned descendants (PR_SET_CHILD_SUBREAPER; automatic as PID 1)"},
	{"--log-level", K_KEY, "sparkshim.log.level", "L       shim log level: debug, info, warn, error"},
	{"--probe-interval", K_KEY, "sparkshim.probe.interval", "DUR  liveness probe period of the connect port (default 2s)"},
	{"--no-launcher-cache", K_FLAG_OFF, "sparkshim.launcher.cache", "  run Spark's launcher JVM on every start (no cached driver command)"},
	{"--no-cds", K_FLAG_OFF, "sparkshim.cds", "             no class-data-sharing archive (none written, none used)"},
	{"--cache-dir", K_KEY, "sparkshim.cache.dir", "DIR      launcher cache and class-data archives (default $XDG_CACHE_HOME/sparkshim, else ~/.cache/sparkshim)"},
	{"--print-launch-command", K_PRINT_LAUNCH, NULL, " print the driver JVM command and the environment spark-env.sh sets, then exit"},
};
#define N_OPTS (sizeof(shim_opts) / sizeof(shim_opts[0]))

void cli_init(struct cli *c)
{
	memset(c, 0, sizeof(*c));
	conf_init(&c->shim);
	strvec_init(&c->spark_args);
}

void cli_free(struct cli *c)
{
	conf_free(&c->shim);
	strvec_free(&c->spark_args);
	free(c->spark_home);
	free(c->java_home);
	free(c->config_file);
	memset(c, 0, sizeof(*c));
}

void cli_usage(FILE *out)
{
	fputs("usage: sparkshim [shim options] [--] [spark-submit options] [app jar] [app args]\n"
	      "       sparkshim ctl [--address A] [--json] status|drain|stop|health|events|log-level\n"
	      "\n"
	      "Runs a Spark Connect server inside this process (JVM through JNI) as an engine\n"
	      "for a gateway such as Apache Kyuubi, or by hand. spark-submit options are\n"
	      "passed to Spark's own launcher; --class defaults to SparkConnectServer.\n"
	      "\nshim options:\n",
	      out);
	for (size_t i = 0; i < N_OPTS; i++)
		fprintf(out, "  %s %s\n", shim_opts[i].name, shim_opts[i].help);
	fputs("  --help           this text\n"
	      "  --version        print the version\n"
	      "\nDurations: 30s, 5min, 2h, 1500 (ms) or ISO-8601 (PT30M).\n"
	      "Exit codes: see README.md.\n",
	      out);
}

static const struct shim_opt *find_opt(const char *arg, const char **inline_val)
{
	*inline_val = NULL;
	for (size_t i = 0; i < N_OPTS; i++) {
		size_t n = strlen(shim_opts[i].name);
		if (strncmp(arg, shim_opts[i].name, n) != 0)
			continue;
		if (arg[n] == '\0')
			return &shim_opts[i];
		if (arg[n] == '=' && shim_opts[i].kind != K_FLAG &&
		    shim_opts[i].kind != K_FLAG_OFF && shim_opts[i].kind != K_PRINT_LAUNCH) {
			*inline_val = arg + n + 1;
			return &shim_opts[i];
		}
	}
	return NULL;
}

static int set_dup(char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v);
	return *dst ? 0 : -1;
}

/* "--name" or "--name=value" of some Spark's spark-submit option. */
static int known_submit_opt(const char *a)
{
	const char *eq = strchr(a, '=');
	if (a[1] != '-' || !eq)
		return submit_find_opt(a, SUBMIT_SPARK_LATEST) != NULL;
	char name[64];
	snprintf(name, sizeof(name), "%.*s", (int)(eq - a), a);
	return submit_find_opt(name, SUBMIT_SPARK_LATEST) != NULL;
}

/* Spark's launcher gives an unknown option to SparkConnectServer as an
 * application argument, which it ignores: so does the shim, but says so.
 * A near miss of a shim option is a typo of ours, though: refused (-1). */
static int unknown_option(const char *a, char *err, size_t errlen)
{
	const char *s = suggest_closest(a, &shim_opts[0].name, N_OPTS, sizeof(shim_opts[0]));
	if (s) {
		snprintf(err, errlen, "unknown option %s: did you mean %s? (see --help)", a, s);
		return -1;
	}
	s = suggest_closest(a, &submit_opts[0].name, n_submit_opts, sizeof(submit_opts[0]));
	log_warn("unknown option %s: neither a sparkshim nor a spark-submit option; Spark passes it to SparkConnectServer, which ignores it%s%s%s",
		 a, s ? " (did you mean " : "", s ? s : "", s ? "?)" : "");
	return 0;
}

int cli_parse(int argc, char **argv, struct cli *c, char *err, size_t errlen)
{
	int i = 1, in_app_args = 0;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (in_app_args)
			goto to_spark;
		if (!strcmp(a, "--")) {
			for (i++; i < argc; i++)
				if (strvec_push(&c->spark_args, argv[i]) < 0)
					goto nomem;
			break;
		}
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			c->help = 1;
			continue;
		}
		if (!strcmp(a, "--version")) {
			c->version = 1;
			continue;
		}
		const char *val;
		const struct shim_opt *o = find_opt(a, &val);
		if (o) {
			int flag = o->kind == K_FLAG || o->kind == K_FLAG_OFF ||
				   o->kind == K_PRINT_LAUNCH;
			if (!flag && !val) {
				if (i + 1 >= argc) {
					snprintf(err, errlen, "%s: missing value", a);
					return -1;
				}
				val = argv[++i];
			}
			int rc = 0;
			switch (o->kind) {
			case K_KEY: rc = conf_set(&c->shim, o->key, val); break;
			case K_FLAG: rc = conf_set(&c->shim, o->key, "true"); break;
			case K_FLAG_OFF: rc = conf_set(&c->shim, o->key, "false"); break;
			case K_PRINT_LAUNCH: c->print_launch = 1; break;
			case K_SPARK_HOME: rc = set_dup(&c->spark_home, val); break;
			case K_JAVA_HOME: rc = set_dup(&c->java_home, val); break;
			case K_CONFIG: rc = set_dup(&c->config_file, val); break;
			}
			if (rc < 0)
				goto nomem;
			continue;
		}
		if (a[0] != '-') {
			in_app_args = 1; /* primary resource: the rest belongs to the app */
		} else if (submit_opt_takes_value(a)) {
			if (i + 1 >= argc) {
				snprintf(err, errlen,
					 "spark-submit arguments rejected as Spark would: Missing argument for option '%s'.",
					 a);
				return -1;
			}
			if (strvec_push(&c->spark_args, a) < 0)
				goto nomem;
			a = argv[++i];
		} else if (!known_submit_opt(a) && unknown_option(a, err, errlen) < 0) {
			return -1;
		}
	to_spark:
		if (strvec_push(&c->spark_args, a) < 0)
			goto nomem;
	}
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}
