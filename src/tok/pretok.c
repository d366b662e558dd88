/* Pre-tokenizers of tokenizer.json (ByteLevel, Metaspace, Split,
 * BertPreTokenizer, Whitespace, WhitespaceSplit, Digits, Punctuation,
 * Sequence): parsing, and splitting a list of pieces into smaller pieces
 * following the Hugging Face split behaviors (removed, isolated,
 * merged_with_previous, merged_with_next, contiguous). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/err.h"
#include "tok/tok-impl.h"

static const char GPT2_RE[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char WS_RE[] = "\\w+|[^\\w\\s]+";

static int parse_behavior(const char *s, int *out) {
  static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext",
                                "Contiguous"};
  for (int i = 0; i < 5; i++)
    if (s && !strcmp(s, names[i])) {
      *out = i;
      return 1;
    }
  return 0;
}

static int jbool(json_t *o, const char *k, int dflt) {
  json_t *v = json_object_get(o, k);
  return json_is_boolean(v) ? json_is_true(v) : dflt;
}

int ep_tok_parse_pretok(ep_tok *t, json_t *j, ep_tok_node **out, char *err, size_t errsz) {
  *out = NULL;
  if (!j || json_is_null(j)) return EP_OK;
  const char *type = json_string_value(json_object_get(j, "type"));
  if (!type)
    return ep_tok_fail(err, errsz, EP_EPARSE, "tokenizer.json: pre_tokenizer without type");
  ep_tok_node *n = ep_arena_calloc(&t->mem, sizeof *n);
  if (!n) return EP_ENOMEM;
  *out = n;
  int rc = EP_OK;
  if (!strcmp(type, "Sequence")) {
    json_t *arr = json_object_get(j, "pretokenizers");
    if (!json_is_array(arr))
      return ep_tok_fail(err, errsz, EP_EPARSE,
                         "tokenizer.json: Sequence pre_tokenizer without list");
    n->type = EP_TOK_P_SEQ;
    n->nkids = json_array_size(arr);
    n->kids = ep_arena_calloc(&t->mem, (n->nkids + 1) * sizeof *n->kids);
    if (!n->kids) return EP_ENOMEM;
    for (size_t i = 0; i < n->nkids && !rc; i++)
      rc = ep_tok_parse_pretok(t, json_array_get(arr, i), &n->kids[i], err, errsz);
  } else if (!strcmp(type, "ByteLevel")) {
    n->type = EP_TOK_P_BYTELEVEL;
    n->a = jbool(j, "add_prefix_space", 1);
    n->b = jbool(j, "use_regex", 1);
    if (n->b) rc = ep_tok_regex(t, GPT2_RE, sizeof GPT2_RE - 1, &n->pat.re, err, errsz);
  } else if (!strcmp(type, "Metaspace")) {
    n->type = EP_TOK_P_METASPACE;
    json_t *r = json_object_get(j, "replacement");
    const char *rs = json_is_string(r) ? json_string_value(r) : "\xE2\x96\x81";
    n->str = ep_arena_strdup(&t->mem, rs);
    if (!n->str) return EP_ENOMEM;
    n->strlen = strlen(rs);
    const char *ps = json_string_value(json_object_get(j, "prepend_scheme"));
    if (ps) {
      if (!strcmp(ps, "always"))
        n->a = EP_TOK_PREPEND_ALWAYS;
      else if (!strcmp(ps, "first"))
        n->a = EP_TOK_PREPEND_FIRST;
      else if (!strcmp(ps, "never"))
        n->a = EP_TOK_PREPEND_NEVER;
      else
        return ep_tok_fail(err, errsz, EP_EUNSUPPORTED,
                           "tokenizer.json: unsupported prepend_scheme '%s'", ps);
    } else {
      n->a = jbool(j, "add_prefix_space", 1) ? EP_TOK_PREPEND_ALWAYS : EP_TOK_PREPEND_NEVER;
    }
    n->b = jbool(j, "split", 1);
  } else if (!strcmp(type, "Split")) {
    n->type = EP_TOK_P_SPLIT;
    const char *bh = json_string_value(json_object_get(j, "behavior"));
    if (!parse_behavior(bh, &n->a))
      return ep_tok_fail(err, errsz, EP_EUNSUPPORTED,
                         "tokenizer.json: unsupported split behavior '%s'", bh ? bh : "(none)");
    n->b = jbool(j, "invert", 0);
    rc = ep_tok_parse_pattern(t, json_object_get(j, "pattern"), &n->pat, err, errsz);
  } else if (!strcmp(type, "BertPreTokenizer")) {
    n->type = EP_TOK_P_BERT;
  } else if (!strcmp(type, "Whitespace")) {
    n->type = EP_TOK_P_WHITESPACE;
    rc = ep_tok_regex(t, WS_RE, sizeof WS_RE - 1, &n->pat.re, err, errsz);
  } else if (!strcmp(type, "WhitespaceSplit")) {
    n->type = EP_TOK_P_WSSPLIT;
  } else if (!strcmp(type, "Digits")) {
    n->type = EP_TOK_P_DIGITS;
    n->a = jbool(j, "individual_digits", 0);
  } else if (!strcmp(type, "Punctuation")) {
    n->type = EP_TOK_P_PUNCT;
    n->a = EP_TOK_SPLIT_ISOLATED;
    const char *bh = json_string_value(json_object_get(j, "behavior"));
    if (bh && !parse_behavior(bh, &n->a))
      return ep_tok_fail(err, errsz, EP_EUNSUPPORTED,
                         "tokenizer.json: unsupported split behavior '%s'", bh);
  } else {
    return ep_tok_fail(err, errsz, EP_EUNSUPPORTED,
                       "tokenizer.json: unsupported pre_tokenizer type '%s'", type);
  }
  return rc;
}

/* ---- splitting ------------------------------------------------------------------- */
typedef struct {
  size_t s, e;
  int m;
} seg;
typedef struct {
  seg *v;
  size_t n, cap;
} segvec;

