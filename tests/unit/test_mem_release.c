/* Releasing start-up library pages: clean read-only mappings of the named
 * files are dropped from the resident set and read back the same; a
 * relocated (written, then read-only, like RELRO) mapping is never touched. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/mem_release.h"

#define LEN (64 * 4096)

static char dir[] = "/tmp/sparkshim-memrel-XXXXXX";

static char *map_file(const char *name, int writable_first)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	char *buf = malloc(LEN);
	for (size_t i = 0; i < LEN; i++)
		buf[i] = (char)(i * 7);
	assert_int_equal(write(fd, buf, LEN), LEN);
	assert_int_equal(fsync(fd), 0); /* clean in the page cache, as an installed library */
	free(buf);
	char *m = mmap(NULL, LEN, PROT_READ | (writable_first ? PROT_WRITE : 0), MAP_PRIVATE, fd, 0);
	close(fd);
	assert_true(m != MAP_FAILED);
	volatile char sum = 0;
	for (size_t i = 0; i < LEN; i += 4096)
		sum += m[i];
	(void)sum;
	if (writable_first) {
		/* What the dynamic linker does to RELRO: write, then read-only. */
		for (size_t i = 0; i < LEN; i += 4096)
			m[i] = 'R';
		assert_int_equal(mprotect(m, LEN, PROT_READ), 0);
	}
	return m;
}

static void test_release(void **st)
{
	(void)st;
	char *clean = map_file("libshimtest-clean.so", 0);
	char *relro = map_file("libshimtest-relro.so", 1);
	char *other = map_file("libother.so", 0);
	static const char *const libs[] = {"libshimtest"};
	int64_t kb = mem_release_clean_lib_pages(libs, 1);
	assert_true(kb >= LEN / 1024);     /* the clean one */
	assert_true(kb < 2 * LEN / 1024);  /* not the relocated one */
	unsigned char vec[LEN / 4096];
	assert_int_equal(mincore(clean, LEN, vec), 0); /* page cache: still there */
	for (size_t i = 0; i < LEN; i++) {
		assert_int_equal(clean[i], (char)(i * 7));
		assert_int_equal(relro[i], i % 4096 ? (char)(i * 7) : 'R');
		assert_int_equal(other[i], (char)(i * 7));
	}
	/* Nothing left to release now but what was just read back. */
	munmap(clean, LEN);
	munmap(relro, LEN);
	munmap(other, LEN);
	static const char *const none[] = {"libnothing-mapped"};
	assert_int_equal(mem_release_clean_lib_pages(none, 1), 0);
}

int main(void)
{
	assert_non_null(mkdtemp(dir));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_release),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		rc = 1;
	return rc;
}
