/* Post-processors of tokenizer.json (TemplateProcessing, BertProcessing,
 * RobertaProcessing, ByteLevel, Sequence): parsing, and turning the model
 * tokens of sequence A (and B) into the final ids with type ids. Without a
 * post-processor, add_bos_token/add_eos_token from tokenizer_config.json
 * apply. Special tokens get span start = stop = 0. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "tok/tok-impl.h"

static int parse_tmpl(ep_tok *t, json_t *arr, json_t *specials, ep_tok_tmpl **out, size_t *n,
                      char *err, size_t errsz) {
  if (!json_is_array(arr))
    return ep_tok_fail(err, errsz, EP_EPARSE,
                       "tokenizer.json: TemplateProcessing template is not a list");
  *n = json_array_size(arr);
  *out = ep_arena_calloc(&t->mem, (*n + 1) * sizeof **out);
  if (!*out) return EP_ENOMEM;
  for (size_t i = 0; i < *n; i++) {
    json_t *e = json_array_get(arr, i);
    ep_tok_tmpl *p = &(*out)[i];
    json_t *sp = json_object_get(e, "SpecialToken"), *sq = json_object_get(e, "Sequence");
    json_t *body = sp ? sp : sq;
    const char *id = json_string_value(json_object_get(body, "id"));
    if (!body || !id)
      return ep_tok_fail(err, errsz, EP_EPARSE, "tokenizer.json: bad TemplateProcessing item %zu",
                         i);
    p->type_id = (uint32_t)json_integer_value(json_object_get(body, "type_id"));
    if (sq) {
      if (strcmp(id, "A") && strcmp(id, "B"))
        return ep_tok_fail(err, errsz, EP_EPARSE, "tokenizer.json: template sequence '%s'", id);
      p->seq = id[0] == 'B';
      continue;
    }
    p->is_special = 1;
    json_t *ids = json_object_get(json_object_get(specials, id), "ids");
    if (!json_is_array(ids))
      return ep_tok_fail(err, errsz, EP_ECORRUPT,
                         "tokenizer.json: template special token '%s' undefined", id);
    p->nids = json_array_size(ids);
    p->ids = ep_arena_calloc(&t->mem, (p->nids + 1) * sizeof *p->ids);
    if (!p->ids) return EP_ENOMEM;
    for (size_t k = 0; k < p->nids; k++) {
      json_int_t v = json_integer_value(json_array_get(ids, k));
      if (v < 0 || (size_t)v >= t->n_ids) /* would reach the model as an id past its table */
        return ep_tok_fail(err, errsz, EP_ECORRUPT,
                           "tokenizer.json: template special token '%s' id %lld not in the vocabulary",
                           id, (long long)v);
      p->ids[k] = (int32_t)v;
    }
  }
  return EP_OK;
}

/* [token, id] pair of Bert/Roberta processing -> template item */
static int pair_item(ep_tok *t, json_t *p, ep_tok_tmpl *out, uint32_t type_id) {
  json_t *id = json_array_get(p, 1);
  if (!json_is_integer(id) || json_integer_value(id) < 0 ||
      (size_t)json_integer_value(id) >= t->n_ids)
    return EP_EPARSE;
  out->is_special = 1;
  out->nids = 1;
  out->ids = ep_arena_alloc(&t->mem, sizeof(int32_t));
  if (!out->ids) return EP_ENOMEM;
  out->ids[0] = (int32_t)json_integer_value(id);
  out->type_id = type_id;
  return EP_OK;
}

