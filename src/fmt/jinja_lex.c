/* Jinja lexer: splits a template into text and tag tokens and applies the
 * whitespace rules of transformers' chat environment: trim_blocks (drop the
 * newline after a block/comment tag), lstrip_blocks (drop indentation before
 * one) and the explicit '-' (strip) / '+' (keep) markers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "fmt/jinja_impl.h"

typedef struct {
  ep_arena *ar;
  const char *src;
  jtok *v;
  size_t n, cap;
  char *err;
  size_t errsz;
  const char *lpos; /* line_at() cache: lline is the line of lpos */
  int lline;
} lexer;

static int lx_fail(lexer *L, int line, const char *msg) {
  snprintf(L->err, L->errsz, "template syntax error at line %d: %s", line, msg);
  return EP_EPARSE;
}

static int lx_push(lexer *L, jtok t) {
  if (L->n == L->cap) {
    size_t nc = L->cap ? L->cap * 2 : 256;
    jtok *nv = ep_arena_alloc(L->ar, nc * sizeof *nv);
    if (!nv) return EP_ENOMEM;
    if (L->n) memcpy(nv, L->v, L->n * sizeof *nv);
    L->v = nv;
    L->cap = nc;
  }
  L->v[L->n++] = t;
  return EP_OK;
}

static int is_ws(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v'; }
static int is_id0(char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_'; }
static int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

static int line_at(lexer *L, const char *p) {
  if (!L->lpos || p < L->lpos) { L->lpos = L->src; L->lline = 1; }
  for (; L->lpos < p; L->lpos++) L->lline += *L->lpos == '\n';
  return L->lline;
}

/* Appends UTF-8 for code point cp. */
static size_t put_utf8(char *o, unsigned long cp) {
  if (cp < 0x80) { o[0] = (char)cp; return 1; }
  if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F)); return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F)); return 4;
}

