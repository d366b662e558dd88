/* Encoder model object: config.json (BERT/RoBERTa names), the
 * sentence-transformers files (modules.json, 1_Pooling, 2_Dense, Normalize),
 * the sequence-classification head, and the pooling / Dense / normalize /
 * classifier steps applied after the encoder stack (arch/bert.c). */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "rt/arch/bert.h"

ep_encoder_params ep_encoder_default_params(void) {
  ep_encoder_params p = {0};
  return p;
}

void *ep__enc_own(ep_encoder *e, size_t bytes) {
  if (e->nowned == e->capowned) {
    size_t nc = e->capowned ? e->capowned * 2 : 64;
    void **n = realloc(e->owned, nc * sizeof *n);
    if (!n) return NULL;
    e->owned = n;
    e->capowned = nc;
  }
  void *p = calloc(1, bytes ? bytes : 1);
  if (p) e->owned[e->nowned++] = p;
  return p;
}

static const ep_st_tensor *find_t(ep_encoder *e, const ep_st *st, const char *name, char *full,
                                  size_t fsz) {
  snprintf(full, fsz, "%s%s", st == e->st ? e->prefix : "", name);
  const ep_st_tensor *t = ep_st_find(st, full);
  if (!t && st == e->st) { /* heads (classifier.*) live outside the base prefix */
    snprintf(full, fsz, "%s", name);
    t = ep_st_find(st, full);
  }
  return t;
}

static int wtype(const ep_st_tensor *t, ep_kern_wtype *wt) {
  if (t->dtype == EP_ST_F32) *wt = EP_KW_F32;
  else if (t->dtype == EP_ST_F16) *wt = EP_KW_F16;
  else if (t->dtype == EP_ST_BF16) *wt = EP_KW_BF16;
  else return 0;
  return 1;
}

int ep__enc_mat(ep_encoder *e, const ep_st *st, const char *name, int out, int in, int optional,
                ep_enc_mat *m, char *err, size_t errsz) {
  char full[192];
  const ep_st_tensor *t = find_t(e, st, name, full, sizeof full);
  memset(m, 0, sizeof *m);
  if (!t) {
    if (optional) return EP_OK;
    snprintf(err, errsz, "tensor '%s': missing from the checkpoint", full);
    return EP_ENOTFOUND;
  }
  ep_kern_wtype wt;
  if (!wtype(t, &wt)) {
    snprintf(err, errsz, "tensor '%s': dtype %s not supported (F32, F16, BF16)", full,
             ep_st_dtype_name(t->dtype));
    return EP_EUNSUPPORTED;
  }
  if (t->ndim != 2 || t->shape[0] != out || t->shape[1] != in) {
    snprintf(err, errsz, "tensor '%s': shape does not match the config (expected [%d, %d])", full,
             out, in);
    return EP_EINVAL;
  }
  size_t esz = wt == EP_KW_F32 ? 4 : 2;
  m->wt = wt;
  m->out = out;
  m->in = in;
  if ((uintptr_t)t->data % esz == 0) {
    m->data = t->data;
  } else {
    void *c = ep__enc_own(e, t->nbytes);
    if (!c) return EP_ENOMEM;
    memcpy(c, t->data, t->nbytes);
    m->data = c;
  }
  return EP_OK;
}

int ep__enc_vec(ep_encoder *e, const ep_st *st, const char *name, int n, int optional, float **v,
                char *err, size_t errsz) {
  char full[192];
  const ep_st_tensor *t = find_t(e, st, name, full, sizeof full);
  *v = NULL;
  if (!t) {
    if (optional) return EP_OK;
    snprintf(err, errsz, "tensor '%s': missing from the checkpoint", full);
    return EP_ENOTFOUND;
  }
  ep_kern_wtype wt;
  if (!wtype(t, &wt) || t->numel != n) {
    snprintf(err, errsz, "tensor '%s': expected %d F32/F16/BF16 values", full, n);
    return EP_EINVAL;
  }
  float *f = ep__enc_own(e, (size_t)n * sizeof(float));
  if (!f) return EP_ENOMEM;
  if (wt == EP_KW_F32) memcpy(f, t->data, (size_t)n * 4); /* any alignment */
  else {
    uint16_t *tmp = malloc((size_t)n * 2);
    if (!tmp) return EP_ENOMEM;
    memcpy(tmp, t->data, (size_t)n * 2);
    ep_kern_to_f32(f, tmp, wt, (size_t)n);
    free(tmp);
  }
  *v = f;
  return EP_OK;
}

