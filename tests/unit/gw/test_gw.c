/* Unit tests for the gateway core (src/gw) in one process: the HTTP server
 * hands requests to ep_gw_handle(), the reconciler runs stand-in replicas, and
 * the upstream client plays the user. Checks proxying, the bounded queue
 * (429 + Retry-After), paused -> 400 with the exact message, unknown -> 404,
 * hold with X-Scale-Up-Timeout -> 503 + Retry-After, a held request answered
 * after the wake, and the Prometheus lines. */
#include "test.h"

#include <jansson.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/time.h"
#include "gw/gw.h"
#include "http/client.h"
#include "http/http.h"

static uv_loop_t *loop;
static ep_sup *sup;
static ep_sched *sch;
static ep_gw *gw;
static ep_http_client *cl;
static int port;
static char fixture[512];

static void io_capacity(void *ctx, ep_sched_ep *ep) {
  (void)ctx;
  ep_gw_capacity(gw, ep);
}

/* /{name}/rest -> ep_gw_handle(ns "ns", name, "/rest") */
static void handler(ep_http_req *req, void *ctx) {
  (void)ctx;
  char name[64] = "";
  const char *p = req->path + 1;
  size_t n = strcspn(p, "/");
  snprintf(name, sizeof name, "%.*s", (int)n, p);
  ep_gw_handle(gw, req, "ns", name, p + n);
}

typedef struct {
  int status, done;
  char retry_after[16];
  ep_buf body;
} resp;

static void r_head(ep_http_creq *q, int st, const ep_http_header *h, size_t n, void *ud) {
  (void)q;
  resp *r = ud;
  r->status = st;
  for (size_t i = 0; i < n; i++)
    if (!strcasecmp(h[i].name, "Retry-After"))
      snprintf(r->retry_after, sizeof r->retry_after, "%s", h[i].value);
}
static void r_body(ep_http_creq *q, const char *d, size_t n, void *ud) {
  (void)q;
  ep_buf_append(&((resp *)ud)->body, d, n);
}
static void r_done(ep_http_creq *q, int err, void *ud) {
  (void)q;
  resp *r = ud;
  r->done = err ? -1 : 1;
}
static const ep_http_client_cbs cbs = {r_head, r_body, r_done};

static void send_req(const char *method, const char *path, const char *body, const char *hname,
                     const char *hval, resp *r) {
  memset(r, 0, sizeof *r);
  ep_http_header h[1] = {{hname ? hname : "X-Test", hval ? hval : "1"}};
  ep_http_client_reqspec rs = {method, path, h, 1, body, body ? strlen(body) : 0, 20000};
  CHECK_INT(ep_http_client_send(cl, "127.0.0.1", port, &rs, &cbs, r, NULL), 0);
}

static void run_until(int *flag, unsigned ms) {
  uint64_t end = ep_mono_ms() + ms;
  while (!*flag && ep_mono_ms() < end) uv_run(loop, UV_RUN_ONCE);
}

static int wait_state(const char *name, const char *want, unsigned ms) {
  uint64_t end = ep_mono_ms() + ms;
  while (ep_mono_ms() < end) {
    ep_sched_ep *ep = ep_sched_find(sch, "ns", name);
    if (ep && !strcmp(ep_sched_ep_state(ep), want)) return 1;
    uv_run(loop, UV_RUN_NOWAIT);
    usleep(2000);
  }
  return 0;
}

static void test_gateway(void) {
  const char *argv[] = {"python3", fixture, "--port", "{port}", NULL};
  ep_sched_spec sp = {0};
  sp.revision = 1;
  sp.min_replica = 1;
  sp.max_replica = 1;
  sp.argv = argv;
  ep_sched_apply(sch, "ns", "e", &sp);
  CHECK(wait_state("e", "running", 10000));

  resp a, b, c;
  send_req("GET", "/e/info?x=1", NULL, NULL, NULL, &a);
  run_until(&a.done, 5000);
  CHECK_INT(a.status, 200);
  CHECK(strstr(ep_buf_cstr(&a.body), "stand-in") != NULL);
  ep_buf_free(&a.body);

  /* one in flight per replica, one queued, the third is refused */
  send_req("POST", "/e/slow", "{\"seconds\": 0.6}", NULL, NULL, &a);
  uint64_t t0 = ep_mono_ms();
  while (ep_mono_ms() - t0 < 100) uv_run(loop, UV_RUN_NOWAIT);
  send_req("POST", "/e/slow", "{\"seconds\": 0.1}", NULL, NULL, &b);
  t0 = ep_mono_ms();
  while (ep_mono_ms() - t0 < 100) uv_run(loop, UV_RUN_NOWAIT);
  send_req("POST", "/e/x", "{}", NULL, NULL, &c);
  run_until(&c.done, 5000);
  CHECK_INT(c.status, 429);
  CHECK_STR(c.retry_after, "1");
  CHECK(strstr(ep_buf_cstr(&c.body), "queue is full") != NULL);
  run_until(&a.done, 5000);
  run_until(&b.done, 5000);
  CHECK_INT(a.status, 200);
  CHECK_INT(b.status, 200); /* the queued one was served after the first */
  ep_buf_free(&a.body);
  ep_buf_free(&b.body);
  ep_buf_free(&c.body);

  /* unknown endpoint */
  send_req("GET", "/nope", NULL, NULL, NULL, &a);
  run_until(&a.done, 5000);
  CHECK_INT(a.status, 404);
  ep_buf_free(&a.body);

  /* paused: 400 with the exact message */
  sp.paused = 1;
  ep_sched_apply(sch, "ns", "e", &sp);
  send_req("POST", "/e", "{}", NULL, NULL, &a);
  run_until(&a.done, 5000);
  CHECK_INT(a.status, 400);
  json_t *j = json_loads(ep_buf_cstr(&a.body), 0, NULL);
  CHECK(j && json_object_size(j) == 1);
  CHECK_STR(json_string_value(json_object_get(j, "error")),
            "Bad Request: Invalid state: endpoint is paused; resume it first");
  json_decref(j);
  ep_buf_free(&a.body);
}

