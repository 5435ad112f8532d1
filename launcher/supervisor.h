/* The main loop (supervisor.c). */
#ifndef SPARKSHIM_SUPERVISOR_H
#define SPARKSHIM_SUPERVISOR_H

#include "launcher/engine.h"

/* The poll loop; returns the exit code. */
int supervise(struct engine *s);

#endif
