/* Decoders of tokenizer.json (ByteLevel, Metaspace, ByteFallback, Fuse,
 * Strip, Replace, WordPiece, Sequence) and ep_tok_decode. Decoders work on
 * a list of token strings as in Hugging Face; the result is raw bytes that
 * are repaired to valid UTF-8 (U+FFFD) only at the very end, so streaming can
 * hold back a character split across byte tokens. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "tok/tok-impl.h"

int ep_tok_parse_decoder(ep_tok *t, json_t *j, ep_tok_node **out, char *err, size_t errsz) {
  *out = NULL;
  if (!j || json_is_null(j)) return EP_OK;
  const char *type = json_string_value(json_object_get(j, "type"));
  if (!type) return ep_tok_fail(err, errsz, EP_EPARSE, "tokenizer.json: decoder without type");
  ep_tok_node *n = ep_arena_calloc(&t->mem, sizeof *n);
  if (!n) return EP_ENOMEM;
  *out = n;
  int rc = EP_OK;
  if (!strcmp(type, "Sequence")) {
    json_t *arr = json_object_get(j, "decoders");
    if (!json_is_array(arr))
      return ep_tok_fail(err, errsz, EP_EPARSE, "tokenizer.json: Sequence decoder without list");
    n->type = EP_TOK_D_SEQ;
    n->nkids = json_array_size(arr);
    n->kids = ep_arena_calloc(&t->mem, (n->nkids + 1) * sizeof *n->kids);
    if (!n->kids) return EP_ENOMEM;
    for (size_t i = 0; i < n->nkids && !rc; i++)
      rc = ep_tok_parse_decoder(t, json_array_get(arr, i), &n->kids[i], err, errsz);
    return rc;
  }
  const char *str = NULL;
  if (!strcmp(type, "ByteLevel"))
    n->type = EP_TOK_D_BYTELEVEL;
  else if (!strcmp(type, "ByteFallback"))
    n->type = EP_TOK_D_BYTEFALLBACK;
  else if (!strcmp(type, "Fuse"))
    n->type = EP_TOK_D_FUSE;
  else if (!strcmp(type, "Metaspace")) {
    n->type = EP_TOK_D_METASPACE;
    str = json_string_value(json_object_get(j, "replacement"));
    if (!str) str = "\xE2\x96\x81";
    const char *ps = json_string_value(json_object_get(j, "prepend_scheme"));
    json_t *aps = json_object_get(j, "add_prefix_space");
    n->a = ps ? strcmp(ps, "never") != 0 : !json_is_false(aps); /* strip first space */
  } else if (!strcmp(type, "Strip")) {
    n->type = EP_TOK_D_STRIP;
    str = json_string_value(json_object_get(j, "content"));
    if (!str) str = " ";
    n->a = (int)json_integer_value(json_object_get(j, "start"));
    n->b = (int)json_integer_value(json_object_get(j, "stop"));
  } else if (!strcmp(type, "Replace")) {
    n->type = EP_TOK_D_REPLACE;
    str = json_string_value(json_object_get(j, "content"));
    if (!str)
      return ep_tok_fail(err, errsz, EP_EPARSE, "tokenizer.json: Replace decoder without content");
    rc = ep_tok_parse_pattern(t, json_object_get(j, "pattern"), &n->pat, err, errsz);
  } else if (!strcmp(type, "WordPiece")) {
    n->type = EP_TOK_D_WORDPIECE;
    str = json_string_value(json_object_get(j, "prefix"));
    if (!str) str = "##";
    n->a = !json_is_false(json_object_get(j, "cleanup"));
  } else {
    return ep_tok_fail(err, errsz, EP_EUNSUPPORTED, "tokenizer.json: unsupported decoder type '%s'",
                       type);
  }
  if (str) {
    n->str = ep_arena_strdup(&t->mem, str);
    if (!n->str) return EP_ENOMEM;
    n->strlen = strlen(str);
  }
  return rc;
}

/* ---- application over a token list ---------------------------------------------------- */
typedef struct {
  char *s;
  size_t len;
} tstr;
typedef struct {
  tstr *v;
  size_t n;
} tlist;

