/* A unary answer as bytes (ctl_reply.c): status, details and the packed
 * message, filled by a service's handler and sent by the server core. */
#ifndef SPARKSHIM_CTL_REPLY_H
#define SPARKSHIM_CTL_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>

struct ctl_reply {
	grpc_status_code code; /* GRPC_STATUS_OK unless a handler says otherwise */
	char details[512];
	uint8_t *msg;          /* malloc'd packed response (code OK), owned by the reply */
	size_t len;
};

/* Serialize m into a fresh malloc'd buffer (*msg, *len; never NULL on
 * success, even for an empty message). 0 / -1 (ENOMEM). */
int ctl_pack(const ProtobufCMessage *m, uint8_t **msg, size_t *len);

/* Serialize m into r->msg. 0 / -1 (r becomes RESOURCE_EXHAUSTED). */
int ctl_reply_pack(struct ctl_reply *r, const ProtobufCMessage *m);
/* Set an error status with a printf-style message; drops any message. */
void ctl_reply_error(struct ctl_reply *r, grpc_status_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void ctl_reply_free(struct ctl_reply *r);

#endif
