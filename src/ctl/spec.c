/* Create-body validation, canonical defaults and the PUT deep merge for
 * endpoint specs (see spec.h). Error texts name the offending JSON path. */
#include "ctl/spec.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"

static int fail(ep_spec_err *e, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(ep_spec_err *e, int status, const char *fmt, ...) {
  e->status = status;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  return -1;
}

static const char *const k_tasks[] = {
    "text-generation", "text2text-generation", "feature-extraction", "sentence-similarity",
    "text-classification", "sentence-embeddings", "sentence-ranking", "text-ranking",
    "fill-mask", "token-classification", "question-answering", "zero-shot-classification",
    "summarization", "translation", "conversational", "custom", NULL};

int ep_spec_task_known(const char *task) {
  for (int i = 0; k_tasks[i]; i++)
    if (!strcmp(task, k_tasks[i])) return 1;
  return 0;
}

static const char *const k_types[] = {"public", "protected", "authenticated", "private", NULL};

/* [a-z0-9-]{1,32}, or with extra=1 also [A-Za-z0-9._-]{1,64} */
static int label_ok(const char *s, int extra) {
  size_t n = strlen(s), max = extra ? 64 : 32;
  if (n < 1 || n > max) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (extra) ok = ok || (c >= 'A' && c <= 'Z') || c == '.' || c == '_';
    if (!ok) return 0;
  }
  return 1;
}

/* Key lookup that treats JSON null like absence. */
static json_t *get(json_t *o, const char *k) {
  json_t *v = json_is_object(o) ? json_object_get(o, k) : NULL;
  return json_is_null(v) ? NULL : v;
}

static int want_obj(ep_spec_err *e, json_t *o, const char *k, const char *path, json_t **out) {
  json_t *v = get(o, k);
  *out = v;
  if (v && !json_is_object(v)) return fail(e, 400, "%s must be an object", path);
  return 0;
}

static int want_str(ep_spec_err *e, json_t *o, const char *k, const char *path, int required,
                    const char **out) {
  json_t *v = get(o, k);
  *out = NULL;
  if (!v) return required ? fail(e, 400, "%s is required", path) : 0;
  if (!json_is_string(v)) return fail(e, 400, "%s must be a string", path);
  *out = json_string_value(v);
  return 0;
}

static int want_int(ep_spec_err *e, json_t *o, const char *k, const char *path, int64_t lo,
                    int64_t hi, int64_t *out, int *present) {
  json_t *v = get(o, k);
  *present = v != NULL;
  if (!v) return 0;
  if (!json_is_integer(v)) return fail(e, 400, "%s must be an integer", path);
  *out = json_integer_value(v);
  if (*out < lo || *out > hi)
    return fail(e, 400, "%s must be between %lld and %lld", path, (long long)lo, (long long)hi);
  return 0;
}

static int str_map(ep_spec_err *e, json_t *o, const char *k, const char *path) {
  json_t *v = get(o, k);
  if (!v) return 0;
  if (!json_is_object(v)) return fail(e, 400, "%s must be an object of strings", path);
  const char *key;
  json_t *val;
  json_object_foreach(v, key, val) {
    if (!json_is_string(val)) return fail(e, 400, "%s.%s must be a string", path, key);
  }
  return 0;
}

static int str_array(ep_spec_err *e, json_t *o, const char *k, const char *path) {
  json_t *v = get(o, k);
  if (!v) return 0;
  if (!json_is_array(v)) return fail(e, 400, "%s must be an array of strings", path);
  size_t i;
  json_t *x;
  json_array_foreach(v, i, x) {
    if (!json_is_string(x)) return fail(e, 400, "%s[%zu] must be a string", path, i);
  }
  return 0;
}

static int route_path_ok(ep_spec_err *e, json_t *o, const char *k, const char *path) {
  const char *s;
  if (want_str(e, o, k, path, 0, &s)) return -1;
  if (s && (s[0] != '/' || strlen(s) > 256))
    return fail(e, 400, "%s must be a path starting with '/'", path);
  return 0;
}

