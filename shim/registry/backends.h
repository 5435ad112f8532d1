/* The table of discovery backends by kyuubi.ha.client.class (backends.c). */
#ifndef SPARKSHIM_BACKENDS_H
#define SPARKSHIM_BACKENDS_H

#include <stddef.h>

#include "shim/registry/discovery.h"

/* The backend named by kyuubi.ha.client.class (`cls`, NULL or "" for the
 * default, ZooKeeper). NULL with a one-line error naming key=value (`key`:
 * the spelling that was set) for a known but unsupported or an unknown
 * class. */
const struct discovery_backend *discovery_backend_for_class(const char *key, const char *cls,
							    char *err, size_t errlen);

#endif
