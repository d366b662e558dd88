/* Async HTTP/1.1 upstream client (see client.h): one connection per active
 * request, idle keep-alive connections pooled per host:port, response parsed
 * with http-parser and handed to callbacks chunk by chunk. A request that
 * finds a pooled connection already closed by the peer (EOF before any byte)
 * is retried once on a fresh connection. */
#include "http/client.h"

#include <http_parser.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "http/put.h"

typedef struct cconn cconn;

struct ep_http_client {
  uv_loop_t *loop;
  cconn *idle; /* singly linked idle list, newest first */
  size_t nidle, max_idle, nconns;
  int freeing;
};

/* Where a connection goes: IPv4 host:port, or a Unix-domain socket path
 * (then port only names the replica, for ep_http_client_forget_port). */
typedef struct {
  struct sockaddr_in in;
  int port;
  char path[108]; /* "" = TCP */
} caddr;

struct cconn {
  union {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
    uv_stream_t stream;
    uv_handle_t handle;
  } io;
  uv_timer_t timer;
  uv_connect_t connect;
  ep_http_client *cl;
  caddr addr;
  http_parser parser;
  ep_http_creq *req; /* active request, NULL when idle or closing */
  cconn *next;       /* idle list link */
  ep_buf hdr;        /* "name\0value\0" pairs of the response head */
  size_t nhdr;
  int handles;
  unsigned closing : 1, connected : 1, idle : 1, last_value : 1, complete : 1, keep : 1;
};

struct ep_http_creq {
  ep_http_client *cl;
  cconn *c;
  ep_http_client_cbs cbs;
  void *ud;
  ep_buf out; /* serialized request */
  unsigned timeout_ms;
  int is_head, reused, retried, in_cb, canceled;
  size_t bytes_in;
};

typedef struct {
  uv_write_t w;
  size_t len;
  char data[];
} wreq;

static void conn_close(cconn *c);
static void req_start_on(ep_http_creq *r, cconn *c);
static int req_connect_new(ep_http_creq *r, const caddr *addr);

/* ---- connection lifetime ---------------------------------------------- */

static void on_handle_closed(uv_handle_t *h) {
  cconn *c = h->data;
  if (--c->handles > 0) return;
  ep_http_client *cl = c->cl;
  ep_buf_free(&c->hdr);
  free(c);
  cl->nconns--;
  if (cl->freeing && cl->nconns == 0) free(cl);
}

static void idle_remove(cconn *c) {
  if (!c->idle) return;
  cconn **pp = &c->cl->idle;
  while (*pp && *pp != c) pp = &(*pp)->next;
  if (*pp) *pp = c->next;
  c->next = NULL;
  c->idle = 0;
  c->cl->nidle--;
}

