/* ep_logs_read over a rotated pair of log files: order (.1 then current),
 * tail spanning both files, since filtering with untimestamped continuation
 * lines, a missing last newline, no files at all; timestamp detection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/time.h"
#include "gw/logs.h"
#include "test.h"

static char dir[256], path[300];

static void put(const char *p, const char *text) {
  FILE *f = fopen(p, "w");
  CHECK(f != NULL);
  if (!f) return;
  fputs(text, f);
  fclose(f);
}

static char *rd(int tail, int64_t since) {
  ep_buf b = EP_BUF_INIT;
  ep_logs_read(path, tail, since, &b);
  char *s = strdup(ep_buf_cstr(&b));
  ep_buf_free(&b);
  return s;
}

static void setup(void) {
  char old[320];
  snprintf(old, sizeof old, "%s.1", path);
  put(old,
      "2026-01-01T00:00:01.000Z r1 a\n"
      "2026-01-01T00:00:02.000Z r1 b\n"
      "  continuation of b\n");
  put(path,
      "2026-01-01T00:00:03.000Z r1 c\n"
      "2026-01-01T00:00:04.000Z r2 d"); /* last line without newline */
}

static void test_all_and_tail(void) {
  setup();
  char *s = rd(0, 0);
  CHECK_STR(s,
            "2026-01-01T00:00:01.000Z r1 a\n2026-01-01T00:00:02.000Z r1 b\n  continuation of b\n"
            "2026-01-01T00:00:03.000Z r1 c\n2026-01-01T00:00:04.000Z r2 d\n");
  free(s);
  s = rd(3, 0); /* spans the rotated file */
  CHECK_STR(s,
            "  continuation of b\n2026-01-01T00:00:03.000Z r1 c\n2026-01-01T00:00:04.000Z r2 d\n");
  free(s);
  s = rd(1, 0);
  CHECK_STR(s, "2026-01-01T00:00:04.000Z r2 d\n");
  free(s);
  s = rd(100, 0);
  CHECK(strncmp(s, "2026-01-01T00:00:01.000Z r1 a\n", 30) == 0);
  free(s);
}

static void test_since(void) {
  setup();
  int64_t t;
  CHECK_INT(ep_time_parse_iso("2026-01-01T00:00:02.000Z", &t), EP_OK);
  char *s = rd(0, t); /* inclusive; the continuation line goes with b */
  CHECK_STR(s,
            "2026-01-01T00:00:02.000Z r1 b\n  continuation of b\n2026-01-01T00:00:03.000Z r1 c\n"
            "2026-01-01T00:00:04.000Z r2 d\n");
  free(s);
  s = rd(0, t + 1);
  CHECK_STR(s, "2026-01-01T00:00:03.000Z r1 c\n2026-01-01T00:00:04.000Z r2 d\n");
  free(s);
  s = rd(1, t + 1);
  CHECK_STR(s, "2026-01-01T00:00:04.000Z r2 d\n");
  free(s);
  CHECK_INT(ep_time_parse_iso("2030-01-01T00:00:00.000Z", &t), EP_OK);
  s = rd(0, t);
  CHECK_STR(s, "");
  free(s);
}

static void test_missing_files(void) {
  char old[320];
  snprintf(old, sizeof old, "%s.1", path);
  unlink(old);
  unlink(path);
  char *s = rd(5, 0);
  CHECK_STR(s, "");
  free(s);
}

static void test_line_ts(void) {
  char ts[32];
  CHECK(ep_logs_line_ts("2026-11-25T12:41:53.263Z r1 x", 29, ts));
  CHECK_STR(ts, "2026-11-25T12:41:53.263Z");
  CHECK(!ep_logs_line_ts("2026-11-25T12:41:53Z r1 x", 25, ts));
  CHECK(!ep_logs_line_ts("  2026-11-25T12:41:53.263Z", 26, NULL));
  CHECK(!ep_logs_line_ts("2026-11-25T12:41:53.263", 23, NULL));
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/ep-test-logs-XXXXXX");
  if (!mkdtemp(dir)) return 1;
  snprintf(path, sizeof path, "%s/e.log", dir);
  RUN(test_all_and_tail);
  RUN(test_since);
  RUN(test_missing_files);
  RUN(test_line_ts);
  rmdir(dir);
  return t_finish();
}
