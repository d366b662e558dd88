/* AVX2/FMA vector math shared by the encoder kernels (kern_enc.c) and the packed
 * GEMM's epilogue (kern_gemm.c): exp for softmax and the erf GELU on 8 floats in
 * registers. Private to src/kern; include only from x86-64 files that call these
 * after a runtime AVX2/FMA check. */
#ifndef EP_KERN_ENC_AVX2_H
#define EP_KERN_ENC_AVX2_H

#include <immintrin.h>
#include <math.h>

/* exp(a) for a in [-87, 0]: a = n ln2 + r, |r| <= ln2/2, degree-6 Taylor of e^r
 * (relative error ~1e-7) */
__attribute__((target("avx2,fma"), always_inline)) static inline __m256 ep__exp_ps(__m256 a) {
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

/* gelu(v) = 0.5 v erfc(-v/sqrt2): c = erfc(|v|/sqrt2) = t exp(-z^2 + P(t)),
 * t = 1/(1 + z/2) (Numerical Recipes erfcc, error ~1e-7 absolute); v >= 0 gives
 * 0.5 v (2 - c). */
__attribute__((target("avx2,fma"), always_inline)) static inline __m256 ep__gelu_erf_ps(__m256 v) {
  static const float cf[10] = {-1.26551223f, 1.00002368f, 0.37409196f, 0.09678418f, -0.18628806f,
                               0.27886807f, -1.13520398f, 1.48851587f, -0.82215223f, 0.17087277f};
  const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
  __m256 z = _mm256_mul_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), v), _mm256_set1_ps(0.70710678118654752f));
  __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(half, z, one));
  __m256 p = _mm256_set1_ps(cf[9]);
  for (int c = 8; c >= 0; c--) p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(cf[c]));
  __m256 c = _mm256_mul_ps(t, ep__exp_ps(_mm256_fnmadd_ps(z, z, p)));
  __m256 f = _mm256_blendv_ps(c, _mm256_sub_ps(_mm256_set1_ps(2.0f), c),
                              _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GE_OQ));
  return _mm256_mul_ps(_mm256_mul_ps(half, v), f);
}

/* softmax numerators in place: x[i] = exp(x[i] - max x), max and exp 8 lanes at a
 * time, the scalar tail with expf; returns their sum (the caller scales by 1/sum) */
__attribute__((target("avx2,fma"))) static inline float ep__softmax_num_avx2(float *x, int n) {
  int i = 0;
  float mx = x[0];
  if (n >= 8) {
    __m256 mv = _mm256_loadu_ps(x);
    for (i = 8; i + 8 <= n; i += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
    float lane[8];
    _mm256_storeu_ps(lane, mv);
    for (int l = 0; l < 8; l++) mx = lane[l] > mx ? lane[l] : mx;
  }
  for (; i < n; i++) mx = x[i] > mx ? x[i] : mx;
  __m256 m = _mm256_set1_ps(mx), acc = _mm256_setzero_ps();
  for (i = 0; i + 8 <= n; i += 8) {
    __m256 e = ep__exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
    _mm256_storeu_ps(x + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  float lane[8], sum = 0;
  _mm256_storeu_ps(lane, acc);
  for (int l = 0; l < 8; l++) sum += lane[l];
  for (; i < n; i++) sum += x[i] = expf(x[i] - mx);
  return sum;
}

#endif
