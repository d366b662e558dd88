/* Reference kernels: plain C, single thread, float32 arithmetic with float
 * accumulators in natural order (llm.c style). These are the oracle the fast
 * kernels and the model tests are checked against; keep them obvious. */
#include <math.h>
#include <string.h>

#include "kern/kern_impl.h"

float ep_bf16_to_f32(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

uint16_t ep_f32_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
  u += 0x7fffu + ((u >> 16) & 1);
  return (uint16_t)(u >> 16);
}

float ep_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
  if (exp == 0) {
    if (man == 0) {
      u = sign;
    } else { /* subnormal: normalise */
      int e = -1;
      do { e++; man <<= 1; } while (!(man & 0x400));
      u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | (man << 13);
  } else {
    u = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  memcpy(&f, &u, 4);
  return f;
}

uint16_t ep_f32_to_f16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  uint32_t sign = (u >> 16) & 0x8000;
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00);
  if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* overflow -> inf */
  if (a < 0x38800000u) {                                   /* subnormal or zero in f16 */
    if (a < 0x33000000u) return (uint16_t)sign;
    uint32_t e = a >> 23, m = (a & 0x7fffff) | 0x800000;
    /* value = m * 2^(e-150); the f16 subnormal unit is 2^-24 -> q = m >> (126 - e) */
    uint32_t shift = 126 - e;
    uint32_t r = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1))) r++;
    return (uint16_t)(sign | r);
  }
  uint32_t r = a + 0xfffu + ((a >> 13) & 1); /* round mantissa to 10 bits */
  r -= 0x38000000u;                          /* rebias exponent 127 -> 15 */
  return (uint16_t)(sign | (r >> 13));
}

void ep_kern_to_f32(float *dst, const void *src, ep_kern_wtype wt, size_t n) {
  if (wt == EP_KW_F32) {
    memcpy(dst, src, n * sizeof(float));
  } else if (wt == EP_KW_Q8) {
    ep__q8_to_f32(dst, src, n);
  } else {
    const uint8_t *p = src;
    for (size_t i = 0; i < n; i++) {
      uint16_t h;
      memcpy(&h, p + 2 * i, 2);
      dst[i] = wt == EP_KW_F16 ? ep_f16_to_f32(h) : ep_bf16_to_f32(h);
    }
  }
}

void ep_rope_inv_freq(double *inv, int hd, double theta, const ep_rope_scaling *s) {
  for (int i = 0; i < hd / 2; i++) {
    double f = 1.0 / pow(theta, (double)(2 * i) / hd);
    if (s && s->type == 1) {
      f /= s->factor;
    } else if (s && s->type == 2) {
      double lo_wl = s->original_max_pos / s->low_freq_factor;
      double hi_wl = s->original_max_pos / s->high_freq_factor;
      double wl = 2 * M_PI / f;
      if (wl > lo_wl) {
        f /= s->factor;
      } else if (wl >= hi_wl) {
        double sm = (s->original_max_pos / wl - s->low_freq_factor) /
                    (s->high_freq_factor - s->low_freq_factor);
        f = (1 - sm) * f / s->factor + sm * f;
      }
    }
    inv[i] = f;
  }
}

static float w_at(const void *w, ep_kern_wtype wt, size_t i) {
  if (wt == EP_KW_F32) return ((const float *)w)[i];
  uint16_t h;
  memcpy(&h, (const uint8_t *)w + 2 * i, 2);
  return wt == EP_KW_F16 ? ep_f16_to_f32(h) : ep_bf16_to_f32(h);
}

void ep_ref_matmul(float *y, const float *x, const void *w, ep_kern_wtype wt, const float *bias,
                   int n, int in, int out) {
  if (wt == EP_KW_Q8) {
    size_t rb = ep_kern_row_bytes(wt, in);
    for (int i = 0; i < n; i++)
      for (int o = 0; o < out; o++) {
        float acc = 0;
        for (int b0 = 0; b0 < in; b0 += EP_Q8_BLOCK) {
          uint8_t xq[EP_Q8_BLOCK_BYTES];
          int m = in - b0 < EP_Q8_BLOCK ? in - b0 : EP_Q8_BLOCK;
          ep_kern_quantize_q8(xq, x + (size_t)i * in + b0, m);
          acc += ep__q8_dot_scalar(xq, (const uint8_t *)w + o * rb + (size_t)(b0 / EP_Q8_BLOCK) * EP_Q8_BLOCK_BYTES, 1);
        }
        y[(size_t)i * out + o] = acc + (bias ? bias[o] : 0.0f);
      }
    return;
  }
  for (int i = 0; i < n; i++)
    for (int o = 0; o < out; o++) {
      float acc = 0;
      for (int j = 0; j < in; j++) acc += x[(size_t)i * in + j] * w_at(w, wt, (size_t)o * in + j);
      y[(size_t)i * out + o] = acc + (bias ? bias[o] : 0.0f);
    }
}

