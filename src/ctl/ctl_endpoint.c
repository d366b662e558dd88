/* /v2/endpoint handlers: create, list, get, update (deep merge), delete,
 * pause, resume, scale-to-zero; plus the data-plane stub used while no
 * serving hooks are installed. Handlers write desired state only (one
 * transaction each) and then notify the serving hooks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/time.h"
#include "ctl/ctl-impl.h"
#include "hub/hub.h"

int ep__ctl_load(ep_ctl *c, ep_http_req *r, const ep_route_params *p, int write,
                 ep_principal *who, ep_endpoint_row *row) {
  const char *ns = ep_route_param(p, "ns"), *name = ep_route_param(p, "name");
  memset(row, 0, sizeof *row);
  if (ep__ctl_auth(c, r, who) || ep__ctl_ns(c, r, who, ns, write)) return -1;
  int err = ep_store_endpoint_get(c->store, ns, name, row);
  if (err == EP_ENOTFOUND) {
    ep_http_respond_error(r, 404, "endpoint '%.64s' not found in namespace '%.64s'", name, ns);
    return -1;
  }
  if (err) {
    ep__ctl_store_error(r, err);
    return -1;
  }
  return 0;
}

static void respond_row(ep_ctl *c, ep_http_req *r, int status, const ep_endpoint_row *row) {
  ep_http_respond_json(r, status, ep_spec_render(row, NULL, ep_ctl_origin(c, r)));
}

static char *dump(json_t *j) { return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS); }

static void set_str(char **dst, const char *v) {
  free(*dst);
  *dst = v ? strdup(v) : NULL;
}

/* A custom image url "cmd:<command>" runs a shell command on the host as the
 * daemon's user: only administrators may set or change one (403). */
static const char *cmd_url(json_t *spec) {
  json_t *custom = json_object_get(
      json_object_get(json_object_get(json_object_get(spec, "model"), "image"), "custom"), "url");
  const char *u = json_string_value(custom);
  return u && !strncmp(u, "cmd:", 4) ? u : NULL;
}

static int check_cmd_allowed(ep_http_req *r, const ep_principal *who, json_t *old, json_t *spec) {
  const char *u = cmd_url(spec), *was = old ? cmd_url(old) : NULL;
  if (!u || who->user.is_admin || (was && !strcmp(was, u))) return 0;
  ep_http_respond_error(r, 403, "only administrators may use a 'cmd:' custom image url");
  return -1;
}

/* What can be known about the model without downloading it (huggingface
 * images only): a folder on disk must fit the task; a Hub id that is not
 * cached cannot be fetched while HF_HUB_OFFLINE is set. Answers 422. */
static int check_model(ep_ctl *c, ep_http_req *r, json_t *spec) {
  json_t *model = json_object_get(spec, "model");
  if (json_is_object(json_object_get(json_object_get(model, "image"), "custom"))) return 0;
  const char *repo = json_string_value(json_object_get(model, "repository"));
  const char *rev = json_string_value(json_object_get(model, "revision"));
  const char *task = json_string_value(json_object_get(model, "task"));
  if (!repo) return 0;
  ep_hub_params hp = ep_hub_default_params();
  hp.home = c->home;
  char dir[4096], err[1024];
  int rc = ep_hub_resolve_local(&hp, repo, rev, dir, sizeof dir);
  if (rc == EP_OK) {
    if (ep_hub_check_folder(dir, task, err, sizeof err) == EP_OK) return 0;
    ep_http_respond_error(r, 422, "%s", err);
    return -1;
  }
  if (rc == EP_EINVAL) {
    ep_http_respond_error(r, 422, "repository '%.200s' is neither a local folder nor a valid Hub id",
                          repo);
    return -1;
  }
  const char *off = getenv("HF_HUB_OFFLINE");
  if (off && (!strcmp(off, "1") || !strcasecmp(off, "true"))) {
    ep_http_respond_error(r, 422,
                          "model '%.200s' is not on this machine and HF_HUB_OFFLINE is set", repo);
    return -1;
  }
  return 0;
}

