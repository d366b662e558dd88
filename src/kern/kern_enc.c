/* Encoder (bidirectional) kernels: full attention of packed sequences as two
 * GEMMs per (sequence, head) task (S = Q K^T, row softmax, O = S V; AVX2: the
 * packed GEMM's register tile, else OpenBLAS sgemm), the
 * erf GELU (AVX2: erfc by the Numerical Recipes Chebyshev fit, error
 * ~1e-7 absolute, 1e-6 relative; else erff) and the residual add + LayerNorm
 * (AVX2 8-lane sums; scalar: bitwise ep_ref_layernorm), all split across the
 * kernel pool. Attention
 * matches ep_ref_attention up to sgemm and AVX2 exp rounding. */
#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "kern/kern_enc_avx2.h"
#include "kern/kern_impl.h"
#include "kern/pool.h"

/* softmax of one row in place: AVX2 numerators (ep__softmax_num_avx2, exp relative
 * error ~1e-7), the final scaling 8 lanes at a time too */
__attribute__((target("avx2,fma"))) static void softmax_avx2(float *x, int n) {
  float inv = 1.0f / ep__softmax_num_avx2(x, n);
  __m256 iv = _mm256_set1_ps(inv);
  int i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), iv));
  for (; i < n; i++) x[i] *= inv;
}

typedef struct {
  float *out;
  const float *q, *k, *v;
  const size_t *start, *len;
  int stride, n_head, hd;
  float **scratch; /* per thread [maxlen * maxlen] */
  int avx2;
} enc_at_job;

/* AVX2: S = Q (scale K)^T and O = S V on kern_gemm.c's register tile, K^T and V
 * copied into 16-column panels first (n x hd floats each: cheap next to n^2 hd) */
static void enc_at_avx2(const enc_at_job *j, float *S, int n, size_t off, float scale) {
  int hd = j->hd, npk = (n + 15) / 16, npv = (hd + 15) / 16;
  size_t sn = ((size_t)n * n + 15) & ~(size_t)15;
  float *kp = S + sn, *vp = kp + (size_t)npk * 16 * hd;
  for (int p = 0; p < npk; p++)
    for (int c = 0; c < 16; c++) {
      const float *kr = p * 16 + c < n ? j->k + off + (size_t)(p * 16 + c) * j->stride : NULL;
      for (int d = 0; d < hd; d++) kp[((size_t)p * hd + d) * 16 + c] = kr ? scale * kr[d] : 0.0f;
    }
  ep__gemm_panels(S, (size_t)n, j->q + off, (size_t)j->stride, n, hd, kp, n);
  for (int i = 0; i < n; i++) softmax_avx2(S + (size_t)i * n, n);
  for (int p = 0; p < npv; p++) {
    int w = hd - p * 16 < 16 ? hd - p * 16 : 16;
    for (int t = 0; t < n; t++) {
      float *dst = vp + ((size_t)p * n + t) * 16;
      memcpy(dst, j->v + off + (size_t)t * j->stride + p * 16, (size_t)w * sizeof(float));
      for (int c = w; c < 16; c++) dst[c] = 0.0f;
    }
  }
  ep__gemm_panels(j->out + off, (size_t)j->stride, S, (size_t)n, n, n, vp, hd);
}

static void enc_at_task(void *ctx, int task, int thread) {
  const enc_at_job *j = ctx;
  int s = task / j->n_head, h = task % j->n_head, n = (int)j->len[s];
  size_t off = j->start[s] * (size_t)j->stride + (size_t)h * j->hd;
  float *S = j->scratch[thread];
  float scale = 1.0f / sqrtf((float)j->hd);
  if (j->avx2) {
    enc_at_avx2(j, S, n, off, scale);
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, j->hd, scale, j->q + off, j->stride,
              j->k + off, j->stride, 0.0f, S, n);
  for (int i = 0; i < n; i++) ep_ref_softmax(S + (size_t)i * n, n);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, j->hd, n, 1.0f, S, n, j->v + off, j->stride,
              0.0f, j->out + off, j->stride);
}

int ep_kern_attention_full(ep_kern *k, float *out, const float *q, const float *kk, const float *v,
                           int stride, const size_t *seq_len, size_t nseq, int n_head, int hd) {
  int th = ep_kern_threads(k);
  size_t maxlen = 0, *start = malloc((nseq + 1) * sizeof *start);
  float **scratch = calloc((size_t)th, sizeof *scratch);
  int rc = start && scratch ? EP_OK : EP_ENOMEM;
  for (size_t s = 0, t = 0; rc == EP_OK && s < nseq; t += seq_len[s], s++) {
    start[s] = t;
    if (seq_len[s] > maxlen) maxlen = seq_len[s];
  }
  /* S [maxlen^2] + K^T and V panels [2 x (maxlen + 16) x (hd + 16)], 64-byte aligned */
  size_t sbytes = ((maxlen * maxlen + 16 + 2 * (maxlen + 16) * (size_t)(hd + 16)) * sizeof(float) + 63) & ~(size_t)63;
  for (int i = 0; rc == EP_OK && i < th; i++)
    if (!(scratch[i] = aligned_alloc(64, sbytes))) rc = EP_ENOMEM;
  if (rc == EP_OK) {
    enc_at_job j = {out, q, kk, v, start, seq_len, stride, n_head, hd, scratch, ep_kern_has_avx2(k)};
    ep_pool_run(ep__kern_pool(k), (int)nseq * n_head, enc_at_task, &j);
  }
  for (int i = 0; scratch && i < th; i++) free(scratch[i]);
  free(scratch);
  free(start);
  return rc;
}

