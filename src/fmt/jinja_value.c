/* Jinja values: constructors, lists/dicts in the render arena, Python
 * truthiness and equality, and the three ways a value is written out:
 * str() (what {{ }} prints), repr() (inside containers) and JSON (tojson,
 * as transformers defines it: ensure_ascii=False, optional indent). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "fmt/chat_template.h"
#include "fmt/jinja_impl.h"

int jx_fail(jctx *c, int line, int rc, const char *fmt, ...) {
  if (c->rc) return c->rc; /* keep the first error */
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (line < 0) snprintf(c->err, c->errsz, "%s", msg); /* raise_exception text, verbatim */
  else snprintf(c->err, c->errsz, "template error at line %d: %s", line > 0 ? line : c->line, msg);
  c->rc = rc;
  return rc;
}

void *jx_alloc(jctx *c, size_t n) {
  if (n > EP_CHAT_MAX_MEMORY || c->mem + n > EP_CHAT_MAX_MEMORY) {
    jx_fail(c, 0, EP_ETOOBIG, "template needs more than %u bytes of memory", (unsigned)EP_CHAT_MAX_MEMORY);
    return NULL;
  }
  c->mem += n;
  void *p = ep_arena_alloc(&c->ar, n ? n : 1);
  if (!p) jx_fail(c, 0, EP_ENOMEM, "out of memory");
  return p;
}

int jv_check_size(jctx *c, size_t n) {
  if (n > EP_CHAT_MAX_OUTPUT)
    return jx_fail(c, 0, EP_ETOOBIG, "string value larger than %u bytes", (unsigned)EP_CHAT_MAX_OUTPUT);
  return EP_OK;
}

jv jv_undef(const char *name) { jv v = {.t = JV_UNDEF}; v.u.s.p = name; return v; }
jv jv_none(void) { return (jv){.t = JV_NONE}; }
jv jv_bool(int b) { jv v = {.t = JV_BOOL}; v.u.b = !!b; return v; }
jv jv_int(long long i) { jv v = {.t = JV_INT}; v.u.i = i; return v; }
jv jv_float(double f) { jv v = {.t = JV_FLOAT}; v.u.f = f; return v; }
jv jv_strn(const char *p, size_t n) { jv v = {.t = JV_STR}; v.u.s.p = p; v.u.s.n = n; return v; }

int jv_str_copy(jctx *c, const char *p, size_t n, jv *out) {
  if (jv_check_size(c, n)) return c->rc;
  char *d = jx_alloc(c, n + 1);
  if (!d) return c->rc;
  if (n) memcpy(d, p, n);
  d[n] = '\0';
  *out = jv_strn(d, n);
  return EP_OK;
}

int jv_new_list(jctx *c, jv *out) {
  jlist *l = jx_alloc(c, sizeof *l);
  if (!l) return c->rc;
  memset(l, 0, sizeof *l);
  out->t = JV_LIST;
  out->u.l = l;
  return EP_OK;
}

int jv_new_dict(jctx *c, jv *out) {
  jdict *d = jx_alloc(c, sizeof *d);
  if (!d) return c->rc;
  memset(d, 0, sizeof *d);
  out->t = JV_DICT;
  out->u.d = d;
  return EP_OK;
}

int jl_push(jctx *c, jlist *l, jv v) {
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 4;
    jv *nv = jx_alloc(c, nc * sizeof *nv);
    if (!nv) return c->rc;
    if (l->n) memcpy(nv, l->v, l->n * sizeof *nv);
    l->v = nv;
    l->cap = nc;
  }
  l->v[l->n++] = v;
  return EP_OK;
}

jv *jd_find(const jdict *d, jv k) {
  for (size_t i = 0; i < d->n; i++)
    if (jv_eq(d->k[i], k)) return &d->v[i];
  return NULL;
}

jv *jd_get(const jdict *d, const char *k, size_t kn) {
  for (size_t i = 0; i < d->n; i++)
    if (d->k[i].t == JV_STR && d->k[i].u.s.n == kn && !memcmp(d->k[i].u.s.p, k, kn)) return &d->v[i];
  return NULL;
}

int jd_set(jctx *c, jdict *d, jv k, jv v) {
  jv *slot = jd_find(d, k);
  if (slot) { *slot = v; return EP_OK; }
  if (d->n == d->cap) {
    size_t nc = d->cap ? d->cap * 2 : 4;
    jv *nk = jx_alloc(c, nc * sizeof *nk), *nv = nk ? jx_alloc(c, nc * sizeof *nv) : NULL;
    if (!nv) return c->rc;
    if (d->n) { memcpy(nk, d->k, d->n * sizeof *nk); memcpy(nv, d->v, d->n * sizeof *nv); }
    d->k = nk;
    d->v = nv;
    d->cap = nc;
  }
  d->k[d->n] = k;
  d->v[d->n++] = v;
  return EP_OK;
}

