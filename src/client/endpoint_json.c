/* libendpoint: management-plane JSON and URLs: the create body (shape of
 * huggingface_hub's create_inference_endpoint), the sparse update body,
 * parsing an Endpoint object into ep_endpoint, and URL building. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client-impl.h"

int epc_url_segment(epc_buf *b, const char *seg) {
  static const char hex[] = "0123456789ABCDEF";
  for (const unsigned char *p = (const unsigned char *)seg; *p; p++) {
    int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                *p == '-' || *p == '.' || *p == '_' || *p == '~';
    char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
    if (plain ? epc_buf_add(b, (const char *)p, 1) : epc_buf_add(b, enc, 3)) return EP_CLIENT_ENOMEM;
  }
  return 0;
}

char *epc_mgmt_url(const char *origin, const char *ns, const char *name, const char *action) {
  epc_buf b = {0};
  int err = epc_buf_puts(&b, origin);
  err = err ? err : epc_buf_puts(&b, "/v2/endpoint/");
  err = err ? err : epc_url_segment(&b, ns);
  if (name) {
    err = err ? err : epc_buf_puts(&b, "/");
    err = err ? err : epc_url_segment(&b, name);
  }
  if (action) {
    err = err ? err : epc_buf_puts(&b, "/");
    err = err ? err : epc_buf_puts(&b, action);
  }
  if (err) epc_buf_free(&b);
  return b.data;
}

char *epc_chat_url(const char *base) {
  const char *q = strchr(base, '?');
  size_t n = q ? (size_t)(q - base) : strlen(base);
  while (n && base[n - 1] == '/') n--;
  static const char cc[] = "/chat/completions";
  const char *suffix = "/v1/chat/completions";
  if (n >= sizeof cc - 1 && !memcmp(base + n - (sizeof cc - 1), cc, sizeof cc - 1)) suffix = "";
  else if (n >= 3 && !memcmp(base + n - 3, "/v1", 3)) suffix = cc;
  epc_buf b = {0};
  if (epc_buf_add(&b, base, n) || epc_buf_puts(&b, suffix) || (q && epc_buf_puts(&b, q))) {
    epc_buf_free(&b);
    return NULL;
  }
  return b.data;
}

char *epc_health_url(const char *url, const char *route) {
  size_t n = strlen(url);
  while (n && url[n - 1] == '/') n--;
  if (!route) route = "";
  while (*route == '/') route++;
  epc_buf b = {0};
  if (epc_buf_add(&b, url, n) || epc_buf_puts(&b, "/") || epc_buf_puts(&b, route)) {
    epc_buf_free(&b);
    return NULL;
  }
  return b.data;
}

json_t *epc_kv_object(const char *const *kv) {
  json_t *o = json_object();
  for (size_t i = 0; kv && kv[i]; i++) {
    const char *eq = strchr(kv[i], '=');
    if (!eq || eq == kv[i]) {
      json_decref(o);
      return NULL;
    }
    char *k = strndup(kv[i], (size_t)(eq - kv[i]));
    if (!k) {
      json_decref(o);
      return NULL;
    }
    json_object_set_new(o, k, json_string(eq + 1));
    free(k);
  }
  return o;
}

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *custom_image(const char *url, const char *route, int port, const char *const *env) {
  json_t *c = json_object();
  json_object_set_new(c, "url", json_string(url));
  json_object_set_new(c, "healthRoute", json_string(route ? route : "/health"));
  if (port > 0) json_object_set_new(c, "port", json_integer(port));
  if (env && env[0]) {
    json_t *e = epc_kv_object(env);
    if (!e) {
      json_decref(c);
      return NULL;
    }
    json_object_set_new(c, "env", e);
  }
  json_t *img = json_object();
  json_object_set_new(img, "custom", c);
  return img;
}

ep_endpoint_create_params ep_endpoint_create_default_params(void) {
  ep_endpoint_create_params p;
  memset(&p, 0, sizeof p);
  p.framework = "pytorch";
  p.accelerator = "cpu";
  p.vendor = "local";
  p.region = "local";
  p.type = "protected";
  p.instance_size = "x1";
  p.instance_type = "cpu";
  p.min_replica = 0;
  p.max_replica = 1;
  p.scale_to_zero_timeout = -1;
  return p;
}

ep_endpoint_update_params ep_endpoint_update_default_params(void) {
  ep_endpoint_update_params p;
  memset(&p, 0, sizeof p);
  p.min_replica = p.max_replica = p.scale_to_zero_timeout = -1;
  return p;
}

/* NULL when a required field is missing or a K=V item is malformed. */
json_t *epc_create_body(const ep_endpoint_create_params *p) {
  if (!p || !p->name || !p->repository) return NULL;
  json_t *scaling = json_object();
  json_object_set_new(scaling, "minReplica", json_integer(p->min_replica));
  json_object_set_new(scaling, "maxReplica", json_integer(p->max_replica));
  json_object_set_new(scaling, "scaleToZeroTimeout",
                      p->scale_to_zero_timeout >= 0 ? json_integer(p->scale_to_zero_timeout)
                                                    : json_null());
  json_t *compute = json_object();
  json_object_set_new(compute, "accelerator", json_string(p->accelerator ? p->accelerator : "cpu"));
  json_object_set_new(compute, "instanceSize", json_string(p->instance_size ? p->instance_size : "x1"));
  json_object_set_new(compute, "instanceType", json_string(p->instance_type ? p->instance_type : "cpu"));
  json_object_set_new(compute, "scaling", scaling);
  json_t *model = json_object();
  json_object_set_new(model, "repository", json_string(p->repository));
  json_object_set_new(model, "framework", json_string(p->framework ? p->framework : "pytorch"));
  json_object_set_new(model, "revision", str_or_null(p->revision));
  if (p->task) json_object_set_new(model, "task", json_string(p->task));
  json_t *body = json_object();
  json_object_set_new(body, "model", model);
  json_object_set_new(body, "compute", compute);
  json_t *img;
  if (p->custom_image_url) {
    img = custom_image(p->custom_image_url, p->custom_image_health_route, p->custom_image_port,
                       p->custom_image_env);
  } else {
    img = json_object();
    json_object_set_new(img, "huggingface", json_object());
  }
  if (!img) goto bad;
  json_object_set_new(model, "image", img);
  if (p->env && p->env[0]) {
    json_t *e = epc_kv_object(p->env);
    if (!e) goto bad;
    json_object_set_new(model, "env", e);
  }
  if (p->secrets && p->secrets[0]) {
    json_t *e = epc_kv_object(p->secrets);
    if (!e) goto bad;
    json_object_set_new(model, "secrets", e);
  }
  json_t *prov = json_object();
  json_object_set_new(prov, "vendor", json_string(p->vendor ? p->vendor : "local"));
  json_object_set_new(prov, "region", json_string(p->region ? p->region : "local"));
  json_object_set_new(body, "accountId", str_or_null(p->account_id));
  json_object_set_new(body, "name", json_string(p->name));
  json_object_set_new(body, "provider", prov);
  json_object_set_new(body, "type", json_string(p->type ? p->type : "protected"));
  return body;
bad:
  json_decref(body);
  return NULL;
}

