/* AVX2 + FMA + F16C dot products and weight-row conversions. Compiled for
 * any x86-64 via target attributes and only called after a runtime CPU check;
 * on other machines the scalar table is used. */
#include <string.h>

#include "kern/kern_impl.h"

static float dot_scalar_f32(const float *x, const void *w, int n) {
  const float *wf = w;
  float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    a0 += x[i] * wf[i];
    a1 += x[i + 1] * wf[i + 1];
    a2 += x[i + 2] * wf[i + 2];
    a3 += x[i + 3] * wf[i + 3];
  }
  for (; i < n; i++) a0 += x[i] * wf[i];
  return (a0 + a1) + (a2 + a3);
}
/* F16/BF16 rows are summed exactly like F32 rows (same 4 accumulators and
 * order on the exactly widened values), for every batch size. */
#define DOT_SCALAR_16(NAME, CVT)                                      \
  static float NAME(const float *x, const void *w, int n) {           \
    const uint8_t *p = w;                                             \
    float a0 = 0, a1 = 0, a2 = 0, a3 = 0;                             \
    int i = 0;                                                        \
    for (; i + 4 <= n; i += 4) {                                      \
      uint16_t h[4];                                                  \
      memcpy(h, p + 2 * (size_t)i, 8);                                \
      a0 += x[i] * CVT(h[0]);                                         \
      a1 += x[i + 1] * CVT(h[1]);                                     \
      a2 += x[i + 2] * CVT(h[2]);                                     \
      a3 += x[i + 3] * CVT(h[3]);                                     \
    }                                                                 \
    for (; i < n; i++) {                                              \
      uint16_t h;                                                     \
      memcpy(&h, p + 2 * (size_t)i, 2);                               \
      a0 += x[i] * CVT(h);                                            \
    }                                                                 \
    return (a0 + a1) + (a2 + a3);                                     \
  }
DOT_SCALAR_16(dot_scalar_f16, ep_f16_to_f32)
DOT_SCALAR_16(dot_scalar_bf16, ep_bf16_to_f32)
static void cvt_scalar_f16(float *d, const void *s, int n) { ep_kern_to_f32(d, s, EP_KW_F16, (size_t)n); }
static void cvt_scalar_bf16(float *d, const void *s, int n) { ep_kern_to_f32(d, s, EP_KW_BF16, (size_t)n); }

#define MM_ROWS(NAME, DOT)                                                                          \
  static void NAME(float *y, size_t ys, const void *x, size_t xs, int nx, const void *w, size_t wrb, \
                   int nw, int in, const float *bias) {                                             \
    for (int o = 0; o < nw; o++)                                                                    \
      for (int i = 0; i < nx; i++)                                                                  \
        y[(size_t)i * ys + o] = DOT((const float *)((const uint8_t *)x + (size_t)i * xs),           \
                                    (const uint8_t *)w + (size_t)o * wrb, in) +                     \
                                (bias ? bias[o] : 0.0f);                                            \
  }
MM_ROWS(mm_scalar_f32, dot_scalar_f32)
MM_ROWS(mm_scalar_f16, dot_scalar_f16)
MM_ROWS(mm_scalar_bf16, dot_scalar_bf16)

const ep__isa ep__isa_scalar = {"scalar",
                                {dot_scalar_f32, dot_scalar_f16, dot_scalar_bf16},
                                {NULL, cvt_scalar_f16, cvt_scalar_bf16},
                                {mm_scalar_f32, mm_scalar_f16, mm_scalar_bf16, ep__mm_q8_scalar},
                                NULL,
                                0, 32};

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#include "kern/kern_enc_avx2.h" /* ep__softmax_num_avx2 */

#define AVX2_FN __attribute__((target("avx2,fma,f16c")))

AVX2_FN static inline float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

AVX2_FN static inline __m256 ld_f16(const uint8_t *p) {
  return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}
AVX2_FN static inline __m256 ld_bf16(const uint8_t *p) {
  __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

#define DOT_BODY(LOAD, STEP_BYTES, TAIL)                                                  \
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), \
         a3 = _mm256_setzero_ps();                                                      \
  int i = 0;                                                                            \
  for (; i + 32 <= n; i += 32) {                                                        \
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), LOAD(p + (size_t)i * STEP_BYTES), a0); \
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), LOAD(p + (size_t)(i + 8) * STEP_BYTES), a1); \
    a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), LOAD(p + (size_t)(i + 16) * STEP_BYTES), a2); \
    a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), LOAD(p + (size_t)(i + 24) * STEP_BYTES), a3); \
  }                                                                                     \
  for (; i + 8 <= n; i += 8)                                                            \
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), LOAD(p + (size_t)i * STEP_BYTES), a0); \
  float acc = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));        \
  if (i < n) acc += TAIL(x + i, p + (size_t)i * STEP_BYTES, n - i);                     \
  return acc;