static void conn_close(cconn *c) {
  if (c->closing) return;
  c->closing = 1;
  idle_remove(c);
  c->req = NULL;
  uv_close(&c->io.handle, on_handle_closed);
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void req_free(ep_http_creq *r) {
  ep_buf_free(&r->out);
  free(r);
}

/* Detaches r from its connection, calls on_done (unless canceled) and frees r.
 * The connection is pooled when `pool` and the response allowed keep-alive. */
static void req_finish(ep_http_creq *r, int err, int pool) {
  cconn *c = r->c;
  r->c = NULL;
  if (c) {
    c->req = NULL;
    uv_timer_stop(&c->timer);
    ep_http_client *cl = c->cl;
    if (pool && !err && c->keep && !cl->freeing && cl->nidle < cl->max_idle && !c->closing) {
      c->idle = 1;
      c->next = cl->idle;
      cl->idle = c;
      cl->nidle++;
    } else {
      conn_close(c);
    }
  }
  if (!r->canceled && r->cbs.on_done) r->cbs.on_done(r, err, r->ud);
  req_free(r);
}

/* ---- parser callbacks ------------------------------------------------- */

static int p_header_field(http_parser *p, const char *at, size_t len) {
  cconn *c = p->data;
  if (c->last_value || c->nhdr == 0) {
    if (c->nhdr) ep_buf_append(&c->hdr, "", 1); /* terminate previous value */
    c->nhdr++;
    c->last_value = 0;
  }
  /* field bytes may come in pieces: append until the value starts */
  return ep_buf_append(&c->hdr, at, len) ? -1 : 0;
}

static int p_header_value(http_parser *p, const char *at, size_t len) {
  cconn *c = p->data;
  if (!c->last_value) {
    ep_buf_append(&c->hdr, "", 1); /* terminate the name */
    c->last_value = 1;
  }
  return ep_buf_append(&c->hdr, at, len) ? -1 : 0;
}

static int p_headers_complete(http_parser *p) {
  cconn *c = p->data;
  ep_http_creq *r = c->req;
  if (c->nhdr) ep_buf_append(&c->hdr, "", 1);
  ep_http_header hs[64];
  size_t n = 0;
  const char *s = c->hdr.data, *end = c->hdr.data + c->hdr.len;
  while (s && s < end && n < 64) {
    const char *name = s;
    s += strlen(s) + 1;
    if (s >= end) break;
    hs[n].name = name;
    hs[n].value = s;
    n++;
    s += strlen(s) + 1;
  }
  c->keep = http_should_keep_alive(p) ? 1 : 0;
  if (r && !r->canceled && r->cbs.on_head) {
    r->in_cb = 1;
    r->cbs.on_head(r, p->status_code, hs, n, r->ud);
    r->in_cb = 0;
  }
  if (r && r->canceled) return -1;
  return r && r->is_head ? 1 : 0;
}

static int p_body(http_parser *p, const char *at, size_t len) {
  cconn *c = p->data;
  ep_http_creq *r = c->req;
  if (!r) return -1;
  if (!r->canceled && r->cbs.on_body) {
    r->in_cb = 1;
    r->cbs.on_body(r, at, len, r->ud);
    r->in_cb = 0;
  }
  return r->canceled ? -1 : 0;
}

static int p_message_complete(http_parser *p) {
  cconn *c = p->data;
  c->complete = 1;
  return 0;
}

static const http_parser_settings k_settings = {
    .on_header_field = p_header_field,
    .on_header_value = p_header_value,
    .on_headers_complete = p_headers_complete,
    .on_body = p_body,
    .on_message_complete = p_message_complete,
};

/* ---- I/O -------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t sug, uv_buf_t *buf) {
  (void)h;
  (void)sug;
  static _Thread_local char slab[65536]; /* consumed before the next read */
  buf->base = slab;
  buf->len = sizeof slab;
}

/* Connection failed or closed before the response ended. */
static void conn_fail(cconn *c, int err) {
  ep_http_creq *r = c->req;
  if (!r) {
    conn_close(c);
    return;
  }
  if (r->reused && r->bytes_in == 0 && !r->retried && !r->canceled) {
    /* stale pooled connection: retry once on a new one */
    caddr addr = c->addr;
    r->c = NULL;
    conn_close(c);
    r->retried = 1;
    r->reused = 0;
    if (req_connect_new(r, &addr) == 0) return;
    req_finish(r, EP_EIO, 0);
    return;
  }
  conn_close(c);
  req_finish(r, err, 0);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  cconn *c = s->data;
  if (nread == 0) return;
  ep_http_creq *r = c->req;
  if (!r) { /* idle pooled connection: data or EOF means it is unusable */
    conn_close(c);
    return;
  }
  if (nread < 0) {
    if (nread == UV_EOF && r->bytes_in > 0) {
      http_parser_execute(&c->parser, &k_settings, NULL, 0);
      if (c->complete) {
        c->keep = 0;
        req_finish(r, 0, 0);
        return;
      }
    }
    conn_fail(c, EP_EIO);
    return;
  }
  r->bytes_in += (size_t)nread;
  if (r->timeout_ms) uv_timer_again(&c->timer);
  size_t used = http_parser_execute(&c->parser, &k_settings, buf->base, (size_t)nread);
  if (r->canceled) {
    conn_close(c);
    r->c = NULL;
    req_free(r);
    return;
  }
  if (c->complete) {
    if (used < (size_t)nread) c->keep = 0; /* pipelined junk: do not reuse */
    req_finish(r, 0, 1);
    return;
  }
  if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK) {
    conn_close(c);
    req_finish(r, EP_EPARSE, 0);
  }
}

static void on_timer(uv_timer_t *t) {
  cconn *c = t->data;
  ep_http_creq *r = c->req;
  conn_close(c);
  if (r) req_finish(r, EP_ETIMEOUT, 0);
}

static void on_write(uv_write_t *w, int status) {
  wreq *wr = (wreq *)w;
  cconn *c = w->handle->data;
  free(wr);
  if (status < 0 && status != UV_ECANCELED && c->req) conn_fail(c, EP_EIO);
}

