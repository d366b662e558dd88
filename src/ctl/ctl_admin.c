/* whoami, hardware catalog, and the admin/token routes used by the CLI:
 * users and orgs (admin only), personal tokens (create shows the secret once,
 * list never does, delete revokes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/time.h"
#include "ctl/ctl-impl.h"

static int orgs_cb(void *ctx, const ep_org *o) {
  char id[32];
  snprintf(id, sizeof id, "org-%lld", (long long)o->id);
  json_array_append_new(ctx, json_pack("{s:s, s:s, s:s, s:s, s:n, s:b, s:s, s:n, s:s}", "type",
                                       "org", "id", id, "name", o->name, "fullname", o->name,
                                       "email", "canPay", 0, "avatarUrl", "", "periodEnd",
                                       "roleInOrg", o->role));
  return 0;
}

void ep__ctl_whoami(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_ctl *c = ctx;
  ep_principal who;
  if (ep__ctl_auth(c, r, &who)) return;
  json_t *orgs = json_array();
  int err = ep_store_user_orgs(c->store, who.user.id, orgs_cb, orgs);
  if (err) {
    json_decref(orgs);
    ep__ctl_store_error(r, err);
    return;
  }
  char id[32];
  snprintf(id, sizeof id, "user-%lld", (long long)who.user.id);
  json_t *j = json_pack(
      "{s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:b, s:n, s:s, s:b, s:o,"
      " s:{s:s, s:{s:s, s:s, s:o}}}",
      "type", "user", "id", id, "name", who.user.name, "fullname",
      who.user.fullname[0] ? who.user.fullname : who.user.name, "email", who.user.email,
      "emailVerified", who.user.email[0] != 0, "canPay", 0, "isPro", 0, "periodEnd", "avatarUrl",
      "", "isAdmin", who.user.is_admin, "orgs", orgs, "auth", "type", "access_token",
      "accessToken", "displayName", who.token.display_name, "role", who.token.role,
      "createdAt", ep__ctl_iso(who.token.created_at));
  ep_http_respond_json(r, 200, j);
}

void ep__ctl_provider(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_ctl *c = ctx;
  ep_principal who;
  if (ep__ctl_auth(c, r, &who)) return;
  const char *ns = ep_route_param(p, "ns");
  if (ns && ep__ctl_ns(c, r, &who, ns, 0)) return;
  ep_http_respond_json(r, 200, ep_catalog_json(&c->cat));
}

/* ---- users and orgs (admin) ------------------------------------------------------ */
static int require_admin(ep_ctl *c, ep_http_req *r, ep_principal *who, int write) {
  if (ep__ctl_auth(c, r, who)) return -1;
  if (!who->user.is_admin) {
    ep_http_respond_error(r, 403, "only an administrator may manage users and orgs");
    return -1;
  }
  if (write && !ep_auth_can_write(who)) {
    ep_http_respond_error(r, 403, "this token has role 'read'; a 'write' token is required");
    return -1;
  }
  return 0;
}

static json_t *user_json(const ep_user *u) {
  return json_pack("{s:s, s:s, s:s, s:b, s:o}", "name", u->name, "fullname", u->fullname,
                   "email", u->email, "isAdmin", u->is_admin, "createdAt",
                   ep__ctl_iso(u->created_at));
}

static json_t *token_json(const ep_token_row *t, const char *secret) {
  char id[32];
  snprintf(id, sizeof id, "%lld", (long long)t->id);
  json_t *j = json_pack("{s:s, s:s, s:s, s:o, s:o}", "id", id, "displayName", t->display_name,
                        "role", t->role, "createdAt", ep__ctl_iso(t->created_at), "expiresAt",
                        ep__ctl_iso(t->expires_at));
  if (secret) {
    json_object_set_new(j, "token", json_string(secret));
  } else {
    json_object_set_new(j, "lastUsedAt", ep__ctl_iso(t->last_used_at));
    json_object_set_new(j, "revoked", json_boolean(t->revoked_at != 0));
  }
  return j;
}

/* Optional string field; answers 400 when present with another type. */
static int opt_str(ep_http_req *r, json_t *body, const char *k, const char **out) {
  json_t *v = json_object_get(body, k);
  *out = NULL;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_string(v) || strlen(json_string_value(v)) >= EP_TEXT_MAX) {
    ep_http_respond_error(r, 400, "%s must be a string of at most %d bytes", k, EP_TEXT_MAX - 1);
    return -1;
  }
  *out = json_string_value(v);
  return 0;
}

