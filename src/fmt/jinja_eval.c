/* Jinja evaluator: expressions to values and statements to output, with
 * jinja2's scoping (each loop iteration and macro call gets a fresh frame;
 * namespace() objects carry state out of loops), default Undefined semantics
 * (prints as "", errors on attribute access or arithmetic) and the render
 * caps: loop iterations, macro depth, output and memory size. */
#include <math.h>
#include <string.h>

#include "base/err.h"
#include "fmt/chat_template.h"
#include "fmt/jinja_impl.h"

typedef struct { const char *name; jv v; } jvar;
struct jframe { jframe *up; jvar *v; size_t n, cap; };

static jv *lookup(jctx *c, const char *name) {
  for (jframe *f = c->scope; f; f = f->up)
    for (size_t i = f->n; i-- > 0;)
      if (!strcmp(f->v[i].name, name)) return &f->v[i].v;
  return NULL;
}

static int frame_set(jctx *c, jframe *f, const char *name, jv v) {
  for (size_t i = 0; i < f->n; i++)
    if (!strcmp(f->v[i].name, name)) { f->v[i].v = v; return EP_OK; }
  if (f->n == f->cap) {
    size_t nc = f->cap ? f->cap * 2 : 8;
    jvar *nv = jx_alloc(c, nc * sizeof *nv);
    if (!nv) return c->rc;
    if (f->n) memcpy(nv, f->v, f->n * sizeof *nv);
    f->v = nv;
    f->cap = nc;
  }
  f->v[f->n++] = (jvar){name, v};
  return EP_OK;
}

int jx_set_var(jctx *c, const char *name, jv v) { return frame_set(c, c->scope, name, v); }

jframe *jx_frame_new(jctx *c, jframe *up) {
  jframe *f = jx_alloc(c, sizeof *f);
  if (f) { memset(f, 0, sizeof *f); f->up = up; }
  return f;
}

static int undef_err(jctx *c, const jnode *e, jv v) {
  return jx_fail(c, e->line, EP_EINVAL, "'%s' is undefined", v.u.s.p ? v.u.s.p : "value");
}

/* ---- UTF-8 helpers: str indexing works on code points like Python ---------- */
static size_t u8_len(const char *p, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) k += ((unsigned char)p[i] & 0xC0) != 0x80;
  return k;
}
static size_t u8_off(const char *p, size_t n, size_t cp) { /* byte offset of code point cp */
  size_t i = 0;
  for (; i < n && cp; cp--) {
    i++;
    while (i < n && ((unsigned char)p[i] & 0xC0) == 0x80) i++;
  }
  return i;
}

/* Items of an iterable (list, dict keys, string chars); undefined is empty. */
int jx_iter_items(jctx *c, const jnode *e, jv v, jlist **out) {
  jv l;
  if (v.t == JV_LIST) { *out = v.u.l; return EP_OK; }
  if (v.t != JV_UNDEF && v.t != JV_DICT && v.t != JV_STR)
    return jx_fail(c, e->line, EP_EINVAL, "'%s' object is not iterable", jv_type_name(v));
  if (jv_new_list(c, &l)) return c->rc;
  if (v.t == JV_DICT) {
    for (size_t i = 0; i < v.u.d->n; i++) if (jl_push(c, l.u.l, v.u.d->k[i])) return c->rc;
  } else if (v.t == JV_STR) {
    const char *p = v.u.s.p;
    size_t n = v.u.s.n;
    for (size_t i = 0; i < n;) {
      size_t j = i + 1;
      while (j < n && ((unsigned char)p[j] & 0xC0) == 0x80) j++;
      if (jl_push(c, l.u.l, jv_strn(p + i, j - i))) return c->rc;
      i = j;
    }
  }
  *out = l.u.l;
  return EP_OK;
}

