/* The engine's JSON state file (--state-file): what a person or script needs
 * to reach a manually started engine. Rewritten atomically (temp file +
 * rename) whenever what it shows changes: every lifecycle transition and
 * every engine_info update that changes a shown field (registration, node,
 * endpoints, sessions). Removed on stop.
 *
 * It names the process by pid, start time (/proc/<pid>/stat field 22) and
 * boot id, so a reader can tell a live engine from a dead one whose file was
 * left behind (SIGKILL) or whose pid was reused: statefile_read +
 * proc_ident_alive. */
#ifndef SPARKSHIM_STATEFILE_H
#define SPARKSHIM_STATEFILE_H

#include <stdio.h>

#include "base/engine_info.h"
#include "base/lifecycle.h"
#include "base/proc_ident.h"

/* "" = off. Also notes this process's identity for the file. */
void statefile_set_path(const char *path);
/* Write with state st if the document changed. 0 / -1 (logged). */
int statefile_write(enum shim_state st);
/* Write with the current lifecycle state if the document changed: the
 * engine_info listener (any thread). */
void statefile_refresh(void);
/* Remove the file; no write after this one. */
void statefile_remove(void);
/* The JSON document itself, for tests and `ctl status --json` parity. */
void statefile_format(FILE *out, enum shim_state st, const struct engine_info *e,
		      const struct proc_ident *self);
void json_string(FILE *out, const char *s);

/* What a reader needs from a state file. */
struct statefile_view {
	struct proc_ident owner;
	char state[32];
	char control_address[300];
	char connect_url[400];
};

/* Read path. 0; -1 with errno (ENOENT: no file); -2 not a state file. */
int statefile_read(const char *path, struct statefile_view *out);

#endif
