/* Fast kernels vs the reference kernels, and reference kernels vs values
 * computed by hand. Tolerances: matmul |diff| <= 1e-5 * (1 + sum|x*w|)
 * (reordered float sums), attention <= 1e-5, conversions exact; Q8 fast vs
 * Q8 reference the same matmul bound (exact integer block sums), Q8 vs the
 * unquantised f32 product within the analytic rounding bound. */
#include <stdint.h>
#include <unistd.h>

#include "base/err.h"
#include "kern/kern.h"
#include "kern/kern_impl.h"
#include "kern/pool.h"
#include "test.h"

static uint32_t g_rng = 12345;
static float frand(void) {
  g_rng = g_rng * 1664525u + 1013904223u;
  return ((g_rng >> 8) / 16777216.0f) * 2 - 1;
}

static void test_convert(void) {
  CHECK(ep_f16_to_f32(0x3c00) == 1.0f);
  CHECK(ep_f16_to_f32(0xc000) == -2.0f);
  CHECK(ep_f16_to_f32(0x7bff) == 65504.0f);
  CHECK(ep_f16_to_f32(0x0001) == 5.960464477539063e-08f); /* smallest subnormal */
  CHECK(ep_bf16_to_f32(0x3f80) == 1.0f);
  CHECK_INT(ep_f32_to_bf16(1.0f), 0x3f80);
  CHECK_INT(ep_f32_to_f16(1.0f), 0x3c00);
  CHECK_INT(ep_f32_to_f16(5.960464477539063e-08f), 0x0001);
  CHECK_INT(ep_f32_to_f16(1e6f), 0x7c00);
  /* round trip of every f16 bit pattern except NaNs */
  int bad = 0;
  for (uint32_t h = 0; h < 0x10000; h++) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;
    if (ep_f32_to_f16(ep_f16_to_f32((uint16_t)h)) != h) bad++;
  }
  CHECK_INT(bad, 0);
}

static void test_ref_small(void) {
  /* y = x W^T + b by hand */
  float x[2] = {1, 2}, w[6] = {1, 0, 0, 1, 1, 1}, b[3] = {0.5f, 0, -1}, y[3];
  ep_ref_matmul(y, x, w, EP_KW_F32, b, 1, 2, 3);
  CHECK_NEAR(y[0], 1.5, 0);
  CHECK_NEAR(y[1], 2, 0);
  CHECK_NEAR(y[2], 2, 0);
  float wt[6] = {1, 0, 1, 0, 1, 1}; /* same W as [in, out] */
  ep_ref_matmul_in_out(y, x, wt, b, 1, 2, 3);
  CHECK_NEAR(y[2], 2, 0);
  float v[2] = {3, 4}, g[2] = {1, 1}, r[2];
  ep_ref_rmsnorm(r, v, g, 1, 2, 0);
  CHECK_NEAR(r[0], 3 / sqrt(12.5), 1e-6);
  ep_ref_layernorm(r, v, g, NULL, 1, 2, 0);
  CHECK_NEAR(r[0], -1, 1e-6);
  float s[3] = {0, 0, log(2)};
  ep_ref_softmax(s, 3);
  CHECK_NEAR(s[2], 0.5, 1e-6);
  float gl[1] = {1};
  ep_ref_gelu_tanh(gl, 1);
  CHECK_NEAR(gl[0], 0.8411920071, 1e-6);
  float si[1] = {1};
  ep_ref_silu(si, 1);
  CHECK_NEAR(si[0], 0.7310585786, 1e-6);
  /* rope: hd 4, pos 1, theta 1 -> inv = {1, 1}; rotate (x0,x2) and (x1,x3) by 1 rad */
  double inv[2];
  ep_rope_inv_freq(inv, 4, 1.0, NULL);
  CHECK_NEAR(inv[1], 1.0, 0);
  ep_rope_inv_freq(inv, 4, 10000.0, NULL);
  CHECK_NEAR(inv[1], 0.01, 1e-12);
  ep_rope_scaling lin = {1, 4.0, 0, 0, 0};
  ep_rope_inv_freq(inv, 4, 10000.0, &lin);
  CHECK_NEAR(inv[1], 0.0025, 1e-12);
  /* llama3: hd 128, theta 500000, factor 8, low 1, high 4, orig 8192: lowest freq / 8, highest kept */
  double inv3[64], base[64];
  ep_rope_scaling l3 = {2, 8.0, 1.0, 4.0, 8192};
  ep_rope_inv_freq(base, 128, 500000.0, NULL);
  ep_rope_inv_freq(inv3, 128, 500000.0, &l3);
  CHECK_NEAR(inv3[0], base[0], 0);
  CHECK_NEAR(inv3[63], base[63] / 8, 1e-18);
  float q[4] = {1, 0, 0, 0};
  double one[2] = {1, 1};
  ep_ref_rope(q, 1, 4, 1, one);
  CHECK_NEAR(q[0], cos(1), 1e-6);
  CHECK_NEAR(q[2], sin(1), 1e-6);
}

