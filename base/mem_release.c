#include "base/mem_release.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct vma {
	unsigned long start, end;
	int eligible;       /* read-only, private, file of a named library */
	long rss, anon, dirty;
};

static int named(const char *path, const char *const *libs, size_t n)
{
	const char *base = strrchr(path, '/');
	if (!base)
		return 0;
	base++;
	for (size_t i = 0; i < n; i++)
		if (!strncmp(base, libs[i], strlen(libs[i])))
			return 1;
	return 0;
}

/* Drop the finished VMA's pages if it is clean and eligible; its rss kB. */
static int64_t release(const struct vma *v)
{
	if (!v->eligible || v->anon || v->dirty || !v->rss)
		return 0;
	return madvise((void *)v->start, v->end - v->start, MADV_DONTNEED) == 0 ? v->rss : 0;
}

int64_t mem_release_clean_lib_pages(const char *const *libs, size_t n_libs)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	if (!f)
		return -1;
	char line[4096 + 256];
	struct vma v = {0};
	int64_t kb = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b;
		char perms[8], path[4096];
		long val;
		path[0] = '\0';
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %4095s", &a, &b, perms, path) >= 3 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			kb += release(&v);
			memset(&v, 0, sizeof(v));
			v.start = a;
			v.end = b;
			v.eligible = perms[1] == '-' && perms[3] == 'p' && path[0] == '/' &&
				     named(path, libs, n_libs);
		} else if (sscanf(line, "Rss: %ld kB", &val) == 1) {
			v.rss = val;
		} else if (sscanf(line, "Anonymous: %ld kB", &val) == 1) {
			v.anon = val;
		} else if (sscanf(line, "Private_Dirty: %ld kB", &val) == 1 ||
			   sscanf(line, "Shared_Dirty: %ld kB", &val) == 1) {
			v.dirty += val;
		} else if (sscanf(line, "Locked: %ld kB", &val) == 1 && val) {
			v.eligible = 0;
		}
	}
	kb += release(&v);
	fclose(f);
	malloc_trim(0);
	return kb;
}
