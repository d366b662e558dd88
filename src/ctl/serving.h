/* The seam between the management plane and the serving subsystem (sched,
 * gw, sup). The daemon installs one ep_serving_hooks; ctl calls it after
 * every committed desired-state change and for every data-plane request
 * under /endpoints/{ns}/{name}[/...]. With no hooks installed, endpoints stay
 * "pending" and the gateway answers 503 {"error": "endpoint is not running
 * (state: ...)"} + Retry-After. All hooks run on the loop thread. */
#ifndef EP_CTL_SERVING_H
#define EP_CTL_SERVING_H

#include <stdint.h>

#include "base/buf.h"
#include "http/http.h"

struct json_t;

typedef struct {
  /* Desired state of ns/name changed and is committed (created, updated,
   * paused, resumed, scaled to zero, deleted: then the row is gone). */
  void (*changed)(void *ctx, const char *ns, const char *name);
  /* A data-plane request for ns/name; subpath is "" or starts with '/'
   * ("/generate"). The hook owns the request and must finish it. Auth by
   * endpoint type is the hook's job (ep_auth_endpoint_access). */
  void (*gateway)(void *ctx, ep_http_req *req, const char *ns, const char *name,
                  const char *subpath);
  /* Optional: appends Prometheus text lines to the daemon's /metrics (ns and
   * name NULL), or only ns/name's samples (GET .../metrics). */
  void (*metrics)(void *ctx, const char *ns, const char *name, ep_buf *out);
  /* Optional: ns/name's serving metrics as a JSON object (new reference;
   * NULL when there is nothing to report). */
  struct json_t *(*metrics_json)(void *ctx, const char *ns, const char *name);
  /* Optional: appends replica log lines of ns/name (both rotated files, in
   * order) stamped at or after since_ms (0 = all), at most the last `tail`
   * (0 = all). Lines start with an ISO timestamp. */
  void (*logs)(void *ctx, const char *ns, const char *name, int tail, int64_t since_ms,
               ep_buf *out);
  /* Optional: follows ns/name's log (GET .../logs?follow=1). Returns 0 when it
   * took over req: it sends a chunked text/plain head, `first` (len bytes),
   * then every line appended to the log, until the client disconnects, the
   * endpoint is deleted or the daemon stops. Otherwise returns the HTTP
   * status ctl should answer (429: too many followers) and leaves req alone. */
  int (*logs_follow)(void *ctx, ep_http_req *req, const char *ns, const char *name,
                     const char *first, size_t len);
  void *ctx;
} ep_serving_hooks;

#endif
