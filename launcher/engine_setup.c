/* The start-up steps before the JVM exists. Every failure here is a bad
 * input or a broken installation, reported in one line with its own exit
 * code while nothing is running yet. */
#include "launcher/engine_setup.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/exitcodes.h"
#include "base/log.h"
#include "base/clock.h"
#include "base/thread.h"
#include "jni/cache_prune.h"
#include "jni/cds_archive.h"
#include "jni/java_cmdline.h"
#include "jni/jvm_host.h"
#include "jni/launcher_cache.h"
#include "jni/output_tap.h"
#include "jni/spark_launcher.h"
#include "launcher/door_setup.h"
#include "launcher/driver_host.h"
#include "launcher/exit_path.h"
#include "launcher/submit_args.h"
#include "launcher/timeline.h"
#include "shim/ctl/ctl_addr.h"
#include "shim/registry/registry.h"

extern char **environ;

/* The stand-in Spark home built next to the binary (build/spark-home) or
 * installed with it (PREFIX/share/sparkshim/spark-home). */
static int find_bundled_home(char *out, size_t outlen)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	static const char *const rel[] = {"spark-home", "../share/sparkshim/spark-home"};
	for (size_t i = 0; i < 2; i++) {
		char cand[PATH_MAX + 64];
		snprintf(cand, sizeof(cand), "%s/%s/jars", exe, rel[i]);
		if (access(cand, R_OK) == 0 &&
		    (size_t)snprintf(out, outlen, "%s/%s", exe, rel[i]) < outlen)
			return 0;
	}
	return -1;
}

int setup_spark_home(struct engine *s)
{
	char err[1024], bundled[PATH_MAX];
	const char *dir = s->cli.spark_home ? s->cli.spark_home : getenv("SPARK_HOME");
	if (!dir || !*dir) {
		if (find_bundled_home(bundled, sizeof(bundled)) < 0) {
			die_msg("SPARK_HOME is not set and no bundled stand-in Spark home was found; set SPARK_HOME or pass --spark-home DIR");
			return EXIT_BAD_SPARK_HOME;
		}
		dir = bundled;
		s->using_standin = 1;
	}
	if (spark_home_inspect(dir, &s->home, err, sizeof(err)) < 0) {
		die_msg("%s", err);
		return EXIT_BAD_SPARK_HOME;
	}
	if (s->using_standin)
		log_warn("SPARK_HOME is not set: using the bundled stand-in Spark home %s (Spark %s look-alike for trying sparkshim out; set SPARK_HOME for a real Spark)",
			 s->home.path, s->home.version);
	/* Spark's launcher, SparkSubmit and spark-env.sh all read it. */
	setenv("SPARK_HOME", s->home.path, 1);
	return 0;
}

static void spark_conf_dir(const struct engine *s, char *out, size_t outlen)
{
	const char *env_conf_dir = getenv("SPARK_CONF_DIR");
	if (env_conf_dir && *env_conf_dir)
		snprintf(out, outlen, "%s", env_conf_dir);
	else
		snprintf(out, outlen, "%s/conf", s->home.path);
}

int setup_conf_and_settings(struct engine *s)
{
	char err[1024], conf_dir[PATH_MAX + 8], *replaced = NULL;
	spark_conf_dir(s, conf_dir, sizeof(conf_dir));
	int version = submit_spark_version(s->home.version);
	/* The arguments Spark's launcher will get, read the way it reads
	 * them: what Spark refuses is refused here, before any JVM. */
	for (size_t i = 0; i < s->cli.spark_args.n; i++)
		if (strvec_push(&s->submit_args, s->cli.spark_args.v[i]) < 0)
			return EXIT_INTERNAL;
	if (submit_make_connect(&s->submit_args, version, &replaced) < 0)
		return EXIT_INTERNAL;
	if (submit_collect_conf(&s->submit_args, version, conf_dir, &s->spark_conf, err,
				sizeof(err)) < 0) {
		free(replaced);
		die_msg("%s", err);
		return EXIT_USAGE;
	}
	if (settings_load(&s->cli.shim, s->cli.config_file, &s->spark_conf, &s->settings, err,
			  sizeof(err)) < 0) {
		free(replaced);
		die_msg("%s", err);
		return EXIT_USAGE;
	}
	log_set_level(s->settings.log_level);
	if (replaced)
		log_info("main class %s replaced by %s: this engine serves Spark Connect", replaced,
			 CONNECT_SERVER_CLASS);
	free(replaced);
	return 0;
}

