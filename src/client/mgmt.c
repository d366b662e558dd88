/* libendpoint: management-plane calls (/v2/endpoint/...), whoami with
 * namespace resolution, and wait() with huggingface_hub's newest semantics
 * (failed/updateFailed raise, running + health route 200 returns). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/client-impl.h"

/* method on {origin}/v2/endpoint/{ns}[/{name}[/{action}]]; body owned by caller. */
static int mgmt_call(ep_client *c, const char *method, const char *ns, const char *name,
                     const char *action, json_t *body, char **out_body) {
  char *url = epc_mgmt_url(c->url, ns, name, action);
  char *text = body ? epc_json_text(body) : NULL;
  if (!url || (body && !text)) {
    free(url);
    free(text);
    return epc_set_error(c, EP_CLIENT_ENOMEM, 0, "out of memory");
  }
  epc_req r;
  int err = epc_req_init(&r, c, method, url, text, EPC_RAW);
  if (!err) err = epc_req_perform(&r, out_body);
  else epc_set_error(c, err, 0, "%s", ep_client_strerror(err));
  epc_req_free(&r);
  free(url);
  free(text);
  return err;
}

static int parse_endpoint(ep_client *c, const char *body, const char *ns, ep_endpoint *e) {
  json_t *j = json_loads(body, 0, NULL);
  int err = epc_endpoint_from_json(e, j, ns);
  json_decref(j);
  if (err == EP_CLIENT_EPARSE)
    epc_set_error(c, err, c->status, "response is not an Endpoint object: %.200s", body);
  return err;
}

/* Call that answers an Endpoint; stores a new ep_endpoint in *out if out. */
static int endpoint_call(ep_client *c, const char *method, const char *ns, const char *name,
                         const char *action, json_t *body, ep_endpoint **out) {
  if (out) *out = NULL;
  char *resp = NULL;
  int err = mgmt_call(c, method, ns, name, action, body, &resp);
  if (!err && out) {
    ep_endpoint *e = calloc(1, sizeof *e);
    err = e ? parse_endpoint(c, resp, ns, e) : EP_CLIENT_ENOMEM;
    if (err) ep_endpoint_free(e);
    else *out = e;
  }
  free(resp);
  return err;
}

int epc_resolve_ns(ep_client *c, const char *ns, const char **out) {
  if (ns && *ns) {
    *out = ns;
    return 0;
  }
  if (!c->user_ns) {
    ep_whoami_info *w = NULL;
    int err = ep_whoami(c, &w);
    if (err) return err;
    if (!w->type || strcmp(w->type, "user") || !w->name) {
      ep_whoami_free(w);
      return epc_set_error(c, EP_CLIENT_ENONAMESPACE, 0,
                           "cannot determine the default namespace: the token does not belong "
                           "to a user; pass a namespace");
    }
    c->user_ns = w->name;
    w->name = NULL;
    ep_whoami_free(w);
  }
  *out = c->user_ns;
  return 0;
}

#define RESOLVE(c, ns, var)                      \
  const char *var;                               \
  do {                                           \
    int _e = epc_resolve_ns((c), (ns), &var);    \
    if (_e) return _e;                           \
  } while (0)

static int check_name(ep_client *c, const char *name) {
  if (!c) return EP_CLIENT_EINVAL;
  if (!name || !*name) return epc_set_error(c, EP_CLIENT_EINVAL, 0, "an endpoint name is required");
  return 0;
}

int ep_endpoint_create(ep_client *c, const ep_endpoint_create_params *p, ep_endpoint **out) {
  if (out) *out = NULL;
  if (!c || !p) return EP_CLIENT_EINVAL;
  if (!p->name || !*p->name || !p->repository || !*p->repository)
    return epc_set_error(c, EP_CLIENT_EINVAL, 0, "name and repository are required");
  json_t *body = epc_create_body(p);
  if (!body) return epc_set_error(c, EP_CLIENT_EINVAL, 0, "env/secrets items must be KEY=VALUE");
  const char *ns;
  int err = epc_resolve_ns(c, p->ns, &ns);
  if (!err) err = endpoint_call(c, "POST", ns, NULL, NULL, body, out);
  json_decref(body);
  return err;
}

