#include "shim/ctl/grpc_util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>

#include "base/log.h"

grpc_byte_buffer *bb_from_bytes(const void *buf, size_t len)
{
	grpc_slice s = len ? grpc_slice_from_copied_buffer(buf, len) : grpc_empty_slice();
	/* The buffer takes its own ref on the slice; drop ours. */
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return bb;
}

int bb_to_bytes(grpc_byte_buffer *bb, uint8_t **out, size_t *len)
{
	grpc_byte_buffer_reader r;
	*out = NULL;
	*len = 0;
	if (!grpc_byte_buffer_reader_init(&r, bb))
		return -1;
	grpc_slice all = grpc_byte_buffer_reader_readall(&r);
	grpc_byte_buffer_reader_destroy(&r);
	size_t n = GRPC_SLICE_LENGTH(all);
	uint8_t *p = malloc(n ? n : 1);
	if (!p) {
		grpc_slice_unref(all);
		return -1;
	}
	if (n)
		memcpy(p, GRPC_SLICE_START_PTR(all), n);
	grpc_slice_unref(all);
	*out = p;
	*len = n;
	return 0;
}

gpr_timespec deadline_after_ms(int timeout_ms)
{
	if (timeout_ms < 0)
		return gpr_inf_future(GPR_CLOCK_MONOTONIC);
	return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
			    gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
}

const char *status_code_name(grpc_status_code code)
{
	static const char *const names[] = {
		"OK",		   "CANCELLED",		"UNKNOWN",	   "INVALID_ARGUMENT",
		"DEADLINE_EXCEEDED", "NOT_FOUND",	"ALREADY_EXISTS",  "PERMISSION_DENIED",
		"RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",	   "OUT_OF_RANGE",
		"UNIMPLEMENTED",	   "INTERNAL",		"UNAVAILABLE",	   "DATA_LOSS",
		"UNAUTHENTICATED",
	};
	if ((unsigned)code < sizeof(names) / sizeof(names[0]))
		return names[code];
	return "UNKNOWN_CODE";
}

void slice_to_cstr(grpc_slice s, char *dst, size_t cap)
{
	if (cap == 0)
		return;
	size_t n = GRPC_SLICE_LENGTH(s);
	if (n > cap - 1)
		n = cap - 1;
	memcpy(dst, GRPC_SLICE_START_PTR(s), n);
	dst[n] = '\0';
}

int slice_equals_ct(grpc_slice s, const char *str)
{
	size_t n = GRPC_SLICE_LENGTH(s), m = strlen(str);
	const uint8_t *a = GRPC_SLICE_START_PTR(s);
	unsigned diff = n != m;
	/* Walk the attacker-supplied length; index str modulo its length so the
	 * loop never reads past it and the time does not depend on m. */
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned)(a[i] ^ (uint8_t)(m ? str[i % m] : 0));
	return diff == 0;
}

static void log_bridge(gpr_log_func_args *a)
{
	const char *base = a->file ? strrchr(a->file, '/') : NULL;
	enum log_level lvl = a->severity == GPR_LOG_SEVERITY_ERROR  ? LOG_WARN
			     : a->severity == GPR_LOG_SEVERITY_INFO ? LOG_INFO
								    : LOG_DEBUG;
	log_msg(lvl, "grpc: %s (%s:%d)", a->message, base ? base + 1 : a->file ? a->file : "?",
		a->line);
}

static void install_once(void) { gpr_set_log_function(log_bridge); }

void grpc_log_bridge_install(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, install_once);
}
