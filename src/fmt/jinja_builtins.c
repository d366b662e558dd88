/* Jinja builtins used by chat templates: filters (trim, tojson, join, ...),
 * tests (is defined, is string, ...), Python str/dict methods (.strip(),
 * .get(), ...) and globals (raise_exception, namespace, range, dict).
 * Case mapping and whitespace are ASCII-only; unknown names are an
 * EP_EUNSUPPORTED error when reached, so unused branches may name them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "fmt/chat_template.h"
#include "fmt/jinja_impl.h"


/* Argument `pos` (positional index) or keyword `name`; NULL when absent. */
static jv *arg(jv *args, const char **kw, size_t n, size_t pos, const char *name) {
  size_t seen = 0;
  for (size_t i = 0; i < n; i++) {
    if (kw && kw[i]) { if (name && !strcmp(kw[i], name)) return &args[i]; }
    else if (seen++ == pos) return &args[i];
  }
  return NULL;
}

static int is_space(unsigned char ch) { return ch == ' ' || (ch >= '\t' && ch <= '\r') || (ch >= 0x1c && ch <= 0x1f); }
static char up(char ch) { return ch >= 'a' && ch <= 'z' ? (char)(ch - 32) : ch; }
static char lo(char ch) { return ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch; }
static int is_alpha(unsigned char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch >= 0x80; }

static int need_str(jctx *c, const jnode *e, jv v, const char *what) {
  if (v.t == JV_STR) return EP_OK;
  if (v.t == JV_UNDEF) return jx_fail(c, e->line, EP_EINVAL, "'%s' is undefined", v.u.s.p ? v.u.s.p : "value");
  return jx_fail(c, e->line, EP_EINVAL, "%s expects a string, got '%s'", what, jv_type_name(v));
}

/* strip/lstrip/rstrip with optional character set. */
static int do_strip(jctx *c, const jnode *e, jv s, jv *chars, int left, int right, jv *out) {
  if (need_str(c, e, s, "strip")) return c->rc;
  const char *p = s.u.s.p, *q = p + s.u.s.n;
  int has = chars && chars->t == JV_STR;
  while (left && p < q && (has ? memchr(chars->u.s.p, *p, chars->u.s.n) != NULL : is_space((unsigned char)*p))) p++;
  while (right && q > p && (has ? memchr(chars->u.s.p, q[-1], chars->u.s.n) != NULL : is_space((unsigned char)q[-1]))) q--;
  *out = jv_strn(p, (size_t)(q - p));
  return EP_OK;
}

/* Case mapping into a copy: mode u=upper l=lower c=capitalize t=str.title f=jinja title filter */
static int do_case(jctx *c, const jnode *e, jv s, char mode, jv *out) {
  if (need_str(c, e, s, "case conversion")) return c->rc;
  if (jv_str_copy(c, s.u.s.p, s.u.s.n, out)) return c->rc;
  char *p = (char *)out->u.s.p;
  int prev_alpha = 0;
  for (size_t i = 0; i < out->u.s.n; i++) {
    unsigned char ch = (unsigned char)p[i];
    switch (mode) {
      case 'u': p[i] = up(p[i]); break;
      case 'l': p[i] = lo(p[i]); break;
      case 'c': p[i] = i == 0 ? up(p[i]) : lo(p[i]); break;
      case 't': p[i] = prev_alpha ? lo(p[i]) : up(p[i]); prev_alpha = is_alpha(ch); break;
      default: /* jinja2 title: word starts after runs of - whitespace ( { [ < */
        p[i] = prev_alpha ? lo(p[i]) : up(p[i]);
        prev_alpha = !(ch == '-' || is_space(ch) || ch == '(' || ch == '{' || ch == '[' || ch == '<');
    }
  }
  return EP_OK;
}

