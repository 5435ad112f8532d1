#include "jni/cds_archive.h"
#include "jni/cache_prune.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/fnv.h"
#include "base/log.h"
#include "base/thread.h"

extern char **environ;

/* Below this much free space no dump is tried (a Spark archive is ~120 MB;
 * a dump that fails half-way would end the JVM with an error). */
#define MIN_FREE_FOR_DUMP (512ULL << 20)


struct key {
	uint64_t a, b;
};

static void k_add(struct key *k, const void *d, size_t n)
{
	k->a = fnv1a64(k->a, d, n);
	k->b = fnv1a64(k->b, d, n);
	k->a = fnv1a64(k->a, "\0", 1);
	k->b = fnv1a64(k->b, "\0", 1);
}

static void k_stat(struct key *k, const char *path)
{
	struct stat st;
	char buf[PATH_MAX + 96];
	int n;
	if (stat(path, &st) < 0)
		n = snprintf(buf, sizeof(buf), "%s absent", path);
	else
		n = snprintf(buf, sizeof(buf), "%s %lld %lld.%09ld", path, (long long)st.st_size,
			     (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	k_add(k, buf, n > 0 ? (size_t)n : 0);
}

static void k_file(struct key *k, const char *path)
{
	FILE *f = fopen(path, "re");
	char buf[4096];
	size_t r;
	if (!f) {
		k_add(k, "absent", 6);
		return;
	}
	while ((r = fread(buf, 1, sizeof(buf), f)) > 0)
		k_add(k, buf, r);
	fclose(f);
}

static const char *class_path(const struct strvec *options)
{
	const char *cp = NULL;
	for (size_t i = 0; i < options->n; i++)
		if (!strncmp(options->v[i], "-Djava.class.path=", 18))
			cp = options->v[i] + 18;
	return cp;
}

int cds_key(const char *java_home, const char *libjvm, const struct strvec *options, char *out,
	    size_t outlen)
{
	struct key k = {FNV1A64_OFFSET, 0x84222325cbf29ce4ULL};
	char p[PATH_MAX + 32];
	k_add(&k, "sparkshim cds 1", 15);
	k_add(&k, java_home, strlen(java_home));
	snprintf(p, sizeof(p), "%s/release", java_home);
	k_file(&k, p);
	k_stat(&k, libjvm);
	snprintf(p, sizeof(p), "%s/lib/modules", java_home);
	k_stat(&k, p);
	/* VM options shape the archive (GC, heap, modules); system properties
	 * do not, and change with every conf. */
	for (size_t i = 0; i < options->n; i++)
		if (strncmp(options->v[i], "-D", 2) != 0)
			k_add(&k, options->v[i], strlen(options->v[i]));
	const char *cp = class_path(options);
	if (!cp)
		return -1;
	char *copy = strdup(cp);
	if (!copy)
		return -1;
	for (char *s = copy, *e;; s = e + 1) {
		e = strchr(s, ':');
		if (e)
			*e = '\0';
		if (*s)
			k_stat(&k, s);
		if (!e)
			break;
	}
	free(copy);
	int n = snprintf(out, outlen, "%016" PRIx64 "%016" PRIx64, k.a, k.b);
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

void cds_nonempty_dir(const char *cp, char *out, size_t outlen)
{
	out[0] = '\0';
	char *copy = strdup(cp ? cp : "");
	if (!copy)
		return;
	for (char *s = copy, *e;; s = e + 1) {
		e = strchr(s, ':');
		if (e)
			*e = '\0';
		struct stat st;
		if (*s && stat(s, &st) == 0 && S_ISDIR(st.st_mode)) {
			DIR *d = opendir(s);
			struct dirent *de;
			int empty = 1;
			while (d && (de = readdir(d)))
				if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
					empty = 0;
			if (d)
				closedir(d);
			if (!empty || !d) {
				snprintf(out, outlen, "%s", s);
				break;
			}
		}
		if (!e)
			break;
	}
	free(copy);
}

/* JDK feature release from <home>/release (JAVA_VERSION="17.0.15"); 0 unknown. */
static int jdk_major(const char *java_home)
{
	char p[PATH_MAX + 16], line[256];
	snprintf(p, sizeof(p), "%s/release", java_home);
	FILE *f = fopen(p, "re");
	int major = 0;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "JAVA_VERSION=\"", 14)) {
			major = atoi(line + 14);
			if (major == 1) /* 1.8 */
				major = atoi(line + 16);
			break;
		}
	if (f)
		fclose(f);
	return major;
}

/* Dumps of dead processes (forced stops, crashes) are garbage. */
static void remove_stale_dumps(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (strncmp(e->d_name, "cds-", 4) || l < 8 || strcmp(e->d_name + l - 4, ".tmp"))
			continue;
		const char *dot = e->d_name + l - 4;
		if (l > 18 && !strcmp(e->d_name + l - 14, ".classlist.tmp"))
			dot = e->d_name + l - 14;
		const char *pid_at = dot;
		while (pid_at > e->d_name && pid_at[-1] >= '0' && pid_at[-1] <= '9')
			pid_at--;
		long pid = atol(pid_at);
		if (pid > 0 && pid != (long)getpid() && kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
			char p[PATH_MAX + 300];
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			unlink(p);
		}
	}
	if (d)
		closedir(d);
}

