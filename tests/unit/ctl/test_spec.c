/* Spec tests: create validation (statuses and messages), defaults, the PUT
 * deep merge rules of API.md Part A §5, rendering (timestamps, url by state,
 * secret redaction, healthRoute), and the catalog's size mapping. */
#include <jansson.h>
#include <stdlib.h>

#include "ctl/spec.h"
#include "test.h"

static ep_catalog cat(void) {
  ep_catalog c = {4, (int64_t)6 << 30, 0, 8};
  return c;
}

static json_t *J(const char *s) {
  json_error_t e;
  json_t *j = json_loads(s, 0, &e);
  if (!j) fprintf(stderr, "bad test json: %s\n", e.text);
  return j;
}

static int create_status(const char *body) {
  ep_catalog c = cat();
  char name[EP_NAME_MAX];
  ep_spec_err e = {0, ""};
  json_t *b = J(body);
  json_t *s = ep_spec_from_create(&c, b, name, &e);
  json_decref(b);
  if (s) {
    json_decref(s);
    return 0;
  }
  return e.status;
}

static void test_create(void) {
  CHECK_INT(create_status("{\"name\":\"a\",\"model\":{\"repository\":\"gpt2\"}}"), 0);
  CHECK_INT(create_status("{\"model\":{\"repository\":\"gpt2\"}}"), 400);
  CHECK_INT(create_status("{\"name\":\"a\"}"), 400);
  CHECK_INT(create_status("{\"name\":\"a\",\"model\":{\"repository\":\"\"}}"), 400);
  CHECK_INT(create_status("{\"name\":\"a\",\"model\":{\"repository\":\"g\",\"task\":\"nope\"}}"), 422);
  CHECK_INT(create_status("{\"name\":\"a\",\"model\":{\"repository\":\"g\",\"task\":\"feature-extraction\"}}"), 0);
  CHECK_INT(create_status("{\"name\":\"a\",\"type\":\"x\",\"model\":{\"repository\":\"g\"}}"), 400);
  CHECK_INT(create_status("{\"name\":\"a\",\"model\":{\"repository\":\"g\"},"
                          "\"compute\":{\"instanceSize\":\"large\"}}"), 0);
  CHECK_INT(create_status("{\"name\":\"a\",\"model\":{\"repository\":\"g\"},"
                          "\"compute\":{\"scaling\":{\"minReplica\":3,\"maxReplica\":2}}}"), 400);
  CHECK_INT(create_status("{\"name\":\"a\",\"model\":{\"repository\":\"g\"},"
                          "\"compute\":{\"scaling\":{\"maxReplica\":9}}}"), 400);
  CHECK_INT(create_status("{\"name\":\"a\",\"model\":{\"repository\":\"g\"},"
                          "\"compute\":{\"scaling\":{\"scaleToZeroTimeout\":1.5}}}"), 400);
  CHECK_INT(create_status("{\"name\":\"a\",\"model\":{\"repository\":\"g\",\"image\":"
                          "{\"custom\":{\"url\":\"x\"},\"huggingface\":{}}}}"), 400);
  CHECK_INT(create_status("{\"name\":\"a\",\"model\":{\"repository\":\"g\",\"image\":"
                          "{\"custom\":{\"url\":\"x\",\"port\":70000}}}}"), 400);
  CHECK_INT(create_status("{\"name\":\"a\",\"model\":{\"repository\":\"g\",\"image\":"
                          "{\"custom\":{\"url\":\"x\",\"health_route\":\"health\"}}}}"), 400);
  CHECK_INT(create_status("{\"name\":\"a\",\"model\":{\"repository\":\"g\"},\"tags\":[1]}"), 400);
  CHECK_INT(create_status("{\"name\":\"a\",\"model\":{\"repository\":\"g\"},"
                          "\"cacheHttpResponses\":\"no\"}"), 400);
  CHECK_INT(create_status("{\"name\":\"a\",\"model\":{\"repository\":\"g\"},\"compute\":7}"), 400);

  /* the gpu message of Part A §8 */
  ep_catalog c = cat();
  char name[EP_NAME_MAX];
  ep_spec_err e;
  json_t *b = J("{\"name\":\"a\",\"model\":{\"repository\":\"g\"},\"compute\":{\"accelerator\":\"gpu\"}}");
  CHECK(ep_spec_from_create(&c, b, name, &e) == NULL);
  CHECK_STR(e.msg, "accelerator 'gpu' is not available on this deployment");
  json_decref(b);

  /* defaults */
  b = J("{\"name\":\"d\",\"model\":{\"repository\":\"g\"}}");
  json_t *s = ep_spec_from_create(&c, b, name, &e);
  CHECK_STR(name, "d");
  CHECK_STR(json_string_value(json_object_get(s, "type")), "protected");
  CHECK_STR(json_string_value(json_object_get(json_object_get(s, "provider"), "vendor")), "local");
  CHECK_INT(json_integer_value(json_object_get(
                json_object_get(json_object_get(s, "compute"), "scaling"), "maxReplica")), 1);
  CHECK(json_is_null(json_object_get(json_object_get(s, "model"), "task")));
  CHECK(json_object_get(s, "name") == NULL); /* name lives in its column */
  json_decref(b);
  json_decref(s);
}