AVX2_FN static inline __m256 ld_f32(const uint8_t *p) { return _mm256_loadu_ps((const float *)p); }

AVX2_FN static float dot_avx2_f32(const float *x, const void *w, int n) {
  const uint8_t *p = w;
  DOT_BODY(ld_f32, 4, dot_scalar_f32)
}
AVX2_FN static float dot_avx2_f16(const float *x, const void *w, int n) {
  const uint8_t *p = w;
  DOT_BODY(ld_f16, 2, dot_scalar_f16)
}
AVX2_FN static float dot_avx2_bf16(const float *x, const void *w, int n) {
  const uint8_t *p = w;
  DOT_BODY(ld_bf16, 2, dot_scalar_bf16)
}
AVX2_FN static void cvt_avx2_f16(float *d, const void *s, int n) {
  const uint8_t *p = s;
  int i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, ld_f16(p + 2 * (size_t)i));
  if (i < n) cvt_scalar_f16(d + i, p + 2 * (size_t)i, n - i);
}
AVX2_FN static void cvt_avx2_bf16(float *d, const void *s, int n) {
  const uint8_t *p = s;
  int i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, ld_bf16(p + 2 * (size_t)i));
  if (i < n) cvt_scalar_bf16(d + i, p + 2 * (size_t)i, n - i);
}

#include "kern/kern_avx2_mm.h"
#include "kern/kern_avx2_gemv.h"

/* [sum a, sum b, sum c, sum d] of four 8-lane vectors */
AVX2_FN static inline __m128 attn_sum4(__m256 a, __m256 b, __m256 c, __m256 d) {
  __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

/* one attention head (hd % 8 == 0): scores of 4 positions per pass (one q
 * load feeds 4 keys, one 4-way reduction); softmax numerators with the AVX2
 * exp (ep__exp_ps, relative error ~1e-7), the 1/sum folded into the output;
 * out = sum_t p_t v_t in blocks of 64 columns with up to 8 vector
 * accumulators, so a head-major cache (stride = hd <= 64) is read in one
 * sequential pass */
AVX2_FN static void attn_avx2(float *out, const float *q, const float *k, const float *v, int n_pos,
                              size_t stride, int hd, float scale, float *s) {
  int t = 0;
  for (; t + 4 <= n_pos; t += 4) {
    const float *k0 = k + (size_t)t * stride, *k1 = k0 + stride;
    const float *k2 = k1 + stride, *k3 = k2 + stride;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int d = 0; d < hd; d += 8) {
      __m256 qd = _mm256_loadu_ps(q + d);
      a0 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(k0 + d), a0);
      a1 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(k1 + d), a1);
      a2 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(k2 + d), a2);
      a3 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(k3 + d), a3);
    }
    _mm_storeu_ps(s + t, _mm_mul_ps(attn_sum4(a0, a1, a2, a3), _mm_set1_ps(scale)));
  }
  for (; t < n_pos; t++) {
    const float *kt = k + (size_t)t * stride;
    __m256 a = _mm256_setzero_ps();
    for (int d = 0; d < hd; d += 8)
      a = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(kt + d), a);
    s[t] = hsum(a) * scale;
  }
  float sum = ep__softmax_num_avx2(s, n_pos);
  __m256 inv = _mm256_set1_ps(1.0f / sum);
  for (int d0 = 0; d0 < hd; d0 += 64) {
    int nv = (hd - d0) / 8 < 8 ? (hd - d0) / 8 : 8;
    __m256 o0 = _mm256_setzero_ps(), o1 = o0, o2 = o0, o3 = o0, o4 = o0, o5 = o0, o6 = o0, o7 = o0;
    const float *vt = v + d0;
#define ATTN_PV(i, acc) acc = _mm256_fmadd_ps(p, _mm256_loadu_ps(vt + 8 * (i)), acc)
    if (nv == 8) { /* head_dim 64 / 128: no lane checks in the loop */
      for (int u = 0; u < n_pos; u++, vt += stride) {
        __m256 p = _mm256_set1_ps(s[u]);
        ATTN_PV(0, o0), ATTN_PV(1, o1), ATTN_PV(2, o2), ATTN_PV(3, o3);
        ATTN_PV(4, o4), ATTN_PV(5, o5), ATTN_PV(6, o6), ATTN_PV(7, o7);
      }
    } else {
      for (int u = 0; u < n_pos; u++, vt += stride) {
        __m256 p = _mm256_set1_ps(s[u]);
        ATTN_PV(0, o0);
        if (nv > 1) ATTN_PV(1, o1);
        if (nv > 2) ATTN_PV(2, o2);
        if (nv > 3) ATTN_PV(3, o3);
        if (nv > 4) ATTN_PV(4, o4);
        if (nv > 5) ATTN_PV(5, o5);
        if (nv > 6) ATTN_PV(6, o6);
      }
    }
#undef ATTN_PV
    __m256 acc[8] = {o0, o1, o2, o3, o4, o5, o6, o7};
    for (int i = 0; i < nv; i++) _mm256_storeu_ps(out + d0 + 8 * i, _mm256_mul_ps(acc[i], inv));
  }
}

