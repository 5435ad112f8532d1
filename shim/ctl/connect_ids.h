/* The two identities of a Spark Connect request, read straight from its
 * serialized bytes: `string session_id = 1` and `UserContext user_context
 * = 2 { string user_id = 1 }`, common to every request of
 * spark.connect.SparkConnectService. Nothing is copied or re-encoded: the
 * results point into the message. Byte-in/byte-out, no gRPC.
 *
 * Semantics are protobuf's, so the door sees what Spark will see: the last
 * occurrence of a field wins, and repeated user_context fields merge (a
 * later user_id replaces an earlier one; a user_context without user_id
 * leaves it). A field of the right number but another wire type is an
 * unknown field to Spark's parser and is skipped here too. Groups (wire
 * types 3 and 4) and anything truncated are refused: proto3 clients never
 * send groups. */
#ifndef SPARKSHIM_CONNECT_IDS_H
#define SPARKSHIM_CONNECT_IDS_H

#include <stddef.h>
#include <stdint.h>

struct connect_ids {
	const uint8_t *session_id; /* into the message; NULL when absent */
	size_t session_len;
	const uint8_t *user_id;    /* likewise */
	size_t user_len;
};

/* 0, or -1 when msg is not a well-formed protobuf message (or nests a
 * malformed user_context). */
int connect_ids_read(const uint8_t *msg, size_t len, struct connect_ids *out);

#endif
