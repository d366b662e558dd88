/* Jinja parser: recursive descent from tokens to an AST with jinja2's
 * operator precedence (condexpr < or < and < not < compare < +,- < ~ <
 * *,/,//,% < ** < unary < filters/tests/postfix). Statements: if/elif/else,
 * for (with `if` filter and else), set (incl. ns.attr and block set), macro,
 * break/continue, generation. Nesting is capped (EP_CHAT_MAX_NEST). */
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "fmt/chat_template.h"
#include "fmt/jinja_impl.h"

typedef struct {
  ep_arena *ar;
  const jtok *t;
  size_t i, n;
  int depth;
  char *err;
  size_t errsz;
} parser;

typedef struct { jnode **v; size_t n, cap; } nvec;

static int pfail(parser *P, int rc, const char *fmt, const char *arg) {
  char msg[160];
  snprintf(msg, sizeof msg, fmt, arg ? arg : "");
  snprintf(P->err, P->errsz, "template %s at line %d: %s", rc == EP_EUNSUPPORTED ? "unsupported" : "syntax error",
           P->t[P->i].line, msg);
  return rc;
}

static const jtok *peek(parser *P) { return &P->t[P->i]; }
static int is_op(parser *P, int op) { return peek(P)->t == JT_OP && peek(P)->op == op; }
static int tok_is_name(const jtok *t, const char *s) { return t->t == JT_NAME && t->n == strlen(s) && !memcmp(t->p, s, t->n); }
static int is_name(parser *P, const char *s) { return tok_is_name(peek(P), s); }
static int skip_op(parser *P, int op) { if (is_op(P, op)) { P->i++; return 1; } return 0; }
static int skip_name(parser *P, const char *s) { if (is_name(P, s)) { P->i++; return 1; } return 0; }

static int expect_op(parser *P, int op) {
  if (skip_op(P, op)) return EP_OK;
  char s[2] = {(char)op, 0};
  return pfail(P, EP_EPARSE, "expected '%s'", s);
}
static int expect_end(parser *P) {
  if (peek(P)->t == JT_END) { P->i++; return EP_OK; }
  return pfail(P, EP_EPARSE, "expected end of tag%s", NULL);
}

static jnode *mk(parser *P, jnode_kind k) {
  jnode *n = ep_arena_calloc(P->ar, sizeof *n);
  if (n) { n->k = k; n->line = peek(P)->line; }
  return n;
}
#define MK(var, kind) do { if (!((var) = mk(P, (kind)))) return EP_ENOMEM; } while (0)

static int nv_push(parser *P, nvec *v, jnode *x) {
  if (v->n == v->cap) {
    size_t nc = v->cap ? v->cap * 2 : 4;
    jnode **nn = ep_arena_alloc(P->ar, nc * sizeof *nn);
    if (!nn) return EP_ENOMEM;
    if (v->n) memcpy(nn, v->v, v->n * sizeof *nn);
    v->v = nn;
    v->cap = nc;
  }
  v->v[v->n++] = x;
  return EP_OK;
}

static int take_name(parser *P, const char **out) {
  if (peek(P)->t != JT_NAME) return pfail(P, EP_EPARSE, "expected a name%s", NULL);
  if (!(*out = ep_arena_strndup(P->ar, peek(P)->p, peek(P)->n))) return EP_ENOMEM;
  P->i++;
  return EP_OK;
}

static int parse_expr(parser *P, jnode **out);
static int parse_or(parser *P, jnode **out);
static int parse_unary(parser *P, jnode **out, int with_filter);
static int parse_primary(parser *P, jnode **out);

static int enter(parser *P) {
  if (++P->depth > EP_CHAT_MAX_NEST) return pfail(P, EP_ERANGE, "nesting too deep%s", NULL);
  return EP_OK;
}

