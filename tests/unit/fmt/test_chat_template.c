/* Chat-template renderer against goldens from python3-jinja2 (configured like
 * transformers, see tools/render_chat_templates.py): every real template in
 * tests/data/chat_templates/ and the feature snippets, byte-exact; plus error
 * handling (syntax, raise_exception, caps, recursion) and truncated-template
 * robustness. */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "fmt/chat_template.h"
#include "test.h"

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  if (s && fread(s, 1, (size_t)n, f) != (size_t)n) { free(s); s = NULL; }
  if (s) s[n] = '\0';
  fclose(f);
  return s;
}

static int ncases, nerrcases;

/* Renders one golden case with template t; returns 1 when it matches. */
static int run_case(const ep_chat_tmpl *t, json_t *cs) {
  json_t *jm = json_object_get(cs, "messages");
  size_t n = json_array_size(jm);
  ep_chat_msg *msgs = calloc(n ? n : 1, sizeof *msgs);
  for (size_t i = 0; i < n; i++) {
    msgs[i].role = json_string_value(json_object_get(json_array_get(jm, i), "role"));
    msgs[i].content = json_string_value(json_object_get(json_array_get(jm, i), "content"));
  }
  ep_chat_vars vars = {json_string_value(json_object_get(cs, "bos_token")),
                       json_string_value(json_object_get(cs, "eos_token")),
                       json_is_true(json_object_get(cs, "add_generation_prompt"))};
  char *out = NULL, err[512];
  int rc = ep_chat_tmpl_render(t, msgs, n, &vars, &out, err, sizeof err);
  const char *name = json_string_value(json_object_get(cs, "name"));
  const char *want = json_string_value(json_object_get(cs, "expected"));
  int ok;
  ncases++;
  if (want) {
    ok = rc == EP_OK && out && strcmp(out, want) == 0;
    if (!ok) fprintf(stderr, "%s: rc=%d err=%s\n  got:  [%s]\n  want: [%s]\n", name, rc, rc ? err : "", out ? out : "", want);
  } else {
    const char *werr = json_string_value(json_object_get(cs, "error"));
    nerrcases++;
    if (json_is_true(json_object_get(cs, "raised"))) ok = rc == EP_EINVAL && strcmp(err, werr) == 0;
    else ok = rc != EP_OK && out == NULL && err[0];
    if (!ok) fprintf(stderr, "%s: want error [%s], got rc=%d err=[%s] out=[%s]\n", name, werr, rc, err, out ? out : "");
  }
  free(out);
  free(msgs);
  return ok;
}

static void test_goldens(void) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", t_data("chat_templates"));
  DIR *d = opendir(dir);
  CHECK(d != NULL);
  if (!d) return;
  struct dirent *de;
  int files = 0;
  while ((de = readdir(d))) {
    size_t L = strlen(de->d_name);
    if (L < 11 || strcmp(de->d_name + L - 11, ".cases.json")) continue;
    char path[8192], base[512];
    snprintf(base, sizeof base, "%.*s", (int)(L - 11), de->d_name);
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    json_error_t jerr;
    json_t *cases = json_load_file(path, 0, &jerr);
    CHECK(cases && json_is_array(cases));
    if (!cases) continue;
    files++;
    snprintf(path, sizeof path, "%s/%s.jinja", dir, base);
    char *src = read_file(path); /* NULL for snippets: each case has its own template */
    ep_chat_tmpl *t = NULL;
    char err[512];
    if (src) {
      CHECK_INT(ep_chat_tmpl_compile(src, &t, err, sizeof err), EP_OK);
      if (!t) fprintf(stderr, "%s: %s\n", base, err);
    }
    size_t i;
    json_t *cs;
    int pass = 0, total = 0;
    json_array_foreach(cases, i, cs) {
      ep_chat_tmpl *ct = t;
      const char *ts = json_string_value(json_object_get(cs, "template"));
      if (ts) {
        ct = NULL;
        if (ep_chat_tmpl_compile(ts, &ct, err, sizeof err)) fprintf(stderr, "%s case %zu: %s\n", base, i, err);
      }
      total++;
      if (ct) pass += run_case(ct, cs);
      else ncases++;
      if (ts) ep_chat_tmpl_free(ct);
    }
    CHECK_INT(pass, total);
    fprintf(stderr, "   %-28s %d/%d\n", base, pass, total);
    ep_chat_tmpl_free(t);
    free(src);
    json_decref(cases);
  }
  closedir(d);
  CHECK(files >= 10);
  CHECK(ncases >= 100);
}

