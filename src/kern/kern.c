/* Fast kernel front end: thread-pool dispatch of matmul (rows of W split
 * across threads, register tiles reuse each weight load for the batch rows;
 * several outputs of one input share a dispatch; Q8 activations quantised once)
 * and attention (rows x heads), ISA selection, OpenBLAS for big F32/F16/BF16
 * GEMMs. */
#include <cblas.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "kern/kern_impl.h"
#include "kern/pool.h"

/* F32 GEMMs with at least this many input rows and both sides this wide go to
 * OpenBLAS sgemm (big prefill chunks); smaller ones stay on the row kernel,
 * whose 4 x 3 tile keeps each weight block in L1 over the rows, where sgemm
 * packs the whole weight matrix on every call. Crossover (llama-124m, 2
 * threads, prefill tok/s, row kernel vs sgemm): 16 rows 466 vs 386, 32 rows
 * 616 vs 557, 40 rows 577 vs 597, 48 rows 599 vs 628; int8 32 rows 566 vs 516,
 * bf16 24 rows 350 vs 273. Short prompts, and the prompts of several streams
 * starting together (8 x ~5 tokens), stay below it. */
#define BLAS_MIN_ROWS 40
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
  uint8_t *qbuf;  /* Q8-quantised activation rows [qbuf_n bytes] */
  size_t qbuf_n;
  float *xdq;     /* Q8 activations dequantised for the sgemm path [xdq_n floats] */
  size_t xdq_n;
  float *xal;     /* 64-byte aligned copy of misaligned matmul inputs [xal_n floats] */
  size_t xal_n;
};

/* EP_KERN=avx512-simde / avx512vnni-simde: the SIMDe build of the AVX-512
 * tables (kern_avx512.c compiled against SIMDe), so the engine tests run the
 * AVX-512 kernels on CPUs without AVX-512. Weak: present only in executables
 * that link the ep_kern_simde object library (tests); elsewhere the names are
 * ignored (auto). */
extern const ep__isa ep__isa_avx512_simde __attribute__((weak));
extern const ep__isa ep__isa_avx512_vnni_simde __attribute__((weak));

static const ep__isa *kern_simde_isa(const char *env) {
  if (!env) return NULL;
  if (strcmp(env, "avx512-simde") == 0) return &ep__isa_avx512_simde;
  if (strcmp(env, "avx512vnni-simde") == 0) return &ep__isa_avx512_vnni_simde;
  return NULL;
}

ep_kern *ep_kern_new(int threads, ep_kern_mode mode) {
  if (threads <= 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    threads = n > 0 ? (int)n : 1;
  }
  const char *env = getenv("EP_KERN");
  if (mode == EP_KERN_AUTO && env && strcmp(env, "ref") == 0) mode = EP_KERN_REF;
  if (mode == EP_KERN_AUTO && env && strcmp(env, "avx2") == 0) mode = EP_KERN_AVX2;
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
  int a5 = mode == EP_KERN_AUTO ? ep__avx512_available() : 0;
  k->isa = a5 == 2                                       ? &ep__isa_avx512_vnni
           : a5 == 1                                     ? &ep__isa_avx512
           : mode != EP_KERN_REF && ep__avx2_available() ? &ep__isa_avx2
                                                         : &ep__isa_scalar;
  const ep__isa *sim = mode == EP_KERN_AUTO && ep__avx2_available() ? kern_simde_isa(env) : NULL;
  if (sim) k->isa = sim; /* its avx2 flag: the AVX2 helpers run natively beside it */
  k->use_blas = mode != EP_KERN_REF && !(env && strcmp(env, "noblas") == 0);
  if (k->use_blas) openblas_set_num_threads(1);
  return k;
}

void ep_kern_free(ep_kern *k) {
  if (!k) return;
  ep_pool_free(k->pool);
  for (int i = 0; k->tbuf && i < k->nthreads; i++) free(k->tbuf[i]);
  free(k->tbuf);
  free(k->qbuf);
  free(k->xdq);
  free(k->xal);
  free(k);
}