int setup_java(struct engine *s)
{
	char err[1024];
	const char *jh = s->cli.java_home ? s->cli.java_home : getenv("JAVA_HOME");
	if (java_locate(jh, getenv("PATH"), &s->java, err, sizeof(err)) < 0) {
		die_msg("%s", err);
		return EXIT_NO_JAVA;
	}
	if (s->cli.java_home)
		setenv("JAVA_HOME", s->java.home, 1);
	return 0;
}

static int is_wildcard(const char *host)
{
	return !host || !*host || !strcmp(host, "0.0.0.0") || !strcmp(host, "::") ||
	       !strcmp(host, "[::]");
}

int setup_connect_args(struct engine *s)
{
	/* Behind a gateway many engines share a host: let the kernel pick the
	 * port unless one was asked for. By hand, Spark's default (15002). */
	struct conf extra, force;
	conf_init(&extra);
	conf_init(&force);
	if (registry_enabled() && !conf_get(&s->spark_conf, "spark.connect.grpc.binding.port")) {
		conf_set(&extra, "spark.connect.grpc.binding.port", "0");
		conf_set(&s->spark_conf, "spark.connect.grpc.binding.port", "0");
	}
	/* After the gateway's port default: the door takes the published port. */
	int drc = door_plan(s, &force);
	if (drc) {
		conf_free(&extra);
		conf_free(&force);
		return drc;
	}
	if (driver_host_derive(&s->spark_conf, &extra, s->engine_host,
			       s->engine_host_from[0] ? s->engine_host_from : NULL) < 0) {
		conf_free(&extra);
		conf_free(&force);
		return EXIT_INTERNAL;
	}
	int rc = submit_add_confs(&s->submit_args, submit_spark_version(s->home.version), &extra);
	if (rc == 0)
		rc = submit_force_confs(&s->submit_args, &force);
	conf_free(&extra);
	conf_free(&force);
	if (rc < 0)
		return EXIT_INTERNAL;
	const char *bind = conf_get(&s->spark_conf, "spark.connect.grpc.binding.address");
	if (!s->settings.front_door) /* else door_plan: Spark is on 127.0.0.1 */
		snprintf(s->probe_host, sizeof(s->probe_host), "%s",
			 is_wildcard(bind) ? "127.0.0.1" : bind);
	return 0;
}

int check_connect_port_free(struct engine *s)
{
	const char *v = conf_get_default(&s->spark_conf, "spark.connect.grpc.binding.port", "15002");
	char *end;
	long port = strtol(v, &end, 10);
	if (*end || port < 0 || port > 65535) {
		die_msg("spark.connect.grpc.binding.port=%s: expected a port number from 0 to 65535", v);
		return EXIT_USAGE;
	}
	if (port == 0)
		return 0;
	/* Same check Spark's bind would make, before a JVM exists to clean up.
	 * (Racy by nature; Spark's own failure is still classified later.) */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	const char *bind_addr = conf_get(&s->spark_conf, "spark.connect.grpc.binding.address");
	if (is_wildcard(bind_addr) || inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1)
		sa.sin_addr.s_addr = htonl(INADDR_ANY);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	close(fd);
	if (rc < 0 && e == EADDRINUSE) {
		die_msg("spark.connect.grpc.binding.port=%ld: port in use; expected a free port (or 0 for any)",
			port);
		return EXIT_PORT_IN_USE;
	}
	return 0;
}

