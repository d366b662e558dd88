/* HTTP/1.1 server core: accept, parse with http-parser, enforce size and time
 * limits, dispatch one request at a time per connection (pipelined bytes are
 * kept until the current response is finished), keep-alive, client-abort
 * detection, graceful shutdown, a cap on open connections (limit.c answers
 * the excess), optionally a second listener on a Unix-domain socket (the
 * daemon's gateway reaches local replicas that way). Responses are written by
 * response.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/time.h"
#include "http/conn.h"

static http_parser_settings g_settings;
static void conn_process(ep_http_conn *c);

ep_http_server_params ep_http_server_default_params(void) {
  ep_http_server_params p;
  memset(&p, 0, sizeof p);
  p.host = "127.0.0.1";
  p.max_body_bytes = 8u << 20;
  p.max_header_bytes = 64u << 10;
  p.header_timeout_ms = 10000;
  p.idle_timeout_ms = 60000;
  p.backlog = 511;
  p.access_log = 1;
  p.name = "http";
  p.retry_after_s = 1;
  return p;
}

/* ---- connection lifecycle ------------------------------------------------ */

static void conn_free_if_done(ep_http_conn *c) {
  if (c->handles_open > 0 || c->req) return;
  ep_http_server *s = c->srv;
  if (c->prev) c->prev->next = c->next;
  else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  s->nconns--;
  if (c->rejected) s->nrejected--;
  ep_buf_free(&c->pending);
  ep_buf_free(&c->url);
  ep_buf_free(&c->hfield);
  ep_buf_free(&c->hvalue);
  ep_buf_free(&c->body);
  free(c);
  if (s->shutting_down && s->nconns == 0 && s->listener_closed && s->done) {
    void (*done)(void *) = s->done;
    s->done = NULL;
    done(s->done_ctx);
  }
}

static void on_handle_closed(uv_handle_t *h) {
  ep_http_conn *c = h->data;
  c->handles_open--;
  conn_free_if_done(c);
}

static void req_free(ep_http_req *r) {
  ep_arena_free(&r->arena);
  free(r->resp_headers);
  free(r);
}

void ep__conn_close(ep_http_conn *c) {
  if (c->closing) return;
  c->closing = 1;
  ep_http_req *r = c->req;
  if (r && c->state == EP_CONN_HANDLING && !r->finished) {
    r->aborted = 1;
    if (r->on_abort) r->on_abort(r, r->abort_data);
  } else if (r && c->state != EP_CONN_HANDLING) {
    req_free(r); /* half-parsed request: nobody else holds it */
    c->req = NULL;
  }
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
  uv_close(&c->io.handle, on_handle_closed);
}

static void on_shutdown(uv_shutdown_t *sr, int status) {
  ep_http_conn *c = sr->data;
  free(sr);
  c->closing = 0; /* allow ep__conn_close to run */
  ep__conn_close(c);
}

/* Close after queued writes are flushed. */
void ep__conn_close_graceful(ep_http_conn *c) {
  if (c->closing) return;
  uv_shutdown_t *sr = malloc(sizeof *sr);
  if (!sr || uv_shutdown(sr, &c->io.stream, on_shutdown) != 0) {
    free(sr);
    ep__conn_close(c);
    return;
  }
  sr->data = c;
  c->closing = 1; /* no more writes or reads */
  uv_timer_stop(&c->timer);
  uv_read_stop(&c->io.stream);
}

static void on_timer(uv_timer_t *t) {
  ep_http_conn *c = t->data;
  if (c->rejected) {
    ep__conn_close(c);
  } else if (c->state == EP_CONN_READING) {
    ep__conn_send_simple(c, 408, "request timeout");
  } else if (c->state == EP_CONN_IDLE) {
    ep__conn_close(c);
  }
}

