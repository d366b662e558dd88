/* Thread pool: generation counter + atomic task index. The caller publishes
 * a job by bumping the generation in `job`; everyone claims task indices with
 * a CAS on the (generation, index) pair and the caller waits only for the
 * tasks to finish, never for a descheduled worker (2-core boxes are often
 * oversubscribed). A task of an old generation can never be claimed. */
#include "kern/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
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
  _Atomic uint64_t job;  /* (generation << 32) | next task index */
  atomic_int ntasks;
  atomic_int done;       /* tasks finished in this generation */
  atomic_int stop;
  ep_pool_fn fn;         /* read only after claiming a task of the live generation */
  void *ctx;
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* Claims tasks of generation g until none are left. A task can only be
 * claimed while the caller still waits for it, so fn/ctx are stable. */
static void pool_work(ep_pool *p, uint64_t g, int id) {
  for (;;) {
    uint64_t v = atomic_load_explicit(&p->job, memory_order_acquire);
    if ((v >> 32) != g || (int)(v & 0xffffffffu) >= atomic_load_explicit(&p->ntasks, memory_order_relaxed))
      return;
    if (!atomic_compare_exchange_weak_explicit(&p->job, &v, v + 1, memory_order_acq_rel, memory_order_relaxed))
      continue;
    p->fn(p->ctx, (int)(v & 0xffffffffu), id);
    atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
  }
}

static void *pool_main(void *arg) {
  pool_arg *a = arg;
  ep_pool *p = a->pool;
  uint64_t seen = 0;
  for (;;) {
    uint64_t g;
    int spins = 0;
    while ((g = atomic_load_explicit(&p->job, memory_order_acquire) >> 32) == seen &&
           !atomic_load(&p->stop)) {
      if (++spins < POOL_SPIN) {
        cpu_relax();
        continue;
      }
      pthread_mutex_lock(&p->mu);
      while ((atomic_load(&p->job) >> 32) == seen && !atomic_load(&p->stop)) pthread_cond_wait(&p->cv, &p->mu);
      pthread_mutex_unlock(&p->mu);
    }
    if (atomic_load(&p->stop)) return NULL;
    seen = g;
    pool_work(p, g, a->id);
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
  atomic_store_explicit(&p->ntasks, ntasks, memory_order_relaxed);
  atomic_store_explicit(&p->done, 0, memory_order_relaxed);
  uint64_t g = (atomic_load_explicit(&p->job, memory_order_relaxed) >> 32) + 1;
  pthread_mutex_lock(&p->mu);
  atomic_store_explicit(&p->job, g << 32, memory_order_release);
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  pool_work(p, g, 0);
  /* a worker that never woke up for this job is not waited for */
  int spins = 0;
  while (atomic_load_explicit(&p->done, memory_order_acquire) < ntasks)
    if (++spins > POOL_SPIN) sched_yield();
    else cpu_relax();
}
