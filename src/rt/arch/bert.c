/* BERT-family encoder stack: word + position (+ token type) embeddings and
 * LayerNorm, then post-LN layers x = LN(x + O(attn(x))), x = LN(x + W2
 * act(W1 x)) with bidirectional attention inside each packed sequence.
 * Covers BERT and RoBERTa/XLM-R naming ("bert."/"roberta." prefix or none;
 * RoBERTa positions start at pad_token_id + 1, set by encoder.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/err.h"
#include "rt/arch/bert.h"

static int table(ep_encoder *e, const char *name, int rows, int optional, const void **data,
                 ep_kern_wtype *wt, char *err, size_t errsz) {
  char full[160];
  snprintf(full, sizeof full, "%s%s", e->prefix, name);
  const ep_st_tensor *t = ep_st_find(e->st, full);
  *data = NULL;
  if (!t) {
    if (optional) return EP_OK;
    snprintf(err, errsz, "tensor '%s': missing from the checkpoint", full);
    return EP_ENOTFOUND;
  }
  if (t->dtype != EP_ST_F32 && t->dtype != EP_ST_F16 && t->dtype != EP_ST_BF16) {
    snprintf(err, errsz, "tensor '%s': dtype %s not supported (F32, F16, BF16)", full,
             ep_st_dtype_name(t->dtype));
    return EP_EUNSUPPORTED;
  }
  if (t->ndim != 2 || t->shape[1] != e->info.d || (rows > 0 && t->shape[0] != rows) || t->shape[0] < 1) {
    snprintf(err, errsz, "tensor '%s': shape does not match the config (expected [%d, %d])", full,
             rows, e->info.d);
    return EP_EINVAL;
  }
  *wt = t->dtype == EP_ST_F32 ? EP_KW_F32 : t->dtype == EP_ST_F16 ? EP_KW_F16 : EP_KW_BF16;
  *data = t->data; /* rows are gathered with ep_kern_to_f32 (any alignment) */
  if (rows <= 0 && t->shape[0] < e->max_pos) e->max_pos = (int)t->shape[0];
  return EP_OK;
}

static int load_layer(ep_encoder *e, int i, ep_enc_layer *L, char *err, size_t errsz) {
  char n[128];
  int d = e->info.d, ff = e->info.n_ff, rc;
#define MAT(field, suffix, o, in)                                                        \
  snprintf(n, sizeof n, "encoder.layer.%d.%s.weight", i, suffix);                        \
  if ((rc = ep__enc_mat(e, e->st, n, o, in, 0, &L->field, err, errsz)) != EP_OK) return rc;
#define VEC(field, suffix, len, kind)                                                    \
  snprintf(n, sizeof n, "encoder.layer.%d.%s.%s", i, suffix, kind);                      \
  if ((rc = ep__enc_vec(e, e->st, n, len, 0, &L->field, err, errsz)) != EP_OK) return rc;
  MAT(q, "attention.self.query", d, d)
  VEC(q_b, "attention.self.query", d, "bias")
  MAT(k, "attention.self.key", d, d)
  VEC(k_b, "attention.self.key", d, "bias")
  MAT(v, "attention.self.value", d, d)
  VEC(v_b, "attention.self.value", d, "bias")
  MAT(o, "attention.output.dense", d, d)
  VEC(o_b, "attention.output.dense", d, "bias")
  VEC(ln1_w, "attention.output.LayerNorm", d, "weight")
  VEC(ln1_b, "attention.output.LayerNorm", d, "bias")
  MAT(up, "intermediate.dense", ff, d)
  VEC(up_b, "intermediate.dense", ff, "bias")
  MAT(down, "output.dense", d, ff)
  VEC(down_b, "output.dense", d, "bias")
  VEC(ln2_w, "output.LayerNorm", d, "weight")
  VEC(ln2_b, "output.LayerNorm", d, "bias")
#undef MAT
#undef VEC
  return EP_OK;
}