/* Call arguments after '(' up to ')': positional and name=value. */
static int parse_args(parser *P, jnode *n) {
  nvec a = {0};
  const char *kws[64];
  int rc;
  while (!skip_op(P, ')')) {
    if (a.n && (rc = expect_op(P, ','))) return rc;
    if (skip_op(P, ')')) break;
    if (a.n >= 64) return pfail(P, EP_EUNSUPPORTED, "too many arguments%s", NULL);
    const char *kw = NULL;
    if (peek(P)->t == JT_NAME && P->t[P->i + 1].t == JT_OP && P->t[P->i + 1].op == '=') {
      if ((rc = take_name(P, &kw))) return rc;
      P->i++;
    }
    jnode *x;
    if ((rc = parse_expr(P, &x)) || (rc = nv_push(P, &a, x))) return rc;
    kws[a.n - 1] = kw;
  }
  n->kids = a.v;
  n->n = a.n;
  if (a.n) {
    if (!(n->kw = ep_arena_alloc(P->ar, a.n * sizeof *n->kw))) return EP_ENOMEM;
    memcpy(n->kw, kws, a.n * sizeof *kws);
  }
  return EP_OK;
}

static int parse_postfix(parser *P, jnode **io) {
  int rc;
  for (;;) {
    jnode *n;
    if (skip_op(P, '.')) {
      if (peek(P)->t == JT_INT) {
        MK(n, JN_ITEM);
        MK(n->b, JN_LIT);
        n->b->lit = jv_int(peek(P)->i);
        P->i++;
      } else {
        MK(n, JN_ATTR);
        if ((rc = take_name(P, &n->name))) return rc;
      }
      n->a = *io;
    } else if (skip_op(P, '[')) {
      jnode *parts[3] = {0};
      int k = 0, slice = 0;
      for (;;) {
        if (!is_op(P, ':') && !is_op(P, ']') && (rc = parse_expr(P, &parts[k]))) return rc;
        if (skip_op(P, ':')) {
          slice = 1;
          if (++k > 2) return pfail(P, EP_EPARSE, "bad slice%s", NULL);
          continue;
        }
        break;
      }
      if ((rc = expect_op(P, ']'))) return rc;
      if (slice) {
        MK(n, JN_SLICE);
        if (!(n->kids = ep_arena_calloc(P->ar, 3 * sizeof *n->kids))) return EP_ENOMEM;
        memcpy(n->kids, parts, sizeof parts);
        n->n = 3;
      } else {
        if (!parts[0]) return pfail(P, EP_EPARSE, "empty subscript%s", NULL);
        MK(n, JN_ITEM);
        n->b = parts[0];
      }
      n->a = *io;
    } else if (skip_op(P, '(')) {
      MK(n, JN_CALL);
      n->a = *io;
      if ((rc = parse_args(P, n))) return rc;
    } else {
      return EP_OK;
    }
    *io = n;
  }
}

static int starts_primary(parser *P) {
  const jtok *t = peek(P);
  if (t->t == JT_STR || t->t == JT_INT || t->t == JT_FLOAT) return 1;
  if (t->t == JT_OP) return t->op == '(' || t->op == '[' || t->op == '{';
  return t->t == JT_NAME && !tok_is_name(t, "else") && !tok_is_name(t, "or") && !tok_is_name(t, "and");
}

static int parse_filters(parser *P, jnode **io) {
  int rc;
  for (;;) {
    jnode *n;
    if (skip_op(P, '|')) {
      MK(n, JN_FILTER);
      if ((rc = take_name(P, &n->name))) return rc;
      if (skip_op(P, '(') && (rc = parse_args(P, n))) return rc;
    } else if (skip_name(P, "is")) {
      MK(n, JN_TEST);
      n->op = skip_name(P, "not");
      if ((rc = take_name(P, &n->name))) return rc;
      if (skip_op(P, '(')) {
        if ((rc = parse_args(P, n))) return rc;
      } else if (starts_primary(P)) {
        jnode *arg;
        if ((rc = parse_primary(P, &arg)) || (rc = parse_postfix(P, &arg))) return rc;
        if (!(n->kids = ep_arena_alloc(P->ar, sizeof *n->kids))) return EP_ENOMEM;
        n->kids[0] = arg;
        n->n = 1;
      }
    } else if (skip_op(P, '(')) {
      MK(n, JN_CALL);
      if ((rc = parse_args(P, n))) return rc;
    } else {
      return EP_OK;
    }
    n->a = *io;
    *io = n;
  }
}

