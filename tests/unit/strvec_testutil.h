/* Test helper: build a strvec from a NULL-terminated argument list. */
#ifndef SPARKSHIM_STRVEC_TESTUTIL_H
#define SPARKSHIM_STRVEC_TESTUTIL_H

#include <stdarg.h>

#include "base/strvec.h"

static inline void vec_of(struct strvec *v, ...)
{
	strvec_init(v);
	va_list ap;
	va_start(ap, v);
	for (const char *a = va_arg(ap, const char *); a; a = va_arg(ap, const char *))
		strvec_push(v, a);
	va_end(ap);
}

#endif