static double t_maxdiff_f(const float *a, const float *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
  return m;
}

/* random weights [out, in] of type wt (Q8: quantised rows of uniform floats) */
static uint8_t *rand_w(ep_kern_wtype wt, int out, int in, float *wf) {
  size_t rb = ep_kern_row_bytes(wt, in);
  uint8_t *w = malloc(rb * out);
  for (int o = 0; o < out; o++) {
    for (int i = 0; i < in; i++) wf[(size_t)o * in + i] = frand();
    for (int i = 0; i < in && wt != EP_KW_Q8; i++) {
      float f = wf[(size_t)o * in + i];
      if (wt == EP_KW_F32) memcpy(w + o * rb + 4 * i, &f, 4);
      else {
        uint16_t h = wt == EP_KW_F16 ? ep_f32_to_f16(f) : ep_f32_to_bf16(f);
        memcpy(w + o * rb + 2 * i, &h, 2);
      }
    }
    if (wt == EP_KW_Q8) ep_kern_quantize_q8(w + o * rb, wf + (size_t)o * in, in);
  }
  return w;
}

static void test_matmul(ep_kern *k, ep_kern_wtype wt, int n, int in, int out) {
  float *x = malloc(sizeof(float) * n * in), *b = malloc(sizeof(float) * out);
  float *wf = malloc(sizeof(float) * out * in);
  uint8_t *w = rand_w(wt, out, in, wf);
  float *y0 = malloc(sizeof(float) * n * out), *y1 = malloc(sizeof(float) * n * out);
  for (int i = 0; i < n * in; i++) x[i] = frand();
  for (int i = 0; i < out; i++) b[i] = frand();
  ep_ref_matmul(y0, x, w, wt, b, n, in, out);
  ep_kern_matmul(k, y1, x, w, wt, b, n, in, out);
  double worst = 0;
  for (int i = 0; i < n * out; i++) {
    double d = fabs(y0[i] - y1[i]) / (1 + in);
    worst = d > worst ? d : worst;
  }
  if (worst > 1e-6)
    fprintf(stderr, "matmul wt=%d n=%d in=%d out=%d worst %g\n", wt, n, in, out, worst);
  CHECK(worst <= 1e-6); /* |x|,|w| <= 1 so sum|x*w| <= in */
  free(x); free(b); free(w); free(wf); free(y0); free(y1);
}

/* Q8 quantisation by hand: scale = max|x|/127, round half away from zero,
 * zero-padded tail block, all-zero block has scale 0 */