int ep_endpoint_get(ep_client *c, const char *ns, const char *name, ep_endpoint **out) {
  int err = check_name(c, name);
  if (err) return err;
  RESOLVE(c, ns, n);
  return endpoint_call(c, "GET", n, name, NULL, NULL, out);
}

int ep_endpoint_update(ep_client *c, const char *ns, const char *name,
                       const ep_endpoint_update_params *p, ep_endpoint **out) {
  int err = check_name(c, name);
  if (err) return err;
  RESOLVE(c, ns, n);
  json_t *body = epc_update_body(p);
  if (!body) return epc_set_error(c, EP_CLIENT_EINVAL, 0, "env/secrets items must be KEY=VALUE");
  err = endpoint_call(c, "PUT", n, name, NULL, body, out);
  json_decref(body);
  return err;
}

int ep_endpoint_delete(ep_client *c, const char *ns, const char *name) {
  int err = check_name(c, name);
  if (err) return err;
  RESOLVE(c, ns, n);
  return mgmt_call(c, "DELETE", n, name, NULL, NULL, NULL);
}

int ep_endpoint_pause(ep_client *c, const char *ns, const char *name, ep_endpoint **out) {
  int err = check_name(c, name);
  if (err) return err;
  RESOLVE(c, ns, n);
  return endpoint_call(c, "POST", n, name, "pause", NULL, out);
}

int ep_endpoint_resume(ep_client *c, const char *ns, const char *name, int running_ok,
                       ep_endpoint **out) {
  int err = check_name(c, name);
  if (err) return err;
  RESOLVE(c, ns, n);
  err = endpoint_call(c, "POST", n, name, "resume", NULL, out);
  if (err == EP_CLIENT_EBADREQ && running_ok && strstr(c->msg, "already running"))
    err = endpoint_call(c, "GET", n, name, NULL, NULL, out);
  return err;
}

int ep_endpoint_scale_to_zero(ep_client *c, const char *ns, const char *name, ep_endpoint **out) {
  int err = check_name(c, name);
  if (err) return err;
  RESOLVE(c, ns, n);
  return endpoint_call(c, "POST", n, name, "scale-to-zero", NULL, out);
}

int ep_endpoint_logs(ep_client *c, const char *ns, const char *name, char **out_text) {
  if (out_text) *out_text = NULL;
  int err = check_name(c, name);
  if (err) return err;
  RESOLVE(c, ns, n);
  return mgmt_call(c, "GET", n, name, "logs", NULL, out_text);
}

int ep_endpoint_logs_follow(ep_client *c, const char *ns, const char *name, int tail,
                            ep_token_cb cb, void *ud) {
  int err = check_name(c, name);
  if (err) return err;
  RESOLVE(c, ns, n);
  char *base = epc_mgmt_url(c->url, n, name, "logs");
  size_t len = base ? strlen(base) + 48 : 0;
  char *url = base ? malloc(len) : NULL;
  if (!url) {
    free(base);
    return epc_set_error(c, EP_CLIENT_ENOMEM, 0, "out of memory");
  }
  snprintf(url, len, "%s?follow=1&tail=%d", base, tail > 0 ? tail : 0);
  free(base);
  epc_req r;
  err = epc_req_init(&r, c, "GET", url, NULL, EPC_TEXT_STREAM);
  if (!err) {
    r.cb = cb;
    r.ud = ud;
    curl_easy_setopt(r.easy, CURLOPT_TIMEOUT_MS, 0L); /* a stream: no whole-request limit */
    err = epc_req_perform(&r, NULL);
  } else {
    epc_set_error(c, err, 0, "%s", ep_client_strerror(err));
  }
  epc_req_free(&r);
  free(url);
  return err;
}