static int do_replace(jctx *c, const jnode *e, jv s, jv *from, jv *to, jv *count, jv *out) {
  if (need_str(c, e, s, "replace")) return c->rc;
  if (!from || !to || from->t != JV_STR || to->t != JV_STR)
    return jx_fail(c, e->line, EP_EINVAL, "replace expects two strings");
  long long max = count && count->t == JV_INT ? count->u.i : -1;
  ep_buf b = EP_BUF_INIT;
  const char *p = s.u.s.p, *end = p + s.u.s.n;
  int rc = EP_OK;
  long long done = 0;
  while (!rc && p <= end) {
    const char *hit = NULL;
    if (max < 0 || done < max) {
      if (from->u.s.n == 0) hit = p;
      else hit = memmem(p, (size_t)(end - p), from->u.s.p, from->u.s.n);
    }
    if (!hit) { rc = ep_buf_append(&b, p, (size_t)(end - p)); break; }
    rc = ep_buf_append(&b, p, (size_t)(hit - p));
    if (!rc) rc = ep_buf_append(&b, to->u.s.p, to->u.s.n);
    done++;
    if (b.len > EP_CHAT_MAX_OUTPUT) break;
    if (from->u.s.n == 0) { /* insert between characters */
      if (hit == end) break;
      size_t k = 1;
      while (hit + k < end && ((unsigned char)hit[k] & 0xC0) == 0x80) k++;
      rc = ep_buf_append(&b, hit, k);
      p = hit + k;
      if (p == end) { if (max < 0 || done < max) { rc = ep_buf_append(&b, to->u.s.p, to->u.s.n); } break; }
    } else {
      p = hit + from->u.s.n;
    }
  }
  if (rc) rc = jx_fail(c, e->line, EP_ENOMEM, "out of memory");
  if (!rc) rc = jv_str_copy(c, ep_buf_cstr(&b), b.len, out);
  ep_buf_free(&b);
  return rc;
}

static int do_split(jctx *c, const jnode *e, jv s, jv *sep, jv *maxsplit, jv *out) {
  if (need_str(c, e, s, "split") || jv_new_list(c, out)) return c->rc;
  long long max = maxsplit && maxsplit->t == JV_INT ? maxsplit->u.i : -1;
  const char *p = s.u.s.p, *end = p + s.u.s.n;
  if (!sep || sep->t == JV_NONE) { /* runs of whitespace, no empty items */
    while (p < end) {
      while (p < end && is_space((unsigned char)*p)) p++;
      if (p == end) break;
      const char *q = p;
      if (max >= 0 && (long long)out->u.l->n >= max) {
        q = end;
        while (q > p && is_space((unsigned char)q[-1])) q--;
      } else {
        while (q < end && !is_space((unsigned char)*q)) q++;
      }
      if (jl_push(c, out->u.l, jv_strn(p, (size_t)(q - p)))) return c->rc;
      p = q;
      if (max >= 0 && (long long)out->u.l->n > max) break;
    }
    return EP_OK;
  }
  if (sep->t != JV_STR || !sep->u.s.n) return jx_fail(c, e->line, EP_EINVAL, "split: empty or non-string separator");
  for (;;) {
    const char *hit = (max < 0 || (long long)out->u.l->n < max) ? memmem(p, (size_t)(end - p), sep->u.s.p, sep->u.s.n) : NULL;
    if (!hit) return jl_push(c, out->u.l, jv_strn(p, (size_t)(end - p)));
    if (jl_push(c, out->u.l, jv_strn(p, (size_t)(hit - p)))) return c->rc;
    p = hit + sep->u.s.n;
  }
}

static int affix(jctx *c, const jnode *e, jv s, jv *x, int end, int *res) {
  if (need_str(c, e, s, end ? "endswith" : "startswith")) return c->rc;
  if (!x) return jx_fail(c, e->line, EP_EINVAL, "missing argument");
  if (x->t == JV_LIST) {
    *res = 0;
    for (size_t i = 0; i < x->u.l->n && !*res; i++)
      if (affix(c, e, s, &x->u.l->v[i], end, res)) return c->rc;
    return EP_OK;
  }
  if (x->t != JV_STR) return jx_fail(c, e->line, EP_EINVAL, "startswith/endswith expects a string");
  size_t n = x->u.s.n;
  *res = n <= s.u.s.n && !memcmp(end ? s.u.s.p + s.u.s.n - n : s.u.s.p, x->u.s.p, n);
  return EP_OK;
}

