/* grpc.health.v1.Health as a method table (health_service.c). */
#ifndef SPARKSHIM_HEALTH_SERVICE_H
#define SPARKSHIM_HEALTH_SERVICE_H

#include "base/lifecycle.h"
#include "shim/ctl/ctl_service.h"

extern const struct ctl_method health_methods[];
extern const size_t n_health_methods;
extern const struct ctl_service health_service; /* grpc.health.v1.Health */

/* grpc.health.v1 status for a service: 1 SERVING, 2 NOT_SERVING, -1 unknown
 * service. Pure: callers pass the state and the connect liveness. */
int health_status_for(const char *service, enum shim_state st, int connect_alive);

#endif