int ep_kern_threads(const ep_kern *k) { return k->nthreads; }
ep_pool *ep__kern_pool(ep_kern *k) { return k->pool; }
const char *ep_kern_isa(const ep_kern *k) { return k->isa->name; }
int ep_kern_has_avx2(const ep_kern *k) { return k->isa->avx2; }

/* per-thread scratch, 64-byte aligned (widened weight rows feed the register
 * tiles); contents are not kept when it grows */
static int kern_reserve(ep_kern *k, size_t n) {
  if (n <= k->tbuf_n) return EP_OK;
  n = (n + 15) & ~(size_t)15;
  for (int i = 0; i < k->nthreads; i++) {
    float *b = aligned_alloc(64, n * sizeof(float));
    if (!b) return EP_ENOMEM;
    free(k->tbuf[i]);
    k->tbuf[i] = b;
  }
  k->tbuf_n = n;
  return EP_OK;
}

/* ---- matmul ---- */
#define MM_MAX_OUTS 4
#ifndef MM_GRAIN_BYTES
#define MM_GRAIN_BYTES ((size_t)32 << 10)
#endif

/* Rows of all outputs form one row space [0, total) (output i starts at
 * start[i]). Each thread taking part claims ranges of it from `next` until none
 * are left ("guided": a claim is the unclaimed rest / (2 x threads), at least
 * `grain` rows), so the threads read long contiguous runs of W at first and
 * finish within one small claim of each other, whichever started late or was
 * slowed down. Every output row is computed whole by one call, so results do
 * not depend on how rows were claimed. */
typedef struct {
  ep_kern *k;
  const float *x;
  const uint8_t *xq; /* Q8 rows of x (only when some output is Q8) */
  size_t xqs;        /* bytes per Q8 row */
  const ep_mm_out *outs;
  int nouts, n, in;
  int start[MM_MAX_OUTS + 1]; /* first row of each output in the row space; start[nouts] = total */
  int grain, split;           /* claims: multiples of grain rows; split = threads sharing the rows */
  _Alignas(64) atomic_int next; /* first unclaimed row (own cache line: claims do not evict the rest) */
} mm_job;

/* rows [r0, r1) of the row space, output by output */
static void mm_rows(const mm_job *j, int r0, int r1) {
  const ep__isa *isa = j->k->isa;
  for (int oi = 0; oi < j->nouts && r0 < r1; oi++) {
    int a = r0 > j->start[oi] ? r0 : j->start[oi], b = r1 < j->start[oi + 1] ? r1 : j->start[oi + 1];
    if (a >= b) continue;
    const ep_mm_out *op = &j->outs[oi];
    int o0 = a - j->start[oi], no = b - a;
    size_t wrb = ep_kern_row_bytes(op->wt, j->in);
    const uint8_t *w = (const uint8_t *)op->w + (size_t)o0 * wrb;
    const float *bias = op->bias ? op->bias + o0 : NULL;
    float *y = op->y + o0;
    if (op->wt == EP_KW_Q8) {
      isa->mm[EP_KW_Q8](y, (size_t)op->out, j->xq, j->xqs, j->n, w, wrb, no, j->in, bias);
    } else { /* F16/BF16 rows are widened per 8 values in registers, for any batch */
      isa->mm[op->wt](y, (size_t)op->out, j->x, (size_t)j->in * 4, j->n, w, wrb, no, j->in, bias);
    }
  }
}

static void mm_task(void *ctx, int task, int thread) {
  (void)task, (void)thread;
  mm_job *j = ctx;
  int total = j->start[j->nouts];
  for (;;) {
    int cur = atomic_load_explicit(&j->next, memory_order_relaxed);
    int rem = total - cur;
    if (rem <= 0) return;
    int c = rem / (2 * j->split);
    c = (c + j->grain - 1) / j->grain * j->grain;
    if (c < j->grain) c = j->grain;
    if (c > rem) c = rem;
    if (atomic_compare_exchange_weak_explicit(&j->next, &cur, cur + c, memory_order_relaxed,
                                              memory_order_relaxed))
      mm_rows(j, cur, cur + c);
  }
}