static int render(const char *tmpl, char **out, char *err, size_t errsz) {
  ep_chat_msg msgs[] = {{"user", "hi"}, {"assistant", NULL}, {"user", "again"}};
  ep_chat_vars vars = {"<s>", "</s>", 1};
  return ep_chat_render(tmpl, msgs, 3, &vars, out, err, errsz);
}

static void expect_err(const char *tmpl, int want_rc, const char *want_sub) {
  char *out = (char *)1, err[512] = "";
  int rc = render(tmpl, &out, err, sizeof err);
  CHECK_INT(rc, want_rc);
  CHECK(out == NULL);
  if (want_sub && !strstr(err, want_sub)) {
    fprintf(stderr, "error [%s] lacks [%s]\n", err, want_sub);
    CHECK(0);
  }
  if (rc == EP_OK) free(out);
}

static void test_errors(void) {
  expect_err("{% if x %}\nfoo\n{% endfor %}", EP_EPARSE, "line 3");
  expect_err("a\n{{ x ", EP_EPARSE, "line 2");
  expect_err("{% for m in messages %}x", EP_EPARSE, "endfor");
  expect_err("{{ 'abc }}", EP_EPARSE, "unterminated");
  expect_err("{# never closed", EP_EPARSE, "comment");
  expect_err("{{ 1 + }}", EP_EPARSE, "line 1");
  expect_err("{% include 'other.jinja' %}", EP_EUNSUPPORTED, "include");
  expect_err("{{ messages|wordwrap }}", EP_EUNSUPPORTED, "wordwrap");
  expect_err("{{ raise_exception('custom ' ~ messages|length) }}", EP_EINVAL, "custom 3");
  expect_err("{{ undefined_thing.attr }}", EP_EINVAL, "undefined_thing");
  expect_err("{{ 1 / 0 }}", EP_EINVAL, "division");
  expect_err("{{ 'a' + 1 }}", EP_EINVAL, "unsupported operand");
  /* output cap: 100k iterations of 100 bytes */
  expect_err("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}", EP_ETOOBIG, "output");
  expect_err("{% set ns = namespace(s='xy') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", EP_ETOOBIG, NULL);
  expect_err("{{ 'x' * 100000000 }}", EP_ETOOBIG, NULL);
  expect_err("{% set ns = namespace(l=[1, 2, 3, 4]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}", EP_ETOOBIG, "memory");
  /* iteration cap */
  expect_err("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", EP_ERANGE, "iterations");
  /* recursion */
  expect_err("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", EP_ERANGE, "recursion");
  char *deep = malloc(40000);
  strcpy(deep, "{{ ");
  for (int i = 0; i < 10000; i++) strcat(deep + 3 + i, "(");
  strcat(deep, "1");
  for (int i = 0; i < 10000; i++) strcat(deep + 3 + 10001 + i, ")");
  strcat(deep, " }}");
  expect_err(deep, EP_ERANGE, "nesting");
  deep[0] = '\0';
  for (int i = 0; i < 2000; i++) strcat(deep + i * 10, "{% if 1 %}");
  expect_err(deep, EP_ERANGE, "nesting");
  strcpy(deep, "{{ ");
  for (int i = 0; i < 5000; i++) strcat(deep + 3 + i * 4, "not ");
  strcat(deep, "1 }}");
  expect_err(deep, EP_ERANGE, "nesting");
  free(deep);
}

