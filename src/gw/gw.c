/* Gateway admission and queueing (see gw.h): state checks, hold-while-waking
 * with per-request deadlines, bounded per-endpoint FIFO, dispatch to the
 * least-busy ready replica whenever capacity appears, and a 50 ms timer that
 * expires deadlines and fails the queue of endpoints that were paused,
 * failed or deleted meanwhile. Forwarding itself is in proxy.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/time.h"
#include "gw/gw-impl.h"

ep_gw_params ep_gw_default_params(void) {
  ep_gw_params p = {256, 128, 120000, 600000, 600000, 1u << 20};
  return p;
}

static void on_timer(uv_timer_t *t);

int ep_gw_init(uv_loop_t *loop, ep_sched *sched, const ep_gw_params *p, ep_gw **out) {
  ep_gw *g = calloc(1, sizeof *g);
  if (!g) return EP_ENOMEM;
  g->loop = loop;
  g->sched = sched;
  g->p = p ? *p : ep_gw_default_params();
  g->timer = calloc(1, sizeof *g->timer);
  if (!g->timer || ep_http_client_init(loop, &g->http)) {
    free(g->timer);
    free(g);
    return EP_ENOMEM;
  }
  uv_timer_init(loop, g->timer);
  g->timer->data = g;
  uv_timer_start(g->timer, on_timer, 50, 50);
  *out = g;
  return EP_OK;
}

gw_ep *ep__gw_ep(ep_gw *g, const char *ns, const char *name) {
  for (gw_ep *e = g->eps; e; e = e->next)
    if (!strcmp(e->ns, ns) && !strcmp(e->name, name)) return e;
  gw_ep *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  snprintf(e->ns, sizeof e->ns, "%s", ns);
  snprintf(e->name, sizeof e->name, "%s", name);
  e->next = g->eps;
  g->eps = e;
  return e;
}

void ep__gw_record(gw_ep *ge, int status, double seconds) {
  if (!ge) return;
  int i = 0;
  while (i < ge->ncodes && ge->codes[i].code != status) i++;
  if (i == ge->ncodes && ge->ncodes < 16) ge->codes[ge->ncodes++].code = status;
  if (i < ge->ncodes) ge->codes[i].n++;
  for (int b = 0; b < EP_GW_NBUCKETS; b++)
    if (seconds <= ep__gw_buckets[b] || b == EP_GW_NBUCKETS - 1) {
      ge->hist[b]++;
      break;
    }
  ge->lat_sum += seconds;
  ge->lat_n++;
}

void ep_gw_count(ep_gw *g, const char *ns, const char *name, int status, double seconds) {
  ep__gw_record(ep__gw_ep(g, ns, name), status, seconds);
}

static double call_seconds(const gw_call *c) {
  uint64_t now = ep_mono_ns();
  return c->start_ns && now > c->start_ns ? (double)(now - c->start_ns) / 1e9 : 0.0;
}

static void call_free(gw_call *c) {
  ep_buf_free(&c->body);
  free(c);
}

void ep__gw_done(gw_call *c) {
  ep__gw_record(c->ge, c->status, call_seconds(c)); /* c->req may be freed already */
  call_free(c);
}

void ep__gw_fail(gw_call *c, int status, int retry_after, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (retry_after > 0) {
    char ra[16];
    snprintf(ra, sizeof ra, "%d", retry_after);
    ep_http_add_header(c->req, "Retry-After", ra);
  }
  c->status = status;
  ep_http_respond_error(c->req, status, "%s", msg);
  ep__gw_done(c);
}

static void q_remove(gw_ep *ge, gw_call *c) {
  if (c->qprev)
    c->qprev->qnext = c->qnext;
  else
    ge->qhead = c->qnext;
  if (c->qnext)
    c->qnext->qprev = c->qprev;
  else
    ge->qtail = c->qprev;
  c->qnext = c->qprev = NULL;
  ge->qlen--;
}

static void q_push(gw_ep *ge, gw_call *c) {
  c->qprev = ge->qtail;
  c->qnext = NULL;
  if (ge->qtail)
    ge->qtail->qnext = c;
  else
    ge->qhead = c;
  ge->qtail = c;
  ge->qlen++;
}

static void sync_queued(ep_gw *g, gw_ep *ge) {
  ep_sched_ep *ep = ep_sched_find(g->sched, ge->ns, ge->name);
  if (ep) ep_sched_ep_set_queued(ep, ge->qlen);
}

