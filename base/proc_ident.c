#include "base/proc_ident.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define START_FIELD 22 /* proc(5): (22) starttime */

int proc_stat_start_ticks(const char *line, unsigned long long *out)
{
	/* Field 2 is "(comm)" and comm may hold spaces or ')': count fields
	 * from the last ')'. */
	const char *p = strrchr(line, ')');
	if (!p)
		return -1;
	p++;
	for (int field = 3; field < START_FIELD; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -1;
	}
	char *end;
	unsigned long long v = strtoull(p + 1, &end, 10);
	if (end == p + 1)
		return -1;
	*out = v;
	return 0;
}

static int read_line(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	int ok = fgets(buf, (int)cap, f) != NULL;
	fclose(f);
	if (!ok)
		return -1;
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static void boot_id(char *out, size_t cap)
{
	if (read_line("/proc/sys/kernel/random/boot_id", out, cap) < 0)
		out[0] = '\0';
}

int proc_ident_of(pid_t pid, struct proc_ident *id)
{
	memset(id, 0, sizeof(*id));
	id->pid = pid ? pid : getpid();
	boot_id(id->boot_id, sizeof(id->boot_id));
	char path[64], line[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)id->pid);
	if (read_line(path, line, sizeof(line)) < 0)
		return -1;
	return proc_stat_start_ticks(line, &id->start_ticks) < 0 ? -1 : 0;
}

int proc_ident_alive(const struct proc_ident *id)
{
	if (id->pid <= 0)
		return 0;
	struct proc_ident now;
	if (proc_ident_of(id->pid, &now) < 0)
		return 0;
	if (id->boot_id[0] && now.boot_id[0] && strcmp(id->boot_id, now.boot_id) != 0)
		return 0;
	return !id->start_ticks || id->start_ticks == now.start_ticks;
}