int ep_pool_parse(const char *s) {
  if (!s) return -1;
  if (!strcmp(s, "cls")) return EP_POOL_CLS;
  if (!strcmp(s, "mean")) return EP_POOL_MEAN;
  if (!strcmp(s, "max")) return EP_POOL_MAX;
  if (!strcmp(s, "lasttoken") || !strcmp(s, "last")) return EP_POOL_LAST;
  return -1;
}

/* ---- config ------------------------------------------------------------- */

static int jint(json_t *o, const char *a, const char *b, int def) {
  json_t *v = json_object_get(o, a);
  if (!json_is_integer(v) && b) v = json_object_get(o, b);
  return json_is_integer(v) ? (int)json_integer_value(v) : def;
}

static int parse_config(ep_encoder *e, const char *dir, int *pad, char *err, size_t errsz) {
  char path[1024];
  snprintf(path, sizeof path, "%s/config.json", dir);
  json_error_t je;
  json_t *c = json_load_file(path, 0, &je);
  if (!c || !json_is_object(c)) {
    snprintf(err, errsz, "%s: %s", path, c ? "not a JSON object" : je.text);
    json_decref(c);
    return c ? EP_EPARSE : EP_ENOTFOUND;
  }
  ep_encoder_info *in = &e->info;
  const char *mt = json_string_value(json_object_get(c, "model_type"));
  snprintf(in->arch, sizeof in->arch, "%s", mt ? mt : "");
  int rc = EP_OK;
  int bert = !strcmp(in->arch, "bert"), roberta = !strcmp(in->arch, "roberta") ||
                                                  !strcmp(in->arch, "xlm-roberta") ||
                                                  !strcmp(in->arch, "camembert");
  if (!bert && !roberta) {
    snprintf(err, errsz, "config.json: model_type '%s' is not a supported encoder (bert, roberta, "
             "xlm-roberta, camembert)", in->arch);
    rc = EP_EUNSUPPORTED;
    goto out;
  }
  in->vocab_size = jint(c, "vocab_size", NULL, 0);
  in->d = jint(c, "hidden_size", NULL, 0);
  in->n_layer = jint(c, "num_hidden_layers", NULL, 0);
  in->n_head = jint(c, "num_attention_heads", NULL, 0);
  in->n_ff = jint(c, "intermediate_size", NULL, 4 * in->d);
  in->type_vocab_size = jint(c, "type_vocab_size", NULL, 2);
  *pad = jint(c, "pad_token_id", NULL, roberta ? 1 : 0);
  int max_pos = jint(c, "max_position_embeddings", NULL, 512);
  if (in->vocab_size <= 0 || in->d <= 0 || in->n_layer <= 0 || in->n_head <= 0 ||
      in->d % in->n_head || in->n_ff <= 0 || max_pos <= 0 || in->d > 65536 || in->n_layer > 1000) {
    snprintf(err, errsz, "config.json: invalid or missing sizes (vocab_size, hidden_size, "
             "num_hidden_layers, num_attention_heads, intermediate_size)");
    rc = EP_EINVAL;
    goto out;
  }
  json_t *eps = json_object_get(c, "layer_norm_eps");
  e->eps = json_is_number(eps) ? (float)json_number_value(eps) : 1e-12f;
  const char *act = json_string_value(json_object_get(c, "hidden_act"));
  e->gelu_tanh = act && (!strcmp(act, "gelu_new") || !strcmp(act, "gelu_pytorch_tanh"));
  if (act && strcmp(act, "gelu") && !e->gelu_tanh) {
    snprintf(err, errsz, "config.json: hidden_act '%s' not supported (gelu, gelu_new)", act);
    rc = EP_EUNSUPPORTED;
    goto out;
  }
  e->pos_offset = roberta ? *pad + 1 : 0;
  in->max_tokens = max_pos - e->pos_offset;
  const char *pt = json_string_value(json_object_get(c, "problem_type"));
  in->multi_label = pt && !strcmp(pt, "multi_label_classification");
  json_t *labels = json_object_get(c, "id2label");
  int nl = jint(c, "num_labels", NULL, json_is_object(labels) ? (int)json_object_size(labels) : 0);
  if (json_is_object(labels) && (int)json_object_size(labels) > nl) nl = (int)json_object_size(labels);
  if (nl > 0 && nl <= 100000) {
    in->n_labels = nl;
    in->labels = ep__enc_own(e, (size_t)nl * sizeof(char *));
    if (!in->labels) {
      rc = EP_ENOMEM;
      goto out;
    }
    for (int i = 0; i < nl; i++) {
      char key[16], def[32];
      snprintf(key, sizeof key, "%d", i);
      snprintf(def, sizeof def, "LABEL_%d", i);
      const char *l = json_string_value(json_object_get(labels, key));
      if (!l) l = def;
      in->labels[i] = ep__enc_own(e, strlen(l) + 1);
      if (!in->labels[i]) {
        rc = EP_ENOMEM;
        goto out;
      }
      strcpy(in->labels[i], l);
    }
  }
out:
  json_decref(c);
  return rc;
}