static void test_q8_quantize(void) {
  float src[40] = {0};
  src[0] = 127, src[1] = -63.5f, src[2] = 0.49f, src[3] = -127, src[32] = 2;
  uint8_t q[72];
  CHECK_INT(ep_kern_row_bytes(EP_KW_Q8, 40), 72);
  CHECK_INT(ep_kern_row_bytes(EP_KW_Q8, 32), 36);
  ep_kern_quantize_q8(q, src, 33);
  float d0, d1;
  memcpy(&d0, q, 4);
  memcpy(&d1, q + 36, 4);
  CHECK_NEAR(d0, 1.0, 0);
  CHECK_NEAR(d1, 2.0 / 127, 1e-9);
  CHECK_INT((int8_t)q[4], 127);
  CHECK_INT((int8_t)q[5], -64); /* -63.5 rounds away from zero */
  CHECK_INT((int8_t)q[6], 0);
  CHECK_INT((int8_t)q[7], -127);
  CHECK_INT((int8_t)q[40], 127);
  int pad = 0;
  for (int i = 41; i < 72; i++) pad |= q[i];
  CHECK_INT(pad, 0);
  float back[33];
  ep_kern_to_f32(back, q, EP_KW_Q8, 33);
  CHECK_NEAR(back[1], -64, 0);
  CHECK_NEAR(back[32], 2, 1e-6);
  float z[32] = {0};
  ep_kern_quantize_q8(q, z, 32);
  memcpy(&d0, q, 4);
  CHECK_NEAR(d0, 0, 0);
  float y;
  ep_ref_matmul(&y, z, q, EP_KW_Q8, NULL, 1, 32, 1);
  CHECK_NEAR(y, 0, 0);
}

/* Q8 matmul vs the exact f32 product of the unquantised values: the error
 * is bounded by sum_j |x_j| ew_j + |w_j| ex_j + ex_j ew_j with e = scale/2 of
 * each block (rounding error of each quantised value), plus float slack. */
static void test_q8_accuracy(ep_kern *k) {
  int n = 3, in = 200, out = 37;
  float *x = malloc(sizeof(float) * n * in), *wf = malloc(sizeof(float) * out * in);
  float *y = malloc(sizeof(float) * n * out);
  for (int i = 0; i < n * in; i++) x[i] = frand() * (i % 7 == 0 ? 4 : 1);
  uint8_t *w = rand_w(EP_KW_Q8, out, in, wf);
  ep_kern_matmul(k, y, x, w, EP_KW_Q8, NULL, n, in, out);
  int bad = 0;
  double worst_rel = 0;
  for (int i = 0; i < n; i++)
    for (int o = 0; o < out; o++) {
      double exact = 0, bound = 1e-5 * (1 + in);
      for (int b0 = 0; b0 < in; b0 += 32) {
        double ax = 0, aw = 0;
        for (int j = b0; j < b0 + 32 && j < in; j++) {
          ax = fmax(ax, fabs(x[i * in + j]));
          aw = fmax(aw, fabs(wf[o * in + j]));
        }
        double ex = ax / 127 / 2, ew = aw / 127 / 2;
        for (int j = b0; j < b0 + 32 && j < in; j++) {
          exact += (double)x[i * in + j] * wf[o * in + j];
          bound += fabs(x[i * in + j]) * ew + fabs(wf[o * in + j]) * ex + ex * ew;
        }
      }
      double err = fabs(y[i * out + o] - exact);
      bad += err > bound;
      worst_rel = fmax(worst_rel, err / bound);
    }
  fprintf(stderr, "  q8 vs exact: worst error / bound = %.3f\n", worst_rel);
  CHECK_INT(bad, 0);
  free(x); free(wf); free(y); free(w);
}

/* AVX2 quantiser vs the scalar one, byte for byte: random rows, exact
 * halves (scale 1 when max|x| = 127), NaN/inf lanes, zero blocks, tails. */
