/* Runtime server object: model loading on a helper thread, the route table,
 * health/info/metrics, the async hand-off from the compute thread, and
 * shutdown. Route bodies live in server_tgi.c and server_oai.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "http/router.h"
#include "rt/server-impl.h"
#include "rt/tei.h"

ep_rt_params ep_rt_default_params(void) {
  ep_rt_params p = {0};
  p.task = "text-generation";
  p.dtype = EP_DTYPE_F32;
  p.max_batch_size = 8;
  p.max_concurrent_requests = 128;
  p.max_stop_sequences = 4;
  p.max_top_n_tokens = 5;
  p.max_client_batch_size = 4;
  return p;
}

static void on_progress(uv_async_t *a) {
  ep_rt *rt = a->data;
  if (rt->sched) rt_jobs_pump(rt);
}

static void notify_cb(void *ctx) { uv_async_send(&((ep_rt *)ctx)->async); }

static void load_main(void *arg) {
  ep_rt *rt = arg;
  char err[400] = "";
  ep_model_params mp = ep_model_default_params();
  mp.dir = rt->p.model_dir;
  mp.threads = rt->p.threads;
  mp.dtype = rt->p.dtype;
  int rc = ep_tok_load_dir(rt->p.model_dir, &rt->tok, err, sizeof err);
  if (rc != EP_OK) {
    snprintf(rt->load_err, sizeof rt->load_err, "tokenizer: %s", err);
  } else {
    rc = ep_model_load(&mp, &rt->model, err, sizeof err);
    if (rc != EP_OK) snprintf(rt->load_err, sizeof rt->load_err, "model: %s", err);
  }
  uv_async_send(&rt->load_async);
}

static void on_loaded(uv_async_t *a) {
  ep_rt *rt = a->data;
  uv_thread_join(&rt->load_thread);
  rt->load_started = 0;
  if (rt->closing) return;
  if (!rt->model || !rt->tok) {
    rt->ready = -1;
    ep_log_error("runtime load failed", "err=\"%s\"", rt->load_err);
    return;
  }
  const ep_model_info *mi = ep_model_get_info(rt->model);
  int n_ctx = mi->n_ctx > 0 ? mi->n_ctx : 2048;
  if (rt->p.max_total_tokens <= 0) rt->p.max_total_tokens = n_ctx < 2048 ? n_ctx : 2048;
  if (rt->p.max_total_tokens > n_ctx) rt->p.max_total_tokens = n_ctx;
  if (rt->p.max_input_tokens <= 0 || rt->p.max_input_tokens >= rt->p.max_total_tokens)
    rt->p.max_input_tokens = rt->p.max_total_tokens - 1;
  ep_rt_sched_params sp = ep_rt_sched_default_params();
  sp.max_batch_size = rt->p.max_batch_size;
  sp.max_queue = (size_t)rt->p.max_concurrent_requests;
  sp.notify = notify_cb;
  sp.notify_ctx = rt;
  int rc = ep_rt_sched_new(rt->model, rt->tok, &sp, &rt->sched);
  if (rc != EP_OK) {
    rt->ready = -1;
    snprintf(rt->load_err, sizeof rt->load_err, "scheduler: %s", ep_strerror(rc));
    return;
  }
  rt->ready = 1;
  ep_log_info("runtime ready", "model=\"%s\" arch=%s vocab=%d n_ctx=%d max_total_tokens=%d kernels=%s",
              rt->model_id, mi->arch, mi->vocab_size, mi->n_ctx, rt->p.max_total_tokens, mi->kernels);
}

int ep_rt_new(uv_loop_t *loop, const ep_rt_params *p, ep_rt **out) {
  *out = NULL;
  if (!p || !p->model_dir) return EP_EINVAL;
  ep_rt *rt = calloc(1, sizeof *rt);
  if (!rt) return EP_ENOMEM;
  rt->loop = loop;
  rt->p = *p;
  ep_rt_params d = ep_rt_default_params();
  if (rt->p.max_batch_size <= 0) rt->p.max_batch_size = d.max_batch_size;
  if (rt->p.max_concurrent_requests <= 0) rt->p.max_concurrent_requests = d.max_concurrent_requests;
  if (rt->p.max_stop_sequences <= 0) rt->p.max_stop_sequences = d.max_stop_sequences;
  if (rt->p.max_top_n_tokens <= 0) rt->p.max_top_n_tokens = d.max_top_n_tokens;
  if (rt->p.max_client_batch_size <= 0) rt->p.max_client_batch_size = d.max_client_batch_size;
  if (!rt->p.task) rt->p.task = d.task;
  if (p->model_id && *p->model_id) {
    snprintf(rt->model_id, sizeof rt->model_id, "%s", p->model_id);
  } else {
    const char *dir = p->model_dir;
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') len--;
    size_t st = len;
    while (st > 0 && dir[st - 1] != '/') st--;
    snprintf(rt->model_id, sizeof rt->model_id, "%.*s", (int)(len - st), dir + st);
  }
  static const char *dn[] = {"float32", "float16", "bfloat16", "int8"};
  snprintf(rt->dtype_name, sizeof rt->dtype_name, "%s",
           (unsigned)rt->p.dtype < 4 ? dn[rt->p.dtype] : "float32");
  /* encoder tasks: the TEI object (tei.h) serves everything */
  if (ep_tei_is_task(rt->p.task) && ep_tei_new(loop, &rt->p, rt->model_id, &rt->tei) != EP_OK) {
    free(rt);
    return EP_ENOMEM;
  }
  ep_rt_metrics_init(&rt->m);
  uv_async_init(loop, &rt->async, on_progress);
  uv_async_init(loop, &rt->load_async, on_loaded);
  rt->async.data = rt;
  rt->load_async.data = rt;
  rt->handles_open = 2;
  *out = rt;
  return EP_OK;
}

