#include "jni/launcher_cache.h"
#include "jni/cache_prune.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fnv.h"

extern char **environ;

#define PH_PREFIX "@@sparkshim-launch-param-"
#define PH_SUFFIX "@@"
#define FILE_MAGIC "sparkshim-launcher-cache 1\n"
/* Bigger input files are not keyed on (and the result not cached). */
#define MAX_KEYED_FILE (4 << 20)

/* ---- per-launch values ---- */

int launch_param_key(const char *k)
{
	static const char *const exact[] = {"spark.app.name", "spark.yarn.tags",
					    "spark.kubernetes.driver.pod.name", NULL};
	static const char *const prefix[] = {"spark.kyuubi.", "kyuubi.",
					     "spark.kubernetes.driver.label.",
					     "spark.kubernetes.executor.label.", NULL};
	for (size_t i = 0; exact[i]; i++)
		if (!strcmp(k, exact[i]))
			return 1;
	for (size_t i = 0; prefix[i]; i++)
		if (!strncmp(k, prefix[i], strlen(prefix[i])))
			return 1;
	return 0;
}

void launch_params_free(struct launch_params *p)
{
	strvec_free(&p->args);
	strvec_free(&p->values);
}

static int push_placeholder(struct launch_params *p, const char *prefix, const char *value)
{
	if (strvec_push(&p->values, value) < 0)
		return -1;
	return strvec_pushf(&p->args, "%s" PH_PREFIX "%zu" PH_SUFFIX, prefix, p->values.n - 1);
}

int launch_params_split(char *const *args, size_t n, struct launch_params *out)
{
	memset(out, 0, sizeof(*out));
	strvec_init(&out->args);
	strvec_init(&out->values);
	for (size_t i = 0; i < n; i++) {
		const char *a = args[i];
		const char *next = i + 1 < n ? args[i + 1] : NULL;
		int rc;
		if (next && (!strcmp(a, "--conf") || !strcmp(a, "-c"))) {
			const char *eq = strchr(next, '=');
			if (eq && eq != next) {
				char key[512];
				size_t kl = (size_t)(eq - next);
				if (kl < sizeof(key)) {
					memcpy(key, next, kl);
					key[kl] = '\0';
				}
				if (kl < sizeof(key) && launch_param_key(key)) {
					char pre[520];
					snprintf(pre, sizeof(pre), "%s=", key);
					if (strvec_push(&out->args, a) < 0 ||
					    push_placeholder(out, pre, eq + 1) < 0)
						goto nomem;
					i++;
					continue;
				}
			}
			rc = strvec_push(&out->args, a) == 0 && strvec_push(&out->args, next) == 0 ? 0 : -1;
			i++;
		} else if (next && !strcmp(a, "--name")) {
			rc = strvec_push(&out->args, a) == 0 && push_placeholder(out, "", next) == 0 ? 0 : -1;
			i++;
		} else if (!strncmp(a, "--name=", 7)) {
			rc = push_placeholder(out, "--name=", a + 7);
		} else {
			rc = strvec_push(&out->args, a);
		}
		if (rc < 0)
			goto nomem;
	}
	return 0;
nomem:
	launch_params_free(out);
	return -1;
}

/* Replace every placeholder in s; counts[i] += occurrences of i. NULL on ENOMEM. */
static char *fill_one(const struct launch_params *p, const char *s, size_t *counts, int *any)
{
	*any = 0;
	if (!strstr(s, PH_PREFIX))
		return NULL;
	size_t len = 0, outcap = 0;
	char *out = NULL;
	const char *cur = s;
	for (;;) {
		const char *ph = strstr(cur, PH_PREFIX);
		const char *end = NULL;
		size_t idx = 0;
		if (ph) {
			char *e;
			unsigned long long v = strtoull(ph + sizeof(PH_PREFIX) - 1, &e, 10);
			if (e != ph + sizeof(PH_PREFIX) - 1 && !strncmp(e, PH_SUFFIX, 2) &&
			    v < p->values.n) {
				end = e + 2;
				idx = (size_t)v;
			}
		}
		size_t lit = ph ? (size_t)((end ? ph : ph + 1) - cur) : strlen(cur);
		size_t add = lit + (end ? strlen(p->values.v[idx]) : 0);
		if (len + add + 1 > outcap) {
			size_t nc = (len + add + 1) * 2;
			char *nb = realloc(out, nc);
			if (!nb) {
				free(out);
				return NULL;
			}
			out = nb;
			outcap = nc;
		}
		memcpy(out + len, cur, lit);
		len += lit;
		if (end) {
			size_t vl = strlen(p->values.v[idx]);
			memcpy(out + len, p->values.v[idx], vl);
			len += vl;
			counts[idx]++;
			*any = 1;
			cur = end;
		} else {
			cur += lit;
		}
		out[len] = '\0';
		if (!ph)
			break;
	}
	return out;
}