static int seg_push(segvec *sv, size_t s, size_t e, int m) {
  if (sv->n == sv->cap) {
    size_t cap = sv->cap ? sv->cap * 2 : 32;
    seg *v = realloc(sv->v, cap * sizeof *v);
    if (!v) return EP_ENOMEM;
    sv->v = v;
    sv->cap = cap;
  }
  sv->v[sv->n++] = (seg){s, e, m};
  return EP_OK;
}

/* Turns sorted, non-overlapping matches (m = 1) into a full cover of
 * [0, len) and emits pieces according to behavior. */
static int emit(const ep_nstr *p, segvec *matches, int behavior, int invert, ep_pieces *out) {
  segvec all = {0}, acc = {0};
  size_t prev = 0;
  int rc = EP_OK;
  for (size_t i = 0; i < matches->n && !rc; i++) {
    if (matches->v[i].s > prev) rc = seg_push(&all, prev, matches->v[i].s, 0);
    if (!rc) rc = seg_push(&all, matches->v[i].s, matches->v[i].e, 1);
    prev = matches->v[i].e;
  }
  if (!rc && prev < p->len) rc = seg_push(&all, prev, p->len, 0);
  if (invert)
    for (size_t i = 0; i < all.n; i++) all.v[i].m = !all.v[i].m;
  int pm = 0;
  switch (behavior) {
    case EP_TOK_SPLIT_REMOVED:
      for (size_t i = 0; i < all.n && !rc; i++)
        if (!all.v[i].m) rc = seg_push(&acc, all.v[i].s, all.v[i].e, 0);
      break;
    case EP_TOK_SPLIT_ISOLATED:
      for (size_t i = 0; i < all.n && !rc; i++) rc = seg_push(&acc, all.v[i].s, all.v[i].e, 0);
      break;
    case EP_TOK_SPLIT_CONTIG:
      for (size_t i = 0; i < all.n && !rc; i++) {
        if (all.v[i].m && pm && acc.n)
          acc.v[acc.n - 1].e = all.v[i].e;
        else
          rc = seg_push(&acc, all.v[i].s, all.v[i].e, 0);
        pm = all.v[i].m;
      }
      break;
    case EP_TOK_SPLIT_PREV:
      for (size_t i = 0; i < all.n && !rc; i++) {
        if (all.v[i].m && !pm && acc.n)
          acc.v[acc.n - 1].e = all.v[i].e;
        else
          rc = seg_push(&acc, all.v[i].s, all.v[i].e, 0);
        pm = all.v[i].m;
      }
      break;
    case EP_TOK_SPLIT_NEXT:
      for (size_t i = all.n; i-- > 0 && !rc;) {
        if (all.v[i].m && !pm && acc.n)
          acc.v[acc.n - 1].s = all.v[i].s;
        else
          rc = seg_push(&acc, all.v[i].s, all.v[i].e, 0);
        pm = all.v[i].m;
      }
      for (size_t i = 0; i < acc.n / 2; i++) {
        seg x = acc.v[i];
        acc.v[i] = acc.v[acc.n - 1 - i];
        acc.v[acc.n - 1 - i] = x;
      }
      break;
  }
  for (size_t i = 0; i < acc.n && !rc; i++)
    if (acc.v[i].e > acc.v[i].s)
      rc = ep_pieces_push(out, ep_nstr_sub(p, acc.v[i].s, acc.v[i].e - acc.v[i].s));
  free(all.v);
  free(acc.v);
  return rc;
}