int ep_tok_parse_post(ep_tok *t, json_t *j, ep_tok_node **out, char *err, size_t errsz) {
  *out = NULL;
  if (!j || json_is_null(j)) return EP_OK;
  const char *type = json_string_value(json_object_get(j, "type"));
  if (!type)
    return ep_tok_fail(err, errsz, EP_EPARSE, "tokenizer.json: post_processor without type");
  ep_tok_node *n = ep_arena_calloc(&t->mem, sizeof *n);
  if (!n) return EP_ENOMEM;
  *out = n;
  int rc = EP_OK;
  if (!strcmp(type, "Sequence")) {
    json_t *arr = json_object_get(j, "processors");
    if (!json_is_array(arr))
      return ep_tok_fail(err, errsz, EP_EPARSE,
                         "tokenizer.json: Sequence post_processor without list");
    n->type = EP_TOK_PP_SEQ;
    n->nkids = json_array_size(arr);
    n->kids = ep_arena_calloc(&t->mem, (n->nkids + 1) * sizeof *n->kids);
    if (!n->kids) return EP_ENOMEM;
    for (size_t i = 0; i < n->nkids && !rc; i++)
      rc = ep_tok_parse_post(t, json_array_get(arr, i), &n->kids[i], err, errsz);
  } else if (!strcmp(type, "TemplateProcessing")) {
    n->type = EP_TOK_PP_TEMPLATE;
    json_t *sp = json_object_get(j, "special_tokens");
    rc = parse_tmpl(t, json_object_get(j, "single"), sp, &n->single, &n->nsingle, err, errsz);
    if (!rc) rc = parse_tmpl(t, json_object_get(j, "pair"), sp, &n->pair, &n->npair, err, errsz);
  } else if (!strcmp(type, "ByteLevel")) {
    n->type = EP_TOK_PP_BYTELEVEL;
  } else if (!strcmp(type, "BertProcessing") || !strcmp(type, "RobertaProcessing")) {
    int bert = type[0] == 'B';
    n->type = bert ? EP_TOK_PP_BERT : EP_TOK_PP_ROBERTA;
    json_t *cls = json_object_get(j, "cls"), *sep = json_object_get(j, "sep");
    n->nsingle = 3;
    n->npair = bert ? 5 : 6;
    n->single = ep_arena_calloc(&t->mem, 3 * sizeof *n->single);
    n->pair = ep_arena_calloc(&t->mem, 6 * sizeof *n->pair);
    if (!n->single || !n->pair) return EP_ENOMEM;
    uint32_t tb = bert ? 1 : 0; /* RoBERTa has a single type id */
    if (pair_item(t, cls, &n->single[0], 0) || pair_item(t, sep, &n->single[2], 0) ||
        pair_item(t, cls, &n->pair[0], 0) || pair_item(t, sep, &n->pair[2], 0) ||
        pair_item(t, sep, &n->pair[bert ? 4 : 3], bert ? tb : 0) ||
        (!bert && pair_item(t, sep, &n->pair[5], 0)))
      return ep_tok_fail(err, errsz, EP_EPARSE, "tokenizer.json: %s needs [token, id] cls and sep",
                         type);
    n->pair[3 + !bert].seq = 1;
    n->pair[3 + !bert].type_id = tb;
  } else {
    return ep_tok_fail(err, errsz, EP_EUNSUPPORTED,
                       "tokenizer.json: unsupported post_processor type '%s'", type);
  }
  return rc;
}

/* ---- application ------------------------------------------------------------------------- */
typedef struct {
  ep_spanvec v;
  uint32_t *types;
  size_t tcap;
} seqbuf;

static int sb_push(seqbuf *o, ep_tok_span s, uint32_t type) {
  if (ep_spanvec_push(&o->v, s.id, s.start, s.stop)) return EP_ENOMEM;
  if (o->v.n > o->tcap) {
    size_t cap = o->v.cap;
    uint32_t *p = realloc(o->types, cap * sizeof *p);
    if (!p) return EP_ENOMEM;
    o->types = p;
    o->tcap = cap;
  }
  o->types[o->v.n - 1] = type;
  return EP_OK;
}