int launch_params_fill(const struct launch_params *p, struct strvec *cmd, int *exact)
{
	*exact = 1;
	if (p->values.n == 0)
		return 0;
	size_t *counts = calloc(p->values.n, sizeof(*counts));
	if (!counts)
		return -1;
	/* The main class: the first argument after `java` that is not an option
	 * or an option's value. Placeholders must come after it. */
	size_t main_at = cmd->n;
	for (size_t i = 0; i < cmd->n; i++)
		if (!strcmp(cmd->v[i], "org.apache.spark.deploy.SparkSubmit")) {
			main_at = i;
			break;
		}
	for (size_t i = 0; i < cmd->n; i++) {
		int any;
		char *f = fill_one(p, cmd->v[i], counts, &any);
		if (!any) {
			free(f);
			if (strstr(cmd->v[i], PH_PREFIX))
				*exact = 0; /* a mangled placeholder: the launcher changed it */
			continue;
		}
		if (!f) {
			free(counts);
			return -1;
		}
		if (i <= main_at)
			*exact = 0;
		free(cmd->v[i]);
		cmd->v[i] = f;
	}
	for (size_t i = 0; i < p->values.n; i++)
		if (counts[i] != 1)
			*exact = 0;
	free(counts);
	return 0;
}

/* ---- key material ---- */

struct buf {
	char *p;
	size_t n, cap;
	int oom;
};

