/* The management plane of the daemon: one HTTP handler for the whole origin
 * (whoami, /v2 endpoint/provider/admin/token routes, /health, /metrics, the
 * dashboard, and the /endpoints/... data plane handed to the serving hooks).
 *
 * Ownership: ep_ctl borrows the store and auth handles (they outlive it) and
 * copies the strings of its params. Loop thread only. */
#ifndef EP_CTL_CTL_H
#define EP_CTL_CTL_H

#include "auth/auth.h"
#include "ctl/serving.h"
#include "ctl/spec.h"
#include "http/http.h"
#include "store/store.h"

typedef struct ep_ctl ep_ctl;

typedef struct {
  ep_store *store;
  ep_auth *auth;
  ep_catalog catalog;
  const char *public_url; /* origin for status.url; NULL = from the Host header */
  const char *web_dir;    /* dashboard files; NULL or missing = JSON at "/" */
  const char *version;
  const char *home;       /* daemon home: model store <home>/models (create-time checks) */
} ep_ctl_params;

int ep_ctl_init(const ep_ctl_params *p, ep_ctl **out);
void ep_ctl_free(ep_ctl *c);
/* Installs (copies) the serving hooks; NULL removes them. */
void ep_ctl_set_serving(ep_ctl *c, const ep_serving_hooks *h);
/* ep_http_handler for ep_http_server_start (ctx = the ep_ctl). */
void ep_ctl_handle(ep_http_req *req, void *ctx);
/* Origin ("http://host:port") as seen by this request. Arena string. */
const char *ep_ctl_origin(ep_ctl *c, ep_http_req *req);

#endif