static int get_attr(jctx *c, const jnode *e, jv o, const char *name, jv *out) {
  *out = jv_undef(NULL);
  if (o.t == JV_UNDEF) return undef_err(c, e->a, o);
  if (o.t == JV_DICT || o.t == JV_NS) {
    jv *x = jd_get(o.u.d, name, strlen(name));
    if (x) *out = *x;
  } else if (o.t == JV_LOOP) {
    const jloop *L = o.u.loop;
    long long i = (long long)L->i, n = (long long)L->items->n;
    if (!strcmp(name, "index")) *out = jv_int(i + 1);
    else if (!strcmp(name, "index0")) *out = jv_int(i);
    else if (!strcmp(name, "revindex")) *out = jv_int(n - i);
    else if (!strcmp(name, "revindex0")) *out = jv_int(n - i - 1);
    else if (!strcmp(name, "first")) *out = jv_bool(i == 0);
    else if (!strcmp(name, "last")) *out = jv_bool(i == n - 1);
    else if (!strcmp(name, "length")) *out = jv_int(n);
    else if (!strcmp(name, "previtem")) { if (i > 0) *out = L->items->v[i - 1]; }
    else if (!strcmp(name, "nextitem")) { if (i + 1 < n) *out = L->items->v[i + 1]; }
    else if (!strcmp(name, "depth")) *out = jv_int(1);
    else if (!strcmp(name, "depth0")) *out = jv_int(0);
  }
  if (out->t == JV_UNDEF) out->u.s.p = name;
  return EP_OK;
}

static int get_item(jctx *c, const jnode *e, jv o, jv k, jv *out) {
  *out = jv_undef(NULL);
  if (o.t == JV_UNDEF) return undef_err(c, e->a, o);
  if (o.t == JV_DICT) {
    jv *x = jd_find(o.u.d, k);
    if (x) *out = *x;
  } else if (o.t == JV_NS || o.t == JV_LOOP) {
    if (k.t == JV_STR) {
      char name[64];
      if (k.u.s.n < sizeof name) {
        memcpy(name, k.u.s.p, k.u.s.n);
        name[k.u.s.n] = '\0';
        return get_attr(c, e, o, name, out);
      }
    }
  } else if ((o.t == JV_LIST || o.t == JV_STR) && (k.t == JV_INT || k.t == JV_BOOL)) {
    long long i = k.t == JV_INT ? k.u.i : k.u.b;
    long long n = o.t == JV_LIST ? (long long)o.u.l->n : (long long)u8_len(o.u.s.p, o.u.s.n);
    if (i < 0) i += n;
    if (i < 0 || i >= n) return EP_OK;
    if (o.t == JV_LIST) *out = o.u.l->v[i];
    else {
      size_t a = u8_off(o.u.s.p, o.u.s.n, (size_t)i), b = u8_off(o.u.s.p, o.u.s.n, (size_t)i + 1);
      *out = jv_strn(o.u.s.p + a, b - a);
    }
  }
  return EP_OK; /* like jinja2's getitem: anything else is undefined */
}

static int slice_bound(jctx *c, const jnode *e, jv v, long long dflt, long long *out) {
  if (v.t == JV_NONE || v.t == JV_UNDEF) { *out = dflt; return 0; }
  if (v.t != JV_INT && v.t != JV_BOOL) return jx_fail(c, e->line, EP_EINVAL, "slice indices must be integers");
  *out = v.t == JV_INT ? v.u.i : v.u.b;
  return 1;
}