static json_t *sub(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  if (!v) {
    v = json_object();
    json_object_set_new(o, key, v);
  }
  return v;
}

json_t *epc_update_body(const ep_endpoint_update_params *p) {
  json_t *b = json_object();
  if (!p) return b;
#define SET_STR(parent, key, val) \
  if (val) json_object_set_new(sub(b, parent), key, json_string(val))
  SET_STR("compute", "accelerator", p->accelerator);
  SET_STR("compute", "instanceSize", p->instance_size);
  SET_STR("compute", "instanceType", p->instance_type);
  SET_STR("model", "repository", p->repository);
  SET_STR("model", "framework", p->framework);
  SET_STR("model", "revision", p->revision);
  SET_STR("model", "task", p->task);
#undef SET_STR
  if (p->min_replica >= 0)
    json_object_set_new(sub(sub(b, "compute"), "scaling"), "minReplica", json_integer(p->min_replica));
  if (p->max_replica >= 0)
    json_object_set_new(sub(sub(b, "compute"), "scaling"), "maxReplica", json_integer(p->max_replica));
  if (p->scale_to_zero_timeout >= 0)
    json_object_set_new(sub(sub(b, "compute"), "scaling"), "scaleToZeroTimeout",
                        json_integer(p->scale_to_zero_timeout));
  if (p->custom_image_url) {
    json_t *img = custom_image(p->custom_image_url, p->custom_image_health_route,
                               p->custom_image_port, p->custom_image_env);
    if (!img) goto bad;
    json_object_set_new(sub(b, "model"), "image", img);
  }
  if (p->env && p->env[0]) {
    json_t *e = epc_kv_object(p->env);
    if (!e) goto bad;
    json_object_set_new(sub(b, "model"), "env", e);
  }
  if (p->secrets && p->secrets[0]) {
    json_t *e = epc_kv_object(p->secrets);
    if (!e) goto bad;
    json_object_set_new(sub(b, "model"), "secrets", e);
  }
  return b;
bad:
  json_decref(b);
  return NULL;
}