int ep__bert_load(ep_encoder *e, char *err, size_t errsz) {
  static const char *prefixes[] = {"bert.", "roberta.", "xlm-roberta.", "model.", ""};
  e->prefix[0] = 0;
  for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
    char n[96];
    snprintf(n, sizeof n, "%sembeddings.word_embeddings.weight", prefixes[i]);
    if (ep_st_find(e->st, n)) {
      snprintf(e->prefix, sizeof e->prefix, "%s", prefixes[i]);
      break;
    }
  }
  int rc;
  e->max_pos = 1 << 30;
  if ((rc = table(e, "embeddings.word_embeddings.weight", e->info.vocab_size, 0, &e->word_emb,
                  &e->word_wt, err, errsz)) != EP_OK)
    return rc;
  if ((rc = table(e, "embeddings.position_embeddings.weight", 0, 0, &e->pos_emb, &e->pos_wt, err,
                  errsz)) != EP_OK)
    return rc;
  if ((rc = table(e, "embeddings.token_type_embeddings.weight", e->info.type_vocab_size,
                  e->info.type_vocab_size <= 0, &e->type_emb, &e->type_wt, err, errsz)) != EP_OK)
    return rc;
  if (!e->type_emb) e->info.type_vocab_size = 0;
  if ((rc = ep__enc_vec(e, e->st, "embeddings.LayerNorm.weight", e->info.d, 0, &e->emb_ln_w, err,
                        errsz)) != EP_OK ||
      (rc = ep__enc_vec(e, e->st, "embeddings.LayerNorm.bias", e->info.d, 0, &e->emb_ln_b, err,
                        errsz)) != EP_OK)
    return rc;
  e->layers = ep__enc_own(e, (size_t)e->info.n_layer * sizeof *e->layers);
  if (!e->layers) return EP_ENOMEM;
  for (int i = 0; i < e->info.n_layer; i++)
    if ((rc = load_layer(e, i, &e->layers[i], err, errsz)) != EP_OK) return rc;
  return EP_OK;
}

/* ---- packed weights ----------------------------------------------------- */

/* Drops the mmapped pages of a packed matrix from this process (they are read
 * again from the file only if something touches them), so packing does not
 * double the resident model. Only for ranges inside the safetensors mapping. */
static void drop_pages(ep_encoder *e, const ep_enc_mat *m) {
  long pg = sysconf(_SC_PAGESIZE);
  int found = 0;
  for (size_t i = 0; i < ep_st_count(e->st) && !found; i++) found = ep_st_at(e->st, i)->data == m->data;
  if (!found || pg <= 0) return;
  uintptr_t a = ((uintptr_t)m->data + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1);
  uintptr_t b = ((uintptr_t)m->data + (size_t)m->out * m->in * sizeof(float)) & ~((uintptr_t)pg - 1);
  if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

int ep__bert_pack(ep_encoder *e) {
  for (int l = 0; l < e->info.n_layer; l++) {
    ep_enc_layer *L = &e->layers[l];
    ep_enc_mat *ms[6] = {&L->q, &L->k, &L->v, &L->o, &L->up, &L->down};
    for (int i = 0; i < 6; i++) {
      /* F32 only: F16/BF16 would double in size when widened; they keep the
       * per-call widening of ep_kern_matmul */
      if (ms[i]->wt != EP_KW_F32) continue;
      ms[i]->packed = ep_kern_pack(e->kern, ms[i]->data, ms[i]->wt, ms[i]->out, ms[i]->in);
      if (!ms[i]->packed) {
        if (ep_kern_has_avx2(e->kern)) return EP_ENOMEM;
        return EP_OK; /* no AVX2/FMA (or EP_KERN=ref): nothing packed */
      }
      drop_pages(e, ms[i]);
    }
  }
  return EP_OK;
}

void ep__bert_free(ep_encoder *e) {
  free(e->fwd);
  for (int l = 0; e->layers && l < e->info.n_layer; l++) {
    ep_enc_layer *L = &e->layers[l];
    ep_enc_mat *ms[6] = {&L->q, &L->k, &L->v, &L->o, &L->up, &L->down};
    for (int i = 0; i < 6; i++) ep_kern_packed_free(ms[i]->packed);
  }
}

/* ---- forward ------------------------------------------------------------ */

/* y[n, m->out] = act(x m^T + b): packed GEMM when m is packed, else the kernel matmul */
static void linear(ep_encoder *e, float *y, const float *x, int n, const ep_enc_mat *m, const float *b,
                   int gelu) {
  if (m->packed) {
    ep_gemm_out o = {y, m->packed, b, gelu && !e->gelu_tanh ? EP_GEMM_ACT_GELU_ERF : EP_GEMM_ACT_NONE};
    ep_kern_gemm(e->kern, x, n, &o, 1);
    if (!gelu || !e->gelu_tanh) return;
  } else {
    ep_kern_matmul(e->kern, y, x, m->data, m->wt, b, n, m->in, m->out);
    if (!gelu) return;
    if (!e->gelu_tanh) {
      ep_kern_gelu_erf(e->kern, y, (size_t)n * m->out);
      return;
    }
  }
  ep_kern_gelu_tanh(e->kern, y, (size_t)n * m->out);
}

static void add_rows(float *y, const float *x, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] += x[i];
}