static int eval_slice(jctx *c, const jnode *e, jv *out) {
  jv o, b[3] = {jv_none(), jv_none(), jv_none()};
  if (jeval(c, e->a, &o)) return c->rc;
  for (int k = 0; k < 3; k++) if (e->kids[k] && jeval(c, e->kids[k], &b[k])) return c->rc;
  if (o.t == JV_UNDEF) return undef_err(c, e->a, o);
  if (o.t != JV_LIST && o.t != JV_STR) { *out = jv_undef(NULL); return EP_OK; } /* jinja2: undefined */
  long long n = o.t == JV_LIST ? (long long)o.u.l->n : (long long)u8_len(o.u.s.p, o.u.s.n);
  long long step = 1, lo = 0, hi = 0;
  slice_bound(c, e, b[2], 1, &step);
  if (c->rc) return c->rc;
  if (step == 0) return jx_fail(c, e->line, EP_EINVAL, "slice step cannot be zero");
  int has_lo = slice_bound(c, e, b[0], 0, &lo), has_hi = slice_bound(c, e, b[1], 0, &hi);
  if (c->rc) return c->rc;
  /* Python's PySlice_AdjustIndices */
  if (!has_lo) lo = step < 0 ? n - 1 : 0;
  else { if (lo < 0) lo += n; if (lo < 0) lo = step < 0 ? -1 : 0; if (lo >= n) lo = step < 0 ? n - 1 : n; }
  if (!has_hi) hi = step < 0 ? -1 : n;
  else { if (hi < 0) hi += n; if (hi < 0) hi = step < 0 ? -1 : 0; if (hi >= n) hi = step < 0 ? n - 1 : n; }
  jv r;
  if (jv_new_list(c, &r)) return c->rc;
  ep_buf sb = EP_BUF_INIT;
  for (long long i = lo; step > 0 ? i < hi : i > hi; i += step) {
    if (o.t == JV_LIST) {
      if (jl_push(c, r.u.l, o.u.l->v[i])) return c->rc;
    } else {
      size_t a = u8_off(o.u.s.p, o.u.s.n, (size_t)i), z = u8_off(o.u.s.p, o.u.s.n, (size_t)i + 1);
      if (ep_buf_append(&sb, o.u.s.p + a, z - a)) { ep_buf_free(&sb); return jx_fail(c, e->line, EP_ENOMEM, "out of memory"); }
    }
  }
  if (o.t == JV_STR) {
    int rc = jv_str_copy(c, ep_buf_cstr(&sb), sb.len, &r);
    ep_buf_free(&sb);
    if (rc) return rc;
  }
  *out = r;
  return EP_OK;
}

static int eval_args(jctx *c, const jnode *e, jv **args) {
  *args = NULL;
  if (!e->n) return EP_OK;
  if (!(*args = jx_alloc(c, e->n * sizeof **args))) return c->rc;
  for (size_t i = 0; i < e->n; i++)
    if (jeval(c, e->kids[i], &(*args)[i])) return c->rc;
  return EP_OK;
}

static int eval_call(jctx *c, const jnode *e, jv *out) {
  jv *args, callee;
  if (e->a->k == JN_ATTR) {
    jv o;
    if (jeval(c, e->a->a, &o)) return c->rc;
    if (o.t == JV_STR || o.t == JV_LIST || o.t == JV_DICT) {
      if (eval_args(c, e, &args)) return c->rc;
      return jb_method(c, e, o, e->a->name, args, e->kw, e->n, out);
    }
    if (get_attr(c, e->a, o, e->a->name, &callee)) return c->rc;
  } else if (jeval(c, e->a, &callee)) {
    return c->rc;
  }
  if (callee.t == JV_UNDEF) return undef_err(c, e, callee);
  if (eval_args(c, e, &args)) return c->rc;
  if (callee.t == JV_FUNC) return jb_func(c, e, callee.u.func, args, e->kw, e->n, out);
  if (callee.t == JV_MACRO) return jx_call_macro(c, e, callee, args, e->kw, e->n, out);
  return jx_fail(c, e->line, EP_EINVAL, "'%s' object is not callable", jv_type_name(callee));
}

static int binop_err(jctx *c, const jnode *e, const char *op, jv a, jv b) {
  if (a.t == JV_UNDEF) return undef_err(c, e->a, a);
  if (b.t == JV_UNDEF) return undef_err(c, e->b, b);
  return jx_fail(c, e->line, EP_EINVAL, "unsupported operand type(s) for %s: '%s' and '%s'", op, jv_type_name(a),
                 jv_type_name(b));
}

