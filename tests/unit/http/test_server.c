/* HTTP server tests: a real server on a loopback port (loop on the main
 * thread), a blocking socket client on a second thread sending raw bytes. */
#include "test.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <jansson.h>

#include "http/http.h"
#include "loopback.h"
#include "http/router.h"

static int g_port;
static int g_aborted;
static uv_timer_t g_timer;
static ep_http_req *g_pending;
static int g_stream_left;

static void r_hello(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_http_respond(r, 200, "text/plain", "hello", 5);
}
static void r_echo(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_http_respond(r, 200, "application/octet-stream", r->body, r->body_len);
}
static void r_query(ep_http_req *r, const ep_route_params *p, void *ctx) {
  const char *a = ep_http_req_query(r, "a");
  const char *tok = ep_http_req_bearer(r);
  char out[256];
  snprintf(out, sizeof out, "a=%s tok=%s path=%s", a ? a : "(none)", tok ? tok : "(none)", r->path);
  ep_http_respond(r, 200, "text/plain", out, strlen(out));
}
static void r_param(ep_http_req *r, const ep_route_params *p, void *ctx) {
  char out[256];
  snprintf(out, sizeof out, "ns=%s name=%s rest=%s", ep_route_param(p, "ns"),
           ep_route_param(p, "name"), ep_route_param(p, "rest"));
  ep_http_respond(r, 200, "text/plain", out, strlen(out));
}
static void on_stream_tick(uv_timer_t *t) {
  char chunk[32];
  snprintf(chunk, sizeof chunk, "{\"n\":%d}", g_stream_left);
  ep_http_sse_data(g_pending, chunk);
  if (--g_stream_left == 0) {
    uv_timer_stop(t);
    ep_http_stream_end(g_pending);
    g_pending = NULL;
  }
}
static void r_stream(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_http_stream_begin(r, 200, "text/event-stream");
  g_pending = r;
  g_stream_left = 3;
  uv_timer_start(&g_timer, on_stream_tick, 20, 20);
}
static void on_abort(ep_http_req *r, void *d) {
  g_aborted++;
  ep_http_respond(r, 200, "text/plain", "late", 4); /* must be a harmless no-op write */
}
static void r_wait(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_http_req_on_abort(r, on_abort, NULL);
}
static void r_error(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_http_respond_error(r, 429, "slow down %d", 7);
}

static const ep_route routes[] = {
    {"GET", "/hello", r_hello},
    {"POST", "/echo", r_echo},
    {"GET", "/q", r_query},
    {"GET", "/endpoints/{ns}/{name}/{*rest}", r_param},
    {"GET", "/stream", r_stream},
    {"GET", "/wait", r_wait},
    {"GET", "/err", r_error},
};

static void handler(ep_http_req *r, void *ctx) {
  ep_route_dispatch(routes, sizeof routes / sizeof routes[0], r, ctx);
}

/* ---- client side ---- */


static void send_all(int fd, const char *s, size_t n) {
  while (n) {
    ssize_t w = write(fd, s, n);
    if (w <= 0) return;
    s += w;
    n -= (size_t)w;
  }
}

/* Reads one response (Content-Length or chunked) into out; returns status. */
static int read_response(int fd, char *out, size_t outsz) {
  size_t len = 0;
  out[0] = '\0';
  for (;;) {
    char *hend = strstr(out, "\r\n\r\n");
    if (hend) {
      const char *cl = strcasestr(out, "Content-Length:");
      size_t hlen = (size_t)(hend - out) + 4;
      if (cl && cl < hend) {
        size_t want = hlen + (size_t)atol(cl + 15);
        if (len >= want) break;
      } else if (strstr(hend, "\r\n0\r\n\r\n") || strstr(out, "\r\n\r\n0\r\n\r\n")) {
        break;
      }
    }
    if (len + 1 >= outsz) break;
    ssize_t n = read(fd, out + len, outsz - 1 - len);
    if (n <= 0) break;
    len += (size_t)n;
    out[len] = '\0';
  }
  int status = 0;
  sscanf(out, "HTTP/1.1 %d", &status);
  return status;
}

static int request(const char *raw, char *out, size_t outsz) {
  int fd = loopback_connect(g_port, 3);
  if (fd < 0) return -1;
  send_all(fd, raw, strlen(raw));
  int st = read_response(fd, out, outsz);
  close(fd);
  return st;
}

