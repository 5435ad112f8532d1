#include "jni/spark_launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* The same steps as bin/spark-class, minus the final exec: env goes to fd 3
 * (NUL-separated), the launcher's command to stdout. */
static const char launcher_script[] =
	"if [ -f \"$SPARK_HOME/bin/load-spark-env.sh\" ]; then\n"
	"  . \"$SPARK_HOME/bin/load-spark-env.sh\" >&2 || exit 125\n"
	"fi\n"
	"env -0 >&3 || exit 125\n"
	"exec 3>&-\n"
	"if [ -n \"$JAVA_HOME\" ]; then RUNNER=\"$JAVA_HOME/bin/java\"; else RUNNER=java; fi\n"
	"# shellcheck disable=SC2086\n"
	"exec \"$RUNNER\" -Xmx128m $SPARK_LAUNCHER_OPTS -cp \"$SPARK_HOME/jars/*\" "
	"org.apache.spark.launcher.Main org.apache.spark.deploy.SparkSubmit \"$@\"\n";

void launcher_result_free(struct launcher_result *r)
{
	strvec_free(&r->cmd);
	strvec_free(&r->env);
}

/* Read both pipes to EOF without deadlocking on either. */
static int read_two(int fd_a, char **buf_a, size_t *len_a, int fd_b, char **buf_b, size_t *len_b)
{
	int fds[2] = {fd_a, fd_b};
	char **bufs[2] = {buf_a, buf_b};
	size_t *lens[2] = {len_a, len_b}, caps[2] = {0, 0};
	int open_n = 2;
	while (open_n > 0) {
		struct pollfd p[2];
		int np = 0, idx[2];
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0) {
				p[np].fd = fds[i];
				p[np].events = POLLIN;
				idx[np++] = i;
			}
		if (poll(p, (nfds_t)np, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (int k = 0; k < np; k++) {
			if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			int i = idx[k];
			if (*lens[i] + 4096 > caps[i]) {
				size_t nc = caps[i] ? caps[i] * 2 : 8192;
				char *nb = realloc(*bufs[i], nc);
				if (!nb)
					return -1;
				*bufs[i] = nb;
				caps[i] = nc;
			}
			ssize_t r = read(fds[i], *bufs[i] + *lens[i], caps[i] - *lens[i]);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				close(fds[i]);
				fds[i] = -1;
				open_n--;
				continue;
			}
			*lens[i] += (size_t)r;
		}
	}
	return 0;
}

/* Since Spark 3.3 the launcher may print messages first, one per line, then
 * a line holding a lone NUL, then the command (spark-class echoes the
 * messages). Echo them to stderr; return where the command starts. */
static size_t launcher_messages(const char *buf, size_t len)
{
	const char *nul = memchr(buf, '\0', len);
	if (!nul || (size_t)(nul - buf) + 1 >= len || nul[1] != '\n' ||
	    (nul != buf && nul[-1] != '\n'))
		return 0; /* no marker: the whole output is the command */
	if (nul != buf)
		fprintf(stderr, "%.*s", (int)(nul - buf), buf);
	return (size_t)(nul - buf) + 2;
}

void spark_launcher_prepare_env(const char *spark_home, const char *java_home)
{
	setenv("SPARK_HOME", spark_home, 1);
	if (java_home && !getenv("JAVA_HOME"))
		setenv("JAVA_HOME", java_home, 1);
}

/* Keep only what load-spark-env.sh set or changed (bash's own bookkeeping
 * variables aside): the rest is our environment already. */
static int env_delta(struct strvec *env)
{
	static const char *const skip[] = {"SHLVL", "_", "PWD", "OLDPWD", NULL};
	struct strvec d;
	strvec_init(&d);
	for (size_t i = 0; i < env->n; i++) {
		char *kv = env->v[i], *eq = strchr(kv, '=');
		if (!eq || eq == kv)
			continue;
		*eq = '\0';
		const char *cur = getenv(kv);
		int keep = !cur || strcmp(cur, eq + 1) != 0;
		for (size_t k = 0; keep && skip[k]; k++)
			if (!strcmp(kv, skip[k]))
				keep = 0;
		*eq = '=';
		if (keep && strvec_push(&d, kv) < 0) {
			strvec_free(&d);
			return -1;
		}
	}
	strvec_free(env);
	*env = d;
	return 0;
}

int spark_launcher_run(const char *spark_home, const char *java_home, char *const *args,
		       size_t n_args, struct launcher_result *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	out->exit_code = -1;
	int out_pipe[2] = {-1, -1}, env_pipe[2] = {-1, -1};
	if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(env_pipe, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto fail_pipes;
	}

	/* argv: bash -c SCRIPT sparkshim-launcher ARGS... */
	char **argv = calloc(n_args + 5, sizeof(*argv));
	if (!argv) {
		snprintf(err, errlen, "out of memory");
		goto fail_pipes;
	}
	argv[0] = "bash";
	argv[1] = "-c";
	argv[2] = (char *)launcher_script;
	argv[3] = "sparkshim-launcher";
	for (size_t i = 0; i < n_args; i++)
		argv[4 + i] = args[i];

	/* Child environment: ours plus SPARK_HOME and (default) JAVA_HOME. */
	spark_launcher_prepare_env(spark_home, java_home);

	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
	posix_spawn_file_actions_adddup2(&fa, env_pipe[1], 3);
	/* The launcher child must not inherit our blocked signal mask. */
	posix_spawnattr_t attr;
	posix_spawnattr_init(&attr);
	sigset_t none;
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
	pid_t pid;
	int rc = posix_spawnp(&pid, "bash", &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	free(argv);
	close(out_pipe[1]);
	close(env_pipe[1]);
	out_pipe[1] = env_pipe[1] = -1;
	if (rc != 0) {
		snprintf(err, errlen, "cannot run bash for Spark's launcher: %s", strerror(rc));
		goto fail_pipes;
	}

	char *cmd_buf = NULL, *env_buf = NULL;
	size_t cmd_len = 0, env_len = 0;
	int rd = read_two(out_pipe[0], &cmd_buf, &cmd_len, env_pipe[0], &env_buf, &env_len);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	out->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	size_t skip = rd == 0 ? launcher_messages(cmd_buf, cmd_len) : 0;
	int ok = rd == 0 && strvec_from_nul(&out->cmd, cmd_buf + skip, cmd_len - skip) == 0 &&
		 strvec_from_nul(&out->env, env_buf, env_len) == 0 && env_delta(&out->env) == 0;
	free(cmd_buf);
	free(env_buf);
	if (!ok) {
		snprintf(err, errlen, "reading Spark's launcher output failed");
		launcher_result_free(out);
		return -1;
	}
	if (out->exit_code == 125) {
		snprintf(err, errlen, "%s/bin/load-spark-env.sh failed; see its message above", spark_home);
		return -1;
	}
	if (out->exit_code != 0 || out->cmd.n == 0) {
		snprintf(err, errlen,
			 "SPARK_HOME=%s: Spark's launcher (org.apache.spark.launcher.Main) failed with exit code %d; see its message above",
			 spark_home, out->exit_code);
		return -1;
	}
	return 0;

fail_pipes:
	for (int i = 0; i < 2; i++) {
		if (out_pipe[i] >= 0)
			close(out_pipe[i]);
		if (env_pipe[i] >= 0)
			close(env_pipe[i]);
	}
	return -1;
}
