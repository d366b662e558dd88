/* Thread pool: generation counter + atomic task index. The caller publishes
 * a job by bumping `gen`; each worker runs tasks until the index passes
 * ntasks, then counts itself finished. The caller waits for every worker, so
 * a job's fn/ctx are never used after ep_pool_run returns. */
#include "kern/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#define POOL_SPIN 20000

typedef struct {
  ep_pool *pool;
  int id;
} pool_arg;

struct ep_pool {
  int n; /* threads including the caller */
  pthread_t *th;
  pool_arg *args;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  atomic_uint gen;
  atomic_int next;
  atomic_int finished;
  atomic_int stop;
  int ntasks;
  ep_pool_fn fn;
  void *ctx;
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static void pool_work(ep_pool *p, int id) {
  int t;
  while ((t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed)) < p->ntasks)
    p->fn(p->ctx, t, id);
}

static void *pool_main(void *arg) {
  pool_arg *a = arg;
  ep_pool *p = a->pool;
  unsigned seen = 0;
  for (;;) {
    unsigned g;
    int spins = 0;
    while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
           !atomic_load(&p->stop)) {
      if (++spins < POOL_SPIN) {
        cpu_relax();
        continue;
      }
      pthread_mutex_lock(&p->mu);
      while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop)) pthread_cond_wait(&p->cv, &p->mu);
      pthread_mutex_unlock(&p->mu);
    }
    if (atomic_load(&p->stop)) return NULL;
    seen = g;
    pool_work(p, a->id);
    atomic_fetch_add_explicit(&p->finished, 1, memory_order_release);
  }
}

ep_pool *ep_pool_new(int nthreads) {
  if (nthreads < 1) nthreads = 1;
  ep_pool *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->n = nthreads;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  if (nthreads > 1) {
    p->th = calloc((size_t)nthreads - 1, sizeof *p->th);
    p->args = calloc((size_t)nthreads - 1, sizeof *p->args);
    if (!p->th || !p->args) {
      ep_pool_free(p);
      return NULL;
    }
    for (int i = 0; i < nthreads - 1; i++) {
      p->args[i] = (pool_arg){p, i + 1};
      if (pthread_create(&p->th[i], NULL, pool_main, &p->args[i]) != 0) {
        p->n = i + 1; /* run with the threads we got */
        break;
      }
    }
  }
  return p;
}

void ep_pool_free(ep_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  atomic_store(&p->stop, 1);
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; p->th && i < p->n - 1; i++) pthread_join(p->th[i], NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free(p->th);
  free(p->args);
  free(p);
}

int ep_pool_size(const ep_pool *p) { return p->n; }

void ep_pool_run(ep_pool *p, int ntasks, ep_pool_fn fn, void *ctx) {
  if (ntasks <= 0) return;
  if (p->n == 1 || ntasks == 1) {
    for (int t = 0; t < ntasks; t++) fn(ctx, t, 0);
    return;
  }
  p->fn = fn;
  p->ctx = ctx;
  p->ntasks = ntasks;
  atomic_store_explicit(&p->next, 0, memory_order_relaxed);
  atomic_store_explicit(&p->finished, 0, memory_order_relaxed);
  pthread_mutex_lock(&p->mu);
  atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  pool_work(p, 0);
  int spins = 0;
  while (atomic_load_explicit(&p->finished, memory_order_acquire) < p->n - 1)
    if (++spins > POOL_SPIN) sched_yield();
    else cpu_relax();
}
