/* AVX2/FMA matmul blocks, included only by kern_avx2.c (uses its loaders and
 * scalar tails). W is read row after row as one sequential stream (measured:
 * interleaving 4 rows defeats the prefetcher, +40% cpu at B=1..2); each
 * loaded weight vector feeds 4 input rows (register tile 1 x 4) while the
 * batch rows stay in L1/L2. Q8 blocks
 * use the sign trick (|x| as unsigned x sign-adjusted w) with maddubs/madd
 * for exact 32-bit block sums, then one FMA by the block's scale product. */

/* four horizontal sums -> one __m128 {s(a), s(b), s(c), s(d)} */
AVX2_FN static inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
  __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

AVX2_FN static inline void put4(float *y, __m128 s, const float *bias, int o) { /* 4 outputs */
  if (bias) s = _mm_add_ps(s, _mm_loadu_ps(bias + o));
  _mm_storeu_ps(y + o, s);
}

/* Every output is summed the same way whatever the batch size (two 8-lane
 * accumulators over alternate 8-blocks, hsum4 lane order, scalar tail last),
 * so a token's logits do not depend on what else is in the batch. */
#define MM_FLOAT(NAME, LOAD, ESZ, TAIL)                                                           \
  AVX2_FN static void NAME(float *y, size_t ys, const void *xv, size_t xs, int nx, const void *wv, \
                           size_t wrb, int nw, int in, const float *bias) {                        \
    const uint8_t *xb = xv;                                                                        \
    int in8 = in & ~7, in16 = in & ~15;                                                            \
    for (int o = 0; o < nw; o++) {                                                                 \
      const uint8_t *wr = (const uint8_t *)wv + (size_t)o * wrb;                                   \
      float bo = bias ? bias[o] : 0.0f;                                                            \
      int i = 0;                                                                                   \
      for (; i < nx; i += 4) {                                                                     \
        int nr = nx - i < 4 ? nx - i : 4;                                                          \
        const float *xr[4];                                                                        \
        for (int r = 0; r < 4; r++) xr[r] = (const float *)(xb + (size_t)(i + (r < nr ? r : 0)) * xs); \
        __m256 e0 = _mm256_setzero_ps(), e1 = e0, e2 = e0, e3 = e0, f0 = e0, f1 = e0, f2 = e0, f3 = e0; \
        if (nr == 4) {                                                                             \
          for (int j = 0; j < in16; j += 16) {                                                     \
            __m256 b = LOAD(wr + (size_t)j * ESZ), c = LOAD(wr + (size_t)(j + 8) * ESZ);           \
            e0 = _mm256_fmadd_ps(_mm256_loadu_ps(xr[0] + j), b, e0);                               \
            e1 = _mm256_fmadd_ps(_mm256_loadu_ps(xr[1] + j), b, e1);                               \
            e2 = _mm256_fmadd_ps(_mm256_loadu_ps(xr[2] + j), b, e2);                               \
            e3 = _mm256_fmadd_ps(_mm256_loadu_ps(xr[3] + j), b, e3);                               \
            f0 = _mm256_fmadd_ps(_mm256_loadu_ps(xr[0] + j + 8), c, f0);                           \
            f1 = _mm256_fmadd_ps(_mm256_loadu_ps(xr[1] + j + 8), c, f1);                           \
            f2 = _mm256_fmadd_ps(_mm256_loadu_ps(xr[2] + j + 8), c, f2);                           \
            f3 = _mm256_fmadd_ps(_mm256_loadu_ps(xr[3] + j + 8), c, f3);                           \
          }                                                                                        \
          if (in16 < in8) {                                                                        \
            __m256 b = LOAD(wr + (size_t)in16 * ESZ);                                              \
            e0 = _mm256_fmadd_ps(_mm256_loadu_ps(xr[0] + in16), b, e0);                            \
            e1 = _mm256_fmadd_ps(_mm256_loadu_ps(xr[1] + in16), b, e1);                            \
            e2 = _mm256_fmadd_ps(_mm256_loadu_ps(xr[2] + in16), b, e2);                            \
            e3 = _mm256_fmadd_ps(_mm256_loadu_ps(xr[3] + in16), b, e3);                            \
          }                                                                                        \
        } else { /* 1..3 rows: one row at a time, same arithmetic (W row is hot in L1) */           \
          for (int r = 0; r < nr; r++) {                                                           \
            __m256 e = _mm256_setzero_ps(), f = e;                                                 \
            for (int j = 0; j < in16; j += 16) {                                                   \
              e = _mm256_fmadd_ps(_mm256_loadu_ps(xr[r] + j), LOAD(wr + (size_t)j * ESZ), e);      \
              f = _mm256_fmadd_ps(_mm256_loadu_ps(xr[r] + j + 8), LOAD(wr + (size_t)(j + 8) * ESZ), f); \
            }                                                                                      \
            if (in16 < in8) e = _mm256_fmadd_ps(_mm256_loadu_ps(xr[r] + in16), LOAD(wr + (size_t)in16 * ESZ), e); \
            if (r == 0) e0 = e, f0 = f;                                                            \
            if (r == 1) e1 = e, f1 = f;                                                            \
            if (r == 2) e2 = e, f2 = f;                                                            \
          }                                                                                        \
        }                                                                                          \
        float t[4];                                                                                \
        _mm_storeu_ps(t, hsum4(_mm256_add_ps(e0, f0), _mm256_add_ps(e1, f1), _mm256_add_ps(e2, f2), \
                               _mm256_add_ps(e3, f3)));                                            \
        for (int r = 0; r < nr; r++) {                                                             \
          if (in8 < in) t[r] += TAIL(xr[r] + in8, wr + (size_t)in8 * ESZ, in - in8);               \
          y[(size_t)(i + r) * ys + o] = t[r] + bo;                                                 \
        }                                                                                          \
      }                                                                                            \
    }                                                                                              \
  }