static void test_merge(void) {
  json_t *dst = J("{\"model\":{\"repository\":\"a\",\"image\":{\"custom\":{\"url\":\"x\"}},"
                  "\"env\":{\"A\":\"1\",\"B\":\"2\"},\"secrets\":{\"S\":\"v\"}},"
                  "\"compute\":{\"scaling\":{\"minReplica\":0,\"maxReplica\":1,"
                  "\"measure\":{\"hardwareUsage\":80}}}}");
  json_t *p = J("{\"model\":{\"repository\":null,\"image\":{\"huggingface\":{}},"
                "\"env\":{\"C\":\"3\"},\"secrets\":{\"S\":\"********\",\"T\":\"new\"}},"
                "\"compute\":{\"scaling\":{\"maxReplica\":4,\"minReplica\":null,"
                "\"measure\":{\"pendingRequests\":2}}}}");
  ep_spec_merge(dst, p);
  json_t *want = J("{\"model\":{\"repository\":\"a\",\"image\":{\"custom\":{\"url\":\"x\"}},"
                   "\"env\":{\"C\":\"3\"},\"secrets\":{\"S\":\"v\",\"T\":\"new\"}},"
                   "\"compute\":{\"scaling\":{\"minReplica\":0,\"maxReplica\":4,"
                   "\"measure\":{\"pendingRequests\":2}}}}");
  CHECK(json_equal(dst, want));
  json_decref(p);
  json_decref(want);
  p = J("{\"model\":{\"image\":{\"tgi\":{\"url\":\"y\"}}}}");
  ep_spec_merge(dst, p);
  want = J("{\"tgi\":{\"url\":\"y\"}}");
  CHECK(json_equal(json_object_get(json_object_get(dst, "model"), "image"), want));
  json_decref(p);
  json_decref(want);
  json_decref(dst);

  /* apply_update validates the merged result and refuses renames */
  ep_catalog c = cat();
  char name[EP_NAME_MAX];
  ep_spec_err e;
  json_t *b = J("{\"name\":\"u\",\"model\":{\"repository\":\"g\"}}");
  json_t *s = ep_spec_from_create(&c, b, name, &e);
  json_t *bad = J("{\"compute\":{\"scaling\":{\"minReplica\":5}}}");
  CHECK(ep_spec_apply_update(&c, s, bad, "u", &e) == NULL);
  CHECK_INT(e.status, 400);
  json_t *ren = J("{\"name\":\"v\"}");
  CHECK(ep_spec_apply_update(&c, s, ren, "u", &e) == NULL);
  json_t *ok = J("{\"name\":\"u\",\"type\":\"public\"}");
  json_t *n = ep_spec_apply_update(&c, s, ok, "u", &e);
  CHECK(n != NULL);
  CHECK_STR(json_string_value(json_object_get(n, "type")), "public");
  CHECK_STR(json_string_value(json_object_get(s, "type")), "protected"); /* input untouched */
  json_decref(n);
  json_decref(ok);
  json_decref(ren);
  json_decref(bad);
  json_decref(s);
  json_decref(b);
}

