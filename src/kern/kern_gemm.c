/* Pre-packed F32 GEMM for the encoder's Linear layers: y[n,out] = act(x[n,in] W^T + b).
 * W is packed once at load into panels of 16 outputs (panel p holds W[16p+j][k] at
 * [p][k][j], zero-padded past `out`), which an AVX2/FMA 6x16 register tile (6 token rows x
 * 16 outputs) streams; K is blocked so a panel slice stays in L1 and a block of x rows in
 * L2; tasks are (row chunk x panel range) on the kernel pool. Bias is the accumulators'
 * start value, the erf GELU runs on each finished tile block. Without AVX2/FMA (or with
 * EP_KERN=ref) ep_kern_pack returns NULL and callers keep ep_kern_matmul. */
#include <stdlib.h>
#include <string.h>

#include "kern/kern_impl.h"
#include "kern/pool.h"

#define GEMM_NR 16  /* outputs per panel (two ymm registers) */
#define GEMM_MR 6   /* token rows per register tile */
#define GEMM_KC 256 /* K block: a 16 x 256 panel slice is 16 KiB (L1) */
#define GEMM_MC 144 /* rows per task: 144 x 256 floats of x (144 KiB, L2) */
#define GEMM_PR 24  /* at most this many panels per task (C block in L2) */

struct ep_kern_packed {
  int out, in, np; /* np = ceil(out / 16) panels */
  float *panels;   /* [np][in][16], 64-byte aligned */
};

int ep_kern_packed_out(const ep_kern_packed *p) { return p->out; }
int ep_kern_packed_in(const ep_kern_packed *p) { return p->in; }

void ep_kern_packed_free(ep_kern_packed *p) {
  if (!p) return;
  free(p->panels);
  free(p);
}

ep_kern_packed *ep_kern_pack(ep_kern *k, const void *w, ep_kern_wtype wt, int out, int in) {
  if (!k || !w || out <= 0 || in <= 0 || wt == EP_KW_Q8 || !ep_kern_has_avx2(k)) return NULL;
  ep_kern_packed *p = calloc(1, sizeof *p);
  float *row = malloc((size_t)in * sizeof *row);
  if (!p || !row) goto fail;
  p->out = out;
  p->in = in;
  p->np = (out + GEMM_NR - 1) / GEMM_NR;
  size_t bytes = (size_t)p->np * (size_t)in * GEMM_NR * sizeof(float);
  p->panels = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
  if (!p->panels) goto fail;
  size_t rb = ep_kern_row_bytes(wt, in);
  for (int pi = 0; pi < p->np; pi++) {
    float *dst = p->panels + (size_t)pi * in * GEMM_NR;
    for (int j = 0; j < GEMM_NR; j++) {
      int o = pi * GEMM_NR + j;
      if (o >= out) {
        for (int c = 0; c < in; c++) dst[(size_t)c * GEMM_NR + j] = 0.0f;
        continue;
      }
      const float *src = row;
      if (wt == EP_KW_F32) src = (const float *)((const char *)w + (size_t)o * rb);
      else ep_kern_to_f32(row, (const char *)w + (size_t)o * rb, wt, (size_t)in);
      for (int c = 0; c < in; c++) dst[(size_t)c * GEMM_NR + j] = src[c];
    }
  }
  free(row);
  return p;
fail:
  free(row);
  ep_kern_packed_free(p);
  return NULL;
}

#if defined(__x86_64__)
#include "kern/kern_enc_avx2.h"

/* C[mr x 16] (ldc apart) = act((first ? init : C) + A[mr x kc] * B[kc x 16]); A[r][k] is
 * at a[r * ra + k * ka] (rows of x: ra = lda, ka = 1); init is
 * 16 floats or NULL (zeros); act (the erf GELU) only when `gelu`. The first npf
 * iterations also prefetch one 64-byte line each of pf (the next panel slice). mr, ra
 * and ka are constants after inlining, so the accumulators stay in 12 ymm registers. */
#define TILE_STEP(R)                                                   \
  do {                                                                 \
    __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);         \
    _Pragma("GCC unroll 6") for (int r = 0; r < GEMM_MR; r++) {        \
      if (r >= (R)) continue;                                          \
      __m256 av = _mm256_broadcast_ss(a + r * ra + k * ka);            \
      c0[r] = _mm256_fmadd_ps(av, b0, c0[r]);                          \
      c1[r] = _mm256_fmadd_ps(av, b1, c1[r]);                          \
    }                                                                  \
  } while (0)