static int repeat(jctx *c, const jnode *e, jv seq, long long times, jv *out) {
  if (times < 0) times = 0;
  if (seq.t == JV_STR) {
    if (times && seq.u.s.n && (unsigned long long)times > EP_CHAT_MAX_OUTPUT / seq.u.s.n) return jv_check_size(c, (size_t)-1);
    size_t n = seq.u.s.n * (size_t)times;
    char *p = jx_alloc(c, n + 1);
    if (!p) return c->rc;
    for (long long i = 0; i < times; i++) memcpy(p + (size_t)i * seq.u.s.n, seq.u.s.p, seq.u.s.n);
    p[n] = '\0';
    *out = jv_strn(p, n);
    return EP_OK;
  }
  if (jv_new_list(c, out)) return c->rc;
  if (times && seq.u.l->n && (unsigned long long)times > EP_CHAT_MAX_ITERS / seq.u.l->n)
    return jx_fail(c, e->line, EP_ETOOBIG, "list repetition too large");
  for (long long i = 0; i < times; i++)
    for (size_t k = 0; k < seq.u.l->n; k++) if (jl_push(c, out->u.l, seq.u.l->v[k])) return c->rc;
  return EP_OK;
}

static int eval_bin(jctx *c, const jnode *e, jv *out) {
  jv a, b;
  if (jeval(c, e->a, &a) || jeval(c, e->b, &b)) return c->rc;
  int op = e->op;
  if (op == '~') {
    ep_buf s = EP_BUF_INIT;
    int rc = jv_write_str(c, &s, a);
    if (!rc) rc = jv_write_str(c, &s, b);
    if (!rc) rc = jv_str_copy(c, ep_buf_cstr(&s), s.len, out);
    ep_buf_free(&s);
    return rc;
  }
  const char *opname = op == '+' ? "+" : op == '-' ? "-" : op == '*' ? "*" : op == '/' ? "/" : op == '%' ? "%" : op == JOP_POW ? "**" : "//";
  if (op == '+' && a.t == JV_STR && b.t == JV_STR) {
    if (jv_check_size(c, a.u.s.n + b.u.s.n)) return c->rc;
    char *p = jx_alloc(c, a.u.s.n + b.u.s.n + 1);
    if (!p) return c->rc;
    memcpy(p, a.u.s.p, a.u.s.n);
    memcpy(p + a.u.s.n, b.u.s.p, b.u.s.n);
    p[a.u.s.n + b.u.s.n] = '\0';
    *out = jv_strn(p, a.u.s.n + b.u.s.n);
    return EP_OK;
  }
  if (op == '+' && a.t == JV_LIST && b.t == JV_LIST) {
    if (jv_new_list(c, out)) return c->rc;
    for (size_t i = 0; i < a.u.l->n; i++) if (jl_push(c, out->u.l, a.u.l->v[i])) return c->rc;
    for (size_t i = 0; i < b.u.l->n; i++) if (jl_push(c, out->u.l, b.u.l->v[i])) return c->rc;
    return EP_OK;
  }
  if (op == '*' && (a.t == JV_STR || a.t == JV_LIST) && (b.t == JV_INT || b.t == JV_BOOL)) return repeat(c, e, a, b.t == JV_INT ? b.u.i : b.u.b, out);
  if (op == '*' && (b.t == JV_STR || b.t == JV_LIST) && (a.t == JV_INT || a.t == JV_BOOL)) return repeat(c, e, b, a.t == JV_INT ? a.u.i : a.u.b, out);
  if (!jv_is_num(a) || !jv_is_num(b)) return binop_err(c, e, opname, a, b);
  if (a.t != JV_FLOAT && b.t != JV_FLOAT && op != '/') {
    long long x = a.t == JV_INT ? a.u.i : a.u.b, y = b.t == JV_INT ? b.u.i : b.u.b, r;
    switch (op) {
      case '+': if (__builtin_add_overflow(x, y, &r)) goto ovf; break;
      case '-': if (__builtin_sub_overflow(x, y, &r)) goto ovf; break;
      case '*': if (__builtin_mul_overflow(x, y, &r)) goto ovf; break;
      case '%': case JOP_FLOORDIV:
        if (y == 0) return jx_fail(c, e->line, EP_EINVAL, "integer division or modulo by zero");
        if (x == -0x7fffffffffffffffLL - 1 && y == -1) goto ovf;
        r = op == '%' ? x % y : x / y;
        if (op == '%' && r != 0 && ((r < 0) != (y < 0))) r += y;
        if (op == JOP_FLOORDIV && (x % y != 0) && ((x < 0) != (y < 0))) r -= 1;
        break;
      default: /* ** */
        if (y < 0) { *out = jv_float(pow((double)x, (double)y)); return EP_OK; }
        r = 1;
        for (long long i = 0; i < y; i++) {
          if (__builtin_mul_overflow(r, x, &r)) goto ovf;
          if (r == 0 || r == 1) break;
        }
        if (r == -1 && (y % 2 == 0)) r = 1;
    }
    *out = jv_int(r);
    return EP_OK;
  ovf:
    return jx_fail(c, e->line, EP_ERANGE, "integer overflow");
  }
  double x = jv_num(a), y = jv_num(b), r;
  switch (op) {
    case '+': r = x + y; break;
    case '-': r = x - y; break;
    case '*': r = x * y; break;
    case JOP_POW: r = pow(x, y); break;
    default:
      if (y == 0) return jx_fail(c, e->line, EP_EINVAL, "division by zero");
      if (op == '/') r = x / y;
      else if (op == JOP_FLOORDIV) r = floor(x / y);
      else { r = fmod(x, y); if (r != 0 && ((r < 0) != (y < 0))) r += y; }
  }
  *out = jv_float(r);
  return EP_OK;
}

