/* AVX2/FMA matmul blocks, included only by kern_avx2.c (uses its loaders and
 * scalar tails). Register tile: up to 4 input rows x 3 weight rows (12
 * accumulators, 3 weight + 4 x loads per 12 FMAs); K in blocks of MM_KB
 * columns, each block run over every group of 4 input rows while the 3 weight
 * rows are hot. The Q8 block is in kern_avx2_gemv.h. */

/* four horizontal sums -> one __m128 {s(a), s(b), s(c), s(d)} */
AVX2_FN static inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
  __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/* Every output is summed the same way whatever the batch size and tile: ONE
 * 8-lane accumulator per (input row, output), fed the 8-blocks of k in order
 * (c = fma(x, w, c)), then hsum4's lane order, the scalar tail, the bias. So a
 * token's logits do not depend on what else is in the batch, and every tile
 * shape (1..4 rows x 1..3 outputs) gives the same bits. (Before, two
 * accumulators per output over even/odd 8-blocks made a 4 x 3 tile need 24
 * registers.)
 *
 * Reading weight rows side by side defeats the hardware prefetcher (one core,
 * bench_gemv 768 -> 2304 f32: 2-3 rows read interleaved stream 13 GB/s, one
 * row after the other 26-30 GB/s), so the rows MM_PFD groups further on are
 * prefetched into L2 in address order (prefetcht1, 3 lines per 16 columns;
 * prefetcht0 evicted the x rows: 8.8 vs 14.7 GB/s at 8 rows). One f32 input row (decode
 * of one sequence) reads one weight row at a time with one FMA chain and no
 * software prefetch (26 GB/s on one core, 22-24 with 2-3 rows + prefetch);
 * one F16/BF16 row (half the bytes per FMA: one chain gave 14 GB/s) takes 3
 * weight rows at a time with the prefetch (28-30 GB/s, 25 before). */
#define MM_KB 256   /* columns per K block: 4 x rows of a block take 4 KB of L1 (f32) */
#define MM_GROUP 12 /* input rows whose accumulators live on the stack across K blocks */
/* prefetch distance in groups of 3 weight rows: F16/BF16 rows 3 (1 gave 18
 * GB/s at one row, 3 gave 28-30), f32 1 (engine B=8 372-378 vs 362-365 tok/s) */
#define MM_PFD(ESZ) ((ESZ) == 4 ? 1 : 3)

/* one FMA of the tile: accumulator a<r><c> += x row r * weight row c */
#define MM_F(r, c) \
  if (R > r && C > c) a##r##c = _mm256_fmadd_ps(xv##r, b##c, a##r##c)
#define MM_STEP(J, LOAD, ESZ)                                                \
  do {                                                                       \
    __m256 b0 = LOAD(w0 + (size_t)(J)*ESZ), b1 = b0, b2 = b0;                \
    if (C > 1) b1 = LOAD(w1 + (size_t)(J)*ESZ);                              \
    if (C > 2) b2 = LOAD(w2 + (size_t)(J)*ESZ);                              \
    __m256 xv0 = _mm256_loadu_ps(x0 + (J)), xv1 = xv0, xv2 = xv0, xv3 = xv0; \
    MM_F(0, 0);                                                              \
    MM_F(0, 1);                                                              \
    MM_F(0, 2);                                                              \
    if (R > 1) xv1 = _mm256_loadu_ps(x1 + (J));                              \
    MM_F(1, 0);                                                              \
    MM_F(1, 1);                                                              \
    MM_F(1, 2);                                                              \
    if (R > 2) xv2 = _mm256_loadu_ps(x2 + (J));                              \
    MM_F(2, 0);                                                              \
    MM_F(2, 1);                                                              \
    MM_F(2, 2);                                                              \
    if (R > 3) xv3 = _mm256_loadu_ps(x3 + (J));                              \
    MM_F(3, 0);                                                              \
    MM_F(3, 1);                                                              \
    MM_F(3, 2);                                                              \
  } while (0)
#define MM_ACC(X) \
  X(0, 0) X(0, 1) X(0, 2) X(1, 0) X(1, 1) X(1, 2) X(2, 0) X(2, 1) X(2, 2) X(3, 0) X(3, 1) X(3, 2)
