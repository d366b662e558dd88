/* Unit tests for the async upstream HTTP client (src/http/client.c) against a
 * raw libuv TCP server in this file that writes canned HTTP/1.1 responses:
 * content-length, chunked in delayed pieces, close-delimited, a peer that dies
 * mid-body, one that never answers, plus keep-alive reuse and cancel. */
#include "test.h"

#include <uv.h>

#include "base/buf.h"
#include "base/err.h"
#include "http/client.h"

/* ---- canned server ---------------------------------------------------- */

typedef struct {
  uv_tcp_t tcp;
  uv_timer_t timer;
  ep_buf in;
  int chunks_left;
  int closed;
} sconn;

static uv_tcp_t g_listener;
static int g_port, g_accepts;
static uv_loop_t *g_loop;

static void s_closed(uv_handle_t *h) {
  sconn *c = h->data;
  if (++c->closed == 2) {
    ep_buf_free(&c->in);
    free(c);
  }
}
static void s_close(sconn *c) {
  if (uv_is_closing((uv_handle_t *)&c->tcp)) return;
  uv_close((uv_handle_t *)&c->tcp, s_closed);
  uv_close((uv_handle_t *)&c->timer, s_closed);
}
static void s_wdone(uv_write_t *w, int st) {
  (void)st;
  free(w->data);
  free(w);
}
static void s_write(sconn *c, const char *s) {
  uv_write_t *w = malloc(sizeof *w);
  char *d = strdup(s);
  w->data = d;
  uv_buf_t b = uv_buf_init(d, (unsigned)strlen(d));
  uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, s_wdone);
}
static void s_chunk(uv_timer_t *t) {
  sconn *c = t->data;
  if (c->chunks_left-- > 0) {
    s_write(c, "9\r\ndata: x\n\n\r\n");
  } else {
    uv_timer_stop(t);
    s_write(c, "0\r\n\r\n");
  }
}
static void s_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
  (void)h;
  b->base = malloc(s);
  b->len = s;
}
static void s_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  sconn *c = st->data;
  if (n < 0) {
    free(b->base);
    s_close(c);
    return;
  }
  ep_buf_append(&c->in, b->base, (size_t)n);
  free(b->base);
  for (;;) {
    char *end = c->in.data ? strstr(c->in.data, "\r\n\r\n") : NULL;
    if (!end) return;
    size_t hlen = (size_t)(end + 4 - c->in.data);
    size_t clen = 0;
    char *cl = strcasestr(c->in.data, "content-length:");
    if (cl && cl < end) clen = strtoul(cl + 15, NULL, 10);
    if (c->in.len < hlen + clen) return;
    char path[64] = "";
    sscanf(c->in.data, "%*s %63s", path);
    if (!strcmp(path, "/cl")) {
      s_write(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello");
    } else if (!strcmp(path, "/echo")) {
      char head[128];
      snprintf(head, sizeof head, "HTTP/1.1 201 Created\r\nContent-Length: %zu\r\n\r\n", clen);
      s_write(c, head);
      char *body = strndup(c->in.data + hlen, clen);
      s_write(c, body);
      free(body);
    } else if (!strcmp(path, "/chunked")) {
      s_write(c,
              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
              "Content-Type: text/event-stream\r\n\r\n");
      c->chunks_left = 3;
      uv_timer_start(&c->timer, s_chunk, 20, 20);
    } else if (!strcmp(path, "/close")) {
      s_write(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbye");
      ep_buf_consume(&c->in, hlen + clen);
      s_close(c);
      return;
    } else if (!strcmp(path, "/die")) {
      s_write(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
      ep_buf_consume(&c->in, hlen + clen);
      s_close(c);
      return;
    } /* "/slow": never answer */
    ep_buf_consume(&c->in, hlen + clen);
  }
}
static void s_accept(uv_stream_t *l, int st) {
  (void)st;
  sconn *c = calloc(1, sizeof *c);
  uv_tcp_init(g_loop, &c->tcp);
  uv_timer_init(g_loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  uv_accept(l, (uv_stream_t *)&c->tcp);
  g_accepts++;
  uv_read_start((uv_stream_t *)&c->tcp, s_alloc, s_read);
}

/* ---- client side ------------------------------------------------------ */

typedef struct {
  int status, err, done, nchunks, cancel_after;
  char xa[16];
  ep_buf body;
  ep_http_creq *r;
} result;

static void c_head(ep_http_creq *r, int status, const ep_http_header *h, size_t n, void *ud) {
  (void)r;
  result *res = ud;
  res->status = status;
  for (size_t i = 0; i < n; i++)
    if (!strcasecmp(h[i].name, "X-A")) snprintf(res->xa, sizeof res->xa, "%s", h[i].value);
}
static void c_body(ep_http_creq *r, const char *d, size_t len, void *ud) {
  result *res = ud;
  ep_buf_append(&res->body, d, len);
  res->nchunks++;
  if (res->cancel_after && res->nchunks >= res->cancel_after) {
    ep_http_client_cancel(r);
    res->done = 2;
    uv_stop(g_loop);
  }
}
static void c_done(ep_http_creq *r, int err, void *ud) {
  (void)r;
  result *res = ud;
  res->err = err;
  res->done = 1;
  uv_stop(g_loop);
}
static const ep_http_client_cbs k_cbs = {c_head, c_body, c_done};

static void run_one(ep_http_client *cl, const char *method, const char *path, const char *body,
                    unsigned timeout_ms, result *res) {
  memset(res, 0, sizeof *res);
  ep_http_header h[1] = {{"X-Test", "1"}};
  ep_http_client_reqspec rs = {method, path, h, 1, body, body ? strlen(body) : 0, timeout_ms};
  CHECK_INT(ep_http_client_send(cl, "127.0.0.1", g_port, &rs, &k_cbs, res, &res->r), 0);
  uv_run(g_loop, UV_RUN_DEFAULT);
}

static void test_client(void) {
  ep_http_client *cl;
  CHECK_INT(ep_http_client_init(g_loop, &cl), 0);
  result res;

  run_one(cl, "GET", "/cl", NULL, 2000, &res);
  CHECK_INT(res.done, 1);
  CHECK_INT(res.err, 0);
  CHECK_INT(res.status, 200);
  CHECK_STR(res.xa, "b");
  CHECK_STR(ep_buf_cstr(&res.body), "hello");
  ep_buf_free(&res.body);

  /* keep-alive: the second request reuses the first connection */
  run_one(cl, "POST", "/echo", "{\"inputs\":\"hi\"}", 2000, &res);
  CHECK_INT(res.status, 201);
  CHECK_STR(ep_buf_cstr(&res.body), "{\"inputs\":\"hi\"}");
  CHECK_INT(g_accepts, 1);
  ep_buf_free(&res.body);

  /* chunked body arrives in several pieces, each handed over as it comes */
  run_one(cl, "GET", "/chunked", NULL, 2000, &res);
  CHECK_INT(res.err, 0);
  CHECK_STR(ep_buf_cstr(&res.body), "data: x\n\ndata: x\n\ndata: x\n\n");
  CHECK(res.nchunks >= 3);
  ep_buf_free(&res.body);

  /* close-delimited body */
  run_one(cl, "GET", "/close", NULL, 2000, &res);
  CHECK_INT(res.err, 0);
  CHECK_STR(ep_buf_cstr(&res.body), "bye");
  ep_buf_free(&res.body);

  /* peer dies mid-body -> EP_EIO after the partial body */
  run_one(cl, "GET", "/die", NULL, 2000, &res);
  CHECK_INT(res.status, 200);
  CHECK_INT(res.err, EP_EIO);
  CHECK_STR(ep_buf_cstr(&res.body), "0123456789");
  ep_buf_free(&res.body);

  /* no answer -> timeout */
  uint64_t t0 = uv_now(g_loop);
  run_one(cl, "GET", "/slow", NULL, 150, &res);
  CHECK_INT(res.err, EP_ETIMEOUT);
  CHECK(uv_now(g_loop) - t0 >= 140);

  /* cancel from inside on_body: no on_done, loop keeps working */
  memset(&res, 0, sizeof res);
  res.cancel_after = 1;
  ep_http_client_reqspec rs = {"GET", "/chunked", NULL, 0, NULL, 0, 2000};
  CHECK_INT(ep_http_client_send(cl, "127.0.0.1", g_port, &rs, &k_cbs, &res, NULL), 0);
  uv_run(g_loop, UV_RUN_DEFAULT);
  CHECK_INT(res.done, 2);
  ep_buf_free(&res.body);

  /* cancel before connect completes */
  memset(&res, 0, sizeof res);
  ep_http_creq *r;
  CHECK_INT(ep_http_client_send(cl, "127.0.0.1", g_port, &rs, &k_cbs, &res, &r), 0);
  ep_http_client_cancel(r);

  /* connection refused -> EP_ECONN */
  uv_tcp_t probe;
  uv_tcp_init(g_loop, &probe);
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_bind(&probe, (struct sockaddr *)&a, 0);
  struct sockaddr_storage ss;
  int sl = sizeof ss;
  uv_tcp_getsockname(&probe, (struct sockaddr *)&ss, &sl);
  int dead_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  uv_close((uv_handle_t *)&probe, NULL);
  memset(&res, 0, sizeof res);
  ep_http_client_reqspec rs2 = {"GET", "/", NULL, 0, NULL, 0, 2000};
  CHECK_INT(ep_http_client_send(cl, "127.0.0.1", dead_port, &rs2, &k_cbs, &res, NULL), 0);
  uv_run(g_loop, UV_RUN_DEFAULT);
  CHECK_INT(res.err, EP_ECONN);

  /* bad arguments */
  CHECK_INT(ep_http_client_send(cl, "127.0.0.1", 0, &rs2, &k_cbs, &res, NULL), EP_EINVAL);
  CHECK_INT(ep_http_client_send(cl, "not-an-ip", 80, &rs2, &k_cbs, &res, NULL), EP_EINVAL);

  ep_http_client_free(cl);
}

static void close_any(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) {
    if (h->type == UV_TCP && h != (uv_handle_t *)&g_listener)
      s_close(h->data);
    else
      uv_close(h, NULL);
  }
}

int main(void) {
  g_loop = uv_default_loop();
  uv_tcp_init(g_loop, &g_listener);
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_bind(&g_listener, (struct sockaddr *)&a, 0);
  uv_listen((uv_stream_t *)&g_listener, 16, s_accept);
  struct sockaddr_storage ss;
  int sl = sizeof ss;
  uv_tcp_getsockname(&g_listener, (struct sockaddr *)&ss, &sl);
  g_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  RUN(test_client);
  uv_close((uv_handle_t *)&g_listener, NULL);
  uv_walk(g_loop, close_any, NULL);
  uv_run(g_loop, UV_RUN_DEFAULT);
  return t_finish();
}