static void arm_timer(ep_http_conn *c, unsigned ms) {
  if (c->closing) return;
  uv_timer_stop(&c->timer);
  if (ms) uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* Called by response.c once the handler finished the request. */
void ep__conn_request_done(ep_http_conn *c, ep_http_req *r) {
  ep_http_server *s = c->srv;
  s->inflight--;
  int keep = c->keep_alive && !s->shutting_down && !r->aborted;
  c->req = NULL;
  req_free(r);
  if (c->closing) {
    conn_free_if_done(c);
    return;
  }
  c->state = EP_CONN_IDLE;
  if (!keep) {
    ep__conn_close_graceful(c);
    return;
  }
  arm_timer(c, s->p.idle_timeout_ms);
  if (!c->reading) {
    /* resume reading (stopped when too much was pipelined) */
    c->reading = 1;
  }
  if (!c->in_process) conn_process(c);
}

/* ---- parsing ----------------------------------------------------------- */

static int add_header(ep_http_conn *c) {
  ep_http_req *r = c->req;
  if (!c->hfield.len) return 0;
  if (r->nheaders % 16 == 0) {
    ep_http_header *n = ep_arena_alloc(&r->arena, (r->nheaders + 16) * sizeof *n);
    if (!n) return -1;
    if (r->nheaders) memcpy(n, r->headers, r->nheaders * sizeof *n);
    r->headers = n;
  }
  r->headers[r->nheaders].name = ep_arena_strndup(&r->arena, c->hfield.data, c->hfield.len);
  r->headers[r->nheaders].value =
      ep_arena_strndup(&r->arena, ep_buf_cstr(&c->hvalue), c->hvalue.len);
  r->nheaders++;
  ep_buf_reset(&c->hfield);
  ep_buf_reset(&c->hvalue);
  return 0;
}

static int count_header_bytes(ep_http_conn *c, size_t n) {
  c->header_bytes += n;
  if (c->header_bytes > c->srv->p.max_header_bytes) {
    c->err_status = 431;
    http_parser_pause(&c->parser, 1);
    return 0;
  }
  return 0;
}

static int on_message_begin(http_parser *p) {
  ep_http_conn *c = p->data;
  ep_http_req *r = calloc(1, sizeof *r);
  if (!r) return -1;
  ep_arena_init(&r->arena, 8192);
  r->conn = c;
  r->body = "";
  r->query = "";
  c->req = r;
  c->state = EP_CONN_READING;
  c->header_bytes = 0;
  c->last_was_value = 0;
  ep_buf_reset(&c->url);
  ep_buf_reset(&c->hfield);
  ep_buf_reset(&c->hvalue);
  ep_buf_reset(&c->body);
  arm_timer(c, c->srv->p.header_timeout_ms);
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t n) {
  ep_http_conn *c = p->data;
  ep_buf_append(&c->url, at, n);
  return count_header_bytes(c, n);
}

static int on_header_field(http_parser *p, const char *at, size_t n) {
  ep_http_conn *c = p->data;
  /* http-parser (non-strict) lets SP/HT into names: "Transfer-Encoding : chunked"
   * would then be a different header here than in a front proxy (smuggling) */
  if (memchr(at, ' ', n) || memchr(at, '\t', n)) {
    c->err_status = 400;
    http_parser_pause(p, 1);
    return 0;
  }
  if (c->last_was_value && add_header(c)) return -1;
  c->last_was_value = 0;
  ep_buf_append(&c->hfield, at, n);
  return count_header_bytes(c, n);
}

static int on_header_value(http_parser *p, const char *at, size_t n) {
  ep_http_conn *c = p->data;
  c->last_was_value = 1;
  ep_buf_append(&c->hvalue, at, n);
  return count_header_bytes(c, n);
}

static int on_headers_complete(http_parser *p) {
  ep_http_conn *c = p->data;
  if (c->last_was_value && add_header(c)) return -1;
  c->last_was_value = 0;
  if ((p->flags & F_CONTENTLENGTH) && p->content_length > c->srv->p.max_body_bytes) {
    c->err_status = 413;
    http_parser_pause(p, 1);
  }
  return 0;
}

static int on_body(http_parser *p, const char *at, size_t n) {
  ep_http_conn *c = p->data;
  if (c->body.len + n > c->srv->p.max_body_bytes) {
    c->err_status = 413;
    http_parser_pause(p, 1);
    return 0;
  }
  ep_buf_append(&c->body, at, n);
  return 0;
}

/* Collapses duplicate slashes, drops the query and a trailing slash. */
static void split_target(ep_http_req *r) {
  const char *t = r->target;
  const char *q = strchr(t, '?');
  size_t plen = q ? (size_t)(q - t) : strlen(t);
  r->query = q ? ep_arena_strdup(&r->arena, q + 1) : "";
  char *path = ep_arena_alloc(&r->arena, plen + 2);
  size_t j = 0;
  if (plen == 0 || t[0] != '/') path[j++] = '/';
  for (size_t i = 0; i < plen; i++) {
    if (t[i] == '/' && j > 0 && path[j - 1] == '/') continue;
    path[j++] = t[i];
  }
  if (j > 1 && path[j - 1] == '/') j--;
  path[j] = '\0';
  r->path = path;
}

/* Lower-case hex of v, exactly `digits` characters. */
static void put_hex(char *out, uint64_t v, int digits) {
  static const char k_hex[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; i--, v >>= 4) out[i] = k_hex[v & 15];
}

static void make_request_id(ep_http_server *s, ep_http_req *r) {
  const char *in = NULL;
  for (size_t i = 0; i < r->nheaders; i++) /* usually absent: test the length first */
    if (strlen(r->headers[i].name) == 12 && !strcasecmp(r->headers[i].name, "x-request-id")) {
      in = r->headers[i].value;
      break;
    }
  if (in) {
    size_t n = strlen(in), ok = n > 0 && n < sizeof r->request_id;
    for (size_t i = 0; ok && i < n; i++)
      ok = (in[i] >= '0' && in[i] <= '9') || (in[i] >= 'a' && in[i] <= 'z') ||
           (in[i] >= 'A' && in[i] <= 'Z') || in[i] == '-' || in[i] == '_';
    if (ok) {
      memcpy(r->request_id, in, n + 1);
      return;
    }
  }
  /* "%08x%08llx" of prefix and counter, without printf (every request) */
  uint64_t ctr = ++s->req_counter;
  int cd = 8;
  while (cd < 15 && (ctr >> (4 * cd)) != 0) cd++; /* 8 + 15 + NUL fit request_id[24] */
  put_hex(r->request_id, s->req_prefix, 8);
  put_hex(r->request_id + 8, ctr, cd);
  r->request_id[8 + cd] = '\0';
}

static int on_message_complete(http_parser *p) {
  ep_http_conn *c = p->data;
  ep_http_req *r = c->req;
  r->method = http_method_str((enum http_method)p->method);
  r->target = ep_arena_strndup(&r->arena, ep_buf_cstr(&c->url), c->url.len);
  split_target(r);
  r->body_len = c->body.len;
  r->body = ep_arena_strndup(&r->arena, ep_buf_cstr(&c->body), c->body.len);
  ep_buf_reset(&c->body);
  c->keep_alive = http_should_keep_alive(p) ? 1 : 0;
  r->start_ns = ep_mono_ns();
  make_request_id(c->srv, r);
  c->state = EP_CONN_HANDLING;
  http_parser_pause(p, 1);
  return 0;
}

/* Parses pending bytes and dispatches complete requests, one at a time. */
static void conn_process(ep_http_conn *c) {
  ep_http_server *s = c->srv;
  c->in_process = 1;
  while (!c->closing && c->state != EP_CONN_HANDLING && c->pending.len > 0) {
    if (s->shutting_down && c->state == EP_CONN_IDLE) {
      ep__conn_close(c);
      break;
    }
    size_t n = http_parser_execute(&c->parser, &g_settings, c->pending.data, c->pending.len);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (e == HPE_PAUSED) http_parser_pause(&c->parser, 0);
    ep_buf_consume(&c->pending, n);
    if (c->err_status) {
      ep__conn_send_simple(c, c->err_status,
                           c->err_status == 413   ? "request body too large"
                           : c->err_status == 431 ? "request headers too large"
                                                  : "invalid header name");
      break;
    }
    if (e == HPE_HEADER_OVERFLOW) { /* the parser's own 80 KiB cap on the header block */
      ep__conn_send_simple(c, 431, "request headers too large");
      break;
    }
    if (e != HPE_OK && e != HPE_PAUSED) {
      ep__conn_send_simple(c, 400, http_errno_description(e));
      break;
    }
    if (c->state == EP_CONN_HANDLING) {
      uv_timer_stop(&c->timer);
      s->inflight++;
      s->handler(c->req, s->ctx);
    } else if (n == 0) {
      break;
    }
  }
  c->in_process = 0;
}

/* Read buffers: one spare kept per server, so a read does not cost a 64 KiB
 * malloc + free; each buffer still belongs to one read callback at a time. */
#define READ_BUF_BYTES 65536

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  ep_http_server *s = ((ep_http_conn *)h->data)->srv;
  char *b = s->spare_buf;
  s->spare_buf = NULL;
  if (!b) b = malloc(READ_BUF_BYTES);
  buf->base = b;
  buf->len = b ? READ_BUF_BYTES : 0;
}

