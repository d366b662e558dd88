/* The seam between the management plane and the serving subsystem (sched,
 * gw, sup). The daemon installs one ep_serving_hooks; ctl calls it after
 * every committed desired-state change and for every data-plane request
 * under /endpoints/{ns}/{name}[/...]. With no hooks installed, endpoints stay
 * "pending" and the gateway answers 503 {"error": "endpoint is not running
 * (state: ...)"} + Retry-After. All hooks run on the loop thread. */
#ifndef EP_CTL_SERVING_H
#define EP_CTL_SERVING_H

#include "base/buf.h"
#include "http/http.h"

typedef struct {
  /* Desired state of ns/name changed and is committed (created, updated,
   * paused, resumed, scaled to zero, deleted: then the row is gone). */
  void (*changed)(void *ctx, const char *ns, const char *name);
  /* A data-plane request for ns/name; subpath is "" or starts with '/'
   * ("/generate"). The hook owns the request and must finish it. Auth by
   * endpoint type is the hook's job (ep_auth_endpoint_access). */
  void (*gateway)(void *ctx, ep_http_req *req, const char *ns, const char *name,
                  const char *subpath);
  /* Optional: appends Prometheus text lines to the daemon's /metrics. */
  void (*metrics)(void *ctx, ep_buf *out);
  /* Optional: appends replica log lines for ns/name to GET .../logs
   * (after the endpoint's events). tail = max lines wanted (0 = all). */
  void (*logs)(void *ctx, const char *ns, const char *name, int tail, ep_buf *out);
  void *ctx;
} ep_serving_hooks;

#endif