AVX2_FN void ep__rmsnorm_avx2(float *y, const float *x, const float *w, int n, int d, float eps) {
  for (int i = 0; i < n; i++) {
    const float *xi = x + (size_t)i * d;
    float *yi = y + (size_t)i * d;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int j = 0;
    for (; j + 16 <= d; j += 16) {
      __m256 a = _mm256_loadu_ps(xi + j), b = _mm256_loadu_ps(xi + j + 8);
      s0 = _mm256_fmadd_ps(a, a, s0);
      s1 = _mm256_fmadd_ps(b, b, s1);
    }
    float ss = hsum(_mm256_add_ps(s0, s1));
    for (; j < d; j++) ss += xi[j] * xi[j];
    float r = 1.0f / sqrtf(ss / d + eps);
    __m256 rv = _mm256_set1_ps(r);
    for (j = 0; j + 8 <= d; j += 8)
      _mm256_storeu_ps(yi + j, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(xi + j), rv), _mm256_loadu_ps(w + j)));
    for (; j < d; j++) yi[j] = xi[j] * r * w[j];
  }
}

/* g = silu(g) * u = g * sigmoid(g) * u; sigmoid from e = exp(-|g|) (always in
 * ep__exp_ps's range): 1 / (1 + e) for g >= 0, e / (1 + e) below. The tail goes
 * through the same lanes (copied to a padded block), so a value's result does
 * not depend on where it falls (batch invariance). */
AVX2_FN static inline __m256 swiglu8(__m256 v, __m256 u) {
  const __m256 one = _mm256_set1_ps(1.0f);
  __m256 e = ep__exp_ps(_mm256_or_ps(v, _mm256_set1_ps(-0.0f))); /* exp(-|v|) */
  __m256 inv = _mm256_div_ps(one, _mm256_add_ps(one, e));
  __m256 s = _mm256_blendv_ps(_mm256_mul_ps(e, inv), inv, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GE_OQ));
  return _mm256_mul_ps(_mm256_mul_ps(v, s), u);
}

AVX2_FN void ep__swiglu_avx2(float *g, const float *u, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(g + i, swiglu8(_mm256_loadu_ps(g + i), _mm256_loadu_ps(u + i)));
  if (i < n) {
    float gt[8] = {0}, ut[8] = {0};
    memcpy(gt, g + i, (n - i) * sizeof(float));
    memcpy(ut, u + i, (n - i) * sizeof(float));
    _mm256_storeu_ps(gt, swiglu8(_mm256_loadu_ps(gt), _mm256_loadu_ps(ut)));
    memcpy(g + i, gt, (n - i) * sizeof(float));
  }
}

const ep__isa ep__isa_avx2 = {"avx2",
                              {dot_avx2_f32, dot_avx2_f16, dot_avx2_bf16},
                              {NULL, cvt_avx2_f16, cvt_avx2_bf16},
                              {mm_avx2_f32, mm_avx2_f16, mm_avx2_bf16, mm_avx2_q8},
                              attn_avx2,
                              1, 32};

/* Q8 quantisation, bytes identical to ep__quantize_q8_scalar: same amax,
 * same scale and 1/scale, v = x * inv per lane, round half away from zero as
 * trunc(v) +- 1 when |v - trunc(v)| >= 0.5 (exact), clamp, NaN -> 0 */
