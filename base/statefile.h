/* The engine's JSON state file (--state-file): what a person or script needs
 * to reach a manually started engine. Rewritten atomically (temp file +
 * rename) on every state change, removed on stop. */
#ifndef SPARKSHIM_STATEFILE_H
#define SPARKSHIM_STATEFILE_H

#include <stdio.h>

#include "base/engine_info.h"
#include "base/lifecycle.h"

void statefile_set_path(const char *path); /* "" = off */
int statefile_write(enum shim_state st);    /* 0 / -1 (logged) */
void statefile_remove(void);
/* The JSON document itself, for tests and `ctl status --json` parity. */
void statefile_format(FILE *out, enum shim_state st, const struct engine_info *e);
void json_string(FILE *out, const char *s);

#endif
