#include "base/statefile.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"

static char path[4096];

void statefile_set_path(const char *p) { snprintf(path, sizeof(path), "%s", p ? p : ""); }

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

static void kv_str(FILE *out, const char *k, const char *v, int last)
{
	fprintf(out, "  \"%s\": ", k);
	json_string(out, v);
	fputs(last ? "\n" : ",\n", out);
}

void statefile_format(FILE *out, enum shim_state st, const struct engine_info *e)
{
	char url[400] = "";
	if (e->connect_port > 0)
		snprintf(url, sizeof(url), "sc://%s:%d", e->connect_host, e->connect_port);
	fputs("{\n", out);
	fprintf(out, "  \"pid\": %d,\n", (int)e->pid);
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
	fprintf(out, "  \"start_time_ms\": %lld\n", (long long)e->start_epoch_ms);
	fputs("}\n", out);
}

int statefile_write(enum shim_state st)
{
	if (!path[0])
		return 0;
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	FILE *f = fopen(tmp, "we");
	if (!f) {
		log_warn("state file %s: %s", tmp, strerror(errno));
		return -1;
	}
	struct engine_info e;
	engine_info_get(&e);
	statefile_format(f, st, &e);
	int bad = ferror(f);
	if (fclose(f) != 0 || bad || rename(tmp, path) < 0) {
		log_warn("state file %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

void statefile_remove(void)
{
	if (path[0])
		unlink(path);
}
