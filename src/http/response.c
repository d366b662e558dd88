/* Writing responses (complete, chunked, SSE), request accessors (headers,
 * query, bearer token), status texts and the access log line. */
#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/log.h"
#include "base/time.h"
#include "http/conn.h"
#include "http/put.h"

typedef struct {
  uv_write_t w;
  char data[];
} write_req;

static void on_write(uv_write_t *w, int status) {
  (void)status;
  free(w);
}

/* Writes bufs in order: straight to the socket when it takes them (no copy,
 * no queued request, no extra loop pass), and whatever it did not take copied
 * into one queued uv_write. uv_try_write refuses while earlier writes are
 * still queued, so order is kept. */
static void conn_writev(ep_http_conn *c, uv_buf_t *bufs, unsigned n) {
  if (c->closing) return;
  size_t total = 0;
  for (unsigned i = 0; i < n; i++) total += bufs[i].len;
  if (total == 0) return;
  int w = uv_try_write(&c->io.stream, bufs, n);
  if (w < 0 && w != UV_EAGAIN) return; /* broken connection: the read side closes it */
  size_t done = w > 0 ? (size_t)w : 0;
  if (done == total) return;
  write_req *wr = malloc(sizeof *wr + (total - done));
  if (!wr) return;
  size_t off = 0, skip = done;
  for (unsigned i = 0; i < n; i++) {
    size_t len = bufs[i].len;
    if (skip >= len) {
      skip -= len;
      continue;
    }
    memcpy(wr->data + off, bufs[i].base + skip, len - skip);
    off += len - skip;
    skip = 0;
  }
  uv_buf_t b = uv_buf_init(wr->data, (unsigned)off);
  if (uv_write(&wr->w, &c->io.stream, &b, 1, on_write) != 0) free(wr);
}

void ep__conn_write(ep_http_conn *c, const void *data, size_t len) {
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  conn_writev(c, &b, 1);
}

const char *ep__http_date(void) {
  static char buf[64];
  static time_t last;
  time_t now = time(NULL);
  if (now != last) {
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    last = now;
  }
  return buf;
}

const char *ep_http_status_text(int status) {
  switch (status) {
  case 100: return "Continue";
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 204: return "No Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 304: return "Not Modified";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 413: return "Payload Too Large";
  case 415: return "Unsupported Media Type";
  case 422: return "Unprocessable Entity";
  case 424: return "Failed Dependency";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 507: return "Insufficient Storage";
  default: return "Unknown";
  }
}

/* ---- accessors --------------------------------------------------------- */

const char *ep_http_req_header(const ep_http_req *r, const char *name) {
  for (size_t i = 0; i < r->nheaders; i++)
    if (strcasecmp(r->headers[i].name, name) == 0) return r->headers[i].value;
  return NULL;
}