static int compare(jctx *c, const jnode *e, int op, jv a, jv b, int *res) {
  if (op == JOP_EQ || op == JOP_NE) { *res = jv_eq(a, b) == (op == JOP_EQ); return EP_OK; }
  if (op == 'i' || op == 'n') {
    int in = 0;
    if (b.t == JV_STR) {
      if (a.t != JV_STR) return jx_fail(c, e->line, EP_EINVAL, "'in <string>' requires string as left operand");
      in = a.u.s.n == 0 || memmem(b.u.s.p, b.u.s.n, a.u.s.p, a.u.s.n) != NULL;
    } else if (b.t == JV_LIST) {
      for (size_t i = 0; i < b.u.l->n && !in; i++) in = jv_eq(a, b.u.l->v[i]);
    } else if (b.t == JV_DICT || b.t == JV_NS) {
      in = jd_find(b.u.d, a) != NULL;
    } else if (b.t != JV_UNDEF) {
      return jx_fail(c, e->line, EP_EINVAL, "argument of type '%s' is not iterable", jv_type_name(b));
    }
    *res = in == (op == 'i');
    return EP_OK;
  }
  int cmp;
  if (jv_is_num(a) && jv_is_num(b)) {
    double x = jv_num(a), y = jv_num(b);
    cmp = x < y ? -1 : x > y ? 1 : 0;
  } else if (a.t == JV_STR && b.t == JV_STR) {
    size_t n = a.u.s.n < b.u.s.n ? a.u.s.n : b.u.s.n;
    cmp = memcmp(a.u.s.p, b.u.s.p, n);
    if (!cmp) cmp = a.u.s.n < b.u.s.n ? -1 : a.u.s.n > b.u.s.n;
  } else if (a.t == JV_LIST && b.t == JV_LIST) { /* lexicographic, like Python */
    size_t i = 0;
    while (i < a.u.l->n && i < b.u.l->n && jv_eq(a.u.l->v[i], b.u.l->v[i])) i++;
    if (i < a.u.l->n && i < b.u.l->n) return compare(c, e, op, a.u.l->v[i], b.u.l->v[i], res);
    cmp = a.u.l->n < b.u.l->n ? -1 : a.u.l->n > b.u.l->n;
  } else {
    if (a.t == JV_UNDEF) return undef_err(c, e, a);
    if (b.t == JV_UNDEF) return undef_err(c, e, b);
    return jx_fail(c, e->line, EP_EINVAL, "comparison not supported between '%s' and '%s'", jv_type_name(a), jv_type_name(b));
  }
  *res = op == '<' ? cmp < 0 : op == '>' ? cmp > 0 : op == JOP_LE ? cmp <= 0 : cmp >= 0;
  return EP_OK;
}