/* The 4 x 3 tile loads 8 floats at a time from every input row: rows that
 * start off a 32-byte boundary split half of those loads across cache lines
 * (measured: 1.45x the time for 4+ rows with W in L2); AVX-512 loads 16, so
 * there rows need 64-byte alignment. Misaligned inputs
 * (large mallocs give 16) are copied once to aligned scratch; NULL when that
 * scratch cannot grow. */
static const float *kern_aligned_x(ep_kern *k, const float *x, int n, int in) {
  size_t nf = (size_t)n * in;
  uintptr_t amask = (uintptr_t)k->isa->align - 1;
  if (((uintptr_t)x & amask) == 0) return x;
  if (nf > k->xal_n) {
    size_t cap = (nf + 15) & ~(size_t)15;
    float *b = aligned_alloc(64, cap * sizeof(float));
    if (!b) return NULL;
    free(k->xal);
    k->xal = b;
    k->xal_n = cap;
  }
  memcpy(k->xal, x, nf * sizeof(float));
  return k->xal;
}

static int kern_reserve_q(ep_kern *k, size_t bytes) {
  if (bytes <= k->qbuf_n) return EP_OK;
  uint8_t *b = realloc(k->qbuf, bytes);
  if (!b) return EP_ENOMEM;
  k->qbuf = b;
  k->qbuf_n = bytes;
  return EP_OK;
}

/* Big GEMMs (prefill chunks): OpenBLAS kept single-threaded (its own pool
 * busy-waits after each call and fights ours on a small, shared box); the
 * columns of y (rows of W) are split across our pool instead, one sgemm per
 * task. F16/BF16 rows are first widened exactly to F32 in the task's scratch
 * (chunks of at most ~1 MB), so they get the same sgemm as F32 weights; Q8
 * rows are dequantised the same way and multiplied with the dequantised Q8
 * activations, i.e. the int8 product sum_b (sx*sw)*sum(qx*qw) evaluated in
 * float (equal to the int8 kernels up to float rounding, like F32's sgemm). */
#define BLAS_CVT_CHUNK_FLOATS ((size_t)1 << 18)
/* With AVX2, Q8 rows skip sgemm: the Q8-rounded x is laid out once per call as panels
 * of 16 tokens [ceil(n/16)][in][16] (kern_xdq), and each task computes its block of
 * y^T with kern_gemm.c's register tile (ep__gemm_panels_acc): per K block of
 * Q8_PANEL_KC columns its W rows are dequantised (row-major, no transpose) and broadcast
 * against the x panels; y^T is transposed into y at the end (small next to the GEMM). */
#define Q8_PANEL_KC 256
#define Q8_PANEL_MAX_ROWS 512

typedef struct {
  ep_kern *k;
  const float *x;
  const ep_mm_out *op;
  int n, in, chunk, panels;
} blas_job;

