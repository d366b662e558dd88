/* libendpoint internals shared by the src/client files: the client struct, a small
 * growable buffer, the SSE parser, one HTTP request (curl easy handle plus
 * its response state) and the JSON body builders/parsers. Not installed;
 * functions here are exported only so tests/unit/client can reach them. */
#ifndef EP_CLIENT_IMPL_H
#define EP_CLIENT_IMPL_H

#include <curl/curl.h>
#include <jansson.h>
#include <stddef.h>

#include "endpointd/client.h"

#define EPC_VERSION "0.1.0"

struct ep_client {
  char *url;        /* origin, no trailing '/' */
  char *token;      /* NULL = none */
  char *user_agent;
  long timeout_ms, connect_timeout_ms;
  char *user_ns;    /* cached whoami name (namespace resolution) */
  int status;       /* last HTTP status, 0 = none */
  char msg[1024];   /* last error message */
};

/* ---- buffer (always NUL-terminated once non-empty) ---- */
typedef struct {
  char *data;
  size_t len, cap;
} epc_buf;
int epc_buf_add(epc_buf *b, const char *p, size_t n);
int epc_buf_puts(epc_buf *b, const char *s);
void epc_buf_free(epc_buf *b);
const char *epc_buf_str(const epc_buf *b); /* "" when empty */

/* ---- SSE parser (text/event-stream) ----
 * Feed bytes in any chunking; on_event(ud, data) runs once per event with
 * the event's data lines joined by '\n'. Comments (':'), `event:`, `id:`,
 * `retry:` lines are ignored; CRLF, LF and CR line ends are accepted. A
 * non-zero return from on_event stops parsing and is returned by feed. */
typedef struct {
  epc_buf line, data;
  int have_data;
  int last_cr; /* previous chunk ended in '\r' */
  int (*on_event)(void *ud, const char *data);
  void *ud;
} epc_sse;
void epc_sse_init(epc_sse *s, int (*on_event)(void *, const char *), void *ud);
int epc_sse_feed(epc_sse *s, const char *p, size_t n);
int epc_sse_finish(epc_sse *s); /* flush an event not followed by a blank line */
void epc_sse_free(epc_sse *s);

/* ---- one HTTP request ---- */
typedef enum {
  EPC_RAW = 0,   /* result = body */
  EPC_TGI,       /* result = generated_text of object or array[0] */
  EPC_CHAT,      /* result = choices[0].message.content */
  EPC_TGI_STREAM, /* SSE of TGI StreamResponse */
  EPC_CHAT_STREAM, /* SSE of chat.completion.chunk until [DONE] */
  EPC_TEXT_STREAM  /* 2xx body handed to cb chunk by chunk (log follow) */
} epc_kind;

typedef struct epc_req {
  ep_client *c;
  CURL *easy;
  struct curl_slist *hdrs;
  char *body;        /* request body (owned) */
  epc_kind kind;
  epc_buf resp;      /* non-SSE response body */
  char *hdr_msg;     /* X-Error-Message */
  int mode;          /* 0 undecided, 1 body, 2 sse */
  epc_sse sse;
  ep_token_cb cb;
  void *ud;
  epc_buf text;      /* streamed text accumulated */
  char *final_text;  /* TGI stream final generated_text */
  char *stream_err;  /* error event message */
  int canceled, done_seen;
  long status;
  char curl_err[CURL_ERROR_SIZE];
  /* async */
  ep_done_cb done;
  void *done_ud;
  struct epc_req *next;
} epc_req;

/* Set up a request: method "GET"/"POST"/"PUT"/"DELETE"; body JSON text
 * (copied) or NULL. Returns 0 or an error code (request left freeable). */
int epc_req_init(epc_req *r, ep_client *c, const char *method, const char *url, const char *body,
                 epc_kind kind);
/* Turn a finished transfer into an error code; records status/message on the
 * client. For OK results, *result (may be NULL) gets the kind's text. */
int epc_req_finish(epc_req *r, CURLcode cc, char **result);
int epc_req_perform(epc_req *r, char **result); /* blocking: perform + finish */
void epc_req_free(epc_req *r);

/* Record an error on the client (status 0 = transport/local). Returns err. */
int epc_set_error(ep_client *c, int err, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Map an HTTP status to an error code (2xx -> 0). */
int epc_status_err(long status);
/* Server message from a JSON or text error body (malloc'd; NULL if none). */
char *epc_error_message(const char *body);

/* ---- URLs and bodies ---- */
/* Append a path segment, percent-encoding everything but [A-Za-z0-9._~-]. */
int epc_url_segment(epc_buf *b, const char *seg);
/* {origin}/v2/endpoint/{ns}[/{name}[/{action}]] (malloc'd). */
char *epc_mgmt_url(const char *origin, const char *ns, const char *name, const char *action);
/* huggingface_hub's chat URL rule (malloc'd). */
char *epc_chat_url(const char *base);
/* Probe URL: url.rstrip('/') + '/' + route.lstrip('/') (malloc'd). */
char *epc_health_url(const char *url, const char *route);

json_t *epc_create_body(const ep_endpoint_create_params *p);
json_t *epc_update_body(const ep_endpoint_update_params *p);
json_t *epc_gen_body(const char *prompt, const ep_gen_params *p, int stream);
json_t *epc_chat_body(const ep_chat_message *msgs, size_t n, const ep_gen_params *p, int stream);
/* "K=V" list -> object; NULL on a malformed item. */
json_t *epc_kv_object(const char *const *kv);

/* Fill e from a JSON endpoint object (replaces its fields). */
int epc_endpoint_from_json(ep_endpoint *e, json_t *j, const char *ns);
void epc_endpoint_clear(ep_endpoint *e);

/* Parse helpers for responses. */
int epc_parse_tgi(const char *body, char **out);
int epc_parse_chat(const char *body, char **out);
/* Handle one SSE data payload for a streaming request (callback of epc_sse). */
int epc_stream_event(void *req, const char *data);

/* JSON to malloc'd compact text. */
char *epc_json_text(json_t *j);
/* Namespace: ns if non-NULL else whoami name (cached). */
int epc_resolve_ns(ep_client *c, const char *ns, const char **out);

#endif
