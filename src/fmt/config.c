/* config.json / generation_config.json parsing (jansson). Field aliases of
 * GPT-2 and Llama-family configs are resolved here so the rest of the engine
 * sees one set of names. */
#include "fmt/config.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

/* First present key among names (NULL-terminated list). */
static json_t *get_any(json_t *o, const char *const *names) {
  for (; *names; names++) {
    json_t *v = json_object_get(o, *names);
    if (v && !json_is_null(v)) return v;
  }
  return NULL;
}

/* Integer field; returns 1 if set, 0 if absent, -1 if present but not a valid int. */
static int get_int(json_t *o, const char *const *names, int *out) {
  json_t *v = get_any(o, names);
  if (!v) return 0;
  if (!json_is_integer(v) || json_integer_value(v) < -1 || json_integer_value(v) > 0x7fffffff)
    return -1;
  *out = (int)json_integer_value(v);
  return 1;
}

static int get_num(json_t *o, const char *key, double *out) {
  json_t *v = json_object_get(o, key);
  if (!v || json_is_null(v)) return 0;
  if (!json_is_number(v)) return -1;
  *out = json_number_value(v);
  return 1;
}

static void copy_str(char *dst, size_t n, json_t *v) {
  const char *s = json_string_value(v);
  snprintf(dst, n, "%s", s ? s : "");
}

/* eos_token_id: int or list of ints. */
static int get_eos(json_t *o, int *ids, int *n) {
  json_t *v = json_object_get(o, "eos_token_id");
  *n = 0;
  if (!v || json_is_null(v)) return 0;
  if (json_is_integer(v)) {
    ids[(*n)++] = (int)json_integer_value(v);
    return 1;
  }
  if (!json_is_array(v)) return -1;
  size_t i;
  json_t *e;
  json_array_foreach(v, i, e) {
    if (!json_is_integer(e)) return -1;
    if (*n < EP_CONFIG_MAX_EOS) ids[(*n)++] = (int)json_integer_value(e);
  }
  return 1;
}

#define NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})

static int cfg_required(json_t *root, const char *const *names, int *out, char *err, size_t errsz) {
  int r = get_int(root, names, out);
  if (r == 0) return ep_errf(err, errsz, EP_EINVAL, "config.json: missing required field %s", names[0]);
  if (r < 0 || *out <= 0)
    return ep_errf(err, errsz, EP_EINVAL, "config.json: field %s must be a positive integer", names[0]);
  return EP_OK;
}

static int cfg_rope_scaling(json_t *root, ep_config *c, char *err, size_t errsz) {
  json_t *rs = json_object_get(root, "rope_scaling");
  if (!rs || json_is_null(rs)) return EP_OK;
  if (!json_is_object(rs)) return ep_errf(err, errsz, EP_EINVAL, "config.json: rope_scaling is not an object");
  json_t *t = json_object_get(rs, "rope_type");
  if (!json_is_string(t)) t = json_object_get(rs, "type");
  const char *ts = json_string_value(t);
  if (!ts) return ep_errf(err, errsz, EP_EINVAL, "config.json: rope_scaling has no type");
  if (strcmp(ts, "default") == 0) return EP_OK;
  if (strcmp(ts, "linear") == 0) c->rope_scaling.type = EP_ROPE_SCALING_LINEAR;
  else if (strcmp(ts, "llama3") == 0) c->rope_scaling.type = EP_ROPE_SCALING_LLAMA3;
  else return ep_errf(err, errsz, EP_EUNSUPPORTED, "config.json: rope_scaling type '%s' not supported", ts);
  c->rope_scaling.factor = 1.0;
  c->rope_scaling.low_freq_factor = 1.0;
  c->rope_scaling.high_freq_factor = 4.0;
  c->rope_scaling.original_max_pos = 8192;
  if (get_num(rs, "factor", &c->rope_scaling.factor) < 0 ||
      get_num(rs, "low_freq_factor", &c->rope_scaling.low_freq_factor) < 0 ||
      get_num(rs, "high_freq_factor", &c->rope_scaling.high_freq_factor) < 0 ||
      get_int(rs, NAMES("original_max_position_embeddings"), &c->rope_scaling.original_max_pos) < 0)
    return ep_errf(err, errsz, EP_EINVAL, "config.json: rope_scaling has a non-numeric field");
  if (c->rope_scaling.factor <= 0)
    return ep_errf(err, errsz, EP_EINVAL, "config.json: rope_scaling.factor must be > 0");
  return EP_OK;
}