static void req_start_on(ep_http_creq *r, cconn *c) {
  r->c = c;
  c->req = r;
  c->complete = 0;
  c->keep = 0;
  c->nhdr = 0;
  c->last_value = 0;
  ep_buf_reset(&c->hdr);
  http_parser_init(&c->parser, HTTP_RESPONSE);
  c->parser.data = c;
  if (r->timeout_ms) {
    c->timer.repeat = r->timeout_ms;
    uv_timer_start(&c->timer, on_timer, r->timeout_ms, r->timeout_ms);
  }
  /* straight to the socket when it takes the request (no copy, no queued
   * write); the rest, if any, is copied into a queued uv_write */
  uv_buf_t whole = uv_buf_init(r->out.data, (unsigned)r->out.len);
  int w = uv_try_write(&c->io.stream, &whole, 1);
  size_t done = w > 0 ? (size_t)w : 0; /* an error is reported by the queued write, later */
  if (done == r->out.len) return;
  wreq *wr = malloc(sizeof *wr + (r->out.len - done));
  if (!wr) {
    conn_fail(c, EP_ENOMEM);
    return;
  }
  wr->len = r->out.len - done;
  memcpy(wr->data, r->out.data + done, wr->len);
  uv_buf_t b = uv_buf_init(wr->data, (unsigned)wr->len);
  if (uv_write(&wr->w, &c->io.stream, &b, 1, on_write) != 0) {
    free(wr);
    conn_fail(c, EP_ECONN);
  }
}

static void on_connect(uv_connect_t *cr, int status) {
  cconn *c = cr->data;
  if (c->closing) return;
  ep_http_creq *r = c->req;
  if (status < 0 || !r) {
    conn_close(c);
    if (r) req_finish(r, EP_ECONN, 0);
    return;
  }
  c->connected = 1;
  if (!c->addr.path[0]) uv_tcp_nodelay(&c->io.tcp, 1);
  if (uv_read_start(&c->io.stream, on_alloc, on_read) != 0) {
    conn_close(c);
    req_finish(r, EP_ECONN, 0);
    return;
  }
  req_start_on(r, c);
}

static int req_connect_new(ep_http_creq *r, const caddr *addr) {
  ep_http_client *cl = r->cl;
  cconn *c = calloc(1, sizeof *c);
  if (!c) return EP_ENOMEM;
  c->cl = cl;
  c->addr = *addr;
  if (addr->path[0])
    uv_pipe_init(cl->loop, &c->io.pipe, 0);
  else
    uv_tcp_init(cl->loop, &c->io.tcp);
  uv_timer_init(cl->loop, &c->timer);
  c->handles = 2;
  c->io.handle.data = c->timer.data = c->connect.data = c;
  cl->nconns++;
  c->req = r;
  r->c = c;
  if (r->timeout_ms) uv_timer_start(&c->timer, on_timer, r->timeout_ms, r->timeout_ms);
  if (addr->path[0]) {
    /* libuv connects at once and reports the result on the next loop pass */
    uv_pipe_connect(&c->connect, &c->io.pipe, c->addr.path, on_connect);
  } else if (uv_tcp_connect(&c->connect, &c->io.tcp, (const struct sockaddr *)&addr->in,
                            on_connect) != 0) {
    r->c = NULL;
    conn_close(c);
    return EP_ECONN;
  }
  return EP_OK;
}

/* ---- public ----------------------------------------------------------- */

int ep_http_client_init(uv_loop_t *loop, ep_http_client **out) {
  ep_http_client *c = calloc(1, sizeof *c);
  if (!c) return EP_ENOMEM;
  c->loop = loop;
  c->max_idle = 64;
  *out = c;
  return EP_OK;
}

void ep_http_client_set_pool(ep_http_client *c, size_t max_idle) { c->max_idle = max_idle; }

void ep_http_client_free(ep_http_client *c) {
  if (!c) return;
  c->freeing = 1;
  while (c->idle) conn_close(c->idle);
  if (c->nconns == 0) free(c);
}

void ep_http_client_forget_port(ep_http_client *c, int port) {
  cconn *p = c->idle;
  while (p) {
    cconn *next = p->next;
    if (p->addr.port == port) conn_close(p);
    p = next;
  }
}

static int ci_eq(const char *a, const char *b) { return strcasecmp(a, b) == 0; }

/* Headers the client writes itself (Host, Content-Length, Connection) or
 * that must not pass (Transfer-Encoding, Keep-Alive). */
static int own_header(const char *n) {
  switch (strlen(n)) {
  case 4: return ci_eq(n, "Host");
  case 10: return ci_eq(n, "Connection") || ci_eq(n, "Keep-Alive");
  case 14: return ci_eq(n, "Content-Length");
  case 17: return ci_eq(n, "Transfer-Encoding");
  default: return 0;
  }
}