static void test_hold(void) {
  const char *argv[] = {"python3", fixture, "--port", "{port}", "--ready-after", "1.0", NULL};
  ep_sched_spec sp = {0};
  sp.revision = 1;
  sp.min_replica = 0;
  sp.max_replica = 1;
  sp.scale_to_zero = 1;
  sp.argv = argv;
  ep_sched_apply(sch, "ns", "z", &sp);
  CHECK(wait_state("z", "scaledToZero", 2000));
  resp a, b;
  uint64_t t0 = ep_mono_ms();
  send_req("POST", "/z", "{}", "X-Scale-Up-Timeout", "0.3", &a);
  send_req("POST", "/z", "{}", "X-Wait-For-Model", "true", &b);
  run_until(&a.done, 5000);
  CHECK_INT(a.status, 503);
  CHECK(a.retry_after[0] != 0);
  CHECK(ep_mono_ms() - t0 >= 280);
  run_until(&b.done, 15000);
  CHECK_INT(b.status, 200);
  CHECK(strstr(ep_buf_cstr(&b.body), "\"echo\"") != NULL);
  ep_buf_free(&a.body);
  ep_buf_free(&b.body);

  ep_buf m = EP_BUF_INIT;
  ep_gw_metrics(gw, &m);
  CHECK(strstr(m.data,
               "endpointd_requests_total{namespace=\"ns\",endpoint=\"e\",code=\"429\"} 1") != NULL);
  CHECK(strstr(m.data,
               "endpointd_requests_total{namespace=\"ns\",endpoint=\"z\",code=\"503\"} 1") != NULL);
  CHECK(strstr(m.data, "endpointd_wakes_total{namespace=\"ns\",endpoint=\"z\"} 1") != NULL);
  CHECK(strstr(m.data, "le=\"+Inf\"") != NULL);
  ep_buf_free(&m);
}

static void srv_done(void *x) { *(int *)x = 1; }

int main(void) {
  const char *src = getenv("EP_SOURCE_DIR");
  snprintf(fixture, sizeof fixture, "%s/tests/e2e/fixtures/replica.py", src ? src : ".");
  loop = uv_default_loop();
  CHECK_INT(ep_sup_init(loop, NULL, &sup), 0);
  ep_sched_params p = ep_sched_default_params();
  p.replica_concurrency = 1;
  p.stop_grace_ms = 1000;
  ep_sched_io io = {0};
  io.capacity = io_capacity;
  CHECK_INT(ep_sched_init(loop, sup, &p, &io, &sch), 0);
  ep_sched_start(sch);
  ep_gw_params gp = ep_gw_default_params();
  gp.queue_max = 1;
  CHECK_INT(ep_gw_init(loop, sch, &gp, &gw), 0);
  ep_http_server_params hp = ep_http_server_default_params();
  hp.port = 0;
  hp.access_log = 0;
  ep_http_server *srv;
  CHECK_INT(ep_http_server_start(loop, &hp, handler, NULL, &srv), 0);
  port = ep_http_server_port(srv);
  CHECK_INT(ep_http_client_init(loop, &cl), 0);
  RUN(test_gateway);
  RUN(test_hold);
  ep_http_client_free(cl);
  ep_gw_free(gw);
  ep_sched_free(sch);
  ep_sup_free(sup);
  int done = 0;
  ep_http_server_shutdown(srv, srv_done, &done);
  run_until(&done, 5000);
  ep_http_server_free(srv);
  uv_run(loop, UV_RUN_NOWAIT);
  return t_finish();
}