static void test_q8_quantize_avx2(void) {
  if (!ep__avx2_available()) {
    fprintf(stderr, "  (no AVX2 on this CPU: AVX2 quantiser not run)\n");
    return;
  }
  enum { N = 32 * 40 + 7 };
  static float x[N];
  static uint8_t a[(N / 32 + 1) * EP_Q8_BLOCK_BYTES], b[(N / 32 + 1) * EP_Q8_BLOCK_BYTES];
  for (int rep = 0; rep < 50; rep++) {
    for (int i = 0; i < N; i++) x[i] = frand() * (rep % 7 == 0 ? 1e-30f : rep % 5 == 0 ? 1e6f : 3.0f);
    for (int i = 0; i < 32; i++) x[64 + i] = (i == 0) ? 127.0f : (float)(i % 9) - 4.5f; /* halves */
    for (int i = 0; i < 32; i++) x[128 + i] = 0.0f;
    if (rep % 3 == 0) x[200] = NAN, x[260] = INFINITY, x[300] = -INFINITY;
    ep__quantize_q8_scalar(a, x, N);
    ep__quantize_q8_avx2(b, x, N);
    CHECK(memcmp(a, b, sizeof a) == 0);
    ep__quantize_q8_scalar(a, x, 45); /* short rows */
    ep__quantize_q8_avx2(b, x, 45);
    CHECK(memcmp(a, b, 2 * EP_Q8_BLOCK_BYTES) == 0);
  }
}

/* AVX2 dequantiser vs the scalar one, bit for bit (full blocks and tails,
 * scales from tiny to huge) */
static void test_q8_dequant_avx2(void) {
  if (!ep__avx2_available()) return;
  enum { N = 32 * 40 + 7 };
  static float x[N], a[N], b[N];
  static uint8_t q[(N / 32 + 1) * EP_Q8_BLOCK_BYTES];
  for (int rep = 0; rep < 20; rep++) {
    for (int i = 0; i < N; i++) x[i] = frand() * (rep % 7 == 0 ? 1e-30f : rep % 5 == 0 ? 1e6f : 3.0f);
    ep__quantize_q8_scalar(q, x, N);
    for (size_t n = N; n >= (size_t)N - 40; n -= 13) {
      ep__q8_to_f32_scalar(a, q, n);
      ep__q8_to_f32_avx2(b, q, n);
      CHECK(memcmp(a, b, n * sizeof(float)) == 0);
    }
  }
}

/* Batch invariance: row i of a matmul over n rows equals, bit for bit, the
 * same row computed alone (the 1-row GEMV, the 4 x 3 register tile with its
 * 1..4-row and 1..3-output edges, and the 12-row groups must sum every output
 * the same way). Odd sizes exercise the tails. */
static void test_batch_invariant(ep_kern *k, ep_kern_wtype wt, int n, int in, int out) {
  float *x = malloc(sizeof(float) * n * in), *b = malloc(sizeof(float) * out);
  float *wf = malloc(sizeof(float) * out * in);
  uint8_t *w = rand_w(wt, out, in, wf);
  float *yall = malloc(sizeof(float) * n * out), *y1 = malloc(sizeof(float) * n * out);
  for (int i = 0; i < n * in; i++) x[i] = frand();
  for (int i = 0; i < out; i++) b[i] = frand();
  int bad = 0;
  for (int m = 1; m <= n; m++) { /* first m rows together vs each row alone */
    ep_kern_matmul(k, yall, x, w, wt, b, m, in, out);
    for (int i = 0; i < m; i++) {
      ep_kern_matmul(k, y1, x + (size_t)i * in, w, wt, b, 1, in, out);
      bad += memcmp(y1, yall + (size_t)i * out, sizeof(float) * out) != 0;
    }
  }
  if (bad) fprintf(stderr, "batch invariance wt=%d in=%d out=%d: %d rows differ\n", wt, in, out, bad);
  CHECK_INT(bad, 0);
  free(x); free(b); free(w); free(wf); free(yall); free(y1);
}

/* Threaded row ops vs the reference, bitwise: small (caller only) and large
 * (split across the pool when threads > 1) sizes. */
