/* Unit tests of libendpoint's SSE parser: chunking at every byte boundary,
 * CRLF/CR/LF line ends, comments, multi-line data, "data:" without space,
 * flush at end of stream, and early stop from the callback. */
#include <stdlib.h>
#include <string.h>

#include "client/client-impl.h"
#include "test.h"

typedef struct {
  char *ev[16];
  int n;
  int stop_after;
} collect;

static int on_ev(void *ud, const char *data) {
  collect *c = ud;
  if (c->n < 16) c->ev[c->n++] = strdup(data);
  return c->stop_after && c->n >= c->stop_after ? 7 : 0;
}

static void reset(collect *c) {
  for (int i = 0; i < c->n; i++) free(c->ev[i]);
  memset(c, 0, sizeof *c);
}

/* Feed `text` split into pieces of `step` bytes. */
static int feed(collect *c, const char *text, size_t step) {
  epc_sse s;
  epc_sse_init(&s, on_ev, c);
  size_t n = strlen(text);
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i += step)
    rc = epc_sse_feed(&s, text + i, i + step > n ? n - i : step);
  if (!rc) rc = epc_sse_finish(&s);
  epc_sse_free(&s);
  return rc;
}

static void test_tgi_stream_any_chunking(void) {
  const char *text =
      ": keep-alive\n\n"
      "data: {\"token\":{\"text\":\" a\"}}\n\n"
      "data:{\"token\":{\"text\":\" b\"}}\r\n\r\n"
      "event: message\nid: 3\ndata: [DONE]\r\r";
  for (size_t step = 1; step <= strlen(text); step++) {
    collect c = {0};
    CHECK_INT(feed(&c, text, step), 0);
    CHECK_INT(c.n, 3);
    if (c.n == 3) {
      CHECK_STR(c.ev[0], "{\"token\":{\"text\":\" a\"}}");
      CHECK_STR(c.ev[1], "{\"token\":{\"text\":\" b\"}}");
      CHECK_STR(c.ev[2], "[DONE]");
    }
    reset(&c);
  }
}

static void test_multiline_and_fields(void) {
  collect c = {0};
  CHECK_INT(feed(&c, "data: one\ndata:  two\ndata\nretry: 5\n\nevent: x\n\n", 3), 0);
  CHECK_INT(c.n, 1); /* the event without data is not dispatched */
  CHECK_STR(c.ev[0], "one\n two\n"); /* only one leading space dropped; bare "data" adds "" */
  reset(&c);
}

static void test_flush_without_blank_line(void) {
  collect c = {0};
  CHECK_INT(feed(&c, "data: {\"x\":1}\n\ndata: last", 5), 0);
  CHECK_INT(c.n, 2);
  CHECK_STR(c.ev[1], "last");
  reset(&c);
}

static void test_callback_stops(void) {
  collect c = {0};
  c.stop_after = 1;
  CHECK_INT(feed(&c, "data: a\n\ndata: b\n\n", 64), 7);
  CHECK_INT(c.n, 1);
  reset(&c);
}

int main(void) {
  RUN(test_tgi_stream_any_chunking);
  RUN(test_multiline_and_fields);
  RUN(test_flush_without_blank_line);
  RUN(test_callback_stops);
  return t_finish();
}