static void blas_task(void *ctx, int task, int thread) {
  const blas_job *j = ctx;
  const ep_mm_out *op = j->op;
  int o0 = task * j->chunk, no = op->out - o0 < j->chunk ? op->out - o0 : j->chunk;
  float *y = op->y + o0;
  const float *w = (const float *)op->w + (size_t)o0 * j->in;
  if (j->panels) { /* y^T block = W rows (dequantised per K block) x the x panels */
    size_t rb = ep_kern_row_bytes(op->wt, j->in);
    int np = (j->n + 15) & ~15;
    float *wd = j->k->tbuf[thread], *ct = wd + (size_t)j->chunk * Q8_PANEL_KC;
    const uint8_t *w0 = (const uint8_t *)op->w + (size_t)o0 * rb;
    for (int kb = 0; kb < j->in; kb += Q8_PANEL_KC) {
      int kc = j->in - kb < Q8_PANEL_KC ? j->in - kb : Q8_PANEL_KC;
      for (int r = 0; r < no; r++) /* kb is a multiple of the Q8 block */
        ep__q8_to_f32(wd + (size_t)r * Q8_PANEL_KC, w0 + (size_t)r * rb + (size_t)kb / EP_Q8_BLOCK * EP_Q8_BLOCK_BYTES,
                      (size_t)kc);
      ep__gemm_panels_acc(ct, (size_t)np, wd, Q8_PANEL_KC, no, kc, j->x + (size_t)kb * 16, (size_t)j->in * 16, np,
                          NULL, kb == 0);
    }
    for (int t = 0; t < j->n; t++) {
      float *yt = y + (size_t)t * op->out;
      for (int r = 0; r < no; r++) yt[r] = ct[(size_t)r * np + t] + (op->bias ? op->bias[o0 + r] : 0.0f);
    }
    return;
  }
  if (op->wt != EP_KW_F32) {
    float *wf = j->k->tbuf[thread];
    size_t rb = ep_kern_row_bytes(op->wt, j->in);
    for (int r = 0; r < no; r++) {
      const uint8_t *src = (const uint8_t *)op->w + (size_t)(o0 + r) * rb;
      if (op->wt == EP_KW_Q8) ep__q8_to_f32(wf + (size_t)r * j->in, src, (size_t)j->in);
      else j->k->isa->cvt[op->wt](wf + (size_t)r * j->in, src, j->in);
    }
    w = wf;
  }
  if (op->bias)
    for (int i = 0; i < j->n; i++) memcpy(y + (size_t)i * op->out, op->bias + o0, (size_t)no * sizeof(float));
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->n, no, j->in, 1.0f, j->x, j->in, w, j->in,
              op->bias ? 1.0f : 0.0f, y, op->out);
}

static int mm_blas(ep_kern *k, const float *x, int n, int in, const ep_mm_out *op) {
  blas_job j = {k, x, op, n, in, op->out, 0};
  if (k->nthreads > 1) { /* 2 tasks per thread, multiples of 64 columns */
    j.chunk = (op->out + 2 * k->nthreads - 1) / (2 * k->nthreads);
    j.chunk = (j.chunk + 63) & ~63;
  }
  if (op->wt != EP_KW_F32) {
    j.panels = op->wt == EP_KW_Q8 && k->isa->avx2;
    int cap = j.panels ? Q8_PANEL_MAX_ROWS : (int)(BLAS_CVT_CHUNK_FLOATS / (size_t)in) & ~15;
    if (cap < 16) cap = 16;
    if (j.chunk > cap) j.chunk = cap;
    size_t need = j.panels ? (size_t)j.chunk * (Q8_PANEL_KC + (size_t)((n + 15) & ~15)) : (size_t)j.chunk * in;
    if (kern_reserve(k, need) != EP_OK) return EP_ENOMEM;
  }
  ep_pool_run(k->pool, (op->out + j.chunk - 1) / j.chunk, blas_task, &j);
  return EP_OK;
}

/* x quantised to Q8 rows and back (the activations the int8 kernels see); with AVX2
 * laid out as 16-token panels for ep__gemm_panels_acc, else row-major for sgemm */
