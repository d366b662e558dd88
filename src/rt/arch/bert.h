/* Private to the encoder files (encoder.c, arch/bert.c): the ep_encoder
 * object, its weights and the BERT-family loader/forward. */
#ifndef EP_RT_ARCH_BERT_H
#define EP_RT_ARCH_BERT_H

#include "fmt/safetensors.h"
#include "kern/kern.h"
#include "rt/encoder.h"

/* A weight matrix [out, in] (HF nn.Linear layout), mmapped or owned; the
 * encoder layers' F32 matrices also get a packed copy (ep__bert_pack), after
 * which `data` is only read if packing failed. */
typedef struct {
  const void *data;
  ep_kern_wtype wt;
  int out, in;
  ep_kern_packed *packed; /* owned (ep__bert_free) or NULL */
} ep_enc_mat;

typedef struct {
  ep_enc_mat q, k, v, o;          /* [d, d] */
  float *q_b, *k_b, *v_b, *o_b;   /* [d] */
  float *ln1_w, *ln1_b;           /* [d] after attention (post-LN) */
  ep_enc_mat up, down;            /* up [ff, d], down [d, ff] */
  float *up_b, *down_b;
  float *ln2_w, *ln2_b;           /* [d] after the MLP */
} ep_enc_layer;

struct ep_encoder {
  ep_encoder_info info;
  ep_kern *kern;
  ep_st *st, *dense_st;           /* model weights; 2_Dense weights (or NULL) */
  char prefix[16];                /* "", "bert.", "roberta.", "distilbert." */
  int pos_offset;                 /* RoBERTa: pad_token_id + 1, else 0 */
  int max_pos;                    /* rows of the position table */
  float eps;
  int gelu_tanh;                  /* hidden_act gelu_new / gelu_pytorch_tanh */
  const void *word_emb, *pos_emb, *type_emb; /* [V,d] [P,d] [T,d] (type may be NULL) */
  ep_kern_wtype word_wt, pos_wt, type_wt;
  float *emb_ln_w, *emb_ln_b;
  ep_enc_layer *layers;
  ep_enc_mat pooler, cls_pre, cls; /* pooler [d,d]; distilbert pre_classifier [d,d]; classifier [L,d] */
  float *pooler_b, *cls_pre_b, *cls_b;
  ep_enc_mat dense;               /* 2_Dense [dense_out, d] */
  float *dense_b;
  int dense_act;                  /* 0 identity, 1 tanh */
  float *fwd;                     /* forward scratch (arch/bert.c), grown, kept across calls */
  size_t fwd_n;                   /* floats in fwd */
  void **owned;
  size_t nowned, capowned;
};

void *ep__enc_own(ep_encoder *e, size_t bytes);
/* Matrix `name` (after the prefix, or absolute when abs) of shape [out, in]
 * from st; optional=1 leaves m->data NULL when absent. */
int ep__enc_mat(ep_encoder *e, const ep_st *st, const char *name, int out, int in, int optional,
                ep_enc_mat *m, char *err, size_t errsz);
int ep__enc_vec(ep_encoder *e, const ep_st *st, const char *name, int n, int optional, float **v,
                char *err, size_t errsz);

/* arch/bert.c: loads embeddings + layers (names under e->prefix, which it
 * detects) and runs the encoder stack on packed sequences. */
int ep__bert_load(ep_encoder *e, char *err, size_t errsz);
/* packs the layers' F32 matrices for ep_kern_gemm once e->kern exists (no
 * AVX2/FMA: nothing packed, the forward uses ep_kern_matmul); frees them */
int ep__bert_pack(ep_encoder *e);
void ep__bert_free(ep_encoder *e);
int ep__bert_forward(ep_encoder *e, const ep_enc_seq *seqs, size_t nseq, float *hidden);

#endif
