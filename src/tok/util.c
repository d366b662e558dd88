/* Small helpers of the tokenizer: offset-carrying string builder, vectors,
 * UTF-8 decoding/validation/repair, the GPT-2 byte<->unicode table, a
 * string->id hash map and literal/regex pattern search. */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "tok/tok-impl.h"

/* ---- builder / vectors ------------------------------------------------------ */
void ep_nb_push(ep_nbuild *b, const char *p, size_t n, uint32_t beg, uint32_t end) {
  if (b->oom) return;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap < b->len + n) cap *= 2;
    char *s = realloc(b->s, cap);
    if (s) b->s = s;
    uint32_t *bg = s ? realloc(b->beg, cap * sizeof *bg) : NULL;
    if (bg) b->beg = bg;
    uint32_t *en = bg ? realloc(b->end, cap * sizeof *en) : NULL;
    if (en) b->end = en;
    if (!en) {
      b->oom = 1;
      return;
    }
    b->cap = cap;
  }
  memcpy(b->s + b->len, p, n);
  for (size_t i = 0; i < n; i++) {
    b->beg[b->len + i] = beg;
    b->end[b->len + i] = end;
  }
  b->len += n;
}

int ep_nb_finish(ep_nbuild *b, ep_arena *a, ep_nstr *out) {
  if (b->oom) return EP_ENOMEM;
  size_t n = b->len;
  char *s = ep_arena_alloc(a, n + 1);
  uint32_t *bg = ep_arena_alloc(a, (n + 1) * sizeof *bg);
  uint32_t *en = ep_arena_alloc(a, (n + 1) * sizeof *en);
  if (!s || !bg || !en) return EP_ENOMEM;
  if (n) {
    memcpy(s, b->s, n);
    memcpy(bg, b->beg, n * sizeof *bg);
    memcpy(en, b->end, n * sizeof *en);
  }
  s[n] = '\0';
  out->s = s;
  out->beg = bg;
  out->end = en;
  out->len = n;
  b->len = 0;
  return EP_OK;
}

void ep_nb_free(ep_nbuild *b) {
  free(b->s);
  free(b->beg);
  free(b->end);
  memset(b, 0, sizeof *b);
}

ep_nstr ep_nstr_sub(const ep_nstr *n, size_t off, size_t len) {
  ep_nstr r = {n->s + off, n->beg + off, n->end + off, len};
  return r;
}

int ep_pieces_push(ep_pieces *p, ep_nstr s) {
  if (p->n == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 16;
    ep_nstr *v = realloc(p->v, cap * sizeof *v);
    if (!v) return EP_ENOMEM;
    p->v = v;
    p->cap = cap;
  }
  p->v[p->n++] = s;
  return EP_OK;
}

void ep_pieces_free(ep_pieces *p) {
  free(p->v);
  memset(p, 0, sizeof *p);
}

int ep_spanvec_push(ep_spanvec *v, int32_t id, uint32_t start, uint32_t stop) {
  if (v->n == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 64;
    ep_tok_span *p = realloc(v->v, cap * sizeof *p);
    if (!p) return EP_ENOMEM;
    v->v = p;
    v->cap = cap;
  }
  v->v[v->n].id = id;
  v->v[v->n].start = start;
  v->v[v->n].stop = stop;
  v->n++;
  return EP_OK;
}

/* ---- UTF-8 ------------------------------------------------------------------- */
size_t ep_utf8_dec(const char *s, size_t n, int32_t *cp) {
  const unsigned char *u = (const unsigned char *)s;
  if (n == 0) return 0;
  unsigned c = u[0];
  if (c < 0x80) {
    *cp = (int32_t)c;
    return 1;
  }
  size_t len;
  uint32_t v, min;
  if (c >= 0xC2 && c <= 0xDF)
    len = 2, v = c & 0x1F, min = 0x80;
  else if (c >= 0xE0 && c <= 0xEF)
    len = 3, v = c & 0x0F, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4)
    len = 4, v = c & 0x07, min = 0x10000;
  else
    return 0;
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((u[i] & 0xC0) != 0x80) return 0;
    v = (v << 6) | (u[i] & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = (int32_t)v;
  return len;
}

size_t ep_utf8_enc(int32_t cp, char out[4]) {
  uint32_t c = (uint32_t)cp;
  if (c < 0x80) {
    out[0] = (char)c;
    return 1;
  }
  if (c < 0x800) {
    out[0] = (char)(0xC0 | (c >> 6));
    out[1] = (char)(0x80 | (c & 0x3F));
    return 2;
  }
  if (c < 0x10000) {
    out[0] = (char)(0xE0 | (c >> 12));
    out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[2] = (char)(0x80 | (c & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (c >> 18));
  out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
  out[3] = (char)(0x80 | (c & 0x3F));
  return 4;
}

int ep_utf8_valid(const char *s, size_t n) {
  size_t i = 0;
  int32_t cp;
  while (i < n) {
    size_t k = ep_utf8_dec(s + i, n - i, &cp);
    if (!k) return 0;
    i += k;
  }
  return 1;
}

/* Length of the longest prefix of s[0..n) that could start a valid sequence
 * (the "maximal subpart" of Unicode 3.9), at least 1 for an invalid lead. */
static size_t utf8_subpart(const unsigned char *u, size_t n, size_t *need) {
  unsigned c = u[0];
  size_t len;
  unsigned lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF)
    len = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    *need = 1;
    return 1;
  }
  *need = len;
  size_t i = 1;
  if (i < n && u[i] >= lo && u[i] <= hi)
    i++;
  else
    return 1;
  while (i < len && i < n && (u[i] & 0xC0) == 0x80) i++;
  return i;
}