static int items_of(jctx *c, const jnode *e, jv d, jv *out) {
  if (jv_new_list(c, out)) return c->rc;
  if (d.t == JV_UNDEF) return EP_OK;
  if (d.t != JV_DICT && d.t != JV_NS) return jx_fail(c, e->line, EP_EINVAL, "items expects a mapping, got '%s'", jv_type_name(d));
  for (size_t i = 0; i < d.u.d->n; i++) {
    jv pair;
    if (jv_new_list(c, &pair)) return c->rc;
    pair.u.l->tuple = 1;
    if (jl_push(c, pair.u.l, d.u.d->k[i]) || jl_push(c, pair.u.l, d.u.d->v[i]) || jl_push(c, out->u.l, pair)) return c->rc;
  }
  return EP_OK;
}

int jb_method(jctx *c, const jnode *e, jv o, const char *m, jv *args, const char **kw, size_t n, jv *out) {
  jv *a0 = arg(args, kw, n, 0, NULL), *a1 = arg(args, kw, n, 1, NULL);
  int r;
  if (o.t == JV_STR) {
    if (!strcmp(m, "strip")) return do_strip(c, e, o, a0, 1, 1, out);
    if (!strcmp(m, "lstrip")) return do_strip(c, e, o, a0, 1, 0, out);
    if (!strcmp(m, "rstrip")) return do_strip(c, e, o, a0, 0, 1, out);
    if (!strcmp(m, "upper")) return do_case(c, e, o, 'u', out);
    if (!strcmp(m, "lower")) return do_case(c, e, o, 'l', out);
    if (!strcmp(m, "title")) return do_case(c, e, o, 't', out);
    if (!strcmp(m, "capitalize")) return do_case(c, e, o, 'c', out);
    if (!strcmp(m, "replace")) return do_replace(c, e, o, a0, a1, arg(args, kw, n, 2, "count"), out);
    if (!strcmp(m, "split")) return do_split(c, e, o, arg(args, kw, n, 0, "sep"), arg(args, kw, n, 1, "maxsplit"), out);
    if (!strcmp(m, "startswith") || !strcmp(m, "endswith")) {
      if (affix(c, e, o, a0, m[0] == 'e', &r)) return c->rc;
      *out = jv_bool(r);
      return EP_OK;
    }
  } else if (o.t == JV_DICT) {
    if (!strcmp(m, "items")) return items_of(c, e, o, out);
    if (!strcmp(m, "keys") || !strcmp(m, "values")) {
      if (jv_new_list(c, out)) return c->rc;
      for (size_t i = 0; i < o.u.d->n; i++)
        if (jl_push(c, out->u.l, m[0] == 'k' ? o.u.d->k[i] : o.u.d->v[i])) return c->rc;
      return EP_OK;
    }
    if (!strcmp(m, "get")) {
      jv *x = a0 ? jd_find(o.u.d, *a0) : NULL;
      *out = x ? *x : a1 ? *a1 : jv_none();
      return EP_OK;
    }
  }
  return jx_fail(c, e->line, EP_EUNSUPPORTED, "method '%s' of '%s'", m, jv_type_name(o));
}

static int length_of(jctx *c, const jnode *e, jv v, long long *n) {
  switch (v.t) {
    case JV_UNDEF: *n = 0; return EP_OK;
    case JV_STR: {
      long long k = 0;
      for (size_t i = 0; i < v.u.s.n; i++) k += ((unsigned char)v.u.s.p[i] & 0xC0) != 0x80;
      *n = k;
      return EP_OK;
    }
    case JV_LIST: *n = (long long)v.u.l->n; return EP_OK;
    case JV_DICT: case JV_NS: *n = (long long)v.u.d->n; return EP_OK;
    default: return jx_fail(c, e->line, EP_EINVAL, "object of type '%s' has no len()", jv_type_name(v));
  }
}

