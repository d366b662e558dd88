/* libendpoint: the client object (origin, token, timeouts, last error),
 * defaults from the environment and token files, error strings, and the
 * small buffer the other files use. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client-impl.h"

const char *ep_client_strerror(int err) {
  switch (err) {
    case EP_CLIENT_OK: return "ok";
#define EP_CLIENT__STR(name, val, msg) \
  case val: return msg;
    EP_CLIENT_ERRNO_MAP(EP_CLIENT__STR)
#undef EP_CLIENT__STR
  }
  return "unknown error";
}

/* ---- buffer ---- */
int epc_buf_add(epc_buf *b, const char *p, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) return EP_CLIENT_ENOMEM;
    b->data = d;
    b->cap = cap;
  }
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}
int epc_buf_puts(epc_buf *b, const char *s) { return epc_buf_add(b, s, strlen(s)); }
void epc_buf_free(epc_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}
const char *epc_buf_str(const epc_buf *b) { return b->data ? b->data : ""; }

/* ---- defaults ---- */

static const char *env_nonempty(const char *name) {
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

/* First line of a file, trimmed; NULL if unreadable or empty. */
static char *read_token_file(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  char line[4096];
  char *r = fgets(line, sizeof line, f) ? line : NULL;
  fclose(f);
  if (!r) return NULL;
  size_t n = strlen(line);
  while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ')) line[--n] = 0;
  char *s = line;
  while (*s == ' ' || *s == '\t') s++;
  return *s ? strdup(s) : NULL;
}

static char *default_token(void) {
  const char *t = env_nonempty("ENDPOINTD_TOKEN");
  if (!t) t = env_nonempty("HF_TOKEN");
  if (t) return strdup(t);
  char path[4096];
  const char *home = env_nonempty("ENDPOINTD_HOME");
  if (home) {
    snprintf(path, sizeof path, "%s/admin.token", home);
    char *s = read_token_file(path);
    if (s) return s;
  }
  const char *h = env_nonempty("HOME");
  if (h) {
    snprintf(path, sizeof path, "%s/.config/endpointd/token", h);
    return read_token_file(path);
  }
  return NULL;
}

ep_client_params ep_client_default_params(void) {
  ep_client_params p;
  memset(&p, 0, sizeof p);
  p.connect_timeout_ms = 10000;
  return p;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

int ep_client_init(ep_client **out, const ep_client_params *params) {
  if (!out) return EP_CLIENT_EINVAL;
  *out = NULL;
  ep_client_params p = params ? *params : ep_client_default_params();
  pthread_once(&curl_once, curl_init_once);
  ep_client *c = calloc(1, sizeof *c);
  if (!c) return EP_CLIENT_ENOMEM;
  const char *url = p.url && *p.url ? p.url : env_nonempty("ENDPOINTD_URL");
  if (!url) url = env_nonempty("HF_ENDPOINT");
  if (!url) url = "http://127.0.0.1:8080";
  c->url = strdup(url);
  if (p.token) c->token = *p.token ? strdup(p.token) : NULL;
  else c->token = default_token();
  c->user_agent = strdup(p.user_agent ? p.user_agent : "libendpoint/" EPC_VERSION);
  c->timeout_ms = p.timeout_ms > 0 ? p.timeout_ms : 0;
  c->connect_timeout_ms = p.connect_timeout_ms > 0 ? p.connect_timeout_ms : 10000;
  if (!c->url || !c->user_agent || (p.token && *p.token && !c->token)) {
    ep_client_free(c);
    return EP_CLIENT_ENOMEM;
  }
  size_t n = strlen(c->url);
  while (n > 0 && c->url[n - 1] == '/') c->url[--n] = 0;
  if (strncmp(c->url, "http://", 7) && strncmp(c->url, "https://", 8)) {
    ep_client_free(c);
    return EP_CLIENT_EINVAL;
  }
  *out = c;
  return 0;
}

void ep_client_free(ep_client *c) {
  if (!c) return;
  free(c->url);
  free(c->token);
  free(c->user_agent);
  free(c->user_ns);
  free(c);
}

const char *ep_client_url(const ep_client *c) { return c->url; }
const char *ep_client_token(const ep_client *c) { return c->token; }
int ep_client_http_status(const ep_client *c) { return c->status; }
const char *ep_client_message(const ep_client *c) { return c->msg; }

int epc_set_error(ep_client *c, int err, int status, const char *fmt, ...) {
  c->status = status;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->msg, sizeof c->msg, fmt, ap);
  va_end(ap);
  return err;
}

int epc_status_err(long status) {
  if (status >= 200 && status < 300) return 0;
  switch (status) {
    case 400: return EP_CLIENT_EBADREQ;
    case 401: return EP_CLIENT_EUNAUTH;
    case 403: return EP_CLIENT_EFORBIDDEN;
    case 404: return EP_CLIENT_ENOTFOUND;
    case 409: return EP_CLIENT_ECONFLICT;
    case 503: return EP_CLIENT_EUNAVAILABLE;
    default: return EP_CLIENT_EHTTP;
  }
}

/* {"error": "m"}, {"error": ["a","b"]}, {"error": {"message": "m"}},
 * {"errors": [{"message": ...}]}, {"message": "m"}, or short plain text. */
char *epc_error_message(const char *body) {
  if (!body || !*body) return NULL;
  json_error_t je;
  json_t *j = json_loads(body, JSON_DECODE_ANY, &je);
  char *out = NULL;
  if (j && json_is_object(j)) {
    json_t *e = json_object_get(j, "error");
    if (json_is_string(e)) out = strdup(json_string_value(e));
    else if (json_is_object(e) && json_is_string(json_object_get(e, "message")))
      out = strdup(json_string_value(json_object_get(e, "message")));
    else if (json_is_array(e)) {
      epc_buf b = {0};
      size_t i;
      json_t *v;
      json_array_foreach(e, i, v) {
        if (!json_is_string(v)) continue;
        if (b.len) epc_buf_puts(&b, "; ");
        epc_buf_puts(&b, json_string_value(v));
      }
      out = b.data;
    } else if (json_is_array(json_object_get(j, "errors"))) {
      json_t *first = json_array_get(json_object_get(j, "errors"), 0);
      json_t *m = json_object_get(first, "message");
      if (json_is_string(m)) out = strdup(json_string_value(m));
    } else if (json_is_string(json_object_get(j, "message"))) {
      out = strdup(json_string_value(json_object_get(j, "message")));
    }
  } else if (!j && body[0] != '<') {
    size_t n = strlen(body);
    if (n > 300) n = 300;
    out = strndup(body, n);
    while (out && n && (out[n - 1] == '\n' || out[n - 1] == '\r')) out[--n] = 0;
  }
  json_decref(j);
  return out;
}

char *epc_json_text(json_t *j) { return j ? json_dumps(j, JSON_COMPACT) : NULL; }
