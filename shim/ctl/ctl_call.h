/* The call object: one accepted server call handed whole to a handler, for
 * the modes a method table's unary/stream kinds do not cover (client
 * streaming, bidi streaming, relaying raw bytes) and for the server's
 * generic handler (methods no table names). Messages are raw bytes; the
 * handler decides what they mean.
 *
 * Model. The server drives the handler through callbacks on its CQ threads:
 *   on_start -> (ctl_call_read -> on_message)* -> on_half_close
 *   writes are queued (ctl_call_write), sent one batch at a time in order,
 *   each acknowledged by on_write_done; ctl_call_finish queues the status
 *   (and trailing metadata) behind them.
 *   on_cancel when the call is cancelled (client cancel or disconnect,
 *   deadline, server stop past its grace): RECV_CLOSE_ON_SERVER said so.
 *   on_done last, exactly once, when nothing is pending any more.
 * Callbacks of one call never run concurrently (the call's own lock is
 * held) and must not block. Every ctl_call_* function may be called from a
 * callback or from any other thread (a relay's upstream thread, say); a
 * thread outside the callbacks must hold a reference (ctl_call_ref) and
 * drop it when on_done has run. The server's stop waits for every
 * reference to be dropped. */
#ifndef SPARKSHIM_CTL_CALL_H
#define SPARKSHIM_CTL_CALL_H

#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>
#include <grpc/status.h>

struct ctl_call;

struct ctl_call_handler {
	/* The call arrived (for a mutating table method, with a valid token).
	 * Usually ctl_call_read() and/or ctl_call_set_state(). Required. */
	void (*on_start)(struct ctl_call *c);
	/* The message a ctl_call_read asked for. msg is valid during the
	 * callback only. Call ctl_call_read again for the next one. */
	void (*on_message)(struct ctl_call *c, const uint8_t *msg, size_t len);
	/* Instead of on_message when set: the message as gRPC's byte buffer,
	 * not flattened; the handler owns bb (grpc_byte_buffer_destroy, or
	 * pass it on with ctl_call_write_bb). A relay uses it to forward bytes
	 * without copying them. */
	void (*on_message_bb)(struct ctl_call *c, grpc_byte_buffer *bb);
	/* A read found no message: the client half-closed (or the call is
	 * failing, then on_cancel comes too). Optional. */
	void (*on_half_close)(struct ctl_call *c);
	/* A queued write went out (ok 1) or cannot any more (ok 0). Optional;
	 * for flow control together with ctl_call_pending_writes. */
	void (*on_write_done)(struct ctl_call *c, int ok);
	/* The call was cancelled; reads and writes fail from now on. Optional. */
	void (*on_cancel)(struct ctl_call *c);
	/* ctl_server_stop has begun: finish soon; calls still open after
	 * CTL_STOP_GRACE_MS are cancelled. Optional. */
	void (*on_server_stop)(struct ctl_call *c);
	/* Last callback: free the state. Optional. */
	void (*on_done)(struct ctl_call *c);
};

/* "/package.Service/Method" as the client sent it. */
const char *ctl_call_method(const struct ctl_call *c);
/* The client's request metadata (valid for the call's life). */
const grpc_metadata_array *ctl_call_metadata(const struct ctl_call *c);
/* First value of metadata key copied to buf (NUL-terminated, truncated).
 * 1 found, 0 absent. */
int ctl_call_metadata_get(const struct ctl_call *c, const char *key, char *buf, size_t cap);
/* The call's deadline (GPR_CLOCK_MONOTONIC; infinite when none). */
gpr_timespec ctl_call_deadline(const struct ctl_call *c);
/* ctl_server_opts.arg of the server that accepted the call. */
void *ctl_call_server_arg(const struct ctl_call *c);
void ctl_call_set_state(struct ctl_call *c, void *state);
void *ctl_call_state(const struct ctl_call *c);

/* Ask for the next client message (on_message or on_half_close follows).
 * 0, or -1 when a read is already pending or the call is over. */
int ctl_call_read(struct ctl_call *c);
/* Initial metadata to send before the first message (or the status);
 * copied. Without it empty initial metadata goes out. 0, or -1 when
 * initial metadata was already sent or queued, or the call is over. */
int ctl_call_send_metadata(struct ctl_call *c, const grpc_metadata *md, size_t n);
/* Queue one message (copied). 0, or -1 after ctl_call_finish or when the
 * call is over. */
int ctl_call_write(struct ctl_call *c, const void *msg, size_t len);
/* Queue one message as a byte buffer; the call takes ownership of bb
 * whatever the result. 0, or -1 as ctl_call_write. */
int ctl_call_write_bb(struct ctl_call *c, grpc_byte_buffer *bb);
/* Writes queued or in flight. */
size_t ctl_call_pending_writes(const struct ctl_call *c);
/* End the call with a status after the queued writes (details and
 * trailing metadata copied; either may be NULL). 0, or -1 when already
 * finished or over. */
int ctl_call_finish(struct ctl_call *c, grpc_status_code code, const char *details,
		    const grpc_metadata *trailing, size_t n);
/* Abort the call now (the client sees CANCELLED); on_cancel follows. */
void ctl_call_cancel(struct ctl_call *c);
/* 1 once the call is known to be cancelled. */
int ctl_call_is_cancelled(const struct ctl_call *c);

void ctl_call_ref(struct ctl_call *c);
void ctl_call_unref(struct ctl_call *c);

#endif