static void test_render(void) {
  ep_endpoint_row r;
  memset(&r, 0, sizeof r);
  strcpy(r.ns, "alice");
  strcpy(r.name, "e");
  strcpy(r.type, "private");
  strcpy(r.state, "running");
  strcpy(r.created_by, "alice");
  strcpy(r.updated_by, "bob");
  r.created_at = 1700000000123; /* 2023-11-14T22:13:20.123Z (python datetime.utcfromtimestamp) */
  r.updated_at = 1700000000000;
  r.ready_replica = 1;
  r.spec = "{\"model\":{\"repository\":\"g\",\"image\":{\"custom\":{\"url\":\"u\","
           "\"health_route\":\"/ready\",\"credentials\":{\"password\":\"pw\"}}},"
           "\"secrets\":{\"K\":\"secret\"}},\"accountId\":null}";
  json_t *j = ep_spec_render(&r, NULL, "http://h:1");
  json_t *st = json_object_get(j, "status");
  CHECK_STR(json_string_value(json_object_get(st, "createdAt")), "2023-11-14T22:13:20.123Z");
  CHECK_STR(json_string_value(json_object_get(st, "updatedAt")), "2023-11-14T22:13:20.000Z");
  CHECK_STR(json_string_value(json_object_get(st, "url")), "http://h:1/endpoints/alice/e");
  CHECK_STR(json_string_value(json_object_get(json_object_get(st, "updatedBy"), "name")), "bob");
  CHECK_STR(json_string_value(json_object_get(j, "healthRoute")), "/ready");
  char *txt = json_dumps(j, 0);
  CHECK(strstr(txt, "secret\"") == NULL && strstr(txt, "\"pw\"") == NULL);
  CHECK(strstr(txt, "\"K\": \"********\"") != NULL);
  free(txt);
  json_t *m = json_object_get(j, "model");
  CHECK(json_is_null(json_object_get(m, "revision")) && json_is_null(json_object_get(m, "task")));
  CHECK(json_object_get(st, "errorMessage") == NULL);
  json_decref(j);
  static const char *const no_url[] = {"pending", "initializing", "paused", "failed"};
  for (int i = 0; i < 4; i++) {
    strcpy(r.state, no_url[i]);
    j = ep_spec_render(&r, NULL, "http://h:1");
    CHECK(json_is_null(json_object_get(json_object_get(j, "status"), "url")));
    json_decref(j);
  }
  strcpy(r.state, "scaledToZero");
  CHECK(ep_spec_state_has_url(r.state));
  strcpy(r.state, "failed");
  r.error_message = "boom";
  j = ep_spec_render(&r, NULL, "http://h:1");
  CHECK_STR(json_string_value(json_object_get(json_object_get(j, "status"), "errorMessage")), "boom");
  json_decref(j);
}

static void test_catalog(void) {
  ep_catalog c = cat();
  int t;
  int64_t mem;
  CHECK_INT(ep_catalog_instance(&c, "x2", &t, &mem), 0);
  CHECK_INT(t, 2);
  CHECK_INT(mem, (int64_t)4 << 30);
  CHECK_INT(ep_catalog_instance(&c, "xlarge", &t, &mem), 0);
  CHECK_INT(t, 4);                 /* capped by cores */
  CHECK_INT(mem, (int64_t)6 << 30); /* capped by memory */
  CHECK_INT(ep_catalog_instance(&c, "small", &t, &mem), 0);
  CHECK_INT(t, 1);
  CHECK_INT(ep_catalog_instance(&c, "x16", &t, &mem), -1);
  CHECK(ep_catalog_vendor_known("gcp") && !ep_catalog_vendor_known("oci"));
  json_t *j = ep_catalog_json(&c);
  CHECK_INT(json_array_size(json_object_get(j, "vendors")), 4);
  json_decref(j);
}

int main(void) {
  RUN(test_create);
  RUN(test_merge);
  RUN(test_render);
  RUN(test_catalog);
  return t_finish();
}
