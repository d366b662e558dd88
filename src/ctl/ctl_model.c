/* Models on this machine: GET /v2/model lists the HF cache and the model
 * store (<home>/models) with sizes and the endpoints using each model;
 * DELETE /v2/model/{repo} (admin) removes a model unless an endpoint uses it
 * (409). An endpoint uses a model when its model.repository is the model's
 * id, or a folder inside the model's path. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "ctl/ctl-impl.h"
#include "hub/hub.h"

typedef struct {
  char ns[EP_NAME_MAX], name[EP_NAME_MAX];
  char *repo; /* model.repository */
  char *real; /* realpath of it when it is a folder, else NULL */
} ep_use;

typedef struct {
  ep_use *v;
  size_t n, cap;
} use_list;

static void uses_free(use_list *u) {
  for (size_t i = 0; i < u->n; i++) {
    free(u->v[i].repo);
    free(u->v[i].real);
  }
  free(u->v);
}

static int use_cb(void *ctx, const ep_endpoint_row *row) {
  use_list *u = ctx;
  json_t *spec = row->spec ? json_loads(row->spec, 0, NULL) : NULL;
  const char *repo =
      json_string_value(json_object_get(json_object_get(spec, "model"), "repository"));
  int rc = 0;
  if (repo && *repo) {
    if (u->n == u->cap) {
      size_t cap = u->cap ? u->cap * 2 : 16;
      ep_use *nv = realloc(u->v, cap * sizeof *nv);
      if (!nv)
        rc = EP_ENOMEM;
      else
        u->v = nv, u->cap = cap;
    }
    if (!rc) {
      ep_use *e = &u->v[u->n++];
      memset(e, 0, sizeof *e);
      snprintf(e->ns, sizeof e->ns, "%s", row->ns);
      snprintf(e->name, sizeof e->name, "%s", row->name);
      e->repo = strdup(repo);
      e->real = repo[0] == '/' ? realpath(repo, NULL) : NULL;
    }
  }
  json_decref(spec);
  return rc;
}

/* 1 when endpoint use e refers to model m. */
static int uses_model(const ep_use *e, const char *repo, const char *real_path) {
  if (e->repo && !strcmp(e->repo, repo)) return 1;
  if (!e->real || !real_path) return 0;
  size_t n = strlen(real_path);
  return !strncmp(e->real, real_path, n) && (e->real[n] == '/' || e->real[n] == 0);
}

static json_t *model_json(ep_ctl *c, const ep_principal *who, const ep_hub_model *m,
                          const use_list *u) {
  json_t *used = json_array();
  char *real = realpath(m->path, NULL);
  int in_use = 0;
  for (size_t i = 0; i < u->n; i++) {
    if (!uses_model(&u->v[i], m->repo, real)) continue;
    in_use = 1;
    if (ep_auth_ns_access(c->auth, who, u->v[i].ns) != 1) continue; /* not yours to see */
    char full[2 * EP_NAME_MAX + 2];
    snprintf(full, sizeof full, "%s/%s", u->v[i].ns, u->v[i].name);
    json_array_append_new(used, json_string(full));
  }
  free(real);
  return json_pack("{s:s,s:o,s:s,s:s,s:I,s:o,s:b}", "repository", m->repo, "revision",
                   m->revision[0] ? json_string(m->revision) : json_null(), "source", m->source,
                   "path", m->path, "bytes", (json_int_t)m->bytes, "usedBy", used, "inUse", in_use);
}

/* The models on disk and what every endpoint uses, for the list and delete
 * routes. Answers the store error itself and returns -1 then; the caller
 * frees *m and *u either way. */
static int gather(ep_ctl *c, ep_http_req *r, ep_hub_params *hp, ep_hub_model **m, size_t *n,
                  use_list *u) {
  *hp = ep_hub_default_params();
  hp->home = c->home;
  int err = ep_store_endpoint_list(c->store, NULL, use_cb, u);
  if (!err) err = ep_hub_list(hp, m, n);
  if (err) ep__ctl_store_error(r, err);
  return err ? -1 : 0;
}

void ep__ctl_model_list(ep_http_req *r, const ep_route_params *p, void *ctx) {
  (void)p;
  ep_ctl *c = ctx;
  ep_principal who;
  if (ep__ctl_auth(c, r, &who)) return;
  ep_hub_params hp;
  ep_hub_model *m = NULL;
  size_t n = 0;
  use_list u = {0};
  if (gather(c, r, &hp, &m, &n, &u) == 0) {
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(items, model_json(c, &who, &m[i], &u));
    ep_http_respond_json(r, 200, json_pack("{s:o}", "items", items));
  }
  free(m);
  uses_free(&u);
}

void ep__ctl_model_delete(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_ctl *c = ctx;
  ep_principal who;
  if (ep__ctl_auth(c, r, &who)) return;
  if (!who.user.is_admin || !ep_auth_can_write(&who)) {
    ep_http_respond_error(r, 403, "removing models needs an administrator's write token");
    return;
  }
  const char *repo = ep_route_param(p, "repo");
  if (!repo || !ep_hub_repo_valid(repo)) {
    ep_http_respond_error(r, 400, "invalid repository id '%.200s'", repo ? repo : "");
    return;
  }
  ep_hub_params hp;
  ep_hub_model *m = NULL;
  size_t n = 0;
  use_list u = {0};
  if (gather(c, r, &hp, &m, &n, &u)) goto out;
  ep_buf users = EP_BUF_INIT;
  int nusers = 0;
  for (size_t i = 0; i < u.n; i++) {
    int hit = !strcmp(u.v[i].repo, repo);
    for (size_t k = 0; !hit && k < n; k++) {
      if (strcmp(m[k].repo, repo)) continue;
      char *real = realpath(m[k].path, NULL);
      hit = uses_model(&u.v[i], m[k].repo, real);
      free(real);
    }
    if (hit) ep_buf_printf(&users, "%s%s/%s", nusers++ ? ", " : "", u.v[i].ns, u.v[i].name);
  }
  if (nusers) {
    ep_http_respond_error(r, 409, "model '%s' is used by %s: %s; delete %s first", repo,
                          nusers > 1 ? "endpoints" : "endpoint", ep_buf_cstr(&users),
                          nusers > 1 ? "them" : "it");
  } else {
    char msg[1024] = "";
    int err = ep_hub_remove(&hp, repo, msg, sizeof msg);
    if (err == EP_ENOTFOUND)
      ep_http_respond_error(r, 404, "%s", msg);
    else if (err)
      ep_http_respond_error(r, 500, "%s", msg);
    else
      ep_http_respond_json(r, 200, json_pack("{s:s,s:b}", "repository", repo, "removed", 1));
  }
  ep_buf_free(&users);
out:
  free(m);
  uses_free(&u);
}
