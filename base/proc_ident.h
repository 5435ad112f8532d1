/* Who a pid is: its start time (field 22 of /proc/<pid>/stat, clock ticks
 * since boot) and the boot it belongs to (/proc/sys/kernel/random/boot_id).
 * A pid alone cannot tell a live engine from a dead one whose pid was
 * reused; pid + start time + boot id can. */
#ifndef SPARKSHIM_PROC_IDENT_H
#define SPARKSHIM_PROC_IDENT_H

#include <stddef.h>
#include <sys/types.h>

struct proc_ident {
	pid_t pid;
	unsigned long long start_ticks; /* 0 = unknown */
	char boot_id[40];               /* "" = unknown */
};

/* Fill id for pid (0 = this process). 0, or -1 when the process does not
 * exist (start_ticks stays 0). */
int proc_ident_of(pid_t pid, struct proc_ident *id);

/* Parse the start time out of one /proc/<pid>/stat line. 0 / -1. */
int proc_stat_start_ticks(const char *stat_line, unsigned long long *out);

/* Is the process that recorded `id` still running? 1 yes, 0 no (no such
 * pid, or another process or boot with that pid). Unknown parts of id
 * (start_ticks 0, boot_id "") are not compared. */
int proc_ident_alive(const struct proc_ident *id);

#endif
