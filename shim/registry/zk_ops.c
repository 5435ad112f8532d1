#include "shim/registry/zk_ops.h"
#include "base/clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One outstanding call. Two owners: the waiter and the completion; the last
 * one to let go frees it, so a late completion never touches freed memory. */
struct zkop {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs;
	int done;
	int rc;
	char *str;         /* created path */
	struct Stat stat;
	char **names;      /* children */
};

static struct zkop *op_new(void)
{
	struct zkop *op = calloc(1, sizeof(*op));
	if (!op)
		return NULL;
	cond_init_monotonic(&op->cv);
	pthread_mutex_init(&op->mu, NULL);
	op->refs = 2;
	return op;
}

static void op_put(struct zkop *op)
{
	pthread_mutex_lock(&op->mu);
	int left = --op->refs;
	pthread_mutex_unlock(&op->mu);
	if (left)
		return;
	free(op->str);
	zkop_free_names(op->names);
	pthread_cond_destroy(&op->cv);
	pthread_mutex_destroy(&op->mu);
	free(op);
}

/* Mark done (the caller filled the result under op->mu) and drop the
 * completion's reference. */
static void op_finish_locked(struct zkop *op, int rc)
{
	op->rc = rc;
	op->done = 1;
	pthread_cond_broadcast(&op->cv);
	pthread_mutex_unlock(&op->mu);
	op_put(op);
}

static void void_done(int rc, const void *data)
{
	struct zkop *op = (struct zkop *)data;
	pthread_mutex_lock(&op->mu);
	op_finish_locked(op, rc);
}

static void string_done(int rc, const char *value, const void *data)
{
	struct zkop *op = (struct zkop *)data;
	pthread_mutex_lock(&op->mu);
	if (rc == ZOK && value) {
		op->str = strdup(value);
		if (!op->str)
			rc = ZSYSTEMERROR;
	}
	op_finish_locked(op, rc);
}

static void stat_done(int rc, const struct Stat *stat, const void *data)
{
	struct zkop *op = (struct zkop *)data;
	pthread_mutex_lock(&op->mu);
	if (rc == ZOK && stat)
		op->stat = *stat;
	op_finish_locked(op, rc);
}

static void strings_done(int rc, const struct String_vector *sv, const void *data)
{
	struct zkop *op = (struct zkop *)data;
	pthread_mutex_lock(&op->mu);
	if (rc == ZOK) {
		int n = sv ? sv->count : 0;
		op->names = calloc((size_t)n + 1, sizeof(char *));
		if (!op->names)
			rc = ZSYSTEMERROR;
		for (int i = 0; op->names && i < n; i++) {
			op->names[i] = strdup(sv->data[i]);
			if (!op->names[i]) {
				zkop_free_names(op->names);
				op->names = NULL;
				rc = ZSYSTEMERROR;
			}
		}
	}
	op_finish_locked(op, rc);
}

void zkop_free_names(char **names)
{
	if (!names)
		return;
	for (char **p = names; *p; p++)
		free(*p);
	free(names);
}

/* After issuing: if the client refused the call outright, its completion
 * will never run, so its reference is dropped here. Then wait. On return
 * the waiter still holds its reference (op_put it after reading results). */
static int op_wait(struct zkop *op, int issue_rc, int64_t deadline, const atomic_int *abort)
{
	if (issue_rc != ZOK) {
		op_put(op);
		return issue_rc;
	}
	pthread_mutex_lock(&op->mu);
	while (!op->done) {
		int64_t now = monotonic_ms();
		if (now >= deadline || (abort && atomic_load(abort)))
			break;
		int64_t until = deadline;
		if (abort && until > now + 50)
			until = now + 50;
		struct timespec ts = {.tv_sec = until / 1000, .tv_nsec = (until % 1000) * 1000000L};
		pthread_cond_timedwait(&op->cv, &op->mu, &ts);
	}
	int rc = op->done ? op->rc : ZOPERATIONTIMEOUT;
	pthread_mutex_unlock(&op->mu);
	return rc;
}

int zkop_create(zhandle_t *zh, const char *path, const char *data, int datalen,
		const struct ACL_vector *acl, int flags, char *out, size_t outlen,
		int64_t deadline, const atomic_int *abort)
{
	struct zkop *op = op_new();
	if (!op)
		return ZSYSTEMERROR;
	int rc = op_wait(op, zoo_acreate(zh, path, data, datalen, acl, flags, string_done, op),
			 deadline, abort);
	if (rc == ZOK && out && outlen) {
		if (!op->str || strlen(op->str) >= outlen)
			rc = ZSYSTEMERROR; /* cannot report the path: caller must treat as failed */
		else
			strcpy(out, op->str);
	}
	op_put(op);
	return rc;
}

int zkop_delete(zhandle_t *zh, const char *path, int64_t deadline, const atomic_int *abort)
{
	struct zkop *op = op_new();
	if (!op)
		return ZSYSTEMERROR;
	int rc = op_wait(op, zoo_adelete(zh, path, -1, void_done, op), deadline, abort);
	op_put(op);
	return rc;
}

int zkop_exists(zhandle_t *zh, const char *path, watcher_fn fn, void *ctx,
		struct Stat *stat, int64_t deadline, const atomic_int *abort)
{
	struct zkop *op = op_new();
	if (!op)
		return ZSYSTEMERROR;
	int issue = fn ? zoo_awexists(zh, path, fn, ctx, stat_done, op)
		       : zoo_aexists(zh, path, 0, stat_done, op);
	int rc = op_wait(op, issue, deadline, abort);
	if (rc == ZOK && stat)
		*stat = op->stat;
	op_put(op);
	return rc;
}

int zkop_children(zhandle_t *zh, const char *path, char ***names, int64_t deadline,
		  const atomic_int *abort)
{
	struct zkop *op = op_new();
	if (!op)
		return ZSYSTEMERROR;
	int rc = op_wait(op, zoo_aget_children(zh, path, 0, strings_done, op), deadline, abort);
	*names = NULL;
	if (rc == ZOK) {
		/* Ownership moves to the caller. */
		pthread_mutex_lock(&op->mu);
		*names = op->names;
		op->names = NULL;
		pthread_mutex_unlock(&op->mu);
	}
	op_put(op);
	return rc;
}

int zkop_add_auth(zhandle_t *zh, const char *scheme, const char *cert, int64_t deadline,
		  const atomic_int *abort)
{
	struct zkop *op = op_new();
	if (!op)
		return ZSYSTEMERROR;
	int rc = op_wait(op, zoo_add_auth(zh, scheme, cert, (int)strlen(cert), void_done, op),
			 deadline, abort);
	op_put(op);
	return rc;
}
