/* Orphan reaping as PID 1 or child subreaper (see reaper.h).
 *
 * Which of our children are orphans? Both kinds have us as parent, so
 * /proc/<pid>/stat's ppid cannot tell, and waitpid(-1) or waitid(P_ALL)
 * would take the statuses Java's process reaper waits for by pid (it then
 * gets ECHILD and reports exit 0 for a child that failed). Two facts decide:
 *
 * 1. Who adopted it. A child belongs to the *thread* that created it. The
 *    JVM's ProcessBuilder forks on a JVM thread, never on our main thread,
 *    which only runs the supervisor loop. An orphan is re-parented by the
 *    kernel to the first live thread of the reaper's thread group: the
 *    group leader, our main thread. So /proc/self/task/<main tid>/children
 *    lists the adopted orphans (and the few children main spawns itself,
 *    each with its own waiter), not the JVM's children.
 * 2. How long it has been a zombie. One case puts a JVM child under main
 *    too: the JVM thread that spawned it exited (the kernel hands a dead
 *    thread's children to the group leader). By then ProcessImpl has long
 *    handed the pid to Java's reaper thread, which is blocked in
 *    waitpid(pid) and takes the zombie within microseconds. So we take a
 *    zombie only after it has stayed one for REAPER_GRACE_MS: nobody waits
 *    for it.
 *
 * Looking is harmless: waitid(P_PID, pid, WNOWAIT) tells whether a child is
 * a zombie without consuming its status. Only waitpid(pid, WNOHANG) on a
 * pid that passed both tests reaps.
 *
 * No SIGCHLD: blocking it for a signalfd would block it in every thread
 * and, through the inherited mask, in the JVM's children (a pyspark daemon
 * reaps its workers on SIGCHLD). A scan every REAPER_SCAN_MS, only while
 * active, reads one small /proc file. */
#include "launcher/reaper.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"

#define MAX_TRACKED 256

struct zombie {
	pid_t pid;
	int64_t since_ms; /* first seen as a zombie */
};

static struct {
	int active;
	int warned;
	int64_t next_ms;
	struct zombie seen[MAX_TRACKED];
	size_t n_seen;
} R;

/* /proc must be this PID namespace's (unshare --pid without --mount-proc
 * leaves the outer one): otherwise its pids are not ours. */
static int proc_is_ours(void)
{
	char buf[32];
	ssize_t n = readlink("/proc/self", buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	return atoi(buf) == (int)getpid();
}

int reaper_init(int subreaper, char *err, size_t errlen)
{
	memset(&R, 0, sizeof(R));
	if ((getpid() == 1 || subreaper) && !proc_is_ours()) {
		log_warn("/proc is not this PID namespace's (mount a new one, e.g. unshare "
			 "--mount-proc): adopted orphans are not reaped");
		return 0;
	}
	if (getpid() == 1) {
		log_info("running as PID 1: adopted orphans are reaped, signals are the engine's own");
	} else if (subreaper) {
		if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
			snprintf(err, errlen, "--subreaper: prctl(PR_SET_CHILD_SUBREAPER): %s",
				 strerror(errno));
			return -1;
		}
		log_info("child subreaper: orphaned descendants are adopted and reaped");
	} else {
		return 0;
	}
	R.active = 1;
	return 1;
}

int reaper_active(void) { return R.active; }

int64_t reaper_next_ms(void) { return R.active ? R.next_ms : 0; }

static int is_zombie(pid_t pid)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
		return 0; /* not ours (any more) */
	return si.si_pid == pid;
}

static int64_t seen_since(pid_t pid, int64_t now)
{
	for (size_t i = 0; i < R.n_seen; i++)
		if (R.seen[i].pid == pid)
			return R.seen[i].since_ms;
	return now;
}

static int reap(pid_t pid)
{
	int status;
	if (waitpid(pid, &status, WNOHANG) != pid)
		return 0;
	if (WIFSIGNALED(status))
		log_info("reaped adopted process %d (killed by signal %d)", (int)pid, WTERMSIG(status));
	else
		log_info("reaped adopted process %d (exit %d)", (int)pid, WEXITSTATUS(status));
	return 1;
}

int reaper_scan(int64_t now_ms)
{
	if (!R.active)
		return 0;
	R.next_ms = now_ms + REAPER_SCAN_MS;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
	FILE *f = fopen(path, "r");
	if (!f) {
		if (!R.warned)
			log_warn("cannot list adopted processes (%s: %s): orphans are not reaped", path,
				 strerror(errno));
		R.warned = 1;
		return 0;
	}
	/* The new table holds the zombies of this scan, each with the time it
	 * was first seen; children gone since the last scan drop out. */
	struct zombie next[MAX_TRACKED];
	size_t n = 0;
	int reaped = 0, pid;
	while (fscanf(f, "%d", &pid) == 1) {
		if (pid <= 0 || !is_zombie(pid))
			continue;
		int64_t since = seen_since(pid, now_ms);
		if (now_ms - since >= REAPER_GRACE_MS && reap(pid))
			reaped++;
		else if (n < MAX_TRACKED)
			next[n++] = (struct zombie){pid, since};
	}
	fclose(f);
	memcpy(R.seen, next, n * sizeof(next[0]));
	R.n_seen = n;
	return reaped;
}