/* select/reject/selectattr/rejectattr: keep items whose (attribute) passes a test. */
static int do_select(jctx *c, const jnode *e, jv in, jv *args, const char **kw, size_t n, int attr, int keep, jv *out) {
  jlist *items;
  if (jx_iter_items(c, e, in, &items) || jv_new_list(c, out)) return c->rc;
  size_t first = 0;
  jv *an = attr ? arg(args, kw, n, first++, NULL) : NULL;
  if (attr && (!an || an->t != JV_STR)) return jx_fail(c, e->line, EP_EINVAL, "selectattr expects an attribute name");
  jv *tn = arg(args, kw, n, first, NULL);
  if (tn && tn->t != JV_STR) return jx_fail(c, e->line, EP_EINVAL, "select expects a test name");
  jnode tnode = *e;
  tnode.name = NULL;
  char tname[32] = "";
  if (tn) snprintf(tname, sizeof tname, "%.*s", (int)tn->u.s.n, tn->u.s.p);
  tnode.name = tname;
  size_t nrest = 0;
  jv rest[8];
  for (size_t i = 0; i < n && nrest < 8; i++)
    if (!(kw && kw[i]) && i > first) rest[nrest++] = args[i];
  for (size_t i = 0; i < items->n; i++) {
    jv v = items->v[i];
    if (attr) {
      jv *x = (v.t == JV_DICT || v.t == JV_NS) ? jd_get(v.u.d, an->u.s.p, an->u.s.n) : NULL;
      v = x ? *x : jv_undef(NULL);
    }
    int r;
    if (tn) { if (jb_test(c, &tnode, v, rest, nrest, &r)) return c->rc; }
    else r = jv_truthy(v);
    if (r == keep && jl_push(c, out->u.l, items->v[i])) return c->rc;
  }
  return EP_OK;
}

static int apply_filter(jctx *c, const jnode *e, const char *f, jv in, jv *args, const char **kw, size_t n, jv *out);

static int do_map(jctx *c, const jnode *e, jv in, jv *args, const char **kw, size_t n, jv *out) {
  jlist *items;
  if (jx_iter_items(c, e, in, &items) || jv_new_list(c, out)) return c->rc;
  jv *attr = arg(args, kw, n, (size_t)-1, "attribute"), *fn = arg(args, kw, n, 0, NULL);
  jv *dflt = arg(args, kw, n, (size_t)-1, "default");
  char fname[32];
  if (!attr && (!fn || fn->t != JV_STR)) return jx_fail(c, e->line, EP_EINVAL, "map expects a filter name or attribute=");
  if (!attr) snprintf(fname, sizeof fname, "%.*s", (int)fn->u.s.n, fn->u.s.p);
  for (size_t i = 0; i < items->n; i++) {
    jv v = items->v[i], r;
    if (attr) {
      if (attr->t != JV_STR) return jx_fail(c, e->line, EP_EINVAL, "map attribute must be a string");
      jv *x = (v.t == JV_DICT || v.t == JV_NS) ? jd_get(v.u.d, attr->u.s.p, attr->u.s.n) : NULL;
      r = x ? *x : dflt ? *dflt : jv_undef(NULL);
    } else if (apply_filter(c, e, fname, v, args + 1, kw ? kw + 1 : NULL, n - 1, &r)) {
      return c->rc;
    }
    if (jl_push(c, out->u.l, r)) return c->rc;
  }
  return EP_OK;
}