/* The archive this process maps, locked shared for its whole life: the
 * pruner (cache_prune.h) deletes an archive only under an exclusive lock.
 * 1 held; 0 when it is gone (pruned between our look and our lock). */
static int held_archive_fd = -1;

static int hold_archive(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	struct stat a, b;
	if (flock(fd, LOCK_SH) < 0 || fstat(fd, &a) < 0 || stat(path, &b) < 0 ||
	    a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
		close(fd);
		return 0;
	}
	if (held_archive_fd >= 0)
		close(held_archive_fd);
	held_archive_fd = fd;
	return 1;
}

static int mkdir_p(const char *dir)
{
	char d[PATH_MAX];
	snprintf(d, sizeof(d), "%s", dir);
	for (char *s = d + 1;; s++)
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(d, 0700) < 0 && errno != EEXIST)
				return -1;
			*s = c;
			if (!c)
				return 0;
		}
}

/* <archive>.meta: size, mtime and inode of the archive as committed. The
 * JVM maps archive regions by the offsets in its header, so a truncated
 * file is a SIGBUS, not a refusal: never hand it a file that changed. */
static void meta_path(const char *archive, char *out, size_t len)
{
	snprintf(out, len, "%.*s.meta", (int)(len - 8), archive);
}

static void meta_line(const struct stat *st, char *out, size_t len)
{
	snprintf(out, len, "%lld %lld.%09ld %llu\n", (long long)st->st_size,
		 (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
		 (unsigned long long)st->st_ino);
}

static int archive_intact(const char *archive, const struct stat *st)
{
	char mp[PATH_MAX + 8], want[128], got[128] = "";
	meta_path(archive, mp, sizeof(mp));
	meta_line(st, want, sizeof(want));
	FILE *f = fopen(mp, "re");
	if (f) {
		if (!fgets(got, sizeof(got), f))
			got[0] = '\0';
		fclose(f);
	}
	return S_ISREG(st->st_mode) && strcmp(want, got) == 0;
}

static int write_meta(const char *archive)
{
	struct stat st;
	char mp[PATH_MAX + 8], tmp[PATH_MAX + 32], line[128];
	if (stat(archive, &st) < 0)
		return -1;
	meta_path(archive, mp, sizeof(mp));
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", mp, (long)getpid());
	meta_line(&st, line, sizeof(line));
	FILE *f = fopen(tmp, "we");
	if (!f)
		return -1;
	int ok = fputs(line, f) >= 0;
	ok = (fclose(f) == 0) && ok;
	if (!ok || rename(tmp, mp) < 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* The driver's options the dump JVM gets: not the class path (given as
 * -cp), and nothing that would open a port or run code of its own (debug
 * and other agents, JMX). */
static int dump_keeps(const char *o)
{
	static const char *const drop[] = {"-Djava.class.path=", "-agentlib:", "-agentpath:",
					   "-javaagent:", "-Xrunjdwp", "-Xdebug",
					   "-Dcom.sun.management.", NULL};
	for (size_t i = 0; drop[i]; i++)
		if (!strncmp(o, drop[i], strlen(drop[i])))
			return 0;
	return 1;
}

void cds_plan_make(const char *dir, const char *java_home, const char *libjvm,
		   struct strvec *options, struct cds_plan *out)
{
	memset(out, 0, sizeof(*out));
	out->mode = CDS_OFF;
	for (size_t i = 0; i < options->n; i++) {
		const char *o = options->v[i];
		if (strstr(o, "SharedArchiveFile") || strstr(o, "ArchiveClassesAtExit") ||
		    !strncmp(o, "-Xshare:", 8) || strstr(o, "UseSharedSpaces") ||
		    strstr(o, "SharedClassListFile") || strstr(o, "DumpLoadedClassList")) {
			snprintf(out->why, sizeof(out->why), "the JVM options set CDS themselves (%s)", o);
			return;
		}
	}
	int major = jdk_major(java_home);
	if (major < 13) {
		snprintf(out->why, sizeof(out->why), "JDK %d has no dynamic class-data archives (13+)",
			 major);
		return;
	}
	const char *cp = class_path(options);
	char bad[PATH_MAX];
	cds_nonempty_dir(cp, bad, sizeof(bad));
	if (!cp || bad[0]) {
		snprintf(out->why, sizeof(out->why),
			 "the class path has a non-empty directory (%s), which a JDK class-data archive cannot hold",
			 cp ? bad : "no class path");
		return;
	}
	char key[40];
	if (cds_key(java_home, libjvm, options, key, sizeof(key)) < 0 ||
	    (size_t)snprintf(out->archive, sizeof(out->archive), "%s/cds-%s.jsa", dir, key) >=
		    sizeof(out->archive)) {
		snprintf(out->why, sizeof(out->why), "no key");
		return;
	}
	struct stat st;
	if (stat(out->archive, &st) == 0 && !archive_intact(out->archive, &st)) {
		log_warn("class-data archive %s is not the file written at its dump (truncated or changed): deleted",
			 out->archive);
		unlink(out->archive);
		errno = ENOENT;
	}
	if (stat(out->archive, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    hold_archive(out->archive)) {
		char mp[PATH_MAX + 8];
		meta_path(out->archive, mp, sizeof(mp));
		cache_prune_touch(mp); /* its last use, for the pruner */
		if (strvec_pushf(options, "-XX:SharedArchiveFile=%s", out->archive) < 0 ||
		    strvec_push(options, "-XX:+VerifySharedSpaces") < 0) {
			snprintf(out->why, sizeof(out->why), "out of memory");
			return;
		}
		out->mode = CDS_USE;
		return;
	}
	if (mkdir_p(dir) < 0) {
		snprintf(out->why, sizeof(out->why), "cannot create %s: %s", dir, strerror(errno));
		return;
	}
	remove_stale_dumps(dir);
	struct statvfs vfs;
	if (statvfs(dir, &vfs) < 0 || (unsigned long long)vfs.f_bavail * vfs.f_frsize <
					      MIN_FREE_FOR_DUMP) {
		snprintf(out->why, sizeof(out->why), "less than 512 MiB free in %s", dir);
		return;
	}
	if (access(dir, W_OK) < 0) {
		snprintf(out->why, sizeof(out->why), "%s is not writable", dir);
		return;
	}
	long pid = (long)getpid();
	snprintf(out->dump_tmp, sizeof(out->dump_tmp), "%.*s.%ld.tmp",
		 (int)(sizeof(out->dump_tmp) - 32), out->archive, pid);
	snprintf(out->list, sizeof(out->list), "%.*s.%ld.classlist.tmp",
		 (int)(sizeof(out->list) - 40), out->archive, pid);
	/* setpriv: die with us; chrt -i: only idle CPU; then the dump. */
	struct strvec *a = &out->dump_argv;
	strvec_init(a);
	int rc = strvec_push(a, "setpriv") | strvec_push(a, "--pdeathsig") |
		 strvec_push(a, "KILL") | strvec_push(a, "nice") | strvec_push(a, "-n") |
		 strvec_push(a, "19") | strvec_push(a, "chrt") | strvec_push(a, "-i") |
		 strvec_push(a, "0") | strvec_pushf(a, "%s/bin/java", java_home) |
		 strvec_push(a, "-Xshare:dump") |
		 strvec_pushf(a, "-XX:SharedClassListFile=%s", out->list) |
		 strvec_pushf(a, "-XX:SharedArchiveFile=%s", out->dump_tmp) |
		 strvec_push(a, "-cp") | strvec_push(a, cp);
	for (size_t i = 0; i < options->n; i++)
		if (dump_keeps(options->v[i]))
			rc |= strvec_push(a, options->v[i]);
	rc |= strvec_pushf(options, "-XX:DumpLoadedClassList=%s", out->list);
	if (rc) {
		strvec_free(a);
		snprintf(out->why, sizeof(out->why), "out of memory");
		return;
	}
	out->mode = CDS_RECORD;
}

struct dump_job {
	pid_t pid;
	char archive[PATH_MAX], list[PATH_MAX], tmp[PATH_MAX], log[PATH_MAX + 8];
};

/* The one background dump of this process, for cds_dump_cancel. */
static pthread_mutex_t dump_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t dump_cv;
static pthread_once_t dump_cv_once = PTHREAD_ONCE_INIT;
static pid_t dump_pid;     /* running, 0 = none */
static int dump_cancelled; /* cds_dump_cancel killed it */

static void dump_cv_init(void)
{
	cond_init_monotonic(&dump_cv);
}

static void *dump_waiter(void *arg)
{
	struct dump_job *j = arg;
	int status = 0;
	while (waitpid(j->pid, &status, 0) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&dump_mu);
	int cancelled = dump_cancelled;
	dump_pid = 0;
	pthread_cond_broadcast(&dump_cv);
	pthread_mutex_unlock(&dump_mu);
	if (cancelled) {
		log_debug("class-data archive: the dump stopped with the engine; the next start tries again");
		unlink(j->tmp);
		unlink(j->log);
		unlink(j->list);
		free(j);
		return NULL;
	}
	struct stat st;
	int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && stat(j->tmp, &st) == 0 &&
		 st.st_size > 0;
	if (ok && rename(j->tmp, j->archive) == 0 && write_meta(j->archive) == 0) {
		log_info("class-data archive written: %s (%lld MiB); later starts use it", j->archive,
			 (long long)(st.st_size >> 20));
		unlink(j->log);
	} else {
		log_warn("class-data archive: the dump failed (%s %d; its output: %s); the next start tries again",
			 WIFEXITED(status) ? "exit" : "signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), j->log);
		unlink(j->tmp);
	}
	unlink(j->list);
	free(j);
	return NULL;
}

int cds_dump_start(struct cds_plan *p)
{
	if (p->mode != CDS_RECORD)
		return -1;
	struct dump_job *j = calloc(1, sizeof(*j));
	if (!j)
		return -1;
	snprintf(j->archive, sizeof(j->archive), "%s", p->archive);
	snprintf(j->list, sizeof(j->list), "%s", p->list);
	snprintf(j->tmp, sizeof(j->tmp), "%s", p->dump_tmp);
	snprintf(j->log, sizeof(j->log), "%s.log", p->archive);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, j->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	posix_spawnattr_t attr;
	posix_spawnattr_init(&attr);
	sigset_t none;
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
	int rc = posix_spawnp(&j->pid, p->dump_argv.v[0], &fa, &attr, p->dump_argv.v, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0) {
		log_warn("class-data archive: cannot run %s: %s", p->dump_argv.v[0], strerror(rc));
		unlink(p->list);
		free(j);
		return -1;
	}
	pthread_once(&dump_cv_once, dump_cv_init);
	pthread_mutex_lock(&dump_mu);
	dump_pid = j->pid;
	pthread_mutex_unlock(&dump_mu);
	if (thread_start_detached(dump_waiter, j, THREAD_STACK_WORKER) != 0) {
		kill(j->pid, SIGKILL);
		dump_waiter(j);
		return -1;
	}
	log_info("class-data archive: dumping in the background at idle priority (pid %ld)",
		 (long)j->pid);
	p->mode = CDS_OFF; /* once */
	return 0;
}

void cds_dump_cancel(int timeout_ms)
{
	pthread_once(&dump_cv_once, dump_cv_init);
	pthread_mutex_lock(&dump_mu);
	if (dump_pid > 0) {
		log_debug("class-data archive: stopping the unfinished dump (pid %ld)", (long)dump_pid);
		dump_cancelled = 1;
		kill(dump_pid, SIGKILL);
		struct timespec until = deadline_after(CLOCK_MONOTONIC, timeout_ms);
		while (dump_pid > 0 &&
		       pthread_cond_timedwait(&dump_cv, &dump_mu, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&dump_mu);
}

int cds_path_mapped(const char *path)
{
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return 0;
	char line[PATH_MAX + 256];
	size_t pl = strlen(path);
	int found = 0;
	while (!found && fgets(line, sizeof(line), f)) {
		size_t l = strlen(line);
		while (l && (line[l - 1] == '\n'))
			line[--l] = '\0';
		found = l >= pl && !strcmp(line + l - pl, path) && (l == pl || line[l - pl - 1] == ' ');
	}
	fclose(f);
	return found;
}

int cds_check_mapped(const struct cds_plan *p)
{
	if (p->mode != CDS_USE)
		return -1;
	if (cds_path_mapped(p->archive)) {
		log_debug("class-data archive in use: %s", p->archive);
		return 1;
	}
	log_warn("class-data archive %s was refused by the JVM (corrupt, or made for another JDK, class path or options): deleted; the next start makes a new one",
		 p->archive);
	char mp[PATH_MAX + 8];
	meta_path(p->archive, mp, sizeof(mp));
	unlink(p->archive);
	unlink(mp);
	return 0;
}