/* Applies one processor to (A, typesA)/(B, typesB) producing a single sequence. */
static int run(const ep_tok_node *n, const seqbuf *a, const seqbuf *b, seqbuf *out) {
  int rc = EP_OK;
  if (n->type == EP_TOK_PP_SEQ) {
    /* each processor consumes the previous output as sequence A */
    seqbuf cur = {0};
    for (size_t i = 0; i < a->v.n && !rc; i++) rc = sb_push(&cur, a->v.v[i], a->types[i]);
    const seqbuf *pb = b;
    for (size_t k = 0; k < n->nkids && !rc; k++) {
      seqbuf nxt = {0};
      rc = run(n->kids[k], &cur, pb, &nxt);
      free(cur.v.v);
      free(cur.types);
      cur = nxt;
      if (n->kids[k]->type != EP_TOK_PP_BYTELEVEL) pb = NULL;
    }
    if (!rc && pb) /* only no-op processors: keep B appended */
      for (size_t i = 0; i < pb->v.n && !rc; i++) rc = sb_push(&cur, pb->v.v[i], pb->types[i]);
    *out = cur;
    return rc;
  }
  if (n->type == EP_TOK_PP_BYTELEVEL) {
    for (size_t i = 0; i < a->v.n && !rc; i++) rc = sb_push(out, a->v.v[i], a->types[i]);
    for (size_t i = 0; b && i < b->v.n && !rc; i++) rc = sb_push(out, b->v.v[i], b->types[i]);
    return rc;
  }
  const ep_tok_tmpl *tm = b ? n->pair : n->single;
  size_t nt = b ? n->npair : n->nsingle;
  for (size_t i = 0; i < nt && !rc; i++) {
    if (tm[i].is_special) {
      for (size_t k = 0; k < tm[i].nids && !rc; k++)
        rc = sb_push(out, (ep_tok_span){tm[i].ids[k], 0, 0}, tm[i].type_id);
    } else {
      const seqbuf *s = tm[i].seq ? b : a;
      for (size_t k = 0; s && k < s->v.n && !rc; k++) rc = sb_push(out, s->v.v[k], tm[i].type_id);
    }
  }
  return rc;
}

static int wrap(const ep_spanvec *v, uint32_t type, seqbuf *o) {
  int rc = EP_OK;
  for (size_t i = 0; i < v->n && !rc; i++) rc = sb_push(o, v->v[i], type);
  return rc;
}

int ep_tok_post_apply(const ep_tok *t, const ep_spanvec *a, const ep_spanvec *b, ep_spanvec *out,
                      uint32_t **type_ids) {
  seqbuf sa = {0}, sb = {0}, so = {0};
  int rc = wrap(a, 0, &sa);
  if (!rc && b) rc = wrap(b, 1, &sb);
  if (rc) goto done;
  if (t->post) {
    rc = run(t->post, &sa, b ? &sb : NULL, &so);
  } else {
    for (int s = 0; s < (b ? 2 : 1) && !rc; s++) {
      const seqbuf *x = s ? &sb : &sa;
      if (t->add_bos && t->bos >= 0) rc = sb_push(&so, (ep_tok_span){t->bos, 0, 0}, (uint32_t)s);
      for (size_t i = 0; i < x->v.n && !rc; i++) rc = sb_push(&so, x->v.v[i], (uint32_t)s);
      if (!rc && t->add_eos && t->eos >= 0)
        rc = sb_push(&so, (ep_tok_span){t->eos, 0, 0}, (uint32_t)s);
    }
  }
done:
  free(sa.v.v), free(sa.types), free(sb.v.v), free(sb.types);
  if (rc) {
    free(so.v.v), free(so.types);
    return rc;
  }
  *out = so.v;
  if (type_ids)
    *type_ids = so.types;
  else
    free(so.types);
  return EP_OK;
}

size_t ep_tok_post_count(const ep_tok *t, int pair) {
  ep_spanvec e = {0}, o = {0};
  uint32_t *ty = NULL;
  if (ep_tok_post_apply(t, &e, pair ? &e : NULL, &o, &ty)) return 0;
  size_t n = o.n;
  free(o.v);
  free(ty);
  return n;
}