static const float *kern_xdq(ep_kern *k, const float *x, int n, int in) {
  size_t qs = ep_kern_row_bytes(EP_KW_Q8, in), nf = (size_t)n * in;
  if (k->isa->avx2) { /* the Q8 panel path: [ceil(n/16)][in][16], zero-padded */
    size_t np = (size_t)(n + 15) / 16, nfp = np * 16 * (size_t)in;
    if (kern_reserve_q(k, ((qs + 63) & ~(size_t)63) + (size_t)16 * in * sizeof(float)) != EP_OK) return NULL;
    if (nfp > k->xdq_n) {
      free(k->xdq);
      k->xdq = aligned_alloc(64, nfp * sizeof(float));
      k->xdq_n = k->xdq ? nfp : 0;
      if (!k->xdq) return NULL;
    }
    float *rows = (float *)(k->qbuf + ((qs + 63) & ~(size_t)63)); /* 16 rows after the Q8 row */
    for (size_t p = 0; p < np; p++) {
      for (int t = 0; t < 16; t++) {
        float *row = rows + (size_t)t * in;
        size_t tok = p * 16 + (size_t)t;
        if (tok >= (size_t)n) {
          memset(row, 0, (size_t)in * sizeof(float));
          continue;
        }
        ep_kern_quantize_q8(k->qbuf, x + tok * (size_t)in, in);
        ep__q8_to_f32(row, k->qbuf, (size_t)in);
      }
      float *dst = k->xdq + p * 16 * (size_t)in;
      for (int c = 0; c < in; c++)
        for (int t = 0; t < 16; t++) dst[(size_t)c * 16 + t] = rows[(size_t)t * in + c];
    }
    return k->xdq;
  }
  if (kern_reserve_q(k, qs) != EP_OK) return NULL;
  if (nf > k->xdq_n) {
    float *b = realloc(k->xdq, nf * sizeof(float));
    if (!b) return NULL;
    k->xdq = b;
    k->xdq_n = nf;
  }
  for (int i = 0; i < n; i++) {
    ep_kern_quantize_q8(k->qbuf, x + (size_t)i * in, in);
    ep__q8_to_f32(k->xdq + (size_t)i * in, k->qbuf, (size_t)in);
  }
  return k->xdq;
}

int ep_kern_matmul_multi(ep_kern *k, const float *x, int n, int in, const ep_mm_out *outs, int nouts) {
  if (n <= 0 || nouts <= 0) return EP_OK;
  if (nouts > MM_MAX_OUTS) {
    for (int i = 0; i < nouts; i += MM_MAX_OUTS) {
      int rc = ep_kern_matmul_multi(k, x, n, in, outs + i, nouts - i < MM_MAX_OUTS ? nouts - i : MM_MAX_OUTS);
      if (rc) return rc;
    }
    return EP_OK;
  }
  ep_mm_out rest[MM_MAX_OUTS];
  const float *xdq = NULL; /* Q8-rounded x for the sgemm path, made once per call */
  int nrest = 0, any_q8 = 0, any_f = 0;
  size_t work = 0;
  for (int i = 0; i < nouts; i++) {
    const ep_mm_out *op = &outs[i];
    if (op->out <= 0) continue;
    if (k->use_blas && n >= BLAS_MIN_ROWS && in >= BLAS_MIN_DIM && op->out >= BLAS_MIN_DIM) {
      const float *xb = x;
      if (op->wt == EP_KW_Q8) {
        if (!xdq && (xdq = kern_xdq(k, x, n, in)) == NULL) return EP_ENOMEM;
        xb = xdq;
      }
      if (mm_blas(k, xb, n, in, op) != EP_OK) return EP_ENOMEM;
      continue;
    }
    rest[nrest++] = *op;
    any_q8 |= op->wt == EP_KW_Q8;
    any_f |= op->wt != EP_KW_Q8;
    work += (size_t)n * in * op->out;
  }
  if (!nrest) return EP_OK;
  if (any_f && (x = kern_aligned_x(k, x, n, in)) == NULL) return EP_ENOMEM;
  mm_job j = {.k = k, .x = x, .outs = rest, .nouts = nrest, .n = n, .in = in};
  if (any_q8) {
    j.xqs = ep_kern_row_bytes(EP_KW_Q8, in);
    if (kern_reserve_q(k, j.xqs * (size_t)n) != EP_OK) return EP_ENOMEM;
    for (int i = 0; i < n; i++) ep_kern_quantize_q8(k->qbuf + j.xqs * i, x + (size_t)i * in, in);
    j.xq = k->qbuf;
  }
  size_t maxrb = 0;
  for (int i = 0; i < nrest; i++) {
    j.start[i + 1] = j.start[i] + rest[i].out;
    size_t rb = ep_kern_row_bytes(rest[i].wt, in);
    maxrb = rb > maxrb ? rb : maxrb;
  }
  if (k->nthreads == 1 || work < KERN_MIN_SPLIT) { /* small (e.g. q/k/v of a tiny model): no hand-off */
    mm_rows(&j, 0, j.start[nrest]);
    return EP_OK;
  }
  /* claims of at least ~MM_GRAIN_BYTES of W, in multiples of 12 rows (whole
   * 3-row weight tiles and 4-row groups) */
  j.grain = (int)(MM_GRAIN_BYTES / maxrb) / 12 * 12;
  if (j.grain < 12) j.grain = 12;
  j.split = k->nthreads;
  atomic_init(&j.next, 0);
  ep_pool_run(k->pool, k->nthreads, mm_task, &j);
  return EP_OK;
}

