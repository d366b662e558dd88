/* AVX-512 (F/BW/VL, VNNI when present) decode kernels: matmul blocks for
 * F32/F16/BF16/Q8 weights, dot products, row widening and attention over the
 * head-major KV cache, 16 floats per register. Compiled for baseline x86-64
 * with function target attributes and only used after ep__avx512_available();
 * the packed GEMM, encoder and Q8 prefill panels stay on their AVX2 code.
 * Built a second time with -DEP_KERN_SIMDE against SIMDe (portable emulation
 * of the same intrinsics, symbols suffixed _simde) so the unit tests can check
 * these kernels on machines without AVX-512. Not a goal: prefill GEMMs. */
#include <math.h>
#include <string.h>

#include "kern/kern_impl.h"

#if defined(EP_KERN_SIMDE)
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#include <simde/x86/f16c.h>
#include <simde/x86/fma.h>
#define A5_FN
#define A5_VNNI_FN
#define A5_SYM(n) n##_simde
#define A5_PREFETCH(p) __builtin_prefetch((p), 0, 2)
#define A5_ENABLED 1
#elif defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#define A5_FN __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define A5_VNNI_FN __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define A5_SYM(n) n
#define A5_PREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T1)
#define A5_ENABLED 1
#else
#define A5_ENABLED 0
#endif

#if A5_ENABLED
#define A5_INLINE static inline __attribute__((always_inline))

/* ---- compat: intrinsics SIMDe 0.7.4 lacks, composed of ones it has (the
 * native build uses the real instruction; both give the same bits) ---- */
#if defined(EP_KERN_SIMDE)
/* SIMDe names without native aliases in 0.7.4 (its _mm512_madd_epi16 alias is
 * defined with the masked form's 4 arguments) */
#define __mmask16 simde__mmask16
#define __mmask64 simde__mmask64
#ifndef _MM_FROUND_NO_EXC
#define _MM_FROUND_NO_EXC SIMDE_MM_FROUND_NO_EXC
#endif
#define a5_madd16 simde_mm512_madd_epi16
A5_INLINE __m512 a5_join_ps(__m256 lo, __m256 hi) {
  return _mm512_castpd_ps(
      _mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(lo)), _mm256_castps_pd(hi), 1));
}
A5_INLINE __m512 a5_cvt_i32(__m512i v) {
  return a5_join_ps(_mm256_cvtepi32_ps(_mm512_castsi512_si256(v)),
                    _mm256_cvtepi32_ps(_mm512_extracti64x4_epi64(v, 1)));
}
A5_INLINE __m512 a5_cvtph(__m256i h) {
  return a5_join_ps(_mm256_cvtph_ps(_mm256_castsi256_si128(h)),
                    _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1)));
}
A5_INLINE __m512i a5_u16_to_i32(__m256i h) {
  return _mm512_inserti64x4(
      _mm512_castsi256_si512(_mm256_cvtepu16_epi32(_mm256_castsi256_si128(h))),
      _mm256_cvtepu16_epi32(_mm256_extracti128_si256(h, 1)), 1);
}
/* n (0 < n < 16) values, zero-padded, without reading past p + n */
A5_INLINE __m512 a5_ld_f32_n(const float *p, int n) {
  float t[16] = {0};
  memcpy(t, p, (size_t)n * sizeof(float));
  return _mm512_loadu_ps(t);
}
A5_INLINE __m256i a5_ld_16_n(const uint8_t *p, int n) {
  uint16_t t[16] = {0};
  memcpy(t, p, (size_t)n * 2);
  return _mm256_loadu_si256((const __m256i *)t);
}
#else
#define a5_madd16 _mm512_madd_epi16
A5_FN A5_INLINE __m512 a5_cvt_i32(__m512i v) { return _mm512_cvtepi32_ps(v); }
A5_FN A5_INLINE __m512 a5_cvtph(__m256i h) { return _mm512_cvtph_ps(h); }
A5_FN A5_INLINE __m512i a5_u16_to_i32(__m256i h) { return _mm512_cvtepu16_epi32(h); }
A5_FN A5_INLINE __m512 a5_ld_f32_n(const float *p, int n) {
  return _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p);
}
A5_FN A5_INLINE __m256i a5_ld_16_n(const uint8_t *p, int n) {
  return _mm256_maskz_loadu_epi16((__mmask16)((1u << n) - 1), p);
}
#endif