static void read_buf_done(ep_http_server *s, const uv_buf_t *buf) {
  if (!buf->base) return;
  if (!s->spare_buf && buf->len == READ_BUF_BYTES)
    s->spare_buf = buf->base;
  else
    free(buf->base);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  ep_http_conn *c = st->data;
  ep_http_server *s = c->srv; /* c may be freed by the calls below, s not */
  if (c->rejected) { /* discard until the client closes after reading the 503 */
    read_buf_done(s, buf);
    if (nread < 0) ep__conn_close(c);
    return;
  }
  if (nread < 0) {
    read_buf_done(s, buf);
    ep__conn_close(c);
    return;
  }
  if (nread > 0 && !c->closing) {
    ep_buf_append(&c->pending, buf->base, (size_t)nread);
    read_buf_done(s, buf); /* copied: the handler below may free c */
    /* Refuse unbounded pipelining while a request is being handled. */
    if (c->state == EP_CONN_HANDLING && c->pending.len > c->srv->p.max_body_bytes + 65536) {
      ep__conn_close(c);
      return;
    }
    if (c->state != EP_CONN_HANDLING && !c->in_process) conn_process(c);
    return;
  }
  read_buf_done(s, buf);
}

/* Rejected connections being answered at once (beyond this they are accepted
 * and closed without an answer) so a flood cannot use more descriptors than
 * 1.5 x max_conns + 16; the default max_conns is half the descriptor limit. */
