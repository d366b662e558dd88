/* ep_strerror: the message table generated from EP_ERRNO_MAP. */
#include "base/err.h"

const char *ep_strerror(int err) {
  switch (err) {
  case EP_OK: return "ok";
#define EP__ERR_STR(name, val, msg) case val: return msg;
  EP_ERRNO_MAP(EP__ERR_STR)
#undef EP__ERR_STR
  default: return "unknown error";
  }
}