static void test_row_ops(ep_kern *k) {
  const int d = 96, sizes[2] = {3, 1000};
  for (int si = 0; si < 2; si++) {
    int n = sizes[si];
    size_t len = (size_t)n * d + 5; /* not a multiple of 8 */
    float *x = malloc(sizeof(float) * len), *y0 = malloc(sizeof(float) * len),
          *y1 = malloc(sizeof(float) * len), *u = malloc(sizeof(float) * len);
    float w[96], bb[96];
    int *pos = malloc(sizeof(int) * n);
    double inv[16];
    ep_rope_inv_freq(inv, 32, 10000.0, NULL);
    for (size_t i = 0; i < len; i++) x[i] = frand() * 4, u[i] = frand();
    for (int i = 0; i < d; i++) w[i] = frand(), bb[i] = frand();
    for (int i = 0; i < n; i++) pos[i] = (i * 37) % 500;
    ep_ref_layernorm(y0, x, w, bb, n, d, 1e-5f);
    ep_kern_layernorm(k, y1, x, w, bb, n, d, 1e-5f);
    CHECK(memcmp(y0, y1, sizeof(float) * n * d) == 0);
    ep_ref_rmsnorm(y0, x, w, n, d, 1e-6f);
    ep_kern_rmsnorm(k, y1, x, w, n, d, 1e-6f);
    if (ep_kern_has_avx2(k)) { /* sum of squares in lanes: within 1e-6 relative */
      double worst = 0;
      for (size_t i = 0; i < (size_t)n * d; i++)
        worst = fmax(worst, fabs(y0[i] - y1[i]) / (1e-6 * fabs(y0[i]) + 1e-30));
      CHECK(worst <= 1.0);
      /* a row length with 16-, 8- and scalar tails */
      float xr[2 * 101], wr[101], r0[2 * 101], r1[2 * 101];
      for (int i = 0; i < 2 * 101; i++) xr[i] = frand() * 4;
      for (int i = 0; i < 101; i++) wr[i] = frand();
      ep_ref_rmsnorm(r0, xr, wr, 2, 101, 1e-6f);
      ep_kern_rmsnorm(k, r1, xr, wr, 2, 101, 1e-6f);
      for (int i = 0; i < 2 * 101; i++) worst = fmax(worst, fabs(r0[i] - r1[i]) / (1e-6 * fabs(r0[i]) + 1e-30));
      CHECK(worst <= 1.0);
      /* a row's result does not depend on its neighbours */
      ep_kern_rmsnorm(k, y0, x + d, w, 1, d, 1e-6f);
      CHECK(memcmp(y0, y1 + d, sizeof(float) * d) == 0);
    } else {
      CHECK(memcmp(y0, y1, sizeof(float) * n * d) == 0);
    }
    memcpy(y0, x, sizeof(float) * len), memcpy(y1, x, sizeof(float) * len);
    ep_ref_gelu_tanh(y0, (int)len);
    ep_kern_gelu_tanh(k, y1, len);
    CHECK(memcmp(y0, y1, sizeof(float) * len) == 0);
    memcpy(y0, x, sizeof(float) * len), memcpy(y1, x, sizeof(float) * len);
    ep_ref_swiglu(y0, u, (int)len);
    ep_kern_swiglu(k, y1, u, len);
    if (ep_kern_has_avx2(k)) { /* vector exp: within 1e-6 relative of expf (worst seen 3.6e-7) */
      double worst = 0;
      for (size_t i = 0; i < len; i++) worst = fmax(worst, fabs(y0[i] - y1[i]) / (1e-6 * fabs(y0[i]) + 1e-30));
      CHECK(worst <= 1.0);
    } else {
      CHECK(memcmp(y0, y1, sizeof(float) * len) == 0);
    }
    /* rope: 3 heads of 32 per row (d = 96) */
    memcpy(y0, x, sizeof(float) * len), memcpy(y1, x, sizeof(float) * len);
    for (int r = 0; r < n; r++) ep_ref_rope(y0 + (size_t)r * d, 3, 32, pos[r], inv);
    float *cs = malloc(sizeof(float) * (size_t)n * 32);
    ep_rope_cs(cs, n, 32, pos, inv);
    ep_kern_rope(k, y1, n, (size_t)d, 3, 32, cs);
    free(cs);
    CHECK(memcmp(y0, y1, sizeof(float) * len) == 0);
    free(x); free(y0); free(y1); free(u); free(pos);
  }
}

