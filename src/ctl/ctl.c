/* Management plane entry: route table, dispatch with per-route request
 * counters, shared request helpers (auth, namespace checks, JSON bodies,
 * store errors) and the daemon's /health and /metrics. */
#include "ctl/ctl-impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/time.h"

static const ep_route k_routes[] = {
    {"GET", "/api/whoami-v2", ep__ctl_whoami},
    {"POST", "/v2/endpoint/{ns}", ep__ctl_ep_create},
    {"GET", "/v2/endpoint/{ns}", ep__ctl_ep_list},
    {"GET", "/v2/endpoint/{ns}/{name}", ep__ctl_ep_get},
    {"PUT", "/v2/endpoint/{ns}/{name}", ep__ctl_ep_update},
    {"DELETE", "/v2/endpoint/{ns}/{name}", ep__ctl_ep_delete},
    {"POST", "/v2/endpoint/{ns}/{name}/pause", ep__ctl_ep_pause},
    {"POST", "/v2/endpoint/{ns}/{name}/resume", ep__ctl_ep_resume},
    {"POST", "/v2/endpoint/{ns}/{name}/scale-to-zero", ep__ctl_ep_scale_to_zero},
    {"GET", "/v2/endpoint/{ns}/{name}/logs", ep__ctl_ep_logs},
    {"GET", "/v2/endpoint/{ns}/{name}/events", ep__ctl_ep_events},
    {"GET", "/v2/endpoint/{ns}/{name}/metrics", ep__ctl_ep_metrics},
    {"GET", "/v2/model", ep__ctl_model_list},
    {"DELETE", "/v2/model/{*repo}", ep__ctl_model_delete},
    {"GET", "/v2/provider", ep__ctl_provider},
    {"GET", "/v2/provider/{ns}", ep__ctl_provider},
    {"POST", "/v2/admin/users", ep__ctl_user_create},
    {"GET", "/v2/admin/users", ep__ctl_user_list},
    {"POST", "/v2/admin/orgs", ep__ctl_org_create},
    {"POST", "/v2/admin/orgs/{org}/members", ep__ctl_org_member},
    {"POST", "/v2/tokens", ep__ctl_token_create},
    {"GET", "/v2/tokens", ep__ctl_token_list},
    {"DELETE", "/v2/tokens/{id}", ep__ctl_token_revoke},
    {"GET", "/health", ep__ctl_health},
    {"GET", "/metrics", ep__ctl_metrics},
    {"GET", "/", ep__ctl_root},
    {"GET", "/web/{*path}", ep__ctl_web},
    {"*", "/endpoints/{ns}/{name}/{*rest}", ep__ctl_gateway},
};
#define NROUTES (sizeof k_routes / sizeof k_routes[0])

static const int k_codes[EP_CTL_NCODES] = {200, 201, 204, 400, 401, 403, 404, 405,
                                           409, 413, 422, 429, 500, 502, 503, 0};

static int code_index(int status) {
  for (int i = 0; i < EP_CTL_NCODES - 1; i++)
    if (k_codes[i] == status) return i;
  return EP_CTL_NCODES - 1; /* other */
}

int ep_ctl_init(const ep_ctl_params *p, ep_ctl **out) {
  _Static_assert(NROUTES <= EP_CTL_MAX_ROUTES, "route table too large");
  ep_ctl *c = calloc(1, sizeof *c);
  if (!c) return EP_ENOMEM;
  c->store = p->store;
  c->auth = p->auth;
  c->cat = p->catalog;
  if (c->cat.max_replicas <= 0) c->cat.max_replicas = 8;
  if (c->cat.ncores <= 0) c->cat.ncores = 1;
  c->public_url = p->public_url ? strdup(p->public_url) : NULL;
  if (c->public_url) {
    size_t n = strlen(c->public_url);
    while (n > 0 && c->public_url[n - 1] == '/') c->public_url[--n] = '\0';
  }
  c->web_dir = p->web_dir ? strdup(p->web_dir) : NULL;
  c->home = p->home ? strdup(p->home) : NULL;
  c->version = strdup(p->version ? p->version : "0");
  c->rcache = ep_render_cache_new();
  if (!c->rcache || !c->version) {
    ep_ctl_free(c);
    return EP_ENOMEM;
  }
  *out = c;
  return EP_OK;
}

void ep_ctl_free(ep_ctl *c) {
  if (!c) return;
  free(c->public_url);
  free(c->web_dir);
  free(c->home);
  free(c->version);
  ep_render_cache_free(c->rcache);
  free(c);
}

