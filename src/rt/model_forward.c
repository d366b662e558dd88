/* Decoder forward shared by GPT-2 and Llama-family models. All new tokens of
 * all sequences in a batch are stacked into one [T, d] activation matrix, so
 * every weight matrix is read once per step for the whole batch (prefill
 * chunks and decode tokens mixed); only attention is per sequence. */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "rt/model_impl.h"

typedef struct {
  float *x, *h, *q, *k, *v, *att, *f1, *f2; /* activations, T rows */
  float *cs;                                /* [T][head_dim] RoPE cos/sin (ep_rope_cs) */
  int *pos;                                 /* [T] absolute position of each row */
  int *seq;                                 /* [T] batch item of each row */
  ep_attn_row *rows;                        /* [T] */
} fwd_buf;

static void norm(const ep_model *m, float *y, const float *x, const float *w, const float *b, int n) {
  if (m->norm_rms) ep_kern_rmsnorm(m->kern, y, x, w, n, m->info.n_embd, m->eps);
  else ep_kern_layernorm(m->kern, y, x, w, b, n, m->info.n_embd, m->eps);
}

static void embed_row(const ep_model *m, float *dst, int tok, int pos) {
  int d = m->info.n_embd;
  size_t rb = ep_kern_row_bytes(m->tok_emb.wt, d);
  ep_kern_to_f32(dst, (const uint8_t *)m->tok_emb.data + (size_t)tok * rb, m->tok_emb.wt, (size_t)d);
  if (!m->use_rope) {
    float tmp[d];
    size_t prb = ep_kern_row_bytes(m->pos_emb.wt, d);
    ep_kern_to_f32(tmp, (const uint8_t *)m->pos_emb.data + (size_t)pos * prb, m->pos_emb.wt, (size_t)d);
    ep_ref_add(dst, tmp, d);
  }
}

static int layer_forward(ep_model *m, int l, ep_batch_item *items, fwd_buf *b, int T) {
  const ep_model_info *in = &m->info;
  const ep_layer *L = &m->layers[l];
  int d = in->n_embd, hd = in->head_dim, qd = in->n_head * hd, kvd = in->n_kv_head * hd;
  int ff = in->n_ff;
  ep_kern *k = m->kern;

  norm(m, b->h, b->x, L->attn_norm_w, L->attn_norm_b, T);
  const ep_mm_out qkv[3] = {{b->q, L->q.data, L->q.wt, L->q_b, qd},
                            {b->k, L->k.data, L->k.wt, L->k_b, kvd},
                            {b->v, L->v.data, L->v.wt, L->v_b, kvd}};
  if (ep_kern_matmul_multi(k, b->h, T, d, qkv, 3) != EP_OK) return EP_ENOMEM;
  if (m->use_rope) {
    ep_kern_rope(k, b->q, T, (size_t)qd, in->n_head, hd, b->cs);
    ep_kern_rope(k, b->k, T, (size_t)kvd, in->n_kv_head, hd, b->cs);
  }
  /* scatter the new keys/values into the head-major caches */
  for (int r = 0; r < T; r++) {
    ep_kv *kv = items[b->seq[r]].kv;
    size_t base = (size_t)l * kv->cap * kvd; /* layer slice [n_kv][cap][hd] */
    for (int g = 0; g < in->n_kv_head; g++) {
      size_t off = base + ((size_t)g * kv->cap + (size_t)b->pos[r]) * hd;
      memcpy(kv->k + off, b->k + (size_t)r * kvd + (size_t)g * hd, (size_t)hd * sizeof(float));
      memcpy(kv->v + off, b->v + (size_t)r * kvd + (size_t)g * hd, (size_t)hd * sizeof(float));
    }
    b->rows[r] = (ep_attn_row){b->att + (size_t)r * qd, b->q + (size_t)r * qd, kv->k + base,
                               kv->v + base, kv->cap * (size_t)hd, b->pos[r] + 1};
  }
  if (ep_kern_attention(k, b->rows, T, (size_t)hd, in->n_head, in->n_kv_head, hd) != EP_OK)
    return EP_ENOMEM;

  ep_kern_matmul(k, b->h, b->att, L->o.data, L->o.wt, L->o_b, T, qd, d);
  ep_ref_add(b->x, b->h, T * d);

  norm(m, b->h, b->x, L->mlp_norm_w, L->mlp_norm_b, T);
  if (m->gated_mlp) { /* gate and up in one dispatch */
    const ep_mm_out gu[2] = {{b->f1, L->up.data, L->up.wt, L->up_b, ff},
                             {b->f2, L->gate.data, L->gate.wt, L->gate_b, ff}};
    if (ep_kern_matmul_multi(k, b->h, T, d, gu, 2) != EP_OK) return EP_ENOMEM;
    ep_kern_swiglu(k, b->f2, b->f1, (size_t)T * ff); /* f2 = silu(gate) * up */
    ep_kern_matmul(k, b->h, b->f2, L->down.data, L->down.wt, L->down_b, T, ff, d);
  } else {
    ep_kern_matmul(k, b->f1, b->h, L->up.data, L->up.wt, L->up_b, T, d, ff);
    ep_kern_gelu_tanh(k, b->f1, (size_t)T * ff);
    ep_kern_matmul(k, b->h, b->f1, L->down.data, L->down.wt, L->down_b, T, ff, d);
  }
  ep_ref_add(b->x, b->h, T * d);
  return EP_OK;
}

