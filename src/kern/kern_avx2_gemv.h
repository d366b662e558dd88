/* AVX2 Q8 matmul block, included only by kern_avx2.c after kern_avx2_mm.h.
 * Measured on Zen 4 (bench/bench_gemv.c): one core reads ~20 GB/s only while
 * W is streamed row after row; interleaving 4 weight rows (4 streams) halved
 * F32/F16 GEMV throughput, and the old Q8 kernel (4 rows interleaved, one FMA
 * chain per output) reached ~6.5 GB/s. So weight rows are read one at a time,
 * each block feeding up to 4 x rows, with two FMA chains per output (even and
 * odd blocks). Software prefetch measured neutral (sequential streams are
 * the hardware prefetcher's best case) and is not used. The same q8_row
 * serves every batch size, so a row's result does not depend on the batch. */

/* Q8 x rows prepared once per call for the row kernel (x is reused by every
 * weight row): |x| and x in 32-byte aligned arrays, scales as floats, so a
 * block costs 5 loads (w, |x|, x, two broadcast scales) and sign, maddubs,
 * madd, cvt, mul, fma, with no cache-line-straddling x loads. */
#define Q8P_MAXNB 256 /* rows up to 8192 values; longer rows use q8_row_raw */
typedef struct {
  __m256i a[Q8P_MAXNB]; /* |x| per block */
  __m256i q[Q8P_MAXNB]; /* x per block (sign source) */
  float s[Q8P_MAXNB];   /* x scale per block */
} q8_xprep;

AVX2_FN static void q8_prep(q8_xprep *p, const uint8_t *x, int nb) {
  for (int b = 0; b < nb; b++) {
    __m256i v = Q8_LD(x + (size_t)b * EP_Q8_BLOCK_BYTES);
    p->q[b] = v;
    p->a[b] = _mm256_sign_epi8(v, v);
    p->s[b] = q8_scale(x + (size_t)b * EP_Q8_BLOCK_BYTES);
  }
}

/* one block of row r: c += cvt(sum of 4-byte groups of qx*qw) * (sx*sw) */
#define Q8P_BLOCK(r, b, wb, c)                                                                         \
  do {                                                                                                 \
    __m256i p_ = _mm256_maddubs_epi16(xp[r]->a[b], _mm256_sign_epi8(wq_, xp[r]->q[b]));                \
    __m256 d_ = _mm256_mul_ps(_mm256_broadcast_ss(&xp[r]->s[b]), _mm256_broadcast_ss((const float *)(wb))); \
    c = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(p_, ones)), d_, c);                       \
  } while (0)

/* one weight row x NR (1..4) prepared x rows: two accumulators per output
 * (even and odd blocks) so two FMA chains are in flight, summed as
 * hsum4(even + odd); two blocks per iteration. */