static int find_pattern(const ep_tok_pattern *pat, const ep_nstr *p, segvec *m) {
  pcre2_match_data *md = pat->re ? pcre2_match_data_create_from_pattern(pat->re, NULL) : NULL;
  if (pat->re && !md) return EP_ENOMEM;
  size_t pos = 0;
  int rc = EP_OK;
  while (pos <= p->len) {
    size_t ms, me;
    int r = ep_pattern_next(pat, p->s, p->len, pos, &ms, &me, md);
    if (r <= 0) {
      rc = r;
      break;
    }
    if (me == ms) { /* empty match: step one char */
      int32_t cp;
      size_t k = ms < p->len ? ep_utf8_dec(p->s + ms, p->len - ms, &cp) : 1;
      pos = ms + (k ? k : 1);
      continue;
    }
    if ((rc = seg_push(m, ms, me, 1))) break;
    pos = me;
  }
  if (md) pcre2_match_data_free(md);
  return rc;
}

enum { CLS_WS = 1, CLS_PUNCT, CLS_DIGIT };
static int char_is(int cls, int32_t c) {
  if (cls == CLS_WS) {
    if (c == ' ' || (c >= 9 && c <= 13) || c == 0x85) return 1;
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP;
  }
  utf8proc_category_t k = utf8proc_category(c);
  if (cls == CLS_DIGIT)
    return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
  if (c < 128)
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
           (c >= 123 && c <= 126);
  return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

static int find_class(int cls, const ep_nstr *p, segvec *m) {
  for (size_t i = 0; i < p->len;) {
    int32_t cp;
    size_t k = ep_utf8_dec(p->s + i, p->len - i, &cp);
    if (!k) k = 1, cp = 0xFFFD;
    if (char_is(cls, cp) && seg_push(m, i, i + k, 1)) return EP_ENOMEM;
    i += k;
  }
  return EP_OK;
}

static int split_piece(const ep_nstr *p, const ep_tok_pattern *pat, int cls, int behavior,
                       int invert, ep_pieces *out) {
  segvec m = {0};
  int rc = pat ? find_pattern(pat, p, &m) : find_class(cls, p, &m);
  if (!rc) rc = emit(p, &m, behavior, invert, out);
  free(m.v);
  return rc;
}

static int bytelevel_map(const ep_nstr *p, ep_arena *a, ep_nbuild *b, ep_nstr *out) {
  for (size_t i = 0; i < p->len; i++) {
    char u[4];
    size_t k = ep_utf8_enc(ep_bytelevel_cp[(unsigned char)p->s[i]], u);
    ep_nb_push(b, u, k, p->beg[i], p->end[i]);
  }
  return ep_nb_finish(b, a, out);
}

static int apply(const ep_tok_node *n, ep_arena *a, const ep_pieces *in, ep_pieces *out) {
  int rc = EP_OK;
  ep_nbuild b = {0};
  if (n->type == EP_TOK_P_SEQ) {
    ep_pieces cur = {0};
    for (size_t i = 0; i < in->n && !rc; i++) rc = ep_pieces_push(&cur, in->v[i]);
    for (size_t k = 0; k < n->nkids && !rc; k++) {
      ep_pieces nxt = {0};
      rc = apply(n->kids[k], a, &cur, &nxt);
      ep_pieces_free(&cur);
      cur = nxt;
    }
    for (size_t i = 0; i < cur.n && !rc; i++) rc = ep_pieces_push(out, cur.v[i]);
    ep_pieces_free(&cur);
    return rc;
  }
  for (size_t i = 0; i < in->n && !rc; i++) {
    const ep_nstr *p = &in->v[i];
    switch (n->type) {
      case EP_TOK_P_BYTELEVEL: {
        ep_nstr src = *p;
        if (n->a && p->len && p->s[0] != ' ') {
          ep_nb_push(&b, " ", 1, p->beg[0], p->beg[0]);
          for (size_t j = 0; j < p->len; j++) ep_nb_push(&b, p->s + j, 1, p->beg[j], p->end[j]);
          if ((rc = ep_nb_finish(&b, a, &src))) break;
        }
        ep_pieces parts = {0};
        if (n->b)
          rc = split_piece(&src, &n->pat, 0, EP_TOK_SPLIT_ISOLATED, 0, &parts);
        else if (src.len)
          rc = ep_pieces_push(&parts, src);
        for (size_t j = 0; j < parts.n && !rc; j++) {
          ep_nstr m;
          rc = bytelevel_map(&parts.v[j], a, &b, &m);
          if (!rc) rc = ep_pieces_push(out, m);
        }
        ep_pieces_free(&parts);
        break;
      }
      case EP_TOK_P_METASPACE: {
        int pre = n->a == EP_TOK_PREPEND_ALWAYS ||
                  (n->a == EP_TOK_PREPEND_FIRST && p->len && p->beg[0] == 0);
        if (pre && p->len >= n->strlen && !memcmp(p->s, n->str, n->strlen)) pre = 0;
        if (pre && p->len) ep_nb_push(&b, n->str, n->strlen, p->beg[0], p->beg[0]);
        for (size_t j = 0; j < p->len; j++) {
          if (p->s[j] == ' ')
            ep_nb_push(&b, n->str, n->strlen, p->beg[j], p->end[j]);
          else
            ep_nb_push(&b, p->s + j, 1, p->beg[j], p->end[j]);
        }
        ep_nstr m;
        if ((rc = ep_nb_finish(&b, a, &m))) break;
        if (n->b) {
          ep_tok_pattern lit = {n->str, n->strlen, NULL};
          rc = split_piece(&m, &lit, 0, EP_TOK_SPLIT_NEXT, 0, out);
        } else if (m.len) {
          rc = ep_pieces_push(out, m);
        }
        break;
      }
      case EP_TOK_P_SPLIT:
        rc = split_piece(p, &n->pat, 0, n->a, n->b, out);
        break;
      case EP_TOK_P_WHITESPACE:
        rc = split_piece(p, &n->pat, 0, EP_TOK_SPLIT_REMOVED, 1, out);
        break;
      case EP_TOK_P_WSSPLIT:
        rc = split_piece(p, NULL, CLS_WS, EP_TOK_SPLIT_REMOVED, 0, out);
        break;
      case EP_TOK_P_BERT: {
        ep_pieces words = {0};
        rc = split_piece(p, NULL, CLS_WS, EP_TOK_SPLIT_REMOVED, 0, &words);
        for (size_t j = 0; j < words.n && !rc; j++)
          rc = split_piece(&words.v[j], NULL, CLS_PUNCT, EP_TOK_SPLIT_ISOLATED, 0, out);
        ep_pieces_free(&words);
        break;
      }
      case EP_TOK_P_DIGITS:
        rc = split_piece(p, NULL, CLS_DIGIT, n->a ? EP_TOK_SPLIT_ISOLATED : EP_TOK_SPLIT_CONTIG, 0,
                         out);
        break;
      case EP_TOK_P_PUNCT:
        rc = split_piece(p, NULL, CLS_PUNCT, n->a, 0, out);
        break;
      default:
        rc = EP_EINVAL;
    }
  }
  ep_nb_free(&b);
  return rc;
}

int ep_tok_pretokenize(const ep_tok_node *n, ep_arena *a, const ep_pieces *in, ep_pieces *out) {
  if (!n) {
    int rc = EP_OK;
    for (size_t i = 0; i < in->n && !rc; i++)
      if (in->v[i].len) rc = ep_pieces_push(out, in->v[i]);
    return rc;
  }
  return apply(n, a, in, out);
}