/* horizontal sum in a fixed order (256-bit halves, then 128, 64, 32) */
A5_FN A5_INLINE float a5_hsum256(__m256 h) {
  __m128 l = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  l = _mm_add_ps(l, _mm_movehl_ps(l, l));
  l = _mm_add_ss(l, _mm_shuffle_ps(l, l, 1));
  return _mm_cvtss_f32(l);
}
A5_FN A5_INLINE float a5_hsum(__m512 v) {
  return a5_hsum256(_mm256_add_ps(
      _mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
}

/* weight loaders: 16 values at p, and n (0 < n < 16) values zero-padded */
A5_FN A5_INLINE __m512 ld_f32(const uint8_t *p) { return _mm512_loadu_ps((const float *)p); }
A5_FN A5_INLINE __m512 ld_f32_n(const uint8_t *p, int n) {
  return a5_ld_f32_n((const float *)p, n);
}
A5_FN A5_INLINE __m512 ld_f16(const uint8_t *p) {
  return a5_cvtph(_mm256_loadu_si256((const __m256i *)p));
}
A5_FN A5_INLINE __m512 ld_f16_n(const uint8_t *p, int n) { return a5_cvtph(a5_ld_16_n(p, n)); }
A5_FN A5_INLINE __m512 ld_bf16(const uint8_t *p) {
  return _mm512_castsi512_ps(
      _mm512_slli_epi32(a5_u16_to_i32(_mm256_loadu_si256((const __m256i *)p)), 16));
}
A5_FN A5_INLINE __m512 ld_bf16_n(const uint8_t *p, int n) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(a5_u16_to_i32(a5_ld_16_n(p, n)), 16));
}

/* ---- F32/F16/BF16 matmul ----
 * One weight row x up to 4 input rows (tile 1 x NR); W is streamed row after
 * row (interleaving rows defeats the hardware prefetcher, see kern_avx2_mm.h).
 * Every output is summed the same way whatever the batch size: accumulator e
 * takes the first 16 of each 32 values, f the second 16, a 16-block left over
 * goes to e, the zero-padded tail (< 16 values) to f, then hsum(e + f) + bias;
 * so a token's logits do not depend on what else is in the batch. */
/* per-row steps on named accumulators (ACC##0..3): arrays of vectors indexed
 * in loops ended up in memory */
#define A5_FMA_R(R, XOFF, B, ACC) \
  if (NR > R) ACC##R = _mm512_fmadd_ps(_mm512_loadu_ps(xr[R] + (XOFF)), B, ACC##R)
#define A5_FMA4(XOFF, B, ACC) \
  A5_FMA_R(0, XOFF, B, ACC);  \
  A5_FMA_R(1, XOFF, B, ACC);  \
  A5_FMA_R(2, XOFF, B, ACC);  \
  A5_FMA_R(3, XOFF, B, ACC)
#define A5_FMAN_R(R, XOFF, N, B) \
  if (NR > R) f##R = _mm512_fmadd_ps(a5_ld_f32_n(xr[R] + (XOFF), N), B, f##R)