AVX2_FN static inline __attribute__((always_inline)) void q8_row(float *y, size_t ys,
                                                                 const q8_xprep *const *xp,
                                                                 const uint8_t *wr, int nb,
                                                                 float bo, const int NR) {
  const __m256i ones = _mm256_set1_epi16(1);
  /* c<r><e|o>: named, so they stay in registers (a c[4][2] array with row
   * loops was kept on the stack: each FMA chain went through memory) */
  __m256 c0e = _mm256_setzero_ps(), c0o = c0e, c1e = c0e, c1o = c0e, c2e = c0e, c2o = c0e, c3e = c0e,
         c3o = c0e;
#define Q8P_ROWS(B, wb, S)                  \
  do {                                      \
    Q8P_BLOCK(0, (B), wb, c0##S);           \
    if (NR > 1) Q8P_BLOCK(1, (B), wb, c1##S); \
    if (NR > 2) Q8P_BLOCK(2, (B), wb, c2##S); \
    if (NR > 3) Q8P_BLOCK(3, (B), wb, c3##S); \
  } while (0)
  int b = 0;
#define Q8P_PAIR(B)                                           \
  do {                                                        \
    const uint8_t *wb = wr + (size_t)(B) * EP_Q8_BLOCK_BYTES; \
    __m256i wq_ = Q8_LD(wb);                                  \
    Q8P_ROWS((B), wb, e);                                     \
    wb += EP_Q8_BLOCK_BYTES;                                  \
    wq_ = Q8_LD(wb);                                          \
    Q8P_ROWS((B) + 1, wb, o);                                 \
  } while (0)
  for (; b + 4 <= nb; b += 4) { /* 4 blocks per iteration: less loop overhead */
    Q8P_PAIR(b);
    Q8P_PAIR(b + 2);
  }
  for (; b + 2 <= nb; b += 2) Q8P_PAIR(b);
#undef Q8P_PAIR
  if (b < nb) {
    const uint8_t *wb = wr + (size_t)b * EP_Q8_BLOCK_BYTES;
    __m256i wq_ = Q8_LD(wb);
    Q8P_ROWS(b, wb, e);
  }
#undef Q8P_ROWS
  c0e = _mm256_add_ps(c0e, c0o);
  c1e = _mm256_add_ps(c1e, c1o);
  c2e = _mm256_add_ps(c2e, c2o);
  c3e = _mm256_add_ps(c3e, c3o);
  float t[4];
  _mm_storeu_ps(t, hsum4(c0e, NR > 1 ? c1e : c0e, NR > 2 ? c2e : c0e, NR > 3 ? c3e : c0e));
  for (int r = 0; r < NR; r++) y[(size_t)r * ys] = t[r] + bo;
}

/* q8_row on unprepared Q8 rows (rows over Q8P_MAXNB blocks): the same
 * arithmetic in the same order, so the same bits. */
AVX2_FN static inline __attribute__((always_inline)) void q8_row_raw(float *y, size_t ys,
                                                                     const uint8_t *x, size_t xs,
                                                                     const uint8_t *wr, int nb,
                                                                     float bo, const int NR) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 c0e = _mm256_setzero_ps(), c0o = c0e, c1e = c0e, c1o = c0e, c2e = c0e, c2o = c0e, c3e = c0e,
         c3o = c0e; /* named: in registers (see q8_row) */
#define Q8R_ONE(r, acc)                                                                           \
  do {                                                                                            \
    const uint8_t *xq = x + (size_t)(r) * xs + (size_t)b * EP_Q8_BLOCK_BYTES;                     \
    __m256i xq8 = Q8_LD(xq);                                                                      \
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(xq8, xq8), _mm256_sign_epi8(wq, xq8));      \
    __m256 s = _mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones));                                    \
    acc = _mm256_fmadd_ps(s, _mm256_set1_ps(q8_scale(xq) * sw), acc);                             \
  } while (0)
#define Q8R_BLOCK(S)                                              \
  do {                                                            \
    const uint8_t *wb = wr + (size_t)b * EP_Q8_BLOCK_BYTES;       \
    __m256i wq = Q8_LD(wb);                                       \
    float sw = q8_scale(wb);                                      \
    Q8R_ONE(0, c0##S);                                            \
    if (NR > 1) Q8R_ONE(1, c1##S);                                \
    if (NR > 2) Q8R_ONE(2, c2##S);                                \
    if (NR > 3) Q8R_ONE(3, c3##S);                                \
  } while (0)
  int b = 0;
  for (; b + 2 <= nb; b++) { /* even block, then odd: the parity of b picks the chain */
    Q8R_BLOCK(e);
    b++;
    Q8R_BLOCK(o);
  }
  if (b < nb) Q8R_BLOCK(e);
#undef Q8R_BLOCK
#undef Q8R_ONE
  c0e = _mm256_add_ps(c0e, c0o);
  c1e = _mm256_add_ps(c1e, c1o);
  c2e = _mm256_add_ps(c2e, c2o);
  c3e = _mm256_add_ps(c3e, c3o);
  float t[4];
  _mm_storeu_ps(t, hsum4(c0e, NR > 1 ? c1e : c0e, NR > 2 ? c2e : c0e, NR > 3 ? c3e : c0e));
  for (int r = 0; r < NR; r++) y[(size_t)r * ys] = t[r] + bo;
}

/* rows o0..o1 of W times nr (1..4) x rows starting at x (nb <= Q8P_MAXNB) */
AVX2_FN static __attribute__((noinline)) void q8_gemv(float *y, size_t ys, const uint8_t *x, size_t xs,
                                                      int nr, const uint8_t *w, size_t wrb, int o0, int o1,
                                                      int nb, const float *bias) {
  q8_xprep prep[4];
  const q8_xprep *xp[4];
  for (int r = 0; r < nr; r++) {
    q8_prep(&prep[r], x + (size_t)r * xs, nb);
    xp[r] = &prep[r];
  }
  for (int o = o0; o < o1; o++) {
    float bo = bias ? bias[o] : 0.0f;
    const uint8_t *wr = w + (size_t)o * wrb;
    switch (nr) {
      case 1: q8_row(y + o, ys, xp, wr, nb, bo, 1); break;
      case 2: q8_row(y + o, ys, xp, wr, nb, bo, 2); break;
      case 3: q8_row(y + o, ys, xp, wr, nb, bo, 3); break;
      default: q8_row(y + o, ys, xp, wr, nb, bo, 4); break;
    }
  }
}

/* Prefill tile for 4 x rows whose blocks were pre-split into sign-extended
 * even and odd int16 lanes (xe/xo, 2 x 32 bytes per block) with scales sx:
 * madd(xe, we) + madd(xo, wo) gives the same exact int32 lanes (bytes 4i..4i+3)
 * as maddubs+madd in q8_row, and the float steps are q8_row's, so results are
 * bitwise those of q8_row; per pair and block 7 ops instead of 10. */
AVX2_FN static inline void q8_row4_split(float *y, size_t ys, const __m256i *xsp, const float *sx,
                                         const uint8_t *wr, int nb, float bo) {
  /* c<r><parity>: 8 named accumulators, so they stay in registers (with
   * c[4][2] and a row loop gcc kept them on the stack: every FMA chain went
   * through a store and a reload) */
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
         c31 = c00;
  const __m256i *x0 = xsp, *x1 = xsp + (size_t)nb * 2, *x2 = xsp + (size_t)nb * 4, *x3 = xsp + (size_t)nb * 6;
  const float *s0 = sx, *s1 = sx + nb, *s2 = sx + 2 * (size_t)nb, *s3 = sx + 3 * (size_t)nb;
#define Q8S_ROW(r, acc)                                                                              \
  acc = _mm256_fmadd_ps(                                                                             \
      _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_madd_epi16(x##r[2 * b], we),                       \
                                          _mm256_madd_epi16(x##r[2 * b + 1], wo))),                 \
      _mm256_mul_ps(_mm256_broadcast_ss(&s##r[b]), swv), acc)
#define Q8S_BLOCK(a0, a1, a2, a3)                                                                    \
  do {                                                                                               \
    const uint8_t *wb = wr + (size_t)b * EP_Q8_BLOCK_BYTES;                                          \
    __m256i wq = Q8_LD(wb);                                                                          \
    __m256i we = _mm256_srai_epi16(_mm256_slli_epi16(wq, 8), 8), wo = _mm256_srai_epi16(wq, 8);      \
    __m256 swv = _mm256_broadcast_ss((const float *)wb); /* the block's scale */                   \
    Q8S_ROW(0, a0);                                                                                  \
    Q8S_ROW(1, a1);                                                                                  \
    Q8S_ROW(2, a2);                                                                                  \
    Q8S_ROW(3, a3);                                                                                  \
  } while (0)
  int b = 0;
  for (; b + 2 <= nb; b++) { /* even block, then odd: the parity of b picks the chain */
    Q8S_BLOCK(c00, c10, c20, c30);
    b++;
    Q8S_BLOCK(c01, c11, c21, c31);
  }
  if (b < nb) Q8S_BLOCK(c00, c10, c20, c30);
#undef Q8S_BLOCK
#undef Q8S_ROW
  float t[4];
  _mm_storeu_ps(t, hsum4(_mm256_add_ps(c00, c01), _mm256_add_ps(c10, c11), _mm256_add_ps(c20, c21),
                         _mm256_add_ps(c30, c31)));
  for (int r = 0; r < 4; r++) y[(size_t)r * ys] = t[r] + bo;
}

#define Q8T_MAXNB 256 /* split x of 4 rows on the stack: 4 * 256 * 64 B */
#define Q8T_WBLK 64   /* W rows per pass over the x groups (stay in L1/L2) */

/* Q8 matmul block: W streamed row after row, each row used by up to 4 x rows;
 * 4+ x rows with rows <= 8192 values take the pre-split tile. */
AVX2_FN static void mm_avx2_q8(float *y, size_t ys, const void *xv, size_t xs, int nx, const void *wv,
                               size_t wrb, int nw, int in, const float *bias) {
  const uint8_t *w = wv, *xb = xv;
  int nb = (in + EP_Q8_BLOCK - 1) / EP_Q8_BLOCK;
  if (nx >= 4 && nb <= Q8T_MAXNB) {
    __m256i xsp[4 * Q8T_MAXNB * 2];
    float sx[4 * Q8T_MAXNB];
    for (int o0 = 0; o0 < nw; o0 += Q8T_WBLK) {
      int o1 = o0 + Q8T_WBLK < nw ? o0 + Q8T_WBLK : nw;
      for (int i = 0; i < nx; i += 4) {
        const uint8_t *x = xb + (size_t)i * xs;
        if (nx - i < 4) { /* 1-3 rows left: the row kernel (same results) */
          q8_gemv(y + (size_t)i * ys, ys, x, xs, nx - i, w, wrb, o0, o1, nb, bias);
          continue;
        }
        for (int r = 0; r < 4; r++)
          for (int b = 0; b < nb; b++) {
            const uint8_t *xq = x + (size_t)r * xs + (size_t)b * EP_Q8_BLOCK_BYTES;
            __m256i v = Q8_LD(xq);
            xsp[((size_t)r * nb + b) * 2] = _mm256_srai_epi16(_mm256_slli_epi16(v, 8), 8);
            xsp[((size_t)r * nb + b) * 2 + 1] = _mm256_srai_epi16(v, 8);
            sx[(size_t)r * nb + b] = q8_scale(xq);
          }
        for (int o = o0; o < o1; o++)
          q8_row4_split(y + (size_t)i * ys + o, ys, xsp, sx, w + (size_t)o * wrb, nb, bias ? bias[o] : 0.0f);
      }
    }
    return;
  }
  if (nb <= Q8P_MAXNB) { /* here nx < 4 */
    q8_gemv(y, ys, xb, xs, nx, w, wrb, 0, nw, nb, bias);
    return;
  }
  for (int o = 0; o < nw; o++) { /* long rows: each W row used by every x row while hot */
    const uint8_t *wr = w + (size_t)o * wrb;
    float bo = bias ? bias[o] : 0.0f;
    for (int i = 0; i < nx; i += 4) {
      const uint8_t *x = xb + (size_t)i * xs;
      float *yo = y + (size_t)i * ys + o;
      switch (nx - i < 4 ? nx - i : 4) {
        case 1: q8_row_raw(yo, ys, x, xs, wr, nb, bo, 1); break;
        case 2: q8_row_raw(yo, ys, x, xs, wr, nb, bo, 2); break;
        case 3: q8_row_raw(yo, ys, x, xs, wr, nb, bo, 3); break;
        default: q8_row_raw(yo, ys, x, xs, wr, nb, bo, 4); break;
      }
    }
  }
}
