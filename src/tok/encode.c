/* The encode pipeline: added tokens are split out first (non-normalized ones
 * on the raw text, normalized ones after normalization), then normalizer,
 * pre-tokenizer, model, post-processor; truncation and pair encoding; the
 * small accessors of tok.h. Each call works in its own arena, so a loaded
 * ep_tok is shared read-only between threads. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/err.h"
#include "tok/tok-impl.h"

static int is_word_char(int32_t c) {
  if (c == '_') return 1;
  utf8proc_category_t k = utf8proc_category(c);
  return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
         (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO) || k == UTF8PROC_CATEGORY_MN;
}

static int is_space_byte(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int32_t cp_before(const char *s, size_t pos) {
  if (pos == 0) return -1;
  size_t st = pos - 1;
  while (st > 0 && ((unsigned char)s[st] & 0xC0) == 0x80) st--;
  int32_t cp;
  return ep_utf8_dec(s + st, pos - st, &cp) ? cp : -1;
}

/* Leftmost-longest added-token match at or after `from` among tokens whose
 * `normalized` flag equals norm. Returns index into t->added or -1;
 * [*ms, *me) includes whitespace absorbed by lstrip/rstrip. */
static long find_added(const ep_tok *t, const char *s, size_t len, size_t from, int norm,
                       size_t *ms, size_t *me) {
  for (size_t pos = from; pos < len; pos++) {
    long best = -1;
    size_t blen = 0;
    for (size_t k = 0; k < t->n_added; k++) {
      const ep_tok_added *a = &t->added[k];
      if ((a->normalized != 0) != (norm != 0) || a->len <= blen || a->len > len - pos) continue;
      if (a->content[0] != s[pos] || memcmp(a->content, s + pos, a->len)) continue;
      if (a->single_word) {
        int32_t before = cp_before(s, pos), after = -1;
        if (pos + a->len < len) ep_utf8_dec(s + pos + a->len, len - pos - a->len, &after);
        if ((before >= 0 && is_word_char(before)) || (after >= 0 && is_word_char(after))) continue;
      }
      best = (long)k;
      blen = a->len;
    }
    if (best >= 0) {
      size_t st = pos, en = pos + blen;
      if (t->added[best].lstrip)
        while (st > from && is_space_byte(s[st - 1])) st--;
      if (t->added[best].rstrip)
        while (en < len && is_space_byte(s[en])) en++;
      *ms = st;
      *me = en;
      return best;
    }
  }
  return -1;
}

static int model_pieces(const ep_tok *t, ep_arena *a, const ep_nstr *seg, ep_spanvec *out) {
  ep_pieces in = {0}, pcs = {0};
  int rc = ep_pieces_push(&in, *seg);
  if (!rc) rc = ep_tok_pretokenize(t->pre, a, &in, &pcs);
  for (size_t i = 0; i < pcs.n && !rc; i++) rc = t->model->encode(t->model, &pcs.v[i], out);
  ep_pieces_free(&in);
  ep_pieces_free(&pcs);
  return rc;
}

/* Normalized-text stage: split on normalized added tokens, model the rest. */
static int encode_normalized(const ep_tok *t, ep_arena *a, const ep_nstr *n, ep_spanvec *out) {
  size_t pos = 0;
  int rc = EP_OK;
  while (!rc && pos <= n->len) {
    size_t ms, me;
    long k = find_added(t, n->s, n->len, pos, 1, &ms, &me);
    size_t stop = k >= 0 ? ms : n->len;
    if (stop > pos) {
      ep_nstr seg = ep_nstr_sub(n, pos, stop - pos);
      rc = model_pieces(t, a, &seg, out);
    }
    if (k < 0 || rc) break;
    rc = ep_spanvec_push(out, t->added[k].id, n->beg[ms], n->end[me - 1]);
    pos = me;
  }
  return rc;
}

/* Model tokens of one input text (no post-processing). */
static int encode_seq(const ep_tok *t, const char *text, size_t len, ep_spanvec *out) {
  if (!text && len) return EP_EINVAL;
  if (len > UINT32_MAX - 1) return EP_ETOOBIG;
  if (!ep_utf8_valid(text, len)) return EP_EINVAL;
  if (!t->model) return EP_ESTATE;
  ep_arena a;
  ep_arena_init(&a, 1 << 16);
  uint32_t *beg = malloc((len + 1) * sizeof *beg), *end = malloc((len + 1) * sizeof *end);
  int rc = beg && end ? EP_OK : EP_ENOMEM;
  for (size_t i = 0; !rc && i < len; i++) beg[i] = (uint32_t)i, end[i] = (uint32_t)i + 1;
  ep_nstr raw = {text ? text : "", beg, end, len};
  size_t pos = 0;
  while (!rc && pos <= len) {
    size_t ms, me;
    long k = find_added(t, raw.s, len, pos, 0, &ms, &me);
    size_t stop = k >= 0 ? ms : len;
    if (stop > pos) {
      ep_nstr seg = ep_nstr_sub(&raw, pos, stop - pos), norm;
      rc = ep_tok_normalize(t->norm, &a, &seg, &norm);
      if (!rc) rc = encode_normalized(t, &a, &norm, out);
    }
    if (k < 0 || rc) break;
    rc = ep_spanvec_push(out, t->added[k].id, (uint32_t)ms, (uint32_t)me);
    pos = me;
  }
  free(beg);
  free(end);
  ep_arena_free(&a);
  return rc;
}