static int validate_image(ep_spec_err *e, json_t *img) {
  if (!json_is_object(img)) return fail(e, 400, "model.image must be an object");
  if (json_object_size(img) != 1)
    return fail(e, 400, "model.image must have exactly one key (huggingface, custom, tgi, ...)");
  const char *variant = json_object_iter_key(json_object_iter(img));
  json_t *v = json_object_iter_value(json_object_iter(img));
  if (!json_is_object(v)) return fail(e, 400, "model.image.%s must be an object", variant);
  if (!strcmp(variant, "huggingface")) return 0;
  char p[96];
  snprintf(p, sizeof p, "model.image.%s.url", variant);
  const char *url;
  if (want_str(e, v, "url", p, !strcmp(variant, "custom"), &url)) return -1;
  if (url && !*url) return fail(e, 400, "%s must not be empty", p);
  snprintf(p, sizeof p, "model.image.%s.healthRoute", variant);
  if (route_path_ok(e, v, "healthRoute", p)) return -1;
  snprintf(p, sizeof p, "model.image.%s.health_route", variant);
  if (route_path_ok(e, v, "health_route", p)) return -1;
  snprintf(p, sizeof p, "model.image.%s.port", variant);
  int64_t port;
  int has;
  if (want_int(e, v, "port", p, 1, 65535, &port, &has)) return -1;
  snprintf(p, sizeof p, "model.image.%s.env", variant);
  if (str_map(e, v, "env", p)) return -1;
  json_t *cred;
  snprintf(p, sizeof p, "model.image.%s.credentials", variant);
  return want_obj(e, v, "credentials", p, &cred);
}

static int validate_compute(const ep_catalog *cat, json_t *spec, ep_spec_err *e) {
  json_t *c, *sc;
  const char *s;
  if (want_obj(e, spec, "compute", "compute", &c)) return -1;
  if (want_str(e, c, "accelerator", "compute.accelerator", 1, &s)) return -1;
  if (!strcmp(s, "gpu")) {
    if (!cat->gpu) return fail(e, 400, "accelerator 'gpu' is not available on this deployment");
  } else if (strcmp(s, "cpu")) {
    return fail(e, 400, "compute.accelerator '%.64s' is unknown (use cpu)", s);
  }
  if (want_str(e, c, "instanceSize", "compute.instanceSize", 1, &s)) return -1;
  int threads;
  int64_t mem;
  if (ep_catalog_instance(cat, s, &threads, &mem))
    return fail(e, 400,
                "compute.instanceSize '%.64s' is unknown (use x1, x2, x4, x8, small, medium, "
                "large or xlarge)", s);
  if (want_str(e, c, "instanceType", "compute.instanceType", 1, &s)) return -1;
  if (!label_ok(s, 1)) return fail(e, 400, "compute.instanceType '%.64s' is not a valid label", s);
  if (want_obj(e, c, "scaling", "compute.scaling", &sc)) return -1;
  if (!sc) return fail(e, 400, "compute.scaling is required");
  int64_t mn = 0, mx = 1, tmo;
  int has_mn, has_mx, has_t;
  if (want_int(e, sc, "minReplica", "compute.scaling.minReplica", 0, cat->max_replicas, &mn,
               &has_mn) ||
      want_int(e, sc, "maxReplica", "compute.scaling.maxReplica", 1, cat->max_replicas, &mx,
               &has_mx) ||
      want_int(e, sc, "scaleToZeroTimeout", "compute.scaling.scaleToZeroTimeout", 0,
               525600, &tmo, &has_t))
    return -1;
  if (mn > mx)
    return fail(e, 400, "compute.scaling.minReplica (%lld) must not exceed maxReplica (%lld)",
                (long long)mn, (long long)mx);
  json_t *m = get(sc, "measure");
  if (m) {
    if (!json_is_object(m)) return fail(e, 400, "compute.scaling.measure must be an object");
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v) {
      if (strcmp(k, "pendingRequests") && strcmp(k, "hardwareUsage"))
        return fail(e, 400, "compute.scaling.measure.%.64s is unknown", k);
      if (!json_is_null(v) && !json_is_number(v))
        return fail(e, 400, "compute.scaling.measure.%.64s must be a number", k);
    }
  }
  return 0;
}

static int validate_model(json_t *spec, ep_spec_err *e) {
  json_t *m;
  const char *s;
  if (want_obj(e, spec, "model", "model", &m)) return -1;
  if (!m) return fail(e, 400, "model is required");
  if (want_str(e, m, "repository", "model.repository", 1, &s)) return -1;
  if (!*s || strlen(s) > 1024) return fail(e, 400, "model.repository must not be empty");
  if (want_str(e, m, "revision", "model.revision", 0, &s)) return -1;
  if (want_str(e, m, "framework", "model.framework", 1, &s)) return -1;
  if (want_str(e, m, "task", "model.task", 0, &s)) return -1;
  if (s && !ep_spec_task_known(s)) return fail(e, 422, "task '%.64s' is not supported", s);
  json_t *img = get(m, "image");
  if (!img) return fail(e, 400, "model.image is required");
  if (validate_image(e, img)) return -1;
  if (str_map(e, m, "env", "model.env") || str_map(e, m, "secrets", "model.secrets") ||
      str_array(e, m, "command", "model.command") || str_array(e, m, "args", "model.args"))
    return -1;
  return 0;
}

