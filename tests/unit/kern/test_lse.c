/* ep_ref_logsumexp against a long double oracle computed here (|diff| <= 1e-6
 * * (1 + |lse|)), and the AVX2 ep__logsumexp_avx2 / ep_kern_logsumexp against
 * that oracle (same bound: the vector exp has relative error ~1e-7 per term),
 * over random rows with -inf masks, odd tails and wide ranges. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "kern/kern.h"
#include "kern/kern_impl.h"
#include "test.h"

/* the AVX2 version itself only where the CPU has AVX2 (else the dispatcher) */
static float lse_fast(const float *x, int n) {
  return ep__avx2_available() ? ep__logsumexp_avx2(x, n) : ep_kern_logsumexp(x, n);
}

static uint32_t g_rng = 987654321u;
static float frand(void) { /* [-1, 1) */
  g_rng = g_rng * 1664525u + 1013904223u;
  return ((g_rng >> 8) / 16777216.0f) * 2 - 1;
}

static double oracle(const float *x, int n) {
  long double mx = -INFINITY, s = 0;
  for (int i = 0; i < n; i++)
    if (x[i] > mx) mx = x[i];
  for (int i = 0; i < n; i++)
    if (x[i] != -INFINITY) s += expl((long double)x[i] - mx);
  return (double)(mx + logl(s));
}

static void test_by_hand(void) {
  float x[3] = {1, 2, 3};
  /* 3 + ln(1 + e^-1 + e^-2) */
  CHECK_NEAR(ep_ref_logsumexp(x, 3), 3.4076059644, 1e-6);
  CHECK_NEAR(lse_fast(x, 3), 3.4076059644, 1e-6);
  float y[9] = {0, 0, 0, 0, 0, 0, 0, 0, -INFINITY}; /* ln 8 */
  CHECK_NEAR(ep_ref_logsumexp(y, 9), 2.0794415417, 1e-6);
  CHECK_NEAR(lse_fast(y, 9), 2.0794415417, 1e-6);
  float z[17];
  for (int i = 0; i < 17; i++) z[i] = -INFINITY;
  CHECK(ep_ref_logsumexp(z, 17) == -INFINITY);
  CHECK(lse_fast(z, 17) == -INFINITY);
  CHECK(ep_kern_logsumexp(z, 0) == -INFINITY);
  z[11] = INFINITY;
  CHECK(ep_ref_logsumexp(z, 17) == INFINITY);
  CHECK(lse_fast(z, 17) == INFINITY);
}

static void test_random(void) {
  static const int lens[] = {1, 7, 8, 9, 15, 16, 17, 33, 1000, 32000, 50257};
  static const float scales[] = {1, 10, 100}; /* logit spreads up to +-100 (exp underflow) */
  float *x = malloc(sizeof(float) * 50257);
  CHECK(x != NULL);
  if (!x) return;
  double worst = 0;
  for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
    for (size_t si = 0; si < sizeof scales / sizeof scales[0]; si++)
      for (int masked = 0; masked < 2; masked++) {
        int n = lens[li];
        for (int i = 0; i < n; i++) x[i] = frand() * scales[si] + 5;
        if (masked)
          for (int i = 0; i < n; i++)
            if (i % 3 != 0) x[i] = -INFINITY; /* keeps x[0], x[3], ... */
        double want = oracle(x, n), tol = 1e-6 * (1 + fabs(want));
        double r = ep_ref_logsumexp(x, n), a = lse_fast(x, n), k = ep_kern_logsumexp(x, n);
        CHECK_NEAR(r, want, tol);
        CHECK_NEAR(a, want, tol);
        CHECK_NEAR(k, want, tol);
        if (fabs(a - want) / (1 + fabs(want)) > worst) worst = fabs(a - want) / (1 + fabs(want));
      }
  fprintf(stderr, "  logsumexp avx2 worst |diff|/(1+|lse|) = %.3g\n", worst);
  free(x);
}

int main(void) {
  fprintf(stderr, "  avx2: %d\n", ep__avx2_available());
  RUN(test_by_hand);
  RUN(test_random);
  return t_finish();
}
