/* Pruning of the start-up cache directory (cache_prune.h). */
#include "jni/cache_prune.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Writers' temp files are seconds old while they write; a day-old one is
 * a leftover of a killed process. */
#define TEMP_MAX_AGE_MS (24LL * 3600 * 1000)
#define LAUNCHER_PREFIX "launcher-"
#define LAUNCHER_SUFFIX ".cmd"
#define CDS_PREFIX "cds-"
#define CDS_SUFFIX ".jsa"

/* The companions of cds-<key>.jsa, the archive itself first. */
static const char *const cds_parts[] = {"", ".meta", ".log"};

enum entry_kind { ENTRY_LAUNCHER, ENTRY_CDS };

struct entry {
	char stem[NAME_MAX + 1]; /* launcher: the file name; cds: "cds-<key>.jsa" */
	enum entry_kind kind;
	int64_t bytes;
	int64_t used_ms;         /* newest mtime of its files */
};

struct entries {
	struct entry *v;
	size_t n, cap;
};

static int64_t mtime_ms(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
}

static int has_suffix(const char *s, const char *suffix)
{
	size_t l = strlen(s), k = strlen(suffix);
	return l >= k && strcmp(s + l - k, suffix) == 0;
}

static int is_temp(const char *name)
{
	return !strncmp(name, ".tmp-", 5) ||
	       (!strncmp(name, CDS_PREFIX, strlen(CDS_PREFIX)) && has_suffix(name, ".tmp"));
}

/* The entry a file belongs to: its stem and kind; 0, or -1 when it is not
 * one of ours. */
static int entry_of(const char *name, char *stem, size_t stemlen, enum entry_kind *kind)
{
	if (!strncmp(name, LAUNCHER_PREFIX, strlen(LAUNCHER_PREFIX)) &&
	    has_suffix(name, LAUNCHER_SUFFIX)) {
		*kind = ENTRY_LAUNCHER;
		return snprintf(stem, stemlen, "%s", name) < (int)stemlen ? 0 : -1;
	}
	if (strncmp(name, CDS_PREFIX, strlen(CDS_PREFIX)) != 0)
		return -1;
	const char *jsa = strstr(name, CDS_SUFFIX);
	if (!jsa)
		return -1;
	const char *rest = jsa + strlen(CDS_SUFFIX);
	for (size_t i = 0; i < sizeof(cds_parts) / sizeof(cds_parts[0]); i++)
		if (!strcmp(rest, cds_parts[i])) {
			*kind = ENTRY_CDS;
			int n = snprintf(stem, stemlen, "%.*s", (int)(rest - name), name);
			return n < (int)stemlen ? 0 : -1;
		}
	return -1;
}

static struct entry *entry_get(struct entries *es, const char *stem, enum entry_kind kind)
{
	for (size_t i = 0; i < es->n; i++)
		if (!strcmp(es->v[i].stem, stem))
			return &es->v[i];
	if (es->n == es->cap) {
		size_t cap = es->cap ? es->cap * 2 : 32;
		struct entry *v = realloc(es->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		es->v = v;
		es->cap = cap;
	}
	struct entry *e = &es->v[es->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->stem, sizeof(e->stem), "%s", stem);
	e->kind = kind;
	return e;
}

static void remove_stale_temp(int dfd, const char *name, const struct stat *st, int64_t now,
			      struct cache_prune_result *res)
{
	if (now - mtime_ms(st) > TEMP_MAX_AGE_MS && unlinkat(dfd, name, 0) == 0) {
		res->removed++;
		res->bytes_freed += st->st_size;
	}
}

/* List dir's entries (and drop stale temp files on the way). */
static int list_entries(int dfd, int64_t now, struct entries *es, struct cache_prune_result *res)
{
	int fd2 = dup(dfd);
	DIR *d = fd2 >= 0 ? fdopendir(fd2) : NULL;
	if (!d) {
		if (fd2 >= 0)
			close(fd2);
		return -1;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat st;
		char stem[NAME_MAX + 1];
		enum entry_kind kind;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (is_temp(de->d_name)) {
			remove_stale_temp(dfd, de->d_name, &st, now, res);
			continue;
		}
		if (entry_of(de->d_name, stem, sizeof(stem), &kind) < 0)
			continue;
		struct entry *e = entry_get(es, stem, kind);
		if (!e)
			break; /* out of memory: prune what was listed */
		e->bytes += st.st_size;
		if (mtime_ms(&st) > e->used_ms)
			e->used_ms = mtime_ms(&st);
	}
	closedir(d);
	return 0;
}

static int by_last_use(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	return (x->used_ms > y->used_ms) - (x->used_ms < y->used_ms);
}

/* A launcher result, unless a start used it since the listing. */
static int remove_launcher(int dfd, const struct entry *e)
{
	struct stat st;
	if (fstatat(dfd, e->stem, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	if (mtime_ms(&st) > e->used_ms)
		return -1;
	return unlinkat(dfd, e->stem, 0) == 0 || errno == ENOENT ? 0 : -1;
}

/* An archive and its companions, under an exclusive lock on the archive:
 * -2 when a running engine holds it (in use). */
static int remove_cds(int dfd, const struct entry *e)
{
	int fd = openat(dfd, e->stem, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno != ENOENT)
		return -1;
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int in_use = errno == EWOULDBLOCK;
		close(fd);
		return in_use ? -2 : -1;
	}
	int rc = 0;
	for (size_t i = 0; i < sizeof(cds_parts) / sizeof(cds_parts[0]); i++) {
		char name[NAME_MAX + 16];
		snprintf(name, sizeof(name), "%s%s", e->stem, cds_parts[i]);
		if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
			rc = -1;
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

static int remove_entry(int dfd, const struct entry *e, struct cache_prune_result *res)
{
	int rc = e->kind == ENTRY_CDS ? remove_cds(dfd, e) : remove_launcher(dfd, e);
	if (rc == -2)
		res->in_use++;
	if (rc < 0)
		return -1;
	res->removed++;
	res->bytes_freed += e->bytes;
	return 0;
}

int cache_prune(const char *dir, const struct cache_prune_limits *lim, int64_t now_epoch_ms,
		struct cache_prune_result *res)
{
	memset(res, 0, sizeof(*res));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? 0 : -1;
	struct entries es = {0};
	if (list_entries(dfd, now_epoch_ms, &es, res) < 0) {
		close(dfd);
		return -1;
	}
	qsort(es.v, es.n, sizeof(*es.v), by_last_use);
	int64_t total = 0;
	for (size_t i = 0; i < es.n; i++)
		total += es.v[i].bytes;
	/* Oldest first: what nobody used for max_age_ms, then what is over
	 * the size cap. */
	for (size_t i = 0; i < es.n; i++) {
		int stale = now_epoch_ms - es.v[i].used_ms > lim->max_age_ms;
		if ((stale || total > lim->max_bytes) && remove_entry(dfd, &es.v[i], res) == 0)
			total -= es.v[i].bytes;
	}
	res->bytes_kept = total;
	free(es.v);
	close(dfd);
	return 0;
}

void cache_prune_touch(const char *path)
{
	utimensat(AT_FDCWD, path, NULL, 0);
}