AVX2_FN void ep__quantize_q8_avx2(void *dst, const float *src, int n) {
  uint8_t *p = dst;
  const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)), half = _mm256_set1_ps(0.5f);
  const __m256 lim = _mm256_set1_ps(127.0f), one = _mm256_set1_ps(1.0f);
  for (int b0 = 0; b0 < n; b0 += EP_Q8_BLOCK, p += EP_Q8_BLOCK_BYTES) {
    if (n - b0 < EP_Q8_BLOCK) { /* short tail block */
      ep__quantize_q8_scalar(p, src + b0, n - b0);
      continue;
    }
    __m256 x[4], m = _mm256_setzero_ps();
    for (int v = 0; v < 4; v++) {
      x[v] = _mm256_loadu_ps(src + b0 + 8 * v);
      m = _mm256_max_ps(_mm256_and_ps(x[v], absm), m); /* NaN lanes: m kept (as a > amax ? a : amax) */
    }
    float t8[8], amax = 0;
    _mm256_storeu_ps(t8, m);
    for (int v = 0; v < 8; v++) amax = t8[v] > amax ? t8[v] : amax;
    float d = amax / 127.0f, inv = d > 0 ? 1.0f / d : 0.0f;
    __m256 vinv = _mm256_set1_ps(inv);
    __m256i q32[4];
    for (int v = 0; v < 4; v++) {
      __m256 y = _mm256_mul_ps(x[v], vinv);
      __m256 t = _mm256_round_ps(y, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
      __m256 f = _mm256_sub_ps(y, t);
      t = _mm256_add_ps(t, _mm256_and_ps(_mm256_cmp_ps(f, half, _CMP_GE_OQ), one));
      t = _mm256_sub_ps(t, _mm256_and_ps(_mm256_cmp_ps(f, _mm256_sub_ps(_mm256_setzero_ps(), half), _CMP_LE_OQ), one));
      t = _mm256_min_ps(_mm256_max_ps(t, _mm256_sub_ps(_mm256_setzero_ps(), lim)), lim);
      t = _mm256_and_ps(t, _mm256_cmp_ps(y, y, _CMP_ORD_Q)); /* NaN -> 0 */
      q32[v] = _mm256_cvtps_epi32(t);
    }
    __m256i q16a = _mm256_packs_epi32(q32[0], q32[1]), q16b = _mm256_packs_epi32(q32[2], q32[3]);
    __m256i q8 = _mm256_packs_epi16(q16a, q16b); /* lanes interleaved by the 128-bit packs */
    q8 = _mm256_permutevar8x32_epi32(q8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    memcpy(p, &d, 4);
    _mm256_storeu_si256((__m256i *)(p + 4), q8);
  }
}

/* Q8 blocks back to floats: scale * (float)q per value, one rounding as in
 * ep__q8_to_f32_scalar (the prefill sgemm path dequantises W every call) */
AVX2_FN void ep__q8_to_f32_avx2(float *dst, const void *src, size_t n) {
  const uint8_t *p = src;
  size_t b0 = 0;
  for (; b0 + EP_Q8_BLOCK <= n; b0 += EP_Q8_BLOCK, p += EP_Q8_BLOCK_BYTES) {
    __m256 d = _mm256_set1_ps(q8_scale(p));
    for (int v = 0; v < 4; v++) {
      __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p + 4 + 8 * v)));
      _mm256_storeu_ps(dst + b0 + 8 * v, _mm256_mul_ps(d, _mm256_cvtepi32_ps(q)));
    }
  }
  if (b0 < n) ep__q8_to_f32_scalar(dst + b0, p, n - b0);
}

int ep__avx2_available(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
}
#else
const ep__isa ep__isa_avx2 = {"scalar",
                              {dot_scalar_f32, dot_scalar_f16, dot_scalar_bf16},
                              {NULL, cvt_scalar_f16, cvt_scalar_bf16},
                              {mm_scalar_f32, mm_scalar_f16, mm_scalar_bf16, ep__mm_q8_scalar},
                              NULL,
                              0, 32};
int ep__avx2_available(void) { return 0; }
void ep__quantize_q8_avx2(void *dst, const float *src, int n) { ep__quantize_q8_scalar(dst, src, n); }
void ep__q8_to_f32_avx2(float *dst, const void *src, size_t n) { ep__q8_to_f32_scalar(dst, src, n); }
#endif