void ep_ctl_set_serving(ep_ctl *c, const ep_serving_hooks *h) {
  c->has_hooks = h != NULL;
  if (h)
    c->hooks = *h;
  else
    memset(&c->hooks, 0, sizeof c->hooks);
}

void ep__ctl_changed(ep_ctl *c, const char *ns, const char *name) {
  if (c->has_hooks && c->hooks.changed) c->hooks.changed(c->hooks.ctx, ns, name);
}

const char *ep_ctl_origin(ep_ctl *c, ep_http_req *req) {
  if (c->public_url) return c->public_url;
  const char *host = ep_http_req_header(req, "Host");
  if (!host || !*host || strpbrk(host, " /\\\"<>")) host = "127.0.0.1";
  size_t n = strlen(host) + 8;
  char *o = ep_arena_alloc(&req->arena, n);
  if (!o) return "http://127.0.0.1";
  snprintf(o, n, "http://%s", host);
  return o;
}

/* Data plane without the route table: "/endpoints/{ns}/{name}[/rest]" (path
 * already normalised by the server) straight to the serving hook, as the
 * "/endpoints/{ns}/{name}/{*rest}" route would, with sub = "/" + rest or "".
 * Returns 0 when the path does not have that shape (the table answers). */
static int gateway_fast(ep_ctl *c, ep_http_req *req) {
  const char *ns = req->path + 11; /* after "/endpoints/" */
  const char *ne = strchr(ns, '/');
  if (!ne || ne == ns || ne[1] == '\0' || ne[1] == '/') return 0;
  const char *name = ne + 1, *me = strchr(name, '/');
  size_t nl = me ? (size_t)(me - name) : strlen(name);
  char *ns_c = ep_arena_strndup(&req->arena, ns, (size_t)(ne - ns));
  char *name_c = ep_arena_strndup(&req->arena, name, nl);
  if (!ns_c || !name_c) return 0;
  req->user = NULL; /* counted by the serving hooks */
  c->hooks.gateway(c->hooks.ctx, req, ns_c, name_c, me ? me : "");
  return 1;
}

void ep_ctl_handle(ep_http_req *req, void *ctx) {
  ep_ctl *c = ctx;
  if (c->has_hooks && c->hooks.gateway && !strncmp(req->path, "/endpoints/", 11) &&
      gateway_fast(c, req))
    return;
  ep_route_params p;
  ep_route_fn fn;
  char allow[128];
  int rc = ep_route_match(k_routes, NROUTES, req, &p, &fn, allow, sizeof allow);
  size_t idx = NROUTES; /* unmatched */
  int status = 0;
  req->user = &status;
  if (rc == 0) {
    for (size_t i = 0; i < NROUTES; i++)
      if (k_routes[i].fn == fn && (!strcmp(k_routes[i].method, req->method) ||
                                   !strcmp(k_routes[i].method, "*") ||
                                   (!strcmp(req->method, "HEAD") &&
                                    !strcmp(k_routes[i].method, "GET")))) {
        idx = i;
        break;
      }
    /* data-plane requests handed to the serving hooks are counted there */
    if (fn == ep__ctl_gateway && c->has_hooks && c->hooks.gateway) req->user = NULL;
    fn(req, &p, c); /* req may be freed once answered: do not touch it after */
  } else if (rc == 405) {
    ep_http_add_header(req, "Allow", allow);
    ep_http_respond_error(req, 405, "method %s not allowed on %s", req->method, req->path);
  } else {
    ep_http_respond_error(req, 404, "no route for %s %s", req->method, req->path);
  }
  if (status) c->req_count[idx][code_index(status)]++;
}

/* ---- shared helpers ------------------------------------------------------------ */
#define BAD_CREDENTIALS "Invalid credentials in Authorization header"

int ep__ctl_auth(ep_ctl *c, ep_http_req *req, ep_principal *p) {
  int err = ep_auth_authenticate(c->auth, ep_http_req_bearer(req), ep_wall_ms(), p);
  if (err == EP_OK) return 0;
  if (err == EP_EUNAUTH)
    ep_http_respond_error(req, 401, BAD_CREDENTIALS);
  else
    ep__ctl_store_error(req, err);
  return -1;
}

