/* The AVX-512 kernels (src/kern/kern_avx512.c) against the reference kernels:
 * the SIMDe build of the file (ep__isa_avx512*_simde, runs on any CPU) always,
 * the native build only when this CPU has AVX-512 F/BW/VL (else it says so on
 * stdout and those checks are not run). Each table's matmul blocks, dots,
 * conversions and attention are called directly on odd shapes: row tails
 * (in % 16 != 0), 1..9 input rows (the 1 x 4 tile, the L2-blocked sweep of 5+
 * rows over several W blocks), odd Q8 block counts and Q8 rows over 8192
 * values (prepared in segments). Tolerances: matmul |diff| <= 1e-6 * (1 + in)
 * with |x|, |w| <= 1 (reordered float sums; Q8: the same integer block sums,
 * float steps reordered), attention 1e-5 absolute (vector exp ~1e-7 relative),
 * conversions exact; rows of a batch equal the row alone bit for bit, and the
 * VNNI and non-VNNI Q8 blocks agree bit for bit. */
#include <stdint.h>

#include "kern/kern.h"
#include "kern/kern_impl.h"
#include "test.h"

static uint32_t g_rng = 777;
static float frand(void) {
  g_rng = g_rng * 1664525u + 1013904223u;
  return ((g_rng >> 8) / 16777216.0f) * 2 - 1;
}

/* weights [out, in] of type wt from uniform floats in [-1, 1] */
static uint8_t *rand_w(ep_kern_wtype wt, int out, int in) {
  size_t rb = ep_kern_row_bytes(wt, in);
  uint8_t *w = malloc(rb * (size_t)out);
  float *row = malloc(sizeof(float) * (size_t)in);
  for (int o = 0; o < out; o++) {
    for (int i = 0; i < in; i++) row[i] = frand();
    uint8_t *r = w + rb * (size_t)o;
    if (wt == EP_KW_Q8) {
      ep_kern_quantize_q8(r, row, in);
      continue;
    }
    for (int i = 0; i < in; i++) {
      if (wt == EP_KW_F32) {
        memcpy(r + 4 * (size_t)i, &row[i], 4);
      } else {
        uint16_t h = wt == EP_KW_F16 ? ep_f32_to_f16(row[i]) : ep_f32_to_bf16(row[i]);
        memcpy(r + 2 * (size_t)i, &h, 2);
      }
    }
  }
  free(row);
  return w;
}

/* isa->mm[wt] on x[n, in] (Q8: x quantised per row first, as kern.c does);
 * y is [n, out] */
static void isa_mm(const ep__isa *isa, ep_kern_wtype wt, float *y, const float *x, int n, int in,
                   const uint8_t *w, int out, const float *bias) {
  size_t rb = ep_kern_row_bytes(wt, in);
  if (wt == EP_KW_Q8) {
    size_t qs = ep_kern_row_bytes(EP_KW_Q8, in);
    uint8_t *xq = malloc(qs * (size_t)n);
    for (int i = 0; i < n; i++) ep_kern_quantize_q8(xq + qs * (size_t)i, x + (size_t)i * in, in);
    isa->mm[wt](y, (size_t)out, xq, qs, n, w, rb, out, in, bias);
    free(xq);
    return;
  }
  isa->mm[wt](y, (size_t)out, x, (size_t)in * 4, n, w, rb, out, in, bias);
}

static const char *wt_name[] = {"f32", "f16", "bf16", "q8"};

/* n x in times out rows of W vs ep_ref_matmul, then each row alone vs its row
 * of the batch (bitwise) */