int jv_truthy(jv v) {
  switch (v.t) {
    case JV_UNDEF: case JV_NONE: return 0;
    case JV_BOOL: return v.u.b;
    case JV_INT: return v.u.i != 0;
    case JV_FLOAT: return v.u.f != 0.0;
    case JV_STR: return v.u.s.n > 0;
    case JV_LIST: return v.u.l->n > 0;
    case JV_DICT: return v.u.d->n > 0;
    default: return 1;
  }
}

int jv_is_num(jv v) { return v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL; }
double jv_num(jv v) { return v.t == JV_FLOAT ? v.u.f : v.t == JV_INT ? (double)v.u.i : (double)v.u.b; }

int jv_eq(jv a, jv b) {
  if (jv_is_num(a) && jv_is_num(b)) {
    if (a.t != JV_FLOAT && b.t != JV_FLOAT)
      return (a.t == JV_INT ? a.u.i : a.u.b) == (b.t == JV_INT ? b.u.i : b.u.b);
    return jv_num(a) == jv_num(b);
  }
  if (a.t != b.t) return 0;
  switch (a.t) {
    case JV_UNDEF: case JV_NONE: return 1;
    case JV_STR: return a.u.s.n == b.u.s.n && !memcmp(a.u.s.p, b.u.s.p, a.u.s.n);
    case JV_LIST:
      if (a.u.l->n != b.u.l->n) return 0;
      for (size_t i = 0; i < a.u.l->n; i++)
        if (!jv_eq(a.u.l->v[i], b.u.l->v[i])) return 0;
      return 1;
    case JV_DICT:
      if (a.u.d->n != b.u.d->n) return 0;
      for (size_t i = 0; i < a.u.d->n; i++) {
        jv *o = jd_find(b.u.d, a.u.d->k[i]);
        if (!o || !jv_eq(a.u.d->v[i], *o)) return 0;
      }
      return 1;
    case JV_NS: return a.u.d == b.u.d;
    case JV_MACRO: return a.u.macro == b.u.macro;
    case JV_FUNC: return a.u.func == b.u.func;
    default: return 0;
  }
}

const char *jv_type_name(jv v) {
  static const char *const names[] = {"undefined", "NoneType", "bool", "int",      "float", "str",
                                      "list",      "dict",     "Namespace", "macro", "function", "LoopContext"};
  if (v.t == JV_LIST && v.u.l->tuple) return "tuple";
  return names[v.t];
}

/* Python float repr: shortest round-trip digits, exponent form outside [1e-4, 1e16). */
static void fmt_float(double f, char *o, size_t on) {
  if (isnan(f)) { snprintf(o, on, "nan"); return; }
  if (isinf(f)) { snprintf(o, on, f < 0 ? "-inf" : "inf"); return; }
  char e[48];
  for (int p = 1; p <= 17; p++) {
    snprintf(e, sizeof e, "%.*e", p - 1, f);
    if (strtod(e, NULL) == f) break;
  }
  const char *q = e;
  int neg = *q == '-';
  if (neg) q++;
  char dig[24];
  int nd = 0;
  for (; *q && *q != 'e'; q++) if (*q != '.' && nd < 23) dig[nd++] = *q;
  int ex = atoi(q + 1);
  while (nd > 1 && dig[nd - 1] == '0') nd--;
  size_t k = 0;
  if (neg) o[k++] = '-';
  if (ex >= -4 && ex < 16) {
    if (ex >= 0) {
      for (int i = 0; i <= ex; i++) o[k++] = i < nd ? dig[i] : '0';
      o[k++] = '.';
      if (nd > ex + 1) for (int i = ex + 1; i < nd; i++) o[k++] = dig[i];
      else o[k++] = '0';
    } else {
      o[k++] = '0'; o[k++] = '.';
      for (int i = 0; i < -ex - 1; i++) o[k++] = '0';
      for (int i = 0; i < nd; i++) o[k++] = dig[i];
    }
    o[k] = '\0';
  } else {
    o[k++] = dig[0];
    if (nd > 1) { o[k++] = '.'; for (int i = 1; i < nd; i++) o[k++] = dig[i]; }
    snprintf(o + k, on - k, "e%c%02d", ex < 0 ? '-' : '+', ex < 0 ? -ex : ex);
  }
}

