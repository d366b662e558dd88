/* The Unix-domain socket hop (the gateway -> local replica path): our HTTP
 * server listening on TCP and a socket path at once, our upstream client
 * sending to the path (pooled keep-alive reuse, connect errors), the socket
 * file's mode and removal at shutdown, a stale file replaced, a live one
 * refused. One loop on the main thread. */
#include "test.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "base/buf.h"
#include "base/err.h"
#include "http/client.h"
#include "http/http.h"

static uv_loop_t *g_loop;

static void handler(ep_http_req *r, void *ctx) {
  (void)ctx;
  char out[128];
  snprintf(out, sizeof out, "%s %s", r->method, r->target);
  ep_http_respond(r, 200, "text/plain", out, strlen(out));
}

typedef struct {
  int status, err, done;
  ep_buf body;
} result;

static void c_head(ep_http_creq *q, int status, const ep_http_header *h, size_t n, void *ud) {
  (void)q;
  (void)h;
  (void)n;
  ((result *)ud)->status = status;
}
static void c_body(ep_http_creq *q, const char *d, size_t len, void *ud) {
  (void)q;
  ep_buf_append(&((result *)ud)->body, d, len);
}
static void c_done(ep_http_creq *q, int err, void *ud) {
  (void)q;
  result *r = ud;
  r->err = err;
  r->done = 1;
}
static const ep_http_client_cbs k_cbs = {c_head, c_body, c_done};

/* Sends GET target to host:port and runs the loop until it is answered. */
static void get(ep_http_client *cl, const char *host, int port, const char *target, result *res) {
  memset(res, 0, sizeof *res);
  ep_http_client_reqspec rs = {"GET", target, NULL, 0, NULL, 0, 2000};
  int rc = ep_http_client_send(cl, host, port, &rs, &k_cbs, res, NULL);
  CHECK_INT(rc, 0);
  while (!rc && !res->done) uv_run(g_loop, UV_RUN_ONCE);
}

/* A socket file at path: bound, listening when `listening`, left open (fd
 * returned) or closed (a stale file, as a SIGKILLed process leaves). */
static int make_sock(const char *path, int listening, int keep_open) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
  CHECK_INT(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  if (listening) CHECK_INT(listen(fd, 4), 0);
  if (!keep_open) {
    close(fd);
    return -1;
  }
  return fd;
}

static int g_shut;
static void on_shut(void *ctx) { *(int *)ctx = 1; }

int main(void) {
  g_loop = uv_default_loop();
  char dir[] = "/tmp/ep-unix-test-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char path[128];
  snprintf(path, sizeof path, "%s/r.sock", dir);

  /* a stale socket file (nobody listens) is replaced at start */
  make_sock(path, 0, 0);
  ep_http_server_params p = ep_http_server_default_params();
  p.port = 0;
  p.unix_path = path;
  p.access_log = 0;
  ep_http_server *srv = NULL;
  CHECK_INT(ep_http_server_start(g_loop, &p, handler, NULL, &srv), 0);
  struct stat st;
  CHECK_INT(lstat(path, &st), 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK_INT(st.st_mode & 0777, 0600);

  ep_http_client *cl = NULL;
  CHECK_INT(ep_http_client_init(g_loop, &cl), 0);
  result res;
  get(cl, path, 4242, "/a?x=1", &res);
  CHECK_INT(res.err, 0);
  CHECK_INT(res.status, 200);
  CHECK_STR(ep_buf_cstr(&res.body), "GET /a?x=1");
  ep_buf_free(&res.body);
  size_t conns = ep_http_server_conns(srv);
  CHECK_INT(conns, 1);
  /* keep-alive: the second request reuses the pooled connection */
  get(cl, path, 4242, "/b", &res);
  CHECK_INT(res.status, 200);
  CHECK_STR(ep_buf_cstr(&res.body), "GET /b");
  ep_buf_free(&res.body);
  CHECK_INT(ep_http_server_conns(srv), 1);
  /* the same server over TCP at the same time */
  get(cl, "127.0.0.1", ep_http_server_port(srv), "/tcp", &res);
  CHECK_INT(res.status, 200);
  CHECK_STR(ep_buf_cstr(&res.body), "GET /tcp");
  ep_buf_free(&res.body);
  CHECK_INT(ep_http_server_conns(srv), 2);
  /* forget_port drops the pooled Unix connection registered under 4242 */
  ep_http_client_forget_port(cl, 4242);
  for (int i = 0; i < 20 && ep_http_server_conns(srv) != 1; i++) uv_run(g_loop, UV_RUN_ONCE);
  CHECK_INT(ep_http_server_conns(srv), 1);

  /* no such socket: a connect error (nothing sent, safe to retry elsewhere) */
  char nopath[160];
  snprintf(nopath, sizeof nopath, "%s/none.sock", dir);
  get(cl, nopath, 4243, "/", &res);
  CHECK_INT(res.err, EP_ECONN);
  ep_buf_free(&res.body);
  /* a path too long for sun_path is refused up front */
  char longp[200];
  memset(longp, 'a', sizeof longp - 1);
  longp[0] = '/';
  longp[sizeof longp - 1] = '\0';
  ep_http_client_reqspec rs = {"GET", "/", NULL, 0, NULL, 0, 100};
  CHECK_INT(ep_http_client_send(cl, longp, 1, &rs, &k_cbs, &res, NULL), EP_EINVAL);

  /* a live socket at the path is not taken over */
  char live[160];
  snprintf(live, sizeof live, "%s/live.sock", dir);
  int lfd = make_sock(live, 1, 1);
  ep_http_server_params p2 = p;
  p2.unix_path = live;
  ep_http_server *srv2 = NULL;
  CHECK_INT(ep_http_server_start(g_loop, &p2, handler, NULL, &srv2), EP_EIO);
  CHECK_INT(lstat(live, &st), 0);
  close(lfd);
  unlink(live);

  ep_http_client_free(cl);
  ep_http_server_shutdown(srv, on_shut, &g_shut);
  while (!g_shut) uv_run(g_loop, UV_RUN_ONCE);
  uv_run(g_loop, UV_RUN_NOWAIT);
  ep_http_server_free(srv);
  CHECK(lstat(path, &st) != 0); /* removed at shutdown */
  uv_run(g_loop, UV_RUN_DEFAULT);
  rmdir(dir);
  return t_finish();
}
