/* Write paths of the HTTP server and client when the socket does not take
 * everything at once: a 4 MiB response (head + body in one writev, the rest
 * queued), large chunks of a chunked response, back-to-back keep-alive
 * responses after a partial write, a HEAD answer without a body, and a 4 MiB
 * request body sent by ep_http_client to a peer that reads slowly. Every
 * byte is checked against a position-derived pattern. */
#include "test.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "http/client.h"
#include "http/http.h"
#include "loopback.h"

#define BIG (4u << 20)
#define CHUNK (300u << 10)
#define NCHUNK 5

static int g_port;
static ep_http_server *g_srv;
static uv_async_t g_done_async;
static int g_shut;
static char *g_big;

static char pat(size_t i) { return (char)('a' + (i * 7 + i / 251) % 26); }

static void handler(ep_http_req *r, void *ctx) {
  (void)ctx;
  if (!strcmp(r->path, "/big")) {
    ep_http_add_header(r, "X-Test", "big");
    ep_http_respond(r, 200, "application/octet-stream", g_big, BIG);
  } else if (!strcmp(r->path, "/chunks")) {
    ep_http_stream_begin(r, 200, "application/octet-stream");
    for (int i = 0; i < NCHUNK; i++) ep_http_stream_write(r, g_big + (size_t)i * CHUNK, CHUNK);
    ep_http_stream_end(r);
  } else {
    ep_http_respond(r, 201, "text/plain", "small", 5);
  }
}

/* ---- raw client (thread) ---- */


/* Reads until the head is complete; returns its length (buffer keeps any body bytes read). */
static size_t read_head(int fd, char *buf, size_t cap, size_t *have) {
  *have = 0;
  buf[0] = 0;
  for (;;) {
    char *e = strstr(buf, "\r\n\r\n");
    if (e) return (size_t)(e - buf) + 4;
    ssize_t n = read(fd, buf + *have, cap - 1 - *have);
    if (n <= 0) return 0;
    *have += (size_t)n;
    buf[*have] = 0;
  }
}

static int read_exact(int fd, char *out, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t k = read(fd, out + got, n - got);
    if (k <= 0) return -1;
    got += (size_t)k;
  }
  return 0;
}

static int pattern_ok(const char *d, size_t off, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (d[i] != pat(off + i)) return 0;
  return 1;
}

static void client_main(void) {
  char *body = malloc(BIG);
  char head[8192];
  size_t have;
  int fd = loopback_connect(g_port, 5);
  CHECK(fd >= 0);
  /* two requests at once; do not read before the server had to queue */
  const char *reqs = "GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /small HTTP/1.1\r\nHost: x\r\n\r\n";
  CHECK(write(fd, reqs, strlen(reqs)) == (ssize_t)strlen(reqs));
  usleep(200 * 1000);
  size_t hl = read_head(fd, head, sizeof head, &have);
  CHECK(hl > 0);
  CHECK(!strncmp(head, "HTTP/1.1 200 OK\r\n", 17));
  CHECK(strstr(head, "\r\nContent-Length: 4194304\r\n") != NULL);
  CHECK(strstr(head, "\r\nX-Test: big\r\n") != NULL);
  CHECK(strstr(head, "\r\nContent-Type: application/octet-stream\r\n") != NULL);
  CHECK(strstr(head, "\r\nConnection: keep-alive\r\n") != NULL);
  size_t pre = have - hl;
  memcpy(body, head + hl, pre);
  CHECK_INT(read_exact(fd, body + pre, BIG - pre), 0);
  CHECK(pattern_ok(body, 0, BIG));
  /* the second response follows the queued remainder, in order */
  hl = read_head(fd, head, sizeof head, &have);
  CHECK(!strncmp(head, "HTTP/1.1 201 Created\r\n", 22));
  CHECK(strstr(head, "\r\nContent-Length: 5\r\n") != NULL);
  if (have - hl < 5) read_exact(fd, head + have, 5 - (have - hl));
  CHECK(!strncmp(head + hl, "small", 5));
  /* chunked: large chunks, each prefix + data + CRLF in order */
  const char *rq = "GET /chunks HTTP/1.1\r\nHost: x\r\n\r\n";
  CHECK(write(fd, rq, strlen(rq)) == (ssize_t)strlen(rq));
  usleep(100 * 1000);
  hl = read_head(fd, head, sizeof head, &have);
  CHECK(strstr(head, "\r\nTransfer-Encoding: chunked\r\n") != NULL);
  size_t total = NCHUNK * CHUNK + NCHUNK * 9 + 5, pre2 = have - hl;
  char *raw = malloc(total);
  memcpy(raw, head + hl, pre2);
  CHECK_INT(read_exact(fd, raw + pre2, total - pre2), 0);
  size_t pos = 0;
  for (int i = 0; i < NCHUNK; i++) {
    CHECK(!strncmp(raw + pos, "4b000\r\n", 7));
    pos += 7;
    CHECK(pattern_ok(raw + pos, (size_t)i * CHUNK, CHUNK));
    pos += CHUNK;
    CHECK(!strncmp(raw + pos, "\r\n", 2));
    pos += 2;
  }
  CHECK(!strncmp(raw + pos, "0\r\n\r\n", 5));
  free(raw);
  /* HEAD: the head says 4 MiB, no body follows; the next answer comes next */
  const char *hq = "HEAD /big HTTP/1.1\r\nHost: x\r\n\r\nGET /small HTTP/1.1\r\nHost: x\r\n\r\n";
  CHECK(write(fd, hq, strlen(hq)) == (ssize_t)strlen(hq));
  hl = read_head(fd, head, sizeof head, &have);
  CHECK(strstr(head, "\r\nContent-Length: 4194304\r\n") != NULL);
  memmove(head, head + hl, have - hl + 1);
  size_t rest = have - hl;
  while (!strstr(head, "small")) {
    ssize_t n = read(fd, head + rest, sizeof head - 1 - rest);
    if (n <= 0) break;
    rest += (size_t)n;
    head[rest] = 0;
  }
  CHECK(!strncmp(head, "HTTP/1.1 201 Created\r\n", 22));
  close(fd);
  free(body);
}