/* ---- GELU (erf) and residual + LayerNorm ---- */
typedef struct {
  float *x;
  const float *r, *w, *b;
  size_t len;
  int n, d, ntasks, avx2;
  float eps;
} enc_row_job;

static void gelu_erf_scalar(float *x, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

/* erf GELU by ep__gelu_erf_ps (kern_enc_avx2.h), scalar erff for the tail */
__attribute__((target("avx2,fma"))) void ep__gelu_erf_avx2(float *x, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, ep__gelu_erf_ps(_mm256_loadu_ps(x + i)));
  gelu_erf_scalar(x + i, n - i);
}

static void gelu_task(void *ctx, int task, int thread) {
  (void)thread;
  const enc_row_job *j = ctx;
  size_t n8 = j->len / 8, a = n8 * task / j->ntasks * 8, b = n8 * (task + 1) / j->ntasks * 8;
  if (task == j->ntasks - 1) b = j->len; /* 8-element slices; the tail goes to the last task */
  if (j->avx2) ep__gelu_erf_avx2(j->x + a, b - a);
  else gelu_erf_scalar(j->x + a, b - a);
}

static float hsum8(__m256 v) __attribute__((target("avx2,fma")));
static float hsum8(__m256 v) {
  __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  a = _mm_add_ps(a, _mm_movehl_ps(a, a));
  a = _mm_add_ss(a, _mm_movehdup_ps(a));
  return _mm_cvtss_f32(a);
}

/* x = LayerNorm(x + r) of one row: the sum, the squared deviations and the
 * normalisation each in one 8-lane pass (ep_ref_layernorm's formula, lane-wise
 * sums: equal up to float rounding) */
__attribute__((target("avx2,fma"))) static void add_ln_row_avx2(float *x, const float *r, const float *w,
                                                                const float *b, int d, float eps) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int i = 0;
  for (; i + 16 <= d; i += 16) {
    __m256 v0 = _mm256_add_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(r + i));
    __m256 v1 = _mm256_add_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(r + i + 8));
    _mm256_storeu_ps(x + i, v0);
    _mm256_storeu_ps(x + i + 8, v1);
    s0 = _mm256_add_ps(s0, v0);
    s1 = _mm256_add_ps(s1, v1);
  }
  float sum = hsum8(_mm256_add_ps(s0, s1));
  for (; i < d; i++) sum += x[i] += r[i];
  float mean = sum / (float)d;
  __m256 mv = _mm256_set1_ps(mean);
  s0 = _mm256_setzero_ps();
  s1 = _mm256_setzero_ps();
  for (i = 0; i + 16 <= d; i += 16) {
    __m256 v0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), mv), v1 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), mv);
    s0 = _mm256_fmadd_ps(v0, v0, s0);
    s1 = _mm256_fmadd_ps(v1, v1, s1);
  }
  float var = hsum8(_mm256_add_ps(s0, s1));
  for (; i < d; i++) var += (x[i] - mean) * (x[i] - mean);
  float rs = 1.0f / sqrtf(var / (float)d + eps);
  __m256 rv = _mm256_set1_ps(rs);
  for (i = 0; i + 8 <= d; i += 8) {
    __m256 t = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv), rv);
    __m256 bb = b ? _mm256_loadu_ps(b + i) : _mm256_setzero_ps();
    _mm256_storeu_ps(x + i, _mm256_fmadd_ps(t, _mm256_loadu_ps(w + i), bb));
  }
  for (; i < d; i++) x[i] = (x[i] - mean) * rs * w[i] + (b ? b[i] : 0.0f);
}

static void addln_task(void *ctx, int task, int thread) {
  (void)thread;
  const enc_row_job *j = ctx;
  size_t a = (size_t)j->n * task / (size_t)j->ntasks, b = (size_t)j->n * (task + 1) / (size_t)j->ntasks;
  float *x = j->x + a * j->d;
  const float *r = j->r + a * j->d;
  if (j->avx2) {
    for (size_t i = a; i < b; i++, x += j->d, r += j->d) add_ln_row_avx2(x, r, j->w, j->b, j->d, j->eps);
    return;
  }
  for (size_t i = 0; i < (b - a) * (size_t)j->d; i++) x[i] += r[i];
  ep_ref_layernorm(x, x, j->w, j->b, (int)(b - a), j->d, j->eps);
}

static int enc_tasks(ep_kern *k, size_t units, size_t elems) {
  int th = ep_kern_threads(k);
  if (th <= 1 || elems < ((size_t)1 << 14)) return 1;
  return units < (size_t)th * 4 ? (int)units : th * 4;
}

void ep_kern_gelu_erf(ep_kern *k, float *x, size_t n) {
  if (!n) return;
  enc_row_job j = {.x = x, .len = n, .ntasks = enc_tasks(k, n, n), .avx2 = ep_kern_has_avx2(k)};
  ep_pool_run(ep__kern_pool(k), j.ntasks, gelu_task, &j);
}

void ep_kern_add_layernorm(ep_kern *k, float *x, const float *r, const float *w, const float *b, int n,
                           int d, float eps) {
  if (n <= 0) return;
  enc_row_job j = {.x = x, .r = r, .w = w, .b = b, .n = n, .d = d, .eps = eps,
                   .ntasks = enc_tasks(k, (size_t)n, (size_t)n * d), .avx2 = ep_kern_has_avx2(k)};
  ep_pool_run(ep__kern_pool(k), j.ntasks, addln_task, &j);
}
