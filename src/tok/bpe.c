/* BPE model of tokenizer.json: vocab + merges ("a b" strings or [a, b]
 * arrays), unk_token/fuse_unk, byte_fallback (<0xXX> tokens),
 * ignore_merges, continuing_subword_prefix / end_of_word_suffix.
 * Merges live in a hash map (id pair -> rank, merged id); a word is merged
 * with a binary heap over a doubly linked symbol list: O(n log n) per word. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "tok/tok-impl.h"

typedef struct {
  uint64_t key; /* (a << 32) | b; UINT64_MAX = empty */
  int32_t rank, id;
} merge_ent;

typedef struct {
  ep_tok_model base;
  const ep_strmap *vocab;
  merge_ent *merges;
  size_t mcap;
  int32_t unk, byte_ids[256];
  int fuse_unk, byte_fallback, ignore_merges, has_bytes;
  char *prefix, *suffix;
  size_t prefix_len, suffix_len;
} bpe;

static size_t mhash(uint64_t k, size_t cap) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  return (size_t)k & (cap - 1);
}

static const merge_ent *merge_get(const bpe *m, int32_t a, int32_t b) {
  uint64_t k = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
  size_t j = mhash(k, m->mcap);
  while (m->merges[j].key != UINT64_MAX) {
    if (m->merges[j].key == k) return &m->merges[j];
    j = (j + 1) & (m->mcap - 1);
  }
  return NULL;
}

/* ---- merge loop ------------------------------------------------------------------ */
typedef struct {
  int32_t *id;
  int32_t *prev, *next;
  uint32_t *s, *e; /* byte range in the word */
  uint64_t *heap;  /* (rank << 32) | position */
  size_t nh;
} work;

static void heap_push(work *w, uint64_t v) {
  size_t i = w->nh++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (w->heap[p] <= v) break;
    w->heap[i] = w->heap[p];
    i = p;
  }
  w->heap[i] = v;
}

static uint64_t heap_pop(work *w) {
  uint64_t top = w->heap[0], v = w->heap[--w->nh];
  size_t i = 0, n = w->nh;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && w->heap[c + 1] < w->heap[c]) c++;
    if (w->heap[c] >= v) break;
    w->heap[i] = w->heap[c];
    i = c;
  }
  if (n) w->heap[i] = v;
  return top;
}

static void try_pair(const bpe *m, work *w, int32_t i) {
  if (i < 0 || w->next[i] < 0) return;
  const merge_ent *me = merge_get(m, w->id[i], w->id[w->next[i]]);
  if (me) heap_push(w, ((uint64_t)(uint32_t)me->rank << 32) | (uint32_t)i);
}

