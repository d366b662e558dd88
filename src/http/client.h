/* Async HTTP/1.1 upstream client on libuv + http-parser, used by the gateway
 * to proxy to replicas and by the supervisor to probe their health. Streams the
 * response head and body chunks back through callbacks (never buffers a whole
 * body), supports cancel, and keeps idle keep-alive connections in a small
 * per-client pool. Loop thread only. Not a general client: no TLS, no
 * redirects, no request streaming (the body is sent in one piece). */
#ifndef EP_HTTP_CLIENT_H
#define EP_HTTP_CLIENT_H

#include <stddef.h>
#include <uv.h>

#include "http/http.h"

typedef struct ep_http_client ep_http_client;
typedef struct ep_http_creq ep_http_creq;

/* Callbacks for one request. `hdrs` and `data` are borrowed for the call only.
 * on_done is called exactly once (err 0 = complete response, else an ep_err:
 * EP_ECONN could not connect (nothing was sent: safe to retry elsewhere),
 * EP_EIO connection reset/EOF after the request was sent, EP_ETIMEOUT no byte
 * for timeout_ms, EP_EPARSE bad response) unless the request was canceled; the
 * request handle is freed right after on_done returns. ep_http_client_cancel()
 * may be called from inside on_head/on_body. */
typedef struct {
  void (*on_head)(ep_http_creq *r, int status, const ep_http_header *hdrs, size_t n, void *ud);
  void (*on_body)(ep_http_creq *r, const char *data, size_t len, void *ud);
  void (*on_done)(ep_http_creq *r, int err, void *ud);
} ep_http_client_cbs;

typedef struct {
  const char *method;            /* "GET", "POST", ... */
  const char *target;            /* "/generate?x=1" */
  const ep_http_header *headers; /* copied; Host, Content-Length and Connection are added */
  size_t nheaders;
  const void *body; /* copied; may be NULL */
  size_t body_len;
  unsigned timeout_ms; /* connect + per-read inactivity limit; 0 = none */
} ep_http_client_reqspec;

/* Creates a client (connection pool) on `loop`. Free it with
 * ep_http_client_free() after every request finished or was canceled; the
 * free closes pooled connections asynchronously. */
int ep_http_client_init(uv_loop_t *loop, ep_http_client **out);
void ep_http_client_free(ep_http_client *c);
/* Max idle connections kept per client (default 64; 0 disables keep-alive). */
void ep_http_client_set_pool(ep_http_client *c, size_t max_idle);

/* Starts a request to host:port. host is a dotted IPv4 address (e.g.
 * "127.0.0.1"), or an absolute path of a Unix-domain socket (starts with '/',
 * < 108 bytes): then port only identifies the peer for the pool and for
 * ep_http_client_forget_port(), and the Host header is "localhost". Returns
 * EP_OK and sets *out (may be NULL) or an ep_err; on an error no callback is
 * called. */
int ep_http_client_send(ep_http_client *c, const char *host, int port,
                        const ep_http_client_reqspec *rs, const ep_http_client_cbs *cbs, void *ud,
                        ep_http_creq **out);
/* Cancels: no further callbacks, the connection is closed, the handle freed. */
void ep_http_client_cancel(ep_http_creq *r);

/* Drops pooled idle connections to port (a replica that went away; Unix
 * socket connections registered under that port too). */
void ep_http_client_forget_port(ep_http_client *c, int port);

#endif