int ep__decoder_forward(ep_model *m, ep_batch_item *items, size_t nitems) {
  const ep_model_info *in = &m->info;
  int d = in->n_embd, qd = in->n_head * in->head_dim, kvd = in->n_kv_head * in->head_dim;
  int V = in->vocab_size;
  size_t T = 0, nsel = 0;
  for (size_t i = 0; i < nitems; i++) {
    T += items[i].n;
    nsel += items[i].all_logits ? items[i].n : (items[i].logits && items[i].n ? 1 : 0);
  }
  if (T == 0) return EP_OK;
  if (T > (1u << 20)) return EP_ERANGE;
  fwd_buf b;
  /* Every array of the scratch block starts on a 64-byte boundary (sizes in
   * whole 16-float units, the block from aligned_alloc), so the matmuls read
   * their input rows in place: a misaligned x made ep_kern_matmul copy it to
   * aligned scratch on every call (a realloc'd block is 16 mod 32), and that
   * memcpy was ~5% of a B=8 decode step (Llama-124M f32, 2 threads). */
#define FWD_A16(n) (((size_t)(n) + 15) & ~(size_t)15)
  size_t nf = 2 * FWD_A16(T * d) + 2 * FWD_A16(T * qd) + 2 * FWD_A16(T * kvd) +
              2 * FWD_A16(T * in->n_ff) + FWD_A16(T * in->head_dim) + FWD_A16(nsel * d) +
              FWD_A16(nsel * V);
  /* one scratch block reused across steps (grown when a bigger batch comes) */
  size_t need = nf * sizeof(float) + T * (2 * sizeof(int) + sizeof(ep_attn_row));
  need = (need + 63) & ~(size_t)63;
  if (need > m->fwd_cap) {
    void *nm = aligned_alloc(64, need);
    if (!nm) return EP_ENOMEM;
    free(m->fwd_mem);
    m->fwd_mem = nm;
    m->fwd_cap = need;
  }
  int rc = EP_OK;
  float *p = m->fwd_mem;
  b.rows = (ep_attn_row *)(p + nf);
  b.pos = (int *)(b.rows + T);
  b.seq = b.pos + T;
  b.x = p, p += FWD_A16(T * d);
  b.h = p, p += FWD_A16(T * d);
  b.q = p, p += FWD_A16(T * qd);
  b.att = p, p += FWD_A16(T * qd);
  b.k = p, p += FWD_A16(T * kvd);
  b.v = p, p += FWD_A16(T * kvd);
  b.f1 = p, p += FWD_A16(T * in->n_ff);
  b.f2 = p, p += FWD_A16(T * in->n_ff);
  b.cs = p, p += FWD_A16(T * in->head_dim);
  float *sel = p, *logits = p + FWD_A16(nsel * d);
#undef FWD_A16

  size_t r = 0;
  for (size_t i = 0; i < nitems; i++)
    for (size_t j = 0; j < items[i].n; j++, r++) {
      b.pos[r] = (int)(items[i].kv->len + j);
      b.seq[r] = (int)i;
      embed_row(m, b.x + r * d, items[i].tokens[j], b.pos[r]);
    }
  /* RoPE angles once per forward (was per layer, for q and k: 24x the sin/cos) */
  if (m->use_rope) ep_rope_cs(b.cs, (int)T, in->head_dim, b.pos, m->inv_freq);
  for (int l = 0; l < in->n_layer && rc == EP_OK; l++) rc = layer_forward(m, l, items, &b, (int)T);
  if (rc != EP_OK) return rc; /* kv->len unchanged: the rows written are ignored */

  /* logits only for the rows asked for */
  size_t s = 0;
  r = 0;
  for (size_t i = 0; i < nitems; i++) {
    size_t n = items[i].n;
    if (items[i].all_logits) {
      memcpy(sel + s * d, b.x + r * d, n * d * sizeof(float));
      s += n;
    } else if (items[i].logits && n) {
      memcpy(sel + s * d, b.x + (r + n - 1) * d, d * sizeof(float));
      s++;
    }
    r += n;
  }
  if (nsel) {
    norm(m, sel, sel, m->final_norm_w, m->final_norm_b, (int)nsel);
    ep_kern_matmul(m->kern, logits, sel, m->lm_head.data, m->lm_head.wt, NULL, (int)nsel, d, V);
  }
  s = 0;
  for (size_t i = 0; i < nitems; i++) {
    size_t n = items[i].n;
    if (items[i].all_logits) {
      memcpy(items[i].all_logits, logits + s * V, n * V * sizeof(float));
      if (items[i].logits && n) memcpy(items[i].logits, logits + (s + n - 1) * V, V * sizeof(float));
      s += n;
    } else if (items[i].logits && n) {
      memcpy(items[i].logits, logits + s * V, V * sizeof(float));
      s++;
    }
    items[i].kv->len += n;
  }
  return rc;
}
