/* Memory-bandwidth bound for the engine benchmark (issue 9): a STREAM-style triad
 * a[i] = b[i] + s * c[i] over three arrays far above the L3, split over T threads,
 * best of R passes. Prints one JSON line with GB/s counted the STREAM way (3 arrays
 * of 8-byte doubles moved per pass, write-allocate traffic not counted).
 * Not a test: bench/run.sh builds it with cc. Usage: triad [THREADS] [MB_PER_ARRAY] [REPS] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct {
  double *a, *b, *c;
  size_t lo, hi;
  pthread_barrier_t *bar;
  int reps;
  double *best; /* written by thread 0 only */
} triad_part;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *triad_run(void *arg) {
  triad_part *p = arg;
  for (size_t i = p->lo; i < p->hi; i++) { /* first touch on the thread that uses the pages */
    p->a[i] = 0.0;
    p->b[i] = 1.0;
    p->c[i] = 2.0;
  }
  for (int r = 0; r < p->reps; r++) {
    pthread_barrier_wait(p->bar);
    double t0 = now_s();
    for (size_t i = p->lo; i < p->hi; i++) p->a[i] = p->b[i] + 3.0 * p->c[i];
    pthread_barrier_wait(p->bar);
    double t = now_s() - t0;
    if (p->best && t < *p->best) *p->best = t;
  }
  return NULL;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1, mb = argc > 2 ? atoi(argv[2]) : 128, reps = argc > 3 ? atoi(argv[3]) : 8;
  if (threads < 1 || threads > 256 || mb < 1 || mb > 65536 || reps < 1 || reps > 1000) {
    fprintf(stderr, "usage: triad [THREADS 1-256] [MB_PER_ARRAY] [REPS]\n");
    return 2;
  }
  size_t n = ((size_t)mb << 20) / sizeof(double);
  double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
  triad_part *parts = calloc((size_t)threads, sizeof *parts);
  pthread_t *tids = calloc((size_t)threads, sizeof *tids);
  if (!a || !b || !c || !parts || !tids) {
    fprintf(stderr, "triad: out of memory\n");
    return 1;
  }
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, (unsigned)threads);
  double best = 1e30;
  for (int t = 0; t < threads; t++) {
    parts[t] = (triad_part){a, b, c, n * (size_t)t / (size_t)threads, n * (size_t)(t + 1) / (size_t)threads, &bar,
                            reps, t == 0 ? &best : NULL};
    if (t > 0 && pthread_create(&tids[t], NULL, triad_run, &parts[t]) != 0) {
      fprintf(stderr, "triad: cannot start thread\n");
      return 1;
    }
  }
  triad_run(&parts[0]);
  for (int t = 1; t < threads; t++) pthread_join(tids[t], NULL);
  double check = a[n / 2] + a[n - 1];
  printf("{\"triad_threads\":%d,\"triad_mb_per_array\":%d,\"triad_gbps\":%.3f,\"check\":%.1f}\n", threads, mb,
         3.0 * (double)n * sizeof(double) / best / 1e9, check);
  pthread_barrier_destroy(&bar);
  free(a);
  free(b);
  free(c);
  free(parts);
  free(tids);
  return 0;
}
