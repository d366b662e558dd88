/* Gateway and serving metrics in the Prometheus text format (gw.h):
 * endpointd_requests_total{namespace,endpoint,code}, a request latency
 * histogram, and from the reconciler queue depth, in-flight, replicas
 * ready/target, wakes, wake duration and restarts per endpoint. */
#include <stdio.h>
#include <string.h>

#include "gw/gw-impl.h"

static void lbl(ep_buf *b, const char *ns, const char *name) {
  ep_buf_printf(b, "namespace=\"%s\",endpoint=\"%s\"", ns, name);
}

typedef struct {
  ep_buf *b;
  int pass;
} sched_ctx;

static void per_ep(void *ctx, const ep_sched_ep_stats *st) {
  sched_ctx *x = ctx;
  ep_buf *b = x->b;
  static const char *const names[] = {
      "endpointd_queue_depth",           "endpointd_inflight_requests",
      "endpointd_replicas_ready",        "endpointd_replicas_target",
      "endpointd_wakes_total",           "endpointd_wake_seconds_sum",
      "endpointd_replica_restarts_total"};
  double v[] = {st->queued,        st->inflight,         st->ready,           st->target,
                (double)st->wakes, st->wake_seconds_sum, (double)st->restarts};
  ep_buf_printf(b, "%s{", names[x->pass]);
  lbl(b, st->ns, st->name);
  ep_buf_printf(b, "} %.6g\n", v[x->pass]);
}

void ep_gw_metrics(ep_gw *g, ep_buf *b) {
  ep_buf_puts(b,
              "# HELP endpointd_requests_total Data-plane requests by endpoint and status code.\n"
              "# TYPE endpointd_requests_total counter\n");
  for (gw_ep *ge = g->eps; ge; ge = ge->next)
    for (int i = 0; i < ge->ncodes; i++) {
      ep_buf_puts(b, "endpointd_requests_total{");
      lbl(b, ge->ns, ge->name);
      ep_buf_printf(b, ",code=\"%d\"} %llu\n", ge->codes[i].code,
                    (unsigned long long)ge->codes[i].n);
    }
  ep_buf_puts(b,
              "# HELP endpointd_request_duration_seconds Data-plane request latency.\n"
              "# TYPE endpointd_request_duration_seconds histogram\n");
  for (gw_ep *ge = g->eps; ge; ge = ge->next) {
    uint64_t cum = 0;
    for (int i = 0; i < EP_GW_NBUCKETS; i++) {
      cum += ge->hist[i];
      ep_buf_puts(b, "endpointd_request_duration_seconds_bucket{");
      lbl(b, ge->ns, ge->name);
      if (i == EP_GW_NBUCKETS - 1)
        ep_buf_printf(b, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
      else
        ep_buf_printf(b, ",le=\"%g\"} %llu\n", ep__gw_buckets[i], (unsigned long long)cum);
    }
    ep_buf_puts(b, "endpointd_request_duration_seconds_sum{");
    lbl(b, ge->ns, ge->name);
    ep_buf_printf(b, "} %.6f\n", ge->lat_sum);
    ep_buf_puts(b, "endpointd_request_duration_seconds_count{");
    lbl(b, ge->ns, ge->name);
    ep_buf_printf(b, "} %llu\n", (unsigned long long)ge->lat_n);
  }
  static const char *const help[][3] = {
      {"endpointd_queue_depth", "gauge", "Requests waiting in the gateway queue."},
      {"endpointd_inflight_requests", "gauge", "Requests being served by replicas."},
      {"endpointd_replicas_ready", "gauge", "Replicas answering their health route."},
      {"endpointd_replicas_target", "gauge", "Replicas the autoscaler wants."},
      {"endpointd_wakes_total", "counter", "Scale-ups from zero that reached a ready replica."},
      {"endpointd_wake_seconds_sum", "counter", "Total seconds from wake to first ready replica."},
      {"endpointd_replica_restarts_total", "counter", "Replica crashes and restarts."}};
  for (int pass = 0; pass < 7; pass++) {
    ep_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", help[pass][0], help[pass][2], help[pass][0],
                  help[pass][1]);
    sched_ctx x = {b, pass};
    ep_sched_foreach(g->sched, per_ep, &x);
  }
}