static size_t reject_cap(const ep_http_server *s) { return s->max_conns / 2 + 16; }

static void on_connection(uv_stream_t *l, int status) {
  ep_http_server *s = l->data;
  if (status < 0) {
    ep__http_accept_error(s, status); /* EMFILE: libuv drops the backlog, no spin */
    return;
  }
  if (s->shutting_down) return;
  ep_http_conn *c = calloc(1, sizeof *c);
  if (!c) return;
  int over = s->nconns - s->nrejected >= s->max_conns;
  int is_unix = l == (uv_stream_t *)&s->ulistener;
  c->srv = s;
  if (is_unix)
    uv_pipe_init(s->loop, &c->io.pipe, 0);
  else
    uv_tcp_init(s->loop, &c->io.tcp);
  uv_timer_init(s->loop, &c->timer);
  c->io.handle.data = c;
  c->timer.data = c;
  c->handles_open = 2;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  s->nconns++;
  if (over) {
    c->rejected = 1;
    s->nrejected++;
    s->rejected_total++;
  }
  if (uv_accept(l, &c->io.stream) != 0 || (over && s->nrejected > reject_cap(s))) {
    ep__conn_close(c);
    return;
  }
  if (!is_unix) uv_tcp_nodelay(&c->io.tcp, 1);
  if (over) {
    ep__conn_reject(c);
    c->reading = 1;
    uv_timer_start(&c->timer, on_timer, 2000, 0);
    uv_read_start(&c->io.stream, on_alloc, on_read);
    return;
  }
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  c->reading = 1;
  arm_timer(c, s->p.idle_timeout_ms);
  uv_read_start(&c->io.stream, on_alloc, on_read);
}

/* ---- server ------------------------------------------------------------ */

static void on_failed_listener_closed(uv_handle_t *h) {
  ep_http_server *s = h->data;
  if (--s->listeners == 0) free(s);
}

/* A socket file at path that nobody listens on (left by a killed process) is
 * removed; a live one is kept (the bind then fails with EADDRINUSE). */
static void unlink_if_stale(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode)) return;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno == ECONNREFUSED) unlink(path);
  close(fd);
}

/* Second listener on a Unix-domain socket (same handler, same limits). */
static int listen_unix(ep_http_server *s, const char *path) {
  if (strlen(path) >= sizeof s->unix_path) return UV_ENAMETOOLONG;
  snprintf(s->unix_path, sizeof s->unix_path, "%s", path);
  unlink_if_stale(path);
  uv_pipe_init(s->loop, &s->ulistener, 0);
  s->ulistener.data = s;
  s->listeners++;
  int rc = uv_pipe_bind(&s->ulistener, path);
  if (!rc) chmod(path, 0600); /* only our user reaches the replica this way */
  if (!rc) rc = uv_listen((uv_stream_t *)&s->ulistener, s->p.backlog > 0 ? s->p.backlog : 511,
                          on_connection);
  return rc;
}