static int apply_filter(jctx *c, const jnode *e, const char *f, jv in, jv *args, const char **kw, size_t n, jv *out) {
  jv *a0 = arg(args, kw, n, 0, NULL);
  long long len = 0;
  if (!strcmp(f, "trim") || !strcmp(f, "upper") || !strcmp(f, "lower") || !strcmp(f, "capitalize") || !strcmp(f, "title")) {
    if (jv_to_str(c, in, &in)) return c->rc; /* jinja2 string filters take str(value) */
  }
  if (!strcmp(f, "trim")) return do_strip(c, e, in, arg(args, kw, n, 0, "chars"), 1, 1, out);
  if (!strcmp(f, "upper")) return do_case(c, e, in, 'u', out);
  if (!strcmp(f, "lower")) return do_case(c, e, in, 'l', out);
  if (!strcmp(f, "capitalize")) return do_case(c, e, in, 'c', out);
  if (!strcmp(f, "title")) return do_case(c, e, in, 'f', out);
  if (!strcmp(f, "string")) return jv_to_str(c, in, out);
  if (!strcmp(f, "safe")) { *out = in; return EP_OK; }
  if (!strcmp(f, "length") || !strcmp(f, "count")) {
    if (length_of(c, e, in, &len)) return c->rc;
    *out = jv_int(len);
    return EP_OK;
  }
  if (!strcmp(f, "default") || !strcmp(f, "d")) {
    jv *b = arg(args, kw, n, 1, "boolean");
    jv *dv = arg(args, kw, n, 0, "default_value");
    int use = in.t == JV_UNDEF || (b && jv_truthy(*b) && !jv_truthy(in));
    *out = use ? (dv ? *dv : jv_strn("", 0)) : in;
    return EP_OK;
  }
  if (!strcmp(f, "tojson")) {
    jv *ind = arg(args, kw, n, 0, "indent");
    int indent = -1;
    if (ind && ind->t == JV_INT) indent = ind->u.i < 0 ? 0 : ind->u.i > 64 ? 64 : (int)ind->u.i;
    else if (ind && ind->t != JV_NONE) return jx_fail(c, e->line, EP_EINVAL, "tojson: indent must be an integer");
    ep_buf b = EP_BUF_INIT;
    int rc = jv_write_json(c, &b, in, indent, 0);
    if (!rc) rc = jv_str_copy(c, ep_buf_cstr(&b), b.len, out);
    ep_buf_free(&b);
    return rc;
  }
  if (!strcmp(f, "first") || !strcmp(f, "last")) {
    jlist *items;
    if (jx_iter_items(c, e, in, &items)) return c->rc;
    *out = items->n ? items->v[f[0] == 'f' ? 0 : items->n - 1] : jv_undef(NULL);
    return EP_OK;
  }
  if (!strcmp(f, "join")) {
    jlist *items;
    jv *sep = arg(args, kw, n, 0, "d"), *attr = arg(args, kw, n, 1, "attribute");
    if (jx_iter_items(c, e, in, &items)) return c->rc;
    ep_buf b = EP_BUF_INIT;
    int rc = EP_OK;
    for (size_t i = 0; i < items->n && !rc; i++) {
      jv v = items->v[i];
      if (attr && attr->t == JV_STR) {
        jv *x = (v.t == JV_DICT || v.t == JV_NS) ? jd_get(v.u.d, attr->u.s.p, attr->u.s.n) : NULL;
        v = x ? *x : jv_undef(NULL);
      }
      if (i && sep) rc = jv_write_str(c, &b, *sep);
      if (!rc) rc = jv_write_str(c, &b, v);
    }
    if (!rc) rc = jv_str_copy(c, ep_buf_cstr(&b), b.len, out);
    ep_buf_free(&b);
    return rc;
  }
  if (!strcmp(f, "replace")) {
    jv s;
    if (jv_to_str(c, in, &s)) return c->rc;
    return do_replace(c, e, s, a0, arg(args, kw, n, 1, NULL), arg(args, kw, n, 2, "count"), out);
  }
  if (!strcmp(f, "items")) return items_of(c, e, in, out);
  if (!strcmp(f, "list")) {
    jlist *items;
    if (jx_iter_items(c, e, in, &items) || jv_new_list(c, out)) return c->rc;
    for (size_t i = 0; i < items->n; i++) if (jl_push(c, out->u.l, items->v[i])) return c->rc;
    return EP_OK;
  }
  if (!strcmp(f, "select")) return do_select(c, e, in, args, kw, n, 0, 1, out);
  if (!strcmp(f, "reject")) return do_select(c, e, in, args, kw, n, 0, 0, out);
  if (!strcmp(f, "selectattr")) return do_select(c, e, in, args, kw, n, 1, 1, out);
  if (!strcmp(f, "rejectattr")) return do_select(c, e, in, args, kw, n, 1, 0, out);
  if (!strcmp(f, "map")) return do_map(c, e, in, args, kw, n, out);
  if (!strcmp(f, "int")) {
    if (in.t == JV_INT || in.t == JV_BOOL) *out = jv_int(in.t == JV_INT ? in.u.i : in.u.b);
    else if (in.t == JV_FLOAT && in.u.f > -9.2e18 && in.u.f < 9.2e18) *out = jv_int((long long)in.u.f);
    else if (in.t == JV_STR) {
      char tmp[32];
      snprintf(tmp, sizeof tmp, "%.*s", (int)(in.u.s.n < 31 ? in.u.s.n : 31), in.u.s.p);
      char *end;
      long long v = strtoll(tmp, &end, 10);
      *out = jv_int(end != tmp && !*end ? v : 0);
    } else *out = jv_int(0);
    return EP_OK;
  }
  if (!strcmp(f, "abs")) {
    if (in.t == JV_FLOAT) *out = jv_float(in.u.f < 0 ? -in.u.f : in.u.f);
    else if ((in.t == JV_INT || in.t == JV_BOOL) && !(in.t == JV_INT && in.u.i == -0x7fffffffffffffffLL - 1)) {
      long long v = in.t == JV_INT ? in.u.i : in.u.b;
      *out = jv_int(v < 0 ? -v : v);
    } else return jx_fail(c, e->line, EP_EINVAL, "bad operand type for abs(): '%s'", jv_type_name(in));
    return EP_OK;
  }
  return jx_fail(c, e->line, EP_EUNSUPPORTED, "filter '%s'", f);
}

