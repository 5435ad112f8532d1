#include "shim/ctl/json_out.h"

#include <inttypes.h>

void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

static void key(FILE *f, int *first, const char *k)
{
	if (!*first)
		fputc(',', f);
	*first = 0;
	json_str(f, k);
	fputc(':', f);
}

void json_kv_str(FILE *f, int *first, const char *k, const char *val)
{
	key(f, first, k);
	json_str(f, val);
}

void json_kv_int(FILE *f, int *first, const char *k, int64_t val)
{
	key(f, first, k);
	fprintf(f, "%" PRId64, val);
}

void json_kv_bool(FILE *f, int *first, const char *k, int val)
{
	key(f, first, k);
	fputs(val ? "true" : "false", f);
}
