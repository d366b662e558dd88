/* ep_buf: a growable byte buffer, always NUL-terminated after `len` bytes.
 * Owns its memory; ep_buf_free() releases it. Append functions return EP_OK
 * or EP_ENOMEM and leave the buffer valid on failure. */
#ifndef EP_BASE_BUF_H
#define EP_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct {
  char *data; /* NULL until the first append; then data[len] == '\0' */
  size_t len; /* bytes used, excluding the terminator */
  size_t cap; /* bytes allocated */
} ep_buf;

#define EP_BUF_INIT {NULL, 0, 0}

int ep_buf_reserve(ep_buf *b, size_t extra);
int ep_buf_append(ep_buf *b, const void *p, size_t n);
int ep_buf_puts(ep_buf *b, const char *s);
int ep_buf_printf(ep_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ep_buf_vprintf(ep_buf *b, const char *fmt, va_list ap);
void ep_buf_reset(ep_buf *b);          /* len = 0, keeps capacity */
void ep_buf_consume(ep_buf *b, size_t n); /* drop n bytes from the front */
char *ep_buf_steal(ep_buf *b);         /* caller owns the returned string (may be NULL if empty) */
void ep_buf_free(ep_buf *b);
const char *ep_buf_cstr(const ep_buf *b); /* "" when empty */

#endif
