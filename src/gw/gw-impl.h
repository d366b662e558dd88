/* Private to src/gw: per-endpoint gateway records (queue, counters) and the
 * per-request call shared by gw.c (admission, queue, deadlines), proxy.c
 * (forwarding to a replica, streaming back) and metrics.c. */
#ifndef EP_GW_IMPL_H
#define EP_GW_IMPL_H

#include "gw/gw.h"
#include "http/client.h"

#define EP_GW_NBUCKETS 12
extern const double ep__gw_buckets[EP_GW_NBUCKETS]; /* seconds; last is +Inf */

typedef struct gw_ep gw_ep;
typedef struct gw_call gw_call;

typedef struct {
  int code;
  uint64_t n;
} gw_code_count;

struct gw_ep {
  char ns[64], name[64];
  gw_call *qhead, *qtail; /* waiting requests, FIFO */
  unsigned qlen;
  uint64_t hist[EP_GW_NBUCKETS];
  double lat_sum;
  uint64_t lat_n;
  gw_code_count codes[16];
  int ncodes;
  gw_ep *next;
};

struct gw_call {
  ep_gw *g;
  gw_ep *ge;
  ep_http_req *req;      /* freed by the server once answered */
  uint64_t start_ns;     /* req->start_ns, kept for the latency metric */
  char *target;          /* subpath + query, in req's arena (used before answering) */
  uint64_t deadline_ms;  /* while queued */
  int held;              /* queued while no replica was ready (wake) */
  ep_sched_replica *rep; /* while proxying */
  ep_http_creq *up;      /* upstream request */
  int status;
  ep_buf body; /* buffered response (Content-Length, small) */
  char ctype[128];
  unsigned streaming : 1, buffered : 1, finished : 1;
  gw_call *qnext, *qprev;
};

struct ep_gw {
  uv_loop_t *loop;
  ep_sched *sched;
  ep_gw_params p;
  ep_http_client *http;
  uv_timer_t *timer;
  gw_ep *eps;
};

gw_ep *ep__gw_ep(ep_gw *g, const char *ns, const char *name); /* find or create */
/* proxy.c: sends call to replica r (acquired here, released when done). */
void ep__gw_forward(gw_call *c, ep_sched_replica *r);
/* Finishes the call's request with a JSON error (+ Retry-After when > 0),
 * counts it, frees the call. */
void ep__gw_fail(gw_call *c, int status, int retry_after, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Counts a finished request and frees the call (request already finished). */
void ep__gw_done(gw_call *c);
void ep__gw_record(gw_ep *ge, int status, double seconds);

#endif