void ep__ctl_ep_create(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_ctl *c = ctx;
  const char *ns = ep_route_param(p, "ns");
  ep_principal who;
  if (ep__ctl_auth(c, r, &who) || ep__ctl_ns(c, r, &who, ns, 1)) return;
  ep_user u;
  ep_org o;
  if (ep_store_user_get_by_name(c->store, ns, &u) && ep_store_org_get_by_name(c->store, ns, &o)) {
    ep_http_respond_error(r, 404, "namespace '%.64s' not found", ns);
    return;
  }
  json_t *body = ep__ctl_body(r, 0);
  if (!body) return;
  ep_endpoint_row row;
  memset(&row, 0, sizeof row);
  ep_spec_err e;
  json_t *spec = ep_spec_from_create(&c->cat, body, row.name, &e);
  json_decref(body);
  if (!spec) {
    ep_http_respond_error(r, e.status, "%s", e.msg);
    return;
  }
  if (check_cmd_allowed(r, &who, NULL, spec) || check_model(c, r, spec)) {
    json_decref(spec);
    return;
  }
  snprintf(row.ns, sizeof row.ns, "%s", ns);
  snprintf(row.type, sizeof row.type, "%s", json_string_value(json_object_get(spec, "type")));
  row.spec = dump(spec);
  json_decref(spec);
  snprintf(row.state, sizeof row.state, "pending");
  row.created_at = row.updated_at = ep_wall_ms();
  snprintf(row.created_by, sizeof row.created_by, "%s", who.user.name);
  snprintf(row.updated_by, sizeof row.updated_by, "%s", who.user.name);
  row.revision = 1;
  int err = row.spec ? ep_store_endpoint_insert(c->store, &row, &row.id) : EP_ENOMEM;
  if (err == EP_EEXISTS) {
    ep_http_respond_error(r, 409, "endpoint '%s' already exists in namespace '%s'", row.name, ns);
  } else if (err) {
    ep__ctl_store_error(r, err);
  } else {
    ep__ctl_changed(c, row.ns, row.name);
    respond_row(c, r, 201, &row);
  }
  free(row.spec);
}

typedef struct {
  ep_buf out;
  ep_render_cache *cache;
  const char *origin;
  int n, oom;
} list_ctx;

/* Appends the cached rendering of each row: no JSON tree per request. */
static int list_cb(void *ctx, const ep_endpoint_row *row) {
  list_ctx *l = ctx;
  size_t len;
  const char *t = ep_render_cache_get(l->cache, row, l->origin, &len);
  if (!t || (l->n++ && ep_buf_puts(&l->out, ",")) || ep_buf_append(&l->out, t, len)) {
    l->oom = 1;
    return EP_ENOMEM;
  }
  return 0;
}

void ep__ctl_ep_list(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_ctl *c = ctx;
  const char *ns = ep_route_param(p, "ns");
  ep_principal who;
  if (ep__ctl_auth(c, r, &who) || ep__ctl_ns(c, r, &who, ns, 0)) return;
  list_ctx l = {EP_BUF_INIT, c->rcache, ep_ctl_origin(c, r), 0, 0};
  ep_buf_reserve(&l.out, 256 * 1024);
  ep_buf_puts(&l.out, "{\"items\":[");
  int err = ep_store_endpoint_list(c->store, ns, list_cb, &l);
  if (!err && ep_buf_puts(&l.out, "]}")) err = EP_ENOMEM;
  if (err)
    ep__ctl_store_error(r, err);
  else
    ep_http_respond(r, 200, "application/json", l.out.data, l.out.len);
  ep_buf_free(&l.out);
}

void ep__ctl_ep_get(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_ctl *c = ctx;
  ep_principal who;
  ep_endpoint_row row;
  if (ep__ctl_load(c, r, p, 0, &who, &row)) return;
  respond_row(c, r, 200, &row);
  ep_endpoint_row_clear(&row);
}

/* Writes row (desired + status) with an event, notifies serving, answers. */
static void commit(ep_ctl *c, ep_http_req *r, ep_endpoint_row *row, const ep_principal *who,
                   int spec_changed, const char *kind, const char *msg) {
  row->updated_at = ep_wall_ms();
  snprintf(row->updated_by, sizeof row->updated_by, "%s", who->user.name);
  int err = ep_store_endpoint_update(c->store, row, spec_changed, kind, msg);
  if (err) {
    ep__ctl_store_error(r, err);
    return;
  }
  ep__ctl_changed(c, row->ns, row->name);
  respond_row(c, r, 200, row);
}

void ep__ctl_ep_update(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_ctl *c = ctx;
  ep_principal who;
  ep_endpoint_row row;
  if (ep__ctl_load(c, r, p, 1, &who, &row)) return;
  json_t *body = ep__ctl_body(r, 1);
  json_t *cur = body ? json_loads(row.spec, 0, NULL) : NULL;
  if (!body || !cur) {
    if (body) ep__ctl_store_error(r, EP_ECORRUPT);
    json_decref(body);
    ep_endpoint_row_clear(&row);
    return;
  }
  ep_spec_err e;
  json_t *next = ep_spec_apply_update(&c->cat, cur, body, row.name, &e);
  json_decref(body);
  if (!next) {
    json_decref(cur);
    ep_endpoint_row_clear(&row);
    ep_http_respond_error(r, e.status, "%s", e.msg);
    return;
  }
  if (check_cmd_allowed(r, &who, cur, next)) {
    json_decref(cur);
    json_decref(next);
    ep_endpoint_row_clear(&row);
    return;
  }
  char *a = dump(cur), *b = dump(next);
  int changed = a && b && strcmp(a, b) != 0;
  free(a);
  json_decref(cur);
  if (!changed) {
    free(b);
    json_decref(next);
    respond_row(c, r, 200, &row);
    ep_endpoint_row_clear(&row);
    return;
  }
  free(row.spec);
  row.spec = b;
  snprintf(row.type, sizeof row.type, "%s", json_string_value(json_object_get(next, "type")));
  json_decref(next);
  if (!strcmp(row.state, "running") || !strcmp(row.state, "updateFailed")) {
    snprintf(row.state, sizeof row.state, "updating");
    set_str(&row.message, ep_spec_state_message("updating"));
  }
  commit(c, r, &row, &who, 1, "updated", "spec updated");
  ep_endpoint_row_clear(&row);
}

