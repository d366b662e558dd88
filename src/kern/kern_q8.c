/* Q8 (block-32 symmetric int8) weights: row layout, quantisation, dequant,
 * the reference int8 block dot (exact integer sums, one float multiply-add
 * per block) and the scalar matmul block built on it. */
#include <math.h>
#include <string.h>

#include "kern/kern_impl.h"

size_t ep_kern_row_bytes(ep_kern_wtype wt, int in) {
  if (wt == EP_KW_Q8) return (size_t)((in + EP_Q8_BLOCK - 1) / EP_Q8_BLOCK) * EP_Q8_BLOCK_BYTES;
  return (size_t)in * (wt == EP_KW_F32 ? 4 : 2);
}

/* round half away from zero, exact for |v| < 2^23 (v - trunc(v) is exact);
 * inline instead of libm roundf: quantisation runs on every prefill matmul */
static inline int round_away(float v) {
  int i = (int)v;
  float d = v - (float)i;
  return d >= 0.5f ? i + 1 : d <= -0.5f ? i - 1 : i;
}

void ep__quantize_q8_scalar(void *dst, const float *src, int n) {
  uint8_t *p = dst;
  for (int b0 = 0; b0 < n; b0 += EP_Q8_BLOCK, p += EP_Q8_BLOCK_BYTES) {
    int m = n - b0 < EP_Q8_BLOCK ? n - b0 : EP_Q8_BLOCK;
    float amax = 0;
    for (int j = 0; j < m; j++) {
      float a = fabsf(src[b0 + j]);
      amax = a > amax ? a : amax;
    }
    float d = amax / 127.0f, inv = d > 0 ? 1.0f / d : 0.0f;
    int8_t q[EP_Q8_BLOCK] = {0};
    for (int j = 0; j < m; j++) {
      float v = src[b0 + j] * inv;
      int r = v > 127.0f ? 127 : v < -127.0f ? -127 : v == v ? round_away(v) : 0; /* NaN -> 0 */
      q[j] = (int8_t)(r > 127 ? 127 : r < -127 ? -127 : r);
    }
    memcpy(p, &d, 4);
    memcpy(p + 4, q, EP_Q8_BLOCK);
  }
}

void ep_kern_quantize_q8(void *dst, const float *src, int n) {
  static int use_avx2 = -1; /* same bytes either way (tested); AVX2 is just faster */
  if (use_avx2 < 0) use_avx2 = ep__avx2_available();
  if (use_avx2) ep__quantize_q8_avx2(dst, src, n);
  else ep__quantize_q8_scalar(dst, src, n);
}

void ep__q8_to_f32_scalar(float *dst, const void *src, size_t n) {
  const uint8_t *p = src;
  for (size_t b0 = 0; b0 < n; b0 += EP_Q8_BLOCK, p += EP_Q8_BLOCK_BYTES) {
    float d;
    memcpy(&d, p, 4);
    size_t m = n - b0 < EP_Q8_BLOCK ? n - b0 : EP_Q8_BLOCK;
    for (size_t j = 0; j < m; j++) dst[b0 + j] = d * (float)(int8_t)p[4 + j];
  }
}

void ep__q8_to_f32(float *dst, const void *src, size_t n) {
  static int use_avx2 = -1; /* same floats either way (one multiply per value, tested) */
  if (use_avx2 < 0) use_avx2 = ep__avx2_available();
  if (use_avx2) ep__q8_to_f32_avx2(dst, src, n);
  else ep__q8_to_f32_scalar(dst, src, n);
}

float ep__q8_dot_scalar(const void *x, const void *w, int nb) {
  const uint8_t *a = x, *b = w;
  float acc = 0;
  for (int k = 0; k < nb; k++, a += EP_Q8_BLOCK_BYTES, b += EP_Q8_BLOCK_BYTES) {
    float da, db;
    memcpy(&da, a, 4);
    memcpy(&db, b, 4);
    int32_t s = 0;
    for (int j = 0; j < EP_Q8_BLOCK; j++) s += (int32_t)(int8_t)a[4 + j] * (int32_t)(int8_t)b[4 + j];
    acc += (float)s * (da * db);
  }
  return acc;
}

void ep__mm_q8_scalar(float *y, size_t ys, const void *x, size_t xs, int nx, const void *w,
                      size_t wrb, int nw, int in, const float *bias) {
  int nb = (in + EP_Q8_BLOCK - 1) / EP_Q8_BLOCK;
  for (int o = 0; o < nw; o++)
    for (int i = 0; i < nx; i++)
      y[(size_t)i * ys + o] = ep__q8_dot_scalar((const uint8_t *)x + (size_t)i * xs,
                                                (const uint8_t *)w + (size_t)o * wrb, nb) +
                              (bias ? bias[o] : 0.0f);
}