static void gather(float *dst, const void *tab, ep_kern_wtype wt, int row, int d, float *tmp) {
  size_t esz = wt == EP_KW_F32 ? 4 : 2;
  ep_kern_to_f32(tmp, (const char *)tab + (size_t)row * d * esz, wt, (size_t)d);
  add_rows(dst, tmp, (size_t)d);
}

#define FWD_KEEP_FLOATS ((size_t)4 << 20) /* 16 MiB: a few hundred tokens of BERT-base */

int ep__bert_forward(ep_encoder *e, const ep_enc_seq *seqs, size_t nseq, float *x) {
  const ep_encoder_info *in = &e->info;
  int d = in->d, ff = in->n_ff, H = in->n_head, hd = d / H;
  size_t N = 0;
  for (size_t s = 0; s < nseq; s++) N += seqs[s].n;
  /* q, k, v, a [N, d], h [N, ff], tmp [d] in one buffer kept across calls up to
   * FWD_KEEP_FLOATS (no page faults from fresh allocations on every forward) */
  size_t need = N * (4 * (size_t)d + (size_t)ff) + (size_t)d;
  size_t *lens = malloc(nseq * sizeof *lens);
  int rc = EP_OK;
  if (need > e->fwd_n) {
    free(e->fwd);
    e->fwd = malloc(need * sizeof(float));
    e->fwd_n = e->fwd ? need : 0;
  }
  if (!e->fwd || !lens) {
    rc = EP_ENOMEM;
    goto out;
  }
  float *q = e->fwd, *k = q + N * d, *v = k + N * d, *a = v + N * d, *h = a + N * d, *tmp = h + N * ff;
  /* embeddings */
  memset(x, 0, N * d * sizeof(float));
  for (size_t s = 0, t = 0; s < nseq; s++) {
    for (size_t i = 0; i < seqs[s].n; i++, t++) {
      float *row = x + t * d;
      gather(row, e->word_emb, e->word_wt, seqs[s].ids[i], d, tmp);
      gather(row, e->pos_emb, e->pos_wt, (int)i + e->pos_offset, d, tmp);
      if (e->type_emb) gather(row, e->type_emb, e->type_wt, seqs[s].type_ids ? seqs[s].type_ids[i] : 0, d, tmp);
    }
  }
  ep_kern_layernorm(e->kern, x, x, e->emb_ln_w, e->emb_ln_b, (int)N, d, e->eps);
  for (size_t s = 0; s < nseq; s++) lens[s] = seqs[s].n;
  for (int l = 0; l < in->n_layer; l++) {
    const ep_enc_layer *L = &e->layers[l];
    if (L->q.packed && L->k.packed && L->v.packed) {
      ep_gemm_out qkv[3] = {{q, L->q.packed, L->q_b, EP_GEMM_ACT_NONE},
                            {k, L->k.packed, L->k_b, EP_GEMM_ACT_NONE},
                            {v, L->v.packed, L->v_b, EP_GEMM_ACT_NONE}};
      ep_kern_gemm(e->kern, x, (int)N, qkv, 3);
    } else {
      ep_mm_out qkv[3] = {{q, L->q.data, L->q.wt, L->q_b, d},
                          {k, L->k.data, L->k.wt, L->k_b, d},
                          {v, L->v.data, L->v.wt, L->v_b, d}};
      if ((rc = ep_kern_matmul_multi(e->kern, x, (int)N, d, qkv, 3)) != EP_OK) goto out;
    }
    /* every token of a sequence attends to all tokens of that sequence only */
    if ((rc = ep_kern_attention_full(e->kern, a, q, k, v, d, lens, nseq, H, hd)) != EP_OK) goto out;
    linear(e, q, a, (int)N, &L->o, L->o_b, 0);
    ep_kern_add_layernorm(e->kern, x, q, L->ln1_w, L->ln1_b, (int)N, d, e->eps);
    linear(e, h, x, (int)N, &L->up, L->up_b, 1);
    linear(e, q, h, (int)N, &L->down, L->down_b, 0);
    ep_kern_add_layernorm(e->kern, x, q, L->ln2_w, L->ln2_b, (int)N, d, e->eps);
  }
out:
  if (e->fwd_n > FWD_KEEP_FLOATS) { /* big batches: give the memory back */
    free(e->fwd);
    e->fwd = NULL;
    e->fwd_n = 0;
  }
  free(lens);
  return rc;
}
