/* Thread pool: generation counter + atomic task index. The caller publishes
 * a job by bumping the generation in `job`; everyone (caller included) claims
 * task indices with a CAS on the (generation, index) pair, so a task of an
 * old generation can never be claimed. Waiting is spin-then-sleep on both
 * sides: idle workers spin ~EP_POOL_SPIN_US (default 50 us: covers the gaps
 * between the matmuls of one decode step) and then sleep on a futex on the
 * generation word; the caller, once out of tasks, spins as long and then
 * sleeps on a futex on the done counter, woken by the last finisher. Nobody
 * busy-waits or sched_yield()s for long, which on an oversubscribed 2-core
 * box used to starve the very worker the caller was waiting for. */
#include "kern/pool.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  ep_pool *pool;
  int id;
} pool_arg;

struct ep_pool {
  int n; /* threads including the caller */
  pthread_t *th;
  pool_arg *args;
  int64_t spin_ns;
  _Atomic uint64_t job;  /* (generation << 32) | next task index */
  atomic_uint gen;       /* futex word: generation of the latest job */
  atomic_int sleepers;   /* workers asleep (or about to be) on gen */
  atomic_int ntasks;
  atomic_int done;       /* futex word: tasks finished in this generation */
  atomic_int waiter;     /* caller asleep (or about to be) on done */
  atomic_int stop;
  ep_pool_fn fn;         /* read only after claiming a task of the live generation */
  void *ctx;
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void futex_wait(void *addr, unsigned val) {
  syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}
static void futex_wake(void *addr, int n) { syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0); }

/* spins while *w == v for at most spin_ns; returns 1 if it changed */
static int spin_while(atomic_uint *w, unsigned v, int64_t spin_ns, atomic_int *stop) {
  int64_t t0 = 0;
  for (unsigned i = 0;; i++) {
    if (atomic_load_explicit(w, memory_order_acquire) != v || (stop && atomic_load(stop))) return 1;
    if ((i & 63) == 63) {
      int64_t t = now_ns();
      if (!t0) t0 = t;
      else if (t - t0 >= spin_ns) return 0;
    }
    cpu_relax();
  }
}

/* Claims tasks of generation g until none are left. A task can only be
 * claimed while the caller still waits for it, so fn/ctx are stable. */
static void pool_work(ep_pool *p, uint64_t g, int id) {
  for (;;) {
    uint64_t v = atomic_load_explicit(&p->job, memory_order_acquire);
    int nt = atomic_load_explicit(&p->ntasks, memory_order_relaxed);
    if ((v >> 32) != g || (int)(v & 0xffffffffu) >= nt) return;
    if (!atomic_compare_exchange_weak_explicit(&p->job, &v, v + 1, memory_order_acq_rel, memory_order_relaxed))
      continue;
    p->fn(p->ctx, (int)(v & 0xffffffffu), id);
    if (atomic_fetch_add(&p->done, 1) + 1 == nt && atomic_load(&p->waiter)) futex_wake(&p->done, 1);
  }
}

static void *pool_main(void *arg) {
  pool_arg *a = arg;
  ep_pool *p = a->pool;
  unsigned seen = 0;
  for (;;) {
    if (!spin_while(&p->gen, seen, p->spin_ns, &p->stop)) {
      atomic_fetch_add(&p->sleepers, 1); /* seq_cst: pairs with the publisher's store + load */
      while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop)) futex_wait(&p->gen, seen);
      atomic_fetch_sub(&p->sleepers, 1);
    }
    if (atomic_load(&p->stop)) return NULL;
    seen = atomic_load_explicit(&p->gen, memory_order_acquire);
    pool_work(p, seen, a->id);
  }
}

ep_pool *ep_pool_new(int nthreads) {
  if (nthreads < 1) nthreads = 1;
  ep_pool *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->n = nthreads;
  const char *env = getenv("EP_POOL_SPIN_US");
  long us = env ? atol(env) : 50;
  p->spin_ns = (us < 0 ? 0 : us > 100000 ? 100000 : us) * 1000;
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
  atomic_store(&p->stop, 1);
  atomic_fetch_add(&p->gen, 1);
  futex_wake(&p->gen, INT_MAX);
  for (int i = 0; p->th && i < p->n - 1; i++) pthread_join(p->th[i], NULL);
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
  unsigned g = atomic_load_explicit(&p->gen, memory_order_relaxed) + 1;
  atomic_store_explicit(&p->job, (uint64_t)g << 32, memory_order_release);
  atomic_store(&p->gen, g); /* seq_cst, then read sleepers (see pool_main) */
  if (atomic_load(&p->sleepers) > 0) futex_wake(&p->gen, INT_MAX);
  pool_work(p, g, 0);
  /* wait for tasks claimed by workers: spin, then sleep until the last one */
  if (atomic_load_explicit(&p->done, memory_order_acquire) >= ntasks) return;
  int64_t t0 = now_ns();
  for (unsigned i = 0; atomic_load_explicit(&p->done, memory_order_acquire) < ntasks; i++) {
    if ((i & 63) == 63 && now_ns() - t0 >= p->spin_ns) break;
    cpu_relax();
  }
  atomic_store(&p->waiter, 1);
  for (;;) {
    int d = atomic_load(&p->done);
    if (d >= ntasks) break;
    futex_wait(&p->done, (unsigned)d);
  }
  atomic_store(&p->waiter, 0);
}