/* q/k/v-style multi-output call with mixed weight types vs the reference, and
 * bit for bit vs each output alone: threads claim row ranges of all outputs
 * together (ranges cross from one output into the next), which must not
 * change any output row. n = 1 with 300/131/517 rows of 768 is a decode step's
 * shape: many claims, none aligned with the outputs. */
static void test_multi(ep_kern *k, int n, int in, const int outs[3]) {
  float *x = malloc(sizeof(float) * n * in);
  for (int i = 0; i < n * in; i++) x[i] = frand();
  ep_mm_out op[3];
  uint8_t *w[3];
  int maxo = outs[0] > outs[1] ? outs[0] : outs[1];
  maxo = outs[2] > maxo ? outs[2] : maxo;
  float *wf[3], *yr[3], *bias = malloc(sizeof(float) * maxo), *ya = malloc(sizeof(float) * n * maxo);
  for (int i = 0; i < maxo; i++) bias[i] = frand();
  ep_kern_wtype wts[3] = {EP_KW_F32, EP_KW_Q8, EP_KW_BF16};
  for (int t = 0; t < 3; t++) {
    wf[t] = malloc(sizeof(float) * outs[t] * in);
    w[t] = rand_w(wts[t], outs[t], in, wf[t]);
    yr[t] = malloc(sizeof(float) * n * outs[t]);
    op[t] = (ep_mm_out){malloc(sizeof(float) * n * outs[t]), w[t], wts[t], t == 1 ? NULL : bias, outs[t]};
    ep_ref_matmul(yr[t], x, w[t], wts[t], op[t].bias, n, in, outs[t]);
  }
  CHECK_INT(ep_kern_matmul_multi(k, x, n, in, op, 3), EP_OK);
  for (int t = 0; t < 3; t++) {
    CHECK(t_maxdiff_f(op[t].y, yr[t], (size_t)n * outs[t]) <= 1e-6 * (1 + in));
    ep_kern_matmul(k, ya, x, w[t], wts[t], op[t].bias, n, in, outs[t]);
    CHECK(memcmp(ya, op[t].y, sizeof(float) * n * outs[t]) == 0);
    free(op[t].y); free(yr[t]); free(w[t]); free(wf[t]);
  }
  free(x); free(bias); free(ya);
}

/* Attention over a cache of npos positions in two layouts: one interleaved
 * row per position ([pos][n_kv*hd], what the reference reads) and head-major
 * ([n_kv][cap][hd], what the runtime stores), two caches with different
 * capacities whose unused positions hold NaN (read one and the check fails).
 * The reference gives bit-identical results on both layouts (same order of
 * operations); the fast kernel is within 1e-5 of it on both. */
