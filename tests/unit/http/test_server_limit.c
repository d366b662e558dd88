/* HTTP server connection limit: with max_conns = 4, a fifth connection gets
 * 503 + Retry-After + Connection: close and then EOF; a flood over the limit
 * is answered or closed, never left hanging; closing a connection frees a
 * slot. Accept failures for lack of descriptors (EMFILE) drop the waiting
 * connections without spinning the loop, and the server recovers after. */
#include "test.h"

#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "http/http.h"

#define LIMIT 4
#define FLOOD 40

static int g_port;
static ep_http_server *g_srv;
static uv_async_t g_done_async;
static int g_shut;

static void handler(ep_http_req *r, void *ctx) {
  (void)ctx;
  ep_http_respond(r, 200, "text/plain", "ok", 2);
}

static int sock_new(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct timeval tv = {3, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

static int sock_connect(int fd) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  return connect(fd, (struct sockaddr *)&a, sizeof a);
}

static int connect_port(void) {
  int fd = sock_new();
  if (fd >= 0 && sock_connect(fd) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Reads until EOF, error or timeout; returns bytes read (-1 on error with none). */
static ssize_t read_all(int fd, char *out, size_t cap) {
  size_t len = 0;
  for (;;) {
    ssize_t n = read(fd, out + len, cap - 1 - len);
    if (n <= 0) {
      out[len] = 0;
      return len ? (ssize_t)len : n;
    }
    len += (size_t)n;
    if (len + 1 >= cap) break;
  }
  out[len] = 0;
  return (ssize_t)len;
}

static int get_hello(int fd, char *out, size_t cap) {
  const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) return -1;
  size_t len = 0;
  out[0] = 0;
  while (!strstr(out, "\r\n\r\nok") && len + 1 < cap) { /* keep-alive: no EOF */
    ssize_t n = read(fd, out + len, cap - 1 - len);
    if (n <= 0) break;
    len += (size_t)n;
    out[len] = 0;
  }
  int st = 0;
  sscanf(out, "HTTP/1.1 %d", &st);
  return st;
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void client_limit(void) {
  char buf[2048];
  int keep[LIMIT];
  for (int i = 0; i < LIMIT; i++) {
    keep[i] = connect_port();
    CHECK(keep[i] >= 0);
    CHECK_INT(get_hello(keep[i], buf, sizeof buf), 200);
  }
  /* over the limit: 503, Retry-After, close, then EOF (not a reset) */
  int fd = connect_port();
  CHECK(fd >= 0);
  const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  CHECK(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
  ssize_t n = read_all(fd, buf, sizeof buf);
  CHECK(n > 0);
  int st = 0;
  sscanf(buf, "HTTP/1.1 %d", &st);
  CHECK_INT(st, 503);
  CHECK(strstr(buf, "\r\nRetry-After: 3\r\n") != NULL);
  CHECK(strstr(buf, "\r\nConnection: close\r\n") != NULL);
  CHECK(strstr(buf, "too many open connections (limit 4)") != NULL);
  close(fd);
  usleep(100 * 1000); /* the server sees that close and frees its reject slot first */
  /* a flood over the limit: every socket ends (503 or closed) within the timeout */
  int fl[FLOOD], answered = 0, ended = 0;
  for (int i = 0; i < FLOOD; i++) fl[i] = connect_port();
  for (int i = 0; i < FLOOD; i++) {
    if (fl[i] < 0) {
      ended++; /* refused outright also counts as not hanging */
      continue;
    }
    n = read_all(fl[i], buf, sizeof buf);
    if (n > 0 && strncmp(buf, "HTTP/1.1 503", 12) == 0) answered++;
    if (n >= 0 || errno == ECONNRESET) ended++;
    close(fl[i]);
  }
  CHECK_INT(ended, FLOOD);
  CHECK(answered >= 16); /* at least the reject cap is answered, not dropped */
  /* closing one kept connection frees a slot */
  close(keep[0]);
  usleep(100 * 1000);
  keep[0] = connect_port();
  CHECK(keep[0] >= 0);
  CHECK_INT(get_hello(keep[0], buf, sizeof buf), 200);
  for (int i = 0; i < LIMIT; i++) close(keep[i]);
  usleep(100 * 1000);
}

/* Descriptors run out: the server's accept gets EMFILE. */
static void client_emfile(void) {
  enum { N = 20 };
  int fds[N];
  for (int i = 0; i < N; i++) fds[i] = sock_new();
  struct rlimit old, low;
  CHECK_INT(getrlimit(RLIMIT_NOFILE, &old), 0);
  int lowest = dup(0); /* lowest free descriptor: everything below is in use */
  close(lowest);
  low = old;
  low.rlim_cur = (rlim_t)lowest;
  CHECK_INT(setrlimit(RLIMIT_NOFILE, &low), 0);
  double c0 = cpu_s();
  int connected = 0, ended = 0;
  for (int i = 0; i < N; i++) connected += sock_connect(fds[i]) == 0;
  CHECK_INT(connected, N); /* the kernel completes the handshakes */
  for (int i = 0; i < N; i++) {
    char buf[512];
    struct pollfd pf = {fds[i], POLLIN, 0};
    if (poll(&pf, 1, 2000) == 1 && read(fds[i], buf, sizeof buf) <= 0) ended++;
  }
  usleep(300 * 1000); /* a spinning loop would burn this whole time */
  double used = cpu_s() - c0;
  CHECK_INT(setrlimit(RLIMIT_NOFILE, &old), 0);
  for (int i = 0; i < N; i++) close(fds[i]);
  printf("emfile: %d of %d connections dropped, cpu %.3f s\n", ended, N, used);
  CHECK_INT(ended, N); /* dropped, not left in the backlog */
  CHECK(used < 0.25);
  usleep(50 * 1000);
  char buf[1024];
  int fd = connect_port(); /* and the server works again */
  CHECK(fd >= 0);
  CHECK_INT(get_hello(fd, buf, sizeof buf), 200);
  close(fd);
}

static void on_shutdown_done(void *ctx) { *(int *)ctx = 1; }
static void on_client_done(uv_async_t *a) {
  uv_close((uv_handle_t *)a, NULL);
  ep_http_server_shutdown(g_srv, on_shutdown_done, &g_shut);
}

static void *client_thread(void *arg) {
  (void)arg;
  printf("-- client_limit\n");
  client_limit();
  printf("-- client_emfile\n");
  client_emfile();
  uv_async_send(&g_done_async);
  return NULL;
}

int main(void) {
  uv_loop_t *loop = uv_default_loop();
  ep_http_server_params p = ep_http_server_default_params();
  CHECK(p.max_conns == 0 && p.retry_after_s == 1);
  p.port = 0;
  p.name = "test";
  p.access_log = 0;
  p.max_conns = LIMIT;
  p.retry_after_s = 3;
  CHECK_INT(ep_http_server_start(loop, &p, handler, NULL, &g_srv), 0);
  CHECK_INT((int)ep_http_server_max_conns(g_srv), LIMIT);
  g_port = ep_http_server_port(g_srv);
  uv_async_init(loop, &g_done_async, on_client_done);
  pthread_t th;
  pthread_create(&th, NULL, client_thread, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  pthread_join(th, NULL);
  CHECK_INT(g_shut, 1);
  CHECK(ep_http_server_rejected(g_srv) >= 1 + 16);
  CHECK_INT((int)ep_http_server_conns(g_srv), 0);
  ep_http_server_free(g_srv);
  /* the default limit is derived from the descriptor limit */
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  p.max_conns = 0;
  p.port = 0;
  CHECK_INT(ep_http_server_start(loop, &p, handler, NULL, &g_srv), 0);
  size_t want = rl.rlim_cur / 2 < 32 ? 32 : rl.rlim_cur / 2;
  CHECK_INT((int)ep_http_server_max_conns(g_srv), (int)want);
  g_shut = 0;
  ep_http_server_shutdown(g_srv, on_shutdown_done, &g_shut);
  uv_run(loop, UV_RUN_DEFAULT);
  CHECK_INT(g_shut, 1);
  ep_http_server_free(g_srv);
  uv_loop_close(loop);
  return t_finish();
}