static int put(jctx *c, ep_buf *b, const char *p, size_t n) {
  if (b->len + n > EP_CHAT_MAX_OUTPUT)
    return jx_fail(c, 0, EP_ETOOBIG, "output larger than %u bytes", (unsigned)EP_CHAT_MAX_OUTPUT);
  if (ep_buf_append(b, p, n)) return jx_fail(c, 0, EP_ENOMEM, "out of memory");
  return EP_OK;
}
static int puts_(jctx *c, ep_buf *b, const char *s) { return put(c, b, s, strlen(s)); }

static int write_scalar(jctx *c, ep_buf *b, jv v) {
  char tmp[64];
  switch (v.t) {
    case JV_NONE: return puts_(c, b, "None");
    case JV_BOOL: return puts_(c, b, v.u.b ? "True" : "False");
    case JV_INT: snprintf(tmp, sizeof tmp, "%lld", v.u.i); return puts_(c, b, tmp);
    case JV_FLOAT: fmt_float(v.u.f, tmp, sizeof tmp); return puts_(c, b, tmp);
    case JV_MACRO: return puts_(c, b, "<Macro>");
    case JV_FUNC: return puts_(c, b, "<function>");
    case JV_LOOP: return puts_(c, b, "<LoopContext>");
    default: return EP_OK;
  }
}

static int write_str_repr(jctx *c, ep_buf *b, const char *p, size_t n) {
  char q = (memchr(p, '\'', n) && !memchr(p, '"', n)) ? '"' : '\'';
  int rc = put(c, b, &q, 1);
  for (size_t i = 0; i < n && !rc; i++) {
    unsigned char ch = (unsigned char)p[i];
    char esc[8];
    if (ch == '\\' || ch == (unsigned char)q) { esc[0] = '\\'; esc[1] = (char)ch; rc = put(c, b, esc, 2); }
    else if (ch == '\n') rc = puts_(c, b, "\\n");
    else if (ch == '\r') rc = puts_(c, b, "\\r");
    else if (ch == '\t') rc = puts_(c, b, "\\t");
    else if (ch < 0x20 || ch == 0x7f) { snprintf(esc, sizeof esc, "\\x%02x", ch); rc = puts_(c, b, esc); }
    else rc = put(c, b, p + i, 1);
  }
  return rc ? rc : put(c, b, &q, 1);
}

int jv_write_repr(jctx *c, ep_buf *b, jv v) {
  int rc = EP_OK;
  switch (v.t) {
    case JV_UNDEF: return puts_(c, b, "Undefined");
    case JV_STR: return write_str_repr(c, b, v.u.s.p, v.u.s.n);
    case JV_LIST: {
      const jlist *l = v.u.l;
      rc = puts_(c, b, l->tuple ? "(" : "[");
      for (size_t i = 0; i < l->n && !rc; i++) {
        if (i) rc = puts_(c, b, ", ");
        if (!rc) rc = jv_write_repr(c, b, l->v[i]);
      }
      if (!rc && l->tuple && l->n == 1) rc = puts_(c, b, ",");
      return rc ? rc : puts_(c, b, l->tuple ? ")" : "]");
    }
    case JV_NS:
      if ((rc = puts_(c, b, "<Namespace "))) return rc;
      /* fallthrough */
    case JV_DICT: {
      const jdict *d = v.u.d;
      rc = puts_(c, b, "{");
      for (size_t i = 0; i < d->n && !rc; i++) {
        if (i) rc = puts_(c, b, ", ");
        if (!rc) rc = jv_write_repr(c, b, d->k[i]);
        if (!rc) rc = puts_(c, b, ": ");
        if (!rc) rc = jv_write_repr(c, b, d->v[i]);
      }
      if (!rc) rc = puts_(c, b, "}");
      return rc || v.t != JV_NS ? rc : puts_(c, b, ">");
    }
    default: return write_scalar(c, b, v);
  }
}

int jv_write_str(jctx *c, ep_buf *b, jv v) {
  if (v.t == JV_UNDEF) return EP_OK;
  if (v.t == JV_STR) return put(c, b, v.u.s.p, v.u.s.n);
  return jv_write_repr(c, b, v);
}