static int parse_seq(parser *P, jnode *n, int close, int dict) {
  nvec v = {0};
  int rc;
  while (!skip_op(P, close)) {
    if (v.n && (rc = expect_op(P, ','))) return rc;
    if (skip_op(P, close)) break;
    jnode *x;
    if ((rc = parse_expr(P, &x)) || (rc = nv_push(P, &v, x))) return rc;
    if (dict) {
      if ((rc = expect_op(P, ':')) || (rc = parse_expr(P, &x)) || (rc = nv_push(P, &v, x))) return rc;
    }
  }
  n->kids = v.v;
  n->n = v.n;
  return EP_OK;
}

static int parse_primary(parser *P, jnode **out) {
  const jtok *t = peek(P);
  jnode *n;
  int rc;
  if (t->t == JT_NAME) {
    MK(n, JN_LIT);
    if (tok_is_name(t, "true") || tok_is_name(t, "True")) n->lit = jv_bool(1);
    else if (tok_is_name(t, "false") || tok_is_name(t, "False")) n->lit = jv_bool(0);
    else if (tok_is_name(t, "none") || tok_is_name(t, "None")) n->lit = jv_none();
    else {
      n->k = JN_NAME;
      return (rc = take_name(P, &n->name)) ? rc : (*out = n, EP_OK);
    }
    P->i++;
  } else if (t->t == JT_STR) {
    MK(n, JN_LIT);
    const char *p = t->p;
    size_t len = t->n;
    P->i++;
    while (peek(P)->t == JT_STR) { /* adjacent literals concatenate */
      char *c = ep_arena_alloc(P->ar, len + peek(P)->n + 1);
      if (!c) return EP_ENOMEM;
      memcpy(c, p, len);
      memcpy(c + len, peek(P)->p, peek(P)->n);
      len += peek(P)->n;
      c[len] = '\0';
      p = c;
      P->i++;
    }
    n->lit = jv_strn(p, len);
  } else if (t->t == JT_INT || t->t == JT_FLOAT) {
    MK(n, JN_LIT);
    n->lit = t->t == JT_INT ? jv_int(t->i) : jv_float(t->f);
    P->i++;
  } else if (skip_op(P, '(')) {
    if (skip_op(P, ')')) {
      MK(n, JN_TUPLE);
    } else {
      if ((rc = parse_expr(P, &n))) return rc;
      if (is_op(P, ',')) {
        jnode *tup;
        MK(tup, JN_TUPLE);
        nvec v = {0};
        if ((rc = nv_push(P, &v, n))) return rc;
        while (skip_op(P, ',') && !is_op(P, ')')) {
          jnode *x;
          if ((rc = parse_expr(P, &x)) || (rc = nv_push(P, &v, x))) return rc;
        }
        tup->kids = v.v;
        tup->n = v.n;
        n = tup;
      }
      if ((rc = expect_op(P, ')'))) return rc;
    }
  } else if (skip_op(P, '[')) {
    MK(n, JN_LIST);
    if ((rc = parse_seq(P, n, ']', 0))) return rc;
  } else if (skip_op(P, '{')) {
    MK(n, JN_DICT);
    if ((rc = parse_seq(P, n, '}', 1))) return rc;
  } else {
    return pfail(P, EP_EPARSE, "unexpected %s", t->t == JT_END ? "end of tag" : t->t == JT_OP ? "operator" : "token");
  }
  *out = n;
  return EP_OK;
}

static int parse_unary(parser *P, jnode **out, int with_filter) {
  int rc;
  if ((rc = enter(P))) return rc;
  jnode *n;
  if (is_op(P, '-') || is_op(P, '+')) {
    MK(n, is_op(P, '-') ? JN_NEG : JN_POS);
    P->i++;
    if ((rc = parse_unary(P, &n->a, 0))) return rc;
  } else if ((rc = parse_primary(P, &n)) || (rc = parse_postfix(P, &n))) {
    return rc;
  }
  if (with_filter && (rc = parse_filters(P, &n))) return rc;
  P->depth--;
  *out = n;
  return EP_OK;
}

