/* Private to src/rt: the model object, KV cache layout, architecture vtable
 * and the weight-loading helpers the arch/ files share. */
#ifndef EP_RT_MODEL_IMPL_H
#define EP_RT_MODEL_IMPL_H

#include "fmt/config.h"
#include "fmt/safetensors.h"
#include "kern/kern.h"
#include "rt/model.h"

/* A weight matrix [out, in] (row-major, HF Linear layout; rows are
 * ep_kern_row_bytes(wt, in) apart). Points into the mmapped file, or into
 * `owned` (transposed, converted, Q8-quantised or realigned copy). */
typedef struct {
  const void *data;
  ep_kern_wtype wt;
  int out, in;
} ep_mat;

typedef struct {
  float *attn_norm_w, *attn_norm_b;        /* [d] (b: LayerNorm only) */
  ep_mat q, k, v, o;                       /* q [nh*hd, d], k/v [nkv*hd, d], o [d, nh*hd] */
  float *q_b, *k_b, *v_b, *o_b;            /* optional biases */
  float *mlp_norm_w, *mlp_norm_b;          /* [d] */
  ep_mat gate, up, down;                   /* gate/up [ff, d], down [d, ff]; no gate for GPT-2 */
  float *gate_b, *up_b, *down_b;
} ep_layer;

typedef struct ep_arch {
  const char *name;
  /* fills m->layers / embeddings / flags from m->st; writes err on failure */
  int (*load)(ep_model *m, char *err, size_t errsz);
  /* runs a validated batch (see ep_model_forward) */
  int (*forward)(ep_model *m, ep_batch_item *items, size_t nitems);
} ep_arch;

extern const ep_arch ep_arch_llama;
extern const ep_arch ep_arch_gpt2;

struct ep_model {
  ep_model_info info;
  ep_config cfg;
  ep_model_params params;
  ep_st *st;
  ep_kern *kern;
  const ep_arch *arch;
  /* decoder flags, set by the arch load */
  int norm_rms;        /* 1: RMSNorm, 0: LayerNorm */
  int use_rope;        /* 1: RoPE, 0: learned positions (pos_emb) */
  int gated_mlp;       /* 1: down(silu(gate) * up), 0: down(gelu_new(up)) */
  float eps;
  ep_mat tok_emb;      /* [vocab, d] */
  ep_mat pos_emb;      /* [n_ctx, d] (GPT-2) */
  float *final_norm_w, *final_norm_b;
  ep_mat lm_head;      /* [vocab, d] */
  double *inv_freq;    /* [hd/2] */
  ep_layer *layers;    /* [n_layer] */
  void *fwd_mem;       /* forward scratch reused across steps [fwd_cap bytes] */
  size_t fwd_cap;
  void **owned;        /* allocations freed with the model */
  size_t nowned, capowned;
  uint8_t *hp_next;    /* free space in the current huge-page weight chunk (model_weights.c) */
  size_t hp_left;      /* bytes */
};

/* Per-sequence cache, head-major: k and v are [n_layer][n_kv][cap][hd]
 * floats, so attention streams each head's keys/values as one contiguous run
 * (positions >= len are unused). */
struct ep_kv {
  ep_model *m;
  size_t cap, len;
  float *k, *v;
};

/* Weight helpers (model_weights.c). Names are tried as given. All return
 * EP_OK or an ep_err with a message naming the tensor. */
int ep__mat(ep_model *m, const char *name, int out, int in, ep_mat *dst, char *err, size_t errsz);
/* Conv1D weight stored [in, out]: transposed into an owned [out, in] copy. */
int ep__mat_t(ep_model *m, const char *name, int in, int out, ep_mat *dst, char *err, size_t errsz);
/* f32 copy of a vector of n elements; optional=1 leaves *dst NULL when absent. */
int ep__vec(ep_model *m, const char *name, int n, int optional, float **dst, char *err, size_t errsz);
void *ep__own(ep_model *m, size_t bytes); /* model-owned zeroed allocation, NULL on OOM */

/* Shared decoder forward for GPT-2 and Llama layouts (model_forward.c). */
int ep__decoder_forward(ep_model *m, ep_batch_item *items, size_t nitems);

#endif