int jeval(jctx *c, const jnode *e, jv *out) {
  jv a, b;
  int r;
  switch (e->k) {
    case JN_LIT: *out = e->lit; return EP_OK;
    case JN_NAME: {
      jv *x = lookup(c, e->name);
      *out = x ? *x : jv_undef(e->name);
      return EP_OK;
    }
    case JN_LIST: case JN_TUPLE:
      if (jv_new_list(c, out)) return c->rc;
      out->u.l->tuple = e->k == JN_TUPLE;
      for (size_t i = 0; i < e->n; i++)
        if (jeval(c, e->kids[i], &a) || jl_push(c, out->u.l, a)) return c->rc;
      return EP_OK;
    case JN_DICT:
      if (jv_new_dict(c, out)) return c->rc;
      for (size_t i = 0; i + 1 < e->n; i += 2)
        if (jeval(c, e->kids[i], &a) || jeval(c, e->kids[i + 1], &b) || jd_set(c, out->u.d, a, b)) return c->rc;
      return EP_OK;
    case JN_ATTR:
      if (jeval(c, e->a, &a)) return c->rc;
      return get_attr(c, e, a, e->name, out);
    case JN_ITEM:
      if (jeval(c, e->a, &a) || jeval(c, e->b, &b)) return c->rc;
      return get_item(c, e, a, b, out);
    case JN_SLICE: return eval_slice(c, e, out);
    case JN_CALL: return eval_call(c, e, out);
    case JN_FILTER: {
      jv *args;
      if (jeval(c, e->a, &a) || eval_args(c, e, &args)) return c->rc;
      return jb_filter(c, e, a, args, e->kw, e->n, out);
    }
    case JN_TEST: {
      jv *args;
      if (jeval(c, e->a, &a) || eval_args(c, e, &args) || jb_test(c, e, a, args, e->n, &r)) return c->rc;
      *out = jv_bool(r != e->op);
      return EP_OK;
    }
    case JN_NEG: case JN_POS:
      if (jeval(c, e->a, &a)) return c->rc;
      if (a.t == JV_UNDEF) return undef_err(c, e->a, a);
      if (!jv_is_num(a)) return jx_fail(c, e->line, EP_EINVAL, "bad operand type for unary %c: '%s'", e->k == JN_NEG ? '-' : '+', jv_type_name(a));
      if (e->k == JN_POS) *out = a.t == JV_BOOL ? jv_int(a.u.b) : a;
      else if (a.t == JV_FLOAT) *out = jv_float(-a.u.f);
      else if (a.t == JV_INT && a.u.i == -0x7fffffffffffffffLL - 1) return jx_fail(c, e->line, EP_ERANGE, "integer overflow");
      else *out = jv_int(a.t == JV_INT ? -a.u.i : -a.u.b);
      return EP_OK;
    case JN_NOT:
      if (jeval(c, e->a, &a)) return c->rc;
      *out = jv_bool(!jv_truthy(a));
      return EP_OK;
    case JN_AND: case JN_OR:
      if (jeval(c, e->a, &a)) return c->rc;
      if (jv_truthy(a) == (e->k == JN_OR)) { *out = a; return EP_OK; }
      return jeval(c, e->b, out);
    case JN_BIN: return eval_bin(c, e, out);
    case JN_CMP:
      if (jeval(c, e->kids[0], &a)) return c->rc;
      for (size_t i = 1; i < e->n; i++) {
        if (jeval(c, e->kids[i], &b) || compare(c, e, e->ops[i - 1], a, b, &r)) return c->rc;
        if (!r) { *out = jv_bool(0); return EP_OK; }
        a = b;
      }
      *out = jv_bool(1);
      return EP_OK;
    case JN_COND:
      if (jeval(c, e->a, &a)) return c->rc;
      if (jv_truthy(a)) return jeval(c, e->b, out);
      if (e->c) return jeval(c, e->c, out);
      *out = jv_undef(NULL);
      return EP_OK;
    default:
      return jx_fail(c, e->line, EP_EUNSUPPORTED, "statement used as an expression");
  }
}

