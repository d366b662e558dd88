/* Runtime metrics: fixed-bucket histograms and the Prometheus text format
 * (see metrics.h). Names follow TGI's router so scrape configs carry over. */
#include "rt/metrics.h"

#include <string.h>

static const double k_secs[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                0.5,   1,     2.5,  5,     10,   30,  60};
static const double k_tokens[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192};

static void hist_init(ep_hist *h, const double *b, int nb) {
  memset(h, 0, sizeof *h);
  h->bounds = b;
  h->nb = nb;
}

void ep_rt_metrics_init(ep_rt_metrics *m) {
  memset(m, 0, sizeof *m);
  int ns = (int)(sizeof k_secs / sizeof k_secs[0]), nt = (int)(sizeof k_tokens / sizeof k_tokens[0]);
  hist_init(&m->duration, k_secs, ns);
  hist_init(&m->queue_duration, k_secs, ns);
  hist_init(&m->inference_duration, k_secs, ns);
  hist_init(&m->time_per_token, k_secs, ns);
  hist_init(&m->generated_tokens, k_tokens, nt);
  hist_init(&m->input_length, k_tokens, nt);
  hist_init(&m->max_new_tokens, k_tokens, nt);
}

void ep_hist_observe(ep_hist *h, double v) {
  for (int i = 0; i < h->nb; i++)
    if (v <= h->bounds[i]) {
      h->counts[i]++;
      break;
    }
  h->count++;
  h->sum += v;
}

static void hist_render(ep_buf *o, const char *name, const char *help, const ep_hist *h) {
  ep_buf_printf(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
  uint64_t cum = 0;
  for (int i = 0; i < h->nb; i++) {
    cum += h->counts[i];
    ep_buf_printf(o, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i], (unsigned long long)cum);
  }
  ep_buf_printf(o, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
                (unsigned long long)h->count, name, h->sum, name, (unsigned long long)h->count);
}

static void counter(ep_buf *o, const char *name, const char *help, uint64_t v) {
  ep_buf_printf(o, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
                (unsigned long long)v);
}

static void gauge(ep_buf *o, const char *name, const char *help, double v) {
  ep_buf_printf(o, "# HELP %s %s\n# TYPE %s gauge\n%s %g\n", name, help, name, name, v);
}

int ep_rt_metrics_render(const ep_rt_metrics *m, const ep_rt_gauges *g, ep_buf *o) {
  counter(o, "tgi_request_count", "Generation requests received", m->request_count);
  counter(o, "tgi_request_success", "Generation requests that finished", m->request_success);
  ep_buf_printf(o,
                "# HELP tgi_request_failure Failed generation requests by error type\n"
                "# TYPE tgi_request_failure counter\n"
                "tgi_request_failure{err=\"validation\"} %llu\n"
                "tgi_request_failure{err=\"overloaded\"} %llu\n"
                "tgi_request_failure{err=\"generation\"} %llu\n"
                "tgi_request_failure{err=\"canceled\"} %llu\n",
                (unsigned long long)m->failure_validation, (unsigned long long)m->failure_overloaded,
                (unsigned long long)m->failure_generation, (unsigned long long)m->failure_canceled);
  hist_render(o, "tgi_request_duration", "End-to-end request duration (seconds)", &m->duration);
  hist_render(o, "tgi_request_queue_duration", "Time waiting before the first step (seconds)",
              &m->queue_duration);
  hist_render(o, "tgi_request_inference_duration", "Time in the batch (seconds)",
              &m->inference_duration);
  hist_render(o, "tgi_request_mean_time_per_token_duration", "Mean time per generated token (seconds)",
              &m->time_per_token);
  hist_render(o, "tgi_request_generated_tokens", "Generated tokens per request",
              &m->generated_tokens);
  hist_render(o, "tgi_request_input_length", "Input tokens per request", &m->input_length);
  hist_render(o, "tgi_request_max_new_tokens", "max_new_tokens per request", &m->max_new_tokens);
  counter(o, "tgi_request_generated_tokens_total", "Generated tokens, all requests",
          m->generated_tokens_total);
  counter(o, "tgi_request_input_tokens_total", "Input tokens, all requests", m->input_tokens_total);
  gauge(o, "tgi_queue_size", "Requests waiting to join the batch", (double)g->queue_size);
  gauge(o, "tgi_batch_current_size", "Sequences in the running batch", (double)g->batch_size);
  gauge(o, "tgi_batch_max_size_seen", "Largest batch run so far", (double)g->max_batch_seen);
  counter(o, "tgi_batch_inference_count", "Forward steps run", g->steps);
  counter(o, "tgi_batch_inference_tokens", "Tokens pushed through forward steps", g->step_tokens);
  gauge(o, "endpointd_runtime_ready", "1 once the model is loaded", g->ready ? 1 : 0);
  return 0;
}
