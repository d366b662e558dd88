/* Pre-packed GEMM (kern_gemm.c) against a float64 reference and the reference
 * matmul ep_ref_matmul: odd sizes (M 1..129, K 1..3072, N 1..768), with and
 * without bias, erf GELU epilogue, F16/BF16 packing, three outputs in one call,
 * at 1 and 2 threads. Tolerance: |y - exact| <= 2e-6 * (1 + sum_k |x_k w_k|) (+ the
 * GELU's 2e-7 absolute; seen: 0.15 of that), 4e-6 against ep_ref_matmul: float
 * accumulation error, far below a wrong index or a missed K block. Skips (passes) when the CPU has no AVX2/FMA. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern/kern.h"
#include "test.h"

static float frand(unsigned *s) {
  *s = *s * 1103515245u + 12345u;
  return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static double worst_seen;

/* y[M,N] vs exact (x W^T + b, optionally GELU): dot64 holds the exact products,
 * mag the sums of |x w| */
static int close_to(const float *y, const double *dot64, const double *mag, const float *b, int M, int N,
                    int gelu) {
  int bad = 0;
  for (int i = 0; i < M && bad < 3; i++) {
    for (int o = 0; o < N && bad < 3; o++) {
      double r = dot64[(size_t)i * N + o] + (b ? b[o] : 0.0), tol = 2e-6 * mag[(size_t)i * N + o] + 1e-30;
      if (gelu) {
        r = 0.5 * r * erfc(-r / sqrt(2.0));
        tol += 2e-7 * fmax(1.0, fabs(r));
      }
      double e = fabs(y[(size_t)i * N + o] - r);
      if (e / tol > worst_seen) worst_seen = e / tol;
      if (e > tol) {
        fprintf(stderr, "  y[%d,%d] = %.9g, expected %.9g (tol %.3g)\n", i, o, y[(size_t)i * N + o], r, tol);
        bad++;
      }
    }
  }
  return bad == 0;
}

static void check_shape(ep_kern *k1, ep_kern *k2, int M, int K, int N) {
  unsigned s = (unsigned)(M * 7919 + K * 31 + N);
  float *x = malloc((size_t)M * K * 4), *w = malloc((size_t)N * K * 4), *b = malloc((size_t)N * 4);
  float *y = malloc((size_t)M * N * 4), *yr = malloc((size_t)M * N * 4);
  double *d64 = malloc((size_t)M * N * sizeof(double)), *mag = malloc((size_t)M * N * sizeof(double));
  for (size_t i = 0; i < (size_t)M * K; i++) x[i] = frand(&s);
  for (size_t i = 0; i < (size_t)N * K; i++) w[i] = frand(&s);
  for (int i = 0; i < N; i++) b[i] = frand(&s);
  for (int i = 0; i < M; i++)
    for (int o = 0; o < N; o++) {
      double acc = 0, m = 0;
      for (int c = 0; c < K; c++) {
        double p = (double)x[(size_t)i * K + c] * w[(size_t)o * K + c];
        acc += p;
        m += fabs(p);
      }
      d64[(size_t)i * N + o] = acc;
      mag[(size_t)i * N + o] = m + 1.0; /* + |bias| <= 1 */
    }
  ep_kern_packed *p = ep_kern_pack(k1, w, EP_KW_F32, N, K);
  CHECK(p != NULL);
  if (!p) goto out;
  CHECK_INT(ep_kern_packed_out(p), N);
  CHECK_INT(ep_kern_packed_in(p), K);
  ep_kern *ks[2] = {k1, k2};
  for (int t = 0; t < 2; t++) {
    for (int bias = 0; bias < 2; bias++) {
      ep_gemm_out o = {y, p, bias ? b : NULL, EP_GEMM_ACT_NONE};
      memset(y, 0xff, (size_t)M * N * 4); /* NaN: every output must be written */
      ep_kern_gemm(ks[t], x, M, &o, 1);
      int ok = close_to(y, d64, mag, bias ? b : NULL, M, N, 0);
      if (!ok) fprintf(stderr, "M=%d K=%d N=%d bias=%d threads=%d\n", M, K, N, bias, ep_kern_threads(ks[t]));
      CHECK(ok);
      /* same bound against the reference kernel's float result */
      ep_ref_matmul(yr, x, w, EP_KW_F32, bias ? b : NULL, M, K, N);
      double worst = 0;
      for (size_t i = 0; i < (size_t)M * N; i++) {
        double e = fabs(y[i] - yr[i]) / (4e-6 * mag[i]);
        worst = e > worst ? e : worst;
      }
      CHECK(worst <= 1.0);
    }
    ep_gemm_out o = {y, p, b, EP_GEMM_ACT_GELU_ERF};
    ep_kern_gemm(ks[t], x, M, &o, 1);
    CHECK(close_to(y, d64, mag, b, M, N, 1));
  }
  ep_kern_packed_free(p);
out:
  free(x), free(w), free(b), free(y), free(yr), free(d64), free(mag);
}

