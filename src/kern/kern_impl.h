/* Private to src/kern: the per-ISA matmul-block and row-conversion entry
 * points that kern.c dispatches to. */
#ifndef EP_KERN_IMPL_H
#define EP_KERN_IMPL_H

#include "kern/kern.h"

typedef float (*ep__dot_fn)(const float *x, const void *w, int n);
typedef void (*ep__cvt_fn)(float *dst, const void *src, int n);
/* Block of a matmul: y[i*ys + o] = x_i . w_o (+ bias[o]) for i < nx, o < nw.
 * x rows are xs bytes apart (f32 rows, or Q8 rows for the Q8 weight type),
 * w rows wrb bytes apart, in = values per row. Bias is indexed from 0. */
typedef void (*ep__mm_fn)(float *y, size_t ys, const void *x, size_t xs, int nx, const void *w,
                          size_t wrb, int nw, int in, const float *bias);

/* One attention head over n_pos cached positions (see ep_ref_attention):
 * out[hd] = softmax(scale * q.k_t) V; the head's key/value of position t is
 * at k/v + t*stride (stride = hd for a head-major cache); s holds n_pos
 * floats. Only for hd % 8 == 0. */
typedef void (*ep__attn_fn)(float *out, const float *q, const float *k, const float *v, int n_pos,
                            size_t stride, int hd, float scale, float *s);

typedef struct {
  const char *name;
  ep__dot_fn dot[3];          /* f32 x . row of wtype (F32/F16/BF16) */
  ep__cvt_fn cvt[3];          /* to f32; [EP_KW_F32] unused */
  ep__mm_fn mm[EP_KW_COUNT];  /* by ep_kern_wtype */
  ep__attn_fn attn;           /* NULL: portable loop in kern.c */
  int avx2;                   /* the CPU has AVX2/FMA/F16C: the AVX2-only paths (packed
                               * GEMM, encoder, Q8 prefill panels) may run */
  int align;                  /* bytes of its widest load: matmul input rows are aligned to it */
} ep__isa;

extern const ep__isa ep__isa_scalar;
int ep__avx2_available(void);
extern const ep__isa ep__isa_avx2;
/* AVX-512 F/BW/VL decode kernels (kern_avx512.c); the _vnni table differs only
 * in its Q8 block (vpdpbusd instead of vpmaddubsw + vpmaddwd: the same exact
 * integer sums, so the same bits). ep__avx512_available: 0 without AVX-512
 * F/BW/VL (or AVX2/FMA/F16C) or without OS support for the ZMM state, 1 with,
 * 2 with AVX512_VNNI too. */
int ep__avx512_available(void);
extern const ep__isa ep__isa_avx512;
extern const ep__isa ep__isa_avx512_vnni;
/* the same file compiled against SIMDe (portable emulation, any CPU): only in
 * the ep_kern_simde library that tests link (CMakeLists.txt) */
extern const ep__isa ep__isa_avx512_simde;
extern const ep__isa ep__isa_avx512_vnni_simde;

/* scalar Q8 dot of nb blocks (kern_q8.c), shared by the reference and the
 * scalar ISA */
void ep__q8_to_f32(float *dst, const void *src, size_t n);
/* the two versions ep__q8_to_f32 picks from: dst = scale * q, the same floats */
void ep__q8_to_f32_scalar(float *dst, const void *src, size_t n);
void ep__q8_to_f32_avx2(float *dst, const void *src, size_t n);
float ep__q8_dot_scalar(const void *x, const void *w, int nb);
void ep__mm_q8_scalar(float *y, size_t ys, const void *x, size_t xs, int nx, const void *w,
                      size_t wrb, int nw, int in, const float *bias);

/* Q8 quantisation of one row (ep_kern_quantize_q8 picks one): the AVX2
 * version writes exactly the scalar version's bytes */
void ep__quantize_q8_scalar(void *dst, const float *src, int n);
void ep__quantize_q8_avx2(void *dst, const float *src, int n);
/* AVX2 ep_kern_logsumexp (kern_lse.c); the reference where not x86-64 */
float ep__logsumexp_avx2(const float *x, int n);

/* erf GELU in place, AVX2 (kern_enc.c); also the packed GEMM's epilogue (kern_gemm.c) */
void ep__gelu_erf_avx2(float *x, size_t n);
/* g = silu(g) * u, AVX2 (kern_avx2.c): sigmoid from ep__exp_ps(-|g|), within
 * 1e-6 relative of ep_ref_swiglu's expf (worst seen 3.6e-7; not bitwise) */
void ep__swiglu_avx2(float *g, const float *u, size_t n);
/* ep_ref_rmsnorm with the sum of squares in 16 lanes (two 8-lane chains, then
 * a fixed reduction and the scalar tail): the scalar float sum is one serial
 * add chain over the row (~1 us per 768 values); then y = x * r * w as in the
 * reference. Within 1e-6 relative of it (the sum's rounding differs); each
 * row's result does not depend on the other rows. */
void ep__rmsnorm_avx2(float *y, const float *x, const float *w, int n, int d, float eps);

/* C[m x n] (ldc apart) = A[m x kc] (lda apart) * B, B packed as 16-column panels
 * [ceil(n/16)][kc][16] (zero-padded, 32-byte aligned); one thread, AVX2/FMA only
 * (kern_gemm.c's register tile; the encoder attention of kern_enc.c) */
void ep__gemm_panels(float *c, size_t ldc, const float *a, size_t lda, int m, int kc, const float *b, int n);
/* C[m x n] (ldc apart) = (first ? bias or 0 : C) + A[m x kc] (lda apart) * B, B as
 * 16-column panels of [kc][16] floats, pst floats apart; one thread, AVX2/FMA only
 * (the int8 prefill path of kern.c mm_blas) */
void ep__gemm_panels_acc(float *c, size_t ldc, const float *a, size_t lda, int m, int kc, const float *b, size_t pst,
                         int n, const float *bias, int first);

/* the pool of a kernel context (kern.c), for the row ops of kern_rows.c */
struct ep_pool;
struct ep_pool *ep__kern_pool(ep_kern *k);

#endif
