/* Growable byte buffer; see buf.h. Growth doubles capacity (amortised O(1)). */
#include "base/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

int ep_buf_reserve(ep_buf *b, size_t extra) {
  size_t need = b->len + extra + 1;
  if (need <= b->cap) return EP_OK;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) cap *= 2;
  char *p = realloc(b->data, cap);
  if (!p) return EP_ENOMEM;
  b->data = p;
  b->cap = cap;
  return EP_OK;
}

int ep_buf_append(ep_buf *b, const void *p, size_t n) {
  if (ep_buf_reserve(b, n)) return EP_ENOMEM;
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return EP_OK;
}

int ep_buf_puts(ep_buf *b, const char *s) { return ep_buf_append(b, s, strlen(s)); }

int ep_buf_vprintf(ep_buf *b, const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0) return EP_EINVAL;
  if (ep_buf_reserve(b, (size_t)n)) return EP_ENOMEM;
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  b->len += (size_t)n;
  return EP_OK;
}

int ep_buf_printf(ep_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = ep_buf_vprintf(b, fmt, ap);
  va_end(ap);
  return rc;
}

void ep_buf_reset(ep_buf *b) {
  b->len = 0;
  if (b->data) b->data[0] = '\0';
}

void ep_buf_consume(ep_buf *b, size_t n) {
  if (n >= b->len) {
    ep_buf_reset(b);
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
  b->data[b->len] = '\0';
}

char *ep_buf_steal(ep_buf *b) {
  char *p = b->data;
  b->data = NULL;
  b->len = b->cap = 0;
  return p;
}

void ep_buf_free(ep_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

const char *ep_buf_cstr(const ep_buf *b) { return b->data ? b->data : ""; }