void ep__ctl_user_create(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_ctl *c = ctx;
  ep_principal who;
  if (require_admin(c, r, &who, 1)) return;
  json_t *body = ep__ctl_body(r, 0);
  if (!body) return;
  const char *name, *fullname, *email;
  if (opt_str(r, body, "name", &name) || opt_str(r, body, "fullname", &fullname) ||
      opt_str(r, body, "email", &email))
    goto out;
  if (!name || !ep_auth_name_valid(name)) {
    ep_http_respond_error(r, 400, "name is required: 1-32 characters of a-z, 0-9 and '-', "
                                  "starting with a letter or digit");
    goto out;
  }
  json_t *adm = json_object_get(body, "isAdmin");
  if (adm && !json_is_boolean(adm) && !json_is_null(adm)) {
    ep_http_respond_error(r, 400, "isAdmin must be a boolean");
    goto out;
  }
  int64_t now = ep_wall_ms();
  ep_user u;
  int err = ep_store_begin(c->store);
  if (!err)
    err = ep_store_user_create(c->store, name, fullname, email, json_is_true(adm), now, &u.id);
  char tok[EP_TOKEN_TEXT_MAX];
  ep_token_row t;
  if (!err) err = ep_auth_token_create(c->auth, u.id, "default", "write", 0, now, tok, sizeof tok, &t);
  if (!err) err = ep_store_commit(c->store);
  if (err) {
    ep_store_rollback(c->store);
    if (err == EP_EEXISTS)
      ep_http_respond_error(r, 409, "name '%s' is already taken by a user or org", name);
    else
      ep__ctl_store_error(r, err);
    goto out;
  }
  ep_store_user_get(c->store, u.id, &u);
  ep_http_respond_json(r, 201, json_pack("{s:o, s:o}", "user", user_json(&u), "token",
                                         token_json(&t, tok)));
out:
  json_decref(body);
}

static int users_cb(void *ctx, const ep_user *u) {
  json_array_append_new(ctx, user_json(u));
  return 0;
}

void ep__ctl_user_list(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_ctl *c = ctx;
  ep_principal who;
  if (require_admin(c, r, &who, 0)) return;
  json_t *items = json_array();
  int err = ep_store_user_list(c->store, users_cb, items);
  if (err) {
    json_decref(items);
    ep__ctl_store_error(r, err);
    return;
  }
  ep_http_respond_json(r, 200, json_pack("{s:o}", "items", items));
}

void ep__ctl_org_create(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_ctl *c = ctx;
  ep_principal who;
  if (require_admin(c, r, &who, 1)) return;
  json_t *body = ep__ctl_body(r, 0);
  if (!body) return;
  const char *name;
  if (opt_str(r, body, "name", &name)) goto out;
  if (!name || !ep_auth_name_valid(name)) {
    ep_http_respond_error(r, 400, "name is required: 1-32 characters of a-z, 0-9 and '-', "
                                  "starting with a letter or digit");
    goto out;
  }
  int err = ep_store_org_create(c->store, name, ep_wall_ms(), NULL);
  if (err == EP_EEXISTS)
    ep_http_respond_error(r, 409, "name '%s' is already taken by a user or org", name);
  else if (err)
    ep__ctl_store_error(r, err);
  else
    ep_http_respond_json(r, 201, json_pack("{s:s}", "name", name));
out:
  json_decref(body);
}

void ep__ctl_org_member(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_ctl *c = ctx;
  ep_principal who;
  if (require_admin(c, r, &who, 1)) return;
  const char *org = ep_route_param(p, "org");
  json_t *body = ep__ctl_body(r, 0);
  if (!body) return;
  const char *user, *role;
  if (opt_str(r, body, "user", &user) || opt_str(r, body, "role", &role)) goto out;
  if (!role) role = "member";
  if (!user) {
    ep_http_respond_error(r, 400, "user is required");
    goto out;
  }
  if (strcmp(role, "member") && strcmp(role, "admin")) {
    ep_http_respond_error(r, 400, "role must be 'member' or 'admin'");
    goto out;
  }
  ep_org o;
  ep_user u;
  if (ep_store_org_get_by_name(c->store, org, &o)) {
    ep_http_respond_error(r, 404, "org '%.64s' not found", org);
    goto out;
  }
  if (ep_store_user_get_by_name(c->store, user, &u)) {
    ep_http_respond_error(r, 404, "user '%.64s' not found", user);
    goto out;
  }
  int err = ep_store_member_set(c->store, u.id, o.id, role);
  ep_auth_cache_clear(c->auth); /* private endpoints see the new membership at once */
  if (err)
    ep__ctl_store_error(r, err);
  else
    ep_http_respond_json(r, 200, json_pack("{s:s, s:s, s:s}", "org", org, "user", user, "role", role));
out:
  json_decref(body);
}

