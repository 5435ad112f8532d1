/* sparkshim.v1.Control as a method table (control_service.c). */
#ifndef SPARKSHIM_CONTROL_SERVICE_H
#define SPARKSHIM_CONTROL_SERVICE_H

#include "shim/ctl/ctl_service.h"

extern const struct ctl_method control_methods[];
extern const size_t n_control_methods;
extern const struct ctl_service control_service; /* sparkshim.v1.Control (attaches the event log) */

/* proto State/Registration values from the C enums (+1, 0 = unspecified). */
int proto_state(int shim_state);

/* Test seam: the function SetLogLevel calls (default jvm_set_log_level). */
typedef int (*ctl_set_log_level_fn)(const char *level, char *err, size_t errlen, int timeout_ms);
void control_set_log_level_hook(ctl_set_log_level_fn fn);

/* The front door's session table for Status (launcher sets it; NULL = door
 * off, the default). The table must outlive the control server. */
struct door_sessions;
void control_set_door_sessions(struct door_sessions *t);

#endif
