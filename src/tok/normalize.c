/* Normalizers of tokenizer.json (Sequence, Prepend, Replace, NFC/NFD/NFKC/NFKD,
 * Lowercase, Strip, StripAccents, BertNormalizer): parsing and application to an
 * offset-carrying string. Unicode data comes from utf8proc. Lowercasing is
 * per code point (utf8proc_tolower), not Rust's multi-char to_lowercase. */
#include <jansson.h>
#include <string.h>
#include <utf8proc.h>

#include "base/err.h"
#include "tok/tok-impl.h"

static int jbool(json_t *o, const char *k, int dflt) {
  json_t *v = json_object_get(o, k);
  if (json_is_boolean(v)) return json_is_true(v);
  return dflt;
}

int ep_tok_parse_normalizer(ep_tok *t, json_t *j, ep_tok_node **out, char *err, size_t errsz) {
  *out = NULL;
  if (!j || json_is_null(j)) return EP_OK;
  const char *type = json_string_value(json_object_get(j, "type"));
  if (!type) return ep_tok_fail(err, errsz, EP_EPARSE, "tokenizer.json: normalizer without type");
  ep_tok_node *n = ep_arena_calloc(&t->mem, sizeof *n);
  if (!n) return EP_ENOMEM;
  *out = n;
  if (!strcmp(type, "Sequence")) {
    json_t *arr = json_object_get(j, "normalizers");
    if (!json_is_array(arr))
      return ep_tok_fail(err, errsz, EP_EPARSE, "tokenizer.json: Sequence normalizer without list");
    n->type = EP_TOK_N_SEQ;
    n->nkids = json_array_size(arr);
    n->kids = ep_arena_calloc(&t->mem, (n->nkids + 1) * sizeof *n->kids);
    if (!n->kids) return EP_ENOMEM;
    for (size_t i = 0; i < n->nkids; i++) {
      int rc = ep_tok_parse_normalizer(t, json_array_get(arr, i), &n->kids[i], err, errsz);
      if (rc) return rc;
    }
  } else if (!strcmp(type, "Prepend") || !strcmp(type, "Replace")) {
    int is_rep = type[0] == 'R';
    json_t *c = json_object_get(j, is_rep ? "content" : "prepend");
    if (!json_is_string(c))
      return ep_tok_fail(err, errsz, EP_EPARSE, "tokenizer.json: %s normalizer without string",
                         type);
    n->type = is_rep ? EP_TOK_N_REPLACE : EP_TOK_N_PREPEND;
    n->strlen = json_string_length(c);
    n->str = ep_arena_strndup(&t->mem, json_string_value(c), n->strlen);
    if (!n->str) return EP_ENOMEM;
    if (is_rep) {
      int rc = ep_tok_parse_pattern(t, json_object_get(j, "pattern"), &n->pat, err, errsz);
      if (rc) return rc;
    }
  } else if (!strcmp(type, "NFC"))
    n->type = EP_TOK_N_NFC;
  else if (!strcmp(type, "NFD"))
    n->type = EP_TOK_N_NFD;
  else if (!strcmp(type, "NFKC"))
    n->type = EP_TOK_N_NFKC;
  else if (!strcmp(type, "NFKD"))
    n->type = EP_TOK_N_NFKD;
  else if (!strcmp(type, "Lowercase"))
    n->type = EP_TOK_N_LOWER;
  else if (!strcmp(type, "StripAccents"))
    n->type = EP_TOK_N_STRIPACC;
  else if (!strcmp(type, "Strip")) {
    n->type = EP_TOK_N_STRIP;
    n->a = jbool(j, "left", 1);  /* strip left */
    n->b = jbool(j, "right", 1); /* strip right */
  } else if (!strcmp(type, "BertNormalizer")) {
    n->type = EP_TOK_N_BERT;
    n->a = jbool(j, "clean_text", 1);
    n->b = jbool(j, "handle_chinese_chars", 1);
    n->d = jbool(j, "lowercase", 1);
    n->c = jbool(j, "strip_accents", n->d); /* null -> follows lowercase */
  } else {
    return ep_tok_fail(err, errsz, EP_EUNSUPPORTED,
                       "tokenizer.json: unsupported normalizer type '%s'", type);
  }
  return EP_OK;
}

/* ---- application ---------------------------------------------------------------- */
typedef struct {
  ep_nbuild nb;
  ep_arena *a;
} nctx;

