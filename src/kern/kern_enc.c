/* Encoder (bidirectional) kernels: full attention of packed sequences as two
 * sgemms per (sequence, head) task (S = Q K^T, row softmax, O = S V), the
 * erf GELU (AVX2: erfc by the Numerical Recipes Chebyshev fit, error
 * ~1e-7 absolute, 1e-6 relative; else erff) and the residual add + LayerNorm
 * (bitwise ep_ref_layernorm), all split across the kernel pool. Attention
 * matches ep_ref_attention up to sgemm and AVX2 exp rounding. */
#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "kern/kern_impl.h"
#include "kern/pool.h"

/* exp(a) for a in [-87, 0]: a = n ln2 + r, |r| <= ln2/2, degree-6 Taylor of e^r */
__attribute__((target("avx2,fma"))) static __m256 exp_avx2(__m256 a) {
  a = _mm256_max_ps(a, _mm256_set1_ps(-87.0f));
  __m256 n = _mm256_round_ps(_mm256_mul_ps(a, _mm256_set1_ps(1.44269504088896341f)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), a);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187e-06f), r);
  __m256 p = _mm256_set1_ps(1.0f / 720);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* softmax of one row in place: AVX2 exp_avx2 (relative error ~1e-7) */
__attribute__((target("avx2,fma"))) static void softmax_avx2(float *x, int n) {
  float mx = x[0];
  for (int i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
  __m256 m = _mm256_set1_ps(mx), acc = _mm256_setzero_ps();
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
    _mm256_storeu_ps(x + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  float lane[8], sum = 0;
  _mm256_storeu_ps(lane, acc);
  for (int l = 0; l < 8; l++) sum += lane[l];
  for (; i < n; i++) sum += x[i] = expf(x[i] - mx);
  float inv = 1.0f / sum;
  for (i = 0; i < n; i++) x[i] *= inv;
}

typedef struct {
  float *out;
  const float *q, *k, *v;
  const size_t *start, *len;
  int stride, n_head, hd;
  float **scratch; /* per thread [maxlen * maxlen] */
  int avx2;
} enc_at_job;

static void enc_at_task(void *ctx, int task, int thread) {
  const enc_at_job *j = ctx;
  int s = task / j->n_head, h = task % j->n_head, n = (int)j->len[s];
  size_t off = j->start[s] * (size_t)j->stride + (size_t)h * j->hd;
  float *S = j->scratch[thread];
  float scale = 1.0f / sqrtf((float)j->hd);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, j->hd, scale, j->q + off, j->stride,
              j->k + off, j->stride, 0.0f, S, n);
  for (int i = 0; i < n; i++) {
    if (j->avx2) softmax_avx2(S + (size_t)i * n, n);
    else ep_ref_softmax(S + (size_t)i * n, n);
  }
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
  for (int i = 0; rc == EP_OK && i < th; i++)
    if (!(scratch[i] = malloc(maxlen * maxlen * sizeof(float) + 1))) rc = EP_ENOMEM;
  if (rc == EP_OK) {
    enc_at_job j = {out, q, kk, v, start, seq_len, stride, n_head, hd, scratch, !strcmp(ep_kern_isa(k), "avx2")};
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

/* gelu(x) = 0.5 x erfc(-x/sqrt2): c = erfc(|x|/sqrt2) = t exp(-z^2 + P(t)),
 * t = 1/(1 + z/2) (Numerical Recipes erfcc); x >= 0 gives 0.5 x (2 - c). */
__attribute__((target("avx2,fma"))) static void gelu_erf_avx2(float *x, size_t n) {
  static const float cf[10] = {-1.26551223f, 1.00002368f, 0.37409196f, 0.09678418f, -0.18628806f,
                               0.27886807f, -1.13520398f, 1.48851587f, -0.82215223f, 0.17087277f};
  const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f), two = _mm256_set1_ps(2.0f);
  const __m256 sign = _mm256_set1_ps(-0.0f), zero = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    __m256 z = _mm256_mul_ps(_mm256_andnot_ps(sign, v), _mm256_set1_ps(0.70710678118654752f));
    __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(half, z, one));
    __m256 p = _mm256_set1_ps(cf[9]);
    for (int c = 8; c >= 0; c--) p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(cf[c]));
    __m256 c = _mm256_mul_ps(t, exp_avx2(_mm256_fnmadd_ps(z, z, p)));
    __m256 f = _mm256_blendv_ps(c, _mm256_sub_ps(two, c), _mm256_cmp_ps(v, zero, _CMP_GE_OQ));
    _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_mul_ps(half, v), f));
  }
  gelu_erf_scalar(x + i, n - i);
}

static void gelu_task(void *ctx, int task, int thread) {
  (void)thread;
  const enc_row_job *j = ctx;
  size_t n8 = j->len / 8, a = n8 * task / j->ntasks * 8, b = n8 * (task + 1) / j->ntasks * 8;
  if (task == j->ntasks - 1) b = j->len; /* 8-element slices; the tail goes to the last task */
  if (j->avx2) gelu_erf_avx2(j->x + a, b - a);
  else gelu_erf_scalar(j->x + a, b - a);
}

static void addln_task(void *ctx, int task, int thread) {
  (void)thread;
  const enc_row_job *j = ctx;
  size_t a = (size_t)j->n * task / (size_t)j->ntasks, b = (size_t)j->n * (task + 1) / (size_t)j->ntasks;
  float *x = j->x + a * j->d;
  const float *r = j->r + a * j->d;
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
  enc_row_job j = {.x = x, .len = n, .ntasks = enc_tasks(k, n, n), .avx2 = !strcmp(ep_kern_isa(k), "avx2")};
  ep_pool_run(ep__kern_pool(k), j.ntasks, gelu_task, &j);
}

void ep_kern_add_layernorm(ep_kern *k, float *x, const float *r, const float *w, const float *b, int n,
                           int d, float eps) {
  if (n <= 0) return;
  enc_row_job j = {.x = x, .r = r, .w = w, .b = b, .n = n, .d = d, .eps = eps,
                   .ntasks = enc_tasks(k, (size_t)n, (size_t)n * d)};
  ep_pool_run(ep__kern_pool(k), j.ntasks, addln_task, &j);
}
