/* Prometheus metrics of the runtime, named as TGI names them (tgi_request_*,
 * tgi_queue_size, tgi_batch_current_size, ...) so existing dashboards work.
 * Updated and rendered on the loop thread only; gauges that the compute
 * thread owns are passed in at render time. */
#ifndef EP_RT_METRICS_H
#define EP_RT_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define EP_HIST_MAX_BUCKETS 16

typedef struct {
  const double *bounds; /* upper bounds, ascending (static) */
  int nb;
  uint64_t counts[EP_HIST_MAX_BUCKETS]; /* per bucket, non-cumulative */
  uint64_t count;
  double sum;
} ep_hist;

typedef struct {
  uint64_t request_count, request_success;
  uint64_t failure_validation, failure_overloaded, failure_generation, failure_canceled;
  uint64_t generated_tokens_total, input_tokens_total;
  ep_hist duration, queue_duration, inference_duration, time_per_token, generated_tokens,
      input_length, max_new_tokens;
} ep_rt_metrics;

void ep_rt_metrics_init(ep_rt_metrics *m);
void ep_hist_observe(ep_hist *h, double v);

typedef struct {
  size_t queue_size, batch_size;
  uint64_t steps, step_tokens, max_batch_seen;
  int ready;
} ep_rt_gauges;

/* Appends the Prometheus text exposition (version 0.0.4) to out. */
int ep_rt_metrics_render(const ep_rt_metrics *m, const ep_rt_gauges *g, ep_buf *out);

#endif