/* Client went away: queued -> drop; proxying -> proxy.c cancels upstream. */
void ep__gw_proxy_abort(gw_call *c);
static void on_abort(ep_http_req *req, void *data) {
  (void)req;
  gw_call *c = data;
  if (c->rep || c->up) {
    ep__gw_proxy_abort(c);
    return;
  }
  if (c->finished) return;
  q_remove(c->ge, c);
  sync_queued(c->g, c->ge);
  c->status = 499;                                           /* client closed request */
  ep_http_respond(c->req, 499, "application/json", "{}", 2); /* no-op on an aborted request */
  ep__gw_done(c);
}

static int has_ready(const char *state) {
  return !strcmp(state, "running") || !strcmp(state, "updating") || !strcmp(state, "updateFailed");
}

static void fail_queue(gw_ep *ge, int status, int retry, const char *msg) {
  while (ge->qhead) {
    gw_call *c = ge->qhead;
    q_remove(ge, c);
    ep__gw_fail(c, status, retry, "%s", msg);
  }
}

static const char k_paused[] = "Bad Request: Invalid state: endpoint is paused; resume it first";

/* Dispatches what capacity allows, fails the queue when the endpoint can no
 * longer serve, expires deadlines (when now != 0). */
static void service(ep_gw *g, gw_ep *ge, uint64_t now) {
  if (!ge->qhead) return;
  ep_sched_ep *ep = ep_sched_find(g->sched, ge->ns, ge->name);
  if (!ep) {
    fail_queue(ge, 404, 0, "Endpoint not found");
    return;
  }
  if (ep_sched_ep_paused(ep)) {
    fail_queue(ge, 400, 0, k_paused);
    ep_sched_ep_set_queued(ep, 0);
    return;
  }
  if (ep_sched_ep_failed(ep)) {
    char msg[300];
    snprintf(msg, sizeof msg, "Service Unavailable: endpoint failed: %.240s",
             ep_sched_ep_error(ep) ? ep_sched_ep_error(ep) : "see its logs");
    fail_queue(ge, 503, 30, msg);
    ep_sched_ep_set_queued(ep, 0);
    return;
  }
  ep_sched_replica *r;
  while (ge->qhead && (r = ep_sched_pick(ep)) != NULL) {
    gw_call *c = ge->qhead;
    q_remove(ge, c);
    ep__gw_forward(c, r);
  }
  if (now) {
    for (gw_call *c = ge->qhead, *next; c; c = next) {
      next = c->qnext;
      if (c->deadline_ms > now) continue;
      q_remove(ge, c);
      if (c->held)
        ep__gw_fail(c, 503, 5, "Service Unavailable: endpoint is scaling up (%s); retry later",
                    ep_sched_ep_state(ep));
      else
        ep__gw_fail(c, 503, 1, "Service Unavailable: timed out waiting in the endpoint's queue");
    }
  }
  ep_sched_ep_set_queued(ep, ge->qlen);
}

void ep_gw_capacity(ep_gw *g, ep_sched_ep *ep) {
  const char *ns, *name;
  ep_sched_ep_name(ep, &ns, &name);
  for (gw_ep *ge = g->eps; ge; ge = ge->next)
    if (!strcmp(ge->ns, ns) && !strcmp(ge->name, name)) {
      service(g, ge, 0);
      return;
    }
}

static void on_timer(uv_timer_t *t) {
  ep_gw *g = t->data;
  uint64_t now = ep_mono_ms();
  for (gw_ep *ge = g->eps; ge; ge = ge->next) service(g, ge, now);
}

/* Hold deadline from the request headers; 0 when the request has none. */
static uint64_t hold_header_ms(ep_gw *g, ep_http_req *req) {
  const char *v = ep_http_req_header(req, "X-Scale-Up-Timeout");
  if (v && *v) {
    char *end;
    double s = strtod(v, &end);
    if (end != v && s >= 0) {
      double ms = s * 1000.0;
      if (ms < 1) ms = 1; /* "0": do not wait */
      return ms > g->p.max_hold_ms ? g->p.max_hold_ms : (uint64_t)ms;
    }
  }
  v = ep_http_req_header(req, "X-Wait-For-Model");
  if (v && (!strcasecmp(v, "true") || !strcmp(v, "1"))) return g->p.max_hold_ms;
  return 0;
}

