/* Chat templates: render a model's Jinja2 chat_template (tokenizer_config.json)
 * for /v1/chat/completions with our own interpreter of the Jinja subset real
 * templates use. Rendering matches transformers' apply_chat_template
 * environment (trim_blocks, lstrip_blocks, loopcontrols). Non-goals: template
 * inheritance, includes, autoescape, tools/multimodal content. */
#ifndef EP_FMT_CHAT_TEMPLATE_H
#define EP_FMT_CHAT_TEMPLATE_H

#include <stddef.h>

typedef struct {
  const char *role;
  const char *content; /* may be NULL (treated as "") */
} ep_chat_msg;

typedef struct {
  const char *bos_token;     /* "" if none (NULL is treated as "") */
  const char *eos_token;     /* "" if none (NULL is treated as "") */
  int add_generation_prompt; /* 1 for chat completion */
} ep_chat_vars;

/* Hard limits against hostile templates; exceeding one is an error. */
#define EP_CHAT_MAX_OUTPUT (1u << 20)   /* bytes of output, and of any string value */
#define EP_CHAT_MAX_ITERS 100000L       /* loop iterations per render, all loops */
#define EP_CHAT_MAX_CALL_DEPTH 64       /* nested macro calls */
#define EP_CHAT_MAX_NEST 128            /* parser nesting (expressions, blocks) */
#define EP_CHAT_MAX_MEMORY (64u << 20)  /* bytes of working memory per render */

/* Compiled template: parse once, render many times (renders of one template
 * may run concurrently on different threads: rendering never mutates it).
 * ep_chat_tmpl_compile() copies what it needs from `src`; the caller frees the
 * result with ep_chat_tmpl_free(). On error returns an ep_err and writes a
 * message (with the line number) into err[errsz]. */
typedef struct ep_chat_tmpl ep_chat_tmpl;
int ep_chat_tmpl_compile(const char *src, ep_chat_tmpl **out, char *err, size_t errsz);
void ep_chat_tmpl_free(ep_chat_tmpl *t);

/* Renders with `messages`, `bos_token`, `eos_token`, `add_generation_prompt`
 * and `raise_exception`. On EP_OK *out is a malloc'd NUL-terminated string the
 * caller frees. Errors (with a message in err): EP_EPARSE syntax error (with
 * line), EP_EINVAL raise_exception("...") (message is its text) or a runtime
 * type/undefined error, EP_EUNSUPPORTED unsupported construct or filter,
 * EP_ETOOBIG output or memory over the limits, EP_ERANGE too many loop
 * iterations or too deep recursion. */
int ep_chat_tmpl_render(const ep_chat_tmpl *t, const ep_chat_msg *msgs, size_t n,
                        const ep_chat_vars *vars, char **out, char *err, size_t errsz);

/* One-shot compile + render + free. Same contract as ep_chat_tmpl_render(). */
int ep_chat_render(const char *tmpl, const ep_chat_msg *msgs, size_t n, const ep_chat_vars *vars,
                   char **out, char *err, size_t errsz);

#endif
