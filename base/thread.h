/* Threads we start: workers, monitors, the JVM thread, dumpers. Every one
 * gets an explicit stack size (glibc's default is 8 MiB of address space
 * per thread, ulimit -s). */
#ifndef SPARKSHIM_THREAD_H
#define SPARKSHIM_THREAD_H

#include <pthread.h>
#include <stddef.h>

/* Our C-only threads (probe, output tap, jobs, registry monitors, control
 * server pollers, pruner, dump waiter): their deepest paths (ZooKeeper and
 * gRPC client calls, getaddrinfo, logging) use well under 64 KiB. */
#define THREAD_STACK_WORKER (256u << 10)
/* Threads attached to the JVM that run Java code (thread dumps). */
#define THREAD_STACK_JNI (1u << 20)

/* Start fn(arg) on a thread with the given stack size (0 = WORKER);
 * joinable (its id in *out, which may be NULL only when detached) or
 * detached. Returns 0, or pthread_create's error number. */
int thread_start(pthread_t *out, void *(*fn)(void *), void *arg, size_t stack_size,
		 int detached);

/* Start fn(arg) on a detached thread; stack_size 0 = THREAD_STACK_WORKER.
 * Returns 0, or pthread_create's error number. */
int thread_start_detached(void *(*fn)(void *), void *arg, size_t stack_size);

#endif