/* ---- sentence-transformers modules -------------------------------------- */

static int load_st_modules(ep_encoder *e, const char *dir, char *err, size_t errsz) {
  char path[1024];
  e->info.pooling = EP_POOL_CLS;
  snprintf(path, sizeof path, "%s/modules.json", dir);
  json_t *mods = json_load_file(path, 0, NULL);
  if (!mods) return EP_OK; /* plain transformers repository */
  int rc = EP_OK;
  size_t i;
  json_t *m;
  json_array_foreach(mods, i, m) {
    const char *type = json_string_value(json_object_get(m, "type"));
    const char *sub = json_string_value(json_object_get(m, "path"));
    if (!type || !sub) continue;
    if (strstr(type, "Pooling")) {
      snprintf(path, sizeof path, "%s/%s/config.json", dir, sub);
      json_t *pc = json_load_file(path, 0, NULL);
      if (!pc) {
        snprintf(err, errsz, "%s: missing or invalid", path);
        rc = EP_EPARSE;
        goto out;
      }
      if (json_is_true(json_object_get(pc, "pooling_mode_mean_tokens"))) e->info.pooling = EP_POOL_MEAN;
      else if (json_is_true(json_object_get(pc, "pooling_mode_max_tokens"))) e->info.pooling = EP_POOL_MAX;
      else if (json_is_true(json_object_get(pc, "pooling_mode_lasttoken"))) e->info.pooling = EP_POOL_LAST;
      else if (json_is_true(json_object_get(pc, "pooling_mode_cls_token"))) e->info.pooling = EP_POOL_CLS;
      else {
        snprintf(err, errsz, "%s: no supported pooling_mode_* (cls, mean, max, lasttoken)", path);
        rc = EP_EUNSUPPORTED;
      }
      json_decref(pc);
      if (rc) goto out;
    } else if (strstr(type, "Dense")) {
      snprintf(path, sizeof path, "%s/%s/config.json", dir, sub);
      json_t *dc = json_load_file(path, 0, NULL);
      int nin = jint(dc, "in_features", NULL, 0), nout = jint(dc, "out_features", NULL, 0);
      const char *act = json_string_value(json_object_get(dc, "activation_function"));
      e->dense_act = act && strstr(act, "Tanh") ? 1 : 0;
      int bad_act = act && !e->dense_act && !strstr(act, "Identity");
      json_decref(dc);
      if (nin != e->info.d || nout <= 0 || bad_act) {
        snprintf(err, errsz, "%s: unsupported Dense (in_features must be %d; Tanh or Identity)",
                 path, e->info.d);
        rc = EP_EUNSUPPORTED;
        goto out;
      }
      snprintf(path, sizeof path, "%s/%s", dir, sub);
      if ((rc = ep_st_open_dir(path, &e->dense_st, err, errsz)) != EP_OK) goto out;
      if ((rc = ep__enc_mat(e, e->dense_st, "linear.weight", nout, nin, 0, &e->dense, err, errsz)) ||
          (rc = ep__enc_vec(e, e->dense_st, "linear.bias", nout, 1, &e->dense_b, err, errsz)))
        goto out;
      e->info.dense_out = nout;
    } else if (strstr(type, "Normalize")) {
      e->info.st_normalize = 1;
    }
  }
out:
  json_decref(mods);
  return rc;
}

