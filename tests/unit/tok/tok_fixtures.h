/* Shared helpers of the tokenizer tests: read a fixture file, split the
 * llama.cpp .inp file into cases and parse the .out file into id lists. */
#ifndef EP_TEST_TOK_FIXTURES_H
#define EP_TEST_TOK_FIXTURES_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TF_MAX_CASES 64

typedef struct {
  char *text[TF_MAX_CASES];
  size_t len[TF_MAX_CASES];
  int32_t *ids[TF_MAX_CASES];
  size_t nids[TF_MAX_CASES];
  size_t n;
  char *inp, *out;
} tf_cases;

static inline char *tf_read(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cannot open %s\n", path);
    return NULL;
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *p = malloc((size_t)n + 1);
  if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
    free(p);
    p = NULL;
  }
  fclose(f);
  if (p) p[n] = 0;
  if (len) *len = (size_t)n;
  return p;
}

/* Loads <vectors>/<stem>.inp and .out; returns number of cases (0 on error). */
static inline size_t tf_load(tf_cases *c, const char *stem) {
  char path[512];
  memset(c, 0, sizeof *c);
  snprintf(path, sizeof path, "tokenizers/vectors/%s.inp", stem);
  size_t il;
  c->inp = tf_read(t_data(path), &il);
  snprintf(path, sizeof path, "tokenizers/vectors/%s.out", stem);
  c->out = tf_read(t_data(path), NULL);
  if (!c->inp || !c->out) return 0;
  static const char sep[] = "\n__ggml_vocab_test__\n";
  char *p = c->inp, *end = c->inp + il;
  while (p < end && c->n < TF_MAX_CASES) {
    char *s = memmem(p, (size_t)(end - p), sep, sizeof sep - 1);
    if (!s) break;
    c->text[c->n] = p;
    c->len[c->n] = (size_t)(s - p);
    *s = 0;
    c->n++;
    p = s + sizeof sep - 1;
  }
  char *line = c->out;
  for (size_t i = 0; i < c->n; i++) {
    char *nl = strchr(line, '\n');
    if (!nl) return 0;
    *nl = 0;
    size_t cap = 8, k = 0;
    int32_t *v = malloc(cap * sizeof *v);
    char *q = line;
    for (;;) {
      char *e;
      long x = strtol(q, &e, 10);
      if (e == q) break;
      if (k == cap) v = realloc(v, (cap *= 2) * sizeof *v);
      v[k++] = (int32_t)x;
      q = e;
    }
    c->ids[i] = v;
    c->nids[i] = k;
    line = nl + 1;
  }
  return c->n;
}

static inline void tf_free(tf_cases *c) {
  for (size_t i = 0; i < c->n; i++) free(c->ids[i]);
  free(c->inp);
  free(c->out);
}

static inline int tf_same(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
  return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

static inline void tf_print_ids(const char *what, const int32_t *a, size_t n) {
  fprintf(stderr, "  %s:", what);
  for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", a[i]);
  fprintf(stderr, "\n");
}

#endif