int ep_spec_validate(const ep_catalog *cat, json_t *spec, ep_spec_err *e) {
  const char *s;
  json_t *o;
  if (!json_is_object(spec)) return fail(e, 400, "request body must be a JSON object");
  if (want_str(e, spec, "type", "type", 1, &s)) return -1;
  int ok = 0;
  for (int i = 0; k_types[i]; i++) ok |= !strcmp(s, k_types[i]);
  if (!ok)
    return fail(e, 400, "type '%.32s' is invalid (public, protected, authenticated, private)", s);
  if (want_str(e, spec, "accountId", "accountId", 0, &s)) return -1;
  if (want_obj(e, spec, "provider", "provider", &o)) return -1;
  if (!o) return fail(e, 400, "provider is required");
  if (want_str(e, o, "vendor", "provider.vendor", 1, &s)) return -1;
  if (!ep_catalog_vendor_known(s))
    return fail(e, 400, "provider.vendor '%.32s' is not available (local, aws, azure, gcp)", s);
  if (want_str(e, o, "region", "provider.region", 1, &s)) return -1;
  if (!label_ok(s, 0)) return fail(e, 400, "provider.region '%.64s' is not a valid label", s);
  if (validate_compute(cat, spec, e) || validate_model(spec, e)) return -1;
  if (route_path_ok(e, spec, "healthRoute", "healthRoute")) return -1;
  if (want_obj(e, spec, "route", "route", &o)) return -1;
  if (o && (want_str(e, o, "domain", "route.domain", 0, &s) ||
            want_str(e, o, "path", "route.path", 0, &s)))
    return -1;
  json_t *c = get(spec, "cacheHttpResponses");
  if (c && !json_is_boolean(c)) return fail(e, 400, "cacheHttpResponses must be a boolean");
  return str_array(e, spec, "tags", "tags");
}

/* ---- merge ------------------------------------------------------------------ */
static int is_default_image(json_t *v) {
  json_t *hf = json_object_get(v, "huggingface");
  return json_is_object(v) && json_object_size(v) == 1 && json_is_object(hf) &&
         json_object_size(hf) == 0;
}

/* Keys whose object value is replaced whole rather than merged key by key. */
static int replace_whole(int depth, const char *parent, const char *key) {
  if (depth == 1 && !strcmp(parent, "model"))
    return !strcmp(key, "image") || !strcmp(key, "env");
  if (depth == 2 && !strcmp(parent, "scaling")) return !strcmp(key, "measure");
  return 0;
}

static void merge_rec(json_t *dst, json_t *patch, int depth, const char *parent) {
  const char *k;
  json_t *v;
  json_object_foreach(patch, k, v) {
    if (json_is_null(v)) continue;
    json_t *cur = json_object_get(dst, k);
    if (depth == 1 && !strcmp(parent, "model") && !strcmp(k, "image") && is_default_image(v) &&
        json_is_object(cur))
      continue; /* v0.19-v0.24 clients always send {"huggingface": {}} */
    if (depth == 1 && !strcmp(parent, "model") && !strcmp(k, "secrets") && json_is_object(v)) {
      json_t *n = json_deep_copy(v);
      const char *sk;
      json_t *sv;
      json_object_foreach(n, sk, sv) {
        json_t *old = json_object_get(cur, sk);
        if (json_is_string(sv) && !strcmp(json_string_value(sv), EP_SECRET_REDACTED) && old)
          json_object_set(n, sk, old);
      }
      json_object_set_new(dst, k, n);
      continue;
    }
    if (json_is_object(v) && json_is_object(cur) && !replace_whole(depth, parent, k))
      merge_rec(cur, v, depth + 1, k);
    else
      json_object_set_new(dst, k, json_deep_copy(v));
  }
}

void ep_spec_merge(json_t *dst, json_t *patch) {
  if (json_is_object(dst) && json_is_object(patch)) merge_rec(dst, patch, 0, "");
}

static const char *const k_top_keys[] = {"type", "accountId", "provider", "compute", "model",
                                         "route", "cacheHttpResponses", "tags", "healthRoute",
                                         NULL};