int ep_rt_load_start(ep_rt *rt) {
  if (rt->tei) return ep_tei_load_start(rt->tei);
  if (rt->load_started || rt->ready) return EP_ESTATE;
  rt->load_started = 1;
  if (uv_thread_create(&rt->load_thread, load_main, rt) != 0) {
    rt->load_started = 0;
    return EP_EIO;
  }
  return EP_OK;
}

int ep_rt_ready(const ep_rt *rt) { return rt->tei ? ep_tei_ready(rt->tei) : rt->ready; }
const char *ep_rt_load_error(const ep_rt *rt) {
  return rt->tei ? ep_tei_load_error(rt->tei) : rt->load_err;
}

/* ---- simple routes ------------------------------------------------------ */

static void route_health(ep_http_req *req, const ep_route_params *p, void *ctx) {
  ep_rt *rt = ctx;
  (void)p;
  req->no_log = 1;
  if (rt->ready == 1) ep_http_respond(req, 200, "text/plain", "", 0);
  else rt_error(req, 503, "healthcheck", "unhealthy");
}

static void route_info(ep_http_req *req, const ep_route_params *p, void *ctx) {
  ep_rt *rt = ctx;
  (void)p;
  json_t *o = json_object();
  json_object_set_new(o, "model_id", json_string(rt->model_id));
  json_object_set_new(o, "model_sha", json_null());
  json_object_set_new(o, "model_dtype", json_string(rt->dtype_name));
  json_object_set_new(o, "model_device_type", json_string("cpu"));
  json_object_set_new(o, "model_pipeline_tag", json_string(rt->p.task));
  json_object_set_new(o, "max_concurrent_requests", json_integer(rt->p.max_concurrent_requests));
  json_object_set_new(o, "max_best_of", json_integer(1));
  json_object_set_new(o, "max_stop_sequences", json_integer(rt->p.max_stop_sequences));
  json_object_set_new(o, "max_input_tokens", json_integer(rt->p.max_input_tokens));
  json_object_set_new(o, "max_input_length", json_integer(rt->p.max_input_tokens));
  json_object_set_new(o, "max_total_tokens", json_integer(rt->p.max_total_tokens));
  json_object_set_new(o, "waiting_served_ratio", json_real(1.2));
  json_object_set_new(o, "max_batch_total_tokens",
                      json_integer((json_int_t)rt->p.max_total_tokens * rt->p.max_batch_size));
  json_object_set_new(o, "max_waiting_tokens", json_integer(20));
  json_object_set_new(o, "max_batch_size", json_integer(rt->p.max_batch_size));
  json_object_set_new(o, "validation_workers", json_integer(1));
  json_object_set_new(o, "max_client_batch_size", json_integer(rt->p.max_client_batch_size));
  json_object_set_new(o, "router", json_string("text-generation-router"));
  json_object_set_new(o, "version", json_string(ENDPOINTD_VERSION));
  json_object_set_new(o, "sha", json_null());
  json_object_set_new(o, "docker_label", json_null());
  ep_http_respond_json(req, 200, o);
}