void ep_kern_matmul(ep_kern *k, float *y, const float *x, const void *w, ep_kern_wtype wt,
                    const float *bias, int n, int in, int out) {
  ep_mm_out op = {y, w, wt, bias, out};
  if (ep_kern_matmul_multi(k, x, n, in, &op, 1) != EP_OK) /* scratch OOM: unthreaded reference */
    ep_ref_matmul(y, x, w, wt, bias, n, in, out);
}

/* ---- attention ---- */
typedef struct {
  ep_kern *k;
  const ep_attn_row *rows;
  size_t pos_stride;
  int n_head, n_kv, hd;
} at_job;

/* one (row, kv head) pair: the query heads of that kv head one after the
 * other, so the second one finds the head's keys/values in cache */
static void at_task(void *ctx, int task, int thread) {
  at_job *j = ctx;
  const ep_attn_row *r = &j->rows[task / j->n_kv];
  int kvh = task % j->n_kv, hd = j->hd, group = j->n_head / j->n_kv;
  float *s = j->k->tbuf[thread];
  ep__dot_fn dot = j->k->isa->dot[EP_KW_F32];
  float scale = 1.0f / sqrtf((float)hd);
  const float *kh = r->k + (size_t)kvh * r->head_stride, *vh = r->v + (size_t)kvh * r->head_stride;
  size_t ps = j->pos_stride;
  for (int h = kvh * group; h < (kvh + 1) * group; h++) {
    const float *q = r->q + (size_t)h * hd;
    float *o = r->out + (size_t)h * hd;
    if (j->k->isa->attn && hd % 8 == 0) {
      j->k->isa->attn(o, q, kh, vh, r->n_pos, ps, hd, scale, s);
      continue;
    }
    for (int t = 0; t < r->n_pos; t++) s[t] = dot(q, kh + (size_t)t * ps, hd) * scale;
    ep_ref_softmax(s, r->n_pos);
    memset(o, 0, (size_t)hd * sizeof(float));
    for (int t = 0; t < r->n_pos; t++) {
      const float *v = vh + (size_t)t * ps;
      float a = s[t];
      for (int d = 0; d < hd; d++) o[d] += a * v[d];
    }
  }
}

int ep_kern_attention(ep_kern *k, const ep_attn_row *rows, int nrows, size_t pos_stride, int n_head,
                      int n_kv, int hd) {
  int maxpos = 0;
  for (int i = 0; i < nrows; i++) maxpos = rows[i].n_pos > maxpos ? rows[i].n_pos : maxpos;
  if (kern_reserve(k, (size_t)maxpos) != EP_OK) return EP_ENOMEM;
  at_job j = {k, rows, pos_stride, n_head, n_kv, hd};
  size_t work = 0;
  for (int i = 0; i < nrows; i++) work += (size_t)rows[i].n_pos * n_head * hd * 2;
  if (work < KERN_MIN_SPLIT) {
    for (int t = 0; t < nrows * n_kv; t++) at_task(&j, t, 0);
    return EP_OK;
  }
  ep_pool_run(k->pool, nrows * n_kv, at_task, &j);
  return EP_OK;
}
