/* Gateway and serving metrics (gw.h) in the Prometheus text format:
 * endpointd_requests_total{namespace,endpoint,code}, the request latency
 * histogram endpointd_request_duration_seconds, and from the reconciler
 * queue_depth, in_flight, replicas_ready/target, wakes_total, the
 * wake_duration_seconds summary (_sum/_count) and replica restarts; all or
 * one endpoint's. Also a JSON summary of one endpoint (ep_gw_metrics_json).
 * Names match what the dashboard parses (web/metrics.js). */
#include <stdio.h>
#include <string.h>

#include "gw/gw-impl.h"

static void lbl(ep_buf *b, const char *ns, const char *name) {
  ep_buf_printf(b, "namespace=\"%s\",endpoint=\"%s\"", ns, name);
}

static int match(const char *ns, const char *name, const char *want_ns, const char *want_name) {
  return !want_ns || (!strcmp(ns, want_ns) && !strcmp(name, want_name));
}

#define NSCHED 8
static const char *const k_sched[NSCHED][3] = {
    {"endpointd_queue_depth", "gauge", "Requests waiting in the gateway queue."},
    {"endpointd_in_flight", "gauge", "Requests being served by replicas."},
    {"endpointd_replicas_ready", "gauge", "Replicas answering their health route."},
    {"endpointd_replicas_target", "gauge", "Replicas the autoscaler wants."},
    {"endpointd_wakes_total", "counter", "Scale-ups from zero that reached a ready replica."},
    {"endpointd_wake_duration_seconds_sum", "summary",
     "Seconds from wake to first ready replica (sum over wakes)."},
    {"endpointd_wake_duration_seconds_count", "", ""},
    {"endpointd_replica_restarts_total", "counter", "Replica crashes and restarts."}};

static void sched_values(const ep_sched_ep_stats *st, double v[NSCHED]) {
  v[0] = st->queued;
  v[1] = st->inflight;
  v[2] = st->ready;
  v[3] = st->target;
  v[4] = (double)st->wakes;
  v[5] = st->wake_seconds_sum;
  v[6] = (double)st->wakes;
  v[7] = (double)st->restarts;
}

typedef struct {
  ep_buf *b;
  int pass;
  const char *ns, *name;
  json_t *json;
} sched_ctx;

static void per_ep(void *ctx, const ep_sched_ep_stats *st) {
  sched_ctx *x = ctx;
  if (!match(st->ns, st->name, x->ns, x->name)) return;
  double v[NSCHED];
  sched_values(st, v);
  if (x->json) {
    json_object_set_new(x->json, "queueDepth", json_integer((json_int_t)v[0]));
    json_object_set_new(x->json, "inFlight", json_integer((json_int_t)v[1]));
    json_object_set_new(
        x->json, "replicas",
        json_pack("{s:I,s:I}", "ready", (json_int_t)v[2], "target", (json_int_t)v[3]));
    json_object_set_new(x->json, "wakes",
                        json_pack("{s:I,s:f}", "count", (json_int_t)v[4], "secondsSum", v[5]));
    json_object_set_new(x->json, "restarts", json_integer((json_int_t)v[7]));
    return;
  }
  ep_buf_printf(x->b, "%s{", k_sched[x->pass][0]);
  lbl(x->b, st->ns, st->name);
  ep_buf_printf(x->b, "} %.6g\n", v[x->pass]);
}