typedef int (*subparse)(parser *, jnode **);
static int bin_level(parser *P, jnode **out, subparse sub, const int *ops) {
  int rc;
  if ((rc = sub(P, out))) return rc;
  for (;;) {
    int hit = 0;
    for (const int *o = ops; *o; o++) if (is_op(P, *o)) hit = *o;
    if (!hit) return EP_OK;
    jnode *n;
    MK(n, JN_BIN);
    P->i++;
    n->op = hit;
    n->a = *out;
    if ((rc = sub(P, &n->b))) return rc;
    *out = n;
  }
}
static int parse_unary_f(parser *P, jnode **out) { return parse_unary(P, out, 1); }
static int parse_pow(parser *P, jnode **out) { static const int o[] = {JOP_POW, 0}; return bin_level(P, out, parse_unary_f, o); }
static int parse_math2(parser *P, jnode **out) { static const int o[] = {'*', '/', JOP_FLOORDIV, '%', 0}; return bin_level(P, out, parse_pow, o); }
static int parse_concat(parser *P, jnode **out) { static const int o[] = {'~', 0}; return bin_level(P, out, parse_math2, o); }
static int parse_math1(parser *P, jnode **out) { static const int o[] = {'+', '-', 0}; return bin_level(P, out, parse_concat, o); }

static int parse_compare(parser *P, jnode **out) {
  int rc;
  jnode *first;
  if ((rc = parse_math1(P, &first))) return rc;
  nvec v = {0};
  int ops[32], nops = 0;
  for (;;) {
    int op = 0;
    const jtok *t = peek(P);
    if (t->t == JT_OP && (t->op == JOP_EQ || t->op == JOP_NE || t->op == '<' || t->op == '>' || t->op == JOP_LE ||
                          t->op == JOP_GE)) {
      op = t->op;
      P->i++;
    } else if (skip_name(P, "in")) {
      op = 'i';
    } else if (is_name(P, "not") && tok_is_name(&P->t[P->i + 1], "in")) {
      op = 'n';
      P->i += 2;
    } else {
      break;
    }
    if (nops == 31) return pfail(P, EP_EUNSUPPORTED, "comparison chain too long%s", NULL);
    if (!v.n && (rc = nv_push(P, &v, first))) return rc;
    jnode *x;
    if ((rc = parse_math1(P, &x)) || (rc = nv_push(P, &v, x))) return rc;
    ops[nops++] = op;
  }
  if (!nops) { *out = first; return EP_OK; }
  jnode *n;
  MK(n, JN_CMP);
  n->kids = v.v;
  n->n = v.n;
  if (!(n->ops = ep_arena_alloc(P->ar, (size_t)nops * sizeof *n->ops))) return EP_ENOMEM;
  memcpy(n->ops, ops, (size_t)nops * sizeof *ops);
  *out = n;
  return EP_OK;
}

static int parse_not(parser *P, jnode **out) {
  if (is_name(P, "not")) {
    int rc;
    jnode *n;
    MK(n, JN_NOT);
    P->i++;
    if ((rc = enter(P)) || (rc = parse_not(P, &n->a))) return rc;
    P->depth--;
    *out = n;
    return EP_OK;
  }
  return parse_compare(P, out);
}

static int logic_level(parser *P, jnode **out, subparse sub, const char *kw, jnode_kind k) {
  int rc;
  if ((rc = sub(P, out))) return rc;
  while (is_name(P, kw)) {
    jnode *n;
    MK(n, k);
    P->i++;
    n->a = *out;
    if ((rc = sub(P, &n->b))) return rc;
    *out = n;
  }
  return EP_OK;
}
static int parse_and(parser *P, jnode **out) { return logic_level(P, out, parse_not, "and", JN_AND); }
static int parse_or(parser *P, jnode **out) { return logic_level(P, out, parse_and, "or", JN_OR); }

static int parse_expr(parser *P, jnode **out) {
  int rc;
  if ((rc = enter(P)) || (rc = parse_or(P, out))) return rc;
  while (skip_name(P, "if")) {
    jnode *n;
    MK(n, JN_COND);
    n->b = *out;
    if ((rc = parse_or(P, &n->a))) return rc;
    if (skip_name(P, "else") && (rc = parse_expr(P, &n->c))) return rc;
    *out = n;
  }
  P->depth--;
  return EP_OK;
}

/* ---- statements ------------------------------------------------------------- */

static int parse_body(parser *P, const char *const *stops, jnode ***body, size_t *nbody, const char **stopped);

