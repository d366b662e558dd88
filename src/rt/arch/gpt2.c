/* GPT-2 loader: learned position embeddings, LayerNorm, gelu_new MLP, Conv1D
 * weights ([in, out], transposed once at load into [out, in] copies). Accepts
 * tensor names with or without the "transformer." prefix, ignores the
 * h.N.attn.bias / masked_bias buffers, ties lm_head to wte when absent. */
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "rt/model_impl.h"

/* prefix ("" or "transformer.") + name */
static const char *nm(char *buf, size_t n, const char *prefix, const char *fmt, int l) {
  char tail[128];
  snprintf(tail, sizeof tail, fmt, l);
  snprintf(buf, n, "%s%s", prefix, tail);
  return buf;
}

static int gpt2_load(ep_model *m, char *err, size_t errsz) {
  const ep_config *c = &m->cfg;
  ep_model_info *in = &m->info;
  if (c->hidden_act[0] && strcmp(c->hidden_act, "gelu_new") != 0 &&
      strcmp(c->hidden_act, "gelu_pytorch_tanh") != 0) {
    snprintf(err, errsz, "config.json: activation_function '%s' not supported for gpt2 (gelu_new)",
             c->hidden_act);
    return EP_EUNSUPPORTED;
  }
  if (in->n_kv_head != in->n_head || in->head_dim * in->n_head != in->n_embd) {
    snprintf(err, errsz, "config.json: gpt2 needs n_embd divisible by n_head");
    return EP_EINVAL;
  }
  if (in->n_ff <= 0) in->n_ff = 4 * in->n_embd;
  if (in->n_ctx <= 0) in->n_ctx = 1024;
  m->norm_rms = 0;
  m->use_rope = 0;
  m->gated_mlp = 0;
  m->eps = c->layer_norm_eps > 0 ? (float)c->layer_norm_eps : 1e-5f;
  int d = in->n_embd, ff = in->n_ff;
  const char *pre = ep_st_find(m->st, "transformer.wte.weight") ? "transformer." : "";
  char n[192];
  int rc;
  m->layers = ep__own(m, sizeof(ep_layer) * (size_t)in->n_layer);
  if (!m->layers) return EP_ENOMEM;
  if ((rc = ep__mat(m, nm(n, sizeof n, pre, "wte.weight", 0), in->vocab_size, d, &m->tok_emb, err, errsz)) ||
      (rc = ep__mat(m, nm(n, sizeof n, pre, "wpe.weight", 0), in->n_ctx, d, &m->pos_emb, err, errsz)) ||
      (rc = ep__vec(m, nm(n, sizeof n, pre, "ln_f.weight", 0), d, 0, &m->final_norm_w, err, errsz)) ||
      (rc = ep__vec(m, nm(n, sizeof n, pre, "ln_f.bias", 0), d, 0, &m->final_norm_b, err, errsz)))
    return rc;
  if (ep_st_find(m->st, "lm_head.weight")) {
    if ((rc = ep__mat(m, "lm_head.weight", in->vocab_size, d, &m->lm_head, err, errsz))) return rc;
  } else {
    m->lm_head = m->tok_emb; /* GPT-2 always ties; the Hub file omits lm_head */
  }
  for (int l = 0; l < in->n_layer; l++) {
    ep_layer *L = &m->layers[l];
    ep_mat qkv;
    float *qkv_b;
    if ((rc = ep__vec(m, nm(n, sizeof n, pre, "h.%d.ln_1.weight", l), d, 0, &L->attn_norm_w, err, errsz)) ||
        (rc = ep__vec(m, nm(n, sizeof n, pre, "h.%d.ln_1.bias", l), d, 0, &L->attn_norm_b, err, errsz)) ||
        (rc = ep__mat_t(m, nm(n, sizeof n, pre, "h.%d.attn.c_attn.weight", l), d, 3 * d, &qkv, err, errsz)) ||
        (rc = ep__vec(m, nm(n, sizeof n, pre, "h.%d.attn.c_attn.bias", l), 3 * d, 0, &qkv_b, err, errsz)) ||
        (rc = ep__mat_t(m, nm(n, sizeof n, pre, "h.%d.attn.c_proj.weight", l), d, d, &L->o, err, errsz)) ||
        (rc = ep__vec(m, nm(n, sizeof n, pre, "h.%d.attn.c_proj.bias", l), d, 0, &L->o_b, err, errsz)) ||
        (rc = ep__vec(m, nm(n, sizeof n, pre, "h.%d.ln_2.weight", l), d, 0, &L->mlp_norm_w, err, errsz)) ||
        (rc = ep__vec(m, nm(n, sizeof n, pre, "h.%d.ln_2.bias", l), d, 0, &L->mlp_norm_b, err, errsz)) ||
        (rc = ep__mat_t(m, nm(n, sizeof n, pre, "h.%d.mlp.c_fc.weight", l), d, ff, &L->up, err, errsz)) ||
        (rc = ep__vec(m, nm(n, sizeof n, pre, "h.%d.mlp.c_fc.bias", l), ff, 0, &L->up_b, err, errsz)) ||
        (rc = ep__mat_t(m, nm(n, sizeof n, pre, "h.%d.mlp.c_proj.weight", l), ff, d, &L->down, err, errsz)) ||
        (rc = ep__vec(m, nm(n, sizeof n, pre, "h.%d.mlp.c_proj.bias", l), d, 0, &L->down_b, err, errsz)))
      return rc;
    /* split the fused [3d, d] qkv rows into q, k, v views */
    size_t rb = ep_kern_row_bytes(qkv.wt, d);
    ep_mat *dst[3] = {&L->q, &L->k, &L->v};
    float **bd[3] = {&L->q_b, &L->k_b, &L->v_b};
    for (int i = 0; i < 3; i++) {
      *dst[i] = qkv;
      dst[i]->out = d;
      dst[i]->data = (const uint8_t *)qkv.data + (size_t)i * d * rb;
      *bd[i] = qkv_b + (size_t)i * d;
    }
  }
  return EP_OK;
}

const ep_arch ep_arch_gpt2 = {"gpt2", gpt2_load, ep__decoder_forward};