static int cfg_labels(json_t *root, ep_config *c, char *err, size_t errsz) {
  json_t *m = json_object_get(root, "id2label");
  if (!json_is_object(m)) return EP_OK;
  size_t n = json_object_size(m);
  if (n == 0 || n > 100000) return EP_OK;
  c->id2label = calloc(n, sizeof *c->id2label);
  if (!c->id2label) return EP_ENOMEM;
  c->n_labels = (int)n;
  const char *k;
  json_t *v;
  json_object_foreach(m, k, v) {
    char *end;
    long id = strtol(k, &end, 10);
    if (*end || end == k || id < 0 || id >= (long)n || !json_is_string(v) || c->id2label[id])
      return ep_errf(err, errsz, EP_EINVAL, "config.json: id2label key '%s' is not a class id 0..%zu",
                      k, n - 1);
    if (!(c->id2label[id] = strdup(json_string_value(v)))) return EP_ENOMEM;
  }
  return EP_OK;
}

static int cfg_fill(json_t *root, ep_config *c, char *err, size_t errsz) {
  if (!json_is_object(root)) return ep_errf(err, errsz, EP_EPARSE, "config.json: not a JSON object");
  copy_str(c->model_type, sizeof c->model_type, json_object_get(root, "model_type"));
  json_t *ar = json_object_get(root, "architectures");
  if (json_is_array(ar) && json_array_size(ar) > 0)
    copy_str(c->architecture, sizeof c->architecture, json_array_get(ar, 0));
  if (!c->model_type[0] && !c->architecture[0])
    return ep_errf(err, errsz, EP_EINVAL, "config.json: missing model_type and architectures");
  copy_str(c->hidden_act, sizeof c->hidden_act, get_any(root, NAMES("hidden_act", "activation_function")));
  int rc;
  if ((rc = cfg_required(root, NAMES("vocab_size"), &c->vocab_size, err, errsz)) ||
      (rc = cfg_required(root, NAMES("hidden_size", "n_embd", "d_model"), &c->hidden_size, err, errsz)) ||
      (rc = cfg_required(root, NAMES("num_hidden_layers", "n_layer"), &c->n_layer, err, errsz)) ||
      (rc = cfg_required(root, NAMES("num_attention_heads", "n_head"), &c->n_head, err, errsz)))
    return rc;
  c->n_kv_head = c->n_head;
  c->head_dim = c->hidden_size / c->n_head;
  if (get_int(root, NAMES("num_key_value_heads"), &c->n_kv_head) < 0 ||
      get_int(root, NAMES("head_dim"), &c->head_dim) < 0 ||
      get_int(root, NAMES("intermediate_size", "n_inner"), &c->intermediate_size) < 0 ||
      get_int(root, NAMES("max_position_embeddings", "n_positions", "n_ctx"), &c->max_pos) < 0 ||
      get_int(root, NAMES("type_vocab_size"), &c->type_vocab_size) < 0 ||
      get_int(root, NAMES("bos_token_id"), &c->bos_id) < 0 ||
      get_int(root, NAMES("pad_token_id"), &c->pad_id) < 0 ||
      get_eos(root, c->eos_ids, &c->n_eos) < 0)
    return ep_errf(err, errsz, EP_EINVAL, "config.json: a size or token id field is not an integer");
  if (c->n_kv_head <= 0 || c->n_head % c->n_kv_head != 0)
    return ep_errf(err, errsz, EP_EINVAL, "config.json: num_key_value_heads %d does not divide %d heads",
                    c->n_kv_head, c->n_head);
  if (c->head_dim <= 0) return ep_errf(err, errsz, EP_EINVAL, "config.json: head_dim must be > 0");
  if (get_num(root, "rms_norm_eps", &c->rms_norm_eps) < 0 ||
      get_num(root, "rope_theta", &c->rope_theta) < 0 ||
      (get_num(root, "layer_norm_epsilon", &c->layer_norm_eps) < 0) ||
      (c->layer_norm_eps == 0 && get_num(root, "layer_norm_eps", &c->layer_norm_eps) < 0))
    return ep_errf(err, errsz, EP_EINVAL, "config.json: eps or rope_theta is not a number");
  json_t *tie = json_object_get(root, "tie_word_embeddings");
  if (tie && json_is_boolean(tie)) c->tie_word_embeddings = json_is_true(tie);
  c->attention_bias = json_is_true(json_object_get(root, "attention_bias"));
  c->mlp_bias = json_is_true(json_object_get(root, "mlp_bias"));
  if ((rc = cfg_rope_scaling(root, c, err, errsz))) return rc;
  return cfg_labels(root, c, err, errsz);
}