/* ---- client side: a big request body to a slow reader ---- */

static int g_sink_port, g_sink_fd = -1;
static int g_sink_ok;

static void *sink_main(void *arg) {
  (void)arg;
  int fd = accept(g_sink_fd, NULL, NULL);
  if (fd < 0) return NULL;
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  usleep(200 * 1000); /* let the client's first write fill the socket */
  char head[8192];
  size_t have, hl = read_head(fd, head, sizeof head, &have);
  int ok = hl > 0 && !strncmp(head, "POST /up HTTP/1.1\r\n", 19) &&
           strstr(head, "\r\nContent-Length: 4194304\r\n") && strstr(head, "\r\nX-A: 1\r\n");
  char *body = malloc(BIG);
  memcpy(body, head + hl, have - hl);
  ok = ok && read_exact(fd, body + (have - hl), BIG - (have - hl)) == 0 && pattern_ok(body, 0, BIG);
  free(body);
  const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  ok = ok && write(fd, resp, strlen(resp)) == (ssize_t)strlen(resp);
  g_sink_ok = ok;
  usleep(100 * 1000);
  close(fd);
  return NULL;
}

static int c_status, c_err = -1;
static void c_head(ep_http_creq *r, int status, const ep_http_header *h, size_t n, void *ud) {
  (void)r, (void)h, (void)n, (void)ud;
  c_status = status;
}
static void c_body(ep_http_creq *r, const char *d, size_t len, void *ud) { (void)r, (void)d, (void)len, (void)ud; }
static void c_done(ep_http_creq *r, int err, void *ud) {
  (void)r, (void)ud;
  c_err = err;
}

static void client_upload(uv_loop_t *loop) {
  g_sink_fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  CHECK(bind(g_sink_fd, (struct sockaddr *)&a, sizeof a) == 0);
  listen(g_sink_fd, 4);
  socklen_t al = sizeof a;
  getsockname(g_sink_fd, (struct sockaddr *)&a, &al);
  g_sink_port = ntohs(a.sin_port);
  pthread_t th;
  pthread_create(&th, NULL, sink_main, NULL);
  ep_http_client *cl;
  CHECK_INT(ep_http_client_init(loop, &cl), 0);
  ep_http_header hs[] = {{"X-A", "1"}, {"Content-Length", "3"}, {"Host", "evil"}};
  ep_http_client_reqspec rs = {"POST", "/up", hs, 3, g_big, BIG, 5000};
  ep_http_client_cbs cbs = {c_head, c_body, c_done};
  CHECK_INT(ep_http_client_send(cl, "127.0.0.1", g_sink_port, &rs, &cbs, NULL, NULL), 0);
  while (c_err < 0 && uv_run(loop, UV_RUN_ONCE)) {
  }
  CHECK_INT(c_err, 0);
  CHECK_INT(c_status, 200);
  pthread_join(th, NULL);
  CHECK(g_sink_ok);
  close(g_sink_fd);
  ep_http_client_free(cl);
  uv_run(loop, UV_RUN_NOWAIT);
}

static void on_shutdown_done(void *ctx) { *(int *)ctx = 1; }
static void on_client_done(uv_async_t *a) {
  uv_close((uv_handle_t *)a, NULL);
  ep_http_server_shutdown(g_srv, on_shutdown_done, &g_shut);
}

static void *client_thread(void *arg) {
  (void)arg;
  client_main();
  uv_async_send(&g_done_async);
  return NULL;
}

int main(void) {
  g_big = malloc(BIG);
  for (size_t i = 0; i < BIG; i++) g_big[i] = pat(i);
  uv_loop_t *loop = uv_default_loop();
  ep_http_server_params p = ep_http_server_default_params();
  p.name = "test";
  p.access_log = 0;
  CHECK_INT(ep_http_server_start(loop, &p, handler, NULL, &g_srv), 0);
  g_port = ep_http_server_port(g_srv);
  uv_async_init(loop, &g_done_async, on_client_done);
  pthread_t th;
  pthread_create(&th, NULL, client_thread, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  pthread_join(th, NULL);
  CHECK_INT(g_shut, 1);
  ep_http_server_free(g_srv);
  client_upload(loop);
  uv_loop_close(loop);
  free(g_big);
  return t_finish();
}