int check_control_port_free(struct engine *s)
{
	const char *ca = s->settings.control_address;
	struct ctl_addr a;
	char err[300];
	if (!ca[0] || !strcmp(ca, SETTINGS_CONTROL_DEFAULT) ||
	    ctl_addr_parse(ca, &a, err, sizeof(err)) < 0 || a.is_unix)
		return 0;
	int e = ctl_addr_bind_errno(&a);
	if (e == 0)
		return 0;
	if (e == EADDRINUSE) {
		die_msg("sparkshim.control.address=%s: port in use; expected a free port (or port 0 for any)",
			ca);
		return EXIT_PORT_IN_USE;
	}
	die_msg("sparkshim.control.address=%s: %s; expected an address of this host",
		ca, e == -1 ? "host does not resolve" : strerror(e));
	return EXIT_USAGE;
}

/* Spark's launcher turned the arguments into its usage-error command: run
 * that (it prints spark-submit's own message) and report a usage error. */
static int run_usage_error(const struct strvec *cmd)
{
	pid_t pid;
	if (posix_spawn(&pid, cmd->v[0], NULL, NULL, cmd->v, environ) == 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	die_msg("spark-submit arguments rejected by Spark (see its message above)");
	return EXIT_USAGE;
}

static int has_arg(const struct strvec *v, const char *a)
{
	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(v->v[i], a))
			return 1;
	return 0;
}

/* Env vars that spark-env.sh set or changed: the real driver JVM would have
 * them, and Java reads the environment once at start-up. */
static void import_env(const struct strvec *env)
{
	for (size_t i = 0; i < env->n; i++) {
		char *eq = strchr(env->v[i], '=');
		if (!eq || eq == env->v[i])
			continue;
		*eq = '\0';
		const char *cur = getenv(env->v[i]);
		if (!cur || strcmp(cur, eq + 1) != 0)
			setenv(env->v[i], eq + 1, 1);
		*eq = '=';
	}
}

static int strvec_copy(struct strvec *dst, const struct strvec *src)
{
	strvec_init(dst);
	for (size_t i = 0; i < src->n; i++)
		if (strvec_push(dst, src->v[i]) < 0) {
			strvec_free(dst);
			return -1;
		}
	return 0;
}

/* Spark's launcher through the cache (launcher_cache.h): a hit needs no JVM;
 * a miss runs the launcher with the per-launch values as placeholders and
 * stores its result. Any cache problem only costs the launcher run. */
static int cache_dir(const struct engine *s, char *dir, size_t len)
{
	if (s->settings.cache_dir[0]) {
		snprintf(dir, len, "%s", s->settings.cache_dir);
		return 0;
	}
	if (launcher_cache_default_dir(dir, len) == 0)
		return 0;
	log_debug("no cache directory (set XDG_CACHE_HOME, HOME or sparkshim.cache.dir)");
	return -1;
}