static void cfg_defaults(ep_config *c) {
  memset(c, 0, sizeof *c);
  c->rope_theta = 10000.0;
  c->tie_word_embeddings = 1;
  c->bos_id = c->pad_id = -1;
}

int ep_config_parse(const char *json, size_t len, ep_config *out, char *err, size_t errsz) {
  cfg_defaults(out);
  json_error_t je;
  json_t *root = json_loadb(json, len, 0, &je);
  if (!root) return ep_errf(err, errsz, EP_EPARSE, "config.json: %s (line %d)", je.text, je.line);
  int rc = cfg_fill(root, out, err, errsz);
  json_decref(root);
  if (rc != EP_OK) ep_config_free(out);
  return rc;
}

static int read_file(const char *path, char **data, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return EP_ENOTFOUND;
  char *buf = NULL;
  size_t cap = 0, n = 0;
  for (;;) {
    if (n == cap) {
      if (cap > (64u << 20)) { free(buf); fclose(f); return EP_ETOOBIG; }
      cap = cap ? cap * 2 : 4096;
      char *nb = realloc(buf, cap);
      if (!nb) { free(buf); fclose(f); return EP_ENOMEM; }
      buf = nb;
    }
    size_t r = fread(buf + n, 1, cap - n, f);
    if (r == 0) break;
    n += r;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) { free(buf); return EP_EIO; }
  *data = buf;
  *len = n;
  return EP_OK;
}

int ep_config_load(const char *dir, ep_config *out, char *err, size_t errsz) {
  char path[4096];
  snprintf(path, sizeof path, "%s/config.json", dir);
  char *data;
  size_t len;
  int rc = read_file(path, &data, &len);
  if (rc != EP_OK) {
    cfg_defaults(out);
    return ep_errf(err, errsz, rc, "%s: %s", path, ep_strerror(rc));
  }
  rc = ep_config_parse(data, len, out, err, errsz);
  free(data);
  return rc;
}

void ep_config_free(ep_config *c) {
  if (!c) return;
  for (int i = 0; i < c->n_labels; i++) free(c->id2label[i]);
  free(c->id2label);
  c->id2label = NULL;
  c->n_labels = 0;
}

static void gen_defaults(ep_gen_config *g) {
  memset(g, 0, sizeof *g);
  g->bos_id = g->pad_id = -1;
  g->do_sample = -1;
  g->temperature = g->top_p = g->repetition_penalty = -1;
  g->top_k = -1;
}

int ep_gen_config_parse(const char *json, size_t len, ep_gen_config *g, char *err, size_t errsz) {
  gen_defaults(g);
  json_error_t je;
  json_t *root = json_loadb(json, len, 0, &je);
  if (!root)
    return ep_errf(err, errsz, EP_EPARSE, "generation_config.json: %s (line %d)", je.text, je.line);
  int rc = EP_OK;
  if (!json_is_object(root)) {
    rc = ep_errf(err, errsz, EP_EPARSE, "generation_config.json: not a JSON object");
  } else if (get_int(root, NAMES("bos_token_id"), &g->bos_id) < 0 ||
             get_int(root, NAMES("pad_token_id"), &g->pad_id) < 0 ||
             get_int(root, NAMES("max_length"), &g->max_length) < 0 ||
             get_int(root, NAMES("max_new_tokens"), &g->max_new_tokens) < 0 ||
             get_int(root, NAMES("top_k"), &g->top_k) < 0 || get_eos(root, g->eos_ids, &g->n_eos) < 0 ||
             get_num(root, "temperature", &g->temperature) < 0 || get_num(root, "top_p", &g->top_p) < 0 ||
             get_num(root, "repetition_penalty", &g->repetition_penalty) < 0) {
    rc = ep_errf(err, errsz, EP_EINVAL, "generation_config.json: a field has the wrong type");
  } else {
    json_t *ds = json_object_get(root, "do_sample");
    if (json_is_boolean(ds)) g->do_sample = json_is_true(ds);
  }
  json_decref(root);
  return rc;
}

int ep_gen_config_load(const char *dir, ep_gen_config *out, char *err, size_t errsz) {
  char path[4096];
  snprintf(path, sizeof path, "%s/generation_config.json", dir);
  char *data;
  size_t len;
  int rc = read_file(path, &data, &len);
  if (rc != EP_OK) {
    gen_defaults(out);
    return ep_errf(err, errsz, rc, "%s: %s", path, ep_strerror(rc));
  }
  rc = ep_gen_config_parse(data, len, out, err, errsz);
  free(data);
  return rc;
}
