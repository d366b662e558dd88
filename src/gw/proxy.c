/* Gateway forwarding (gw-impl.h): sends one request to a replica with the
 * upstream client, passes the response back — small Content-Length bodies
 * whole, everything else (SSE, chunked, large) chunk by chunk as it arrives —
 * and maps upstream failures: connect refused -> retried on another replica
 * or re-queued (nothing was sent), lost before the head -> 502 JSON, no byte
 * for the timeout -> 504, lost mid-stream -> an SSE error event then end. A
 * client disconnect cancels the upstream request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "gw/gw-impl.h"

const double ep__gw_buckets[EP_GW_NBUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                               0.5,   1,    2.5,   5,    10,  1e300};

/* Headers not passed through in either direction (hop-by-hop, or set by our
 * server/client itself): 0 = pass, else one of these. Switch on the length
 * first: this runs for every header of every proxied request and response. */
enum { HDR_PASS = 0, HDR_DROP, HDR_CTYPE, HDR_CLEN };
static int hop_by_hop(const char *n) {
  switch (strlen(n)) {
  case 2: return !strcasecmp(n, "TE");
  case 4: return !strcasecmp(n, "Host") || !strcasecmp(n, "Date");
  case 6: return !strcasecmp(n, "Server");
  case 7: return !strcasecmp(n, "Upgrade") || !strcasecmp(n, "Trailer");
  case 10: return !strcasecmp(n, "Connection") || !strcasecmp(n, "Keep-Alive");
  case 12:
    return !strcasecmp(n, "Content-Type")   ? HDR_CTYPE
           : !strcasecmp(n, "X-Request-Id") ? HDR_DROP
                                            : HDR_PASS;
  case 13: return !strcasecmp(n, "Authorization");
  case 14: return !strcasecmp(n, "Content-Length") ? HDR_CLEN : HDR_PASS;
  case 17: return !strcasecmp(n, "Transfer-Encoding");
  case 19: return !strcasecmp(n, "Proxy-Authorization");
  default: return HDR_PASS;
  }
}

static void set_ctype(gw_call *c, const char *v) {
  size_t n = strlen(v);
  if (n >= sizeof c->ctype) n = sizeof c->ctype - 1;
  memcpy(c->ctype, v, n);
  c->ctype[n] = '\0';
}

static void up_head(ep_http_creq *q, int status, const ep_http_header *h, size_t n, void *ud) {
  (void)q;
  gw_call *c = ud;
  c->status = status;
  long long clen = -1;
  set_ctype(c, "application/octet-stream");
  int has_ctype = 0;
  for (size_t i = 0; i < n; i++) {
    int k = hop_by_hop(h[i].name);
    if (k == HDR_PASS) {
      ep_http_add_header(c->req, h[i].name, h[i].value);
    } else if (k == HDR_CTYPE) {
      set_ctype(c, h[i].value);
      has_ctype = 1;
    } else if (k == HDR_CLEN) {
      clen = strtoll(h[i].value, NULL, 10);
    }
  }
  int sse = has_ctype && strstr(c->ctype, "text/event-stream") != NULL;
  if (clen >= 0 && (size_t)clen <= c->g->p.buffer_max_bytes && !sse) {
    c->buffered = 1;
    return;
  }
  c->streaming = 1;
  ep_http_stream_begin(c->req, status, has_ctype ? c->ctype : NULL);
}

static void up_body(ep_http_creq *q, const char *d, size_t len, void *ud) {
  (void)q;
  gw_call *c = ud;
  if (c->buffered)
    ep_buf_append(&c->body, d, len);
  else if (c->streaming)
    ep_http_stream_write(c->req, d, len);
}

/* Finishes the call and then releases its replica (which may dispatch the
 * queue; the call is gone by then). */
static void finish(gw_call *c) {
  ep_sched_replica *r = c->rep;
  c->rep = NULL;
  c->finished = 1;
  ep__gw_done(c);
  if (r) ep_sched_replica_release(r);
}

static void up_done(ep_http_creq *q, int err, void *ud) {
  (void)q;
  gw_call *c = ud;
  c->up = NULL;
  if (!err) {
    if (c->buffered)
      ep_http_respond(c->req, c->status, c->ctype, c->body.data, c->body.len);
    else if (c->streaming)
      ep_http_stream_end(c->req);
    else
      ep_http_respond(c->req, c->status, c->ctype, "", 0);
    finish(c);
    return;
  }
  int port = c->rep ? ep_sched_replica_port(c->rep) : 0;
  if (err == EP_ECONN && !c->streaming && c->status == 0 && c->rep) {
    /* nothing was sent: the replica is gone or not listening; try another */
    ep_sched_replica *old = c->rep;
    c->rep = NULL;
    /* picked before old is released (it may be freed then); never old again */
    ep_sched_ep *ep = ep_sched_find(c->g->sched, c->ge->ns, c->ge->name);
    ep_sched_replica *r = ep ? ep_sched_pick_except(ep, old) : NULL;
    ep_sched_replica_release(old);
    if (r) {
      ep__gw_forward(c, r);
      return;
    }
    c->status = 502;
    ep_http_respond_error(c->req, 502, "Bad Gateway: could not connect to a replica");
    finish(c);
    return;
  }
  ep_log_warn("upstream failed", "endpoint=%s/%s port=%d err=%s", c->ge->ns, c->ge->name, port,
              ep_strerror(err));
  if (c->streaming) {
    if (strstr(c->ctype, "text/event-stream")) {
      static const char ev[] =
          "data: {\"error\":\"replica failed while streaming\",\"error_type\":\"replica\"}\n\n";
      ep_http_stream_write(c->req, ev, sizeof ev - 1);
    }
    ep_http_stream_end(c->req);
  } else {
    int st = err == EP_ETIMEOUT ? 504 : 502;
    c->status = st;
    /* headers copied from the failed response must not leak into the error */
    c->req->nresp_headers = 0;
    ep_http_respond_error(c->req, st, "%s",
                          st == 504 ? "Gateway Timeout: the replica did not answer in time"
                                    : "Bad Gateway: the replica closed the connection before "
                                      "answering (it may have crashed)");
  }
  finish(c);
}

static const ep_http_client_cbs k_cbs = {up_head, up_body, up_done};

void ep__gw_forward(gw_call *c, ep_sched_replica *r) {
  ep_http_req *req = c->req;
  ep_http_header hs[64];
  size_t n = 0;
  for (size_t i = 0; i < req->nheaders && n < 62; i++) {
    int k = hop_by_hop(req->headers[i].name);
    if (k == HDR_PASS || k == HDR_CTYPE) hs[n++] = req->headers[i];
  }
  hs[n].name = "X-Request-Id";
  hs[n++].value = req->request_id;
  c->rep = r;
  ep_sched_replica_acquire(r);
  ep_http_client_reqspec rs = {
      req->method, c->target, hs, n, req->body, req->body_len, c->g->p.upstream_timeout_ms};
  int rc = ep_http_client_send(c->g->http, ep_sched_replica_host(r), ep_sched_replica_port(r), &rs, &k_cbs, c,
                               &c->up);
  if (rc) {
    c->up = NULL;
    c->status = 502;
    ep_http_respond_error(req, 502, "Bad Gateway: could not reach a replica");
    finish(c);
  }
}

void ep__gw_proxy_abort(gw_call *c) {
  if (c->finished) return;
  if (c->up) {
    ep_http_client_cancel(c->up);
    c->up = NULL;
  }
  if (c->streaming)
    ep_http_stream_end(c->req);
  else
    ep_http_respond(c->req, 499, "application/json", "{}", 2);
  c->status = 499;
  finish(c);
}