static int hexval(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* Decodes a quoted literal starting at *pp (the quote); Python escapes. */
static int lex_string(lexer *L, const char **pp, int line) {
  const char *p = *pp;
  char q = *p++;
  const char *s = p;
  while (*p && *p != q) p += (*p == '\\' && p[1]) ? 2 : 1;
  if (!*p) return lx_fail(L, line, "unterminated string literal");
  char *o = ep_arena_alloc(L->ar, (size_t)(p - s) + 1);
  if (!o) return EP_ENOMEM;
  size_t n = 0;
  for (const char *r = s; r < p; r++) {
    if (*r != '\\') { o[n++] = *r; continue; }
    char e = *++r;
    int w = 0;
    switch (e) {
      case 'n': o[n++] = '\n'; break;
      case 't': o[n++] = '\t'; break;
      case 'r': o[n++] = '\r'; break;
      case '0': o[n++] = '\0'; break;
      case 'a': o[n++] = '\a'; break;
      case 'b': o[n++] = '\b'; break;
      case 'f': o[n++] = '\f'; break;
      case 'v': o[n++] = '\v'; break;
      case '\\': case '\'': case '"': o[n++] = e; break;
      case '\n': break;
      case 'x': w = 2; break;
      case 'u': w = 4; break;
      case 'U': w = 8; break;
      default: o[n++] = '\\'; o[n++] = e; break;
    }
    if (w) {
      unsigned long cp = 0;
      for (int k = 0; k < w; k++) {
        int h = r + 1 < p ? hexval(r[1]) : -1;
        if (h < 0) return lx_fail(L, line, "bad escape in string literal");
        cp = cp * 16 + (unsigned long)h;
        r++;
      }
      if (cp > 0x10FFFF) return lx_fail(L, line, "bad escape in string literal");
      n += put_utf8(o + n, cp); /* an escape is never shorter than its UTF-8 */
    }
  }
  o[n] = '\0';
  *pp = p + 1;
  return lx_push(L, (jtok){.t = JT_STR, .line = line, .p = o, .n = n});
}

/* Tokenizes the inside of a {{ }} / {% %} tag from *pp; stops after the end
 * marker. *strip_after: '-' / '+' / 0 marker before the closing braces. */
static int lex_tag(lexer *L, const char **pp, char closer, int *strip_after) {
  const char *p = *pp;
  int depth = 0; /* open '{' inside the tag (dict literals) */
  for (;;) {
    while (is_ws(*p)) p++;
    int line = line_at(L, p);
    if (!*p) return lx_fail(L, line, closer == '}' ? "missing '}}'" : "missing '%}'");
    if ((p[0] == '-' || p[0] == '+') && p[1] == closer && p[2] == '}' && depth == 0) {
      *strip_after = p[0];
      *pp = p + 3;
      return EP_OK;
    }
    if (p[0] == closer && p[1] == '}' && depth == 0) {
      *strip_after = 0;
      *pp = p + 2;
      return EP_OK;
    }
    int rc;
    if (*p == '\'' || *p == '"') {
      if ((rc = lex_string(L, &p, line))) return rc;
    } else if (is_id0(*p)) {
      const char *s = p;
      while (is_id0(*p) || is_digit(*p)) p++;
      if ((rc = lx_push(L, (jtok){.t = JT_NAME, .line = line, .p = s, .n = (size_t)(p - s)}))) return rc;
    } else if (is_digit(*p)) {
      const char *s = p;
      int isf = 0;
      while (is_digit(*p) || *p == '_') p++;
      if (*p == '.' && is_digit(p[1])) { isf = 1; p++; while (is_digit(*p) || *p == '_') p++; }
      if ((*p == 'e' || *p == 'E') && (is_digit(p[1]) || ((p[1] == '+' || p[1] == '-') && is_digit(p[2])))) {
        isf = 1; p += 2; while (is_digit(*p)) p++;
      }
      char num[64];
      size_t k = 0;
      for (const char *r = s; r < p && k < sizeof num - 1; r++) if (*r != '_') num[k++] = *r;
      num[k] = '\0';
      jtok t = {.t = isf ? JT_FLOAT : JT_INT, .line = line};
      if (isf) t.f = strtod(num, NULL);
      else {
        char *end;
        unsigned long long u = strtoull(num, &end, 10);
        if (u > 0x7fffffffffffffffULL || k >= sizeof num - 1) return lx_fail(L, line, "integer literal too large");
        t.i = (long long)u;
      }
      if ((rc = lx_push(L, t))) return rc;
    } else {
      int op = (unsigned char)*p, w = 1;
      if (p[0] == '=' && p[1] == '=') op = JOP_EQ, w = 2;
      else if (p[0] == '!' && p[1] == '=') op = JOP_NE, w = 2;
      else if (p[0] == '<' && p[1] == '=') op = JOP_LE, w = 2;
      else if (p[0] == '>' && p[1] == '=') op = JOP_GE, w = 2;
      else if (p[0] == '/' && p[1] == '/') op = JOP_FLOORDIV, w = 2;
      else if (p[0] == '*' && p[1] == '*') op = JOP_POW, w = 2;
      else if (!strchr("()[]{}.,:|~+-*/%<>=", *p)) return lx_fail(L, line, "unexpected character in tag");
      if (op == '{') depth++;
      if (op == '}' && depth > 0) depth--;
      if ((rc = lx_push(L, (jtok){.t = JT_OP, .line = line, .op = op}))) return rc;
      p += w;
    }
  }
}

int jlex(ep_arena *ar, const char *src, jtok **out, size_t *nout, char *err, size_t errsz) {
  lexer L = {.ar = ar, .src = src, .err = err, .errsz = errsz};
  const char *p = src;
  int prev_strip = 0;   /* marker after the previous tag: '-', '+' or 0 */
  int prev_block = 0;   /* previous tag was {% %} or {# #} (trim_blocks applies) */
  int rc;
  for (;;) {
    const char *t = p;
    while (*t && !(t[0] == '{' && (t[1] == '{' || t[1] == '%' || t[1] == '#'))) t++;
    /* Text [p, t) with whitespace control from both neighbouring tags. */
    const char *s = p, *e = t;
    if (prev_strip == '-') {
      while (s < e && is_ws(*s)) s++;
    } else if (prev_block && prev_strip != '+') {
      if (s < e && *s == '\n') s++;
      else if (e - s >= 2 && s[0] == '\r' && s[1] == '\n') s += 2;
    }
    if (*t) {
      char kind = t[1], mark = t[2];
      if (mark == '-') {
        while (e > s && is_ws(e[-1])) e--;
      } else if ((kind == '%' || kind == '#') && mark != '+') {
        const char *q = e;
        while (q > src && (q[-1] == ' ' || q[-1] == '\t')) q--;
        if ((q == src || q[-1] == '\n') && q >= s) e = q;
      }
    }
    if (e > s && (rc = lx_push(&L, (jtok){.t = JT_TEXT, .line = line_at(&L, s), .p = s, .n = (size_t)(e - s)})))
      return rc;
    if (!*t) break;
    int line = line_at(&L, t);
    char kind = t[1];
    p = t + 2;
    if (*p == '-' || *p == '+') p++;
    if (kind == '#') {
      const char *c = strstr(p, "#}");
      if (!c) return lx_fail(&L, line, "unterminated comment");
      prev_strip = (c > p && (c[-1] == '-' || c[-1] == '+')) ? c[-1] : 0;
      prev_block = 1;
      p = c + 2;
      continue;
    }
    if ((rc = lx_push(&L, (jtok){.t = kind == '{' ? JT_VAR : JT_BLOCK, .line = line}))) return rc;
    if ((rc = lex_tag(&L, &p, kind == '{' ? '}' : '%', &prev_strip))) return rc;
    if ((rc = lx_push(&L, (jtok){.t = JT_END, .line = line_at(&L, p)}))) return rc;
    prev_block = kind == '%';
  }
  if ((rc = lx_push(&L, (jtok){.t = JT_EOF, .line = line_at(&L, p)}))) return rc;
  *out = L.v;
  *nout = L.n;
  return EP_OK;
}
