#include "launcher/timeline.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"

static int64_t main_mono_ms;   /* monotonic at timeline_init */
static int64_t main_after_exec; /* ms from exec to timeline_init */

/* ms between this process's exec and now, from its start time in
 * clock ticks since boot; 0 when unknown. */
static int64_t since_exec_ms(void)
{
	FILE *f = fopen("/proc/self/stat", "re");
	char buf[1024];
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')'); /* comm may hold spaces */
	if (!p)
		return 0;
	unsigned long long start = 0;
	/* fields after comm: state(3) ... starttime(22) */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
		   &start) != 1)
		return 0;
	long hz = sysconf(_SC_CLK_TCK);
	struct timespec ts;
	if (hz <= 0 || clock_gettime(CLOCK_BOOTTIME, &ts) < 0)
		return 0;
	int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	int64_t d = now_ms - (int64_t)(start * 1000 / (unsigned long long)hz);
	return d < 0 ? 0 : d;
}

void timeline_init(void)
{
	main_mono_ms = monotonic_ms();
	main_after_exec = since_exec_ms();
}

int64_t timeline_now(void)
{
	return main_after_exec + (monotonic_ms() - main_mono_ms);
}

void timeline_phase(const char *name, int64_t start_ms)
{
	int64_t now = timeline_now();
	log_debug("timeline: %s %lld-%lld ms (%lld ms) since exec", name, (long long)start_ms,
		  (long long)now, (long long)(now - start_ms));
}

void timeline_point(const char *name)
{
	log_debug("timeline: %s at %lld ms since exec", name, (long long)timeline_now());
}