static void *client_main(void *arg) {
  char buf[65536];
  /* basic GET, keep-alive headers, request id */
  CHECK_INT(request("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", buf, sizeof buf), 200);
  CHECK(strstr(buf, "\r\n\r\nhello") != NULL);
  CHECK(strcasestr(buf, "X-Request-Id: ") != NULL);
  CHECK(strstr(buf, "Connection: keep-alive") != NULL);
  /* incoming request id is echoed */
  request("GET /hello HTTP/1.1\r\nX-Request-Id: abc-123\r\n\r\n", buf, sizeof buf);
  CHECK(strstr(buf, "X-Request-Id: abc-123") != NULL);
  /* duplicate slashes and trailing slash normalised; query decoding; bearer */
  CHECK_INT(request("GET //q/?a=x%20y+z&b=2 HTTP/1.1\r\nauthorization: bearer tok1\r\n\r\n", buf,
                    sizeof buf), 200);
  CHECK(strstr(buf, "a=x y z tok=tok1 path=/q") != NULL);
  /* route params and rest */
  request("GET /endpoints/alice/demo/v1/chat HTTP/1.1\r\n\r\n", buf, sizeof buf);
  CHECK(strstr(buf, "ns=alice name=demo rest=v1/chat") != NULL);
  request("GET /endpoints/alice/demo HTTP/1.1\r\n\r\n", buf, sizeof buf);
  CHECK(strstr(buf, "ns=alice name=demo rest=") != NULL);
  /* 404 and 405 with JSON errors */
  CHECK_INT(request("GET /nope HTTP/1.1\r\n\r\n", buf, sizeof buf), 404);
  CHECK(strstr(buf, "{\"error\":") != NULL);
  CHECK_INT(request("DELETE /hello HTTP/1.1\r\n\r\n", buf, sizeof buf), 405);
  CHECK(strstr(buf, "Allow: GET") != NULL);
  /* error helper: X-Error-Message and Retry-After */
  CHECK_INT(request("GET /err HTTP/1.1\r\n\r\n", buf, sizeof buf), 429);
  CHECK(strstr(buf, "X-Error-Message: slow down 7") != NULL);
  CHECK(strstr(buf, "Retry-After: 1") != NULL);
  /* echo body */
  CHECK_INT(request("POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde", buf, sizeof buf), 200);
  CHECK(strstr(buf, "\r\n\r\nabcde") != NULL);
  /* chunked request body */
  CHECK_INT(request("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
                    buf, sizeof buf), 200);
  CHECK(strstr(buf, "\r\n\r\nabcde") != NULL);
  /* body over the limit -> 413 (declared and chunked) */
  CHECK_INT(request("POST /echo HTTP/1.1\r\nContent-Length: 100000\r\n\r\n", buf, sizeof buf), 413);
  {
    char big[3000];
    memset(big, 'a', sizeof big);
    char req[4000];
    snprintf(req, sizeof req, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nbb8\r\n%.*s\r\n0\r\n\r\n",
             3000, big);
    CHECK_INT(request(req, buf, sizeof buf), 413);
  }
  /* headers over the limit -> 431 */
  {
    char req[6000] = "GET /hello HTTP/1.1\r\nX-Big: ";
    size_t n = strlen(req);
    memset(req + n, 'x', 5000);
    strcpy(req + n + 5000, "\r\n\r\n");
    CHECK_INT(request(req, buf, sizeof buf), 431);
  }
  /* garbage -> 400 */
  CHECK_INT(request("NOT HTTP AT ALL\r\n\r\n", buf, sizeof buf), 400);
  /* keep-alive: two requests on one connection, and pipelining */
  {
    int fd = loopback_connect(g_port, 3);
    send_all(fd, "GET /hello HTTP/1.1\r\n\r\n", 23);
    CHECK_INT(read_response(fd, buf, sizeof buf), 200);
    send_all(fd, "GET /hello HTTP/1.1\r\n\r\nGET /q?a=2 HTTP/1.1\r\n\r\n", 47);
    CHECK_INT(read_response(fd, buf, sizeof buf), 200);
    /* the second pipelined response may have arrived in the same read */
    if (!strstr(buf, "a=2")) read_response(fd, buf, sizeof buf);
    CHECK(strstr(buf, "a=2") != NULL);
    close(fd);
  }
  /* SSE streaming in chunks */
  CHECK_INT(request("GET /stream HTTP/1.1\r\n\r\n", buf, sizeof buf), 200);
  CHECK(strstr(buf, "Transfer-Encoding: chunked") != NULL);
  CHECK(strstr(buf, "text/event-stream") != NULL);
  CHECK(strstr(buf, "data: {\"n\":3}\n\n") != NULL);
  CHECK(strstr(buf, "data: {\"n\":1}\n\n") != NULL);
  /* client abort is reported to the handler */
  {
    int fd = loopback_connect(g_port, 3);
    send_all(fd, "GET /wait HTTP/1.1\r\n\r\n", 22);
    usleep(100000);
    close(fd);
    for (int i = 0; i < 50 && !g_aborted; i++) usleep(20000);
    CHECK_INT(g_aborted, 1);
  }
  /* header timeout -> 408 */
  {
    int fd = loopback_connect(g_port, 3);
    send_all(fd, "GET /hello HTTP/1.1\r\n", 21);
    CHECK_INT(read_response(fd, buf, sizeof buf), 408);
    close(fd);
  }
  return NULL;
}

static uv_async_t g_done_async;
static ep_http_server *g_srv;
static void on_shutdown_done(void *ctx) { *(int *)ctx = 1; }
static int g_shut;
static void on_client_done(uv_async_t *a) {
  uv_close((uv_handle_t *)a, NULL);
  uv_timer_stop(&g_timer);
  uv_close((uv_handle_t *)&g_timer, NULL);
  ep_http_server_shutdown(g_srv, on_shutdown_done, &g_shut);
}

static void *client_thread(void *arg) {
  client_main(arg);
  uv_async_send(&g_done_async);
  return NULL;
}

int main(void) {
  uv_loop_t *loop = uv_default_loop();
  ep_http_server_params p = ep_http_server_default_params();
  p.port = 0;
  p.max_body_bytes = 2048;
  p.max_header_bytes = 4096;
  p.header_timeout_ms = 300;
  p.name = "test";
  p.access_log = 0;
  CHECK_INT(ep_http_server_start(loop, &p, handler, NULL, &g_srv), 0);
  g_port = ep_http_server_port(g_srv);
  CHECK(g_port > 0);
  uv_timer_init(loop, &g_timer);
  uv_async_init(loop, &g_done_async, on_client_done);
  pthread_t th;
  pthread_create(&th, NULL, client_thread, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  pthread_join(th, NULL);
  CHECK_INT(g_shut, 1);
  ep_http_server_free(g_srv);
  uv_loop_close(loop);
  return t_finish();
}