static int load_head(ep_encoder *e, char *err, size_t errsz) {
  ep_encoder_info *in = &e->info;
  int rc, d = in->d;
  const ep_st_tensor *t = ep_st_find(e->st, "classifier.weight");
  if (!t) t = ep_st_find(e->st, "classifier.out_proj.weight");
  if (!t || t->ndim != 2) return EP_OK;
  int nl = (int)t->shape[0];
  if (in->n_labels != nl) { /* id2label missing or inconsistent: LABEL_i names */
    in->labels = ep__enc_own(e, (size_t)nl * sizeof(char *));
    if (!in->labels) return EP_ENOMEM;
    for (int i = 0; i < nl; i++) {
      in->labels[i] = ep__enc_own(e, 24);
      if (!in->labels[i]) return EP_ENOMEM;
      snprintf(in->labels[i], 24, "LABEL_%d", i);
    }
    in->n_labels = nl;
  }
  if (ep_st_find(e->st, "classifier.out_proj.weight")) { /* RoBERTa head: dense + tanh + out_proj */
    if ((rc = ep__enc_mat(e, e->st, "classifier.dense.weight", d, d, 0, &e->pooler, err, errsz)) ||
        (rc = ep__enc_vec(e, e->st, "classifier.dense.bias", d, 0, &e->pooler_b, err, errsz)) ||
        (rc = ep__enc_mat(e, e->st, "classifier.out_proj.weight", nl, d, 0, &e->cls, err, errsz)) ||
        (rc = ep__enc_vec(e, e->st, "classifier.out_proj.bias", nl, 0, &e->cls_b, err, errsz)))
      return rc;
  } else {
    if ((rc = ep__enc_mat(e, e->st, "pooler.dense.weight", d, d, 1, &e->pooler, err, errsz)) ||
        (rc = ep__enc_vec(e, e->st, "pooler.dense.bias", d, 1, &e->pooler_b, err, errsz)) ||
        (rc = ep__enc_mat(e, e->st, "classifier.weight", nl, d, 0, &e->cls, err, errsz)) ||
        (rc = ep__enc_vec(e, e->st, "classifier.bias", nl, 1, &e->cls_b, err, errsz)))
      return rc;
  }
  in->has_classifier = 1;
  return EP_OK;
}

void ep_encoder_free(ep_encoder *e) {
  if (!e) return;
  ep__bert_free(e);
  for (size_t i = 0; i < e->nowned; i++) free(e->owned[i]);
  free(e->owned);
  ep_st_free(e->st);
  ep_st_free(e->dense_st);
  ep_kern_free(e->kern);
  free(e);
}

int ep_encoder_load(const ep_encoder_params *p, ep_encoder **out, char *err, size_t errsz) {
  *out = NULL;
  if (!p || !p->dir) return EP_EINVAL;
  ep_encoder *e = calloc(1, sizeof *e);
  if (!e) return EP_ENOMEM;
  int pad = 0, rc = parse_config(e, p->dir, &pad, err, errsz);
  if (rc == EP_OK) rc = ep_st_open_dir(p->dir, &e->st, err, errsz);
  if (rc == EP_OK) rc = ep__bert_load(e, err, errsz);
  if (rc == EP_OK && e->info.max_tokens > e->max_pos - e->pos_offset)
    e->info.max_tokens = e->max_pos - e->pos_offset;
  if (rc == EP_OK && e->info.max_tokens <= 0) {
    snprintf(err, errsz, "position table too small for pad_token_id %d", pad);
    rc = EP_EINVAL;
  }
  if (rc == EP_OK) rc = load_head(e, err, errsz);
  if (rc == EP_OK) rc = load_st_modules(e, p->dir, err, errsz);
  if (rc == EP_OK) {
    e->info.dim = e->info.dense_out ? e->info.dense_out : e->info.d;
    e->kern = ep_kern_new(p->threads, EP_KERN_AUTO);
    if (!e->kern) {
      snprintf(err, errsz, "out of memory");
      rc = EP_ENOMEM;
    }
  }
  if (rc == EP_OK && (rc = ep__bert_pack(e)) != EP_OK) snprintf(err, errsz, "out of memory");
  if (rc != EP_OK) {
    ep_encoder_free(e);
    return rc;
  }
  *out = e;
  return EP_OK;
}

const ep_encoder_info *ep_encoder_get_info(const ep_encoder *e) { return &e->info; }

/* ---- forward and heads -------------------------------------------------- */

