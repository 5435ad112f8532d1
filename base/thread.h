/* Threads we start and never join: workers, the JVM thread, dumpers. */
#ifndef SPARKSHIM_THREAD_H
#define SPARKSHIM_THREAD_H

#include <stddef.h>

/* Start fn(arg) on a detached thread; stack_size 0 = the default.
 * Returns 0, or pthread_create's error number. */
int thread_start_detached(void *(*fn)(void *), void *arg, size_t stack_size);

#endif
