/* Encoder kernels (kern_enc.c): erf GELU against a float64 erfc reference,
 * packed bidirectional attention against a float64 softmax(QK^T/sqrt hd) V
 * per sequence, and residual add + LayerNorm against a float64 LayerNorm of the sum
 * (2e-6 relative; the scalar path bitwise ep_ref_layernorm),
 * each at 1 and 2 threads, plus the forced scalar (EP_KERN_REF) GELU. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern/kern.h"
#include "test.h"

static float frand(unsigned *s) {
  *s = *s * 1103515245u + 12345u;
  return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static void check_gelu(ep_kern *k) {
  enum { N = 20001 };
  float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
  for (int i = 0; i < N; i++) x[i] = y[i] = -10.0f + 20.0f * (float)i / (N - 1);
  ep_kern_gelu_erf(k, y, N);
  double worst = 0, worst_rel = 0;
  for (int i = 0; i < N; i++) {
    double r = 0.5 * x[i] * erfc(-x[i] / sqrt(2.0));
    double e = fabs(y[i] - r) / fmax(1.0, fabs(x[i]));
    worst = e > worst ? e : worst;
    if (fabs(x[i]) <= 3 && fabs(r) > 1e-3) {
      double re = fabs(y[i] - r) / fabs(r);
      worst_rel = re > worst_rel ? re : worst_rel;
    }
  }
  fprintf(stderr, "%s: abs %.3g rel %.3g\n", ep_kern_isa(k), worst, worst_rel);
  CHECK(worst <= 2e-7);
  /* the erff fallback loses relative accuracy in 1 + erf for x < 0 */
  CHECK(worst_rel <= (ep_kern_has_avx2(k) ? 2e-6 : 2e-5));
  CHECK(y[N / 2] == 0.0f); /* x = 0 */
  free(x);
  free(y);
}

static void test_gelu(void) {
  for (int th = 1; th <= 2; th++) {
    ep_kern *k = ep_kern_new(th, EP_KERN_AUTO);
    check_gelu(k);
    ep_kern_free(k);
  }
  ep_kern *k = ep_kern_new(1, EP_KERN_REF);
  check_gelu(k);
  ep_kern_free(k);
}

/* HD 16 and 24 (a partial 16-wide V panel), sequences of 1..40 (partial K panels) */
static void check_attention_full(int HD, ep_kern_mode mode) {
  enum { H = 3 };
  int D = H * HD;
  size_t lens[4] = {5, 17, 1, 40}, N = 63;
  unsigned s = 7;
  float *q = malloc(N * D * sizeof(float)), *kk = malloc(N * D * sizeof(float));
  float *v = malloc(N * D * sizeof(float)), *o = malloc(N * D * sizeof(float));
  for (size_t i = 0; i < N * D; i++) q[i] = 2 * frand(&s), kk[i] = 2 * frand(&s), v[i] = frand(&s);
  for (int th = 1; th <= 2; th++) {
    ep_kern *k = ep_kern_new(th, mode);
    memset(o, 0, N * D * sizeof(float));
    CHECK_INT(ep_kern_attention_full(k, o, q, kk, v, D, lens, 4, H, HD), 0);
    double worst = 0;
    for (size_t sq = 0, st = 0; sq < 4; st += lens[sq], sq++)
      for (size_t i = st; i < st + lens[sq]; i++)
        for (int h = 0; h < H; h++) {
          double sc[64], mx = -1e300, sum = 0;
          for (size_t j = st; j < st + lens[sq]; j++) {
            double dot = 0;
            for (int c = 0; c < HD; c++) dot += (double)q[i * D + h * HD + c] * kk[j * D + h * HD + c];
            sc[j - st] = dot / sqrt((double)HD);
            mx = sc[j - st] > mx ? sc[j - st] : mx;
          }
          for (size_t j = 0; j < lens[sq]; j++) sum += sc[j] = exp(sc[j] - mx);
          for (int c = 0; c < HD; c++) {
            double r = 0;
            for (size_t j = st; j < st + lens[sq]; j++) r += sc[j - st] / sum * v[j * D + h * HD + c];
            double e = fabs(o[i * D + h * HD + c] - r);
            worst = e > worst ? e : worst;
          }
        }
    fprintf(stderr, "attention %s hd %d, %d threads: %.3g\n", ep_kern_isa(k), HD, th, worst);
    CHECK(worst <= 1e-5);
    ep_kern_free(k);
  }
  free(q);
  free(kk);
  free(v);
  free(o);
}

static void test_attention_full(void) {
  check_attention_full(16, EP_KERN_AUTO);
  check_attention_full(24, EP_KERN_AUTO);
  check_attention_full(24, EP_KERN_REF);
}

static void test_add_layernorm(void) {
  enum { N = 40, D = 768 };
  unsigned s = 3;
  float *x = malloc(N * D * sizeof(float)), *r = malloc(N * D * sizeof(float));
  float *a = malloc(N * D * sizeof(float)), *b = malloc(N * D * sizeof(float));
  float w[D], bias[D];
  for (int i = 0; i < D; i++) w[i] = 1 + frand(&s) / 4, bias[i] = frand(&s) / 4;
  for (int i = 0; i < N * D; i++) x[i] = 3 * frand(&s), r[i] = frand(&s);
  for (int i = 0; i < N * D; i++) b[i] = x[i] + r[i];
  double *ref = malloc(N * D * sizeof(double)); /* float64 LayerNorm of the float sums */
  for (int i = 0; i < N; i++) {
    double mean = 0, var = 0;
    for (int j = 0; j < D; j++) mean += b[i * D + j];
    mean /= D;
    for (int j = 0; j < D; j++) var += (b[i * D + j] - mean) * (b[i * D + j] - mean);
    double rs = 1 / sqrt(var / D + 1e-12);
    for (int j = 0; j < D; j++) ref[i * D + j] = (b[i * D + j] - mean) * rs * w[j] + bias[j];
  }
  ep_ref_layernorm(b, b, w, bias, N, D, 1e-12f);
  for (int th = 1; th <= 2; th++) {
    for (int mode = EP_KERN_AUTO; mode <= EP_KERN_REF; mode++) {
      ep_kern *k = ep_kern_new(th, (ep_kern_mode)mode);
      memcpy(a, x, N * D * sizeof(float));
      ep_kern_add_layernorm(k, a, r, w, bias, N, D, 1e-12f);
      double worst = 0;
      for (int i = 0; i < N * D; i++) worst = fmax(worst, fabs(a[i] - ref[i]) / (1 + fabs(ref[i])));
      fprintf(stderr, "add+layernorm %s, %d threads: %.3g\n", ep_kern_isa(k), th, worst);
      CHECK(worst <= 2e-6);
      if (!ep_kern_has_avx2(k)) CHECK(memcmp(a, b, N * D * sizeof(float)) == 0);
      ep_kern_free(k);
    }
  }
  free(ref);
  free(x);
  free(r);
  free(a);
  free(b);
}

int main(void) {
  RUN(test_gelu);
  RUN(test_attention_full);
  RUN(test_add_layernorm);
  return t_finish();
}