MM_FLOAT(mm_avx2_f32, ld_f32, 4, dot_scalar_f32)
MM_FLOAT(mm_avx2_f16, ld_f16, 2, dot_scalar_f16)
MM_FLOAT(mm_avx2_bf16, ld_bf16, 2, dot_scalar_bf16)

/* 8 int32 partial sums of x.w over one 32-byte block, as floats */
AVX2_FN static inline __m256 q8_blk(__m256i x, __m256i w) {
  __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(w, x));
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}
AVX2_FN static inline float q8_scale(const uint8_t *b) {
  float d;
  memcpy(&d, b, 4);
  return d;
}
#define Q8_LD(p) _mm256_loadu_si256((const __m256i *)((p) + 4))

AVX2_FN static float q8_dot_avx2(const uint8_t *x, const uint8_t *w, int nb) {
  __m256 c = _mm256_setzero_ps();
  for (int b = 0; b < nb; b++, x += EP_Q8_BLOCK_BYTES, w += EP_Q8_BLOCK_BYTES)
    c = _mm256_fmadd_ps(q8_blk(Q8_LD(x), Q8_LD(w)), _mm256_set1_ps(q8_scale(x) * q8_scale(w)), c);
  return _mm_cvtss_f32(hsum4(c, c, c, c)); /* same lane order as the tiles */
}

AVX2_FN static void mm_avx2_q8(float *y, size_t ys, const void *xv, size_t xs, int nx, const void *wv,
                               size_t wrb, int nw, int in, const float *bias) {
  const uint8_t *w = wv, *xb = xv;
  int nb = (in + EP_Q8_BLOCK - 1) / EP_Q8_BLOCK, o = 0;
  for (; o + 4 <= nw; o += 4) {
    const uint8_t *w0 = w + (size_t)o * wrb, *w1 = w0 + wrb, *w2 = w1 + wrb, *w3 = w2 + wrb;
    int i = 0;
    for (; i + 2 <= nx; i += 2) {
      const uint8_t *x0 = xb + (size_t)i * xs, *x1 = x0 + xs;
      __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00,
             c12 = c00, c13 = c00;
      for (size_t k = 0; k < (size_t)nb * EP_Q8_BLOCK_BYTES; k += EP_Q8_BLOCK_BYTES) {
        __m256i a0 = Q8_LD(x0 + k), a1 = Q8_LD(x1 + k);
        float s0 = q8_scale(x0 + k), s1 = q8_scale(x1 + k);
#define Q8_STEP(WR, C0, C1)                                                                  \
  {                                                                                          \
    __m256i b = Q8_LD(WR + k);                                                               \
    float sw = q8_scale(WR + k);                                                             \
    C0 = _mm256_fmadd_ps(q8_blk(a0, b), _mm256_set1_ps(s0 * sw), C0);                        \
    C1 = _mm256_fmadd_ps(q8_blk(a1, b), _mm256_set1_ps(s1 * sw), C1);                        \
  }
        Q8_STEP(w0, c00, c10)
        Q8_STEP(w1, c01, c11)
        Q8_STEP(w2, c02, c12)
        Q8_STEP(w3, c03, c13)
#undef Q8_STEP
      }
      put4(y + (size_t)i * ys, hsum4(c00, c01, c02, c03), bias, o);
      put4(y + (size_t)(i + 1) * ys, hsum4(c10, c11, c12, c13), bias, o);
    }
    for (; i < nx; i++) {
      const uint8_t *x0 = xb + (size_t)i * xs;
      __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
      for (size_t k = 0; k < (size_t)nb * EP_Q8_BLOCK_BYTES; k += EP_Q8_BLOCK_BYTES) {
        __m256i a0 = Q8_LD(x0 + k);
        float s0 = q8_scale(x0 + k);
        c0 = _mm256_fmadd_ps(q8_blk(a0, Q8_LD(w0 + k)), _mm256_set1_ps(s0 * q8_scale(w0 + k)), c0);
        c1 = _mm256_fmadd_ps(q8_blk(a0, Q8_LD(w1 + k)), _mm256_set1_ps(s0 * q8_scale(w1 + k)), c1);
        c2 = _mm256_fmadd_ps(q8_blk(a0, Q8_LD(w2 + k)), _mm256_set1_ps(s0 * q8_scale(w2 + k)), c2);
        c3 = _mm256_fmadd_ps(q8_blk(a0, Q8_LD(w3 + k)), _mm256_set1_ps(s0 * q8_scale(w3 + k)), c3);
      }
      put4(y + (size_t)i * ys, hsum4(c0, c1, c2, c3), bias, o);
    }
  }
  for (; o < nw; o++)
    for (int i = 0; i < nx; i++)
      y[(size_t)i * ys + o] = q8_dot_avx2(xb + (size_t)i * xs, w + (size_t)o * wrb, nb) + (bias ? bias[o] : 0.0f);
}
