/* Unit tests for src/base: buffers, arena, timestamps, errors. */
#include "test.h"

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/time.h"

static void test_buf(void) {
  ep_buf b = EP_BUF_INIT;
  CHECK_STR(ep_buf_cstr(&b), "");
  for (int i = 0; i < 1000; i++) ep_buf_printf(&b, "%d,", i);
  CHECK(b.len > 3000);
  CHECK(strncmp(b.data, "0,1,2,", 6) == 0);
  ep_buf_consume(&b, 2);
  CHECK(strncmp(b.data, "1,2,", 4) == 0);
  ep_buf_reset(&b);
  CHECK_INT(b.len, 0);
  ep_buf_append(&b, "ab\0c", 4);
  CHECK_INT(b.len, 4);
  CHECK_INT(b.data[4], 0);
  ep_buf_free(&b);
}

static void test_arena(void) {
  ep_arena a;
  ep_arena_init(&a, 64);
  char *s = ep_arena_strdup(&a, "hello");
  CHECK_STR(s, "hello");
  void *big = ep_arena_alloc(&a, 10000);
  CHECK(big != NULL);
  CHECK(((uintptr_t)big & 15) == 0);
  memset(big, 1, 10000);
  ep_arena_reset(&a);
  char *t = ep_arena_strndup(&a, "abcdef", 3);
  CHECK_STR(t, "abc");
  ep_arena_free(&a);
}

static void test_time(void) {
  char ts[32];
  ep_time_iso(1698324113263LL, ts, sizeof ts);
  CHECK_STR(ts, "2023-10-26T12:41:53.263Z");
  int64_t ms = 0;
  CHECK_INT(ep_time_parse_iso("2023-10-26T12:41:53.263Z", &ms), EP_OK);
  CHECK_INT(ms, 1698324113263LL);
  CHECK_INT(ep_time_parse_iso("2023-10-26T12:41:53.2Z", &ms), EP_OK);
  CHECK_INT(ms, 1698324113200LL);
  CHECK(ep_time_parse_iso("2023-10-26T12:41:53+00:00", &ms) != EP_OK);
  CHECK(ep_mono_ns() > 0);
}

static void test_err(void) {
  CHECK_STR(ep_strerror(EP_OK), "ok");
  CHECK_STR(ep_strerror(EP_ENOTFOUND), "not found");
  CHECK_STR(ep_strerror(-9999), "unknown error");
}

int main(void) {
  RUN(test_buf);
  RUN(test_arena);
  RUN(test_time);
  RUN(test_err);
  return t_finish();
}