static void check_mm(const ep__isa *isa, ep_kern_wtype wt, int n, int in, int out) {
  float *x = malloc(sizeof(float) * (size_t)n * in), *b = malloc(sizeof(float) * (size_t)out);
  float *y0 = malloc(sizeof(float) * (size_t)n * out),
        *y1 = malloc(sizeof(float) * (size_t)n * out);
  float *y2 = malloc(sizeof(float) * (size_t)out);
  uint8_t *w = rand_w(wt, out, in);
  for (int i = 0; i < n * in; i++) x[i] = frand();
  for (int i = 0; i < out; i++) b[i] = frand();
  const float *bias = (n + in) % 2 ? b : NULL;
  ep_ref_matmul(y0, x, w, wt, bias, n, in, out);
  isa_mm(isa, wt, y1, x, n, in, w, out, bias);
  double worst = 0;
  for (int i = 0; i < n * out; i++) worst = fmax(worst, fabs((double)y0[i] - y1[i]) / (1 + in));
  int nan = 0, diff = 0;
  for (int i = 0; i < n * out; i++) nan += isnan(y1[i]);
  for (int i = 0; i < n; i++) {
    isa_mm(isa, wt, y2, x + (size_t)i * in, 1, in, w, out, bias);
    diff += memcmp(y2, y1 + (size_t)i * out, sizeof(float) * (size_t)out) != 0;
  }
  if (worst > 1e-6 || nan || diff)
    fprintf(stderr, "%s %s n=%d in=%d out=%d: worst %g, %d NaN, %d rows differ alone\n", isa->name,
            wt_name[wt], n, in, out, worst, nan, diff);
  CHECK(worst <= 1e-6);
  CHECK_INT(nan, 0);
  CHECK_INT(diff, 0);
  free(x);
  free(b);
  free(y0);
  free(y1);
  free(y2);
  free(w);
}

static void check_dot_cvt(const ep__isa *isa) {
  const int ns[] = {1, 7, 8, 15, 16, 17, 31, 32, 33, 48, 100, 769};
  for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
    int n = ns[t];
    float *x = malloc(sizeof(float) * (size_t)n), *a = malloc(sizeof(float) * (size_t)n),
          *c = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) x[i] = frand();
    for (int wt = EP_KW_F32; wt <= EP_KW_BF16; wt++) {
      uint8_t *w = rand_w((ep_kern_wtype)wt, 1, n);
      float r;
      ep_ref_matmul(&r, x, w, (ep_kern_wtype)wt, NULL, 1, n, 1);
      CHECK(fabs(isa->dot[wt](x, w, n) - r) <= 1e-6 * (1 + n));
      if (wt != EP_KW_F32) { /* widening is exact */
        ep_kern_to_f32(a, w, (ep_kern_wtype)wt, (size_t)n);
        isa->cvt[wt](c, w, n);
        CHECK(memcmp(a, c, sizeof(float) * (size_t)n) == 0);
      }
      free(w);
    }
    free(x);
    free(a);
    free(c);
  }
}

/* one head over n_pos positions of a head-major cache (stride hd) whose
 * positions past n_pos hold NaN, vs ep_ref_attention */
static void check_attn(const ep__isa *isa, int hd, int n_pos) {
  int cap = n_pos + 3;
  float *k = malloc(sizeof(float) * (size_t)cap * hd),
        *v = malloc(sizeof(float) * (size_t)cap * hd);
  float *q = malloc(sizeof(float) * (size_t)hd), *o0 = malloc(sizeof(float) * (size_t)hd),
        *o1 = malloc(sizeof(float) * (size_t)hd), *s = malloc(sizeof(float) * (size_t)cap);
  for (int i = 0; i < cap * hd; i++)
    k[i] = i < n_pos * hd ? frand() * 3 : NAN, v[i] = i < n_pos * hd ? frand() : NAN;
  for (int i = 0; i < hd; i++) q[i] = frand() * 3;
  ep_ref_attention(o0, q, k, v, n_pos, (size_t)hd, 0, 1, 1, hd, s);
  isa->attn(o1, q, k, v, n_pos, (size_t)hd, hd, 1.0f / sqrtf((float)hd), s);
  double worst = 0;
  int nan = 0;
  for (int i = 0; i < hd; i++)
    worst = fmax(worst, fabs((double)o0[i] - o1[i])), nan += isnan(o1[i]);
  if (worst > 1e-5 || nan)
    fprintf(stderr, "%s attention hd=%d n_pos=%d: worst %g, %d NaN\n", isa->name, hd, n_pos, worst,
            nan);
  CHECK(worst <= 1e-5);
  CHECK_INT(nan, 0);
  free(k);
  free(v);
  free(q);
  free(o0);
  free(o1);
  free(s);
}