void ep_ref_matmul_in_out(float *y, const float *x, const float *w, const float *bias, int n, int in,
                          int out) {
  for (int i = 0; i < n; i++)
    for (int o = 0; o < out; o++) {
      float acc = 0;
      for (int j = 0; j < in; j++) acc += x[(size_t)i * in + j] * w[(size_t)j * out + o];
      y[(size_t)i * out + o] = acc + (bias ? bias[o] : 0.0f);
    }
}

void ep_ref_rmsnorm(float *y, const float *x, const float *w, int n, int d, float eps) {
  for (int i = 0; i < n; i++) {
    const float *xi = x + (size_t)i * d;
    float *yi = y + (size_t)i * d;
    float ss = 0;
    for (int j = 0; j < d; j++) ss += xi[j] * xi[j];
    float r = 1.0f / sqrtf(ss / d + eps);
    for (int j = 0; j < d; j++) yi[j] = xi[j] * r * w[j];
  }
}

void ep_ref_layernorm(float *y, const float *x, const float *w, const float *b, int n, int d,
                      float eps) {
  for (int i = 0; i < n; i++) {
    const float *xi = x + (size_t)i * d;
    float *yi = y + (size_t)i * d;
    float mean = 0, var = 0;
    for (int j = 0; j < d; j++) mean += xi[j];
    mean /= d;
    for (int j = 0; j < d; j++) var += (xi[j] - mean) * (xi[j] - mean);
    var /= d;
    float r = 1.0f / sqrtf(var + eps);
    for (int j = 0; j < d; j++) yi[j] = (xi[j] - mean) * r * w[j] + (b ? b[j] : 0.0f);
  }
}

void ep_ref_softmax(float *x, int n) {
  float mx = -INFINITY, sum = 0;
  for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
  for (int i = 0; i < n; i++) sum += (x[i] = expf(x[i] - mx));
  for (int i = 0; i < n; i++) x[i] /= sum;
}

void ep_rope_cs(float *cs, int nrows, int hd, const int *pos, const double *inv_freq) {
  int half = hd / 2;
  for (int r = 0; r < nrows; r++)
    for (int i = 0; i < half; i++) {
      double a = pos[r] * inv_freq[i];
      cs[(size_t)r * hd + i] = (float)cos(a);
      cs[(size_t)r * hd + half + i] = (float)sin(a);
    }
}

void ep_ref_rope(float *x, int n_head, int hd, int pos, const double *inv_freq) {
  int half = hd / 2;
  for (int i = 0; i < half; i++) {
    double a = pos * inv_freq[i];
    float c = (float)cos(a), s = (float)sin(a);
    for (int h = 0; h < n_head; h++) {
      float *xh = x + (size_t)h * hd;
      float x1 = xh[i], x2 = xh[i + half];
      xh[i] = x1 * c - x2 * s;
      xh[i + half] = x2 * c + x1 * s;
    }
  }
}

void ep_ref_rope_cs(float *x, int n_head, int hd, const float *cs) {
  int half = hd / 2;
  for (int i = 0; i < half; i++) {
    float c = cs[i], s = cs[half + i];
    for (int h = 0; h < n_head; h++) {
      float *xh = x + (size_t)h * hd;
      float x1 = xh[i], x2 = xh[i + half];
      xh[i] = x1 * c - x2 * s;
      xh[i + half] = x2 * c + x1 * s;
    }
  }
}

void ep_ref_gelu_tanh(float *x, int n) {
  const float k = 0.7978845608028654f; /* sqrt(2/pi) */
  for (int i = 0; i < n; i++) {
    float v = x[i];
    x[i] = 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
  }
}

void ep_ref_silu(float *x, int n) {
  for (int i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-x[i]));
}

void ep_ref_add(float *y, const float *x, int n) {
  for (int i = 0; i < n; i++) y[i] += x[i];
}

void ep_ref_swiglu(float *g, const float *u, int n) {
  for (int i = 0; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

void ep_ref_attention(float *out, const float *q, const float *k, const float *v, int n_pos,
                      size_t pos_stride, size_t head_stride, int n_head, int n_kv, int hd,
                      float *scratch) {
  int group = n_head / n_kv;
  float scale = 1.0f / sqrtf((float)hd);
  for (int h = 0; h < n_head; h++) {
    const float *qh = q + (size_t)h * hd;
    int kvh = h / group;
    for (int t = 0; t < n_pos; t++) {
      const float *kt = k + (size_t)t * pos_stride + (size_t)kvh * head_stride;
      float s = 0;
      for (int j = 0; j < hd; j++) s += qh[j] * kt[j];
      scratch[t] = s * scale;
    }
    ep_ref_softmax(scratch, n_pos);
    float *oh = out + (size_t)h * hd;
    for (int j = 0; j < hd; j++) oh[j] = 0;
    for (int t = 0; t < n_pos; t++) {
      const float *vt = v + (size_t)t * pos_stride + (size_t)kvh * head_stride;
      for (int j = 0; j < hd; j++) oh[j] += scratch[t] * vt[j];
    }
  }
}
