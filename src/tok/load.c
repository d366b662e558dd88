/* Loading a tokenizer: tokenizer.json (model, added tokens, pipeline
 * components), tokenizer_config.json (special tokens, chat template,
 * add_bos/eos), or a vocab.txt-only BERT folder; plus ep_tok_free and the
 * shared load helpers (regex compilation, id table). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/err.h"
#include "tok/tok-impl.h"

int ep_tok_regex(ep_tok *t, const char *pat, size_t len, pcre2_code **out, char *err,
                 size_t errsz) {
  if (t->n_regexes == t->cap_regexes) {
    size_t cap = t->cap_regexes ? t->cap_regexes * 2 : 8;
    pcre2_code **v = realloc(t->regexes, cap * sizeof *v);
    if (!v) return EP_ENOMEM;
    t->regexes = v;
    t->cap_regexes = cap;
  }
  int ec;
  PCRE2_SIZE eo;
  pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, len, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
  if (!re) {
    PCRE2_UCHAR msg[160];
    pcre2_get_error_message(ec, msg, sizeof msg);
    return ep_tok_fail(err, errsz, EP_EUNSUPPORTED,
                       "tokenizer.json: regex '%.*s' does not compile: %s",
                       (int)(len > 80 ? 80 : len), pat, (const char *)msg);
  }
  pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* optional speed-up; falls back silently */
  t->regexes[t->n_regexes++] = re;
  *out = re;
  return EP_OK;
}

int ep_tok_parse_pattern(ep_tok *t, json_t *j, ep_tok_pattern *p, char *err, size_t errsz) {
  json_t *s = json_object_get(j, "String"), *r = json_object_get(j, "Regex");
  memset(p, 0, sizeof *p);
  if (json_is_string(s)) {
    p->litlen = json_string_length(s);
    p->lit = ep_arena_strndup(&t->mem, json_string_value(s), p->litlen);
    return p->lit ? EP_OK : EP_ENOMEM;
  }
  if (json_is_string(r))
    return ep_tok_regex(t, json_string_value(r), json_string_length(r), &p->re, err, errsz);
  return ep_tok_fail(err, errsz, EP_EPARSE,
                     "tokenizer.json: pattern must be {\"String\"} or {\"Regex\"}");
}

int ep_tok_json_id(const ep_tok *t, json_t *v, int32_t *id) {
  if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > t->max_id)
    return 0;
  *id = (int32_t)json_integer_value(v);
  return 1;
}

int ep_tok_set_piece(ep_tok *t, int32_t id, const char *s, size_t len) {
  if (id < 0) return EP_EINVAL;
  if ((size_t)id >= t->cap_ids) {
    size_t cap = t->cap_ids ? t->cap_ids : 256;
    while (cap <= (size_t)id) cap *= 2;
    char **p = realloc(t->pieces, cap * sizeof *p);
    if (!p) return EP_ENOMEM;
    t->pieces = p;
    uint32_t *l = realloc(t->plen, cap * sizeof *l);
    if (!l) return EP_ENOMEM;
    t->plen = l;
    uint8_t *sp = realloc(t->special, cap);
    if (!sp) return EP_ENOMEM;
    t->special = sp;
    for (size_t i = t->cap_ids; i < cap; i++)
      t->pieces[i] = NULL, t->plen[i] = 0, t->special[i] = 0;
    t->cap_ids = cap;
  }
  if ((size_t)id >= t->n_ids) t->n_ids = (size_t)id + 1;
  char *c = ep_arena_strndup(&t->mem, s, len);
  if (!c) return EP_ENOMEM;
  t->pieces[id] = c;
  t->plen[id] = (uint32_t)len;
  return EP_OK;
}

static ep_tok *tok_new(void) {
  ep_tok *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  ep_arena_init(&t->mem, 1 << 16);
  t->bos = t->eos = t->pad = -1;
  t->max_id = 0x7FFFFFF;
  return t;
}