static int set_tok(ep_arena *a, tstr *t, const char *s, size_t len) {
  char *p = ep_arena_alloc(a, len + 1);
  if (!p) return EP_ENOMEM;
  memcpy(p, s, len);
  p[len] = 0;
  t->s = p;
  t->len = len;
  return EP_OK;
}

static int fuse(ep_arena *a, tlist *l) {
  ep_buf b = EP_BUF_INIT;
  for (size_t i = 0; i < l->n; i++)
    if (ep_buf_append(&b, l->v[i].s, l->v[i].len)) return ep_buf_free(&b), EP_ENOMEM;
  int rc = set_tok(a, &l->v[0], b.data ? b.data : "", b.len);
  ep_buf_free(&b);
  l->n = l->n ? 1 : 0;
  return rc;
}

static int replace_all(ep_arena *a, tstr *t, const ep_tok_pattern *pat, const char *with,
                       size_t wl) {
  pcre2_match_data *md = pat->re ? pcre2_match_data_create_from_pattern(pat->re, NULL) : NULL;
  ep_buf b = EP_BUF_INIT;
  size_t pos = 0;
  int rc = EP_OK;
  for (;;) {
    size_t ms, me;
    int m = ep_pattern_next(pat, t->s, t->len, pos, &ms, &me, md);
    if (m <= 0 || me == ms) {
      rc = m < 0 ? m : EP_OK;
      break;
    }
    if (ep_buf_append(&b, t->s + pos, ms - pos) || ep_buf_append(&b, with, wl)) rc = EP_ENOMEM;
    pos = me;
    if (rc) break;
  }
  if (!rc && ep_buf_append(&b, t->s + pos, t->len - pos)) rc = EP_ENOMEM;
  if (!rc) rc = set_tok(a, t, b.data ? b.data : "", b.len);
  ep_buf_free(&b);
  if (md) pcre2_match_data_free(md);
  return rc;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

static const char *CLEANUP[][2] = {{" .", "."},     {" ?", "?"},           {" !", "!"},
                                   {" ,", ","},     {" ' ", "'"},          {" n't", "n't"},
                                   {" 'm", "'m"},   {" do not", " don't"}, {" 's", "'s"},
                                   {" 've", "'ve"}, {" 're", "'re"}};

static int apply(const ep_tok_node *n, ep_arena *a, tlist *l) {
  int rc = EP_OK;
  switch (n->type) {
    case EP_TOK_D_SEQ:
      for (size_t i = 0; i < n->nkids && !rc; i++) rc = apply(n->kids[i], a, l);
      return rc;
    case EP_TOK_D_FUSE:
      return l->n ? fuse(a, l) : EP_OK;
    case EP_TOK_D_BYTELEVEL: {
      for (size_t i = 0; i < l->n && !rc; i++) {
        tstr *t = &l->v[i];
        char *o = ep_arena_alloc(a, t->len + 1);
        if (!o) return EP_ENOMEM;
        size_t ol = 0, j = 0;
        while (j < t->len) {
          int32_t cp;
          size_t k = ep_utf8_dec(t->s + j, t->len - j, &cp);
          int byte = k ? ep_bytelevel_byte(cp) : -1;
          if (byte < 0) break;
          o[ol++] = (char)byte;
          j += k;
        }
        if (j == t->len) t->s = o, t->len = ol; /* else: keep the token as it is */
      }
      return l->n ? fuse(a, l) : EP_OK;
    }
    case EP_TOK_D_BYTEFALLBACK: /* <0xXX> -> raw byte */
      for (size_t i = 0; i < l->n; i++) {
        tstr *t = &l->v[i];
        if (t->len == 6 && !memcmp(t->s, "<0x", 3) && t->s[5] == '>' && hexval(t->s[3]) >= 0 &&
            hexval(t->s[4]) >= 0) {
          t->s[0] = (char)(hexval(t->s[3]) * 16 + hexval(t->s[4]));
          t->len = 1;
        }
      }
      return EP_OK;
    case EP_TOK_D_REPLACE:
      for (size_t i = 0; i < l->n && !rc; i++)
        rc = replace_all(a, &l->v[i], &n->pat, n->str, n->strlen);
      return rc;
    case EP_TOK_D_STRIP:
      for (size_t i = 0; i < l->n; i++) {
        tstr *t = &l->v[i];
        for (int k = 0; k < n->a && t->len >= n->strlen && !memcmp(t->s, n->str, n->strlen); k++)
          t->s += n->strlen, t->len -= n->strlen;
        for (int k = 0; k < n->b && t->len >= n->strlen &&
                        !memcmp(t->s + t->len - n->strlen, n->str, n->strlen);
             k++)
          t->len -= n->strlen;
      }
      return EP_OK;
    case EP_TOK_D_METASPACE: {
      ep_tok_pattern lit = {n->str, n->strlen, NULL};
      for (size_t i = 0; i < l->n && !rc; i++) {
        rc = replace_all(a, &l->v[i], &lit, " ", 1);
        if (!rc && i == 0 && n->a && l->v[0].len && l->v[0].s[0] == ' ') l->v[0].s++, l->v[0].len--;
      }
      return rc;
    }
    case EP_TOK_D_WORDPIECE:
      for (size_t i = 0; i < l->n && !rc; i++) {
        tstr *t = &l->v[i];
        if (i > 0) {
          if (t->len >= n->strlen && !memcmp(t->s, n->str, n->strlen)) {
            t->s += n->strlen, t->len -= n->strlen;
          } else {
            char *p = ep_arena_alloc(a, t->len + 2);
            if (!p) return EP_ENOMEM;
            p[0] = ' ';
            memcpy(p + 1, t->s, t->len);
            t->s = p, t->len++;
          }
        }
        if (n->a) {
          for (size_t c = 0; c < sizeof CLEANUP / sizeof CLEANUP[0] && !rc; c++) {
            ep_tok_pattern lit = {(char *)CLEANUP[c][0], strlen(CLEANUP[c][0]), NULL};
            if (memmem(t->s, t->len, lit.lit, lit.litlen))
              rc = replace_all(a, t, &lit, CLEANUP[c][1], strlen(CLEANUP[c][1]));
          }
        }
      }
      return rc;
  }
  return EP_EINVAL;
}

int ep_tok_decode_raw(const ep_tok *t, const int32_t *ids, size_t n, int skip_special,
                      ep_buf *out) {
  ep_arena a;
  ep_arena_init(&a, 0);
  tlist l = {ep_arena_alloc(&a, (n + 1) * sizeof(tstr)), 0};
  int rc = l.v ? EP_OK : EP_ENOMEM;
  for (size_t i = 0; i < n && !rc; i++) {
    if (ids[i] < 0 || (size_t)ids[i] >= t->n_ids || !t->pieces[ids[i]]) {
      rc = EP_ERANGE;
      break;
    }
    if (skip_special && t->special[ids[i]]) continue;
    rc = set_tok(&a, &l.v[l.n++], t->pieces[ids[i]], t->plen[ids[i]]);
  }
  if (!rc && t->dec) rc = apply(t->dec, &a, &l);
  for (size_t i = 0; i < l.n && !rc; i++) rc = ep_buf_append(out, l.v[i].s, l.v[i].len);
  ep_arena_free(&a);
  return rc;
}

int ep_tok_decode(const ep_tok *t, const int32_t *ids, size_t n, int skip_special, char **out) {
  ep_buf raw = EP_BUF_INIT, fixed = EP_BUF_INIT;
  *out = NULL;
  int rc = ep_tok_decode_raw(t, ids, n, skip_special, &raw);
  if (!rc) rc = ep_utf8_sanitize(&fixed, raw.data ? raw.data : "", raw.len);
  if (!rc && !fixed.data) rc = ep_buf_append(&fixed, "", 0);
  ep_buf_free(&raw);
  if (rc) {
    ep_buf_free(&fixed);
    return rc;
  }
  *out = ep_buf_steal(&fixed);
  return EP_OK;
}