/* F16/BF16 weights are widened exactly when packed; three outputs of one input
 * (q/k/v) share a call */
static void check_types_and_multi(ep_kern *k) {
  enum { M = 37, K = 300, N = 40 };
  unsigned s = 5;
  float x[M * K], w[3][N * K], wq[3][N * K], b[N], y[3][M * N];
  uint16_t h[N * K];
  for (int i = 0; i < M * K; i++) x[i] = frand(&s);
  for (int i = 0; i < N; i++) b[i] = frand(&s);
  for (int m = 0; m < 3; m++)
    for (int i = 0; i < N * K; i++) w[m][i] = frand(&s);
  for (int wt = EP_KW_F16; wt <= EP_KW_BF16; wt++) {
    for (int i = 0; i < N * K; i++) {
      h[i] = wt == EP_KW_F16 ? ep_f32_to_f16(w[0][i]) : ep_f32_to_bf16(w[0][i]);
      wq[0][i] = wt == EP_KW_F16 ? ep_f16_to_f32(h[i]) : ep_bf16_to_f32(h[i]);
    }
    ep_kern_packed *p = ep_kern_pack(k, h, (ep_kern_wtype)wt, N, K);
    CHECK(p != NULL);
    if (!p) return;
    ep_gemm_out o = {y[0], p, b, EP_GEMM_ACT_NONE};
    ep_kern_gemm(k, x, M, &o, 1);
    ep_ref_matmul(y[1], x, wq[0], EP_KW_F32, b, M, K, N);
    double worst = 0;
    for (int i = 0; i < M * N; i++) worst = fmax(worst, fabs(y[0][i] - y[1][i]));
    CHECK(worst <= 1e-4); /* |y| ~ 10, K = 300 */
    ep_kern_packed_free(p);
  }
  ep_kern_packed *ps[3];
  ep_gemm_out outs[3];
  for (int m = 0; m < 3; m++) {
    ps[m] = ep_kern_pack(k, w[m], EP_KW_F32, N, K);
    CHECK(ps[m] != NULL);
    if (!ps[m]) return;
    outs[m] = (ep_gemm_out){y[m], ps[m], m == 1 ? NULL : b, EP_GEMM_ACT_NONE};
  }
  ep_kern_gemm(k, x, M, outs, 3);
  for (int m = 0; m < 3; m++) {
    float r[M * N];
    ep_ref_matmul(r, x, w[m], EP_KW_F32, m == 1 ? NULL : b, M, K, N);
    double worst = 0;
    for (int i = 0; i < M * N; i++) worst = fmax(worst, fabs(y[m][i] - r[i]));
    CHECK(worst <= 1e-4);
    ep_kern_packed_free(ps[m]);
  }
}

int main(void) {
  ep_kern *k1 = ep_kern_new(1, EP_KERN_AUTO), *k2 = ep_kern_new(2, EP_KERN_AUTO);
  CHECK(k1 && k2);
  if (!k1 || !k2) return 1;
  if (!ep_kern_has_avx2(k1)) {
    ep_kern *kr = ep_kern_new(1, EP_KERN_REF);
    float w = 1;
    CHECK(ep_kern_pack(kr, &w, EP_KW_F32, 1, 1) == NULL); /* callers fall back */
    ep_kern_free(kr);
    fprintf(stderr, "no AVX2/FMA: packed GEMM not used, skipped\n");
    ep_kern_free(k1), ep_kern_free(k2);
    return t_finish();
  }
  ep_kern *kr = ep_kern_new(1, EP_KERN_REF);
  float w1 = 1;
  CHECK(ep_kern_pack(kr, &w1, EP_KW_F32, 1, 1) == NULL); /* EP_KERN_REF: nothing packed */
  ep_kern_free(kr);
  static const int ms[] = {1, 5, 127, 129}, ks[] = {1, 7, 768, 3072}, ns[] = {1, 17, 768};
  for (int a = 0; a < 4; a++)
    for (int c = 0; c < 4; c++)
      for (int n = 0; n < 3; n++) check_shape(k1, k2, ms[a], ks[c], ns[n]);
  check_shape(k1, k2, 300, 1000, 50); /* several row chunks, partial K block */
  check_types_and_multi(k1);
  check_types_and_multi(k2);
  fprintf(stderr, "worst error / tolerance: %.3g\n", worst_seen);
  ep_kern_free(k1);
  ep_kern_free(k2);
  return t_finish();
}
