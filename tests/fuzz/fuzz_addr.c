/* libFuzzer harness for control address parsing and the loopback rule:
 * ctl_addr_parse must accept or refuse any string without overflowing its
 * fixed buffers, and whatever it accepts must format back sanely. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shim/ctl/ctl_addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	struct ctl_addr a;
	char err[128];
	if (ctl_addr_parse(s, &a, err, sizeof(err)) == 0) {
		if (!a.is_unix) {
			if (a.port < 0 || a.port > 65535 || a.host[0] == '\0')
				abort();
			char buf[300];
			ctl_addr_format(a.host, a.port, buf, sizeof(buf));
			struct ctl_addr b;
			/* a formatted address parses back, to the same host and port */
			if (ctl_addr_parse(buf, &b, err, sizeof(err)) != 0)
				abort();
			if (b.is_unix || b.port != a.port || strcmp(b.host, a.host) != 0)
				abort();
		}
		(void)ctl_addr_is_loopback(&a);
	} else if (memchr(err, '\0', sizeof(err)) == NULL) {
		abort();
	}
	free(s);
	return 0;
}