/* ---- statements ------------------------------------------------------------- */

static int exec_for(jctx *c, const jnode *s) {
  jv it;
  jlist *src, *items;
  if (jeval(c, s->a, &it) || jx_iter_items(c, s->a, it, &src)) return c->rc;
  jframe *f = jx_frame_new(c, c->scope);
  if (!f) return c->rc;
  jframe *saved = c->scope;
  int rc = EP_OK;
  items = src;
  if (s->b) { /* `for x in y if cond`: filter first so loop.length counts kept items */
    jv l;
    if (jv_new_list(c, &l)) return c->rc;
    items = l.u.l;
    c->scope = f;
    for (size_t i = 0; i < src->n && !rc; i++) {
      jv cond;
      f->n = 0;
      if (++c->iters > EP_CHAT_MAX_ITERS) rc = jx_fail(c, s->line, EP_ERANGE, "too many loop iterations (limit %ld)", EP_CHAT_MAX_ITERS);
      if (!rc) rc = frame_set(c, f, s->name, src->v[i]);
      if (!rc && s->name2) {
        jv x = src->v[i];
        if (x.t != JV_LIST || x.u.l->n != 2) rc = jx_fail(c, s->line, EP_EINVAL, "cannot unpack loop item into 2 names");
        else if (!(rc = frame_set(c, f, s->name, x.u.l->v[0]))) rc = frame_set(c, f, s->name2, x.u.l->v[1]);
      }
      if (!rc) rc = jeval(c, s->b, &cond);
      if (!rc && jv_truthy(cond)) rc = jl_push(c, items, src->v[i]);
    }
    c->scope = saved;
    if (rc) return rc;
  }
  jloop *L = jx_alloc(c, sizeof *L);
  if (!L) return c->rc;
  L->items = items;
  jv loopv = {.t = JV_LOOP};
  loopv.u.loop = L;
  c->scope = f;
  for (size_t i = 0; i < items->n && !rc; i++) {
    f->n = 0; /* fresh scope each iteration, like jinja2 */
    L->i = i;
    if (++c->iters > EP_CHAT_MAX_ITERS) { rc = jx_fail(c, s->line, EP_ERANGE, "too many loop iterations (limit %ld)", EP_CHAT_MAX_ITERS); break; }
    jv x = items->v[i];
    if (s->name2) {
      if (x.t != JV_LIST || x.u.l->n != 2) { rc = jx_fail(c, s->line, EP_EINVAL, "cannot unpack loop item into 2 names"); break; }
      if (!(rc = frame_set(c, f, s->name, x.u.l->v[0]))) rc = frame_set(c, f, s->name2, x.u.l->v[1]);
    } else {
      rc = frame_set(c, f, s->name, x);
    }
    if (!rc) rc = frame_set(c, f, "loop", loopv);
    if (!rc) rc = jexec(c, s->body, s->nbody);
    if (c->ctl == 1) { c->ctl = 0; break; }
    c->ctl = 0;
  }
  c->scope = saved;
  if (!rc && items->n == 0 && s->norelse) rc = jexec(c, s->orelse, s->norelse);
  return rc ? rc : c->rc;
}

static int capture(jctx *c, jnode *const *body, size_t n, jv *out) {
  ep_buf tmp = EP_BUF_INIT, *saved = c->out;
  c->out = &tmp;
  int rc = jexec(c, body, n);
  c->out = saved;
  if (!rc) rc = jv_str_copy(c, ep_buf_cstr(&tmp), tmp.len, out);
  ep_buf_free(&tmp);
  return rc;
}

