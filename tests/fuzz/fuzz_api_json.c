/* libFuzzer driver for the management API's JSON edge (src/ctl/spec.h): the
 * create body validation, the PUT deep merge + revalidation, and rendering of
 * the Endpoint object. Input: "<create body>[\0<update patch>]"; without a NUL
 * the same text is also used as the patch. The patch is applied both to the
 * spec created from the input (when valid) and to a fixed valid spec. */
#include <jansson.h>
#include <string.h>

#include "ctl/spec.h"
#include "fuzz.h"

static const char *k_base =
    "{\"accountId\":null,\"compute\":{\"accelerator\":\"cpu\",\"instanceSize\":\"x1\","
    "\"instanceType\":\"intel-icl\",\"scaling\":{\"maxReplica\":1,\"minReplica\":0}},"
    "\"model\":{\"framework\":\"pytorch\",\"repository\":\"gpt2\",\"revision\":null,"
    "\"task\":\"text-generation\",\"image\":{\"huggingface\":{}},\"env\":{\"A\":\"1\"},"
    "\"secrets\":{\"S\":\"x\"}},\"name\":\"base\",\"provider\":{\"region\":\"us-east-1\","
    "\"vendor\":\"aws\"},\"type\":\"protected\"}";

static void render(json_t *spec, const char *name) {
  ep_endpoint_row row;
  memset(&row, 0, sizeof row);
  snprintf(row.ns, sizeof row.ns, "fuzz");
  snprintf(row.name, sizeof row.name, "%s", name);
  snprintf(row.type, sizeof row.type, "protected");
  snprintf(row.state, sizeof row.state, "running");
  row.spec = json_dumps(spec, JSON_COMPACT);
  row.url = strdup("http://127.0.0.1:1/");
  row.revision = 1;
  json_t *out = ep_spec_render(&row, NULL, "http://127.0.0.1:8080");
  /* every stored secret comes back redacted (a value equal to the marker may stay) */
  json_t *in_sec = json_object_get(json_object_get(spec, "model"), "secrets");
  json_t *out_sec = json_object_get(json_object_get(out, "model"), "secrets");
  const char *k;
  json_t *v;
  json_object_foreach(in_sec, k, v) {
    json_t *r = json_object_get(out_sec, k);
    if (json_is_string(v) && json_is_string(r) && json_equal(v, r) &&
        strcmp(json_string_value(v), EP_SECRET_REDACTED) != 0) {
      char *text = json_dumps(out, JSON_COMPACT);
      fprintf(stderr, "fuzz_api_json: secret value rendered: %s\n", text ? text : "?");
      abort();
    }
  }
  json_decref(out);
  (void)ep_spec_health_route(spec);
  free(row.spec);
  free(row.url);
}

static void update(const ep_catalog *cat, json_t *spec, json_t *patch, const char *name) {
  ep_spec_err e;
  json_t *next = ep_spec_apply_update(cat, spec, patch, name, &e);
  if (next) {
    render(next, name);
    json_decref(next);
  } else if (e.status != 400 && e.status != 422) {
    fprintf(stderr, "fuzz_api_json: update error status %d (%s)\n", e.status, e.msg);
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const ep_catalog cat = {.ncores = 2, .mem_bytes = 8ll << 30, .gpu = 0, .max_replicas = 8};
  const uint8_t *nul = memchr(data, 0, size);
  size_t alen = nul ? (size_t)(nul - data) : size;
  json_error_t jerr;
  json_t *body = json_loadb((const char *)data, alen, JSON_ALLOW_NUL, &jerr);
  json_t *patch = nul ? json_loadb((const char *)nul + 1, size - alen - 1, JSON_ALLOW_NUL, &jerr)
                      : json_incref(body);
  json_t *base_body = json_loads(k_base, 0, &jerr);
  char name[EP_NAME_MAX] = "";
  ep_spec_err e;
  json_t *base = ep_spec_from_create(&cat, base_body, name, &e);
  if (!base) {
    fprintf(stderr, "fuzz_api_json: fixed base spec rejected: %s\n", e.msg);
    abort();
  }
  if (json_is_object(body)) {
    char n2[EP_NAME_MAX] = "";
    json_t *spec = ep_spec_from_create(&cat, body, n2, &e);
    if (spec) {
      if (strlen(n2) >= EP_NAME_MAX) abort();
      render(spec, n2);
      if (json_is_object(patch)) update(&cat, spec, patch, n2);
      json_decref(spec);
    } else if (e.status != 400 && e.status != 422) {
      fprintf(stderr, "fuzz_api_json: create error status %d (%s)\n", e.status, e.msg);
      abort();
    }
  }
  if (json_is_object(patch)) update(&cat, base, patch, name);
  json_decref(base);
  json_decref(base_body);
  json_decref(body);
  json_decref(patch);
  return 0;
}