void ep__ctl_ep_delete(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_ctl *c = ctx;
  ep_principal who;
  ep_endpoint_row row;
  if (ep__ctl_load(c, r, p, 1, &who, &row)) return;
  int err = ep_store_endpoint_delete(c->store, row.id);
  ep_render_cache_drop(c->rcache, row.id);
  if (err) {
    ep__ctl_store_error(r, err);
  } else {
    ep__ctl_changed(c, row.ns, row.name);
    respond_row(c, r, 200, &row);
  }
  ep_endpoint_row_clear(&row);
}

static void set_state(ep_endpoint_row *row, const char *state, int zero_replicas) {
  snprintf(row->state, sizeof row->state, "%s", state);
  set_str(&row->message, ep_spec_state_message(state));
  set_str(&row->error_message, NULL);
  if (zero_replicas) row->ready_replica = row->target_replica = 0;
}

void ep__ctl_ep_pause(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_ctl *c = ctx;
  ep_principal who;
  ep_endpoint_row row;
  if (ep__ctl_load(c, r, p, 1, &who, &row)) return;
  if (row.paused && !strcmp(row.state, "paused")) {
    respond_row(c, r, 200, &row); /* idempotent */
  } else {
    row.paused = 1;
    row.scale_to_zero = 0;
    set_state(&row, "paused", 1);
    set_str(&row.url, NULL);
    commit(c, r, &row, &who, 0, "paused", "endpoint paused");
  }
  ep_endpoint_row_clear(&row);
}

void ep__ctl_ep_resume(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_ctl *c = ctx;
  ep_principal who;
  ep_endpoint_row row;
  if (ep__ctl_load(c, r, p, 1, &who, &row)) return;
  int active = !row.paused && !row.scale_to_zero && strcmp(row.state, "failed") &&
               strcmp(row.state, "paused") && strcmp(row.state, "scaledToZero");
  if (active) {
    respond_row(c, r, 200, &row); /* already running or on its way: idempotent */
  } else {
    row.paused = 0;
    row.scale_to_zero = 0;
    set_state(&row, "pending", 0);
    commit(c, r, &row, &who, 0, "resumed", "endpoint resumed");
  }
  ep_endpoint_row_clear(&row);
}

void ep__ctl_ep_scale_to_zero(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_ctl *c = ctx;
  ep_principal who;
  ep_endpoint_row row;
  if (ep__ctl_load(c, r, p, 1, &who, &row)) return;
  if (row.paused) {
    ep_http_respond_error(r, 400, "Invalid state: endpoint is paused; resume it first");
  } else if (row.scale_to_zero && !strcmp(row.state, "scaledToZero")) {
    respond_row(c, r, 200, &row);
  } else {
    row.scale_to_zero = 1;
    set_state(&row, "scaledToZero", 1);
    commit(c, r, &row, &who, 0, "scaledToZero", "endpoint scaled to zero");
  }
  ep_endpoint_row_clear(&row);
}

void ep__ctl_gateway(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_ctl *c = ctx;
  const char *ns = ep_route_param(p, "ns"), *name = ep_route_param(p, "name");
  const char *rest = ep_route_param(p, "rest");
  if (c->has_hooks && c->hooks.gateway) {
    const char *sub = "";
    if (rest && *rest) {
      size_t n = strlen(rest) + 2;
      char *s = ep_arena_alloc(&r->arena, n);
      if (s) { /* "/" + rest, no printf: every proxied request comes here */
        s[0] = '/';
        memcpy(s + 1, rest, n - 1);
        sub = s;
      }
    }
    c->hooks.gateway(c->hooks.ctx, r, ns, name, sub);
    return;
  }
  ep_endpoint_row row;
  int err = ep_store_endpoint_get(c->store, ns, name, &row);
  if (err == EP_ENOTFOUND) {
    ep_http_respond_error(r, 404, "endpoint '%.64s' not found in namespace '%.64s'", name, ns);
    return;
  }
  if (err) {
    ep__ctl_store_error(r, err);
    return;
  }
  int code = ep_auth_endpoint_access(c->auth, row.type, ns, ep_http_req_bearer(r), ep_wall_ms());
  if (code == 401)
    ep_http_respond_error(r, 401, "Invalid credentials in Authorization header");
  else if (code == 403)
    ep_http_respond_error(r, 403, "you do not have access to endpoint '%s/%s'", ns, name);
  else if (row.paused || !strcmp(row.state, "paused"))
    ep_http_respond_error(r, 400, "Bad Request: Invalid state: endpoint is paused; resume it first");
  else
    ep_http_respond_error(r, 503, "endpoint is not running (state: %s)", row.state);
  ep_endpoint_row_clear(&row);
}