int ep__ctl_ns(ep_ctl *c, ep_http_req *req, const ep_principal *p, const char *ns, int write) {
  int ok = ep_auth_ns_access(c->auth, p, ns);
  if (ok < 0) {
    ep__ctl_store_error(req, ok);
    return -1;
  }
  if (!ok) {
    ep_http_respond_error(req, 403, "you do not have access to namespace '%.64s'", ns);
    return -1;
  }
  if (write && !ep_auth_can_write(p)) {
    ep_http_respond_error(req, 403, "this token has role 'read'; a 'write' token is required");
    return -1;
  }
  return 0;
}

json_t *ep__ctl_body(ep_http_req *req, int allow_empty) {
  size_t i = 0;
  while (i < req->body_len && strchr(" \t\r\n", req->body[i])) i++;
  if (i == req->body_len) {
    if (allow_empty) return json_object();
    ep_http_respond_error(req, 400, "request body must be a JSON object");
    return NULL;
  }
  json_error_t e;
  json_t *j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &e);
  if (!j) {
    ep_http_respond_error(req, 400, "invalid JSON body: %s (line %d, column %d)", e.text, e.line,
                          e.column);
    return NULL;
  }
  if (!json_is_object(j)) {
    json_decref(j);
    ep_http_respond_error(req, 400, "request body must be a JSON object");
    return NULL;
  }
  return j;
}

/* Store failures name their cause: a full disk is 507 Insufficient Storage
 * (the write was not made; retry once space is freed), read-only storage and
 * a busy database are 503 with Retry-After, anything else 500. */
void ep__ctl_store_error(ep_http_req *req, int err) {
  if (err == EP_EBUSY) {
    ep_http_add_header(req, "Retry-After", "1");
    ep_http_respond_error(req, 503, "database busy, retry");
  } else if (err == EP_ENOSPACE) {
    ep_http_respond_error(req, 507, "database is full: no space left on device for the "
                                    "daemon's home; the change was not saved");
  } else if (err == EP_EREADONLY) {
    ep_http_add_header(req, "Retry-After", "30");
    ep_http_respond_error(req, 503, "database is read-only: the daemon's home cannot be "
                                    "written; the change was not saved");
  } else {
    ep_http_respond_error(req, 500, "internal error: %s", ep_strerror(err));
  }
}

json_t *ep__ctl_iso(int64_t ms) {
  if (!ms) return json_null();
  char b[40];
  ep_time_iso(ms, b, sizeof b);
  return json_string(b);
}

/* ---- daemon health and metrics ----------------------------------------------------- */
void ep__ctl_health(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_http_respond_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

static const char *const k_states[] = {"pending", "initializing", "updating", "updateFailed",
                                       "running", "paused", "failed", "scaledToZero"};

static int state_cb(void *ctx, const char *state, int64_t n) {
  int64_t *counts = ctx;
  for (int i = 0; i < 8; i++)
    if (!strcmp(state, k_states[i])) counts[i] = n;
  return 0;
}

void ep__ctl_metrics(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_ctl *c = ctx;
  ep_buf b = EP_BUF_INIT;
  ep_buf_puts(&b, "# HELP endpointd_http_requests_total Daemon HTTP requests by route and "
                  "status code.\n# TYPE endpointd_http_requests_total counter\n");
  for (size_t i = 0; i <= NROUTES; i++)
    for (int k = 0; k < EP_CTL_NCODES; k++) {
      uint64_t n = c->req_count[i][k];
      if (!n) continue;
      char code[8];
      if (k_codes[k])
        snprintf(code, sizeof code, "%d", k_codes[k]);
      else
        snprintf(code, sizeof code, "other");
      ep_buf_printf(&b, "endpointd_http_requests_total{method=\"%s\",route=\"%s\",code=\"%s\"} %llu\n",
                    i < NROUTES ? k_routes[i].method : "any",
                    i < NROUTES ? k_routes[i].pattern : "unmatched", code, (unsigned long long)n);
    }
  int64_t counts[8] = {0};
  ep_store_endpoint_count_by_state(c->store, state_cb, counts);
  ep_buf_puts(&b, "# HELP endpointd_endpoints Endpoints by state.\n"
                  "# TYPE endpointd_endpoints gauge\n");
  for (int i = 0; i < 8; i++)
    ep_buf_printf(&b, "endpointd_endpoints{state=\"%s\"} %lld\n", k_states[i],
                  (long long)counts[i]);
  if (c->has_hooks && c->hooks.metrics) c->hooks.metrics(c->hooks.ctx, NULL, NULL, &b);
  ep_http_respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", ep_buf_cstr(&b), b.len);
  ep_buf_free(&b);
}
