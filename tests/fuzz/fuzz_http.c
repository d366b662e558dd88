/* libFuzzer driver for the HTTP server (src/http): a real ep_http_server on a
 * loopback port, one TCP connection per input. The input bytes are sent as the
 * request stream (pipelining, chunked bodies, garbage), the write side is shut
 * down, and the loop runs until the server closed and freed the connection.
 * Routes exercise the router, header/query/bearer accessors, JSON, error and
 * streaming (chunked + SSE) responses. A connection that is never closed is a
 * hang (abort). */
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "base/log.h"
#include "base/time.h"
#include "fuzz.h"
#include "http/conn.h"
#include "http/router.h"

static uv_loop_t g_loop;
static ep_http_server *g_srv;

static void h_health(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_http_respond(r, 200, "text/plain", "ok", 2);
}

static void h_echo(ep_http_req *r, const ep_route_params *p, void *ctx) {
  const char *ct = ep_http_req_header(r, "content-type");
  const char *tok = ep_http_req_bearer(r);
  const char *q = ep_http_req_query(r, "q");
  json_error_t jerr;
  json_t *body = json_loadb(r->body, r->body_len, 0, &jerr);
  json_t *o = json_pack("{s:I,s:s?,s:s?,s:s?,s:b,s:s}", "len", (json_int_t)r->body_len, "ct", ct,
                        "tok", tok, "q", q, "json", body != NULL, "path", r->path);
  json_decref(body);
  if (!o) {
    ep_http_respond_error(r, 400, "bad text in %s", r->path);
    return;
  }
  ep_http_add_header(r, "X-Echo", "1");
  ep_http_respond_json(r, 200, o);
}

static void h_stream(ep_http_req *r, const ep_route_params *p, void *ctx) {
  const char *kind = ep_route_param(p, "kind");
  if (kind && strcmp(kind, "sse") == 0) {
    ep_http_stream_begin(r, 200, "text/event-stream");
    ep_http_sse_data(r, "{\"a\":1}");
    ep_http_sse_data(r, r->query);
  } else {
    ep_http_stream_begin(r, 200, "text/plain");
    ep_http_stream_write(r, r->body, r->body_len);
    ep_http_stream_write(r, "", 0);
  }
  ep_http_stream_end(r);
}

static void h_rest(ep_http_req *r, const ep_route_params *p, void *ctx) {
  const char *rest = ep_route_param(p, "rest");
  ep_http_respond_error(r, 418, "rest=%s method=%s target=%s", rest ? rest : "(null)", r->method,
                        r->target);
}

static const ep_route g_routes[] = {
    {"GET", "/health", h_health},
    {"POST", "/echo", h_echo},
    {"PUT", "/echo", h_echo},
    {"*", "/stream/{kind}", h_stream},
    {"DELETE", "/a/{x}/b/{y}", h_rest},
    {"*", "/r/{*rest}", h_rest},
};

static void handler(ep_http_req *r, void *ctx) {
  ep_route_dispatch(g_routes, sizeof g_routes / sizeof g_routes[0], r, ctx);
}

static int init(void) {
  ep_log_set_level(EP_LOG_ERROR);
  if (uv_loop_init(&g_loop) != 0) return -1;
  ep_http_server_params p = ep_http_server_default_params();
  p.port = 0;
  p.max_body_bytes = 4096;   /* small limits so 413/431 paths are reachable */
  p.max_header_bytes = 2048;
  p.header_timeout_ms = 2000;
  p.access_log = 0;
  p.name = "fuzz";
  return ep_http_server_start(&g_loop, &p, handler, NULL, &g_srv) == 0 ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int ready = 0;
  if (!ready) {
    if (init() != 0) abort();
    ready = 1;
  }
  if (size > 65536) return 0; /* stays below the loopback socket buffer */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) abort();
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(ep_http_server_port(g_srv)),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  /* transient loopback exhaustion (ephemeral ports, accept backlog) at thousands of
   * connections a second is retried while the loop runs; a server that stays
   * unreachable for 2 s is a failure */
  int tries = 0;
  while (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    int err = errno;
    if ((err != EADDRNOTAVAIL && err != EAGAIN && err != ECONNREFUSED && err != EINTR) ||
        ++tries > 200) {
      fprintf(stderr, "fuzz_http: connect: %s (after %d tries)\n", strerror(err), tries);
      abort();
    }
    close(fd);
    uv_run(&g_loop, UV_RUN_NOWAIT);
    poll(NULL, 0, 10);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) abort();
  }
  size_t off = 0;
  while (off < size) {
    ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      uv_run(&g_loop, UV_RUN_NOWAIT);
      continue;
    }
    if (w <= 0) break; /* server already closed (error response) */
    off += (size_t)w;
  }
  shutdown(fd, SHUT_WR);
  /* Run until the server accepted, answered, closed and freed the connection
   * and we read EOF. 5 s without that is a hang. */
  uint64_t deadline = ep_mono_ns() + 5000000000ull;
  int eof = 0; /* EOF implies the server accepted and closed it */
  char buf[16384];
  while (!(eof && g_srv->nconns == 0)) {
    uv_run(&g_loop, UV_RUN_NOWAIT);
    for (;;) {
      ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) continue;
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) eof = 1;
      break;
    }
    if (ep_mono_ns() > deadline) {
      fprintf(stderr, "fuzz_http: connection not closed within 5 s (eof=%d conns=%zu)\n", eof,
              g_srv->nconns);
      abort();
    }
    if (!eof || g_srv->nconns) { /* sleep until the client or the loop has work */
      struct pollfd pf[2] = {{.fd = fd, .events = eof ? 0 : POLLIN},
                             {.fd = uv_backend_fd(&g_loop), .events = POLLIN}};
      int t = uv_backend_timeout(&g_loop);
      poll(pf, 2, t < 0 || t > 10 ? 10 : t);
    }
  }
  close(fd);
  return 0;
}