int ep_encoder_forward(ep_encoder *e, const ep_enc_seq *seqs, size_t nseq, float *hidden) {
  if (!nseq) return EP_EINVAL;
  for (size_t s = 0; s < nseq; s++) {
    if (!seqs[s].n || !seqs[s].ids) return EP_EINVAL;
    if (seqs[s].n > (size_t)e->info.max_tokens) return EP_ERANGE;
    for (size_t i = 0; i < seqs[s].n; i++) {
      if (seqs[s].ids[i] < 0 || seqs[s].ids[i] >= e->info.vocab_size) return EP_EINVAL;
      int ty = seqs[s].type_ids ? seqs[s].type_ids[i] : 0;
      if (ty < 0 || (ty > 0 && ty >= e->info.type_vocab_size)) return EP_EINVAL;
    }
  }
  return ep__bert_forward(e, seqs, nseq, hidden);
}

static size_t total_tokens(const ep_enc_seq *seqs, size_t nseq) {
  size_t n = 0;
  for (size_t s = 0; s < nseq; s++) n += seqs[s].n;
  return n;
}

int ep_encoder_embed(ep_encoder *e, const ep_enc_seq *seqs, size_t nseq, int pool, int normalize,
                     float *out) {
  int d = e->info.d, dim = e->info.dim;
  if (pool < 0) pool = (int)e->info.pooling;
  float *h = malloc((total_tokens(seqs, nseq) + 1) * d * sizeof(float));
  float *pooled = malloc(nseq * d * sizeof(float) + 1);
  int rc = h && pooled ? ep_encoder_forward(e, seqs, nseq, h) : EP_ENOMEM;
  for (size_t s = 0, start = 0; rc == EP_OK && s < nseq; start += seqs[s].n, s++) {
    const float *hs = h + start * d;
    float *p = pooled + s * d;
    size_t n = seqs[s].n;
    for (int j = 0; j < d; j++) {
      float acc = pool == EP_POOL_MAX ? -INFINITY : 0;
      if (pool == EP_POOL_CLS) acc = hs[j];
      else if (pool == EP_POOL_LAST) acc = hs[(n - 1) * d + j];
      else {
        for (size_t i = 0; i < n; i++) {
          float x = hs[i * d + j];
          if (pool == EP_POOL_MAX) acc = x > acc ? x : acc;
          else acc += x;
        }
        if (pool == EP_POOL_MEAN) acc /= (float)n;
      }
      p[j] = acc;
    }
  }
  if (rc == EP_OK) {
    if (e->info.dense_out) {
      ep_kern_matmul(e->kern, out, pooled, e->dense.data, e->dense.wt, e->dense_b, (int)nseq, d, dim);
      if (e->dense_act)
        for (size_t i = 0; i < nseq * dim; i++) out[i] = tanhf(out[i]);
    } else {
      memcpy(out, pooled, nseq * d * sizeof(float));
    }
    for (size_t s = 0; normalize && s < nseq; s++) {
      double ss = 0;
      for (int j = 0; j < dim; j++) ss += (double)out[s * dim + j] * out[s * dim + j];
      float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
      for (int j = 0; j < dim; j++) out[s * dim + j] *= inv;
    }
  }
  free(h);
  free(pooled);
  return rc;
}

int ep_encoder_classify(ep_encoder *e, const ep_enc_seq *seqs, size_t nseq, float *logits) {
  if (!e->info.has_classifier) return EP_EUNSUPPORTED;
  int d = e->info.d;
  float *h = malloc((total_tokens(seqs, nseq) + 1) * d * sizeof(float));
  float *cls = malloc(nseq * d * sizeof(float) + 1), *pooled = malloc(nseq * d * sizeof(float) + 1);
  int rc = h && cls && pooled ? ep_encoder_forward(e, seqs, nseq, h) : EP_ENOMEM;
  if (rc == EP_OK) {
    for (size_t s = 0, start = 0; s < nseq; start += seqs[s].n, s++)
      memcpy(cls + s * d, h + start * d, d * sizeof(float));
    const float *x = cls;
    if (e->pooler.data) { /* BERT pooler / RoBERTa classifier.dense, both tanh */
      ep_kern_matmul(e->kern, pooled, cls, e->pooler.data, e->pooler.wt, e->pooler_b, (int)nseq, d, d);
      for (size_t i = 0; i < nseq * d; i++) pooled[i] = tanhf(pooled[i]);
      x = pooled;
    }
    ep_kern_matmul(e->kern, logits, x, e->cls.data, e->cls.wt, e->cls_b, (int)nseq, d,
                   e->info.n_labels);
  }
  free(h);
  free(cls);
  free(pooled);
  return rc;
}