static void check_isa(const ep__isa *isa) {
  fprintf(stderr, "-- isa %s\n", isa->name);
  CHECK(isa->avx2 == 1);
  check_dot_cvt(isa);
  /* in: tails of every length class (16-blocks, a lone 16, < 16 values), odd Q8
   * block counts; out 70 x 768 f32 rows = 3 L2 blocks of 96 KB for 5+ rows */
  const int shapes[][2] = {{1, 1},   {5, 3},    {7, 17},   {15, 9},   {16, 4},
                           {17, 13}, {31, 6},   {33, 5},   {48, 11},  {100, 37},
                           {129, 8}, {300, 21}, {768, 70}, {2056, 27}};
  for (int wt = 0; wt < EP_KW_COUNT; wt++)
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
      for (int n = 1; n <= 9; n++) {
        if (shapes[s][0] >= 768 && n != 1 && n != 4 && n != 5 && n != 9)
          continue; /* keep it quick */
        check_mm(isa, (ep_kern_wtype)wt, n, shapes[s][0], shapes[s][1]);
      }
  /* Q8 rows longer than one prepared segment (256 blocks = 8192 values): 260 blocks */
  check_mm(isa, EP_KW_Q8, 1, 8300, 5);
  check_mm(isa, EP_KW_Q8, 6, 8300, 70);
  const int hds[] = {8, 16, 24, 40, 64, 96, 128, 136, 256};
  const int nps[] = {1, 3, 4, 5, 17, 37};
  for (size_t h = 0; h < sizeof hds / sizeof hds[0]; h++)
    for (size_t p = 0; p < sizeof nps / sizeof nps[0]; p++) check_attn(isa, hds[h], nps[p]);
}

/* the VNNI and the vpmaddubsw Q8 blocks: the same integer sums, the same bits */
static void check_vnni_same(const ep__isa *a, const ep__isa *b) {
  const int n = 6, in = 8300, out = 9;
  float *x = malloc(sizeof(float) * n * in), *ya = malloc(sizeof(float) * n * out),
        *yb = malloc(sizeof(float) * n * out);
  for (int i = 0; i < n * in; i++) x[i] = frand() * 4;
  uint8_t *w = rand_w(EP_KW_Q8, out, in);
  isa_mm(a, EP_KW_Q8, ya, x, n, in, w, out, NULL);
  isa_mm(b, EP_KW_Q8, yb, x, n, in, w, out, NULL);
  CHECK(memcmp(ya, yb, sizeof(float) * n * out) == 0);
  free(x);
  free(ya);
  free(yb);
  free(w);
}

int main(void) {
  check_isa(&ep__isa_avx512_simde);
  check_isa(&ep__isa_avx512_vnni_simde);
  check_vnni_same(&ep__isa_avx512_simde, &ep__isa_avx512_vnni_simde);
  int a5 = ep__avx512_available();
  if (a5) {
    printf("native AVX-512: available%s, checked\n", a5 == 2 ? " with VNNI" : " (no VNNI)");
    check_isa(&ep__isa_avx512);
    if (a5 == 2) {
      check_isa(&ep__isa_avx512_vnni);
      check_vnni_same(&ep__isa_avx512, &ep__isa_avx512_vnni);
    }
    /* a context picks it unless told otherwise (env EP_KERN unset) */
    if (getenv("EP_KERN")) return t_finish();
    ep_kern *k = ep_kern_new(1, EP_KERN_AUTO), *k2 = ep_kern_new(1, EP_KERN_AVX2);
    CHECK_STR(ep_kern_isa(k), a5 == 2 ? "avx512vnni" : "avx512");
    CHECK_STR(ep_kern_isa(k2), "avx2");
    ep_kern_free(k), ep_kern_free(k2);
  } else {
    printf(
        "native AVX-512: not available on this CPU, native kernels SKIPPED (only the SIMDe build "
        "was checked)\n");
  }
  return t_finish();
}