size_t ep_utf8_incomplete_tail(const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  for (size_t k = 1; k <= 3 && k <= n; k++) {
    size_t st = n - k;
    if ((u[st] & 0xC0) == 0x80) continue;
    size_t need;
    size_t got = utf8_subpart(u + st, k, &need);
    return (got == k && need > k) ? k : 0;
  }
  return 0;
}

int ep_utf8_sanitize(ep_buf *out, const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0, run = 0;
  int32_t cp;
  while (i < n) {
    size_t k = ep_utf8_dec(s + i, n - i, &cp);
    if (k) {
      i += k;
      continue;
    }
    if (ep_buf_append(out, s + run, i - run)) return EP_ENOMEM;
    size_t need;
    i += utf8_subpart(u + i, n - i, &need);
    if (ep_buf_append(out, "\xEF\xBF\xBD", 3)) return EP_ENOMEM;
    run = i;
  }
  return ep_buf_append(out, s + run, n - run);
}

/* ---- byte level ---------------------------------------------------------------- */
#define R(x) x, x + 1, x + 2, x + 3, x + 4, x + 5, x + 6, x + 7
#define R16(x) R(x), R(x + 8)
const uint16_t ep_bytelevel_cp[256] = {
    /* 0x00-0x20 -> 256..288 */
    R16(256), R16(272), 288,
    /* 0x21-0x7E printable ASCII stays */
    R(33), R(41), R(49), R(57), R(65), R(73), R(81), R(89), R(97), R(105), R(113), 121, 122, 123,
    124, 125, 126,
    /* 0x7F-0xA0 -> 289..322 */
    R16(289), R16(305), 321, 322,
    /* 0xA1-0xAC stay */
    R(161), 169, 170, 171, 172,
    /* 0xAD -> 323 */
    323,
    /* 0xAE-0xFF stay */
    R16(174), R16(190), R16(206), R16(222), R16(238), 254, 255};
#undef R
#undef R16

int ep_bytelevel_byte(int32_t cp) {
  if (cp >= 33 && cp <= 126) return cp;
  if ((cp >= 161 && cp <= 172) || (cp >= 174 && cp <= 255)) return cp;
  if (cp >= 256 && cp <= 288) return cp - 256;
  if (cp >= 289 && cp <= 322) return 0x7F + (cp - 289);
  if (cp == 323) return 0xAD;
  return -1;
}

/* ---- string map ------------------------------------------------------------------ */
static uint64_t hash_bytes(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ull;
  }
  return h ^ (h >> 29);
}

static int strmap_grow(ep_strmap *m) {
  size_t cap = m->cap ? m->cap * 2 : 1024;
  ep_strmap_ent *e = calloc(cap, sizeof *e);
  if (!e) return EP_ENOMEM;
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->e[i].s) continue;
    size_t j = hash_bytes(m->e[i].s, m->e[i].len) & (cap - 1);
    while (e[j].s) j = (j + 1) & (cap - 1);
    e[j] = m->e[i];
  }
  free(m->e);
  m->e = e;
  m->cap = cap;
  return EP_OK;
}

int ep_strmap_put(ep_strmap *m, const char *s, size_t len, int32_t id) {
  if ((m->n + 1) * 2 > m->cap && strmap_grow(m)) return EP_ENOMEM;
  size_t j = hash_bytes(s, len) & (m->cap - 1);
  while (m->e[j].s) {
    if (m->e[j].len == len && memcmp(m->e[j].s, s, len) == 0) {
      m->e[j].id = id;
      return EP_OK;
    }
    j = (j + 1) & (m->cap - 1);
  }
  m->e[j].s = s;
  m->e[j].len = (uint32_t)len;
  m->e[j].id = id;
  m->n++;
  return EP_OK;
}

int32_t ep_strmap_get(const ep_strmap *m, const char *s, size_t len) {
  if (!m->cap) return -1;
  size_t j = hash_bytes(s, len) & (m->cap - 1);
  while (m->e[j].s) {
    if (m->e[j].len == len && memcmp(m->e[j].s, s, len) == 0) return m->e[j].id;
    j = (j + 1) & (m->cap - 1);
  }
  return -1;
}

void ep_strmap_free(ep_strmap *m) {
  free(m->e);
  memset(m, 0, sizeof *m);
}

/* ---- patterns ---------------------------------------------------------------------- */
int ep_pattern_next(const ep_tok_pattern *p, const char *s, size_t len, size_t from, size_t *ms,
                    size_t *me, pcre2_match_data *md) {
  if (from > len) return 0;
  if (!p->re) {
    if (p->litlen == 0) return 0;
    const char *f = memmem(s + from, len - from, p->lit, p->litlen);
    if (!f) return 0;
    *ms = (size_t)(f - s);
    *me = *ms + p->litlen;
    return 1;
  }
  int rc = pcre2_match(p->re, (PCRE2_SPTR)s, len, from, PCRE2_NO_UTF_CHECK, md, NULL);
  if (rc == PCRE2_ERROR_NOMATCH) return 0;
  if (rc < 0) return EP_EINVAL;
  PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
  *ms = ov[0];
  *me = ov[1];
  return 1;
}
