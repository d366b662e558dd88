/* Fast kernel front end: thread-pool dispatch of matmul (rows of W split
 * across threads, each weight row reused for every input row of the batch)
 * and attention (rows x heads), ISA selection, OpenBLAS for big F32 GEMMs. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "kern/kern_impl.h"
#include "kern/pool.h"

/* F32 GEMMs with at least this many input rows and both sides this wide go to
 * OpenBLAS sgemm (big prefill chunks); smaller ones stay on the row kernel. */
#define BLAS_MIN_ROWS 16
#define BLAS_MIN_DIM 256
/* below this many multiply-adds a call runs on the caller only: a thread
 * hand-off costs more than it saves */
#define KERN_MIN_SPLIT ((size_t)1 << 16)

struct ep_kern {
  ep_pool *pool;
  const ep__isa *isa;
  int use_blas;
  int nthreads;
  float **tbuf;   /* per-thread scratch [tbuf_n floats] */
  size_t tbuf_n;
};

ep_kern *ep_kern_new(int threads, ep_kern_mode mode) {
  if (threads <= 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    threads = n > 0 ? (int)n : 1;
  }
  const char *env = getenv("EP_KERN");
  if (mode == EP_KERN_AUTO && env && strcmp(env, "ref") == 0) mode = EP_KERN_REF;
  ep_kern *k = calloc(1, sizeof *k);
  if (!k) return NULL;
  k->pool = ep_pool_new(threads);
  if (!k->pool) {
    free(k);
    return NULL;
  }
  k->nthreads = ep_pool_size(k->pool);
  k->tbuf = calloc((size_t)k->nthreads, sizeof *k->tbuf);
  if (!k->tbuf) {
    ep_kern_free(k);
    return NULL;
  }
  k->isa = (mode == EP_KERN_AUTO && ep__avx2_available()) ? &ep__isa_avx2 : &ep__isa_scalar;
  k->use_blas = mode == EP_KERN_AUTO && !(env && strcmp(env, "noblas") == 0);
  return k;
}

void ep_kern_free(ep_kern *k) {
  if (!k) return;
  ep_pool_free(k->pool);
  for (int i = 0; k->tbuf && i < k->nthreads; i++) free(k->tbuf[i]);
  free(k->tbuf);
  free(k);
}

int ep_kern_threads(const ep_kern *k) { return k->nthreads; }
const char *ep_kern_isa(const ep_kern *k) { return k->isa->name; }

static int kern_reserve(ep_kern *k, size_t n) {
  if (n <= k->tbuf_n) return EP_OK;
  for (int i = 0; i < k->nthreads; i++) {
    float *b = realloc(k->tbuf[i], n * sizeof(float));
    if (!b) return EP_ENOMEM;
    k->tbuf[i] = b;
  }
  k->tbuf_n = n;
  return EP_OK;
}

/* ---- matmul ---- */
typedef struct {
  ep_kern *k;
  float *y;
  const float *x;
  const uint8_t *w;
  ep_kern_wtype wt;
  const float *bias;
  int n, in, out, chunk, convert;
  size_t wsize;
} mm_job;

static void mm_task(void *ctx, int task, int thread) {
  mm_job *j = ctx;
  int o0 = task * j->chunk, o1 = o0 + j->chunk < j->out ? o0 + j->chunk : j->out;
  ep__dot_fn dot = j->k->isa->dot[j->wt];
  for (int o = o0; o < o1; o++) {
    const void *wr = j->w + (size_t)o * j->in * j->wsize;
    float b = j->bias ? j->bias[o] : 0.0f;
    if (j->convert) { /* many input rows: widen the weight row once */
      float *row = j->k->tbuf[thread];
      j->k->isa->cvt[j->wt](row, wr, j->in);
      ep__dot_fn d32 = j->k->isa->dot[EP_KW_F32];
      for (int i = 0; i < j->n; i++) j->y[(size_t)i * j->out + o] = d32(j->x + (size_t)i * j->in, row, j->in) + b;
    } else {
      for (int i = 0; i < j->n; i++) j->y[(size_t)i * j->out + o] = dot(j->x + (size_t)i * j->in, wr, j->in) + b;
    }
  }
}

