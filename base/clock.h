/* Time helpers shared by every module that waits: monotonic for deadlines
 * (immune to wall-clock jumps), wall clock only for what is shown to people
 * or compared with Spark's epoch timestamps. */
#ifndef SPARKSHIM_CLOCK_H
#define SPARKSHIM_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

int64_t monotonic_ms(void);
int64_t epoch_ms(void);
/* The absolute time ms from now on clock clk (for pthread_cond_timedwait). */
struct timespec deadline_after(clockid_t clk, int64_t ms);
/* A condition variable whose timed waits use CLOCK_MONOTONIC. */
void cond_init_monotonic(pthread_cond_t *cv);

#endif