int ep_http_server_start(uv_loop_t *loop, const ep_http_server_params *p, ep_http_handler h,
                         void *ctx, ep_http_server **out) {
  g_settings.on_message_begin = on_message_begin;
  g_settings.on_url = on_url;
  g_settings.on_header_field = on_header_field;
  g_settings.on_header_value = on_header_value;
  g_settings.on_headers_complete = on_headers_complete;
  g_settings.on_body = on_body;
  g_settings.on_message_complete = on_message_complete;

  ep_http_server *s = calloc(1, sizeof *s);
  if (!s) return EP_ENOMEM;
  s->loop = loop;
  s->p = *p;
  snprintf(s->host, sizeof s->host, "%s", p->host ? p->host : "127.0.0.1");
  snprintf(s->name, sizeof s->name, "%s", p->name ? p->name : "http");
  s->p.host = s->host;
  s->p.name = s->name;
  s->max_conns = p->max_conns ? p->max_conns : ep__http_derive_max_conns();
  if (!s->p.retry_after_s) s->p.retry_after_s = 1;
  s->handler = h;
  s->ctx = ctx;
  if (getrandom(&s->req_prefix, sizeof s->req_prefix, 0) != sizeof s->req_prefix)
    s->req_prefix = (uint32_t)ep_mono_ns();

  struct sockaddr_storage addr;
  int rc = uv_ip4_addr(s->host, p->port, (struct sockaddr_in *)&addr);
  if (rc) rc = uv_ip6_addr(s->host, p->port, (struct sockaddr_in6 *)&addr);
  if (rc) {
    free(s);
    return EP_EINVAL;
  }
  uv_tcp_init(loop, &s->listener);
  s->listener.data = s;
  s->listeners = 1;
  rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0);
  if (!rc) rc = uv_listen((uv_stream_t *)&s->listener, p->backlog > 0 ? p->backlog : 511, on_connection);
  if (!rc && p->unix_path && *p->unix_path) {
    rc = listen_unix(s, p->unix_path);
    if (rc)
      ep_log_error("listen failed", "srv=%s unix=%s err=\"%s\"", s->name, p->unix_path,
                   uv_strerror(rc));
  } else if (rc) {
    ep_log_error("listen failed", "srv=%s host=%s port=%d err=\"%s\"", s->name, s->host, p->port,
                 uv_strerror(rc));
  }
  if (rc) {
    if (s->listeners == 2) uv_close((uv_handle_t *)&s->ulistener, on_failed_listener_closed);
    uv_close((uv_handle_t *)&s->listener, on_failed_listener_closed);
    return EP_EIO;
  }
  struct sockaddr_storage bound;
  int len = sizeof bound;
  uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len);
  s->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
  *out = s;
  return EP_OK;
}

int ep_http_server_port(const ep_http_server *s) { return s->port; }
uv_loop_t *ep_http_server_loop(const ep_http_server *s) { return s->loop; }
size_t ep_http_server_inflight(const ep_http_server *s) { return s->inflight; }
size_t ep_http_server_max_conns(const ep_http_server *s) { return s->max_conns; }
size_t ep_http_server_conns(const ep_http_server *s) { return s->nconns; }
uint64_t ep_http_server_rejected(const ep_http_server *s) { return s->rejected_total; }

static void on_listener_closed(uv_handle_t *h) {
  ep_http_server *s = h->data;
  if (--s->listeners > 0) return;
  s->listener_closed = 1;
  if (s->nconns == 0 && s->done) {
    void (*done)(void *) = s->done;
    s->done = NULL;
    done(s->done_ctx);
  }
}

void ep_http_server_shutdown(ep_http_server *s, void (*done)(void *), void *ctx) {
  if (s->shutting_down) return;
  s->shutting_down = 1;
  s->done = done;
  s->done_ctx = ctx;
  for (ep_http_conn *c = s->conns, *n; c; c = n) {
    n = c->next;
    if (c->state != EP_CONN_HANDLING) ep__conn_close(c);
  }
  uv_close((uv_handle_t *)&s->listener, on_listener_closed);
  /* libuv unlinks the socket file when a bound pipe closes */
  if (s->listeners == 2) uv_close((uv_handle_t *)&s->ulistener, on_listener_closed);
}

void ep_http_server_free(ep_http_server *s) {
  if (!s) return;
  free(s->spare_buf);
  free(s);
}
