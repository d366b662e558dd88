/* libendpoint: incremental text/event-stream parser (WHATWG SSE rules for
 * the `data` field: one optional space after the colon is dropped, several
 * data lines join with '\n', a blank line dispatches the event). */
#include <stdlib.h>
#include <string.h>

#include "client/client-impl.h"

void epc_sse_init(epc_sse *s, int (*on_event)(void *, const char *), void *ud) {
  memset(s, 0, sizeof *s);
  s->on_event = on_event;
  s->ud = ud;
}

void epc_sse_free(epc_sse *s) {
  epc_buf_free(&s->line);
  epc_buf_free(&s->data);
}

static int dispatch(epc_sse *s) {
  if (!s->have_data) return 0;
  s->have_data = 0;
  int rc = s->on_event ? s->on_event(s->ud, epc_buf_str(&s->data)) : 0;
  s->data.len = 0;
  if (s->data.data) s->data.data[0] = 0;
  return rc;
}

static int process_line(epc_sse *s, const char *line, size_t n) {
  if (n == 0) return dispatch(s);
  if (line[0] == ':') return 0; /* comment / keep-alive */
  const char *colon = memchr(line, ':', n);
  size_t fl = colon ? (size_t)(colon - line) : n;
  const char *v = colon ? colon + 1 : line + n;
  size_t vl = colon ? n - fl - 1 : 0;
  if (vl && *v == ' ') v++, vl--;
  if (fl == 4 && !memcmp(line, "data", 4)) {
    if (s->have_data && epc_buf_add(&s->data, "\n", 1)) return EP_CLIENT_ENOMEM;
    if (epc_buf_add(&s->data, v, vl)) return EP_CLIENT_ENOMEM;
    s->have_data = 1;
  }
  return 0; /* event:, id:, retry: and unknown fields are ignored */
}

int epc_sse_feed(epc_sse *s, const char *p, size_t n) {
  size_t i = 0;
  if (s->last_cr && n && p[0] == '\n') i = 1; /* CRLF split across chunks */
  s->last_cr = 0;
  size_t start = i;
  for (; i < n; i++) {
    if (p[i] != '\n' && p[i] != '\r') continue;
    int rc;
    if (s->line.len) {
      if (epc_buf_add(&s->line, p + start, i - start)) return EP_CLIENT_ENOMEM;
      rc = process_line(s, s->line.data, s->line.len);
      s->line.len = 0;
    } else {
      rc = process_line(s, p + start, i - start);
    }
    if (rc) return rc;
    if (p[i] == '\r') {
      if (i + 1 < n && p[i + 1] == '\n') i++;
      else if (i + 1 == n) s->last_cr = 1;
    }
    start = i + 1;
  }
  if (start < n && epc_buf_add(&s->line, p + start, n - start)) return EP_CLIENT_ENOMEM;
  return 0;
}

int epc_sse_finish(epc_sse *s) {
  int rc = 0;
  if (s->line.len) {
    rc = process_line(s, s->line.data, s->line.len);
    s->line.len = 0;
  }
  if (!rc) rc = dispatch(s);
  return rc;
}