__attribute__((target("avx2,fma"), always_inline)) static inline void tile(int mr, int kc, const float *a,
                                                                           size_t ra, size_t ka, const float *b,
                                                                           float *c, size_t ldc, const float *init,
                                                                           int first, int gelu, const float *pf,
                                                                           int npf) {
  __m256 c0[GEMM_MR], c1[GEMM_MR];
#pragma GCC unroll 6
  for (int r = 0; r < GEMM_MR; r++) {
    if (r >= mr) continue;
    if (first) {
      c0[r] = init ? _mm256_loadu_ps(init) : _mm256_setzero_ps();
      c1[r] = init ? _mm256_loadu_ps(init + 8) : _mm256_setzero_ps();
    } else {
      c0[r] = _mm256_loadu_ps(c + r * ldc);
      c1[r] = _mm256_loadu_ps(c + r * ldc + 8);
    }
  }
  int k = 0;
  if (npf > kc) npf = kc;
  for (; k < npf; k++, b += GEMM_NR) {
    _mm_prefetch((const char *)(pf + (size_t)k * 16), _MM_HINT_T0);
    TILE_STEP(mr);
  }
#pragma GCC unroll 2
  for (; k < kc; k++, b += GEMM_NR) TILE_STEP(mr);
#pragma GCC unroll 6
  for (int r = 0; r < GEMM_MR; r++) {
    if (r >= mr) continue;
    if (gelu) {
      c0[r] = ep__gelu_erf_ps(c0[r]);
      c1[r] = ep__gelu_erf_ps(c1[r]);
    }
    _mm256_storeu_ps(c + r * ldc, c0[r]);
    _mm256_storeu_ps(c + r * ldc + 8, c1[r]);
  }
}

#define TILE_FN(R)                                                                                        \
  __attribute__((target("avx2,fma"))) static void tile##R(int kc, const float *a, size_t lda,            \
                                                          const float *b, float *c, size_t ldc,          \
                                                          const float *init, int first, int gelu,        \
                                                          const float *pf, int npf) {                    \
    tile(R, kc, a, lda, 1, b, c, ldc, init, first, gelu, pf, npf);                                       \
  }
TILE_FN(1)
TILE_FN(2)
TILE_FN(3)
TILE_FN(4)
TILE_FN(5)
TILE_FN(6)
typedef void (*tile_fn)(int, const float *, size_t, const float *, float *, size_t, const float *, int, int,
                        const float *, int);
static const tile_fn tiles[GEMM_MR + 1] = {NULL, tile1, tile2, tile3, tile4, tile5, tile6};

/* rows per tile: 6, except that a remainder of 1-3 rows borrows from the last full tile
 * (7 = 4 + 3, 8 = 4 + 4, 9 = 4 + 5): a 1-2 row tile has too few accumulators to hide the
 * FMA latency */
static inline int tile_rows(int rem) { return rem <= GEMM_MR ? rem : rem < GEMM_MR + 4 ? 4 : GEMM_MR; }

#define GEMM_MAX_OUTS 4

typedef struct {
  const float *x;
  int n, in;
  const ep_gemm_out *outs;
  int mc, nrc;                    /* rows per chunk, row chunks */
  int pr[GEMM_MAX_OUTS];          /* panels per task, by output */
  int first[GEMM_MAX_OUTS + 1];   /* first task of each output */
} gemm_job;

/* rows [m0, m1) x panels [p0, p1) of one output, all of K. While the row tiles of one
 * panel slice run, the next slice (next panel, or the range's first panel at the next
 * K block) is prefetched a part per tile: weights come from DRAM once per forward, and
 * the first tile of a slice would otherwise wait for them. (Copying the x rows of a K
 * block into [kc][mr] tile order first, as GotoBLAS does, measured ~4% slower here.) */
