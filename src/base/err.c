/* ep_strerror: the message table generated from EP_ERRNO_MAP. */
#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>

const char *ep_strerror(int err) {
  switch (err) {
  case EP_OK: return "ok";
#define EP__ERR_STR(name, val, msg) case val: return msg;
  EP_ERRNO_MAP(EP__ERR_STR)
#undef EP__ERR_STR
  default: return "unknown error";
  }
}

int ep_errf(char *err, size_t errsz, int code, const char *fmt, ...) {
  if (err && errsz) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
  }
  return code;
}