static int bpe_encode(const ep_tok_model *base, const ep_nstr *word, ep_spanvec *out) {
  const bpe *m = (const bpe *)base;
  size_t n = word->len;
  if (n == 0) return EP_OK;
  if (m->ignore_merges) {
    int32_t id = ep_strmap_get(m->vocab, word->s, n);
    if (id >= 0) return ep_spanvec_push(out, id, word->beg[0], word->end[n - 1]);
  }
  size_t cap = 4 * n + 4; /* byte fallback may give one symbol per byte */
  work w = {0};
  void *mem = malloc(cap * (3 * sizeof(int32_t) + 2 * sizeof(uint32_t) + sizeof(uint64_t)));
  if (!mem) return EP_ENOMEM;
  w.heap = mem;
  w.id = (int32_t *)(w.heap + cap);
  w.prev = w.id + cap;
  w.next = w.prev + cap;
  w.s = (uint32_t *)(w.next + cap);
  w.e = w.s + cap;
  size_t ns = 0;
  char stackbuf[256];
  int last_unk = 0;
  for (size_t i = 0; i < n;) {
    int32_t cp;
    size_t k = ep_utf8_dec(word->s + i, n - i, &cp);
    if (!k) k = 1;
    const char *key = word->s + i;
    size_t klen = k;
    int dyn = (i > 0 && m->prefix_len) || (i + k == n && m->suffix_len);
    char *tmp = NULL;
    if (dyn) {
      klen = k + (i > 0 ? m->prefix_len : 0) + (i + k == n ? m->suffix_len : 0);
      tmp = klen <= sizeof stackbuf ? stackbuf : malloc(klen);
      if (!tmp) {
        free(mem);
        return EP_ENOMEM;
      }
      size_t o = 0;
      /* prefix/suffix may be NULL when empty: memcpy(NULL, 0) is UB */
      if (i > 0 && m->prefix_len) memcpy(tmp, m->prefix, m->prefix_len), o = m->prefix_len;
      memcpy(tmp + o, word->s + i, k);
      if (i + k == n && m->suffix_len) memcpy(tmp + o + k, m->suffix, m->suffix_len);
      key = tmp;
    }
    int32_t id = ep_strmap_get(m->vocab, key, klen);
    if (tmp && tmp != stackbuf) free(tmp);
    if (id >= 0) {
      w.id[ns] = id, w.s[ns] = (uint32_t)i, w.e[ns] = (uint32_t)(i + k), ns++;
      last_unk = 0;
    } else if (m->byte_fallback && m->has_bytes) {
      for (size_t b = 0; b < k; b++)
        w.id[ns] = m->byte_ids[(unsigned char)word->s[i + b]], w.s[ns] = (uint32_t)i,
        w.e[ns] = (uint32_t)(i + k), ns++;
      last_unk = 0;
    } else if (m->unk >= 0) {
      if (m->fuse_unk && last_unk)
        w.e[ns - 1] = (uint32_t)(i + k);
      else
        w.id[ns] = m->unk, w.s[ns] = (uint32_t)i, w.e[ns] = (uint32_t)(i + k), ns++;
      last_unk = 1;
    }
    i += k;
  }
  for (size_t i = 0; i < ns; i++) {
    w.prev[i] = (int32_t)i - 1;
    w.next[i] = i + 1 < ns ? (int32_t)i + 1 : -1;
  }
  for (size_t i = 0; i + 1 < ns; i++) try_pair(m, &w, (int32_t)i);
  while (w.nh) {
    uint64_t top = heap_pop(&w);
    int32_t i = (int32_t)(uint32_t)top, j = w.next[i];
    if (w.id[i] < 0 || j < 0) continue;
    const merge_ent *me = merge_get(m, w.id[i], w.id[j]);
    if (!me || (uint32_t)me->rank != (uint32_t)(top >> 32)) continue; /* stale */
    w.id[i] = me->id;
    w.e[i] = w.e[j];
    w.id[j] = -1;
    w.next[i] = w.next[j];
    if (w.next[j] >= 0) w.prev[w.next[j]] = i;
    try_pair(m, &w, w.prev[i]);
    try_pair(m, &w, i);
  }
  int rc = EP_OK;
  for (int32_t i = ns ? 0 : -1; i >= 0 && !rc; i = w.next[i])
    rc = ep_spanvec_push(out, w.id[i], word->beg[w.s[i]], word->end[w.e[i] - 1]);
  free(mem);
  return rc;
}

static void bpe_free(ep_tok_model *base) {
  bpe *m = (bpe *)base;
  free(m->merges);
}

/* ---- loading --------------------------------------------------------------------- */
static int add_merge(ep_tok *t, bpe *m, const char *a, size_t alen, const char *b, size_t blen,
                     int32_t rank, char *err, size_t errsz) {
  int32_t ia = ep_strmap_get(&t->vocab, a, alen), ib = ep_strmap_get(&t->vocab, b, blen);
  if (ia < 0 || ib < 0)
    return ep_tok_fail(err, errsz, EP_ECORRUPT,
                       "tokenizer.json: merge %d uses a token not in vocab", (int)rank);
  size_t skip = (m->prefix_len && blen >= m->prefix_len && !memcmp(b, m->prefix, m->prefix_len))
                    ? m->prefix_len
                    : 0;
  size_t nl = alen + blen - skip;
  char small[512], *s = nl <= sizeof small ? small : malloc(nl);
  if (!s) return EP_ENOMEM;
  memcpy(s, a, alen);
  memcpy(s + alen, b + skip, blen - skip);
  int32_t id = ep_strmap_get(&t->vocab, s, nl);
  if (s != small) free(s);
  if (id < 0)
    return ep_tok_fail(err, errsz, EP_ECORRUPT, "tokenizer.json: merge %d result not in vocab",
                       (int)rank);
  uint64_t k = ((uint64_t)(uint32_t)ia << 32) | (uint32_t)ib;
  size_t j = mhash(k, m->mcap);
  while (m->merges[j].key != UINT64_MAX) {
    if (m->merges[j].key == k) return EP_OK; /* keep the first (lowest) rank */
    j = (j + 1) & (m->mcap - 1);
  }
  m->merges[j] = (merge_ent){k, rank, id};
  return EP_OK;
}

