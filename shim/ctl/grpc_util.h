/* Small helpers over gRPC C core shared by the control server, its client
 * (CLI, connect probe) and the tests: byte buffers <-> flat bytes, deadlines,
 * status names. Nothing here keeps state. */
#ifndef SPARKSHIM_GRPC_UTIL_H
#define SPARKSHIM_GRPC_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>

/* New byte buffer holding a copy of buf (len may be 0). Caller owns it:
 * grpc_byte_buffer_destroy(), or hand it to a SEND_MESSAGE op and destroy
 * it after the batch completes. NULL only when gRPC itself fails. */
grpc_byte_buffer *bb_from_bytes(const void *buf, size_t len);

/* Flatten bb into a fresh malloc'd buffer (*out, *len; caller frees).
 * A zero-length message gives a non-NULL 1-byte allocation and *len = 0,
 * so "empty message" and "no message" stay distinct. 0 / -1 (ENOMEM). */
int bb_to_bytes(grpc_byte_buffer *bb, uint8_t **out, size_t *len);

/* Absolute monotonic deadline timeout_ms from now; < 0 = infinite. */
gpr_timespec deadline_after_ms(int timeout_ms);

/* "OK", "CANCELLED", ... "UNAUTHENTICATED"; "STATUS_<n>" style never
 * needed since unknown codes map to "UNKNOWN_CODE". */
const char *status_code_name(grpc_status_code code);

/* Copy a slice into a NUL-terminated string (truncated to cap-1). */
void slice_to_cstr(grpc_slice s, char *dst, size_t cap);

/* Whole-string compare of a slice against a C string, constant time in the
 * length of the slice so a token check does not leak how much matched. */
int slice_equals_ct(grpc_slice s, const char *str);

/* Route gRPC's own log lines (gpr_log) through base/log.h so they carry
 * the shim's format instead of gRPC's "E1124 16:09:41.748 ..." lines in the
 * engine log. gRPC errors become WARN: the ones that matter (a failed
 * bind...) are reported again by our code as proper errors. Idempotent;
 * the server and the probe call it; GRPC_VERBOSITY still filters. */
void grpc_log_bridge_install(void);
#endif
