/* Persistent thread pool for kernels: threads are created once; each
 * ep_pool_run hands out task indices [0, ntasks) through an atomic counter to
 * the caller and the workers, and returns when all tasks are done. Workers
 * spin ~50 us between jobs, then sleep on a futex (see pool.c).
 * Ownership: ep_pool_new returns a caller-owned pool (ep_pool_free). One
 * ep_pool_run at a time; fn/ctx are borrowed for the call. */
#ifndef EP_KERN_POOL_H
#define EP_KERN_POOL_H

typedef void (*ep_pool_fn)(void *ctx, int task, int thread);
typedef struct ep_pool ep_pool;

ep_pool *ep_pool_new(int nthreads); /* nthreads counts the caller; >= 1 */
void ep_pool_free(ep_pool *p);
int ep_pool_size(const ep_pool *p);
/* thread argument of fn is in [0, ep_pool_size) (0 = the caller) */
void ep_pool_run(ep_pool *p, int ntasks, ep_pool_fn fn, void *ctx);

#endif