void ep_gw_metrics_for(ep_gw *g, const char *ns, const char *name, ep_buf *b) {
  ep_buf_puts(b,
              "# HELP endpointd_requests_total Data-plane requests by endpoint and status code.\n"
              "# TYPE endpointd_requests_total counter\n");
  for (gw_ep *ge = g->eps; ge; ge = ge->next) {
    if (!match(ge->ns, ge->name, ns, name)) continue;
    for (int i = 0; i < ge->ncodes; i++) {
      ep_buf_puts(b, "endpointd_requests_total{");
      lbl(b, ge->ns, ge->name);
      ep_buf_printf(b, ",code=\"%d\"} %llu\n", ge->codes[i].code,
                    (unsigned long long)ge->codes[i].n);
    }
  }
  ep_buf_puts(b,
              "# HELP endpointd_request_duration_seconds Data-plane request latency.\n"
              "# TYPE endpointd_request_duration_seconds histogram\n");
  for (gw_ep *ge = g->eps; ge; ge = ge->next) {
    if (!match(ge->ns, ge->name, ns, name)) continue;
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
  for (int pass = 0; pass < NSCHED; pass++) {
    if (k_sched[pass][1][0]) {
      /* the summary's HELP/TYPE name is the base name (without _sum) */
      const char *nm = k_sched[pass][0];
      size_t n = strlen(nm);
      if (!strcmp(k_sched[pass][1], "summary")) n -= 4;
      ep_buf_printf(b, "# HELP %.*s %s\n# TYPE %.*s %s\n", (int)n, nm, k_sched[pass][2], (int)n, nm,
                    k_sched[pass][1]);
    }
    sched_ctx x = {b, pass, ns, name, NULL};
    ep_sched_foreach(g->sched, per_ep, &x);
  }
}

void ep_gw_metrics(ep_gw *g, ep_buf *b) { ep_gw_metrics_for(g, NULL, NULL, b); }

/* Latency quantile from the cumulative histogram, linear inside a bucket
 * (as Prometheus histogram_quantile); -1 without samples. */
static double hist_quantile(const gw_ep *ge, double q) {
  uint64_t total = 0;
  for (int i = 0; i < EP_GW_NBUCKETS; i++) total += ge->hist[i];
  if (!total) return -1;
  double rank = q * (double)total, cum = 0;
  for (int i = 0; i < EP_GW_NBUCKETS; i++) {
    double prev = cum;
    cum += (double)ge->hist[i];
    if (cum >= rank) {
      double lo = i ? ep__gw_buckets[i - 1] : 0;
      if (i == EP_GW_NBUCKETS - 1) return lo; /* +Inf bucket: its lower bound */
      double span = cum - prev;
      return span > 0 ? lo + (ep__gw_buckets[i] - lo) * ((rank - prev) / span) : ep__gw_buckets[i];
    }
  }
  return -1;
}

json_t *ep_gw_metrics_json(ep_gw *g, const char *ns, const char *name) {
  json_t *o = json_pack("{s:s,s:s}", "namespace", ns, "name", name);
  if (!o) return NULL;
  json_t *codes = json_object();
  uint64_t total = 0, errors = 0;
  json_t *lat = json_pack("{s:I,s:f,s:n,s:n,s:n}", "count", (json_int_t)0, "sumSeconds", 0.0, "p50",
                          "p90", "p99");
  for (gw_ep *ge = g->eps; ge; ge = ge->next) {
    if (!match(ge->ns, ge->name, ns, name)) continue;
    for (int i = 0; i < ge->ncodes; i++) {
      char k[16];
      snprintf(k, sizeof k, "%d", ge->codes[i].code);
      json_object_set_new(codes, k, json_integer((json_int_t)ge->codes[i].n));
      total += ge->codes[i].n;
      if (ge->codes[i].code >= 500) errors += ge->codes[i].n;
    }
    json_object_set_new(lat, "count", json_integer((json_int_t)ge->lat_n));
    json_object_set_new(lat, "sumSeconds", json_real(ge->lat_sum));
    static const double qs[] = {0.5, 0.9, 0.99};
    static const char *const qn[] = {"p50", "p90", "p99"};
    for (int i = 0; i < 3; i++) {
      double v = hist_quantile(ge, qs[i]);
      json_object_set_new(lat, qn[i], v < 0 ? json_null() : json_real(v));
    }
  }
  json_object_set_new(o, "requests",
                      json_pack("{s:I,s:I,s:o}", "total", (json_int_t)total, "serverErrors",
                                (json_int_t)errors, "byCode", codes));
  json_object_set_new(o, "latencySeconds", lat);
  json_object_set_new(o, "queueDepth", json_integer(0));
  json_object_set_new(o, "inFlight", json_integer(0));
  json_object_set_new(o, "replicas", json_pack("{s:i,s:i}", "ready", 0, "target", 0));
  json_object_set_new(o, "wakes", json_pack("{s:i,s:f}", "count", 0, "secondsSum", 0.0));
  json_object_set_new(o, "restarts", json_integer(0));
  sched_ctx x = {NULL, 0, ns, name, o};
  ep_sched_foreach(g->sched, per_ep, &x);
  return o;
}
