/* ep_model: load a repository folder (config, weights, generation config),
 * pick the architecture vtable, own the kernel context; per-sequence KV
 * caches; batch validation in front of the architecture's forward. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/err.h"
#include "rt/model_impl.h"

ep_model_params ep_model_default_params(void) {
  ep_model_params p = {NULL, 0, EP_DTYPE_F32};
  return p;
}

static const ep_arch *arch_pick(const ep_config *c) {
  static const struct {
    const char *model_type, *arch_prefix;
    const ep_arch *arch;
  } table[] = {
      {"llama", "Llama", &ep_arch_llama},   {"mistral", "Mistral", &ep_arch_llama},
      {"qwen2", "Qwen2", &ep_arch_llama},   {"gpt2", "GPT2", &ep_arch_gpt2},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (strcmp(c->model_type, table[i].model_type) == 0) return table[i].arch;
  if (!c->model_type[0])
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
      if (strncmp(c->architecture, table[i].arch_prefix, strlen(table[i].arch_prefix)) == 0)
        return table[i].arch;
  return NULL;
}

void ep_model_free(ep_model *m) {
  if (!m) return;
  for (size_t i = 0; i < m->nowned; i++) free(m->owned[i]);
  free(m->owned);
  free(m->fwd_mem);
  ep_kern_free(m->kern);
  ep_st_free(m->st);
  ep_config_free(&m->cfg);
  free(m);
}

int ep_model_load(const ep_model_params *p, ep_model **out, char *err, size_t errsz) {
  *out = NULL;
  if (!p || !p->dir) {
    snprintf(err, errsz, "no model directory given");
    return EP_EINVAL;
  }
  if ((unsigned)p->dtype > EP_DTYPE_INT8) {
    snprintf(err, errsz, "unknown weight dtype %d", (int)p->dtype);
    return EP_EINVAL;
  }
  ep_model *m = calloc(1, sizeof *m);
  if (!m) return EP_ENOMEM;
  m->params = *p;
  int rc = ep_config_load(p->dir, &m->cfg, err, errsz);
  if (rc != EP_OK) goto fail;
  const ep_config *c = &m->cfg;
  m->arch = arch_pick(c);
  if (!m->arch) {
    snprintf(err, errsz, "unsupported architecture: model_type '%s', architectures[0] '%s'",
             c->model_type, c->architecture);
    rc = EP_EUNSUPPORTED;
    goto fail;
  }
  ep_model_info *in = &m->info;
  snprintf(in->arch, sizeof in->arch, "%s", m->arch->name);
  in->vocab_size = c->vocab_size;
  in->n_ctx = c->max_pos;
  in->n_layer = c->n_layer;
  in->n_embd = c->hidden_size;
  in->n_head = c->n_head;
  in->n_kv_head = c->n_kv_head;
  in->head_dim = c->head_dim;
  in->n_ff = c->intermediate_size;
  in->bos_id = c->bos_id;
  in->n_eos = c->n_eos < EP_MODEL_MAX_EOS ? c->n_eos : EP_MODEL_MAX_EOS;
  memcpy(in->eos_ids, c->eos_ids, sizeof(int) * (size_t)in->n_eos);
  ep_gen_config g;
  char gerr[256];
  int grc = ep_gen_config_load(p->dir, &g, gerr, sizeof gerr);
  if (grc != EP_OK && grc != EP_ENOTFOUND) {
    snprintf(err, errsz, "%s", gerr);
    rc = grc;
    goto fail;
  }
  if (g.n_eos > 0) {
    in->n_eos = g.n_eos < EP_MODEL_MAX_EOS ? g.n_eos : EP_MODEL_MAX_EOS;
    memcpy(in->eos_ids, g.eos_ids, sizeof(int) * (size_t)in->n_eos);
  }
  if (g.bos_id >= 0) in->bos_id = g.bos_id;

  if ((rc = ep_st_open_dir(p->dir, &m->st, err, errsz)) != EP_OK) goto fail;
  if ((rc = m->arch->load(m, err, errsz)) != EP_OK) goto fail;
  if (m->info.n_ctx <= 0) {
    snprintf(err, errsz, "config.json: max_position_embeddings missing");
    rc = EP_EINVAL;
    goto fail;
  }
  m->kern = ep_kern_new(p->threads, EP_KERN_AUTO);
  if (!m->kern) {
    rc = EP_ENOMEM;
    goto fail;
  }
  m->info.kernels = ep_kern_isa(m->kern);
  *out = m;
  return EP_OK;
fail:
  ep_model_free(m);
  return rc;
}

const ep_model_info *ep_model_get_info(const ep_model *m) { return &m->info; }

/* K and V caches of 2 MiB and more are 2 MiB-aligned and marked MADV_HUGEPAGE
 * (a hint; plain memory where THP is off). Decode attention reads every
 * (layer, head) run of the cache once per token after a whole step of weights
 * went through the caches, so each 4 KiB page of it was a fresh TLB miss, a
 * nested page walk under KVM, and a stop for the hardware prefetcher:
 * standalone (12 layers x 12 heads x 192 positions, 18 MB streamed between
 * layers, 1 thread) 1.22 ms per token on 4 KiB pages, 0.70 ms on huge pages.
 * The cost: the huge pages a sequence touches are resident in full, so a
 * cache is backed up to its capacity (rounded to 2 MiB) once it is in use,
 * where 4 KiB pages were backed as positions were written. */
