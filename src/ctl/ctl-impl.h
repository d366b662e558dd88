/* Private to src/ctl/: the ep_ctl struct, shared request helpers and the
 * handler functions of each route family. */
#ifndef EP_CTL_IMPL_H
#define EP_CTL_IMPL_H

#include <jansson.h>
#include <stdint.h>

#include "ctl/ctl.h"
#include "ctl/render_cache.h"
#include "http/router.h"

#define EP_CTL_MAX_ROUTES 40
#define EP_CTL_NCODES 16

struct ep_ctl {
  ep_store *store;
  ep_auth *auth;
  ep_catalog cat;
  char *public_url, *web_dir, *version, *home;
  ep_serving_hooks hooks;
  int has_hooks;
  ep_render_cache *rcache; /* list responses */
  /* requests by route index (last row: unmatched) and status class */
  uint64_t req_count[EP_CTL_MAX_ROUTES + 1][EP_CTL_NCODES];
};

/* Authenticates the request. On failure answers 401 and returns -1. */
int ep__ctl_auth(ep_ctl *c, ep_http_req *req, ep_principal *p);
/* Namespace access (+ write role when write=1); answers 403 and returns -1. */
int ep__ctl_ns(ep_ctl *c, ep_http_req *req, const ep_principal *p, const char *ns, int write);
/* Parses the body as a JSON object; answers 400 and returns NULL. An empty
 * body gives {} when allow_empty. */
json_t *ep__ctl_body(ep_http_req *req, int allow_empty);
void ep__ctl_store_error(ep_http_req *req, int err);
json_t *ep__ctl_iso(int64_t ms); /* string or null for 0 */

void ep__ctl_changed(ep_ctl *c, const char *ns, const char *name);
/* Loads endpoint {ns}/{name} of the route after auth + namespace checks (write
 * role when write=1); answers 401/403/404/5xx itself and returns -1 then. */
int ep__ctl_load(ep_ctl *c, ep_http_req *r, const ep_route_params *p, int write,
                 ep_principal *who, ep_endpoint_row *row);

/* Status capture for the request counters: the http layer frees a request as
 * soon as it is answered, so ctl's responses note their status first into the
 * int that ep_ctl_handle points req->user at (NULL for data-plane requests
 * handed to the serving hooks, which count their own). */
static inline void ep__ctl_note(ep_http_req *r, int status) {
  if (r->user) *(int *)r->user = status;
}
#define ep_http_respond_error(r, st, ...) \
  (ep__ctl_note((r), (st)), ep_http_respond_error((r), (st), __VA_ARGS__))
#define ep_http_respond_json(r, st, j) (ep__ctl_note((r), (st)), ep_http_respond_json((r), (st), (j)))
#define ep_http_respond(r, st, ct, b, n) \
  (ep__ctl_note((r), (st)), ep_http_respond((r), (st), (ct), (b), (n)))

/* route handlers */
void ep__ctl_ep_create(ep_http_req *r, const ep_route_params *p, void *ctx);
void ep__ctl_ep_list(ep_http_req *r, const ep_route_params *p, void *ctx);
void ep__ctl_ep_get(ep_http_req *r, const ep_route_params *p, void *ctx);
void ep__ctl_ep_update(ep_http_req *r, const ep_route_params *p, void *ctx);
void ep__ctl_ep_delete(ep_http_req *r, const ep_route_params *p, void *ctx);
void ep__ctl_ep_pause(ep_http_req *r, const ep_route_params *p, void *ctx);
void ep__ctl_ep_resume(ep_http_req *r, const ep_route_params *p, void *ctx);
void ep__ctl_ep_scale_to_zero(ep_http_req *r, const ep_route_params *p, void *ctx);
void ep__ctl_ep_logs(ep_http_req *r, const ep_route_params *p, void *ctx);
void ep__ctl_ep_events(ep_http_req *r, const ep_route_params *p, void *ctx);
void ep__ctl_ep_metrics(ep_http_req *r, const ep_route_params *p, void *ctx);
void ep__ctl_model_list(ep_http_req *r, const ep_route_params *p, void *ctx);
void ep__ctl_model_delete(ep_http_req *r, const ep_route_params *p, void *ctx);
void ep__ctl_gateway(ep_http_req *r, const ep_route_params *p, void *ctx);

void ep__ctl_whoami(ep_http_req *r, const ep_route_params *p, void *ctx);
void ep__ctl_provider(ep_http_req *r, const ep_route_params *p, void *ctx);
void ep__ctl_user_create(ep_http_req *r, const ep_route_params *p, void *ctx);
void ep__ctl_user_list(ep_http_req *r, const ep_route_params *p, void *ctx);
void ep__ctl_org_create(ep_http_req *r, const ep_route_params *p, void *ctx);
void ep__ctl_org_member(ep_http_req *r, const ep_route_params *p, void *ctx);
void ep__ctl_token_create(ep_http_req *r, const ep_route_params *p, void *ctx);
void ep__ctl_token_list(ep_http_req *r, const ep_route_params *p, void *ctx);
void ep__ctl_token_revoke(ep_http_req *r, const ep_route_params *p, void *ctx);

void ep__ctl_health(ep_http_req *r, const ep_route_params *p, void *ctx);
void ep__ctl_metrics(ep_http_req *r, const ep_route_params *p, void *ctx);
void ep__ctl_root(ep_http_req *r, const ep_route_params *p, void *ctx);
void ep__ctl_web(ep_http_req *r, const ep_route_params *p, void *ctx);

#endif
