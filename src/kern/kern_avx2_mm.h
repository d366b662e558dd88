/* AVX2/FMA matmul blocks, included only by kern_avx2.c (uses its loaders and
 * scalar tails). W is read row after row as one sequential stream (measured:
 * interleaving 4 rows defeats the prefetcher, +40% cpu at B=1..2); each loaded
 * weight vector feeds 4 input rows (register tile 1 x 4). 5+ input rows sweep
 * W in L2-sized blocks (MM_FLOAT). The Q8 block is in kern_avx2_gemv.h. */

/* four horizontal sums -> one __m128 {s(a), s(b), s(c), s(d)} */
AVX2_FN static inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
  __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/* Every output is summed the same way whatever the batch size (two 8-lane
 * accumulators over alternate 8-blocks, hsum4 lane order, scalar tail last),
 * so a token's logits do not depend on what else is in the batch. */
#define MM_ROW4(NAME, LOAD, ESZ, TAIL)                                                           \
  AVX2_FN static inline __attribute__((always_inline)) void NAME(                                  \
      float *y, size_t ys, const void *xv, size_t xs, int nx, const void *wv, size_t wrb, int nw,  \
      int in, const float *bias, size_t pfd) {                                                     \
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
            if (pfd) _mm_prefetch((const char *)wr + (size_t)j * ESZ + pfd, _MM_HINT_T1);          \
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
              if (pfd && r == 0) _mm_prefetch((const char *)wr + (size_t)j * ESZ + pfd, _MM_HINT_T1); \
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

/* 5+ input rows: W in blocks of about MM_BLOCK_BYTES (rows whole), each block
 * swept once per group of 4 input rows with the same 1 x 4 tile. The first
 * sweep streams the block from memory, the later ones find it in L2; during
 * the last sweep the next block is prefetched into L2, so its first sweep does
 * not wait on memory. Measured (one thread, Llama-124M step shapes, 8 rows):
 * 0.6-0.65x the CPU time of one unblocked pass per weight row, where a 4 x 3
 * register tile (4 weight rows x 3 input rows, tried) gained less. */
#define MM_BLOCK_BYTES (96 * 1024)
#define MM_FLOAT(NAME, ROWS)                                                                       \
  AVX2_FN static void NAME(float *y, size_t ys, const void *xv, size_t xs, int nx, const void *wv, \
                           size_t wrb, int nw, int in, const float *bias) {                        \
    const uint8_t *xb = xv, *w = wv;                                                               \
    if (nx <= 4) {                                                                                 \
      ROWS(y, ys, xv, xs, nx, wv, wrb, nw, in, bias, 0);                                           \
      return;                                                                                      \
    }                                                                                              \
    int nb = (int)(MM_BLOCK_BYTES / wrb);                                                          \
    if (nb < 4) nb = 4;                                                                            \
    for (int o = 0; o < nw; o += nb) {                                                             \
      int n = nw - o < nb ? nw - o : nb;                                                           \
      size_t pfd = o + n < nw ? (size_t)n * wrb : 0; /* next block, same offset */                 \
      for (int i = 0; i < nx; i += 4)                                                              \
        ROWS(y + (size_t)i * ys + o, ys, xb + (size_t)i * xs, xs, nx - i < 4 ? nx - i : 4,         \
             w + (size_t)o * wrb, wrb, n, in, bias ? bias + o : NULL, i + 4 >= nx ? pfd : 0);      \
    }                                                                                              \
  }

MM_ROW4(rows_f32, ld_f32, 4, dot_scalar_f32)
MM_ROW4(rows_f16, ld_f16, 2, dot_scalar_f16)
MM_ROW4(rows_bf16, ld_bf16, 2, dot_scalar_bf16)
MM_FLOAT(mm_avx2_f32, rows_f32)
MM_FLOAT(mm_avx2_f16, rows_f16)
MM_FLOAT(mm_avx2_bf16, rows_bf16)

/* Q8 block helpers for kern_avx2_gemv.h */
AVX2_FN static inline float q8_scale(const uint8_t *b) {
  float d;
  memcpy(&d, b, 4);
  return d;
}
#define Q8_LD(p) _mm256_loadu_si256((const __m256i *)((p) + 4))