/* Copies only the spec keys of a request body (name, status, unknown keys dropped). */
static json_t *spec_part(json_t *body) {
  json_t *o = json_object();
  for (int i = 0; k_top_keys[i]; i++) {
    json_t *v = json_object_get(body, k_top_keys[i]);
    if (v) json_object_set(o, k_top_keys[i], v);
  }
  return o;
}

json_t *ep_spec_from_create(const ep_catalog *cat, json_t *body, char *name_out,
                            ep_spec_err *e) {
  if (!json_is_object(body)) {
    fail(e, 400, "request body must be a JSON object");
    return NULL;
  }
  const char *name;
  if (want_str(e, body, "name", "name", 1, &name)) return NULL;
  if (!ep_auth_name_valid(name)) {
    fail(e, 400,
         "name '%.40s' is invalid: 1-32 characters of a-z, 0-9 and '-', starting with a letter "
         "or digit", name);
    return NULL;
  }
  snprintf(name_out, EP_NAME_MAX, "%s", name);
  json_t *m = json_object_get(body, "model");
  if (!json_is_object(m) || !json_is_string(json_object_get(m, "repository"))) {
    fail(e, 400, json_is_object(m) || !m || json_is_null(m) ? "model.repository is required"
                                                           : "model must be an object");
    return NULL;
  }
  json_t *spec = json_pack(
      "{s:s, s:n, s:{s:s, s:s}, s:{s:s, s:s, s:s, s:{s:i, s:i, s:n}},"
      " s:{s:n, s:n, s:n, s:s, s:{s:{}}, s:{}, s:{}}}",
      "type", "protected", "accountId", "provider", "vendor", "local", "region", "local",
      "compute", "accelerator", "cpu", "instanceType", "cpu", "instanceSize", "x1", "scaling",
      "minReplica", 1, "maxReplica", 1, "scaleToZeroTimeout", "model", "repository", "revision",
      "task", "framework", "pytorch", "image", "huggingface", "env", "secrets");
  json_t *part = spec_part(body);
  /* type errors in sub-objects surface in validation, not as silent merges */
  for (int i = 0; k_top_keys[i]; i++) {
    json_t *v = json_object_get(part, k_top_keys[i]);
    json_t *d = json_object_get(spec, k_top_keys[i]);
    if (v && !json_is_null(v) && json_is_object(d) && !json_is_object(v)) {
      fail(e, 400, "%s must be an object", k_top_keys[i]);
      json_decref(part);
      json_decref(spec);
      return NULL;
    }
  }
  ep_spec_merge(spec, part);
  json_decref(part);
  if (ep_spec_validate(cat, spec, e)) {
    json_decref(spec);
    return NULL;
  }
  return spec;
}

json_t *ep_spec_apply_update(const ep_catalog *cat, json_t *spec, json_t *patch,
                             const char *name, ep_spec_err *e) {
  if (!json_is_object(patch)) {
    fail(e, 400, "request body must be a JSON object");
    return NULL;
  }
  json_t *nm = get(patch, "name");
  if (nm && (!json_is_string(nm) || strcmp(json_string_value(nm), name))) {
    fail(e, 400, "the endpoint name cannot be changed");
    return NULL;
  }
  json_t *part = spec_part(patch);
  for (int i = 0; k_top_keys[i]; i++) {
    json_t *v = json_object_get(part, k_top_keys[i]);
    json_t *d = json_object_get(spec, k_top_keys[i]);
    if (v && !json_is_null(v) && json_is_object(d) && !json_is_object(v)) {
      fail(e, 400, "%s must be an object", k_top_keys[i]);
      json_decref(part);
      return NULL;
    }
  }
  json_t *out = json_deep_copy(spec);
  ep_spec_merge(out, part);
  json_decref(part);
  if (ep_spec_validate(cat, out, e)) {
    json_decref(out);
    return NULL;
  }
  return out;
}

const char *ep_spec_health_route(json_t *spec) {
  json_t *h = json_object_get(spec, "healthRoute");
  if (json_is_string(h)) return json_string_value(h);
  json_t *img = json_object_get(json_object_get(spec, "model"), "image");
  if (json_is_object(img) && json_object_size(img) == 1) {
    json_t *v = json_object_iter_value(json_object_iter(img));
    h = json_object_get(v, "healthRoute");
    if (!json_is_string(h)) h = json_object_get(v, "health_route");
    if (json_is_string(h)) return json_string_value(h);
  }
  return "/health";
}