static void b_add(struct buf *b, const void *d, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 8192;
		while (nc < b->n + n + 1)
			nc *= 2;
		char *np = realloc(b->p, nc);
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->n, d, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void b_fmt(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void b_fmt(struct buf *b, const char *fmt, ...)
{
	char tmp[PATH_MAX + 512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(tmp)) {
		b_add(b, tmp, (size_t)n);
		return;
	}
	char *big = malloc((size_t)n + 1);
	if (!big) {
		b->oom = 1;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b_add(b, big, (size_t)n);
	free(big);
}

/* "<tag> <length>\n<bytes>\n": unambiguous whatever the bytes are. */
static void b_field(struct buf *b, const char *tag, const char *d, size_t n)
{
	b_fmt(b, "%s %zu\n", tag, n);
	b_add(b, d, n);
	b_add(b, "\n", 1);
}

/* Read up to n bytes of fd into a new buffer (n + 1 bytes, the caller
 * frees); *got says how many came before EOF or an error. NULL: no memory. */
static char *read_up_to(int fd, size_t n, size_t *got)
{
	char *d = malloc(n + 1);
	*got = 0;
	while (d && *got < n) {
		ssize_t r = read(fd, d + *got, n - *got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		*got += (size_t)r;
	}
	return d;
}

/* A file's content, or "absent". -1 when too big to key on. */
static int b_file(struct buf *b, const char *tag, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		b_fmt(b, "%s absent %s\n", tag, path);
		return 0;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > MAX_KEYED_FILE) {
		close(fd);
		if (!S_ISREG(st.st_mode)) {
			b_fmt(b, "%s notfile %s\n", tag, path);
			return 0;
		}
		return -1;
	}
	size_t got;
	char *d = read_up_to(fd, (size_t)st.st_size, &got);
	close(fd);
	if (!d) {
		b->oom = 1;
		return -1;
	}
	char t[PATH_MAX + 64];
	snprintf(t, sizeof(t), "%s %s", tag, path);
	b_field(b, t, d, got);
	free(d);
	return 0;
}

static void b_stat(struct buf *b, const char *tag, const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		b_fmt(b, "%s absent %s\n", tag, path);
	else
		b_fmt(b, "%s %s %lld %lld.%09ld %llu\n", tag, path, (long long)st.st_size,
		      (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
		      (unsigned long long)st.st_ino);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted listing of dir; with_stat: size, mtime (ns) and inode of each. */
static void b_listing(struct buf *b, const char *tag, const char *dir, int with_stat)
{
	DIR *d = opendir(dir);
	if (!d) {
		b_fmt(b, "%s absent %s\n", tag, dir);
		return;
	}
	struct strvec names;
	strvec_init(&names);
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    strvec_push(&names, e->d_name) < 0)
			b->oom = 1;
	closedir(d);
	if (names.n)
		qsort(names.v, names.n, sizeof(*names.v), cmp_str);
	b_fmt(b, "%s %s %zu entries\n", tag, dir, names.n);
	for (size_t i = 0; i < names.n; i++) {
		char p[PATH_MAX + 256];
		snprintf(p, sizeof(p), "%s/%s", dir, names.v[i]);
		struct stat st;
		if (lstat(p, &st) < 0)
			b_fmt(b, " %s ?\n", names.v[i]);
		else if (with_stat)
			b_fmt(b, " %s %o %lld %lld.%09ld %llu\n", names.v[i], st.st_mode,
			      (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
			      (unsigned long long)st.st_ino);
		else
			b_fmt(b, " %s %o\n", names.v[i], st.st_mode & S_IFMT);
	}
	strvec_free(&names);
}

/* The environment the launcher and load-spark-env.sh read: Spark's, Hadoop's,
 * YARN's and Hive's variables, Java's, PySpark's, and the few generic ones a
 * spark-env.sh typically uses. */
static int env_keyed(const char *kv)
{
	static const char *const prefix[] = {"SPARK_", "HADOOP_", "YARN_", "HIVE_", "JAVA_",
					     "PYSPARK_", "KRB5", NULL};
	static const char *const exact[] = {"JDK_JAVA_OPTIONS", "_JAVA_OPTIONS", "PATH", "HOME",
					    "USER", "LD_LIBRARY_PATH", "CLASSPATH", NULL};
	for (size_t i = 0; prefix[i]; i++)
		if (!strncmp(kv, prefix[i], strlen(prefix[i])))
			return 1;
	const char *eq = strchr(kv, '=');
	size_t kl = eq ? (size_t)(eq - kv) : strlen(kv);
	for (size_t i = 0; exact[i]; i++)
		if (strlen(exact[i]) == kl && !strncmp(kv, exact[i], kl))
			return 1;
	return 0;
}

static int properties_files(const struct strvec *args, struct buf *b)
{
	for (size_t i = 0; i < args->n; i++) {
		const char *f = NULL;
		if (!strcmp(args->v[i], "--properties-file") && i + 1 < args->n)
			f = args->v[++i];
		else if (!strncmp(args->v[i], "--properties-file=", 18))
			f = args->v[i] + 18;
		if (f && b_file(b, "properties-file", f) < 0)
			return -1;
	}
	return 0;
}

char *launcher_cache_material(const struct launch_inputs *in, size_t *len)
{
	struct buf b = {0};
	char p[PATH_MAX + 64];
	b_fmt(&b, "sparkshim launcher cache, format 1, sparkshim %s\n",
#ifdef SPARKSHIM_VERSION
	      SPARKSHIM_VERSION
#else
	      "?"
#endif
	);
	b_fmt(&b, "uid %u\n", (unsigned)getuid());
	b_fmt(&b, "spark-home %s\nspark-version %s\n", in->spark_home, in->spark_version);
	b_listing(&b, "home", in->spark_home, 0);
	snprintf(p, sizeof(p), "%s/jars", in->spark_home);
	b_listing(&b, "jars", p, 1);
	snprintf(p, sizeof(p), "%s/bin/load-spark-env.sh", in->spark_home);
	int rc = b_file(&b, "file", p);
	snprintf(p, sizeof(p), "%s/RELEASE", in->spark_home);
	rc |= b_file(&b, "file", p);
	b_fmt(&b, "conf-dir %s\n", in->conf_dir);
	static const char *const conf_files[] = {"spark-env.sh", "spark-defaults.conf", "java-opts",
						 NULL};
	for (size_t i = 0; conf_files[i]; i++) {
		snprintf(p, sizeof(p), "%s/%s", in->conf_dir, conf_files[i]);
		rc |= b_file(&b, "file", p);
	}
	rc |= properties_files(in->args, &b);
	b_fmt(&b, "java-home %s\n", in->java_home ? in->java_home : "");
	if (in->java_home) {
		snprintf(p, sizeof(p), "%s/release", in->java_home);
		rc |= b_file(&b, "file", p);
		snprintf(p, sizeof(p), "%s/lib/server/libjvm.so", in->java_home);
		b_stat(&b, "stat", p);
		snprintf(p, sizeof(p), "%s/lib/modules", in->java_home);
		b_stat(&b, "stat", p);
	}
	struct strvec env;
	strvec_init(&env);
	for (char **e = environ; e && *e; e++)
		if (env_keyed(*e) && strvec_push(&env, *e) < 0)
			b.oom = 1;
	if (env.n)
		qsort(env.v, env.n, sizeof(*env.v), cmp_str);
	for (size_t i = 0; i < env.n; i++)
		b_field(&b, "env", env.v[i], strlen(env.v[i]));
	strvec_free(&env);
	for (size_t i = 0; i < in->args->n; i++)
		b_field(&b, "arg", in->args->v[i], strlen(in->args->v[i]));
	if (rc || b.oom) {
		free(b.p);
		return NULL;
	}
	*len = b.n;
	return b.p;
}

/* ---- the cache file ---- */


int launcher_cache_default_dir(char *out, size_t outlen)
{
	const char *x = getenv("XDG_CACHE_HOME");
	int n;
	if (x && x[0] == '/')
		n = snprintf(out, outlen, "%s/sparkshim", x);
	else if ((x = getenv("HOME")) && *x)
		n = snprintf(out, outlen, "%s/.cache/sparkshim", x);
	else
		return -1;
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

int launcher_cache_path(const char *dir, const char *material, size_t mlen, char *out,
			size_t outlen)
{
	/* Two independent 64-bit hashes: names never collide in practice, and
	 * a collision would only be a miss (the material is compared). */
	uint64_t h1 = fnv1a64(FNV1A64_OFFSET, material, mlen);
	uint64_t h2 = fnv1a64(fnv1a64(FNV1A64_OFFSET, "sparkshim", 9), material, mlen);
	int n = snprintf(out, outlen, "%s/launcher-%016" PRIx64 "%016" PRIx64 ".cmd", dir, h1, h2);
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

static void put_vec(struct buf *b, const char *tag, const struct strvec *v)
{
	struct buf t = {0};
	for (size_t i = 0; i < v->n; i++)
		b_add(&t, v->v[i], strlen(v->v[i]) + 1);
	if (t.oom)
		b->oom = 1;
	b_field(b, tag, t.p ? t.p : "", t.n);
	free(t.p);
}

int launcher_cache_store(const char *dir, const char *material, size_t mlen,
			 const struct launcher_result *r, char *err, size_t errlen)
{
	char path[PATH_MAX], tmp[PATH_MAX + 32];
	if (launcher_cache_path(dir, material, mlen, path, sizeof(path)) < 0) {
		snprintf(err, errlen, "cache path too long");
		return -1;
	}
	/* mkdir -p, private to this user. */
	char d[PATH_MAX];
	snprintf(d, sizeof(d), "%s", dir);
	for (char *s = d + 1;; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(d, 0700) < 0 && errno != EEXIST) {
				snprintf(err, errlen, "mkdir %s: %s", d, strerror(errno));
				return -1;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	struct buf body = {0};
	b_field(&body, "material", material, mlen);
	put_vec(&body, "cmd", &r->cmd);
	put_vec(&body, "env", &r->env);
	if (body.oom) {
		free(body.p);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	char trailer[64];
	int tl = snprintf(trailer, sizeof(trailer), "end %016" PRIx64 "\n",
			  fnv1a64(FNV1A64_OFFSET, body.p, body.n));
	snprintf(tmp, sizeof(tmp), "%s/.tmp-XXXXXX", dir);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		free(body.p);
		snprintf(err, errlen, "cannot create a file in %s: %s", dir, strerror(errno));
		return -1;
	}
	int ok = 1;
	const char *parts[3] = {FILE_MAGIC, body.p, trailer};
	size_t lens[3] = {sizeof(FILE_MAGIC) - 1, body.n, (size_t)tl};
	for (int i = 0; i < 3 && ok; i++) {
		size_t off = 0;
		while (off < lens[i]) {
			ssize_t w = write(fd, parts[i] + off, lens[i] - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				snprintf(err, errlen, "writing %s: %s", tmp,
					 w < 0 ? strerror(errno) : "short write");
				ok = 0;
				break;
			}
			off += (size_t)w;
		}
	}
	free(body.p);
	if (close(fd) < 0 && ok) {
		snprintf(err, errlen, "writing %s: %s", tmp, strerror(errno));
		ok = 0;
	}
	if (ok && rename(tmp, path) < 0) {
		snprintf(err, errlen, "rename to %s: %s", path, strerror(errno));
		ok = 0;
	}
	if (!ok) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Parse "<tag> <len>\n<bytes>\n" at *pos. */
static int get_field(const char *d, size_t n, size_t *pos, const char *tag, const char **val,
		     size_t *vlen)
{
	size_t tl = strlen(tag);
	if (*pos + tl + 2 > n || memcmp(d + *pos, tag, tl) || d[*pos + tl] != ' ')
		return -1;
	const char *num = d + *pos + tl + 1;
	const char *nl = memchr(num, '\n', n - (size_t)(num - d));
	if (!nl || nl == num)
		return -1;
	size_t l = 0;
	for (const char *c = num; c < nl; c++) {
		if (*c < '0' || *c > '9' || l > (SIZE_MAX - 9) / 10)
			return -1;
		l = l * 10 + (size_t)(*c - '0');
	}
	size_t start = (size_t)(nl + 1 - d);
	if (l > n || start + l + 1 > n || d[start + l] != '\n')
		return -1;
	*val = d + start;
	*vlen = l;
	*pos = start + l + 1;
	return 0;
}

int launcher_cache_load(const char *dir, const char *material, size_t mlen,
			struct launcher_result *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	char path[PATH_MAX];
	if (launcher_cache_path(dir, material, mlen, path, sizeof(path)) < 0) {
		snprintf(err, errlen, "cache path too long");
		return -1;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 1;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > 64 * 1024 * 1024) {
		close(fd);
		snprintf(err, errlen, "%s: not a cache file", path);
		return -1;
	}
	size_t n = (size_t)st.st_size, got;
	char *d = read_up_to(fd, n, &got);
	close(fd);
	if (!d || got != n) {
		free(d);
		snprintf(err, errlen, "%s: cannot read", path);
		return -1;
	}
	size_t ml = sizeof(FILE_MAGIC) - 1, pos = ml;
	const char *mat, *cmd, *env;
	size_t matl, cmdl, envl;
	int bad = n < ml || memcmp(d, FILE_MAGIC, ml) != 0 ||
		  get_field(d, n, &pos, "material", &mat, &matl) < 0 ||
		  get_field(d, n, &pos, "cmd", &cmd, &cmdl) < 0 ||
		  get_field(d, n, &pos, "env", &env, &envl) < 0;
	if (!bad) {
		char want[64];
		int wl = snprintf(want, sizeof(want), "end %016" PRIx64 "\n",
				  fnv1a64(FNV1A64_OFFSET, d + ml, pos - ml));
		bad = n - pos != (size_t)wl || memcmp(d + pos, want, (size_t)wl) != 0;
	}
	if (bad) {
		free(d);
		snprintf(err, errlen, "%s: corrupt or truncated cache entry", path);
		return -1;
	}
	if (matl != mlen || memcmp(mat, material, mlen) != 0) {
		free(d);
		return 1; /* a hash collision or a stale entry: a miss */
	}
	int rc = strvec_from_nul(&out->cmd, cmd, cmdl) == 0 &&
			 strvec_from_nul(&out->env, env, envl) == 0
		 ? 0
		 : -1;
	free(d);
	if (rc < 0 || out->cmd.n == 0) {
		launcher_result_free(out);
		snprintf(err, errlen, "%s: unusable cache entry", path);
		return -1;
	}
	for (size_t i = 0; i < out->env.n; i++)
		if (!strchr(out->env.v[i], '=')) {
			launcher_result_free(out);
			snprintf(err, errlen, "%s: unusable cache entry", path);
			return -1;
		}
	out->exit_code = 0;
	cache_prune_touch(path); /* its last use, for the pruner */
	return 0;
}