static void push_cp(ep_nbuild *b, int32_t cp, uint32_t beg, uint32_t end) {
  char u[4];
  ep_nb_push(b, u, ep_utf8_enc(cp, u), beg, end);
}

static int is_bert_ws(int32_t c) {
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return 1;
  return utf8proc_category(c) == UTF8PROC_CATEGORY_ZS;
}

static int is_bert_control(int32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return 0;
  utf8proc_category_t k = utf8proc_category(c);
  return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CN ||
         k == UTF8PROC_CATEGORY_CO || k == UTF8PROC_CATEGORY_CS;
}

static int is_cjk(int32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Unicode normalization by runs of one starter + following combining marks;
 * every output byte of a run maps to the run's whole original range. */
static int apply_unorm(ep_nbuild *b, const ep_nstr *in, int opts) {
  size_t i = 0;
  while (i < in->len) {
    int32_t cp;
    size_t j = i + ep_utf8_dec(in->s + i, in->len - i, &cp);
    while (j < in->len) {
      int32_t c2;
      size_t k = ep_utf8_dec(in->s + j, in->len - j, &c2);
      if (!k || utf8proc_get_property(c2)->combining_class == 0) break;
      j += k;
    }
    utf8proc_uint8_t *o = NULL;
    utf8proc_ssize_t r =
        utf8proc_map((const utf8proc_uint8_t *)in->s + i, (utf8proc_ssize_t)(j - i), &o,
                     (utf8proc_option_t)(opts | UTF8PROC_STABLE));
    if (r < 0) {
      free(o);
      return EP_EINVAL;
    }
    ep_nb_push(b, (const char *)o, (size_t)r, in->beg[i], in->end[j - 1]);
    free(o);
    i = j;
  }
  return EP_OK;
}

static int apply_one(const ep_tok_node *n, ep_arena *a, const ep_nstr *in, ep_nstr *out);

static int apply_bert(const ep_tok_node *n, ep_arena *a, const ep_nstr *in, ep_nstr *out) {
  ep_nbuild b = {0};
  ep_nstr cur = *in;
  size_t i = 0;
  while (i < cur.len) {
    int32_t cp;
    size_t k = ep_utf8_dec(cur.s + i, cur.len - i, &cp);
    if (!k) k = 1, cp = 0xFFFD;
    uint32_t bg = cur.beg[i], en = cur.end[i + k - 1];
    if (n->a && (cp == 0 || cp == 0xFFFD || is_bert_control(cp))) {
      i += k;
      continue;
    }
    if (n->a && is_bert_ws(cp)) cp = ' ';
    if (n->b && is_cjk(cp)) {
      push_cp(&b, ' ', bg, en);
      push_cp(&b, cp, bg, en);
      push_cp(&b, ' ', bg, en);
    } else {
      push_cp(&b, cp, bg, en);
    }
    i += k;
  }
  int rc = ep_nb_finish(&b, a, &cur);
  if (!rc && n->c) { /* strip accents: NFD then drop Mn */
    rc = apply_unorm(&b, &cur, UTF8PROC_DECOMPOSE);
    if (!rc) rc = ep_nb_finish(&b, a, &cur);
    i = 0;
    while (!rc && i < cur.len) {
      int32_t cp;
      size_t k = ep_utf8_dec(cur.s + i, cur.len - i, &cp);
      if (!k) k = 1, cp = 0xFFFD;
      if (utf8proc_category(cp) != UTF8PROC_CATEGORY_MN)
        ep_nb_push(&b, cur.s + i, k, cur.beg[i], cur.end[i + k - 1]);
      i += k;
    }
    if (!rc) rc = ep_nb_finish(&b, a, &cur);
  }
  ep_nb_free(&b);
  if (!rc && n->d) {
    ep_tok_node low = {.type = EP_TOK_N_LOWER};
    return apply_one(&low, a, &cur, out);
  }
  *out = cur;
  return rc;
}

static int apply_one(const ep_tok_node *n, ep_arena *a, const ep_nstr *in, ep_nstr *out) {
  ep_nbuild b = {0};
  int rc = EP_OK;
  switch (n->type) {
    case EP_TOK_N_SEQ: {
      ep_nstr cur = *in;
      for (size_t i = 0; i < n->nkids && !rc; i++) rc = apply_one(n->kids[i], a, &cur, &cur);
      *out = cur;
      return rc;
    }
    case EP_TOK_N_BERT:
      return apply_bert(n, a, in, out);
    case EP_TOK_N_PREPEND:
      if (in->len == 0) {
        *out = *in;
        return EP_OK;
      }
      ep_nb_push(&b, n->str, n->strlen, in->beg[0], in->end[0]);
      for (size_t i = 0; i < in->len; i++) ep_nb_push(&b, in->s + i, 1, in->beg[i], in->end[i]);
      break;
    case EP_TOK_N_REPLACE: {
      pcre2_match_data *md =
          n->pat.re ? pcre2_match_data_create_from_pattern(n->pat.re, NULL) : NULL;
      size_t pos = 0;
      while (pos <= in->len) {
        size_t ms, me;
        int m = ep_pattern_next(&n->pat, in->s, in->len, pos, &ms, &me, md);
        if (m < 0) rc = m;
        if (m <= 0) break;
        for (size_t i = pos; i < ms; i++) ep_nb_push(&b, in->s + i, 1, in->beg[i], in->end[i]);
        if (me > ms) {
          ep_nb_push(&b, n->str, n->strlen, in->beg[ms], in->end[me - 1]);
          pos = me;
        } else { /* empty match: insert, then copy one char */
          uint32_t o = ms < in->len ? in->beg[ms] : (in->len ? in->end[in->len - 1] : 0);
          ep_nb_push(&b, n->str, n->strlen, o, o);
          if (ms >= in->len) {
            pos = in->len + 1;
            break;
          }
          int32_t cp;
          size_t k = ep_utf8_dec(in->s + ms, in->len - ms, &cp);
          if (!k) k = 1;
          for (size_t i = ms; i < ms + k; i++) ep_nb_push(&b, in->s + i, 1, in->beg[i], in->end[i]);
          pos = ms + k;
        }
      }
      for (size_t i = pos; i < in->len; i++) ep_nb_push(&b, in->s + i, 1, in->beg[i], in->end[i]);
      if (md) pcre2_match_data_free(md);
      break;
    }
    case EP_TOK_N_NFC:
      rc = apply_unorm(&b, in, UTF8PROC_COMPOSE);
      break;
    case EP_TOK_N_NFD:
      rc = apply_unorm(&b, in, UTF8PROC_DECOMPOSE);
      break;
    case EP_TOK_N_NFKC:
      rc = apply_unorm(&b, in, UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
      break;
    case EP_TOK_N_NFKD:
      rc = apply_unorm(&b, in, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
      break;
    case EP_TOK_N_LOWER:
      for (size_t i = 0; i < in->len;) {
        int32_t cp;
        size_t k = ep_utf8_dec(in->s + i, in->len - i, &cp);
        if (!k) k = 1, cp = 0xFFFD;
        push_cp(&b, utf8proc_tolower(cp), in->beg[i], in->end[i + k - 1]);
        i += k;
      }
      break;
    case EP_TOK_N_STRIPACC: /* drops nonspacing marks (use after NFD/NFKD) */
      for (size_t i = 0; i < in->len;) {
        int32_t cp;
        size_t k = ep_utf8_dec(in->s + i, in->len - i, &cp);
        if (!k) k = 1, cp = 0xFFFD;
        if (utf8proc_category(cp) != UTF8PROC_CATEGORY_MN)
          ep_nb_push(&b, in->s + i, k, in->beg[i], in->end[i + k - 1]);
        i += k;
      }
      break;
    case EP_TOK_N_STRIP: {
      size_t s = 0, e = in->len;
      int32_t cp;
      while (n->a && s < e) {
        size_t k = ep_utf8_dec(in->s + s, e - s, &cp);
        if (!k || !is_bert_ws(cp)) break;
        s += k;
      }
      while (n->b && e > s) {
        size_t st = e - 1;
        while (st > s && ((unsigned char)in->s[st] & 0xC0) == 0x80) st--;
        size_t k = ep_utf8_dec(in->s + st, e - st, &cp);
        if (!k || !is_bert_ws(cp)) break;
        e = st;
      }
      *out = ep_nstr_sub(in, s, e - s);
      return EP_OK;
    }
    default:
      return EP_EINVAL;
  }
  if (!rc) rc = ep_nb_finish(&b, a, out);
  ep_nb_free(&b);
  return rc;
}

int ep_tok_normalize(const ep_tok_node *n, ep_arena *a, const ep_nstr *in, ep_nstr *out) {
  if (!n) {
    *out = *in;
    return EP_OK;
  }
  return apply_one(n, a, in, out);
}
