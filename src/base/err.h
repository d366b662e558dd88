/* Error codes shared by every module: negative ints from one X-macro table.
 * Zero is success. Library and daemon code returns these and never exits on
 * bad input; ep_strerror() gives a stable human message. */
#ifndef EP_BASE_ERR_H
#define EP_BASE_ERR_H

#define EP_ERRNO_MAP(X)                                        \
  X(NOMEM,     -1,  "out of memory")                           \
  X(INVAL,     -2,  "invalid argument")                        \
  X(IO,        -3,  "input/output error")                      \
  X(NOTFOUND,  -4,  "not found")                               \
  X(EXISTS,    -5,  "already exists")                          \
  X(PARSE,     -6,  "parse error")                             \
  X(RANGE,     -7,  "value out of range")                      \
  X(UNSUPPORTED, -8, "unsupported")                            \
  X(FORBIDDEN, -9,  "forbidden")                               \
  X(UNAUTH,    -10, "unauthorized")                            \
  X(TOOBIG,    -11, "too large")                               \
  X(TIMEOUT,   -12, "timed out")                               \
  X(BUSY,      -13, "busy")                                    \
  X(STATE,     -14, "invalid state")                           \
  X(CORRUPT,   -15, "corrupt data")                            \
  X(DB,        -16, "database error")                          \
  X(CANCELED,  -17, "canceled")                                \
  X(CONN,      -18, "connection error")                        \
  X(NOSPACE,   -19, "no space left on device")                 \
  X(READONLY,  -20, "read-only storage")

typedef enum {
  EP_OK = 0,
#define EP__ERR_ENUM(name, val, msg) EP_E##name = (val),
  EP_ERRNO_MAP(EP__ERR_ENUM)
#undef EP__ERR_ENUM
} ep_err;

/* Static string for an ep_err (or "unknown error"). Never NULL. */
const char *ep_strerror(int err);

#include <stddef.h>
/* Writes a formatted message into err (when err and errsz are set) and
 * returns code: `return ep_errf(err, errsz, EP_EPARSE, "bad %s", x);` */
int ep_errf(char *err, size_t errsz, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