static void gemm_block(const gemm_job *j, const ep_gemm_out *o, int m0, int m1, int p0, int p1) {
  const ep_kern_packed *w = o->w;
  int in = j->in, out = w->out, ntile = (m1 - m0 + GEMM_MR - 1) / GEMM_MR;
  int gelu = o->act == EP_GEMM_ACT_GELU_ERF;
  float tmp[GEMM_MR * GEMM_NR], tb[GEMM_NR];
  for (int kb = 0; kb < in; kb += GEMM_KC) {
    int kc = in - kb < GEMM_KC ? in - kb : GEMM_KC, first = kb == 0, last = kb + kc == in;
    for (int p = p0; p < p1; p++) {
      const float *b = w->panels + ((size_t)p * in + kb) * GEMM_NR, *nb = NULL;
      int nlines = 0;
      if (p + 1 < p1) {
        nb = b + (size_t)in * GEMM_NR;
        nlines = kc * GEMM_NR * 4 / 64;
      } else if (!last) {
        nb = w->panels + ((size_t)p0 * in + kb + kc) * GEMM_NR;
        nlines = (in - kb - kc < GEMM_KC ? in - kb - kc : GEMM_KC) * GEMM_NR * 4 / 64;
      }
      int per = (nlines + ntile - 1) / ntile;
      int n0 = p * GEMM_NR, nr = out - n0 < GEMM_NR ? out - n0 : GEMM_NR;
      const float *init = o->bias ? o->bias + n0 : NULL;
      if (nr < GEMM_NR && init) { /* last, partial panel: zero-padded bias */
        memset(tb, 0, sizeof tb);
        memcpy(tb, init, (size_t)nr * sizeof(float));
        init = tb;
      }
      for (int m = m0, t = 0; m < m1; t++) {
        int mr = tile_rows(m1 - m);
        int npf = nlines - t * per < per ? nlines - t * per : per;
        const float *a = j->x + (size_t)m * in + kb, *pf = nb ? nb + (size_t)t * per * 16 : NULL;
        float *c = o->y + (size_t)m * out + n0;
        if (npf < 0) npf = 0;
        if (!first) /* the next tile's partial sums (C block in L2) while this one runs */
          for (int r = m + mr; r < m + mr + GEMM_MR && r < m1; r++)
            _mm_prefetch((const char *)(o->y + (size_t)r * out + n0), _MM_HINT_T0);
        if (nr == GEMM_NR) {
          tiles[mr](kc, a, (size_t)in, b, c, (size_t)out, init, first, gelu && last, pf, npf);
        } else {
          for (int r = 0; r < mr && !first; r++) memcpy(tmp + r * GEMM_NR, c + (size_t)r * out, (size_t)nr * 4);
          tiles[mr](kc, a, (size_t)in, b, tmp, GEMM_NR, init, first, gelu && last, pf, npf);
          for (int r = 0; r < mr; r++) memcpy(c + (size_t)r * out, tmp + r * GEMM_NR, (size_t)nr * 4);
        }
        m += mr;
      }
    }
  }
}

void ep__gemm_panels(float *c, size_t ldc, const float *a, size_t lda, int m, int kc, const float *b, int n) {
  float tmp[GEMM_MR * GEMM_NR];
  for (int p = 0; p * GEMM_NR < n; p++) {
    const float *bp = b + (size_t)p * kc * GEMM_NR;
    int n0 = p * GEMM_NR, nr = n - n0 < GEMM_NR ? n - n0 : GEMM_NR;
    for (int i = 0; i < m;) {
      int mr = tile_rows(m - i);
      const float *ai = a + (size_t)i * lda;
      float *ci = c + (size_t)i * ldc + n0;
      if (nr == GEMM_NR) {
        tiles[mr](kc, ai, lda, bp, ci, ldc, NULL, 1, 0, NULL, 0);
      } else {
        tiles[mr](kc, ai, lda, bp, tmp, GEMM_NR, NULL, 1, 0, NULL, 0);
        for (int r = 0; r < mr; r++) memcpy(ci + (size_t)r * ldc, tmp + r * GEMM_NR, (size_t)nr * 4);
      }
      i += mr;
    }
  }
}

/* C[m x n] (ldc apart) = (first ? bias or 0 : C) + A[m x kc] (lda apart) * B, B panels
 * of [kc][16] floats, pst floats apart (32-byte aligned); one thread */
