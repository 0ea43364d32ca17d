/*
 * rt_pool.h: a fixed pool of worker threads for the CPU kernels.
 *
 * Created once at start-up; rt_pool_run() splits an index range into chunks
 * and blocks until every chunk is done. Nothing is allocated per call.
 * A pool of size 1 runs everything on the calling thread.
 */
#ifndef RT_POOL_H
#define RT_POOL_H

#include <stdint.h>

typedef struct rt_pool rt_pool;

/* fn handles indices [begin, end); thread is in 0..rt_pool_size()-1 and is
 * unique among the chunks running at the same time (for per-thread scratch). */
typedef void (*rt_task_fn)(void *arg, int64_t begin, int64_t end, int thread);

/* n_threads <= 0: one per online core (or $DLC_THREADS when set).
 * NULL when the threads cannot be started. */
rt_pool *rt_pool_create(int n_threads);
void rt_pool_destroy(rt_pool *pool);
int rt_pool_size(const rt_pool *pool); /* 1 for a NULL pool */

/* Run fn over [0, n) in chunks of at least `grain` indices. pool may be NULL.
 * Not re-entrant: fn must not call rt_pool_run() on the same pool. */
void rt_pool_run(rt_pool *pool, int64_t n, int64_t grain, rt_task_fn fn, void *arg);

#endif