#define A5_OUT_R(R) \
  if (NR > R) y[(size_t)R * ys] = a5_hsum(_mm512_add_ps(e##R, f##R)) + bo
#define A5_TILE(NAME, LOAD, LOADN, ESZ)                                                     \
  A5_FN A5_INLINE void NAME(float *y, size_t ys, const float *const *xr, const uint8_t *wr, \
                            int in, float bo, size_t pfd, const int NR) {                   \
    __m512 e0 = _mm512_setzero_ps(), e1 = e0, e2 = e0, e3 = e0, f0 = e0, f1 = e0, f2 = e0,  \
           f3 = e0;                                                                         \
    int in32 = in & ~31, in16 = in & ~15;                                                   \
    for (int j = 0; j < in32; j += 32) {                                                    \
      if (pfd) { /* next L2 block (A5_MM), one line per 64 bytes of W */                    \
        A5_PREFETCH(wr + (size_t)j * ESZ + pfd);                                            \
        if (ESZ == 4) A5_PREFETCH(wr + (size_t)j * ESZ + 64 + pfd);                         \
      }                                                                                     \
      __m512 b = LOAD(wr + (size_t)j * ESZ), c = LOAD(wr + (size_t)(j + 16) * ESZ);         \
      A5_FMA4(j, b, e);                                                                     \
      A5_FMA4(j + 16, c, f);                                                                \
    }                                                                                       \
    if (in16 > in32) {                                                                      \
      __m512 b = LOAD(wr + (size_t)in32 * ESZ);                                             \
      A5_FMA4(in32, b, e);                                                                  \
    }                                                                                       \
    if (in > in16) {                                                                        \
      __m512 b = LOADN(wr + (size_t)in16 * ESZ, in - in16);                                 \
      A5_FMAN_R(0, in16, in - in16, b);                                                     \
      A5_FMAN_R(1, in16, in - in16, b);                                                     \
      A5_FMAN_R(2, in16, in - in16, b);                                                     \
      A5_FMAN_R(3, in16, in - in16, b);                                                     \
    }                                                                                       \
    A5_OUT_R(0);                                                                            \
    A5_OUT_R(1);                                                                            \
    A5_OUT_R(2);                                                                            \
    A5_OUT_R(3);                                                                            \
  }

/* rows 0..nw of W, each used by all nx input rows while it is in L1 */
#define A5_ROWS(NAME, TILE)                                                               \
  A5_FN static void NAME(float *y, size_t ys, const uint8_t *xb, size_t xs, int nx,       \
                         const uint8_t *w, size_t wrb, int nw, int in, const float *bias, \
                         size_t pfd) {                                                    \
    for (int o = 0; o < nw; o++) {                                                        \
      const uint8_t *wr = w + (size_t)o * wrb;                                            \
      float bo = bias ? bias[o] : 0.0f;                                                   \
      for (int i = 0; i < nx; i += 4) {                                                   \
        const float *xr[4];                                                               \
        int nr = nx - i < 4 ? nx - i : 4;                                                 \
        for (int r = 0; r < nr; r++) xr[r] = (const float *)(xb + (size_t)(i + r) * xs);  \
        float *yo = y + (size_t)i * ys + o;                                               \
        switch (nr) {                                                                     \
          case 1:                                                                         \
            TILE(yo, ys, xr, wr, in, bo, pfd, 1);                                         \
            break;                                                                        \
          case 2:                                                                         \
            TILE(yo, ys, xr, wr, in, bo, pfd, 2);                                         \
            break;                                                                        \
          case 3:                                                                         \
            TILE(yo, ys, xr, wr, in, bo, pfd, 3);                                         \
            break;                                                                        \
          default:                                                                        \
            TILE(yo, ys, xr, wr, in, bo, pfd, 4);                                         \
            break;                                                                        \
        }                                                                                 \
      }                                                                                   \
    }                                                                                     \
  }

/* 5+ input rows: W in blocks of about A5_BLOCK_BYTES (rows whole), each block
 * swept once per group of 4 input rows; the last sweep prefetches the next
 * block into L2 (the AVX2 kernel's scheme and block size: kern_avx2_mm.h) */
#define A5_BLOCK_BYTES (96 * 1024)
#define A5_MM(NAME, ROWS)                                                                        \
  A5_FN static void NAME(float *y, size_t ys, const void *xv, size_t xs, int nx, const void *wv, \
                         size_t wrb, int nw, int in, const float *bias) {                        \
    const uint8_t *xb = xv, *w = wv;                                                             \
    if (nx <= 4) {                                                                               \
      ROWS(y, ys, xb, xs, nx, w, wrb, nw, in, bias, 0);                                          \
      return;                                                                                    \
    }                                                                                            \
    int nb = (int)(A5_BLOCK_BYTES / wrb);                                                        \
    if (nb < 4) nb = 4;                                                                          \
    for (int o = 0; o < nw; o += nb) {                                                           \
      int n = nw - o < nb ? nw - o : nb;                                                         \
      size_t pfd = o + n < nw ? (size_t)n * wrb : 0;                                             \
      for (int i = 0; i < nx; i += 4)                                                            \
        ROWS(y + (size_t)i * ys + o, ys, xb + (size_t)i * xs, xs, nx - i < 4 ? nx - i : 4,       \
             w + (size_t)o * wrb, wrb, n, in, bias ? bias + o : NULL, i + 4 >= nx ? pfd : 0);    \
    }                                                                                            \
  }

#define A5_DOT(NAME, TILE)                                        \
  A5_FN static float NAME(const float *x, const void *w, int n) { \
    float y;                                                      \
    const float *xr[1] = {x};                                     \
    TILE(&y, 0, xr, (const uint8_t *)w, n, 0.0f, 0, 1);           \
    return y;                                                     \
  }

A5_TILE(tile_f32, ld_f32, ld_f32_n, 4)
A5_TILE(tile_f16, ld_f16, ld_f16_n, 2)
A5_TILE(tile_bf16, ld_bf16, ld_bf16_n, 2)
A5_ROWS(rows_f32, tile_f32)
A5_ROWS(rows_f16, tile_f16)
A5_ROWS(rows_bf16, tile_bf16)
A5_MM(mm_a5_f32, rows_f32)
A5_MM(mm_a5_f16, rows_f16)
A5_MM(mm_a5_bf16, rows_bf16)
A5_DOT(dot_a5_f32, tile_f32)
A5_DOT(dot_a5_f16, tile_f16)
A5_DOT(dot_a5_bf16, tile_bf16)

/* rows widened to f32 (exact), 16 values per step, the tail by the scalar loop */
A5_FN static void cvt_a5_f16(float *d, const void *s, int n) {
  const uint8_t *p = s;
  int i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(d + i, ld_f16(p + 2 * (size_t)i));
  if (i < n) ep_kern_to_f32(d + i, p + 2 * (size_t)i, EP_KW_F16, (size_t)(n - i));
}
A5_FN static void cvt_a5_bf16(float *d, const void *s, int n) {
  const uint8_t *p = s;
  int i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(d + i, ld_bf16(p + 2 * (size_t)i));
  if (i < n) ep_kern_to_f32(d + i, p + 2 * (size_t)i, EP_KW_BF16, (size_t)(n - i));
}

/* ---- Q8 matmul ----
 * Two Q8 blocks per 512-bit register (bytes 0-31 block 2p, 32-63 block 2p+1;
 * a row's odd last block pairs with zeros). Input rows are prepared once per
 * call: |x| bytes, the mask of negative x bytes and the two blocks' scales as
 * lanes 0-7 / 8-15. Per weight pair: w negated where x < 0, then 16 exact
 * int32 sums of 4 products |x| * (+-w) (vpdpbusd with VNNI, else
 * vpmaddubsw + vpmaddwd: no saturation as |q| <= 127, the same sums), to
 * float, times sx * sw per lane, into one of two accumulators (even / odd
 * pairs). The same arithmetic for every batch size. */
#define Q5_MAXP 128 /* block pairs prepared at once: 8192 values; longer rows in segments */
#define Q5_WBLK 64  /* W rows per sweep over the input row groups when nx > 4 */

typedef struct {
  __m512i a[Q5_MAXP];     /* |x| */
  __m512 s[Q5_MAXP];      /* x scale of block 2p in lanes 0-7, 2p+1 in 8-15 (0 past the row) */
  __mmask64 neg[Q5_MAXP]; /* x bytes < 0 */
} q5_xprep;

/* the 32 quant bytes of block b (and of b + 1 when two, else zeros) */
A5_FN A5_INLINE __m512i q5_pair(const uint8_t *b, int two) {
  __m256i lo = _mm256_loadu_si256((const __m256i *)(b + 4));
  __m256i hi = two ? _mm256_loadu_si256((const __m256i *)(b + 4 + EP_Q8_BLOCK_BYTES))
                   : _mm256_setzero_si256();
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}
A5_FN A5_INLINE __m512 q5_scales(const uint8_t *b, int two) {
  float s0, s1 = 0.0f;
  memcpy(&s0, b, 4);
  if (two) memcpy(&s1, b + EP_Q8_BLOCK_BYTES, 4);
  return _mm512_mask_broadcastss_ps(_mm512_set1_ps(s0), (__mmask16)0xff00, _mm_set_ss(s1));
}
A5_FN static void q5_prep(q5_xprep *p, const uint8_t *x, int nb) {
  for (int b = 0, i = 0; b < nb; b += 2, i++) {
    const uint8_t *xb = x + (size_t)b * EP_Q8_BLOCK_BYTES;
    __m512i v = q5_pair(xb, b + 1 < nb);
    p->a[i] = _mm512_abs_epi8(v);
    p->neg[i] = _mm512_movepi8_mask(v);
    p->s[i] = q5_scales(xb, b + 1 < nb);
  }
}

#define Q5_DOT_VNNI(a, b) _mm512_dpbusd_epi32(_mm512_setzero_si512(), (a), (b))
#define Q5_DOT_BW(a, b) a5_madd16(_mm512_maddubs_epi16((a), (b)), _mm512_set1_epi16(1))

/* one weight row (segment of nb blocks) x NR prepared input rows; add: y +=
 * (a later segment) instead of y = sum + bias */
#define A5_Q8_TILE(NAME, ATTR, DOTI)                                                          \
  ATTR A5_INLINE void NAME(float *y, size_t ys, const q5_xprep *const *xp, const uint8_t *wr, \
                           int nb, float bo, int add, const int NR) {                         \
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,  \
           c30 = c00, c31 = c00;                                                              \
    int np = nb / 2, p = 0;                                                                   \
    for (; p + 2 <= np; p += 2) {                                                             \
      Q5_STEP(DOTI, p, 1, 0);                                                                 \
      Q5_STEP(DOTI, p + 1, 1, 1);                                                             \
    }                                                                                         \
    if (p < np) Q5_STEP(DOTI, p++, 1, 0);                                                     \
    if (nb & 1) Q5_STEP(DOTI, p, 0, 1);                                                       \
    Q5_OUT_R(0);                                                                              \
    Q5_OUT_R(1);                                                                              \
    Q5_OUT_R(2);                                                                              \
    Q5_OUT_R(3);                                                                              \
  }
#define Q5_OUT_R(R)                                           \
  if (NR > R) {                                               \
    float t = a5_hsum(_mm512_add_ps(c##R##0, c##R##1));       \
    y[(size_t)R * ys] = add ? y[(size_t)R * ys] + t : t + bo; \
  }
#define Q5_ROW(DOTI, R, P, ACC)                                                                    \
  if (NR > R) {                                                                                    \
    __m512i sw = _mm512_mask_sub_epi8(wq, xp[R]->neg[P], _mm512_setzero_si512(), wq);              \
    c##R##ACC = _mm512_fmadd_ps(a5_cvt_i32(DOTI(xp[R]->a[P], sw)), _mm512_mul_ps(xp[R]->s[P], ws), \
                                c##R##ACC);                                                        \
  }
#define Q5_STEP(DOTI, P, TWO, ACC)                               \
  do {                                                           \
    const int p_ = (P);                                          \
    const uint8_t *wb = wr + (size_t)p_ * 2 * EP_Q8_BLOCK_BYTES; \
    __m512i wq = q5_pair(wb, TWO);                               \
    __m512 ws = q5_scales(wb, TWO);                              \
    Q5_ROW(DOTI, 0, p_, ACC)                                     \
    Q5_ROW(DOTI, 1, p_, ACC)                                     \
    Q5_ROW(DOTI, 2, p_, ACC)                                     \
    Q5_ROW(DOTI, 3, p_, ACC)                                     \
  } while (0)

#define A5_Q8_MM(NAME, ATTR, TILE)                                                              \
  ATTR static void NAME(float *y, size_t ys, const void *xv, size_t xs, int nx, const void *wv, \
                        size_t wrb, int nw, int in, const float *bias) {                        \
    const uint8_t *xb = xv, *w = wv;                                                            \
    int nb = (in + EP_Q8_BLOCK - 1) / EP_Q8_BLOCK, wblk = nx <= 4 ? nw : Q5_WBLK;               \
    q5_xprep prep[4];                                                                           \
    const q5_xprep *xp[4] = {&prep[0], &prep[1], &prep[2], &prep[3]};                           \
    for (int s0 = 0; s0 < nb; s0 += 2 * Q5_MAXP) {                                              \
      int sn = nb - s0 < 2 * Q5_MAXP ? nb - s0 : 2 * Q5_MAXP;                                   \
      size_t soff = (size_t)s0 * EP_Q8_BLOCK_BYTES;                                             \
      for (int o0 = 0; o0 < nw; o0 += wblk) {                                                   \
        int o1 = nw - o0 < wblk ? nw : o0 + wblk;                                               \
        for (int i = 0; i < nx; i += 4) {                                                       \
          int nr = nx - i < 4 ? nx - i : 4;                                                     \
          for (int r = 0; r < nr; r++) q5_prep(&prep[r], xb + (size_t)(i + r) * xs + soff, sn); \
          for (int o = o0; o < o1; o++) {                                                       \
            float *yo = y + (size_t)i * ys + o, bo = bias ? bias[o] : 0.0f;                     \
            const uint8_t *wr = w + (size_t)o * wrb + soff;                                     \
            switch (nr) {                                                                       \
              case 1:                                                                           \
                TILE(yo, ys, xp, wr, sn, bo, s0 > 0, 1);                                        \
                break;                                                                          \
              case 2:                                                                           \
                TILE(yo, ys, xp, wr, sn, bo, s0 > 0, 2);                                        \
                break;                                                                          \
              case 3:                                                                           \
                TILE(yo, ys, xp, wr, sn, bo, s0 > 0, 3);                                        \
                break;                                                                          \
              default:                                                                          \
                TILE(yo, ys, xp, wr, sn, bo, s0 > 0, 4);                                        \
                break;                                                                          \
            }                                                                                   \
          }                                                                                     \
        }                                                                                       \
      }                                                                                         \
    }                                                                                           \
  }

A5_Q8_TILE(q5_tile_bw, A5_FN, Q5_DOT_BW)
A5_Q8_TILE(q5_tile_vnni, A5_VNNI_FN, Q5_DOT_VNNI)
A5_Q8_MM(mm_a5_q8, A5_FN, q5_tile_bw)
A5_Q8_MM(mm_a5_q8_vnni, A5_VNNI_FN, q5_tile_vnni)

/* ---- attention ---- */
/* e^a for a <= 0 (softmax numerators): ep__exp_ps's range reduction and
 * degree-6 polynomial on 16 lanes (relative error ~1e-7), 2^n by vscalefps */
A5_FN A5_INLINE __m512 a5_exp(__m512 a) {
  a = _mm512_max_ps(a, _mm512_set1_ps(-87.0f));
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(a, _mm512_set1_ps(1.44269504088896341f)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), a);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f), r);
  __m512 p = _mm512_set1_ps(1.0f / 720);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

/* x[i] = exp(x[i] - max x), returns the sum (x has no NaN) */
A5_FN static float a5_softmax_num(float *x, int n) {
  int i = 0;
  float mx = x[0];
  if (n >= 16) {
    __m512 mv = _mm512_loadu_ps(x);
    for (i = 16; i + 16 <= n; i += 16) mv = _mm512_max_ps(mv, _mm512_loadu_ps(x + i));
    float lane[16];
    _mm512_storeu_ps(lane, mv);
    for (int l = 0; l < 16; l++) mx = lane[l] > mx ? lane[l] : mx;
  }
  for (; i < n; i++) mx = x[i] > mx ? x[i] : mx;
  __m512 m = _mm512_set1_ps(mx), acc = _mm512_setzero_ps();
  for (i = 0; i + 16 <= n; i += 16) {
    __m512 e = a5_exp(_mm512_sub_ps(_mm512_loadu_ps(x + i), m));
    _mm512_storeu_ps(x + i, e);
    acc = _mm512_add_ps(acc, e);
  }
  float sum = a5_hsum(acc);
  for (; i < n; i++) sum += (x[i] = expf(x[i] - mx));
  return sum;
}

/* out[16 * NV] = inv * sum_u s[u] v_u[16 * NV], v_u = v + u * stride; NV
 * accumulators, so a head-major cache is read in one sequential pass */
#define A5_PV_I(I) \
  if (NV > I) o##I = _mm512_fmadd_ps(p, _mm512_loadu_ps(v + 16 * I), o##I)
#define A5_PV_ST(I) \
  if (NV > I) _mm512_storeu_ps(out + 16 * I, _mm512_mul_ps(o##I, inv))
A5_FN A5_INLINE void a5_pv(float *out, const float *s, const float *v, int n_pos, size_t stride,
                           __m512 inv, const int NV) {
  __m512 o0 = _mm512_setzero_ps(), o1 = o0, o2 = o0, o3 = o0, o4 = o0, o5 = o0, o6 = o0, o7 = o0;
  for (int u = 0; u < n_pos; u++, v += stride) {
    __m512 p = _mm512_set1_ps(s[u]);
    A5_PV_I(0);
    A5_PV_I(1);
    A5_PV_I(2);
    A5_PV_I(3);
    A5_PV_I(4);
    A5_PV_I(5);
    A5_PV_I(6);
    A5_PV_I(7);
  }
  A5_PV_ST(0);
  A5_PV_ST(1);
  A5_PV_ST(2);
  A5_PV_ST(3);
  A5_PV_ST(4);
  A5_PV_ST(5);
  A5_PV_ST(6);
  A5_PV_ST(7);
}

/* one head (hd % 8 == 0): scores of 4 positions per pass (one q load feeds 4
 * keys), 16 columns per FMA and an 8-column 256-bit step when hd % 16 == 8;
 * softmax numerators with a5_exp, 1/sum folded into the output; out in blocks
 * of 128 columns (8 accumulators: head_dim 64 and 128 in one pass) */
A5_FN static void attn_a5(float *out, const float *q, const float *k, const float *v, int n_pos,
                          size_t stride, int hd, float scale, float *s) {
  int hd16 = hd & ~15, half = hd - hd16 >= 8, t = 0;
  for (; t + 4 <= n_pos; t += 4) {
    const float *k0 = k + (size_t)t * stride, *k1 = k0 + stride, *k2 = k1 + stride,
                *k3 = k2 + stride;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    __m256 b0 = _mm256_setzero_ps(), b1 = b0, b2 = b0, b3 = b0;
    for (int d = 0; d < hd16; d += 16) {
      __m512 qd = _mm512_loadu_ps(q + d);
      a0 = _mm512_fmadd_ps(qd, _mm512_loadu_ps(k0 + d), a0);
      a1 = _mm512_fmadd_ps(qd, _mm512_loadu_ps(k1 + d), a1);
      a2 = _mm512_fmadd_ps(qd, _mm512_loadu_ps(k2 + d), a2);
      a3 = _mm512_fmadd_ps(qd, _mm512_loadu_ps(k3 + d), a3);
    }
    if (half) {
      __m256 qh = _mm256_loadu_ps(q + hd16);
      b0 = _mm256_fmadd_ps(qh, _mm256_loadu_ps(k0 + hd16), b0);
      b1 = _mm256_fmadd_ps(qh, _mm256_loadu_ps(k1 + hd16), b1);
      b2 = _mm256_fmadd_ps(qh, _mm256_loadu_ps(k2 + hd16), b2);
      b3 = _mm256_fmadd_ps(qh, _mm256_loadu_ps(k3 + hd16), b3);
    }
    s[t] = (a5_hsum(a0) + a5_hsum256(b0)) * scale;
    s[t + 1] = (a5_hsum(a1) + a5_hsum256(b1)) * scale;
    s[t + 2] = (a5_hsum(a2) + a5_hsum256(b2)) * scale;
    s[t + 3] = (a5_hsum(a3) + a5_hsum256(b3)) * scale;
  }
  for (; t < n_pos; t++) {
    const float *kt = k + (size_t)t * stride;
    __m512 a = _mm512_setzero_ps();
    __m256 b = _mm256_setzero_ps();
    for (int d = 0; d < hd16; d += 16)
      a = _mm512_fmadd_ps(_mm512_loadu_ps(q + d), _mm512_loadu_ps(kt + d), a);
    if (half) b = _mm256_fmadd_ps(_mm256_loadu_ps(q + hd16), _mm256_loadu_ps(kt + hd16), b);
    s[t] = (a5_hsum(a) + a5_hsum256(b)) * scale;
  }
  float inv = 1.0f / a5_softmax_num(s, n_pos);
  __m512 vinv = _mm512_set1_ps(inv);
  for (int d0 = 0; d0 < hd16; d0 += 128) {
    int nv = (hd16 - d0) / 16 < 8 ? (hd16 - d0) / 16 : 8;
    /* a constant register count per call, so each a5_pv is unrolled with its accumulators */
#define A5_PV(N)                                             \
  case N:                                                    \
    a5_pv(out + d0, s, v + d0, n_pos, stride, vinv, N);      \
    break;
    switch (nv) {
      A5_PV(1) A5_PV(2) A5_PV(3) A5_PV(4) A5_PV(5) A5_PV(6) A5_PV(7)
      default:
        a5_pv(out + d0, s, v + d0, n_pos, stride, vinv, 8);
    }
#undef A5_PV
  }
  if (half) { /* the last 8 columns */
    __m256 o = _mm256_setzero_ps();
    const float *vt = v + hd16;
    for (int u = 0; u < n_pos; u++, vt += stride)
      o = _mm256_fmadd_ps(_mm256_set1_ps(s[u]), _mm256_loadu_ps(vt), o);
    _mm256_storeu_ps(out + hd16, _mm256_mul_ps(o, _mm256_set1_ps(inv)));
  }
}

#if defined(EP_KERN_SIMDE)
#define A5_NAME(n) n "-simde"
#else
#define A5_NAME(n) n
#endif
const ep__isa A5_SYM(ep__isa_avx512) = {A5_NAME("avx512"),
                                        {dot_a5_f32, dot_a5_f16, dot_a5_bf16},
                                        {NULL, cvt_a5_f16, cvt_a5_bf16},
                                        {mm_a5_f32, mm_a5_f16, mm_a5_bf16, mm_a5_q8},
                                        attn_a5,
                                        1, 64};
const ep__isa A5_SYM(ep__isa_avx512_vnni) = {A5_NAME("avx512vnni"),
                                             {dot_a5_f32, dot_a5_f16, dot_a5_bf16},
                                             {NULL, cvt_a5_f16, cvt_a5_bf16},
                                             {mm_a5_f32, mm_a5_f16, mm_a5_bf16, mm_a5_q8_vnni},
                                             attn_a5,
                                             1, 64};
#endif /* A5_ENABLED */

#if !defined(EP_KERN_SIMDE)
#if A5_ENABLED
int ep__avx512_available(void) {
  static int avail = -1; /* CPU facts: the same for every caller */
  int c = __atomic_load_n(&avail, __ATOMIC_RELAXED);
  if (c >= 0) return c;
  int a = 0;
  __builtin_cpu_init();
  if (ep__avx2_available() && __builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) {
    /* the OS must save the opmask and ZMM registers (XCR0 bits 5-7) besides SSE/AVX (bits 1-2) */
    unsigned eax, ebx, ecx, edx;
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_OSXSAVE)) {
      unsigned lo, hi;
      __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
      if ((lo & 0xe6) == 0xe6) a = __builtin_cpu_supports("avx512vnni") ? 2 : 1;
    }
  }
  __atomic_store_n(&avail, a, __ATOMIC_RELAXED);
  return a;
}
#else
const ep__isa ep__isa_avx512 = {
    "scalar", {NULL, NULL, NULL}, {NULL, NULL, NULL}, {NULL, NULL, NULL, NULL}, NULL, 0, 32};
const ep__isa ep__isa_avx512_vnni = {
    "scalar", {NULL, NULL, NULL}, {NULL, NULL, NULL}, {NULL, NULL, NULL, NULL}, NULL, 0, 32};
int ep__avx512_available(void) { return 0; }
#endif
#endif