/* Append the endpoints of one namespace to *list. */
static int list_one(ep_client *c, const char *ns, ep_endpoint ***list, size_t *n) {
  char *resp = NULL;
  int err = mgmt_call(c, "GET", ns, NULL, NULL, NULL, &resp);
  if (err) return err;
  json_t *j = json_loads(resp, 0, NULL);
  json_t *items = json_object_get(j, "items");
  if (!json_is_array(items)) {
    epc_set_error(c, EP_CLIENT_EPARSE, c->status, "list response has no \"items\" array");
    json_decref(j);
    free(resp);
    return EP_CLIENT_EPARSE;
  }
  size_t cnt = json_array_size(items);
  ep_endpoint **grown = realloc(*list, (*n + cnt + 1) * sizeof *grown);
  if (!grown) err = EP_CLIENT_ENOMEM;
  else *list = grown;
  for (size_t i = 0; !err && i < cnt; i++) {
    ep_endpoint *e = calloc(1, sizeof *e);
    if (!e) err = EP_CLIENT_ENOMEM;
    else if ((err = epc_endpoint_from_json(e, json_array_get(items, i), ns))) {
      ep_endpoint_free(e);
      epc_set_error(c, err, c->status, "list item %zu is not an Endpoint object", i);
    } else {
      (*list)[(*n)++] = e;
    }
  }
  json_decref(j);
  free(resp);
  return err;
}

int ep_endpoint_list(ep_client *c, const char *ns, ep_endpoint ***out, size_t *n) {
  if (!c || !out || !n) return EP_CLIENT_EINVAL;
  *out = NULL;
  *n = 0;
  int err;
  if (ns && !strcmp(ns, "*")) {
    ep_whoami_info *w = NULL;
    if ((err = ep_whoami(c, &w))) return err;
    const char *own;
    err = epc_resolve_ns(c, NULL, &own);
    if (!err) err = list_one(c, own, out, n);
    for (size_t i = 0; !err && i < w->n_orgs; i++) {
      int e2 = list_one(c, w->orgs[i], out, n); /* org errors are skipped */
      if (e2 == EP_CLIENT_ENOMEM) err = e2;
    }
    ep_whoami_free(w);
    if (!err) c->msg[0] = 0;
  } else {
    const char *r;
    err = epc_resolve_ns(c, ns, &r);
    if (!err) err = list_one(c, r, out, n);
  }
  if (err) {
    ep_endpoint_list_free(*out, *n);
    *out = NULL;
    *n = 0;
  }
  return err;
}