int jv_to_str(jctx *c, jv v, jv *out) {
  if (v.t == JV_STR) { *out = v; return EP_OK; }
  ep_buf b = EP_BUF_INIT;
  int rc = jv_write_str(c, &b, v);
  if (!rc) rc = jv_str_copy(c, ep_buf_cstr(&b), b.len, out);
  ep_buf_free(&b);
  return rc;
}

static int json_str(jctx *c, ep_buf *b, const char *p, size_t n) {
  int rc = puts_(c, b, "\"");
  for (size_t i = 0; i < n && !rc; i++) {
    unsigned char ch = (unsigned char)p[i];
    char esc[8];
    switch (ch) {
      case '"': rc = puts_(c, b, "\\\""); break;
      case '\\': rc = puts_(c, b, "\\\\"); break;
      case '\n': rc = puts_(c, b, "\\n"); break;
      case '\r': rc = puts_(c, b, "\\r"); break;
      case '\t': rc = puts_(c, b, "\\t"); break;
      case '\b': rc = puts_(c, b, "\\b"); break;
      case '\f': rc = puts_(c, b, "\\f"); break;
      default:
        if (ch < 0x20) { snprintf(esc, sizeof esc, "\\u%04x", ch); rc = puts_(c, b, esc); }
        else rc = put(c, b, p + i, 1);
    }
  }
  return rc ? rc : puts_(c, b, "\"");
}

static int json_nl(jctx *c, ep_buf *b, int indent, int level) {
  int rc = puts_(c, b, "\n");
  for (int i = 0; i < indent * level && !rc; i++) rc = puts_(c, b, " ");
  return rc;
}

int jv_write_json(jctx *c, ep_buf *b, jv v, int indent, int level) {
  char tmp[64];
  int rc = EP_OK;
  if (level > EP_CHAT_MAX_NEST) return jx_fail(c, 0, EP_ERANGE, "tojson: nesting too deep");
  switch (v.t) {
    case JV_NONE: return puts_(c, b, "null");
    case JV_BOOL: return puts_(c, b, v.u.b ? "true" : "false");
    case JV_INT: return write_scalar(c, b, v);
    case JV_FLOAT:
      if (isnan(v.u.f)) return puts_(c, b, "NaN");
      if (isinf(v.u.f)) return puts_(c, b, v.u.f < 0 ? "-Infinity" : "Infinity");
      fmt_float(v.u.f, tmp, sizeof tmp);
      return puts_(c, b, tmp);
    case JV_STR: return json_str(c, b, v.u.s.p, v.u.s.n);
    case JV_LIST: {
      const jlist *l = v.u.l;
      if (!l->n) return puts_(c, b, "[]");
      rc = puts_(c, b, "[");
      for (size_t i = 0; i < l->n && !rc; i++) {
        if (i) rc = puts_(c, b, indent >= 0 ? "," : ", ");
        if (!rc && indent >= 0) rc = json_nl(c, b, indent, level + 1);
        if (!rc) rc = jv_write_json(c, b, l->v[i], indent, level + 1);
      }
      if (!rc && indent >= 0) rc = json_nl(c, b, indent, level);
      return rc ? rc : puts_(c, b, "]");
    }
    case JV_DICT: {
      const jdict *d = v.u.d;
      if (!d->n) return puts_(c, b, "{}");
      rc = puts_(c, b, "{");
      for (size_t i = 0; i < d->n && !rc; i++) {
        if (i) rc = puts_(c, b, indent >= 0 ? "," : ", ");
        if (!rc && indent >= 0) rc = json_nl(c, b, indent, level + 1);
        jv k = d->k[i];
        if (!rc) {
          if (k.t == JV_STR) rc = json_str(c, b, k.u.s.p, k.u.s.n);
          else if (k.t == JV_INT || k.t == JV_BOOL || k.t == JV_NONE || k.t == JV_FLOAT) {
            ep_buf kb = EP_BUF_INIT;
            rc = jv_write_json(c, &kb, k, -1, level + 1);
            if (!rc) rc = json_str(c, b, ep_buf_cstr(&kb), kb.len);
            ep_buf_free(&kb);
          } else rc = jx_fail(c, 0, EP_EINVAL, "tojson: keys must be str, int, float, bool or None");
        }
        if (!rc) rc = puts_(c, b, ": ");
        if (!rc) rc = jv_write_json(c, b, d->v[i], indent, level + 1);
      }
      if (!rc && indent >= 0) rc = json_nl(c, b, indent, level);
      return rc ? rc : puts_(c, b, "}");
    }
    default:
      return jx_fail(c, 0, EP_EINVAL, "tojson: object of type %s is not JSON serializable", jv_type_name(v));
  }
}