void ep_kern_matmul(ep_kern *k, float *y, const float *x, const void *w, ep_kern_wtype wt,
                    const float *bias, int n, int in, int out) {
  if (n <= 0 || out <= 0) return;
  if (k->use_blas && wt == EP_KW_F32 && n >= BLAS_MIN_ROWS && in >= BLAS_MIN_DIM &&
      out >= BLAS_MIN_DIM) {
    if (bias)
      for (int i = 0; i < n; i++) memcpy(y + (size_t)i * out, bias, (size_t)out * sizeof(float));
    openblas_set_num_threads(k->nthreads);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, (const float *)w,
                in, bias ? 1.0f : 0.0f, y, out);
    return;
  }
  mm_job j = {k, y, x, w, wt, bias, n, in, out, 0, 0, wt == EP_KW_F32 ? 4 : 2};
  j.convert = wt != EP_KW_F32 && n >= 4 && kern_reserve(k, (size_t)in) == EP_OK;
  /* ~4 tasks per thread for balance, at least 8 rows per task */
  int tasks = k->nthreads == 1 || (size_t)n * in * out < KERN_MIN_SPLIT ? 1 : k->nthreads * 4;
  j.chunk = (out + tasks - 1) / tasks;
  if (j.chunk < 8) j.chunk = 8;
  if (tasks == 1) j.chunk = out;
  tasks = (out + j.chunk - 1) / j.chunk;
  ep_pool_run(k->pool, tasks, mm_task, &j);
}

/* ---- attention ---- */
typedef struct {
  ep_kern *k;
  const ep_attn_row *rows;
  int kv_stride, n_head, n_kv, hd;
} at_job;

static void at_task(void *ctx, int task, int thread) {
  at_job *j = ctx;
  const ep_attn_row *r = &j->rows[task / j->n_head];
  int h = task % j->n_head, hd = j->hd;
  int kvh = h / (j->n_head / j->n_kv);
  float *s = j->k->tbuf[thread];
  ep__dot_fn dot = j->k->isa->dot[EP_KW_F32];
  float scale = 1.0f / sqrtf((float)hd);
  const float *q = r->q + (size_t)h * hd;
  for (int t = 0; t < r->n_pos; t++)
    s[t] = dot(q, r->k + (size_t)t * j->kv_stride + (size_t)kvh * hd, hd) * scale;
  ep_ref_softmax(s, r->n_pos);
  float *o = r->out + (size_t)h * hd;
  memset(o, 0, (size_t)hd * sizeof(float));
  for (int t = 0; t < r->n_pos; t++) {
    const float *v = r->v + (size_t)t * j->kv_stride + (size_t)kvh * hd;
    float a = s[t];
    for (int d = 0; d < hd; d++) o[d] += a * v[d];
  }
}

int ep_kern_attention(ep_kern *k, const ep_attn_row *rows, int nrows, int kv_stride, int n_head,
                      int n_kv, int hd) {
  int maxpos = 0;
  for (int i = 0; i < nrows; i++) maxpos = rows[i].n_pos > maxpos ? rows[i].n_pos : maxpos;
  if (kern_reserve(k, (size_t)maxpos) != EP_OK) return EP_ENOMEM;
  at_job j = {k, rows, kv_stride, n_head, n_kv, hd};
  size_t work = 0;
  for (int i = 0; i < nrows; i++) work += (size_t)rows[i].n_pos * n_head * hd * 2;
  if (work < KERN_MIN_SPLIT) {
    for (int t = 0; t < nrows * n_head; t++) at_task(&j, t, 0);
    return EP_OK;
  }
  ep_pool_run(k->pool, nrows * n_head, at_task, &j);
  return EP_OK;
}