static int hexval(int ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

const char *ep_http_req_query(ep_http_req *r, const char *key) {
  size_t klen = strlen(key);
  const char *q = r->query;
  while (q && *q) {
    const char *end = strchr(q, '&');
    size_t n = end ? (size_t)(end - q) : strlen(q);
    if (n >= klen && strncmp(q, key, klen) == 0 && (n == klen || q[klen] == '=')) {
      const char *v = n == klen ? q + n : q + klen + 1;
      size_t vn = n == klen ? 0 : n - klen - 1;
      char *out = ep_arena_alloc(&r->arena, vn + 1);
      size_t j = 0;
      for (size_t i = 0; i < vn; i++) {
        if (v[i] == '+') out[j++] = ' ';
        else if (v[i] == '%' && i + 2 < vn && hexval(v[i + 1]) >= 0 && hexval(v[i + 2]) >= 0) {
          out[j++] = (char)(hexval(v[i + 1]) * 16 + hexval(v[i + 2]));
          i += 2;
        } else out[j++] = v[i];
      }
      out[j] = '\0';
      return out;
    }
    q = end ? end + 1 : NULL;
  }
  return NULL;
}

const char *ep_http_req_bearer(const ep_http_req *r) {
  const char *a = ep_http_req_header(r, "authorization");
  if (!a) return NULL;
  while (*a == ' ') a++;
  if (strncasecmp(a, "bearer", 6) != 0 || (a[6] != ' ' && a[6] != '\t')) return NULL;
  a += 6;
  while (*a == ' ' || *a == '\t') a++;
  return *a ? a : NULL;
}

void ep_http_req_on_abort(ep_http_req *r, void (*cb)(ep_http_req *, void *), void *data) {
  r->on_abort = cb;
  r->abort_data = data;
}

size_t ep_http_req_write_queue(const ep_http_req *r) {
  if (r->aborted || r->conn->closing) return 0;
  return r->conn->io.stream.write_queue_size;
}

/* ---- response ---------------------------------------------------------- */

void ep_http_add_header(ep_http_req *r, const char *name, const char *value) {
  if (r->head_sent) return;
  if (r->nresp_headers == r->cap_resp_headers) {
    size_t cap = r->cap_resp_headers ? r->cap_resp_headers * 2 : 8;
    ep_http_header *n = realloc(r->resp_headers, cap * sizeof *n);
    if (!n) return;
    r->resp_headers = n;
    r->cap_resp_headers = cap;
  }
  r->resp_headers[r->nresp_headers].name = ep_arena_strdup(&r->arena, name);
  r->resp_headers[r->nresp_headers].value = ep_arena_strdup(&r->arena, value);
  r->nresp_headers++;
}

/* Builds the response head in the request arena (no printf: it is on every
 * request's path). Returns its length; *out NULL on OOM. */
static size_t build_head(ep_http_req *r, int status, const char *ctype, long long content_length,
                         char **out) {
  int keep = r->conn->keep_alive && !r->conn->srv->shutting_down;
  const char *text = ep_http_status_text(status), *date = ep__http_date();
  size_t ltext = strlen(text), ldate = strlen(date), lid = strlen(r->request_id);
  size_t lct = ctype ? strlen(ctype) : 0;
  size_t cap = 9 + 4 + ltext + 2 + 6 + ldate + 2 + 14 + lid + 2 + (ctype ? 14 + lct + 2 : 0) +
               48 /* Content-Length or Transfer-Encoding */ + 28 /* Connection + CRLF */;
  for (size_t i = 0; i < r->nresp_headers; i++)
    cap += strlen(r->resp_headers[i].name) + strlen(r->resp_headers[i].value) + 4;
  char *h = ep_arena_alloc(&r->arena, cap), *p = h;
  *out = h;
  if (!h) return 0;
  p = EP_PUT_LIT(p, "HTTP/1.1 ");
  unsigned st = status >= 100 && status <= 999 ? (unsigned)status : 500;
  *p++ = (char)('0' + st / 100);
  *p++ = (char)('0' + st / 10 % 10);
  *p++ = (char)('0' + st % 10);
  *p++ = ' ';
  p = ep__put(p, text, ltext);
  p = EP_PUT_LIT(p, "\r\nDate: ");
  p = ep__put(p, date, ldate);
  p = EP_PUT_LIT(p, "\r\nX-Request-Id: ");
  p = ep__put(p, r->request_id, lid);
  p = EP_PUT_LIT(p, "\r\n");
  if (ctype) {
    p = EP_PUT_LIT(p, "Content-Type: ");
    p = ep__put(p, ctype, lct);
    p = EP_PUT_LIT(p, "\r\n");
  }
  for (size_t i = 0; i < r->nresp_headers; i++) {
    p = ep__put(p, r->resp_headers[i].name, strlen(r->resp_headers[i].name));
    p = EP_PUT_LIT(p, ": ");
    p = ep__put(p, r->resp_headers[i].value, strlen(r->resp_headers[i].value));
    p = EP_PUT_LIT(p, "\r\n");
  }
  if (content_length >= 0) {
    p = EP_PUT_LIT(p, "Content-Length: ");
    p = ep__put_u64(p, (unsigned long long)content_length);
    p = EP_PUT_LIT(p, "\r\n");
  } else {
    p = EP_PUT_LIT(p, "Transfer-Encoding: chunked\r\n");
  }
  if (keep) p = EP_PUT_LIT(p, "Connection: keep-alive\r\n\r\n");
  else p = EP_PUT_LIT(p, "Connection: close\r\n\r\n");
  return (size_t)(p - h);
}

/* Sends the head, and the body with it in one writev when given. */
static void send_head(ep_http_req *r, int status, const char *ctype, long long content_length,
                      const void *body, size_t body_len) {
  char *h;
  size_t n = build_head(r, status, ctype, content_length, &h);
  uv_buf_t b[2] = {uv_buf_init(h, (unsigned)n), uv_buf_init((char *)body, (unsigned)body_len)};
  if (h) conn_writev(r->conn, b, body_len ? 2 : 1);
  r->status = status;
  r->head_sent = 1;
}

static void access_log(ep_http_req *r) {
  ep_http_server *s = r->conn->srv;
  if (!s->p.access_log || r->no_log) return;
  uint64_t us = (ep_mono_ns() - r->start_ns) / 1000;
  ep_log_info("request", "srv=%s id=%s method=%s path=\"%s\" status=%d bytes=%llu dur_us=%llu%s%s%s",
              s->name, r->request_id, r->method, r->path, r->status,
              (unsigned long long)r->bytes_out, (unsigned long long)us, r->aborted ? " aborted=1" : "",
              r->log_tag ? " " : "", r->log_tag ? r->log_tag : "");
}

static void finish(ep_http_req *r) {
  r->finished = 1;
  access_log(r);
  ep__conn_request_done(r->conn, r);
}

void ep_http_respond(ep_http_req *r, int status, const char *content_type, const void *body,
                     size_t len) {
  if (r->finished) return;
  if (!r->aborted && !r->head_sent) {
    int head_only = r->method[0] == 'H' && !strcmp(r->method, "HEAD");
    send_head(r, status, content_type, (long long)len, body, head_only ? 0 : len);
    r->bytes_out = len;
  } else if (!r->aborted && r->streaming) {
    ep__conn_write(r->conn, "0\r\n\r\n", 5);
  }
  finish(r);
}

void ep_http_respond_json(ep_http_req *r, int status, json_t *json) {
  char *s = json ? json_dumps(json, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
  if (json) json_decref(json);
  if (!s) {
    ep_http_respond(r, 500, "application/json", "{\"error\":\"internal error\"}", 26);
    return;
  }
  ep_http_respond(r, status, "application/json", s, strlen(s));
  free(s);
}

void ep_http_respond_error(ep_http_req *r, int status, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* header values may not contain CR/LF */
  char hdr[1024];
  size_t j = 0;
  for (size_t i = 0; msg[i] && j < sizeof hdr - 1; i++)
    hdr[j++] = (msg[i] == '\r' || msg[i] == '\n') ? ' ' : msg[i];
  hdr[j] = '\0';
  ep_http_add_header(r, "X-Error-Message", hdr);
  if (status == 429 || status == 503) {
    int has = 0;
    for (size_t i = 0; i < r->nresp_headers; i++)
      if (strcasecmp(r->resp_headers[i].name, "Retry-After") == 0) has = 1;
    if (!has) ep_http_add_header(r, "Retry-After", "1");
  }
  ep_http_respond_json(r, status, json_pack("{s:s}", "error", msg));
}

void ep_http_stream_begin(ep_http_req *r, int status, const char *content_type) {
  if (r->finished || r->head_sent) return;
  r->streaming = 1;
  if (content_type && strncmp(content_type, "text/event-stream", 17) == 0) {
    ep_http_add_header(r, "Cache-Control", "no-cache");
    ep_http_add_header(r, "X-Accel-Buffering", "no");
  }
  if (!r->aborted) send_head(r, status, content_type, -1, NULL, 0);
  else r->status = status, r->head_sent = 1;
}

void ep_http_stream_write(ep_http_req *r, const void *data, size_t len) {
  if (r->finished || r->aborted || !r->streaming || len == 0) return;
  char pre[24];
  int n = snprintf(pre, sizeof pre, "%zx\r\n", len);
  /* one writev per chunk: prefix + data + CRLF */
  uv_buf_t b[3] = {uv_buf_init(pre, (unsigned)n), uv_buf_init((char *)data, (unsigned)len),
                   uv_buf_init((char *)"\r\n", 2)};
  conn_writev(r->conn, b, 3);
  r->bytes_out += len;
}

void ep_http_sse_data(ep_http_req *r, const char *text) {
  size_t n = strlen(text);
  char *tmp = malloc(n + 8);
  if (!tmp) return;
  memcpy(tmp, "data: ", 6);
  memcpy(tmp + 6, text, n);
  memcpy(tmp + 6 + n, "\n\n", 2);
  ep_http_stream_write(r, tmp, n + 8);
  free(tmp);
}

void ep_http_stream_end(ep_http_req *r) {
  if (r->finished) return;
  if (!r->head_sent) {
    ep_http_respond(r, 200, NULL, "", 0);
    return;
  }
  if (!r->aborted && r->streaming) ep__conn_write(r->conn, "0\r\n\r\n", 5);
  finish(r);
}

/* Error before a request reached a handler (limits, parse errors): answer and
 * close the connection. */
void ep__conn_send_simple(ep_http_conn *c, int status, const char *msg) {
  ep_buf b = EP_BUF_INIT;
  char body[256];
  int n = snprintf(body, sizeof body, "{\"error\":\"%s\"}", msg);
  ep_buf_printf(&b,
                "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: application/json\r\n"
                "X-Error-Message: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
                status, ep_http_status_text(status), ep__http_date(), msg, n, body);
  ep__conn_write(c, b.data, b.len);
  ep_buf_free(&b);
  ep_log_info("request rejected", "srv=%s status=%d reason=\"%s\"", c->srv->name, status, msg);
  c->keep_alive = 0;
  ep_buf_reset(&c->pending);
  ep__conn_close_graceful(c);
}