void ep_tok_free(ep_tok *t) {
  if (!t) return;
  if (t->model && t->model->free) t->model->free(t->model);
  for (size_t i = 0; i < t->n_regexes; i++) pcre2_code_free(t->regexes[i]);
  free(t->regexes);
  free(t->pieces);
  free(t->plen);
  free(t->special);
  free(t->added);
  ep_strmap_free(&t->vocab);
  ep_arena_free(&t->mem);
  free(t);
}

static int add_token(ep_tok *t, const char *content, size_t len, int32_t id, int special,
                     int lstrip, int rstrip, int single_word, int normalized) {
  if (!len) return EP_OK;
  ep_tok_added *v = realloc(t->added, (t->n_added + 1) * sizeof *v);
  if (!v) return EP_ENOMEM;
  t->added = v;
  int rc = ep_tok_set_piece(t, id, content, len);
  if (rc) return rc;
  t->special[id] = (uint8_t)(special != 0);
  v[t->n_added++] =
      (ep_tok_added){t->pieces[id], len, id, single_word, lstrip, rstrip, normalized, special};
  return EP_OK;
}

static int load_json(ep_tok *t, json_t *root, char *err, size_t errsz) {
  json_t *model = json_object_get(root, "model");
  if (!json_is_object(model))
    return ep_tok_fail(err, errsz, EP_EPARSE, "tokenizer.json: missing \"model\" object");
  /* Ids are dense in real vocabularies (added tokens follow the model's); a loose bound keeps a
     hostile file from sizing the id table (13 bytes per id) far beyond its own entries. */
  json_t *added = json_object_get(root, "added_tokens");
  t->max_id = (int64_t)json_object_size(json_object_get(model, "vocab")) +
              (int64_t)json_array_size(added) + 65535;
  const char *mt = json_string_value(json_object_get(model, "type"));
  if (!mt) mt = json_object_get(model, "merges") ? "BPE" : "(none)";
  int rc;
  if (!strcmp(mt, "BPE"))
    rc = ep_tok_bpe_load(t, model, err, errsz);
  else if (!strcmp(mt, "WordPiece"))
    rc = ep_tok_wordpiece_load(t, model, err, errsz);
  else
    return ep_tok_fail(err, errsz, EP_EUNSUPPORTED, "tokenizer.json: unsupported model type '%s'",
                       mt);
  if (rc) return rc;
  for (size_t i = 0; json_is_array(added) && i < json_array_size(added); i++) {
    json_t *a = json_array_get(added, i), *c = json_object_get(a, "content");
    int32_t id;
    if (!json_is_string(c) || !ep_tok_json_id(t, json_object_get(a, "id"), &id))
      return ep_tok_fail(err, errsz, EP_EPARSE, "tokenizer.json: added_tokens[%zu] malformed", i);
    rc = add_token(
        t, json_string_value(c), json_string_length(c), id,
        json_is_true(json_object_get(a, "special")), json_is_true(json_object_get(a, "lstrip")),
        json_is_true(json_object_get(a, "rstrip")), json_is_true(json_object_get(a, "single_word")),
        !json_is_false(json_object_get(a, "normalized")));
    if (rc) return rc;
  }
  if (!rc)
    rc = ep_tok_parse_normalizer(t, json_object_get(root, "normalizer"), &t->norm, err, errsz);
  if (!rc) rc = ep_tok_parse_pretok(t, json_object_get(root, "pre_tokenizer"), &t->pre, err, errsz);
  if (!rc) rc = ep_tok_parse_post(t, json_object_get(root, "post_processor"), &t->post, err, errsz);
  if (!rc) rc = ep_tok_parse_decoder(t, json_object_get(root, "decoder"), &t->dec, err, errsz);
  return rc;
}