/* ---- Endpoint object ---- */
void epc_endpoint_clear(ep_endpoint *e) {
  char **fields[] = {&e->name, &e->ns, &e->type, &e->repository, &e->framework, &e->revision,
                     &e->task, &e->status, &e->url, &e->health_route, &e->created_at,
                     &e->updated_at, &e->message, &e->error_message, &e->raw_json};
  for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
    free(*fields[i]);
    *fields[i] = NULL;
  }
  e->ready_replica = e->target_replica = e->min_replica = e->max_replica = 0;
}

void ep_endpoint_free(ep_endpoint *e) {
  if (!e) return;
  epc_endpoint_clear(e);
  free(e);
}

void ep_endpoint_list_free(ep_endpoint **list, size_t n) {
  if (!list) return;
  for (size_t i = 0; i < n; i++) ep_endpoint_free(list[i]);
  free(list);
}

static char *jstr(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

static int jint(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  return json_is_integer(v) ? (int)json_integer_value(v) : 0;
}

int epc_endpoint_from_json(ep_endpoint *e, json_t *j, const char *ns) {
  if (!json_is_object(j) || !json_is_string(json_object_get(j, "name"))) return EP_CLIENT_EPARSE;
  json_t *model = json_object_get(j, "model"), *status = json_object_get(j, "status");
  json_t *scaling = json_object_get(json_object_get(j, "compute"), "scaling");
  epc_endpoint_clear(e);
  e->name = jstr(j, "name");
  e->ns = ns ? strdup(ns) : NULL;
  e->type = jstr(j, "type");
  e->health_route = jstr(j, "healthRoute");
  e->repository = jstr(model, "repository");
  e->framework = jstr(model, "framework");
  e->revision = jstr(model, "revision");
  e->task = jstr(model, "task");
  e->status = jstr(status, "state");
  e->url = jstr(status, "url");
  e->created_at = jstr(status, "createdAt");
  e->updated_at = jstr(status, "updatedAt");
  e->message = jstr(status, "message");
  e->error_message = jstr(status, "errorMessage");
  e->ready_replica = jint(status, "readyReplica");
  e->target_replica = jint(status, "targetReplica");
  e->min_replica = jint(scaling, "minReplica");
  e->max_replica = jint(scaling, "maxReplica");
  e->raw_json = epc_json_text(j);
  return e->name && e->raw_json ? 0 : EP_CLIENT_ENOMEM;
}