void ep__gemm_panels_acc(float *c, size_t ldc, const float *a, size_t lda, int m, int kc, const float *b, size_t pst,
                         int n, const float *bias, int first) {
  float tmp[GEMM_MR * GEMM_NR], tb[GEMM_NR];
  for (int p = 0; p * GEMM_NR < n; p++) {
    const float *bp = b + (size_t)p * pst, *init = bias ? bias + p * GEMM_NR : NULL;
    int n0 = p * GEMM_NR, nr = n - n0 < GEMM_NR ? n - n0 : GEMM_NR;
    if (nr < GEMM_NR && init) {
      memset(tb, 0, sizeof tb);
      memcpy(tb, init, (size_t)nr * sizeof(float));
      init = tb;
    }
    for (int i = 0; i < m;) {
      int mr = tile_rows(m - i);
      const float *ai = a + (size_t)i * lda;
      float *ci = c + (size_t)i * ldc + n0;
      if (nr == GEMM_NR) {
        tiles[mr](kc, ai, lda, bp, ci, ldc, init, first, 0, NULL, 0);
      } else {
        for (int r = 0; r < mr && !first; r++) memcpy(tmp + r * GEMM_NR, ci + (size_t)r * ldc, (size_t)nr * 4);
        tiles[mr](kc, ai, lda, bp, tmp, GEMM_NR, init, first, 0, NULL, 0);
        for (int r = 0; r < mr; r++) memcpy(ci + (size_t)r * ldc, tmp + r * GEMM_NR, (size_t)nr * 4);
      }
      i += mr;
    }
  }
}

static void gemm_task(void *ctx, int task, int thread) {
  (void)thread;
  const gemm_job *j = ctx;
  int oi = 0;
  while (task >= j->first[oi + 1]) oi++;
  const ep_gemm_out *o = &j->outs[oi];
  int t = task - j->first[oi], rc = t % j->nrc, pr = j->pr[oi];
  int m0 = rc * j->mc, m1 = m0 + j->mc < j->n ? m0 + j->mc : j->n;
  int p0 = (t / j->nrc) * pr, p1 = p0 + pr < o->w->np ? p0 + pr : o->w->np;
  gemm_block(j, o, m0, m1, p0, p1);
}

static void gemm_run(ep_kern *k, const float *x, int n, const ep_gemm_out *outs, int nouts) {
  int th = ep_kern_threads(k);
  gemm_job j = {.x = x, .n = n, .in = outs[0].w->in, .outs = outs};
  j.nrc = (n + GEMM_MC - 1) / GEMM_MC;
  j.mc = (n + j.nrc - 1) / j.nrc;                 /* balanced chunks ... */
  j.mc = (j.mc + GEMM_MR - 1) / GEMM_MR * GEMM_MR; /* ... of whole tiles */
  j.nrc = (n + j.mc - 1) / j.mc;
  int tasks = 0;
  for (int i = 0; i < nouts; i++) {
    int np = outs[i].w->np;
    /* enough tasks for ~3 per thread (dynamic balance on a shared box) */
    int want = th > 1 ? (3 * th + nouts * j.nrc - 1) / (nouts * j.nrc) : 1;
    int ranges = (np + GEMM_PR - 1) / GEMM_PR;
    if (want > ranges) ranges = want < np ? want : np;
    j.pr[i] = (np + ranges - 1) / ranges;
    j.first[i] = tasks;
    tasks += j.nrc * ((np + j.pr[i] - 1) / j.pr[i]);
  }
  for (int i = nouts; i <= GEMM_MAX_OUTS; i++) j.first[i] = tasks;
  if (th == 1) {
    for (int t = 0; t < tasks; t++) gemm_task(&j, t, 0);
    return;
  }
  ep_pool_run(ep__kern_pool(k), tasks, gemm_task, &j);
}

void ep_kern_gemm(ep_kern *k, const float *x, int n, const ep_gemm_out *outs, int nouts) {
  if (n <= 0) return;
  for (int i = 0; i < nouts; i += GEMM_MAX_OUTS)
    gemm_run(k, x, n, outs + i, nouts - i < GEMM_MAX_OUTS ? nouts - i : GEMM_MAX_OUTS);
}
#else
void ep__gemm_panels(float *c, size_t ldc, const float *a, size_t lda, int m, int kc, const float *b, int n) {
  (void)c, (void)ldc, (void)a, (void)lda, (void)m, (void)kc, (void)b, (void)n; /* AVX2 callers only */
}
void ep__gemm_panels_acc(float *c, size_t ldc, const float *a, size_t lda, int m, int kc, const float *b, size_t pst,
                         int n, const float *bias, int first) {
  (void)c, (void)ldc, (void)a, (void)lda, (void)m, (void)kc, (void)b, (void)pst, (void)n, (void)bias, (void)first;
}
void ep_kern_gemm(ep_kern *k, const float *x, int n, const ep_gemm_out *outs, int nouts) {
  (void)k, (void)x, (void)n, (void)outs, (void)nouts; /* unreachable: ep_kern_pack returned NULL */
}
#endif