static int launcher_cached(struct engine *s, struct launcher_result *lr, char *err,
			   size_t errlen)
{
	char dir[PATH_MAX], conf_dir[PATH_MAX + 8], why[PATH_MAX + 256];
	if (cache_dir(s, dir, sizeof(dir)) < 0)
		return 1;
	struct launch_params lp;
	if (launch_params_split(s->submit_args.v, s->submit_args.n, &lp) < 0)
		return 1;
	spark_conf_dir(s, conf_dir, sizeof(conf_dir));
	struct launch_inputs in = {
		.spark_home = s->home.path,
		.spark_version = s->home.version,
		.java_home = getenv("JAVA_HOME"),
		.conf_dir = conf_dir,
		.args = &lp.args,
	};
	size_t mlen = 0;
	char *mat = launcher_cache_material(&in, &mlen);
	if (!mat) {
		log_debug("launcher cache: an input file is too big to key on; running Spark's launcher");
		launch_params_free(&lp);
		return 1;
	}
	int exact, rc = launcher_cache_load(dir, mat, mlen, lr, why, sizeof(why));
	if (rc == 0) {
		if (launch_params_fill(&lp, &lr->cmd, &exact) == 0 && exact) {
			log_debug("launcher cache: hit in %s (no launcher JVM)", dir);
			free(mat);
			launch_params_free(&lp);
			return 0;
		}
		launcher_result_free(lr);
		snprintf(why, sizeof(why), "cache entry does not fit the arguments");
		rc = -1;
	}
	if (rc < 0)
		log_warn("launcher cache: %s; running Spark's launcher", why);
	else
		log_debug("launcher cache: miss; running Spark's launcher");
	if (spark_launcher_run(s->home.path, s->java.home, lp.args.v, lp.args.n, lr, err,
			       errlen) < 0) {
		/* Fatal anyway: run it again with the real values so that
		 * its messages show them. */
		int again = lp.values.n > 0;
		launcher_result_free(lr);
		free(mat);
		launch_params_free(&lp);
		return again ? 1 : -1;
	}
	struct strvec raw;
	int stored = 0;
	if (strvec_copy(&raw, &lr->cmd) < 0 || launch_params_fill(&lp, &lr->cmd, &exact) < 0) {
		strvec_free(&raw);
		snprintf(err, errlen, "out of memory");
		free(mat);
		launch_params_free(&lp);
		return -1;
	}
	if (!exact) {
		log_debug("launcher cache: Spark's launcher changed a per-launch value; not cached");
	} else if (!has_arg(&raw, "--usage-error")) {
		struct launcher_result entry = {.cmd = raw, .env = lr->env, .exit_code = 0};
		if (launcher_cache_store(dir, mat, mlen, &entry, why, sizeof(why)) < 0)
			log_warn("launcher cache: cannot store the result (%s); next start runs the launcher again",
				 why);
		else
			stored = 1;
	}
	if (stored)
		log_debug("launcher cache: stored in %s", dir);
	strvec_free(&raw);
	free(mat);
	launch_params_free(&lp);
	return 0;
}

/* The driver JVM's java command and the environment spark-env.sh sets. */
static int resolve_launch(struct engine *s, struct launcher_result *lr)
{
	char err[1024];
	int64_t t0 = monotonic_ms(), tl = timeline_now();
	spark_launcher_prepare_env(s->home.path, s->java.home);
	int rc = 1;
	if (s->settings.launcher_cache)
		rc = launcher_cached(s, lr, err, sizeof(err));
	if (rc > 0)
		rc = spark_launcher_run(s->home.path, s->java.home, s->submit_args.v,
					s->submit_args.n, lr, err, sizeof(err));
	if (rc < 0) {
		die_msg("%s", err);
		launcher_result_free(lr);
		return EXIT_BAD_SPARK_HOME;
	}
	log_debug("driver command resolved in %lld ms", (long long)(monotonic_ms() - t0));
	timeline_phase("driver command (launcher or its cache)", tl);
	if (has_arg(&lr->cmd, "--usage-error")) {
		int urc = run_usage_error(&lr->cmd);
		launcher_result_free(lr);
		return urc;
	}
	return 0;
}

int print_launch_command(struct engine *s)
{
	struct launcher_result lr;
	int rc = resolve_launch(s, &lr);
	if (rc)
		return rc;
	/* One element per line, tagged; backslash and newline escaped. */
	for (int part = 0; part < 2; part++) {
		const struct strvec *v = part ? &lr.env : &lr.cmd;
		for (size_t i = 0; i < v->n; i++) {
			fputs(part ? "env " : "cmd ", stdout);
			for (const char *c = v->v[i]; *c; c++)
				if (*c == '\\')
					fputs("\\\\", stdout);
				else if (*c == '\n')
					fputs("\\n", stdout);
				else
					putchar(*c);
			putchar('\n');
		}
	}
	fflush(stdout);
	launcher_result_free(&lr);
	return 0;
}

/* The class-data archive of this start (cds_archive.h). */
static struct cds_plan cds;

static int64_t jvm_create_started;

static void jvm_created(void)
{
	timeline_phase("JNI_CreateJavaVM", jvm_create_started);
	cds_check_mapped(&cds);
}

void engine_cds_cancel(void)
{
	cds_dump_cancel(5000);
}

void engine_cds_ready(void)
{
	if (cds.mode == CDS_RECORD)
		cds_dump_start(&cds);
}

