/* Private to src/http: the per-connection state shared by server.c (accept,
 * parse, dispatch, lifecycle) and response.c (writing heads and bodies). */
#ifndef EP_HTTP_CONN_H
#define EP_HTTP_CONN_H

#include <http_parser.h>

#include "base/buf.h"
#include "http/http.h"

enum { EP_CONN_IDLE = 0, EP_CONN_READING, EP_CONN_HANDLING };

struct ep_http_server {
  uv_loop_t *loop;
  uv_tcp_t listener;
  uv_pipe_t ulistener;   /* Unix-domain listener when p.unix_path is set */
  ep_http_server_params p;
  char host[64];
  char unix_path[108];   /* sun_path size */
  int listeners;         /* listeners not yet closed (1 or 2) */
  char *spare_buf;       /* a free 64 KiB read buffer (server.c), or NULL */
  char name[32];
  int port;
  ep_http_handler handler;
  void *ctx;
  ep_http_conn *conns; /* doubly linked list of open connections */
  size_t nconns;         /* open connections, rejected ones included */
  size_t nrejected;      /* of which: over the limit, being answered 503 */
  size_t max_conns;      /* effective limit (params or derived from RLIMIT_NOFILE) */
  uint64_t rejected_total, accept_errors, last_limit_log_ms;
  size_t inflight;
  uint64_t req_counter;
  uint32_t req_prefix;
  int shutting_down, listener_closed;
  void (*done)(void *);
  void *done_ctx;
};

struct ep_http_conn {
  union { /* accepted from the TCP or the Unix listener */
    uv_tcp_t tcp;
    uv_pipe_t pipe;
    uv_stream_t stream;
    uv_handle_t handle;
  } io;
  uv_timer_t timer;
  ep_http_server *srv;
  http_parser parser;
  ep_buf pending;        /* bytes received, not yet parsed */
  ep_http_req *req;      /* request being parsed or handled */
  ep_buf url, hfield, hvalue, body;
  size_t header_bytes;
  int state;             /* EP_CONN_* */
  int err_status;        /* limit exceeded while parsing: 413/431 */
  int handles_open;      /* tcp + timer; freed when 0 and no request */
  unsigned last_was_value : 1, closing : 1, in_process : 1, keep_alive : 1, reading : 1,
      close_after : 1, rejected : 1;
  ep_http_conn *prev, *next;
};

/* server.c */
void ep__conn_close(ep_http_conn *c);
void ep__conn_close_graceful(ep_http_conn *c); /* after queued writes flush */
void ep__conn_request_done(ep_http_conn *c, ep_http_req *r);
/* limit.c */
size_t ep__http_derive_max_conns(void);
void ep__http_accept_error(ep_http_server *s, int uv_status);
/* Connection accepted over the limit: queues the 503 answer and half-closes;
 * the caller keeps reading (and discarding) until EOF or the timer. */
void ep__conn_reject(ep_http_conn *c);
/* response.c */
void ep__conn_write(ep_http_conn *c, const void *data, size_t len);
void ep__conn_send_simple(ep_http_conn *c, int status, const char *msg); /* error before dispatch, closes */
const char *ep__http_date(void);

#endif