/* Serializes the request into one reservation (no printf, no per-piece
 * append: it is on every proxied request's path). */
static int build_request(ep_buf *b, const ep_http_client_reqspec *rs, const char *host, int port,
                         int keep) {
  size_t lm = strlen(rs->method), lt = strlen(rs->target), lh = strlen(host);
  size_t need = lm + lt + lh + 128 + rs->body_len;
  for (size_t i = 0; i < rs->nheaders; i++)
    need += strlen(rs->headers[i].name) + strlen(rs->headers[i].value) + 4;
  if (ep_buf_reserve(b, need)) return EP_ENOMEM;
  char *w = b->data + b->len;
  w = ep__put(w, rs->method, lm);
  *w++ = ' ';
  w = ep__put(w, rs->target, lt);
  w = EP_PUT_LIT(w, " HTTP/1.1\r\nHost: ");
  w = ep__put(w, host, lh);
  *w++ = ':';
  w = ep__put_u64(w, (unsigned)port);
  w = EP_PUT_LIT(w, "\r\n");
  for (size_t i = 0; i < rs->nheaders; i++) {
    const ep_http_header *h = &rs->headers[i];
    if (own_header(h->name)) continue;
    if (strpbrk(h->name, "\r\n:") || strpbrk(h->value, "\r\n")) continue; /* no injection */
    w = ep__put(w, h->name, strlen(h->name));
    w = EP_PUT_LIT(w, ": ");
    w = ep__put(w, h->value, strlen(h->value));
    w = EP_PUT_LIT(w, "\r\n");
  }
  int has_body = rs->body_len > 0 || (!ci_eq(rs->method, "GET") && !ci_eq(rs->method, "HEAD"));
  if (has_body) {
    w = EP_PUT_LIT(w, "Content-Length: ");
    w = ep__put_u64(w, rs->body_len);
    w = EP_PUT_LIT(w, "\r\n");
  }
  w = keep ? EP_PUT_LIT(w, "Connection: keep-alive\r\n\r\n") : EP_PUT_LIT(w, "Connection: close\r\n\r\n");
  if (rs->body_len) w = ep__put(w, rs->body, rs->body_len);
  b->len = (size_t)(w - b->data);
  b->data[b->len] = '\0';
  return EP_OK;
}

int ep_http_client_send(ep_http_client *cl, const char *host, int port,
                        const ep_http_client_reqspec *rs, const ep_http_client_cbs *cbs, void *ud,
                        ep_http_creq **out) {
  if (!cl || !rs || !rs->method || !rs->target || !cbs || port <= 0 || port > 65535)
    return EP_EINVAL;
  caddr addr;
  memset(&addr, 0, sizeof addr);
  addr.port = port;
  if (host && host[0] == '/') {
    if (strlen(host) >= sizeof addr.path) return EP_EINVAL;
    memcpy(addr.path, host, strlen(host) + 1);
  } else if (uv_ip4_addr(host ? host : "127.0.0.1", port, &addr.in) != 0) {
    return EP_EINVAL;
  }
  ep_http_creq *r = calloc(1, sizeof *r);
  if (!r) return EP_ENOMEM;
  r->cl = cl;
  r->cbs = *cbs;
  r->ud = ud;
  r->timeout_ms = rs->timeout_ms;
  r->is_head = ci_eq(rs->method, "HEAD");
  int rc;
  const char *hh = !host ? "127.0.0.1" : addr.path[0] ? "localhost" : host;
  if (build_request(&r->out, rs, hh, port, cl->max_idle != 0)) {
    req_free(r);
    return EP_ENOMEM;
  }
  /* reuse a pooled connection to the same port when one is idle */
  for (cconn **pp = &cl->idle; *pp; pp = &(*pp)->next) {
    cconn *c = *pp;
    if (c->addr.port == port && c->addr.in.sin_addr.s_addr == addr.in.sin_addr.s_addr &&
        !strcmp(c->addr.path, addr.path)) {
      idle_remove(c);
      r->reused = 1;
      if (out) *out = r;
      req_start_on(r, c);
      return EP_OK;
    }
  }
  rc = req_connect_new(r, &addr);
  if (rc) {
    req_free(r);
    return rc;
  }
  if (out) *out = r;
  return EP_OK;
}

void ep_http_client_cancel(ep_http_creq *r) {
  if (!r || r->canceled) return;
  r->canceled = 1;
  if (r->in_cb) return; /* on_read finishes the cleanup */
  cconn *c = r->c;
  r->c = NULL;
  if (c) conn_close(c);
  req_free(r);
}
