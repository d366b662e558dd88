/* Threaded row and element ops (norms, RoPE, activations) for the model
 * forward: each splits its rows/elements across the pool only when the op is
 * large enough to pay for a hand-off (prefill chunks), else it runs on the
 * caller. Each slice runs the ep_ref_* kernel, so results are bitwise those
 * of the reference whatever the thread count; SwiGLU and RMSNorm are the
 * exceptions with AVX2 (ep__swiglu_avx2, vector exp: within 1e-6 relative,
 * 2048 values of a decode step in ~1 us instead of ~10 us of scalar expf;
 * ep__rmsnorm_avx2: the sum of squares in lanes, ~0.15 us instead of ~1 us per
 * 768-value row). Both stay per-row / per-element: batch invariant. */
#include "kern/kern_impl.h"
#include "kern/pool.h"

/* elements below which an op stays on the caller: ~30-100 us of work */
#define ROWS_MIN_SPLIT_ELEMS ((size_t)1 << 16)
#define ACT_MIN_SPLIT_ELEMS ((size_t)1 << 14) /* tanh/exp per element */

typedef enum { OP_LN, OP_RMS, OP_GELU, OP_SWIGLU, OP_ROPE } row_op;

typedef struct {
  row_op op;
  float *y;
  const float *x, *w, *b;
  int n, d, ntasks, avx2;
  float eps;
  size_t len;        /* activations: elements */
  size_t stride;     /* rope: floats between rows */
  int n_head, hd;    /* rope */
  const float *cs;   /* rope: ep_rope_cs rows */
} row_job;

static void span(int task, int ntasks, size_t total, size_t *a, size_t *b) {
  *a = total * (size_t)task / (size_t)ntasks;
  *b = total * (size_t)(task + 1) / (size_t)ntasks;
}

static void row_task(void *ctx, int task, int thread) {
  (void)thread;
  const row_job *j = ctx;
  size_t a, b;
  if (j->op == OP_GELU || j->op == OP_SWIGLU) {
    span(task, j->ntasks, j->len / 8, &a, &b); /* 8-element aligned slices */
    a *= 8, b = task == j->ntasks - 1 ? j->len : b * 8;
    if (j->op == OP_GELU) ep_ref_gelu_tanh(j->y + a, (int)(b - a));
    else if (j->avx2) ep__swiglu_avx2(j->y + a, j->x + a, b - a);
    else ep_ref_swiglu(j->y + a, j->x + a, (int)(b - a));
    return;
  }
  span(task, j->ntasks, (size_t)j->n, &a, &b);
  size_t off = a * (size_t)j->d;
  switch (j->op) {
    case OP_LN: ep_ref_layernorm(j->y + off, j->x + off, j->w, j->b, (int)(b - a), j->d, j->eps); break;
    case OP_RMS:
      if (j->avx2) ep__rmsnorm_avx2(j->y + off, j->x + off, j->w, (int)(b - a), j->d, j->eps);
      else ep_ref_rmsnorm(j->y + off, j->x + off, j->w, (int)(b - a), j->d, j->eps);
      break;
    default:
      for (size_t r = a; r < b; r++) ep_ref_rope_cs(j->y + r * j->stride, j->n_head, j->hd, j->cs + r * j->hd);
      break;
  }
}

static void row_run(ep_kern *k, row_job *j, size_t elems, size_t min_split, size_t units) {
  int th = ep_kern_threads(k);
  j->ntasks = 1;
  if (th > 1 && elems >= min_split) j->ntasks = units < (size_t)th ? (int)units : th;
  if (j->ntasks < 1) j->ntasks = 1;
  ep_pool_run(ep__kern_pool(k), j->ntasks, row_task, j);
}

void ep_kern_layernorm(ep_kern *k, float *y, const float *x, const float *w, const float *b, int n, int d,
                       float eps) {
  if (n <= 0) return;
  row_job j = {.op = OP_LN, .y = y, .x = x, .w = w, .b = b, .n = n, .d = d, .eps = eps};
  row_run(k, &j, (size_t)n * d, ROWS_MIN_SPLIT_ELEMS, (size_t)n);
}

void ep_kern_rmsnorm(ep_kern *k, float *y, const float *x, const float *w, int n, int d, float eps) {
  if (n <= 0) return;
  row_job j = {.op = OP_RMS, .y = y, .x = x, .w = w, .n = n, .d = d, .eps = eps, .avx2 = ep_kern_has_avx2(k)};
  row_run(k, &j, (size_t)n * d, ROWS_MIN_SPLIT_ELEMS, (size_t)n);
}

void ep_kern_gelu_tanh(ep_kern *k, float *x, size_t n) {
  if (n == 0) return;
  row_job j = {.op = OP_GELU, .y = x, .len = n};
  row_run(k, &j, n, ACT_MIN_SPLIT_ELEMS, n / 8 ? n / 8 : 1);
}

void ep_kern_swiglu(ep_kern *k, float *g, const float *u, size_t n) {
  if (n == 0) return;
  row_job j = {.op = OP_SWIGLU, .y = g, .x = u, .len = n, .avx2 = ep_kern_has_avx2(k)};
  row_run(k, &j, n, ACT_MIN_SPLIT_ELEMS, n / 8 ? n / 8 : 1);
}

void ep_kern_rope(ep_kern *k, float *x, int nrows, size_t stride, int n_head, int hd, const float *cs) {
  if (nrows <= 0) return;
  row_job j = {.op = OP_ROPE, .y = x, .n = nrows, .stride = stride, .n_head = n_head, .hd = hd, .cs = cs};
  /* 4 multiply-adds per pair: weigh like an activation */
  row_run(k, &j, (size_t)nrows * n_head * hd, ACT_MIN_SPLIT_ELEMS, (size_t)nrows);
}