int jb_filter(jctx *c, const jnode *e, jv in, jv *args, const char **kw, size_t n, jv *out) {
  return apply_filter(c, e, e->name, in, args, kw, n, out);
}

int jb_test(jctx *c, const jnode *e, jv v, jv *args, size_t n, int *out) {
  const char *t = e->name;
  jv *a0 = n ? &args[0] : NULL;
  if (!strcmp(t, "defined")) *out = v.t != JV_UNDEF;
  else if (!strcmp(t, "undefined")) *out = v.t == JV_UNDEF;
  else if (!strcmp(t, "none")) *out = v.t == JV_NONE;
  else if (!strcmp(t, "string")) *out = v.t == JV_STR;
  else if (!strcmp(t, "number")) *out = v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL;
  else if (!strcmp(t, "integer")) *out = v.t == JV_INT;
  else if (!strcmp(t, "float")) *out = v.t == JV_FLOAT;
  else if (!strcmp(t, "boolean")) *out = v.t == JV_BOOL;
  else if (!strcmp(t, "true")) *out = v.t == JV_BOOL && v.u.b;
  else if (!strcmp(t, "false")) *out = v.t == JV_BOOL && !v.u.b;
  else if (!strcmp(t, "mapping")) *out = v.t == JV_DICT;
  else if (!strcmp(t, "iterable")) *out = v.t == JV_STR || v.t == JV_LIST || v.t == JV_DICT || v.t == JV_UNDEF;
  else if (!strcmp(t, "sequence")) *out = v.t == JV_STR || v.t == JV_LIST || v.t == JV_DICT || v.t == JV_UNDEF;
  else if (!strcmp(t, "callable")) *out = v.t == JV_MACRO || v.t == JV_FUNC;
  else if (!strcmp(t, "odd") || !strcmp(t, "even") || !strcmp(t, "divisibleby")) {
    long long d = !strcmp(t, "divisibleby") ? (a0 && a0->t == JV_INT ? a0->u.i : 0) : 2;
    if (v.t != JV_INT || d == 0) return jx_fail(c, e->line, EP_EINVAL, "test '%s' needs integers", t);
    long long r = v.u.i % d;
    *out = t[0] == 'o' ? r != 0 : r == 0;
  } else if (!strcmp(t, "eq") || !strcmp(t, "equalto") || !strcmp(t, "==") || !strcmp(t, "sameas")) {
    *out = a0 && jv_eq(v, *a0) && (t[0] != 's' || v.t == a0->t);
  } else if (!strcmp(t, "ne") || !strcmp(t, "!=")) *out = !(a0 && jv_eq(v, *a0));
  else if (!strcmp(t, "in")) {
    *out = 0;
    if (a0 && a0->t == JV_LIST) for (size_t i = 0; i < a0->u.l->n && !*out; i++) *out = jv_eq(v, a0->u.l->v[i]);
    else if (a0 && (a0->t == JV_DICT || a0->t == JV_NS)) *out = jd_find(a0->u.d, v) != NULL;
    else if (a0 && a0->t == JV_STR && v.t == JV_STR) *out = memmem(a0->u.s.p, a0->u.s.n, v.u.s.p, v.u.s.n) != NULL || !v.u.s.n;
  } else if (!strcmp(t, "lower") || !strcmp(t, "upper")) {
    *out = v.t == JV_STR;
    for (size_t i = 0; *out && i < v.u.s.n; i++) {
      char ch = v.u.s.p[i];
      if (t[0] == 'l' ? (ch >= 'A' && ch <= 'Z') : (ch >= 'a' && ch <= 'z')) *out = 0;
    }
  } else {
    return jx_fail(c, e->line, EP_EUNSUPPORTED, "test '%s'", t && *t ? t : "?");
  }
  return EP_OK;
}

