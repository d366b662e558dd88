/* log(sum_i exp(x_i)) over a vocab-sized row, for the sampler's log-probs:
 * a float64 reference (ep_ref_logsumexp) and an AVX2/FMA version (vector max,
 * ep__exp_ps, sums in double lanes) picked at run time by ep_kern_logsumexp.
 * -inf entries add nothing; the result is max + log(sum exp(x - max)). */
#include <math.h>

#include "kern/kern.h"
#include "kern/kern_impl.h"

float ep_ref_logsumexp(const float *x, int n) {
  float mx = -INFINITY;
  for (int i = 0; i < n; i++)
    if (x[i] > mx) mx = x[i];
  if (isinf(mx)) return mx; /* empty, all -inf, or a +inf entry */
  double sum = 0;
  for (int i = 0; i < n; i++) sum += (x[i] == -INFINITY) ? 0.0 : exp((double)x[i] - mx);
  return mx + (float)log(sum);
}

#if defined(__x86_64__)
#include <immintrin.h>

#include "kern/kern_enc_avx2.h" /* ep__exp_ps */

#define LSE_FN __attribute__((target("avx2,fma")))

LSE_FN float ep__logsumexp_avx2(const float *x, int n) {
  int i = 0;
  __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0;
  for (; i + 16 <= n; i += 16) {
    m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + i));
    m1 = _mm256_max_ps(m1, _mm256_loadu_ps(x + i + 8));
  }
  m0 = _mm256_max_ps(m0, m1);
  float lane[8], mx = -INFINITY;
  _mm256_storeu_ps(lane, m0);
  for (int l = 0; l < 8; l++)
    if (lane[l] > mx) mx = lane[l];
  for (; i < n; i++)
    if (x[i] > mx) mx = x[i];
  if (isinf(mx)) return mx;
  /* exp(x - mx) in [0, 1]; ep__exp_ps clamps below at -87, so -inf lanes are
   * masked to 0; each 8 floats are widened and summed in 4 double lanes */
  const __m256 vmx = _mm256_set1_ps(mx), ninf = _mm256_set1_ps(-INFINITY);
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  for (i = 0; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    __m256 e = _mm256_and_ps(ep__exp_ps(_mm256_sub_ps(v, vmx)), _mm256_cmp_ps(v, ninf, _CMP_NEQ_OQ));
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  double d[4], sum = 0;
  _mm256_storeu_pd(d, _mm256_add_pd(s0, s1));
  sum = (d[0] + d[1]) + (d[2] + d[3]);
  for (; i < n; i++) sum += (x[i] == -INFINITY) ? 0.0 : exp((double)x[i] - mx);
  return mx + (float)log(sum);
}

float ep_kern_logsumexp(const float *x, int n) {
  static int use_avx2 = -1; /* benign race: every thread stores the same value */
  if (use_avx2 < 0) use_avx2 = ep__avx2_available();
  return use_avx2 ? ep__logsumexp_avx2(x, n) : ep_ref_logsumexp(x, n);
}
#else
float ep__logsumexp_avx2(const float *x, int n) { return ep_ref_logsumexp(x, n); }
float ep_kern_logsumexp(const float *x, int n) { return ep_ref_logsumexp(x, n); }
#endif