/* ---- personal tokens --------------------------------------------------------------- */
void ep__ctl_token_create(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_ctl *c = ctx;
  ep_principal who;
  if (ep__ctl_auth(c, r, &who)) return;
  if (!ep_auth_can_write(&who)) {
    ep_http_respond_error(r, 403, "this token has role 'read'; a 'write' token is required");
    return;
  }
  json_t *body = ep__ctl_body(r, 0);
  if (!body) return;
  const char *name, *role, *exp;
  int64_t now = ep_wall_ms(), expires = 0;
  if (opt_str(r, body, "displayName", &name) || opt_str(r, body, "role", &role) ||
      opt_str(r, body, "expiresAt", &exp))
    goto out;
  if (!name || !*name) {
    ep_http_respond_error(r, 400, "displayName is required");
    goto out;
  }
  if (!role) role = "read";
  if (strcmp(role, "read") && strcmp(role, "write")) {
    ep_http_respond_error(r, 400, "role must be 'read' or 'write'");
    goto out;
  }
  json_t *in = json_object_get(body, "expiresIn");
  if (in && !json_is_null(in)) {
    if (!json_is_integer(in) || json_integer_value(in) <= 0 ||
        json_integer_value(in) > 10LL * 366 * 86400) {
      ep_http_respond_error(r, 400, "expiresIn must be a positive number of seconds");
      goto out;
    }
    expires = now + json_integer_value(in) * 1000;
  } else if (exp) {
    if (ep_time_parse_iso(exp, &expires)) {
      ep_http_respond_error(r, 400, "expiresAt must be an ISO time like 2030-01-01T00:00:00.000Z");
      goto out;
    }
    if (expires <= now) {
      ep_http_respond_error(r, 400, "expiresAt is in the past");
      goto out;
    }
  }
  char tok[EP_TOKEN_TEXT_MAX];
  ep_token_row t;
  int err = ep_auth_token_create(c->auth, who.user.id, name, role, expires, now, tok, sizeof tok, &t);
  if (err)
    ep__ctl_store_error(r, err);
  else
    ep_http_respond_json(r, 201, token_json(&t, tok));
out:
  json_decref(body);
}

static int tokens_cb(void *ctx, const ep_token_row *t) {
  json_array_append_new(ctx, token_json(t, NULL));
  return 0;
}

void ep__ctl_token_list(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_ctl *c = ctx;
  ep_principal who;
  if (ep__ctl_auth(c, r, &who)) return;
  json_t *items = json_array();
  int err = ep_store_token_list(c->store, who.user.id, tokens_cb, items);
  if (err) {
    json_decref(items);
    ep__ctl_store_error(r, err);
    return;
  }
  ep_http_respond_json(r, 200, json_pack("{s:o}", "items", items));
}

void ep__ctl_token_revoke(ep_http_req *r, const ep_route_params *p, void *ctx) {
  ep_ctl *c = ctx;
  ep_principal who;
  if (ep__ctl_auth(c, r, &who)) return;
  if (!ep_auth_can_write(&who)) {
    ep_http_respond_error(r, 403, "this token has role 'read'; a 'write' token is required");
    return;
  }
  const char *ids = ep_route_param(p, "id");
  char *end;
  long long id = strtoll(ids, &end, 10);
  ep_token_row t;
  if (*end || id <= 0 || ep_store_token_get(c->store, id, &t) ||
      (t.user_id != who.user.id && !who.user.is_admin)) {
    ep_http_respond_error(r, 404, "token '%.32s' not found", ids);
    return;
  }
  int err = ep_store_token_revoke(c->store, id, ep_wall_ms());
  ep_auth_cache_clear(c->auth); /* the gateway refuses the token from now on */
  if (err) {
    ep__ctl_store_error(r, err);
    return;
  }
  ep_store_token_get(c->store, id, &t);
  ep_http_respond_json(r, 200, token_json(&t, NULL));
}
