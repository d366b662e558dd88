/* Tensor kernels of the inference engine. Two layers:
 *  - ep_ref_*: plain single-threaded C reference kernels, kept as the test
 *    oracle (correct and readable, not fast);
 *  - ep_kern_*: the kernels the model calls, run on a persistent thread pool
 *    with AVX-512 or AVX2/FMA/F16C dot products when the CPU has them (runtime check) and
 *    OpenBLAS sgemm for large F32 prefill GEMMs. Env EP_KERN=ref forces the
 *    portable scalar path (still threaded, no BLAS) so CI can test both.
 * Shapes are row-major; weight matrices are [out, in] as in HF nn.Linear.
 * Ownership: ep_kern_new returns a caller-owned context (ep_kern_free); all
 * tensor pointers are borrowed for the duration of a call. One call at a time
 * per context. */
#ifndef EP_KERN_KERN_H
#define EP_KERN_KERN_H

#include <stddef.h>
#include <stdint.h>

/* EP_KW_Q8: symmetric int8 in blocks of EP_Q8_BLOCK values, each block
 * stored as {float scale; int8_t q[32]} (EP_Q8_BLOCK_BYTES); value = scale*q,
 * q in [-127, 127]. A row of `in` values holds ceil(in/32) blocks, the last
 * one zero-padded. Activations are quantised the same way before the int8
 * dot products (ep_kern_quantize_q8). */
typedef enum { EP_KW_F32 = 0, EP_KW_F16, EP_KW_BF16, EP_KW_Q8 } ep_kern_wtype;
#define EP_KW_COUNT 4
#define EP_Q8_BLOCK 32
#define EP_Q8_BLOCK_BYTES 36

/* bytes of one weight row of `in` values */
size_t ep_kern_row_bytes(ep_kern_wtype wt, int in);
/* quantises one row src[n] into ceil(n/32) Q8 blocks at dst (scale = max|x|/127,
 * q = round-half-away(x/scale)) */
void ep_kern_quantize_q8(void *dst, const float *src, int n);

/* ---- element conversions ---- */
float ep_f16_to_f32(uint16_t h);
float ep_bf16_to_f32(uint16_t h);
uint16_t ep_f32_to_f16(float f);  /* round to nearest even */
uint16_t ep_f32_to_bf16(float f); /* round to nearest even */
/* dst[n] = element i of a weight array of type wt (Q8: src is a row start) */
void ep_kern_to_f32(float *dst, const void *src, ep_kern_wtype wt, size_t n);

/* ---- RoPE tables ---- */
typedef struct {
  int type;                     /* 0 none, 1 linear, 2 llama3 (ep_rope_scaling_type values) */
  double factor, low_freq_factor, high_freq_factor;
  int original_max_pos;
} ep_rope_scaling;
/* inv[hd/2] = theta^(-2i/hd), then scaled (linear: /factor; llama3: HF's
 * wavelength-dependent blend). */
void ep_rope_inv_freq(double *inv, int hd, double theta, const ep_rope_scaling *s);

/* ---- reference kernels ---- */
/* y[n,out] = x[n,in] * W^T (+ bias[out] if non-NULL); W is [out,in] of type wt.
 * Q8: each x row is quantised with ep_kern_quantize_q8 first, then per block
 * y += (sx*sw) * (float)sum(qx*qw) with exact integer block sums. */
void ep_ref_matmul(float *y, const float *x, const void *w, ep_kern_wtype wt, const float *bias,
                   int n, int in, int out);
/* y[n,out] = x[n,in] * W (+ bias) where W is [in,out] (GPT-2 Conv1D layout), F32 */
void ep_ref_matmul_in_out(float *y, const float *x, const float *w, const float *bias, int n, int in,
                          int out);
void ep_ref_rmsnorm(float *y, const float *x, const float *w, int n, int d, float eps);
void ep_ref_layernorm(float *y, const float *x, const float *w, const float *b, int n, int d,
                      float eps);
void ep_ref_softmax(float *x, int n);
/* log(sum exp(x_i)) in float64 (-inf entries add 0; -inf if all are, +inf
 * if one is); x has no NaN */
