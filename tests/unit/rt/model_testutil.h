/* Helpers for the model tests: locate models, load JSON goldens, argmax,
 * max-abs-diff. Header-only (each test is one executable). */
#ifndef EP_TEST_MODEL_UTIL_H
#define EP_TEST_MODEL_UTIL_H

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/err.h"
#include "rt/model.h"
#include "test.h"

static inline const char *t_src(const char *rel) {
  static char buf[4096];
  const char *base = getenv("EP_SOURCE_DIR");
  snprintf(buf, sizeof buf, "%s/%s", base ? base : ".", rel);
  return buf;
}

static inline json_t *t_json(const char *path) {
  json_error_t je;
  json_t *j = json_load_file(path, 0, &je);
  if (!j) fprintf(stderr, "cannot load %s: %s\n", path, je.text);
  return j;
}

/* floats of a JSON array into out (returns count) */
static inline size_t t_floats(json_t *a, float *out, size_t max) {
  size_t i, n = 0;
  json_t *v;
  json_array_foreach(a, i, v) if (n < max) out[n++] = (float)json_number_value(v);
  return n;
}

static inline int t_argmax(const float *x, int n) {
  int b = 0;
  for (int i = 1; i < n; i++)
    if (x[i] > x[b]) b = i; /* ties -> lowest id */
  return b;
}

static inline double t_maxdiff(const float *a, const float *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - (double)b[i]);
    if (d > m || d != d) m = d != d ? INFINITY : d;
  }
  return m;
}

/* kern: EP_KERN for the load ("ref", ...); NULL: the fast kernels, which are
 * those of env EP_TEST_KERN when set (e.g. avx512-simde: CMakeLists.txt's
 * *_avx512simde tests) */
static inline void t_set_kern(const char *kern) {
  if (!kern) kern = getenv("EP_TEST_KERN");
  if (kern) setenv("EP_KERN", kern, 1);
  else unsetenv("EP_KERN");
}

static inline ep_model *t_load(const char *dir, int threads, const char *kern) {
  t_set_kern(kern);
  ep_model_params p = ep_model_default_params();
  p.dir = dir;
  p.threads = threads;
  ep_model *m = NULL;
  char err[512] = "";
  int rc = ep_model_load(&p, &m, err, sizeof err);
  if (rc != EP_OK) fprintf(stderr, "load %s: %s (%s)\n", dir, err, ep_strerror(rc));
  return m;
}

#endif

/* Runs tools/make_tiny_model.py with args into a fresh temp dir; returns the
 * dir (static buffer) or NULL. Remove with t_rmdir. */
static inline const char *t_make_model(const char *args) {
  static char dir[256];
  snprintf(dir, sizeof dir, "/tmp/ep-model-XXXXXX");
  if (!mkdtemp(dir)) return NULL;
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s --out %s", t_src("tools/make_tiny_model.py"), args, dir);
  if (system(cmd) != 0) {
    fprintf(stderr, "failed: %s\n", cmd);
    return NULL;
  }
  return dir;
}

static inline void t_rmdir(const char *dir) {
  char cmd[512];
  if (!dir || strncmp(dir, "/tmp/ep-model-", 14) != 0) return;
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}