int ep_endpoint_fetch(ep_client *c, ep_endpoint *e) {
  if (!c || !e || !e->name) return EP_CLIENT_EINVAL;
  char *ns = e->ns ? strdup(e->ns) : NULL, *name = strdup(e->name);
  const char *r;
  char *resp = NULL;
  int err = name ? epc_resolve_ns(c, ns, &r) : EP_CLIENT_ENOMEM;
  if (!err) err = mgmt_call(c, "GET", r, name, NULL, NULL, &resp);
  if (!err) err = parse_endpoint(c, resp, r, e);
  free(resp);
  free(ns);
  free(name);
  return err;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_s(double s) {
  if (s <= 0) return;
  struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* GET url+healthRoute; 1 when exactly 200. */
static int probe(ep_client *c, const ep_endpoint *e) {
  char *u = epc_health_url(e->url, e->health_route ? e->health_route : "/health");
  if (!u) return 0;
  epc_req r;
  int ok = 0;
  if (!epc_req_init(&r, c, "GET", u, NULL, EPC_RAW)) {
    CURLcode cc = curl_easy_perform(r.easy);
    long st = 0;
    curl_easy_getinfo(r.easy, CURLINFO_RESPONSE_CODE, &st);
    ok = cc == CURLE_OK && st == 200;
  }
  epc_req_free(&r);
  free(u);
  return ok;
}

int ep_endpoint_wait(ep_client *c, ep_endpoint *e, double timeout_s, double every_s) {
  if (!c || !e || !e->name) return EP_CLIENT_EINVAL;
  if (every_s <= 0) return epc_set_error(c, EP_CLIENT_EINVAL, 0, "refresh period must be positive");
  double start = now_s();
  for (;;) {
    const char *st = e->status ? e->status : "";
    if (!strcmp(st, "failed"))
      return epc_set_error(c, EP_CLIENT_EFAILED, c->status,
                           "endpoint %s failed to deploy%s%s", e->name,
                           e->error_message ? ": " : "", e->error_message ? e->error_message : "");
    if (!strcmp(st, "updateFailed"))
      return epc_set_error(c, EP_CLIENT_EUPDATEFAILED, c->status,
                           "endpoint %s failed to update%s%s", e->name,
                           e->error_message ? ": " : "", e->error_message ? e->error_message : "");
    if (!strcmp(st, "running") && e->url && probe(c, e)) {
      c->msg[0] = 0;
      return 0;
    }
    double left = timeout_s >= 0 ? timeout_s - (now_s() - start) : every_s;
    if (timeout_s >= 0 && left <= 0)
      return epc_set_error(c, EP_CLIENT_ETIMEOUT, 0,
                           "timeout while waiting for endpoint %s to be deployed (state: %s)",
                           e->name, st[0] ? st : "unknown");
    sleep_s(left < every_s ? left : every_s);
    int err = ep_endpoint_fetch(c, e);
    if (err) return err;
  }
}

/* ---- whoami ---- */
void ep_whoami_free(ep_whoami_info *w) {
  if (!w) return;
  for (size_t i = 0; i < w->n_orgs; i++) free(w->orgs[i]);
  free(w->orgs);
  free(w->name);
  free(w->type);
  free(w->token_name);
  free(w->token_role);
  free(w->raw_json);
  free(w);
}

int ep_whoami(ep_client *c, ep_whoami_info **out) {
  if (!c || !out) return EP_CLIENT_EINVAL;
  *out = NULL;
  if (!c->token)
    return epc_set_error(c, EP_CLIENT_EUNAUTH, 0,
                         "no token configured: set ENDPOINTD_TOKEN (or HF_TOKEN) or write "
                         "~/.config/endpointd/token");
  char *resp = NULL;
  int err = ep_client_request(c, "GET", "/api/whoami-v2", NULL, &resp);
  if (err) return err;
  json_t *j = json_loads(resp, 0, NULL);
  ep_whoami_info *w = calloc(1, sizeof *w);
  if (!w) err = EP_CLIENT_ENOMEM;
  else if (!json_is_object(j) || !json_is_string(json_object_get(j, "name")))
    err = epc_set_error(c, EP_CLIENT_EPARSE, c->status, "whoami answer has no name: %.200s", resp);
  if (!err) {
    json_t *tok = json_object_get(json_object_get(j, "auth"), "accessToken");
    w->name = strdup(json_string_value(json_object_get(j, "name")));
    w->type = json_is_string(json_object_get(j, "type"))
                  ? strdup(json_string_value(json_object_get(j, "type"))) : strdup("user");
    if (json_is_string(json_object_get(tok, "displayName")))
      w->token_name = strdup(json_string_value(json_object_get(tok, "displayName")));
    if (json_is_string(json_object_get(tok, "role")))
      w->token_role = strdup(json_string_value(json_object_get(tok, "role")));
    json_t *orgs = json_object_get(j, "orgs");
    size_t n = json_is_array(orgs) ? json_array_size(orgs) : 0;
    w->orgs = calloc(n + 1, sizeof *w->orgs);
    for (size_t i = 0; w->orgs && i < n; i++) {
      json_t *nm = json_object_get(json_array_get(orgs, i), "name");
      if (json_is_string(nm)) w->orgs[w->n_orgs++] = strdup(json_string_value(nm));
    }
    w->raw_json = resp;
    resp = NULL;
    if (!w->name || !w->type || !w->orgs) err = EP_CLIENT_ENOMEM;
  }
  json_decref(j);
  free(resp);
  if (err) ep_whoami_free(w);
  else *out = w;
  return err;
}