static int parse_if(parser *P, jnode **out) {
  int rc;
  jnode *n;
  const char *stop;
  MK(n, JN_IF);
  if ((rc = parse_expr(P, &n->a)) || (rc = expect_end(P))) return rc;
  static const char *const stops[] = {"elif", "else", "endif", NULL};
  if ((rc = parse_body(P, stops, &n->body, &n->nbody, &stop))) return rc;
  if (!strcmp(stop, "elif")) {
    if (!(n->orelse = ep_arena_alloc(P->ar, sizeof *n->orelse))) return EP_ENOMEM;
    n->norelse = 1;
    if ((rc = enter(P)) || (rc = parse_if(P, &n->orelse[0]))) return rc;
    P->depth--;
  } else if (!strcmp(stop, "else")) {
    static const char *const endif[] = {"endif", NULL};
    if ((rc = expect_end(P)) || (rc = parse_body(P, endif, &n->orelse, &n->norelse, &stop))) return rc;
    if ((rc = expect_end(P))) return rc;
  } else if ((rc = expect_end(P))) {
    return rc;
  }
  *out = n;
  return EP_OK;
}

static int parse_for(parser *P, jnode **out) {
  int rc;
  jnode *n;
  const char *stop;
  MK(n, JN_FOR);
  if ((rc = take_name(P, &n->name))) return rc;
  if (skip_op(P, ',') && (rc = take_name(P, &n->name2))) return rc;
  if (!skip_name(P, "in")) return pfail(P, EP_EPARSE, "expected 'in'%s", NULL);
  if ((rc = parse_or(P, &n->a))) return rc;
  if (skip_name(P, "if") && (rc = parse_expr(P, &n->b))) return rc;
  if (is_name(P, "recursive")) return pfail(P, EP_EUNSUPPORTED, "recursive loops%s", NULL);
  if ((rc = expect_end(P))) return rc;
  static const char *const stops[] = {"else", "endfor", NULL};
  if ((rc = parse_body(P, stops, &n->body, &n->nbody, &stop))) return rc;
  if (!strcmp(stop, "else")) {
    static const char *const endfor[] = {"endfor", NULL};
    if ((rc = expect_end(P)) || (rc = parse_body(P, endfor, &n->orelse, &n->norelse, &stop))) return rc;
  }
  if ((rc = expect_end(P))) return rc;
  *out = n;
  return EP_OK;
}

static int parse_set(parser *P, jnode **out) {
  int rc;
  jnode *n;
  MK(n, JN_SET);
  if ((rc = take_name(P, &n->name))) return rc;
  if (skip_op(P, '.') && (rc = take_name(P, &n->name2))) return rc;
  if (is_op(P, ',')) return pfail(P, EP_EUNSUPPORTED, "tuple assignment%s", NULL);
  if (skip_op(P, '=')) {
    if ((rc = parse_expr(P, &n->a))) return rc;
  } else {
    const char *stop;
    static const char *const endset[] = {"endset", NULL};
    n->k = JN_SETBLOCK;
    if (n->name2) return pfail(P, EP_EUNSUPPORTED, "block set of an attribute%s", NULL);
    if ((rc = expect_end(P)) || (rc = parse_body(P, endset, &n->body, &n->nbody, &stop))) return rc;
  }
  if ((rc = expect_end(P))) return rc;
  *out = n;
  return EP_OK;
}

static int parse_macro(parser *P, jnode **out) {
  int rc;
  jnode *n;
  const char *stop;
  MK(n, JN_MACRO);
  if ((rc = take_name(P, &n->name)) || (rc = expect_op(P, '('))) return rc;
  nvec v = {0};
  while (!skip_op(P, ')')) {
    if (v.n && (rc = expect_op(P, ','))) return rc;
    jnode *p;
    MK(p, JN_NAME);
    if ((rc = take_name(P, &p->name))) return rc;
    if (skip_op(P, '=') && (rc = parse_expr(P, &p->a))) return rc;
    if ((rc = nv_push(P, &v, p))) return rc;
  }
  n->kids = v.v;
  n->n = v.n;
  static const char *const endmacro[] = {"endmacro", NULL};
  if ((rc = expect_end(P)) || (rc = parse_body(P, endmacro, &n->body, &n->nbody, &stop))) return rc;
  if (peek(P)->t == JT_NAME) P->i++; /* {% endmacro name %} */
  if ((rc = expect_end(P))) return rc;
  *out = n;
  return EP_OK;
}