static int load_json_file(ep_tok *t, const char *path, char *err, size_t errsz) {
  json_error_t je;
  json_t *root = json_load_file(path, 0, &je);
  if (!root) {
    struct stat st;
    if (stat(path, &st) != 0) return ep_tok_fail(err, errsz, EP_ENOTFOUND, "%s: not found", path);
    return ep_tok_fail(err, errsz, EP_EPARSE, "%s: line %d: %s", path, je.line, je.text);
  }
  int rc = json_is_object(root) ? load_json(t, root, err, errsz)
                                : ep_tok_fail(err, errsz, EP_EPARSE, "%s: not a JSON object", path);
  json_decref(root);
  return rc;
}

int ep_tok_load_file(const char *path, ep_tok **out, char *err, size_t errsz) {
  *out = NULL;
  if (err && errsz) err[0] = 0;
  ep_tok *t = tok_new();
  if (!t) return EP_ENOMEM;
  int rc = load_json_file(t, path, err, errsz);
  if (rc) {
    if (rc == EP_ENOMEM && err && errsz && !err[0]) snprintf(err, errsz, "out of memory");
    ep_tok_free(t);
    return rc;
  }
  *out = t;
  return EP_OK;
}

/* ---- tokenizer_config.json ------------------------------------------------------------ */
static const char *tok_str(json_t *v) {
  if (json_is_object(v)) v = json_object_get(v, "content");
  return json_string_value(v);
}

static int load_config(ep_tok *t, json_t *c, char *err, size_t errsz) {
  const char *names[3] = {"bos_token", "eos_token", "pad_token"};
  int32_t *ids[3] = {&t->bos, &t->eos, &t->pad};
  for (int i = 0; i < 3; i++) {
    const char *s = tok_str(json_object_get(c, names[i]));
    if (!s) continue;
    *ids[i] = ep_tok_piece_id(t, s);
    if (i < 2) {
      char *d = ep_arena_strdup(&t->mem, s);
      if (!d) return EP_ENOMEM;
      if (i == 0)
        t->bos_str = d;
      else
        t->eos_str = d;
    }
  }
  json_t *ct = json_object_get(c, "chat_template");
  const char *tmpl = json_string_value(ct);
  for (size_t i = 0; json_is_array(ct) && i < json_array_size(ct); i++) {
    json_t *e = json_array_get(ct, i);
    const char *nm = json_string_value(json_object_get(e, "name"));
    if (nm && !strcmp(nm, "default")) tmpl = json_string_value(json_object_get(e, "template"));
  }
  if (ct && !json_is_null(ct) && !tmpl)
    return ep_tok_fail(err, errsz, EP_EPARSE,
                       "tokenizer_config.json: chat_template has no default");
  if (tmpl && !(t->chat_template = ep_arena_strdup(&t->mem, tmpl))) return EP_ENOMEM;
  t->add_bos = json_is_true(json_object_get(c, "add_bos_token"));
  t->add_eos = json_is_true(json_object_get(c, "add_eos_token"));
  return EP_OK;
}