float ep_ref_logsumexp(const float *x, int n);
/* x[n_head*hd] rotated in place, rotate_half convention: pairs (i, i+hd/2) */
void ep_ref_rope(float *x, int n_head, int hd, int pos, const double *inv_freq);
/* The angles of rows at positions pos[0..nrows): cs[r*hd + i] = cos and
 * cs[r*hd + hd/2 + i] = sin of pos[r] * inv_freq[i] (i < hd/2, computed in
 * double and rounded to float, the values ep_ref_rope uses); ep_ref_rope_cs
 * rotates one row with its cs row: bitwise ep_ref_rope. A forward computes the
 * table once for all layers, q and k. */
void ep_rope_cs(float *cs, int nrows, int hd, const int *pos, const double *inv_freq);
void ep_ref_rope_cs(float *x, int n_head, int hd, const float *cs);
void ep_ref_gelu_tanh(float *x, int n); /* gelu_new: 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))) */
void ep_ref_silu(float *x, int n);
void ep_ref_add(float *y, const float *x, int n); /* y += x */
void ep_ref_swiglu(float *g, const float *u, int n); /* g = silu(g) * u */
/* One query position: out[n_head*hd] = softmax(q.K^T/sqrt(hd)) V over n_pos
 * cached positions. Key/value of kv head g at position t start at
 * k + t*pos_stride + g*head_stride (floats): pos_stride = n_kv*hd,
 * head_stride = hd for one interleaved row per position; pos_stride = hd,
 * head_stride = cap*hd for a head-major cache. Kv head of query head h is
 * h / (n_head/n_kv). scratch holds n_pos floats. */
void ep_ref_attention(float *out, const float *q, const float *k, const float *v, int n_pos,
                      size_t pos_stride, size_t head_stride, int n_head, int n_kv, int hd,
                      float *scratch);

/* ---- fast, threaded kernels ---- */
typedef struct ep_kern ep_kern;
/* AUTO: the widest ISA the CPU has (AVX-512 F/BW/VL, with VNNI for Q8 when
 * present; else AVX2/FMA/F16C; else portable C); AVX2: at most AVX2 (to
 * compare with AVX-512 on one machine); REF: portable C, no BLAS. */
typedef enum { EP_KERN_AUTO = 0, EP_KERN_REF, EP_KERN_AVX2 } ep_kern_mode;

/* threads <= 0: number of online CPUs. mode AUTO honours env EP_KERN=ref
 * (as REF) and EP_KERN=avx2 (as AVX2). */
ep_kern *ep_kern_new(int threads, ep_kern_mode mode);
void ep_kern_free(ep_kern *k);
int ep_kern_threads(const ep_kern *k);
const char *ep_kern_isa(const ep_kern *k); /* "avx512vnni" | "avx512" | "avx2" | "scalar" */
/* 1 when the AVX2/FMA kernels run (ISA avx2 or avx512*): packed GEMM, encoder
 * attention and vector math, Q8 prefill panels */
int ep_kern_has_avx2(const ep_kern *k);

/* ep_ref_logsumexp, AVX2 when the CPU has it (no context, single thread):
 * |diff| <= 1e-6 * (1 + |result|) from the vector exp (tested) */
float ep_kern_logsumexp(const float *x, int n);

void ep_kern_matmul(ep_kern *k, float *y, const float *x, const void *w, ep_kern_wtype wt,
                    const float *bias, int n, int in, int out);

/* One output of ep_kern_matmul_multi: y[n,out] = x W^T (+ bias). */
typedef struct {
  float *y;
  const void *w; /* [out, in] of type wt */
  ep_kern_wtype wt;
  const float *bias;
  int out;
} ep_mm_out;
/* Several matmuls of the same input x[n,in] (q/k/v, gate/up) in one pool
 * dispatch: one barrier instead of nouts. Returns 0 or EP_ENOMEM (Q8 scratch). */
int ep_kern_matmul_multi(ep_kern *k, const float *x, int n, int in, const ep_mm_out *outs, int nouts);

