/* HTTP/1.1 server on one libuv loop (http-parser), used by the daemon and by
 * the runtime. Keep-alive, request size/time limits (413/408), chunked and SSE
 * streaming responses, client-abort notification, graceful shutdown, and a
 * structured access log line per request.
 *
 * Threading: every function here must be called on the loop thread. Compute
 * threads hand results to the loop (uv_async_t) and respond from there.
 *
 * Request lifetime: the server allocates an ep_http_req per request and calls
 * the handler. The handler (now or later) must finish it exactly once, with
 * ep_http_respond*() or ep_http_stream_end(). If the client goes away first the
 * abort callback fires; the request stays valid (writes become no-ops) until
 * the handler finishes it. Memory from req->arena lives until then. */
#ifndef EP_HTTP_HTTP_H
#define EP_HTTP_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/arena.h"

typedef struct ep_http_server ep_http_server;
typedef struct ep_http_conn ep_http_conn;
typedef struct ep_http_req ep_http_req;

typedef struct {
  const char *name;  /* as received (case preserved); compare case-insensitively */
  const char *value;
} ep_http_header;

struct ep_http_req {
  const char *method;     /* "GET", "POST", ... */
  const char *target;     /* raw request target as received */
  const char *path;       /* normalised: no query, duplicate slashes collapsed, no trailing slash (except "/") */
  const char *query;      /* raw query string without '?', "" if none */
  ep_http_header *headers;
  size_t nheaders;
  const char *body;       /* NUL-terminated copy of the body ("" if none) */
  size_t body_len;
  char request_id[24];    /* X-Request-Id sent back on the response */
  uint64_t start_ns;      /* monotonic time the request was complete */
  ep_arena arena;         /* request-scoped memory, freed after the response */
  void *user;             /* free for the handler */
  /* private */
  ep_http_conn *conn;
  void (*on_abort)(ep_http_req *req, void *data);
  void *abort_data;
  int status;             /* status sent (for the access log) */
  uint64_t bytes_out;
  unsigned aborted : 1, finished : 1, streaming : 1, head_sent : 1, no_log : 1;
  ep_http_header *resp_headers;
  size_t nresp_headers, cap_resp_headers;
  const char *log_tag;    /* extra key=value text for the access log, may be NULL */
};

typedef void (*ep_http_handler)(ep_http_req *req, void *ctx);

typedef struct {
  const char *host;            /* default "127.0.0.1" */
  int port;                    /* 0 = pick a free port (see ep_http_server_port) */
  size_t max_body_bytes;       /* default 8 MiB; larger -> 413 */
  size_t max_header_bytes;     /* default 64 KiB; larger -> 431 */
  unsigned header_timeout_ms;  /* default 10000; request not complete in time -> 408 */
  unsigned idle_timeout_ms;    /* default 60000; keep-alive idle close */
  int backlog;                 /* default 511 */
  int access_log;              /* 1 = log one line per request (default 1) */
  const char *name;            /* log tag, e.g. "api" or "runtime" */
  /* Open connections beyond this are answered 503 + Retry-After and closed.
   * 0 (default) = half the RLIMIT_NOFILE soft limit at start, at least 32;
   * the other half stays for upstream connections, files and pipes. */
  size_t max_conns;
  unsigned retry_after_s;      /* Retry-After of that 503; default 1 */
  /* Also listen on this Unix-domain socket path (< 108 bytes; NULL or "" =
   * TCP only). A stale socket file nobody listens on is replaced; the file
   * is made 0600 and removed again at shutdown. */
  const char *unix_path;
} ep_http_server_params;

ep_http_server_params ep_http_server_default_params(void);

/* Creates and binds a server on `loop`. Returns EP_OK and sets *out, or an
 * ep_err (EP_EIO when the address cannot be bound). The server is owned by the
 * caller and released by ep_http_server_free() after shutdown completed. */
int ep_http_server_start(uv_loop_t *loop, const ep_http_server_params *p, ep_http_handler h,
                         void *ctx, ep_http_server **out);
int ep_http_server_port(const ep_http_server *s);
uv_loop_t *ep_http_server_loop(const ep_http_server *s);
size_t ep_http_server_inflight(const ep_http_server *s); /* requests not finished yet */
size_t ep_http_server_max_conns(const ep_http_server *s);  /* effective connection limit */
size_t ep_http_server_conns(const ep_http_server *s);      /* open connections now */
uint64_t ep_http_server_rejected(const ep_http_server *s); /* connections refused by the limit */
/* Stops accepting, closes idle connections, lets in-flight requests finish
 * (new requests on busy keep-alive connections are answered with close), then
 * calls done(ctx) once every connection is closed. */
void ep_http_server_shutdown(ep_http_server *s, void (*done)(void *), void *ctx);
void ep_http_server_free(ep_http_server *s);

/* Request accessors. Header lookup is case-insensitive; NULL when absent. */
const char *ep_http_req_header(const ep_http_req *r, const char *name);
/* Query parameter value decoded into the request arena; NULL when absent. */
const char *ep_http_req_query(ep_http_req *r, const char *key);
/* Bearer token from Authorization (points into the request), NULL if none. */
const char *ep_http_req_bearer(const ep_http_req *r);
/* Registers a callback fired once if the client disconnects before the
 * request is finished. */
void ep_http_req_on_abort(ep_http_req *r, void (*cb)(ep_http_req *, void *), void *data);

/* Response. Headers added before the head is sent; Content-Length,
 * Connection, Date and X-Request-Id are added by the server. */
void ep_http_add_header(ep_http_req *r, const char *name, const char *value);
void ep_http_respond(ep_http_req *r, int status, const char *content_type, const void *body,
                     size_t len);
/* JSON response from a jansson value (reference stolen). */
struct json_t;
void ep_http_respond_json(ep_http_req *r, int status, struct json_t *json);
/* {"error": msg} + X-Error-Message, Content-Type application/json. */
void ep_http_respond_error(ep_http_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Streaming (chunked transfer encoding). begin sends the head; write sends one
 * chunk immediately (never buffered beyond the socket); end finishes. For SSE
 * use content type "text/event-stream" and ep_http_sse_data(). */
void ep_http_stream_begin(ep_http_req *r, int status, const char *content_type);
void ep_http_stream_write(ep_http_req *r, const void *data, size_t len);
void ep_http_sse_data(ep_http_req *r, const char *json_text); /* "data: <text>\n\n" */
void ep_http_stream_end(ep_http_req *r);
/* Bytes queued in the socket but not yet written (for backpressure). */
size_t ep_http_req_write_queue(const ep_http_req *r);

const char *ep_http_status_text(int status);

#endif