static void route_metrics(ep_http_req *req, const ep_route_params *p, void *ctx) {
  ep_rt *rt = ctx;
  (void)p;
  ep_rt_gauges g = {0};
  g.ready = rt->ready == 1;
  if (rt->sched) {
    ep_rt_sched_stats st;
    ep_rt_sched_get_stats(rt->sched, &st);
    g.queue_size = st.queued;
    g.batch_size = st.running;
    g.steps = st.steps;
    g.step_tokens = st.step_tokens;
    g.max_batch_seen = st.max_batch_seen;
  }
  ep_buf b = EP_BUF_INIT;
  ep_rt_metrics_render(&rt->m, &g, &b);
  req->no_log = 1;
  ep_http_respond(req, 200, "text/plain; version=0.0.4", b.data ? b.data : "", b.len);
  ep_buf_free(&b);
}

static int need_ready(ep_rt *rt, ep_http_req *req) {
  if (rt->ready == 1 && !rt->closing) return 1;
  rt_error(req, 503, "unhealthy", rt->ready == -1 ? "Model failed to load" : "Model is loading");
  return 0;
}

static void route_generate(ep_http_req *req, const ep_route_params *p, void *ctx) {
  (void)p;
  if (need_ready(ctx, req)) rt_route_generate(ctx, req, 0, 0);
}
static void route_generate_stream(ep_http_req *req, const ep_route_params *p, void *ctx) {
  (void)p;
  if (need_ready(ctx, req)) rt_route_generate(ctx, req, 0, 1);
}
static void route_compat(ep_http_req *req, const ep_route_params *p, void *ctx) {
  (void)p;
  if (need_ready(ctx, req)) rt_route_generate(ctx, req, 1, 0);
}
static void route_tokenize(ep_http_req *req, const ep_route_params *p, void *ctx) {
  (void)p;
  if (need_ready(ctx, req)) rt_route_tokenize(ctx, req);
}
static void route_completions(ep_http_req *req, const ep_route_params *p, void *ctx) {
  (void)p;
  if (need_ready(ctx, req)) rt_route_completions(ctx, req);
}
static void route_chat(ep_http_req *req, const ep_route_params *p, void *ctx) {
  (void)p;
  if (need_ready(ctx, req)) rt_route_chat(ctx, req);
}
static void route_models(ep_http_req *req, const ep_route_params *p, void *ctx) {
  (void)p;
  rt_route_models(ctx, req);
}

static const ep_route k_routes[] = {
    {"GET", "/", route_health},
    {"GET", "/health", route_health},
    {"GET", "/ping", route_health},
    {"GET", "/info", route_info},
    {"GET", "/metrics", route_metrics},
    {"GET", "/v1/models", route_models},
    {"POST", "/", route_compat},
    {"POST", "/invocations", route_compat},
    {"POST", "/generate", route_generate},
    {"POST", "/generate_stream", route_generate_stream},
    {"POST", "/tokenize", route_tokenize},
    {"POST", "/v1/completions", route_completions},
    {"POST", "/v1/chat/completions", route_chat},
};

void ep_rt_handle(ep_http_req *req, void *ctx) {
  if (((ep_rt *)ctx)->tei) {
    ep_tei_handle(req, ((ep_rt *)ctx)->tei);
    return;
  }
  ep_route_dispatch(k_routes, sizeof k_routes / sizeof k_routes[0], req, ctx);
}

/* ---- shutdown ----------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h) {
  ep_rt *rt = h->data;
  if (--rt->handles_open == 0 && rt->done) rt->done(rt->done_ctx);
}

void ep_rt_close(ep_rt *rt, void (*done)(void *), void *ctx) {
  rt->closing = 1;
  rt->done = done;
  rt->done_ctx = ctx;
  if (rt->tei) ep_tei_close(rt->tei, NULL, NULL); /* its handles close with ours */
  if (rt->load_started) {
    uv_thread_join(&rt->load_thread); /* loading cannot be interrupted */
    rt->load_started = 0;
  }
  if (rt->sched) {
    ep_rt_sched_stop(rt->sched); /* every job is published as done (canceled) */
    rt_jobs_pump(rt);         /* finish their HTTP requests */
    ep_rt_sched_free(rt->sched);
    rt->sched = NULL;
  }
  uv_close((uv_handle_t *)&rt->async, on_handle_closed);
  uv_close((uv_handle_t *)&rt->load_async, on_handle_closed);
}

void ep_rt_free(ep_rt *rt) {
  if (!rt) return;
  ep_tei_free(rt->tei);
  ep_model_free(rt->model);
  ep_tok_free(rt->tok);
  free(rt);
}