typedef struct {
  float *out;       /* [n_head*hd] */
  const float *q;   /* [n_head*hd] */
  const float *k;   /* key of kv head 0, position 0 of the sequence (layer slice) */
  const float *v;
  size_t head_stride; /* floats from kv head g to g+1 (see ep_ref_attention) */
  int n_pos;        /* positions to attend (causal: up to and including this one) */
} ep_attn_row;
/* Runs ep_ref_attention semantics for every row (pos_stride shared, head
 * stride per row: sequences' caches differ in capacity), threaded over rows x
 * kv heads; the query heads sharing a kv head (GQA) run one after the other
 * in one task. A head-major cache (pos_stride = hd) streams contiguous memory.
 * Returns 0 or EP_ENOMEM. */
int ep_kern_attention(ep_kern *k, const ep_attn_row *rows, int nrows, size_t pos_stride, int n_head,
                      int n_kv, int hd);

/* Bidirectional attention of nseq packed sequences (seq_len[s] rows each, in
 * order; q/k/v/out rows stride floats apart, head h at column h*hd): every row
 * attends to all rows of its own sequence. Threaded over sequences x heads,
 * two sgemms per task (kern_enc.c). Returns 0 or EP_ENOMEM. */
int ep_kern_attention_full(ep_kern *k, float *out, const float *q, const float *kk, const float *v,
                           int stride, const size_t *seq_len, size_t nseq, int n_head, int hd);
/* x = 0.5 x (1 + erf(x / sqrt 2)) in place (erff per element), threaded. */
void ep_kern_gelu_erf(ep_kern *k, float *x, size_t n);
/* x = LayerNorm(x + r) over n rows of d, threaded (AVX2: lane-wise sums, equal to
 * ep_ref_layernorm of the sum up to float rounding; scalar: bitwise). */
void ep_kern_add_layernorm(ep_kern *k, float *x, const float *r, const float *w, const float *b, int n,
                           int d, float eps);

/* ---- pre-packed F32 GEMM for encoder Linear layers (kern_gemm.c) ----
 * ep_kern_pack widens W [out, in] (F32/F16/BF16) once into panels of 16 outputs
 * x in (zero-padded), the layout of an AVX2/FMA 6x16 register-tile kernel;
 * it returns NULL when the context has no AVX2/FMA (or EP_KERN=ref), on a
 * Q8 type or out of memory: callers then keep ep_kern_matmul on W. The packed
 * copy is caller-owned (ep_kern_packed_free) and independent of W afterwards;
 * it may be used with any context of the same process. */
typedef struct ep_kern_packed ep_kern_packed;
ep_kern_packed *ep_kern_pack(ep_kern *k, const void *w, ep_kern_wtype wt, int out, int in);
void ep_kern_packed_free(ep_kern_packed *p);
int ep_kern_packed_out(const ep_kern_packed *p);
int ep_kern_packed_in(const ep_kern_packed *p);
typedef enum { EP_GEMM_ACT_NONE = 0, EP_GEMM_ACT_GELU_ERF } ep_gemm_act;
typedef struct {
  float *y;                /* [n, w->out] */
  const ep_kern_packed *w; /* all outputs of one call share w->in */
  const float *bias;       /* [w->out] or NULL */
  ep_gemm_act act;         /* applied after the bias */
} ep_gemm_out;
/* y = act(x[n, in] W^T + bias) for each output, one pool dispatch per 4
 * outputs. Sums in float over K blocks of 256 (order differs from
 * ep_ref_matmul: equal up to float rounding). */
void ep_kern_gemm(ep_kern *k, const float *x, int n, const ep_gemm_out *outs, int nouts);

/* Row and element ops, split across the pool only when large (prefill);
 * results are bitwise those of the ep_ref_* kernel of the same name.
 * ep_kern_rope rotates nrows rows (stride floats apart) in place, row r with
 * the angles cs + r*hd of ep_rope_cs. */
void ep_kern_layernorm(ep_kern *k, float *y, const float *x, const float *w, const float *b, int n, int d,
                       float eps);
void ep_kern_rmsnorm(ep_kern *k, float *y, const float *x, const float *w, int n, int d, float eps);
void ep_kern_gelu_tanh(ep_kern *k, float *x, size_t n);
void ep_kern_swiglu(ep_kern *k, float *g, const float *u, size_t n);
void ep_kern_rope(ep_kern *k, float *x, int nrows, size_t stride, int n_head, int hd, const float *cs);

#endif