/* ---- public encode functions ------------------------------------------------------------ */
static int finish(ep_spanvec *v, int32_t **ids, size_t *n) {
  int32_t *o = malloc((v->n + 1) * sizeof *o);
  if (!o) return EP_ENOMEM;
  for (size_t i = 0; i < v->n; i++) o[i] = v->v[i].id;
  *ids = o;
  *n = v->n;
  return EP_OK;
}

static int encode_full(const ep_tok *t, const char *text, size_t len, int add_special,
                       size_t max_len, ep_spanvec *res) {
  ep_spanvec a = {0};
  int rc = encode_seq(t, text, len, &a);
  if (!rc && max_len) {
    size_t sp = add_special ? ep_tok_post_count(t, 0) : 0;
    if (max_len < sp)
      rc = EP_ERANGE;
    else if (a.n > max_len - sp)
      a.n = max_len - sp;
  }
  if (!rc && add_special) {
    rc = ep_tok_post_apply(t, &a, NULL, res, NULL);
    free(a.v);
  } else if (!rc) {
    *res = a;
  } else {
    free(a.v);
  }
  return rc;
}

int ep_tok_encode_spans(const ep_tok *t, const char *text, size_t len, int add_special,
                        ep_tok_span **spans, size_t *n) {
  ep_spanvec v = {0};
  *spans = NULL;
  *n = 0;
  int rc = encode_full(t, text, len, add_special, 0, &v);
  if (rc) return rc;
  if (!v.v && !(v.v = malloc(sizeof *v.v))) return EP_ENOMEM;
  *spans = v.v;
  *n = v.n;
  return EP_OK;
}

int ep_tok_encode_trunc(const ep_tok *t, const char *text, size_t len, int add_special,
                        size_t max_len, int32_t **ids, size_t *n) {
  ep_spanvec v = {0};
  *ids = NULL;
  *n = 0;
  int rc = encode_full(t, text, len, add_special, max_len, &v);
  if (!rc) rc = finish(&v, ids, n);
  free(v.v);
  return rc;
}

int ep_tok_encode(const ep_tok *t, const char *text, size_t len, int add_special, int32_t **ids,
                  size_t *n) {
  return ep_tok_encode_trunc(t, text, len, add_special, 0, ids, n);
}

int ep_tok_encode_pair(const ep_tok *t, const char *a, size_t alen, const char *b, size_t blen,
                       size_t max_len, int32_t **ids, int32_t **type_ids, size_t *n) {
  ep_spanvec va = {0}, vb = {0}, out = {0};
  uint32_t *types = NULL;
  *ids = NULL;
  if (type_ids) *type_ids = NULL;
  *n = 0;
  int rc = encode_seq(t, a, alen, &va);
  if (!rc) rc = encode_seq(t, b, blen, &vb);
  if (!rc && max_len) {
    size_t sp = ep_tok_post_count(t, 1);
    if (max_len < sp) {
      rc = EP_ERANGE;
    } else {
      size_t budget = max_len - sp;
      /* longest_first: drop from the longer sequence, from B on ties */
      while (va.n + vb.n > budget) {
        if (va.n > vb.n)
          va.n--;
        else
          vb.n--;
      }
    }
  }
  if (!rc) rc = ep_tok_post_apply(t, &va, &vb, &out, &types);
  if (!rc) rc = finish(&out, ids, n);
  if (!rc && type_ids) {
    *type_ids = malloc((out.n + 1) * sizeof **type_ids);
    if (!*type_ids) rc = EP_ENOMEM;
    for (size_t i = 0; !rc && i < out.n; i++) (*type_ids)[i] = (int32_t)types[i];
  }
  if (rc) {
    free(*ids);
    *ids = NULL;
    *n = 0;
  }
  free(va.v), free(vb.v), free(out.v), free(types);
  return rc;
}

/* ---- accessors -------------------------------------------------------------------------- */
size_t ep_tok_vocab_size(const ep_tok *t) { return t->n_ids; }

const char *ep_tok_piece(const ep_tok *t, int32_t id) {
  return id >= 0 && (size_t)id < t->n_ids ? t->pieces[id] : NULL;
}

int ep_tok_is_special(const ep_tok *t, int32_t id) {
  return id >= 0 && (size_t)id < t->n_ids && t->special[id];
}

int32_t ep_tok_piece_id(const ep_tok *t, const char *piece) {
  size_t len = strlen(piece);
  for (size_t i = 0; i < t->n_added; i++)
    if (t->added[i].len == len && !memcmp(t->added[i].content, piece, len)) return t->added[i].id;
  return ep_strmap_get(&t->vocab, piece, len);
}

int32_t ep_tok_bos_id(const ep_tok *t) { return t->bos; }
int32_t ep_tok_eos_id(const ep_tok *t) { return t->eos; }
int32_t ep_tok_pad_id(const ep_tok *t) { return t->pad; }
const char *ep_tok_bos_str(const ep_tok *t) { return t->bos_str ? t->bos_str : ""; }
const char *ep_tok_eos_str(const ep_tok *t) { return t->eos_str ? t->eos_str : ""; }
const char *ep_tok_chat_template(const ep_tok *t) { return t->chat_template; }
