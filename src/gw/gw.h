/* Gateway: the data plane under /endpoints/{ns}/{name}[/...]. Checks the
 * endpoint's state (paused -> 400 at once), wakes a scaled-to-zero endpoint
 * and holds the request until a replica is ready (deadline from
 * X-Scale-Up-Timeout / X-Wait-For-Model / the default; held-request cap ->
 * 503 + Retry-After), queues requests when every replica is busy (bounded:
 * 429 + Retry-After), balances over ready replicas by least in-flight, and
 * streams the replica's response through chunk by chunk (502 JSON when the
 * replica dies before answering; a client disconnect cancels upstream).
 * Authentication by endpoint type is done by the caller before
 * ep_gw_handle(). Loop thread only. */
#ifndef EP_GW_GW_H
#define EP_GW_GW_H

#include <jansson.h>
#include <uv.h>

#include "base/buf.h"
#include "http/http.h"
#include "sched/sched.h"

typedef struct ep_gw ep_gw;

typedef struct {
  unsigned queue_max;           /* queued requests per endpoint when replicas are busy (256) */
  unsigned held_max;            /* requests held per endpoint while it wakes (128) */
  unsigned default_hold_ms;     /* hold deadline without headers (120000) */
  unsigned max_hold_ms;         /* cap for X-Scale-Up-Timeout and X-Wait-For-Model (600000) */
  unsigned upstream_timeout_ms; /* no byte from the replica for this long -> 504 (600000) */
  size_t buffer_max_bytes; /* responses with Content-Length up to this are sent whole (1 MiB) */
} ep_gw_params;

ep_gw_params ep_gw_default_params(void);

/* sched is borrowed. Install ep_gw_capacity() as the sched io.capacity hook. */
int ep_gw_init(uv_loop_t *loop, ep_sched *sched, const ep_gw_params *p, ep_gw **out);
/* Fails queued requests (503), cancels upstream requests, frees. */
void ep_gw_free(ep_gw *g);

/* Serves one data-plane request (the gateway finishes it). subpath is "" or
 * starts with '/'. */
void ep_gw_handle(ep_gw *g, ep_http_req *req, const char *ns, const char *name,
                  const char *subpath);
/* A replica became ready / capacity freed / state changed: dispatch or fail
 * the endpoint's queue. */
void ep_gw_capacity(ep_gw *g, ep_sched_ep *ep);

/* Fails every queued request with 503 + Retry-After (shutdown). */
void ep_gw_drain(ep_gw *g);

/* Prometheus text: requests by endpoint and code, latency histogram, queue
 * depth, in-flight, replicas ready/target, wakes and wake duration, restarts. */
void ep_gw_metrics(ep_gw *g, ep_buf *out);
/* The same for one endpoint (ns and name NULL: all). */
void ep_gw_metrics_for(ep_gw *g, const char *ns, const char *name, ep_buf *out);
/* One endpoint's numbers as JSON (new reference): {namespace, name,
 * requests{total,serverErrors,byCode}, latencySeconds{count,sumSeconds,p50,
 * p90,p99}, queueDepth, inFlight, replicas{ready,target}, wakes{count,
 * secondsSum}, restarts}. Quantiles are estimated from the histogram
 * buckets (null without requests). */
json_t *ep_gw_metrics_json(ep_gw *g, const char *ns, const char *name);

/* Records a response the caller produced itself (401/403 before the gateway). */
void ep_gw_count(ep_gw *g, const char *ns, const char *name, int status, double seconds);

#endif
