/* Connection limit of the HTTP server: the default limit derived from the
 * process's descriptor limit, the 503 + Retry-After answer written to a
 * connection accepted over the limit, and rate-limited logging of accept
 * errors (EMFILE/ENFILE) so a descriptor shortage is visible but not noisy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "base/log.h"
#include "base/time.h"
#include "http/conn.h"

size_t ep__http_derive_max_conns(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 4096;
  size_t half = (size_t)rl.rlim_cur / 2;
  return half < 32 ? 32 : half;
}

/* At most one warning per second per server; counts what it did not log. */
static int log_due(ep_http_server *s) {
  uint64_t now = ep_mono_ms();
  if (s->last_limit_log_ms && now - s->last_limit_log_ms < 1000) return 0;
  s->last_limit_log_ms = now;
  return 1;
}

void ep__http_accept_error(ep_http_server *s, int uv_status) {
  s->accept_errors++;
  if (log_due(s))
    ep_log_warn("accept failed", "srv=%s err=\"%s\" accept_errors=%llu conns=%zu", s->name,
                uv_strerror(uv_status), (unsigned long long)s->accept_errors, s->nconns);
}

static void on_reject_shutdown(uv_shutdown_t *sr, int status) {
  (void)status;
  free(sr); /* the connection closes on EOF or its timer, not here */
}

void ep__conn_reject(ep_http_conn *c) {
  ep_http_server *s = c->srv;
  if (log_due(s))
    ep_log_warn("connection limit reached", "srv=%s max_conns=%zu rejected_total=%llu", s->name,
                s->max_conns, (unsigned long long)s->rejected_total);
  char body[160], msg[512];
  int bl = snprintf(body, sizeof body,
                    "{\"error\":\"Service Unavailable: too many open connections (limit %zu); "
                    "retry later\"}",
                    s->max_conns);
  int n = snprintf(msg, sizeof msg,
                   "HTTP/1.1 503 Service Unavailable\r\nDate: %s\r\n"
                   "Content-Type: application/json\r\nRetry-After: %u\r\n"
                   "X-Error-Message: too many open connections\r\n"
                   "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
                   ep__http_date(), s->p.retry_after_s, bl, body);
  if (n <= 0 || (size_t)n >= sizeof msg) return;
  /* A fresh socket's send buffer takes this at once; a partial write just
   * leaves the client with a truncated answer before the close. */
  uv_buf_t b = uv_buf_init(msg, (unsigned)n);
  uv_try_write(&c->io.stream, &b, 1);
  uv_shutdown_t *sr = malloc(sizeof *sr);
  if (sr && uv_shutdown(sr, &c->io.stream, on_reject_shutdown) != 0) free(sr);
}