static void plan_cds(struct engine *s, struct strvec *options)
{
	char dir[PATH_MAX];
	memset(&cds, 0, sizeof(cds));
	if (!s->settings.cds) {
		log_debug("class-data archive: off (sparkshim.cds=false)");
		return;
	}
	if (cache_dir(s, dir, sizeof(dir)) < 0)
		return;
	cds_plan_make(dir, s->java.home, s->java.libjvm, options, &cds);
	if (cds.mode == CDS_OFF)
		log_debug("class-data archive: none (%s)", cds.why);
	else if (cds.mode == CDS_RECORD)
		log_info("class-data archive: none yet for this JDK and class path; recording the classes Spark loads, dumped in the background once serving");
	else
		log_debug("class-data archive: using %s", cds.archive);
}

int start_engine_jvm(struct engine *s)
{
	char err[1024];
	struct launcher_result lr;
	int rc0 = resolve_launch(s, &lr);
	if (rc0)
		return rc0;
	import_env(&lr.env);
	/* spark-env.sh may name another Java: the real driver would use it. */
	const char *jh = getenv("JAVA_HOME");
	if (jh && strcmp(jh, s->java.home) != 0 && setup_java(s) != 0) {
		launcher_result_free(&lr);
		return EXIT_NO_JAVA;
	}
	struct java_cmd jc;
	if (java_cmd_parse(&lr.cmd, getenv("JDK_JAVA_OPTIONS"), &jc, err, sizeof(err)) < 0) {
		die_msg("%s", err);
		launcher_result_free(&lr);
		return EXIT_BAD_SPARK_HOME;
	}
	launcher_result_free(&lr);
	import_env(&jc.env);
	plan_cds(s, &jc.options);
	log_debug("driver JVM: %zu options, main class %s, %zu args", jc.options.n, jc.main_class,
		  jc.args.n);

	if (output_tap_start() < 0)
		log_warn("cannot watch the JVM's stderr; startup errors will be less precise");
	struct jvm_launch l = {
		.libjvm_path = s->java.libjvm,
		.options = jc.options.v,
		.n_options = jc.options.n,
		.main_class = jc.main_class,
		.args = jc.args.v,
		.n_args = jc.args.n,
	};
	exit_paths_install(s);
	l.on_exit = shim_hook_exit;
	l.on_abort = shim_hook_abort;
	l.on_oom_exit = shim_hook_oom;
	l.on_created = jvm_created;
	door_export_token(s);
	jvm_create_started = timeline_now();
	int rc = jvm_host_start(&l, err, sizeof(err));
	java_cmd_free(&jc);
	if (rc < 0) {
		output_tap_stop(1000);
		die_msg("%s", err);
		return EXIT_JVM_CREATE;
	}
	return 0;
}

/* ---- cache pruning, while the JVM boots ---- */

static struct {
	char dir[PATH_MAX];
	struct cache_prune_limits lim;
} prune;

static void *prune_main(void *arg)
{
	(void)arg;
	int64_t t0 = timeline_now();
	struct cache_prune_result r;
	if (cache_prune(prune.dir, &prune.lim, epoch_ms(), &r) < 0)
		log_debug("cache pruning: cannot list %s: %s", prune.dir, strerror(errno));
	else if (r.removed)
		log_info("cache pruning: removed %d entr%s (%lld KiB) from %s; %lld KiB kept%s",
			 r.removed, r.removed == 1 ? "y" : "ies", (long long)(r.bytes_freed >> 10),
			 prune.dir, (long long)(r.bytes_kept >> 10),
			 r.in_use ? " (archives in use by running engines are kept)" : "");
	timeline_phase("cache pruning", t0);
	return NULL;
}

void engine_cache_prune_start(struct engine *s)
{
	if ((!s->settings.launcher_cache && !s->settings.cds) ||
	    cache_dir(s, prune.dir, sizeof(prune.dir)) < 0)
		return;
	prune.lim.max_age_ms = s->settings.cache_max_age_ms;
	prune.lim.max_bytes = s->settings.cache_max_bytes;
	if (thread_start_detached(prune_main, NULL, THREAD_STACK_WORKER) != 0)
		log_debug("cache pruning: no thread; not pruned this time");
}
