/* Private interface of the Jinja subset interpreter behind chat_template.h:
 * values (jinja_value.c), tokens (jinja_lex.c), AST (jinja_parse.c),
 * evaluation (jinja_eval.c) and builtins (jinja_builtins.c). Everything a
 * render allocates lives in one arena owned by the render context. */
#ifndef EP_FMT_JINJA_IMPL_H
#define EP_FMT_JINJA_IMPL_H

#include <stddef.h>

#include "base/arena.h"
#include "base/buf.h"

/* ---- values ---------------------------------------------------------------- */
typedef enum { JV_UNDEF, JV_NONE, JV_BOOL, JV_INT, JV_FLOAT, JV_STR, JV_LIST, JV_DICT, JV_NS, JV_MACRO, JV_FUNC, JV_LOOP } jv_type;

typedef struct jlist jlist;
typedef struct jdict jdict;
struct jnode;

typedef struct jv {
  jv_type t;
  union {
    int b;
    long long i;
    double f;
    struct { const char *p; size_t n; } s; /* JV_STR bytes; JV_UNDEF: name (may be NULL) */
    jlist *l;
    jdict *d;                              /* JV_DICT and JV_NS (namespace) */
    const struct jnode *macro;
    int func;                              /* JV_FUNC: JF_* */
    const struct jloop *loop;              /* JV_LOOP: the `loop` variable */
  } u;
} jv;

struct jlist { jv *v; size_t n, cap; int tuple; };
struct jdict { jv *k, *v; size_t n, cap; };
typedef struct jloop { const jlist *items; size_t i; } jloop; /* current index into items */

enum { JF_RAISE = 1, JF_NAMESPACE, JF_RANGE, JF_DICT };

/* ---- render context ---------------------------------------------------------- */
typedef struct jframe jframe;
typedef struct jctx {
  ep_arena ar;
  size_t mem;       /* bytes taken from ar */
  ep_buf *out;      /* current output (swapped while capturing) */
  jframe *scope;    /* innermost frame */
  jframe *top;      /* template-level frame (globals live below it) */
  long iters;
  int depth;        /* macro call depth */
  int line;         /* line of the statement being run (for messages) */
  int ctl;          /* 1 = break, 2 = continue pending */
  int rc;
  char *err;
  size_t errsz;
} jctx;

int jx_fail(jctx *c, int line, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void *jx_alloc(jctx *c, size_t n); /* NULL after setting EP_ETOOBIG/ENOMEM */

jv jv_undef(const char *name);
jv jv_none(void);
jv jv_bool(int b);
jv jv_int(long long i);
jv jv_float(double f);
jv jv_strn(const char *p, size_t n); /* borrows p */
int jv_str_copy(jctx *c, const char *p, size_t n, jv *out);
int jv_new_list(jctx *c, jv *out);
int jv_new_dict(jctx *c, jv *out);
int jl_push(jctx *c, jlist *l, jv v);
int jd_set(jctx *c, jdict *d, jv k, jv v);
jv *jd_get(const jdict *d, const char *k, size_t kn);
jv *jd_find(const jdict *d, jv k);
int jv_truthy(jv v);
int jv_eq(jv a, jv b);
int jv_is_num(jv v);
double jv_num(jv v);
const char *jv_type_name(jv v);
/* Appends str(v) (Python semantics, undefined -> "") / repr(v) / JSON. */
int jv_write_str(jctx *c, ep_buf *b, jv v);
int jv_write_repr(jctx *c, ep_buf *b, jv v);
int jv_write_json(jctx *c, ep_buf *b, jv v, int indent, int level);
int jv_to_str(jctx *c, jv v, jv *out); /* str(v) as a JV_STR value */
int jv_check_size(jctx *c, size_t n);  /* EP_ETOOBIG when n exceeds the value cap */

/* ---- tokens ----------------------------------------------------------------- */
typedef enum { JT_TEXT, JT_VAR, JT_BLOCK, JT_END, JT_NAME, JT_STR, JT_INT, JT_FLOAT, JT_OP, JT_EOF } jtok_type;
enum { JOP_EQ = 256, JOP_NE, JOP_LE, JOP_GE, JOP_FLOORDIV, JOP_POW };

typedef struct {
  jtok_type t;
  int line;
  const char *p; /* TEXT/NAME/STR(decoded) bytes */
  size_t n;
  long long i;
  double f;
  int op;        /* JT_OP: a char or JOP_* */
} jtok;

/* Splits src into tokens (arena-allocated array ending in JT_EOF) with
 * trim_blocks/lstrip_blocks and '-' / '+' whitespace control applied. */
int jlex(ep_arena *ar, const char *src, jtok **out, size_t *nout, char *err, size_t errsz);

/* ---- AST -------------------------------------------------------------------- */
typedef enum {
  JN_LIT, JN_NAME, JN_LIST, JN_TUPLE, JN_DICT, JN_ATTR, JN_ITEM, JN_SLICE, JN_CALL, JN_FILTER,
  JN_TEST, JN_NEG, JN_POS, JN_NOT, JN_BIN, JN_AND, JN_OR, JN_CMP, JN_COND,
  JN_TEXT, JN_OUT, JN_IF, JN_FOR, JN_SET, JN_SETBLOCK, JN_MACRO, JN_BREAK, JN_CONTINUE
} jnode_kind;

typedef struct jnode {
  jnode_kind k;
  int line;
  int op;                 /* BIN/CMP operator; TEST: 1 when negated */
  jv lit;                 /* LIT value; TEXT bytes */
  const char *name;       /* NAME, ATTR, FILTER, TEST, SET target, FOR var, MACRO */
  const char *name2;      /* SET ns attribute, FOR second var */
  struct jnode *a, *b, *c; /* operands (SLICE: a obj, kids start/stop/step) */
  struct jnode **kids;    /* items / args / dict k,v pairs / CMP operands / macro params */
  const char **kw;        /* parallel to kids: keyword names for calls (NULL = positional) */
  int *ops;               /* CMP: operators between kids */
  size_t n;
  struct jnode **body;    /* statements */
  size_t nbody;
  struct jnode **orelse;  /* else / elif branch statements */
  size_t norelse;
} jnode;

/* Parses tokens into a statement list. Allocates from ar. */
int jparse(ep_arena *ar, const jtok *toks, size_t ntoks, jnode ***body, size_t *nbody, char *err,
           size_t errsz);

/* ---- evaluation --------------------------------------------------------------- */
int jeval(jctx *c, const jnode *e, jv *out);
int jexec(jctx *c, jnode *const *body, size_t n);
int jx_set_var(jctx *c, const char *name, jv v); /* in the innermost frame */
jframe *jx_frame_new(jctx *c, jframe *up);        /* NULL on error (c->rc set) */
int jx_iter_items(jctx *c, const jnode *e, jv v, jlist **out); /* list, dict keys, str chars; undefined is empty */
int jx_call_macro(jctx *c, const jnode *call, jv macro, jv *args, const char **kw, size_t n, jv *out);

/* ---- builtins ---------------------------------------------------------------- */
int jb_filter(jctx *c, const jnode *e, jv in, jv *args, const char **kw, size_t n, jv *out);
int jb_test(jctx *c, const jnode *e, jv in, jv *args, size_t n, int *out);
int jb_method(jctx *c, const jnode *e, jv obj, const char *name, jv *args, const char **kw, size_t n,
              jv *out);
int jb_func(jctx *c, const jnode *e, int func, jv *args, const char **kw, size_t n, jv *out);

#endif
