/* Reply helpers shared by the services hosted on the control server. */
#include "shim/ctl/ctl_reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>


int ctl_pack(const ProtobufCMessage *m, uint8_t **msg, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	/* malloc(0) may return NULL; an empty message is still a message. */
	uint8_t *p = malloc(n ? n : 1);
	if (!p)
		return -1;
	protobuf_c_message_pack(m, p);
	*msg = p;
	*len = n;
	return 0;
}

int ctl_reply_pack(struct ctl_reply *r, const ProtobufCMessage *m)
{
	uint8_t *p;
	size_t n;
	if (ctl_pack(m, &p, &n) < 0) {
		ctl_reply_error(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return -1;
	}
	free(r->msg);
	r->msg = p;
	r->len = n;
	return 0;
}

void ctl_reply_error(struct ctl_reply *r, grpc_status_code code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->details, sizeof(r->details), fmt, ap);
	va_end(ap);
	r->code = code;
	free(r->msg);
	r->msg = NULL;
	r->len = 0;
}

void ctl_reply_free(struct ctl_reply *r)
{
	free(r->msg);
	r->msg = NULL;
	r->len = 0;
}