#define KV_HUGE_MIN ((size_t)2 << 20)

static float *kv_alloc(size_t nfloats) {
  /* at least 64-byte aligned: a head's position rows (head_dim floats) then
   * start on cache lines, so the 16-float loads of the AVX-512 attention never split */
  size_t bytes = (nfloats * sizeof(float) + 63) & ~(size_t)63;
  if (bytes < KV_HUGE_MIN) return aligned_alloc(64, bytes);
  bytes = (bytes + KV_HUGE_MIN - 1) & ~(KV_HUGE_MIN - 1);
  float *p = aligned_alloc(KV_HUGE_MIN, bytes);
#ifdef MADV_HUGEPAGE
  if (p) (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
  return p;
}

ep_kv *ep_kv_new(ep_model *m, size_t max_tokens) {
  if (!m || max_tokens == 0 || max_tokens > (size_t)m->info.n_ctx) return NULL;
  ep_kv *kv = calloc(1, sizeof *kv);
  if (!kv) return NULL;
  size_t n = (size_t)m->info.n_layer * max_tokens * (size_t)(m->info.n_kv_head * m->info.head_dim);
  kv->k = kv_alloc(n);
  kv->v = kv_alloc(n);
  if (!kv->k || !kv->v) {
    ep_kv_free(kv);
    return NULL;
  }
  kv->m = m;
  kv->cap = max_tokens;
  return kv;
}

void ep_kv_free(ep_kv *kv) {
  if (!kv) return;
  free(kv->k);
  free(kv->v);
  free(kv);
}

size_t ep_kv_len(const ep_kv *kv) { return kv->len; }
size_t ep_kv_cap(const ep_kv *kv) { return kv->cap; }
void ep_kv_truncate(ep_kv *kv, size_t len) {
  if (len < kv->len) kv->len = len;
}

int ep_model_forward(ep_model *m, ep_batch_item *items, size_t nitems) {
  if (!m || (!items && nitems)) return EP_EINVAL;
  int rc = EP_OK;
  for (size_t i = 0; i < nitems; i++) {
    ep_batch_item *it = &items[i];
    if (!it->kv || it->kv->m != m || (it->n && !it->tokens)) return EP_EINVAL;
    for (size_t j = 0; j < it->n; j++)
      if (it->tokens[j] < 0 || it->tokens[j] >= m->info.vocab_size) return EP_EINVAL;
    for (size_t j = 0; j < i; j++)
      if (items[j].kv == it->kv) return EP_EINVAL; /* one entry per sequence */
    if (it->kv->len + it->n > it->kv->cap) rc = EP_ERANGE;
  }
  if (rc != EP_OK) return rc; /* nothing is appended to any sequence */
  return m->arch->forward(m, items, nitems);
}
