/* libFuzzer harness for the front door's protobuf field reader
 * (connect_ids_read): any bytes are accepted or refused without reading
 * outside the message, and what it returns points inside the message. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shim/ctl/connect_ids.h"

static void inside(const uint8_t *msg, size_t size, const uint8_t *p, size_t n)
{
	if (!p)
		return;
	if (p < msg || n > size || (size_t)(p - msg) > size - n)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so ASan sees any read past the end. */
	uint8_t *m = malloc(size ? size : 1);
	if (!m)
		return 0;
	memcpy(m, data, size);
	struct connect_ids ids;
	if (connect_ids_read(m, size, &ids) == 0) {
		inside(m, size, ids.session_id, ids.session_len);
		inside(m, size, ids.user_id, ids.user_len);
		volatile uint8_t sink = 0;
		for (size_t i = 0; ids.user_id && i < ids.user_len; i++)
			sink ^= ids.user_id[i];
		(void)sink;
	}
	free(m);
	return 0;
}
