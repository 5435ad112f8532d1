#include "base/statefile.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"

/* path, self and last written document; under mu. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char path[4096];
static struct proc_ident self;
static char *last; /* owned: the document now on disk, NULL = none */

void statefile_set_path(const char *p)
{
	pthread_mutex_lock(&mu);
	snprintf(path, sizeof(path), "%s", p ? p : "");
	proc_ident_of(0, &self);
	free(last);
	last = NULL;
	pthread_mutex_unlock(&mu);
}

void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

static void kv_str(FILE *out, const char *k, const char *v, int last_key)
{
	fprintf(out, "  \"%s\": ", k);
	json_string(out, v);
	fputs(last_key ? "\n" : ",\n", out);
}

void statefile_format(FILE *out, enum shim_state st, const struct engine_info *e,
		      const struct proc_ident *id)
{
	char url[400] = "";
	if (e->connect_port > 0)
		snprintf(url, sizeof(url), "sc://%s:%d", e->connect_host, e->connect_port);
	fputs("{\n", out);
	fprintf(out, "  \"pid\": %d,\n", (int)e->pid);
	fprintf(out, "  \"pid_start_ticks\": %llu,\n", id->start_ticks);
	kv_str(out, "boot_id", id->boot_id, 0);
	kv_str(out, "state", state_name(st), 0);
	kv_str(out, "connect_url", url, 0);
	kv_str(out, "connect_host", e->connect_host, 0);
	fprintf(out, "  \"connect_port\": %d,\n", e->connect_port);
	kv_str(out, "control_address", e->control_endpoint, 0);
	kv_str(out, "control_note", e->control_note, 0);
	kv_str(out, "spark_version", e->spark_version, 0);
	kv_str(out, "app_id", e->app_id, 0);
	kv_str(out, "app_name", e->app_name, 0);
	kv_str(out, "ui_url", e->ui_url, 0);
	kv_str(out, "registration", reg_state_name(e->reg_state), 0);
	kv_str(out, "znode", e->znode_path, 0);
	fprintf(out, "  \"active_sessions\": %d,\n", e->active_sessions);
	fprintf(out, "  \"start_time_ms\": %lld\n", (long long)e->start_epoch_ms);
	fputs("}\n", out);
}

/* The document for st as it would be written now; NULL on no memory. */
static char *render(enum shim_state st)
{
	char *doc = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&doc, &len);
	if (!m)
		return NULL;
	struct engine_info e;
	engine_info_get(&e);
	statefile_format(m, st, &e, &self);
	if (fclose(m) != 0) {
		free(doc);
		return NULL;
	}
	return doc;
}

static int put(const char *doc)
{
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	FILE *f = fopen(tmp, "we");
	if (!f) {
		log_warn("state file %s: %s", tmp, strerror(errno));
		return -1;
	}
	fputs(doc, f);
	int bad = ferror(f);
	if (fclose(f) != 0 || bad || rename(tmp, path) < 0) {
		log_warn("state file %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

int statefile_write(enum shim_state st)
{
	pthread_mutex_lock(&mu);
	int rc = 0;
	if (path[0]) {
		char *doc = render(st);
		if (!doc) {
			log_warn("state file %s: out of memory", path);
			rc = -1;
		} else if (last && strcmp(doc, last) == 0) {
			free(doc);
		} else if ((rc = put(doc)) == 0) {
			free(last);
			last = doc;
		} else {
			free(doc);
		}
	}
	pthread_mutex_unlock(&mu);
	return rc;
}

void statefile_refresh(void)
{
	enum shim_state st = lifecycle_state();
	/* The exit path removes the file; STOPPED/FAILED are never shown. */
	if (st != ST_STOPPED && st != ST_FAILED)
		statefile_write(st);
}

void statefile_remove(void)
{
	pthread_mutex_lock(&mu);
	if (path[0])
		unlink(path);
	path[0] = '\0';
	free(last);
	last = NULL;
	pthread_mutex_unlock(&mu);
}

/* ---- reading (ctl status --state-file) ---- */

/* The value of "key" in a document this module wrote: a number or a
 * string without escapes. NULL when absent. */
static const char *find_value(const char *doc, const char *key, char *out, size_t cap)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	const char *p = strstr(doc, pat);
	if (!p)
		return NULL;
	p += strlen(pat);
	size_t n;
	if (*p == '"') {
		p++;
		n = strcspn(p, "\"\n");
	} else {
		n = strcspn(p, ",\n}");
	}
	if (n >= cap)
		n = cap - 1;
	memcpy(out, p, n);
	out[n] = '\0';
	return out;
}

int statefile_read(const char *file, struct statefile_view *v)
{
	memset(v, 0, sizeof(*v));
	FILE *f = fopen(file, "re");
	if (!f)
		return -1;
	char doc[16384];
	size_t n = fread(doc, 1, sizeof(doc) - 1, f);
	fclose(f);
	doc[n] = '\0';
	char num[64];
	if (!find_value(doc, "pid", num, sizeof(num)) || atoi(num) <= 0)
		return -2;
	v->owner.pid = atoi(num);
	if (find_value(doc, "pid_start_ticks", num, sizeof(num)))
		v->owner.start_ticks = strtoull(num, NULL, 10);
	find_value(doc, "boot_id", v->owner.boot_id, sizeof(v->owner.boot_id));
	find_value(doc, "state", v->state, sizeof(v->state));
	find_value(doc, "control_address", v->control_address, sizeof(v->control_address));
	find_value(doc, "connect_url", v->connect_url, sizeof(v->connect_url));
	return 0;
}
