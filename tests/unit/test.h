/* Minimal unit-test harness: CHECK macros count failures, main() returns
 * non-zero when any failed. One test binary per file (ctest runs each with a
 * timeout). EP_TESTDATA / EP_SOURCE_DIR env vars locate fixtures. */
#ifndef EP_TEST_H
#define EP_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_failures;
static int t_checks;

#define CHECK(c)                                                              \
  do {                                                                        \
    t_checks++;                                                               \
    if (!(c)) {                                                               \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); \
      t_failures++;                                                           \
    }                                                                         \
  } while (0)

#define CHECK_INT(a, b)                                                                     \
  do {                                                                                      \
    long long _a = (long long)(a), _b = (long long)(b);                                     \
    t_checks++;                                                                             \
    if (_a != _b) {                                                                         \
      fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, #a, _a, _b); \
      t_failures++;                                                                         \
    }                                                                                       \
  } while (0)

#define CHECK_STR(a, b)                                                                          \
  do {                                                                                           \
    const char *_a = (a), *_b = (b);                                                             \
    t_checks++;                                                                                  \
    if (!_a || !_b || strcmp(_a, _b) != 0) {                                                     \
      fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a,           \
              _a ? _a : "(null)", _b ? _b : "(null)");                                           \
      t_failures++;                                                                              \
    }                                                                                            \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                                                 \
  do {                                                                                        \
    double _a = (a), _b = (b);                                                                \
    t_checks++;                                                                               \
    if (!(fabs(_a - _b) <= (tol))) {                                                          \
      fprintf(stderr, "%s:%d: %s == %g, expected %g +- %g\n", __FILE__, __LINE__, #a, _a, _b, \
              (double)(tol));                                                                 \
      t_failures++;                                                                           \
    }                                                                                         \
  } while (0)

#define RUN(fn)                         \
  do {                                  \
    fprintf(stderr, "-- %s\n", #fn);    \
    fn();                               \
  } while (0)

/* Path of a fixture under tests/data (static buffer; copy if kept). */
static inline const char *t_data(const char *rel) {
  static char buf[4096];
  const char *base = getenv("EP_TESTDATA");
  snprintf(buf, sizeof buf, "%s/%s", base ? base : "tests/data", rel);
  return buf;
}

static inline int t_finish(void) {
  if (t_checks == 0) {
    fprintf(stderr, "no checks ran\n");
    return 1;
  }
  fprintf(stderr, "%d checks, %d failures\n", t_checks, t_failures);
  return t_failures ? 1 : 0;
}

#endif