/* Upstream target "subpath[?query]" in the request arena (the call only
 * forwards while the request is unanswered). */
static char *make_target(ep_http_req *req, const char *subpath) {
  const char *sp = subpath && *subpath ? subpath : "/";
  size_t ls = strlen(sp), lq = req->query ? strlen(req->query) : 0;
  char *t = ep_arena_alloc(&req->arena, ls + lq + 2);
  if (!t) return NULL;
  memcpy(t, sp, ls);
  if (lq) {
    t[ls] = '?';
    memcpy(t + ls + 1, req->query, lq);
  }
  t[ls + (lq ? lq + 1 : 0)] = '\0';
  return t;
}

void ep_gw_handle(ep_gw *g, ep_http_req *req, const char *ns, const char *name,
                  const char *subpath) {
  gw_ep *ge = ep__gw_ep(g, ns, name);
  ep_sched_ep *ep = ep_sched_find(g->sched, ns, name);
  gw_call *c = calloc(1, sizeof *c);
  if (!c || !ge) {
    free(c);
    ep_http_respond_error(req, 500, "Internal Server Error: out of memory");
    return;
  }
  c->g = g;
  c->ge = ge;
  c->req = req;
  c->start_ns = req->start_ns;
  if (!ep) {
    ep__gw_fail(c, 404, 0, "Endpoint %s/%s not found", ns, name);
    return;
  }
  if (ep_sched_ep_paused(ep)) {
    ep__gw_fail(c, 400, 0, k_paused);
    return;
  }
  if (ep_sched_ep_failed(ep)) {
    ep__gw_fail(c, 503, 30, "Service Unavailable: endpoint failed: %.240s",
                ep_sched_ep_error(ep) ? ep_sched_ep_error(ep) : "see its logs");
    return;
  }
  c->target = make_target(req, subpath);
  if (!c->target) {
    ep__gw_fail(c, 500, 0, "Internal Server Error: out of memory");
    return;
  }
  ep_http_req_on_abort(req, on_abort, c);
  int waking = ep_sched_ep_waking(ep);
  ep_sched_ep_touch(ep); /* activity; wakes a scaled-to-zero endpoint */
  ep_sched_replica *r = ge->qhead ? NULL : ep_sched_pick(ep);
  if (r) {
    ep__gw_forward(c, r);
    return;
  }
  c->held = !has_ready(ep_sched_ep_state(ep));
  uint64_t hold = hold_header_ms(g, req);
  if (c->held && !waking && !hold) {
    /* pending / initializing after create, resume or update: not woken by
     * traffic, so answer at once unless the client asked to wait */
    ep__gw_fail(c, 503, 5, "Service Unavailable: endpoint is not running (state: %s)",
                ep_sched_ep_state(ep));
    return;
  }
  if (!hold) hold = g->p.default_hold_ms;
  if (c->held && hold == 0) {
    ep__gw_fail(c, 503, 5, "Service Unavailable: endpoint is scaling up; retry later");
    return;
  }
  if (c->held && ge->qlen >= g->p.held_max) {
    ep__gw_fail(c, 503, 5,
                "Service Unavailable: endpoint is scaling up and too many requests are waiting");
    return;
  }
  if (!c->held && ge->qlen >= g->p.queue_max) {
    ep__gw_fail(c, 429, 1, "Too Many Requests: the endpoint's queue is full (%u waiting)",
                ge->qlen);
    return;
  }
  c->deadline_ms = ep_mono_ms() + hold;
  q_push(ge, c);
  ep_sched_ep_set_queued(ep, ge->qlen);
  service(g, ge, 0); /* a replica may have become ready during the wake tick */
}

void ep_gw_drain(ep_gw *g) {
  for (gw_ep *ge = g->eps; ge; ge = ge->next) {
    fail_queue(ge, 503, 5, "Service Unavailable: the server is shutting down");
    sync_queued(g, ge);
  }
}

void ep_gw_free(ep_gw *g) {
  if (!g) return;
  uv_timer_stop(g->timer);
  uv_close((uv_handle_t *)g->timer, (uv_close_cb)free);
  while (g->eps) {
    gw_ep *ge = g->eps;
    fail_queue(ge, 503, 1, "Service Unavailable: shutting down");
    g->eps = ge->next;
    free(ge);
  }
  ep_http_client_free(g->http);
  free(g);
}