static void test_attention(ep_kern *k, int hd, int n_head, int n_kv) {
  enum { ROWS = 6 };
  int kvd = n_kv * hd, npos = 37, qd = n_head * hd, caps[2] = {40, 45};
  int nps[ROWS] = {37, 35, 2, 1, 30, 4};
  float *kc = malloc(sizeof(float) * npos * kvd), *vc = malloc(sizeof(float) * npos * kvd);
  float *kh[2], *vh[2];
  for (int c = 0; c < 2; c++) {
    size_t n = (size_t)n_kv * caps[c] * hd;
    kh[c] = malloc(sizeof(float) * n), vh[c] = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) kh[c][i] = vh[c][i] = NAN;
  }
  float *q = malloc(sizeof(float) * ROWS * qd), *o0 = malloc(sizeof(float) * ROWS * qd),
        *o1 = malloc(sizeof(float) * ROWS * qd), *o2 = malloc(sizeof(float) * ROWS * qd),
        *o3 = malloc(sizeof(float) * ROWS * qd), *s = malloc(sizeof(float) * npos);
  for (int t = 0; t < npos; t++)
    for (int i = 0; i < kvd; i++) {
      float kv = frand() * 3, vv = frand();
      kc[t * kvd + i] = kv, vc[t * kvd + i] = vv;
      for (int c = 0; c < 2; c++) {
        size_t off = ((size_t)(i / hd) * caps[c] + t) * hd + i % hd;
        kh[c][off] = kv, vh[c][off] = vv;
      }
    }
  for (int i = 0; i < ROWS * qd; i++) q[i] = frand() * 3;
  ep_attn_row ri[ROWS], rh[ROWS];
  int same = 1;
  for (int i = 0; i < ROWS; i++) {
    int c = i % 2;
    size_t hs = (size_t)caps[c] * hd;
    ri[i] = (ep_attn_row){o1 + i * qd, q + i * qd, kc, vc, (size_t)hd, nps[i]};
    rh[i] = (ep_attn_row){o2 + i * qd, q + i * qd, kh[c], vh[c], hs, nps[i]};
    ep_ref_attention(o0 + i * qd, q + i * qd, kc, vc, nps[i], (size_t)kvd, (size_t)hd, n_head, n_kv,
                     hd, s);
    ep_ref_attention(o3 + i * qd, q + i * qd, kh[c], vh[c], nps[i], (size_t)hd, hs, n_head, n_kv, hd,
                     s);
  }
  for (int i = 0; i < ROWS * qd; i++) same &= o0[i] == o3[i];
  CHECK(same);
  CHECK_INT(ep_kern_attention(k, ri, ROWS, (size_t)kvd, n_head, n_kv, hd), EP_OK);
  CHECK_INT(ep_kern_attention(k, rh, ROWS, (size_t)hd, n_head, n_kv, hd), EP_OK);
  double worst = 0;
  for (int i = 0; i < ROWS * qd; i++)
    worst = fmax(worst, fmax(fabs(o0[i] - o1[i]), fabs(o0[i] - o2[i]))); /* fmax drops a NaN */
  for (int i = 0; i < ROWS * qd; i++) same &= !isnan(o1[i]) && !isnan(o2[i]);
  CHECK(same);
  CHECK(worst <= 1e-5);
  free(kc); free(vc); free(q); free(o0); free(o1); free(o2); free(o3); free(s);
  for (int c = 0; c < 2; c++) free(kh[c]), free(vh[c]);
}

static void pool_add(void *ctx, int task, int thread) {
  int *a = ctx;
  __atomic_fetch_add(&a[task], 1 + (thread >= 0), __ATOMIC_RELAXED);
}

static void test_pool(void) {
  ep_pool *p = ep_pool_new(3);
  int a[100] = {0};
  for (int rep = 0; rep < 1000; rep++) ep_pool_run(p, 100, pool_add, a);
  int ok = 1;
  for (int i = 0; i < 100; i++) ok &= a[i] == 2000;
  CHECK(ok);
  ep_pool_free(p);
  /* no spinning (EP_POOL_SPIN_US=0): every hand-off goes through the futex
   * sleep/wake paths of both the workers and the caller; pauses between jobs
   * let the workers fall asleep */
  setenv("EP_POOL_SPIN_US", "0", 1);
  p = ep_pool_new(3);
  unsetenv("EP_POOL_SPIN_US");
  int b[7] = {0};
  for (int rep = 0; rep < 400; rep++) {
    ep_pool_run(p, 7, pool_add, b);
    if (rep % 50 == 0) usleep(2000);
  }
  ok = 1;
  for (int i = 0; i < 7; i++) ok &= b[i] == 800;
  CHECK(ok);
  ep_pool_free(p);
}

