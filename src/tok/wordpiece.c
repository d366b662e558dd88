/* WordPiece model (BERT): greedy longest-match-first over each pre-tokenized
 * word, continuation pieces carry a prefix ("##"); a word with no full cover
 * or longer than max_input_chars_per_word becomes unk_token. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "tok/tok-impl.h"

typedef struct {
  ep_tok_model base;
  const ep_strmap *vocab;
  int32_t unk;
  char *prefix;
  size_t prefix_len, max_chars;
} wordpiece;

static int wp_encode(const ep_tok_model *base, const ep_nstr *w, ep_spanvec *out) {
  const wordpiece *m = (const wordpiece *)base;
  size_t n = w->len, nchars = 0;
  if (!n) return EP_OK;
  for (size_t i = 0; i < n; i++)
    if (((unsigned char)w->s[i] & 0xC0) != 0x80) nchars++;
  size_t mark = out->n;
  if (nchars <= m->max_chars) {
    char *buf = malloc(n + m->prefix_len + 1);
    if (!buf) return EP_ENOMEM;
    size_t start = 0;
    int ok = 1;
    while (start < n) {
      size_t end = n;
      int32_t found = -1;
      size_t pl = start > 0 ? m->prefix_len : 0;
      memcpy(buf, m->prefix, pl);
      while (end > start) {
        memcpy(buf + pl, w->s + start, end - start);
        found = ep_strmap_get(m->vocab, buf, pl + end - start);
        if (found >= 0) break;
        end--; /* step back one UTF-8 char */
        while (end > start && ((unsigned char)w->s[end] & 0xC0) == 0x80) end--;
      }
      if (found < 0) {
        ok = 0;
        break;
      }
      if (ep_spanvec_push(out, found, w->beg[start], w->end[end - 1])) {
        free(buf);
        return EP_ENOMEM;
      }
      start = end;
    }
    free(buf);
    if (ok) return EP_OK;
  }
  out->n = mark;
  if (m->unk < 0) return EP_OK;
  return ep_spanvec_push(out, m->unk, w->beg[0], w->end[n - 1]);
}

static void wp_free(ep_tok_model *m) { (void)m; }

int ep_tok_wordpiece_new(ep_tok *t, int32_t unk, const char *prefix, size_t max_chars) {
  wordpiece *m = ep_arena_calloc(&t->mem, sizeof *m);
  if (!m) return EP_ENOMEM;
  m->base.encode = wp_encode;
  m->base.free = wp_free;
  m->vocab = &t->vocab;
  m->unk = unk;
  m->prefix = ep_arena_strdup(&t->mem, prefix);
  if (!m->prefix) return EP_ENOMEM;
  m->prefix_len = strlen(prefix);
  m->max_chars = max_chars;
  t->model = &m->base;
  return EP_OK;
}

int ep_tok_wordpiece_load(ep_tok *t, json_t *model, char *err, size_t errsz) {
  json_t *vocab = json_object_get(model, "vocab");
  if (!json_is_object(vocab))
    return ep_tok_fail(err, errsz, EP_EPARSE,
                       "tokenizer.json: WordPiece model without vocab object");
  const char *key;
  json_t *val;
  json_object_foreach(vocab, key, val) {
    int32_t id;
    if (!ep_tok_json_id(t, val, &id))
      return ep_tok_fail(err, errsz, EP_EPARSE, "tokenizer.json: bad vocab id for '%s'", key);
    int rc = ep_tok_set_piece(t, id, key, strlen(key));
    if (rc) return rc;
    if (ep_strmap_put(&t->vocab, t->pieces[id], t->plen[id], id)) return EP_ENOMEM;
  }
  int32_t unk = -1;
  json_t *u = json_object_get(model, "unk_token");
  if (json_is_string(u)) {
    unk = ep_strmap_get(&t->vocab, json_string_value(u), json_string_length(u));
    if (unk < 0)
      return ep_tok_fail(err, errsz, EP_ECORRUPT, "tokenizer.json: unk_token '%s' not in vocab",
                         json_string_value(u));
  }
  json_t *p = json_object_get(model, "continuing_subword_prefix");
  json_t *mx = json_object_get(model, "max_input_chars_per_word");
  return ep_tok_wordpiece_new(t, unk, json_is_string(p) ? json_string_value(p) : "##",
                              json_is_integer(mx) ? (size_t)json_integer_value(mx) : 100);
}
