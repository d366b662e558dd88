/* Public chat-template API: compile a template once (lex + parse into an
 * arena owned by ep_chat_tmpl), render it with the chat variables
 * (messages, bos_token, eos_token, add_generation_prompt, raise_exception)
 * in a per-render arena, and the one-shot ep_chat_render(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "fmt/chat_template.h"
#include "fmt/jinja_impl.h"

struct ep_chat_tmpl {
  ep_arena ar;
  jnode **body;
  size_t nbody;
};

static void set_err(char *err, size_t errsz, const char *msg) {
  if (err && errsz) snprintf(err, errsz, "%s", msg);
}

int ep_chat_tmpl_compile(const char *src, ep_chat_tmpl **out, char *err, size_t errsz) {
  char dummy[8];
  if (!err || !errsz) { err = dummy; errsz = sizeof dummy; }
  err[0] = '\0';
  *out = NULL;
  if (!src) { set_err(err, errsz, "no chat template"); return EP_EINVAL; }
  ep_chat_tmpl *t = calloc(1, sizeof *t);
  if (!t) return EP_ENOMEM;
  ep_arena_init(&t->ar, 0);
  /* Like jinja2: line endings become "\n" and one trailing newline is dropped
   * (keep_trailing_newline=False). Tokens point into this copy. */
  size_t len = strlen(src), k = 0;
  char *norm = ep_arena_alloc(&t->ar, len + 1);
  if (!norm) { ep_chat_tmpl_free(t); return EP_ENOMEM; }
  for (size_t i = 0; i < len; i++) {
    if (src[i] == '\r') {
      norm[k++] = '\n';
      if (src[i + 1] == '\n') i++;
    } else {
      norm[k++] = src[i];
    }
  }
  if (k && norm[k - 1] == '\n') k--;
  norm[k] = '\0';
  jtok *toks;
  size_t ntoks;
  int rc = jlex(&t->ar, norm, &toks, &ntoks, err, errsz);
  if (!rc) rc = jparse(&t->ar, toks, ntoks, &t->body, &t->nbody, err, errsz);
  if (rc) {
    if (rc == EP_ENOMEM) set_err(err, errsz, "out of memory");
    ep_chat_tmpl_free(t);
    return rc;
  }
  *out = t;
  return EP_OK;
}

void ep_chat_tmpl_free(ep_chat_tmpl *t) {
  if (!t) return;
  ep_arena_free(&t->ar);
  free(t);
}

static int str_var(jctx *c, const char *name, const char *s) {
  jv v;
  if (jv_str_copy(c, s ? s : "", s ? strlen(s) : 0, &v)) return c->rc;
  return jx_set_var(c, name, v);
}

static int func_var(jctx *c, const char *name, int f) {
  jv v = {.t = JV_FUNC};
  v.u.func = f;
  return jx_set_var(c, name, v);
}

int ep_chat_tmpl_render(const ep_chat_tmpl *t, const ep_chat_msg *msgs, size_t n, const ep_chat_vars *vars,
                        char **out, char *err, size_t errsz) {
  char dummy[8];
  if (!err || !errsz) { err = dummy; errsz = sizeof dummy; }
  err[0] = '\0';
  *out = NULL;
  if (!t || (n && !msgs)) { set_err(err, errsz, "invalid arguments"); return EP_EINVAL; }
  ep_buf buf = EP_BUF_INIT;
  jctx c = {.out = &buf, .err = err, .errsz = errsz};
  ep_arena_init(&c.ar, 64 * 1024);
  jv list;
  c.scope = c.top = jx_frame_new(&c, NULL);
  int rc = c.scope ? jv_new_list(&c, &list) : c.rc;
  for (size_t i = 0; i < n && !rc; i++) {
    jv d, v;
    if ((rc = jv_new_dict(&c, &d))) break;
    const char *role = msgs[i].role ? msgs[i].role : "", *content = msgs[i].content ? msgs[i].content : "";
    if (!(rc = jv_str_copy(&c, role, strlen(role), &v))) rc = jd_set(&c, d.u.d, jv_strn("role", 4), v);
    if (!rc && !(rc = jv_str_copy(&c, content, strlen(content), &v))) rc = jd_set(&c, d.u.d, jv_strn("content", 7), v);
    if (!rc) rc = jl_push(&c, list.u.l, d);
  }
  if (!rc) rc = jx_set_var(&c, "messages", list);
  if (!rc) rc = str_var(&c, "bos_token", vars ? vars->bos_token : "");
  if (!rc) rc = str_var(&c, "eos_token", vars ? vars->eos_token : "");
  if (!rc) rc = jx_set_var(&c, "add_generation_prompt", jv_bool(vars && vars->add_generation_prompt));
  if (!rc) rc = func_var(&c, "raise_exception", JF_RAISE);
  if (!rc) rc = func_var(&c, "namespace", JF_NAMESPACE);
  if (!rc) rc = func_var(&c, "range", JF_RANGE);
  if (!rc) rc = func_var(&c, "dict", JF_DICT);
  if (!rc) rc = jexec(&c, t->body, t->nbody);
  if (!rc) rc = c.rc;
  if (!rc) {
    *out = buf.data ? ep_buf_steal(&buf) : calloc(1, 1);
    if (!*out) rc = EP_ENOMEM;
  }
  if (rc == EP_ENOMEM && !err[0]) set_err(err, errsz, "out of memory");
  ep_buf_free(&buf);
  ep_arena_free(&c.ar);
  return rc;
}

int ep_chat_render(const char *tmpl, const ep_chat_msg *msgs, size_t n, const ep_chat_vars *vars, char **out,
                   char *err, size_t errsz) {
  ep_chat_tmpl *t;
  *out = NULL;
  int rc = ep_chat_tmpl_compile(tmpl, &t, err, errsz);
  if (rc) return rc;
  rc = ep_chat_tmpl_render(t, msgs, n, vars, out, err, errsz);
  ep_chat_tmpl_free(t);
  return rc;
}