int main(void) {
  RUN(test_convert);
  RUN(test_ref_small);
  RUN(test_pool);
  RUN(test_q8_quantize);
  RUN(test_q8_quantize_avx2);
  RUN(test_q8_dequant_avx2);
  const int shapes[][3] = {{1, 64, 64}, {1, 768, 300}, {3, 33, 17}, {7, 100, 129}, {20, 300, 260},
                           {1, 5, 3},   {2, 64, 9},    {5, 172, 64}, {8, 768, 68}, {16, 256, 256},
                           {33, 300, 1100}, {40, 768, 1000}, {17, 264, 300},
                           /* the sgemm path starts at 40 rows: ragged rows above it */
                           {49, 300, 1100}, {41, 264, 300},
                           /* Q8 rows over 8192 values (long-row kernel), 1-5 rows */
                           {1, 8224, 7}, {3, 8232, 5}, {5, 8224, 6},
                           /* AVX2 row kernel: 12-row group + 2 rows, 256-column K blocks
                            * with a short last one and a scalar tail, outputs 2 mod 3 */
                           {14, 523, 71}, {4, 1030, 38}};
  /* BLAS sizes: F16/BF16 widened in chunks; Q8 with AVX2 on 16-token x panels, K blocks
   * of 256 (a last block of 8 columns: part of a Q8 block), ragged token/output tails */
  /* AUTO picks AVX-512 where the CPU has it; then AVX2 is checked too (EP_KERN_AVX2) */
  const ep_kern_mode modes[3] = {EP_KERN_AUTO, EP_KERN_AVX2, EP_KERN_REF};
  const char *mode_name[3] = {"auto", "avx2", "ref"};
  for (int mode = 0; mode < 3; mode++)
    for (int th = 1; th <= 2; th++) {
      if (modes[mode] == EP_KERN_AVX2 && !ep__avx512_available()) continue; /* the same as auto */
      ep_kern *k = ep_kern_new(th, modes[mode]);
      CHECK(k != NULL);
      fprintf(stderr, "-- kern mode=%s isa=%s threads=%d\n", mode_name[mode], ep_kern_isa(k),
              ep_kern_threads(k));
      for (int wt = 0; wt < EP_KW_COUNT; wt++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
          test_matmul(k, (ep_kern_wtype)wt, shapes[s][0], shapes[s][1], shapes[s][2]);
      for (int wt = 0; wt < EP_KW_COUNT; wt++) {
        /* outputs = 1 and 2 mod 3 (edge tiles), 0 mod 3 */
        test_batch_invariant(k, (ep_kern_wtype)wt, 9, 200, 37);
        test_batch_invariant(k, (ep_kern_wtype)wt, 9, 200, 38);
        test_batch_invariant(k, (ep_kern_wtype)wt, 9, 768, 9);
        test_batch_invariant(k, (ep_kern_wtype)wt, 9, 203, 13);
        /* K blocks of 256 columns: several, a short last one, and a trailing
         * 8-block (2056 = 128 * 16 + 8); more rows than one 12-row group */
        test_batch_invariant(k, (ep_kern_wtype)wt, 9, 768, 70);
        test_batch_invariant(k, (ep_kern_wtype)wt, 9, 2056, 27);
        test_batch_invariant(k, (ep_kern_wtype)wt, 15, 520, 41);
        /* rows of more than 8192 values (257 Q8 blocks: the Q8 long-row kernel) */
        test_batch_invariant(k, (ep_kern_wtype)wt, 6, 8224, 5);
      }
      test_row_ops(k);
      test_attention(k, 16, 8, 2);
      test_attention(k, 64, 8, 2);   /* one 64-column pass with 8 accumulators (AVX2) */
      test_attention(k, 64, 6, 6);   /* no GQA */
      test_attention(k, 128, 4, 1);  /* two 64-column passes */
      test_attention(k, 40, 8, 2);   /* partial 64-column pass */
      test_attention(k, 96, 4, 2);   /* a full and a partial pass */
      test_attention(k, 12, 8, 2);   /* hd % 8 != 0: portable loop */
      test_q8_accuracy(k);
      test_multi(k, 5, 96, (const int[3]){64, 30, 129});
      test_multi(k, 1, 768, (const int[3]){300, 131, 517});
      ep_kern_free(k);
    }
  return t_finish();
}
