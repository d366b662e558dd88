/* Llama-family loader (Llama 1/2/3, Mistral, Qwen2-style): RMSNorm, RoPE
 * (rotate_half, theta, linear/llama3 scaling), GQA, SwiGLU MLP, optional
 * q/k/v/o biases (Qwen2 has them without a config flag), lm_head tied to
 * embed_tokens when absent. The forward itself is the shared decoder. */
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "rt/model_impl.h"

static int llama_load(ep_model *m, char *err, size_t errsz) {
  const ep_config *c = &m->cfg;
  ep_model_info *in = &m->info;
  if (c->hidden_act[0] && strcmp(c->hidden_act, "silu") != 0) {
    snprintf(err, errsz, "config.json: hidden_act '%s' not supported for llama (silu)", c->hidden_act);
    return EP_EUNSUPPORTED;
  }
  if (in->n_ff <= 0) {
    snprintf(err, errsz, "config.json: missing required field intermediate_size");
    return EP_EINVAL;
  }
  if (in->head_dim % 2) {
    snprintf(err, errsz, "config.json: head_dim %d must be even for RoPE", in->head_dim);
    return EP_EINVAL;
  }
  m->norm_rms = 1;
  m->use_rope = 1;
  m->gated_mlp = 1;
  m->eps = c->rms_norm_eps > 0 ? (float)c->rms_norm_eps : 1e-6f;
  int d = in->n_embd, hd = in->head_dim, qd = in->n_head * hd, kvd = in->n_kv_head * hd, ff = in->n_ff;
  m->inv_freq = ep__own(m, sizeof(double) * (size_t)(hd / 2));
  m->layers = ep__own(m, sizeof(ep_layer) * (size_t)in->n_layer);
  if (!m->inv_freq || !m->layers) return EP_ENOMEM;
  ep_rope_scaling sc = {(int)c->rope_scaling.type, c->rope_scaling.factor, c->rope_scaling.low_freq_factor,
                        c->rope_scaling.high_freq_factor, c->rope_scaling.original_max_pos};
  ep_rope_inv_freq(m->inv_freq, hd, c->rope_theta, &sc);

  int rc;
  if ((rc = ep__mat(m, "model.embed_tokens.weight", in->vocab_size, d, &m->tok_emb, err, errsz)) ||
      (rc = ep__vec(m, "model.norm.weight", d, 0, &m->final_norm_w, err, errsz)))
    return rc;
  if (ep_st_find(m->st, "lm_head.weight")) {
    if ((rc = ep__mat(m, "lm_head.weight", in->vocab_size, d, &m->lm_head, err, errsz))) return rc;
  } else if (c->tie_word_embeddings) {
    m->lm_head = m->tok_emb;
  } else {
    snprintf(err, errsz, "tensor 'lm_head.weight': missing and tie_word_embeddings is false");
    return EP_ENOTFOUND;
  }
  for (int l = 0; l < in->n_layer; l++) {
    ep_layer *L = &m->layers[l];
    char n[160];
#define P(s) (snprintf(n, sizeof n, "model.layers.%d.%s", l, s), n)
    if ((rc = ep__vec(m, P("input_layernorm.weight"), d, 0, &L->attn_norm_w, err, errsz)) ||
        (rc = ep__vec(m, P("post_attention_layernorm.weight"), d, 0, &L->mlp_norm_w, err, errsz)) ||
        (rc = ep__mat(m, P("self_attn.q_proj.weight"), qd, d, &L->q, err, errsz)) ||
        (rc = ep__mat(m, P("self_attn.k_proj.weight"), kvd, d, &L->k, err, errsz)) ||
        (rc = ep__mat(m, P("self_attn.v_proj.weight"), kvd, d, &L->v, err, errsz)) ||
        (rc = ep__mat(m, P("self_attn.o_proj.weight"), d, qd, &L->o, err, errsz)) ||
        (rc = ep__vec(m, P("self_attn.q_proj.bias"), qd, !c->attention_bias, &L->q_b, err, errsz)) ||
        (rc = ep__vec(m, P("self_attn.k_proj.bias"), kvd, !c->attention_bias, &L->k_b, err, errsz)) ||
        (rc = ep__vec(m, P("self_attn.v_proj.bias"), kvd, !c->attention_bias, &L->v_b, err, errsz)) ||
        (rc = ep__vec(m, P("self_attn.o_proj.bias"), d, 1, &L->o_b, err, errsz)) ||
        (rc = ep__mat(m, P("mlp.gate_proj.weight"), ff, d, &L->gate, err, errsz)) ||
        (rc = ep__mat(m, P("mlp.up_proj.weight"), ff, d, &L->up, err, errsz)) ||
        (rc = ep__mat(m, P("mlp.down_proj.weight"), d, ff, &L->down, err, errsz)) ||
        (rc = ep__vec(m, P("mlp.gate_proj.bias"), ff, !c->mlp_bias, &L->gate_b, err, errsz)) ||
        (rc = ep__vec(m, P("mlp.up_proj.bias"), ff, !c->mlp_bias, &L->up_b, err, errsz)) ||
        (rc = ep__vec(m, P("mlp.down_proj.bias"), d, !c->mlp_bias, &L->down_b, err, errsz)))
      return rc;
#undef P
  }
  return EP_OK;
}

const ep_arch ep_arch_llama = {"llama", llama_load, ep__decoder_forward};