static int parse_stmt(parser *P, jnode **out) {
  const jtok *t = peek(P);
  int rc;
  if (t->t != JT_NAME) return pfail(P, EP_EPARSE, "expected a tag name%s", NULL);
  char name[32];
  snprintf(name, sizeof name, "%.*s", (int)(t->n < 31 ? t->n : 31), t->p);
  P->i++;
  if ((rc = enter(P))) return rc;
  if (!strcmp(name, "if")) rc = parse_if(P, out);
  else if (!strcmp(name, "for")) rc = parse_for(P, out);
  else if (!strcmp(name, "set")) rc = parse_set(P, out);
  else if (!strcmp(name, "macro")) rc = parse_macro(P, out);
  else if (!strcmp(name, "break") || !strcmp(name, "continue")) {
    jnode *n;
    MK(n, name[0] == 'b' ? JN_BREAK : JN_CONTINUE);
    *out = n;
    rc = expect_end(P);
  } else if (!strcmp(name, "generation")) { /* transformers' assistant-mask tag: renders its body */
    jnode *n;
    const char *stop;
    static const char *const end[] = {"endgeneration", NULL};
    MK(n, JN_IF);
    MK(n->a, JN_LIT);
    n->a->lit = jv_bool(1);
    if ((rc = expect_end(P)) || (rc = parse_body(P, end, &n->body, &n->nbody, &stop))) return rc;
    rc = expect_end(P);
    *out = n;
  } else if (!strcmp(name, "elif") || !strcmp(name, "else") || !strncmp(name, "end", 3)) {
    P->i--;
    rc = pfail(P, EP_EPARSE, "unexpected '%s'", name);
  } else {
    P->i--;
    rc = pfail(P, EP_EUNSUPPORTED, "tag '%s'", name);
  }
  P->depth--;
  return rc;
}

/* Statements until EOF (stops == NULL) or a block tag named in stops, whose
 * name is consumed and returned in *stopped (the tag's rest is not). */
static int parse_body(parser *P, const char *const *stops, jnode ***body, size_t *nbody, const char **stopped) {
  nvec v = {0};
  int rc, open_line = P->i ? P->t[P->i - 1].line : 1;
  for (;;) {
    const jtok *t = peek(P);
    jnode *n = NULL;
    if (t->t == JT_EOF) {
      if (stops) {
        const char *last = stops[0];
        for (const char *const *s = stops; *s; s++) last = *s;
        char msg[96];
        snprintf(msg, sizeof msg, "missing '%s' for the tag at line %d", last, open_line);
        return pfail(P, EP_EPARSE, "%s", msg);
      }
      break;
    }
    if (t->t == JT_TEXT) {
      MK(n, JN_TEXT);
      n->lit = jv_strn(t->p, t->n);
      P->i++;
    } else if (t->t == JT_VAR) {
      P->i++;
      MK(n, JN_OUT);
      if ((rc = parse_expr(P, &n->a)) || (rc = expect_end(P))) return rc;
    } else if (t->t == JT_BLOCK) {
      P->i++;
      const jtok *nm = peek(P);
      for (const char *const *s = stops; s && *s; s++) {
        if (tok_is_name(nm, *s)) {
          P->i++;
          *stopped = *s;
          *body = v.v;
          *nbody = v.n;
          return EP_OK;
        }
      }
      if ((rc = parse_stmt(P, &n))) return rc;
    } else {
      return pfail(P, EP_EPARSE, "unexpected token%s", NULL);
    }
    if ((rc = nv_push(P, &v, n))) return rc;
  }
  *body = v.v;
  *nbody = v.n;
  return EP_OK;
}

int jparse(ep_arena *ar, const jtok *toks, size_t ntoks, jnode ***body, size_t *nbody, char *err, size_t errsz) {
  parser P = {.ar = ar, .t = toks, .n = ntoks, .err = err, .errsz = errsz};
  return parse_body(&P, NULL, body, nbody, NULL);
}