int jb_func(jctx *c, const jnode *e, int func, jv *args, const char **kw, size_t n, jv *out) {
  switch (func) {
    case JF_RAISE: {
      jv msg = n ? args[0] : jv_strn("", 0);
      ep_buf b = EP_BUF_INIT;
      if (jv_write_str(c, &b, msg)) { ep_buf_free(&b); return c->rc; }
      jx_fail(c, -1, EP_EINVAL, "%s", ep_buf_cstr(&b));
      ep_buf_free(&b);
      return c->rc;
    }
    case JF_NAMESPACE: case JF_DICT:
      if (jv_new_dict(c, out)) return c->rc;
      if (func == JF_NAMESPACE) out->t = JV_NS;
      for (size_t i = 0; i < n; i++) {
        if (kw && kw[i]) {
          if (jd_set(c, out->u.d, jv_strn(kw[i], strlen(kw[i])), args[i])) return c->rc;
        } else if (args[i].t == JV_DICT) {
          for (size_t k = 0; k < args[i].u.d->n; k++)
            if (jd_set(c, out->u.d, args[i].u.d->k[k], args[i].u.d->v[k])) return c->rc;
        } else {
          return jx_fail(c, e->line, EP_EINVAL, "namespace()/dict() takes keyword arguments or a dict");
        }
      }
      return EP_OK;
    case JF_RANGE: {
      long long v[3] = {0, 0, 1};
      if (n < 1 || n > 3) return jx_fail(c, e->line, EP_EINVAL, "range expects 1 to 3 integers");
      for (size_t i = 0; i < n; i++) {
        if (args[i].t != JV_INT) return jx_fail(c, e->line, EP_EINVAL, "range expects integers");
        v[n == 1 ? 1 : i] = args[i].u.i;
      }
      if (v[2] == 0) return jx_fail(c, e->line, EP_EINVAL, "range() arg 3 must not be zero");
      if (jv_new_list(c, out)) return c->rc;
      for (long long i = v[0]; v[2] > 0 ? i < v[1] : i > v[1]; i += v[2]) {
        if (out->u.l->n >= (size_t)EP_CHAT_MAX_ITERS) return jx_fail(c, e->line, EP_ERANGE, "range too large");
        if (jl_push(c, out->u.l, jv_int(i))) return c->rc;
      }
      return EP_OK;
    }
    default: return jx_fail(c, e->line, EP_EUNSUPPORTED, "function");
  }
}