int jx_call_macro(jctx *c, const jnode *call, jv macro, jv *args, const char **kw, size_t n, jv *out) {
  const jnode *m = macro.u.macro;
  if (c->depth >= EP_CHAT_MAX_CALL_DEPTH)
    return jx_fail(c, call->line, EP_ERANGE, "macro recursion too deep (limit %d)", EP_CHAT_MAX_CALL_DEPTH);
  jframe *f = jx_frame_new(c, c->top), *saved = c->scope;
  if (!f) return c->rc;
  size_t npos = 0;
  for (size_t i = 0; i < n; i++) if (!kw || !kw[i]) npos++;
  if (npos > m->n) return jx_fail(c, call->line, EP_EINVAL, "macro '%s' takes not more than %zu argument(s)", m->name, m->n);
  c->scope = f;
  int rc = EP_OK;
  for (size_t p = 0; p < m->n && !rc; p++) {
    const jnode *param = m->kids[p];
    jv v = jv_undef(param->name);
    int got = 0;
    size_t seen = 0;
    for (size_t i = 0; i < n && !got; i++) {
      if (kw && kw[i]) {
        if (!strcmp(kw[i], param->name)) { v = args[i]; got = 1; }
      } else if (seen++ == p) {
        v = args[i];
        got = 1;
      }
    }
    if (!got && param->a) rc = jeval(c, param->a, &v);
    if (!rc) rc = frame_set(c, f, param->name, v);
  }
  c->depth++;
  if (!rc) rc = capture(c, m->body, m->nbody, out);
  c->depth--;
  c->scope = saved;
  return rc;
}

int jexec(jctx *c, jnode *const *body, size_t n) {
  for (size_t i = 0; i < n && !c->ctl; i++) {
    const jnode *s = body[i];
    jv v;
    c->line = s->line;
    switch (s->k) {
      case JN_TEXT:
        if (c->out->len + s->lit.u.s.n > EP_CHAT_MAX_OUTPUT)
          return jx_fail(c, s->line, EP_ETOOBIG, "output larger than %u bytes", (unsigned)EP_CHAT_MAX_OUTPUT);
        if (ep_buf_append(c->out, s->lit.u.s.p, s->lit.u.s.n)) return jx_fail(c, s->line, EP_ENOMEM, "out of memory");
        break;
      case JN_OUT:
        if (jeval(c, s->a, &v) || jv_write_str(c, c->out, v)) return c->rc;
        break;
      case JN_IF:
        if (jeval(c, s->a, &v)) return c->rc;
        if (jv_truthy(v) ? jexec(c, s->body, s->nbody) : jexec(c, s->orelse, s->norelse)) return c->rc;
        break;
      case JN_FOR:
        if (exec_for(c, s)) return c->rc;
        break;
      case JN_SET:
        if (jeval(c, s->a, &v)) return c->rc;
        if (s->name2) {
          jv *ns = lookup(c, s->name);
          if (!ns || ns->t != JV_NS)
            return jx_fail(c, s->line, EP_EINVAL, "cannot assign attribute on non-namespace object '%s'", s->name);
          if (jd_set(c, ns->u.d, jv_strn(s->name2, strlen(s->name2)), v)) return c->rc;
        } else if (jx_set_var(c, s->name, v)) {
          return c->rc;
        }
        break;
      case JN_SETBLOCK:
        if (capture(c, s->body, s->nbody, &v) || jx_set_var(c, s->name, v)) return c->rc;
        break;
      case JN_MACRO:
        v.t = JV_MACRO;
        v.u.macro = s;
        if (jx_set_var(c, s->name, v)) return c->rc;
        break;
      case JN_BREAK: c->ctl = 1; break;
      case JN_CONTINUE: c->ctl = 2; break;
      default: return jx_fail(c, s->line, EP_EUNSUPPORTED, "expression used as a statement");
    }
  }
  return c->rc;
}