/* ---- vocab.txt BERT folder -------------------------------------------------------------- */
static int load_vocab_txt(ep_tok *t, const char *path, json_t *cfg, char *err, size_t errsz) {
  FILE *f = fopen(path, "rb");
  if (!f) return ep_tok_fail(err, errsz, EP_ENOTFOUND, "%s: cannot open", path);
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int32_t id = 0;
  int rc = EP_OK;
  while (!rc && (n = getline(&line, &cap, f)) >= 0) {
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
    if (!ep_utf8_valid(line, (size_t)n))
      rc = ep_tok_fail(err, errsz, EP_ECORRUPT, "%s: line %d is not UTF-8", path, id + 1);
    if (!rc) rc = ep_tok_set_piece(t, id, line, (size_t)n);
    if (!rc && ep_strmap_put(&t->vocab, t->pieces[id], t->plen[id], id)) rc = EP_ENOMEM;
    id++;
  }
  free(line);
  fclose(f);
  if (rc) return rc;
  if (id == 0) return ep_tok_fail(err, errsz, EP_ECORRUPT, "%s: empty vocabulary", path);
  int lower = !json_is_false(json_object_get(cfg, "do_lower_case"));
  json_t *sa = json_object_get(cfg, "strip_accents");
  static const char *sp[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (int i = 0; i < 5 && !rc; i++) {
    int32_t sid = ep_strmap_get(&t->vocab, sp[i], strlen(sp[i]));
    if (sid >= 0) rc = add_token(t, sp[i], strlen(sp[i]), sid, 1, 0, 0, 0, 0);
  }
  int32_t unk = ep_strmap_get(&t->vocab, "[UNK]", 5);
  int32_t cls = ep_strmap_get(&t->vocab, "[CLS]", 5), sep = ep_strmap_get(&t->vocab, "[SEP]", 5);
  if (cls < 0 || sep < 0)
    return ep_tok_fail(err, errsz, EP_ECORRUPT, "%s: no [CLS]/[SEP] tokens", path);
  if (!rc) rc = ep_tok_wordpiece_new(t, unk, "##", 100);
  /* Same pipeline as a BERT tokenizer.json, built through the JSON parsers. */
  json_t *pipe =
      json_pack("{s:{s:s,s:b,s:b,s:o,s:b}, s:{s:s}, s:{s:s,s:[s,i],s:[s,i]}, s:{s:s,s:s,s:b}}",
                "normalizer", "type", "BertNormalizer", "clean_text", 1, "handle_chinese_chars",
                !json_is_false(json_object_get(cfg, "tokenize_chinese_chars")), "strip_accents",
                json_is_boolean(sa) ? json_incref(sa) : json_null(), "lowercase", lower,
                "pre_tokenizer", "type", "BertPreTokenizer", "post_processor", "type",
                "BertProcessing", "sep", "[SEP]", (int)sep, "cls", "[CLS]", (int)cls, "decoder",
                "type", "WordPiece", "prefix", "##", "cleanup", 1);
  if (!pipe) return EP_ENOMEM;
  if (!rc)
    rc = ep_tok_parse_normalizer(t, json_object_get(pipe, "normalizer"), &t->norm, err, errsz);
  if (!rc) rc = ep_tok_parse_pretok(t, json_object_get(pipe, "pre_tokenizer"), &t->pre, err, errsz);
  if (!rc) rc = ep_tok_parse_post(t, json_object_get(pipe, "post_processor"), &t->post, err, errsz);
  if (!rc) rc = ep_tok_parse_decoder(t, json_object_get(pipe, "decoder"), &t->dec, err, errsz);
  json_decref(pipe);
  return rc;
}

int ep_tok_load_dir(const char *dir, ep_tok **out, char *err, size_t errsz) {
  *out = NULL;
  if (err && errsz) err[0] = 0;
  char path[4096];
  struct stat st;
  ep_tok *t = tok_new();
  if (!t) return EP_ENOMEM;
  json_t *cfg = NULL;
  int rc = EP_OK;
  snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
  if (stat(path, &st) == 0) {
    json_error_t je;
    cfg = json_load_file(path, 0, &je);
    if (!json_is_object(cfg))
      rc = ep_tok_fail(err, errsz, EP_EPARSE, "%s: line %d: %s", path, je.line,
                       cfg ? "not a JSON object" : je.text);
  }
  if (!rc) {
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (stat(path, &st) == 0) {
      rc = load_json_file(t, path, err, errsz);
    } else {
      snprintf(path, sizeof path, "%s/vocab.txt", dir);
      if (stat(path, &st) == 0)
        rc = load_vocab_txt(t, path, cfg, err, errsz);
      else
        rc = ep_tok_fail(err, errsz, EP_ENOTFOUND, "%s: no tokenizer.json or vocab.txt", dir);
    }
  }
  if (!rc && cfg) rc = load_config(t, cfg, err, errsz);
  json_decref(cfg);
  if (rc) {
    if (rc == EP_ENOMEM && err && errsz && !err[0]) snprintf(err, errsz, "out of memory");
    ep_tok_free(t);
    return rc;
  }
  *out = t;
  return EP_OK;
}