static void test_api(void) {
  char *out = NULL, err[256];
  ep_chat_msg one = {"user", NULL};
  /* NULL content renders as "", NULL tokens as "" */
  CHECK_INT(ep_chat_render("[{{ bos_token }}{{ messages[0].content }}{{ eos_token }}|{{ add_generation_prompt }}]", &one, 1,
                           &(ep_chat_vars){NULL, NULL, 0}, &out, err, sizeof err), EP_OK);
  CHECK_STR(out, "[|False]");
  free(out);
  CHECK_INT(ep_chat_render("", NULL, 0, NULL, &out, err, sizeof err), EP_OK);
  CHECK_STR(out, "");
  free(out);
  CHECK_INT(ep_chat_render(NULL, NULL, 0, NULL, &out, err, sizeof err), EP_EINVAL);
  /* compile once, render many */
  ep_chat_tmpl *t;
  CHECK_INT(ep_chat_tmpl_compile("{% for m in messages %}<{{ m.role }}:{{ m.content }}>{% endfor %}", &t, err, sizeof err), EP_OK);
  for (int k = 0; k < 3; k++) {
    ep_chat_msg m[2] = {{"user", k == 1 ? "b" : "a"}, {"assistant", "c"}};
    CHECK_INT(ep_chat_tmpl_render(t, m, 2, &(ep_chat_vars){"", "", 1}, &out, err, sizeof err), EP_OK);
    CHECK_STR(out, k == 1 ? "<user:b><assistant:c>" : "<user:a><assistant:c>");
    free(out);
  }
  ep_chat_tmpl_free(t);
  /* errors without an err buffer */
  CHECK_INT(ep_chat_render("{{", NULL, 0, NULL, &out, NULL, 0), EP_EPARSE);
}

/* Every prefix of every real template must compile-or-fail and render-or-fail cleanly. */
static void test_truncated(void) {
  DIR *d = opendir(t_data("chat_templates"));
  if (!d) return;
  struct dirent *de;
  int runs = 0;
  while ((de = readdir(d))) {
    size_t L = strlen(de->d_name);
    if (L < 6 || strcmp(de->d_name + L - 6, ".jinja")) continue;
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", t_data("chat_templates"), de->d_name);
    char *src = read_file(path);
    if (!src) continue;
    size_t n = strlen(src), step = n / 300 + 1;
    for (size_t cut = 0; cut < n; cut += step) {
      char saved = src[cut];
      src[cut] = '\0';
      char *out = NULL, err[256];
      int rc = render(src, &out, err, sizeof err);
      CHECK(rc == EP_OK ? out != NULL : out == NULL && err[0] != '\0');
      free(out);
      src[cut] = saved;
      runs++;
    }
    free(src);
  }
  closedir(d);
  fprintf(stderr, "   %d truncated renders\n", runs);
  CHECK(runs > 1000);
}

/* Render speed of the longest real template (informational). */
static void test_speed(void) {
  char *src = read_file(t_data("chat_templates/llama3.1-instruct.jinja"));
  CHECK(src != NULL);
  if (!src) return;
  ep_chat_tmpl *t;
  char err[256];
  CHECK_INT(ep_chat_tmpl_compile(src, &t, err, sizeof err), EP_OK);
  ep_chat_msg m[4] = {{"system", "Be brief."}, {"user", "Hello"}, {"assistant", "Hi!"}, {"user", "How are you?"}};
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  int iters = 2000, ok = 0;
  for (int i = 0; i < iters; i++) {
    char *out = NULL;
    ok += ep_chat_tmpl_render(t, m, 4, &(ep_chat_vars){"<|begin_of_text|>", "<|eot_id|>", 1}, &out, err, sizeof err) == EP_OK;
    free(out);
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  CHECK_INT(ok, iters);
  double us = ((double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3) / iters;
  fprintf(stderr, "   llama3.1 template, 4 messages: %.1f us/render\n", us);
  ep_chat_tmpl_free(t);
  free(src);
}

int main(void) {
  RUN(test_goldens);
  RUN(test_errors);
  RUN(test_api);
  RUN(test_truncated);
  RUN(test_speed);
  fprintf(stderr, "%d golden cases (%d expecting errors)\n", ncases, nerrcases);
  return t_finish();
}