static int jstr_opt(ep_tok *t, json_t *o, const char *k, char **out, size_t *len) {
  json_t *v = json_object_get(o, k);
  *out = NULL;
  *len = 0;
  if (!json_is_string(v) || json_string_length(v) == 0) return EP_OK;
  *len = json_string_length(v);
  *out = ep_arena_strndup(&t->mem, json_string_value(v), *len);
  return *out ? EP_OK : EP_ENOMEM;
}

int ep_tok_bpe_load(ep_tok *t, json_t *model, char *err, size_t errsz) {
  json_t *vocab = json_object_get(model, "vocab"), *merges = json_object_get(model, "merges");
  if (!json_is_object(vocab))
    return ep_tok_fail(err, errsz, EP_EPARSE, "tokenizer.json: BPE model without vocab object");
  if (merges && !json_is_array(merges))
    return ep_tok_fail(err, errsz, EP_EPARSE, "tokenizer.json: BPE merges is not a list");
  json_t *dropout = json_object_get(model, "dropout");
  if (json_is_number(dropout) && json_number_value(dropout) > 0.0)
    return ep_tok_fail(err, errsz, EP_EUNSUPPORTED, "tokenizer.json: unsupported BPE dropout");
  bpe *m = ep_arena_calloc(&t->mem, sizeof *m);
  if (!m) return EP_ENOMEM;
  m->base.encode = bpe_encode;
  m->base.free = bpe_free;
  m->vocab = &t->vocab;
  t->model = &m->base;
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
  int rc = jstr_opt(t, model, "continuing_subword_prefix", &m->prefix, &m->prefix_len);
  if (!rc) rc = jstr_opt(t, model, "end_of_word_suffix", &m->suffix, &m->suffix_len);
  if (rc) return rc;
  m->fuse_unk = json_is_true(json_object_get(model, "fuse_unk"));
  m->byte_fallback = json_is_true(json_object_get(model, "byte_fallback"));
  m->ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
  m->unk = -1;
  json_t *unk = json_object_get(model, "unk_token");
  if (json_is_string(unk)) {
    m->unk = ep_strmap_get(&t->vocab, json_string_value(unk), json_string_length(unk));
    if (m->unk < 0)
      return ep_tok_fail(err, errsz, EP_ECORRUPT, "tokenizer.json: unk_token '%s' not in vocab",
                         json_string_value(unk));
  }
  m->has_bytes = 1;
  for (int b = 0; b < 256; b++) {
    char name[8];
    snprintf(name, sizeof name, "<0x%02X>", b);
    m->byte_ids[b] = ep_strmap_get(&t->vocab, name, 6);
    if (m->byte_ids[b] < 0) m->has_bytes = 0;
  }
  size_t nm = merges ? json_array_size(merges) : 0;
  m->mcap = 16;
  while (m->mcap < nm * 2 + 2) m->mcap *= 2;
  m->merges = malloc(m->mcap * sizeof *m->merges);
  if (!m->merges) return EP_ENOMEM;
  for (size_t i = 0; i < m->mcap; i++) m->merges[i].key = UINT64_MAX;
  for (size_t r = 0; r < nm; r++) {
    json_t *e = json_array_get(merges, r);
    if (json_is_string(e)) {
      const char *s = json_string_value(e);
      size_t len = json_string_length(e);
      const char *sp = memchr(s + (len > 0), ' ', len ? len - 1 : 0); /* a may not be empty */
      if (!sp)
        return ep_tok_fail(err, errsz, EP_EPARSE, "tokenizer.json: merge %zu has no space", r);
      rc = add_merge(t, m, s, (size_t)(sp - s), sp + 1, len - (size_t)(sp - s) - 1, (int32_t)r, err,
                     errsz);
    } else if (json_is_array(e) && json_array_size(e) == 2 &&
               json_is_string(json_array_get(e, 0)) && json_is_string(json_array_get(e, 1))) {
      json_t *a = json_array_get(e, 0), *b = json_array_get(e, 1);
      rc = add_merge(t, m, json_string_value(a), json_string_length(a), json_string_value(b),
                     json_string_length(b), (int32_t)r, err, errsz);
    } else {
      rc = ep_tok_fail(err, errsz, EP_EPARSE, "tokenizer.json: merge %zu is malformed", r);
    }
    if (rc) return rc;
  }
  return EP_OK;
}
