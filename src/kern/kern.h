/* Tensor kernels of the inference engine. Two layers:
 *  - ep_ref_*: plain single-threaded C reference kernels, kept as the test
 *    oracle (correct and readable, not fast);
 *  - ep_kern_*: the kernels the model calls, run on a persistent thread pool
 *    with AVX2/FMA/F16C dot products when the CPU has them (runtime check) and
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

typedef enum { EP_KW_F32 = 0, EP_KW_F16, EP_KW_BF16 } ep_kern_wtype;

/* ---- element conversions ---- */
float ep_f16_to_f32(uint16_t h);
float ep_bf16_to_f32(uint16_t h);
uint16_t ep_f32_to_f16(float f);  /* round to nearest even */
uint16_t ep_f32_to_bf16(float f); /* round to nearest even */
/* dst[n] = element i of a weight array of type wt */
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
/* y[n,out] = x[n,in] * W^T (+ bias[out] if non-NULL); W is [out,in] of type wt */
void ep_ref_matmul(float *y, const float *x, const void *w, ep_kern_wtype wt, const float *bias,
                   int n, int in, int out);
/* y[n,out] = x[n,in] * W (+ bias) where W is [in,out] (GPT-2 Conv1D layout), F32 */
void ep_ref_matmul_in_out(float *y, const float *x, const float *w, const float *bias, int n, int in,
                          int out);
void ep_ref_rmsnorm(float *y, const float *x, const float *w, int n, int d, float eps);
void ep_ref_layernorm(float *y, const float *x, const float *w, const float *b, int n, int d,
                      float eps);
void ep_ref_softmax(float *x, int n);
/* x[n_head*hd] rotated in place, rotate_half convention: pairs (i, i+hd/2) */
void ep_ref_rope(float *x, int n_head, int hd, int pos, const double *inv_freq);
void ep_ref_gelu_tanh(float *x, int n); /* gelu_new: 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))) */
void ep_ref_silu(float *x, int n);
void ep_ref_add(float *y, const float *x, int n); /* y += x */
void ep_ref_swiglu(float *g, const float *u, int n); /* g = silu(g) * u */
/* One query position: out[n_head*hd] = softmax(q.K^T/sqrt(hd)) V over n_pos
 * cached positions; K,V rows are kv_stride floats apart, kv head of query
 * head h is h / (n_head/n_kv). scratch holds n_pos floats. */
void ep_ref_attention(float *out, const float *q, const float *k, const float *v, int n_pos,
                      int kv_stride, int n_head, int n_kv, int hd, float *scratch);

/* ---- fast, threaded kernels ---- */
typedef struct ep_kern ep_kern;
typedef enum { EP_KERN_AUTO = 0, EP_KERN_REF } ep_kern_mode;

/* threads <= 0: number of online CPUs. mode AUTO honours env EP_KERN=ref. */
ep_kern *ep_kern_new(int threads, ep_kern_mode mode);
void ep_kern_free(ep_kern *k);
int ep_kern_threads(const ep_kern *k);
const char *ep_kern_isa(const ep_kern *k); /* "avx2" | "scalar" */

void ep_kern_matmul(ep_kern *k, float *y, const float *x, const void *w, ep_kern_wtype wt,
                    const float *bias, int n, int in, int out);

typedef struct {
  float *out;       /* [n_head*hd] */
  const float *q;   /* [n_head*hd] */
  const float *k;   /* first cached key row of the sequence (layer slice) */
  const float *v;
  int n_pos;        /* positions to attend (causal: up to and including this one) */
} ep_attn_row;
/* Runs ep_ref_attention semantics for every row, threaded over rows x heads.
 * Returns 0 or EP_ENOMEM. */
int ep_kern_attention(ep_kern *k, const ep_attn_row *rows, int nrows, int kv_stride, int n_head,
                      int n_kv, int hd);

#endif
