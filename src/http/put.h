/* Byte writers for the HTTP hot paths (response head in response.c, upstream
 * request in client.c): copy into a buffer the caller has already sized, no
 * printf, each returns the new end. Private to src/http. */
#ifndef EP_HTTP_PUT_H
#define EP_HTTP_PUT_H

#include <string.h>

static inline char *ep__put(char *p, const char *s, size_t n) {
  memcpy(p, s, n);
  return p + n;
}
#define EP_PUT_LIT(p, lit) ep__put(p, lit, sizeof lit - 1)

/* decimal text of v */
static inline char *ep__put_u64(char *p, unsigned long long v) {
  char tmp[24];
  int n = 0;
  do tmp[n++] = (char)('0' + v % 10);
  while ((v /= 10) != 0);
  while (n) *p++ = tmp[--n];
  return p;
}

#endif