#define MM_LDA(r, c) \
  __m256 a##r##c =   \
      (R > r && C > c && !first) ? _mm256_load_ps(acc + (r * 3 + c) * 8) : _mm256_setzero_ps();
#define MM_STA(r, c) \
  if (R > r && C > c) _mm256_store_ps(acc + (r * 3 + c) * 8, a##r##c);

/* R (1..4) x rows from x (f32, xs bytes apart) times C (1..3)
 * weight rows from w (wrb bytes apart), columns j0..j1 (multiples of 8);
 * accumulators in acc[r*3+c][8] (loaded unless first, updated, stored). pf: the
 * next C weight rows (contiguous), prefetched in address order, or NULL. */
#define MM_TILE(NAME, LOAD, ESZ)                                                             \
  AVX2_FN static inline __attribute__((always_inline)) void NAME(                            \
      float *acc, const uint8_t *x, size_t xs, const uint8_t *w, size_t wrb, int j0, int j1, \
      const uint8_t *pf, int first, const int R, const int C) {                              \
    const float *x0 = (const float *)x, *x1 = (const float *)(x + xs);                       \
    const float *x2 = (const float *)(x + 2 * xs), *x3 = (const float *)(x + 3 * xs);        \
    const uint8_t *w0 = w, *w1 = w + wrb, *w2 = w + 2 * wrb;                                 \
    MM_ACC(MM_LDA)                                                                           \
    int j = j0;                                                                              \
    if (pf) {                                                                                \
      for (; j + 16 <= j1; j += 16) {                                                        \
        _mm_prefetch((const char *)pf + (size_t)j * C * ESZ, _MM_HINT_T1);                   \
        if (C > 1) _mm_prefetch((const char *)pf + (size_t)j * C * ESZ + 64, _MM_HINT_T1);   \
        if (C > 2) _mm_prefetch((const char *)pf + (size_t)j * C * ESZ + 128, _MM_HINT_T1);  \
        MM_STEP(j, LOAD, ESZ);                                                               \
        MM_STEP(j + 8, LOAD, ESZ);                                                           \
      }                                                                                      \
    }                                                                                        \
    for (; j < j1; j += 8) MM_STEP(j, LOAD, ESZ);                                            \
    MM_ACC(MM_STA)                                                                           \
  }

/* All batch sizes: for each 1 (one input row) or 3 weight rows, K blocks in
 * order, each block run over the input rows in groups of 4 (the weight block
 * is hot after the first group, which prefetches the next rows); then
 * horizontal sums, tail, bias. */
#define MM_FLOAT(NAME, TILE, ESZ, TAIL)                                                            \
  AVX2_FN static void NAME(float *y, size_t ys, const void *xv, size_t xs, int nx, const void *wv, \
                           size_t wrb, int nw, int in, const float *bias) {                        \
    const uint8_t *xb = xv, *w = wv;                                                               \
    int in8 = in & ~7, kb = nx <= 4 ? in8 : MM_KB; /* one group: no K blocks */                    \
    _Alignas(32) float acc[MM_GROUP * 3 * 8];      /* [row][3 outputs][8 lanes] */                 \
    memset(acc, 0, sizeof acc);             /* unused slots enter hsum4 (results dropped) */       \
    int cmax = nx == 1 && ESZ == 4 ? 1 : 3; /* one f32 row: one weight row at a time */            \
    for (int o = 0; o < nw; o += cmax) {                                                           \
      int nc = nw - o < cmax ? nw - o : cmax;                                                      \
      const uint8_t *wo = w + (size_t)o * wrb;                                                     \
      const uint8_t *pf = cmax > 1 && o + MM_PFD(ESZ) * cmax < nw                                  \
                              ? wo + (size_t)(MM_PFD(ESZ) * cmax) * wrb                            \
                              : NULL;                                                              \
      for (int i0 = 0; i0 < nx; i0 += MM_GROUP) {                                                  \
        int ng = nx - i0 < MM_GROUP ? nx - i0 : MM_GROUP;                                          \
        for (int k0 = 0; k0 < in8; k0 += kb) {                                                     \
          int k1 = in8 - k0 < kb ? in8 : k0 + kb;                                                  \
          for (int i = 0; i < ng; i += 4) {                                                        \
            const uint8_t *x = xb + (size_t)(i0 + i) * xs;                                         \
            const uint8_t *p = i0 == 0 && i == 0 ? pf : NULL;                                      \
            float *a = acc + (size_t)i * 3 * 8;                                                    \
            int nr = ng - i < 4 ? ng - i : 4;                                                      \
            switch (nr * 4 + nc) {                                                                 \
              case 5:                                                                              \
                TILE(a, x, xs, wo, wrb, k0, k1, p, k0 == 0, 1, 1);                                 \
                break;                                                                             \
              case 6:                                                                              \
                TILE(a, x, xs, wo, wrb, k0, k1, p, k0 == 0, 1, 2);                                 \
                break;                                                                             \
              case 7:                                                                              \
                TILE(a, x, xs, wo, wrb, k0, k1, p, k0 == 0, 1, 3);                                 \
                break;                                                                             \
              case 9:                                                                              \
                TILE(a, x, xs, wo, wrb, k0, k1, p, k0 == 0, 2, 1);                                 \
                break;                                                                             \
              case 10:                                                                             \
                TILE(a, x, xs, wo, wrb, k0, k1, p, k0 == 0, 2, 2);                                 \
                break;                                                                             \
              case 11:                                                                             \
                TILE(a, x, xs, wo, wrb, k0, k1, p, k0 == 0, 2, 3);                                 \
                break;                                                                             \
              case 13:                                                                             \
                TILE(a, x, xs, wo, wrb, k0, k1, p, k0 == 0, 3, 1);                                 \
                break;                                                                             \
              case 14:                                                                             \
                TILE(a, x, xs, wo, wrb, k0, k1, p, k0 == 0, 3, 2);                                 \
                break;                                                                             \
              case 15:                                                                             \
                TILE(a, x, xs, wo, wrb, k0, k1, p, k0 == 0, 3, 3);                                 \
                break;                                                                             \
              case 17:                                                                             \
                TILE(a, x, xs, wo, wrb, k0, k1, p, k0 == 0, 4, 1);                                 \
                break;                                                                             \
              case 18:                                                                             \
                TILE(a, x, xs, wo, wrb, k0, k1, p, k0 == 0, 4, 2);                                 \
                break;                                                                             \
              default:                                                                             \
                TILE(a, x, xs, wo, wrb, k0, k1, p, k0 == 0, 4, 3);                                 \
                break;                                                                             \
            }                                                                                      \
          }                                                                                        \
        }                                                                                          \
        for (int r = 0; r < ng; r++) {                                                             \
          const float *a = acc + (size_t)r * 3 * 8;                                                \
          const float *xr = (const float *)(xb + (size_t)(i0 + r) * xs);                           \
          __m256 s0 = _mm256_load_ps(a), s1 = _mm256_load_ps(a + 8), s2 = _mm256_load_ps(a + 16);  \
          float t[4];                                                                              \
          _mm_storeu_ps(t, hsum4(s0, s1, s2, s2));                                                 \
          for (int c = 0; c < nc; c++) {                                                           \
            if (in8 < in)                                                                          \
              t[c] += TAIL(xr + in8, wo + (size_t)c * wrb + (size_t)in8 * ESZ, in - in8);          \
            y[(size_t)(i0 + r) * ys + o + c] = t[c] + (bias ? bias[o + c] : 0.0f);                 \
          }                                                                                        \
        }                                                                                          \
      }                                                                                            \
    }                                                                                              \
  }

MM_TILE(tile_f32, ld_f32, 4)
MM_TILE(tile_f16, ld_f16, 2)
MM_TILE(tile_bf16, ld_bf16, 2)
MM_FLOAT(mm_avx2_f32, tile_f32, 4, dot_scalar_f32)
MM_FLOAT(mm_avx2_f16, tile_f16, 2, dot_scalar_f16)
MM_FLOAT(mm_avx2_bf16, tile_bf16, 2, dot_scalar_bf16)

/* Q8 block helpers for kern_avx2_gemv.h */
AVX2_FN static inline float q8_scale(const uint8_t *b) {
  float d;
  memcpy(&d, b, 4);
  return d;
}
#define Q8_LD(p) _mm256_loadu_si256((const __m256i *)((p) + 4))
