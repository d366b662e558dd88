/* Unit tests of libendpoint's URL and JSON building and response parsing:
 * management URLs, huggingface_hub's chat URL rule and health URL rule,
 * create/update bodies (shape of shared/API.md §1.3-1.4), Endpoint parsing
 * (§1.1 example), TGI/chat answers and stream events, error messages. */
#include <stdlib.h>
#include <string.h>

#include "client/client-impl.h"
#include "test.h"

static void check_url(char *got, const char *want) {
  CHECK_STR(got, want);
  free(got);
}

static void test_urls(void) {
  check_url(epc_mgmt_url("http://h:1", "alice", NULL, NULL), "http://h:1/v2/endpoint/alice");
  check_url(epc_mgmt_url("http://h:1", "alice", "my-ep", "scale-to-zero"),
            "http://h:1/v2/endpoint/alice/my-ep/scale-to-zero");
  check_url(epc_mgmt_url("http://h", "a b", "x/y", NULL), "http://h/v2/endpoint/a%20b/x%2Fy");
  /* huggingface_hub _build_chat_completion_url cases (API.md §5.4) */
  check_url(epc_chat_url("http://h/endpoints/a/b"), "http://h/endpoints/a/b/v1/chat/completions");
  check_url(epc_chat_url("http://h/endpoints/a/b/"), "http://h/endpoints/a/b/v1/chat/completions");
  check_url(epc_chat_url("http://h:8/v1"), "http://h:8/v1/chat/completions");
  check_url(epc_chat_url("http://h:8/v1/chat/completions/"), "http://h:8/v1/chat/completions");
  check_url(epc_chat_url("http://h:8"), "http://h:8/v1/chat/completions");
  check_url(epc_chat_url("http://h:8/x?a=1"), "http://h:8/x/v1/chat/completions?a=1");
  /* wait() probe: url.rstrip('/') + '/' + healthRoute.lstrip('/') */
  check_url(epc_health_url("http://h/e/", "/health"), "http://h/e/health");
  check_url(epc_health_url("http://h/e", "ready"), "http://h/e/ready");
}

static char *dump(json_t *j) {
  char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
  json_decref(j);
  return s;
}

static void check_json(json_t *got, const char *want_text) {
  json_t *want = json_loads(want_text, 0, NULL);
  CHECK(want != NULL);
  char *a = dump(got), *b = dump(want);
  CHECK_STR(a, b);
  free(a);
  free(b);
}

static void test_create_body(void) {
  ep_endpoint_create_params p = ep_endpoint_create_default_params();
  p.name = "my-endpoint-name";
  p.repository = "gpt2";
  p.task = "text-generation";
  p.instance_size = "x2";
  p.instance_type = "intel-icl";
  p.vendor = "aws";
  p.region = "us-east-1";
  check_json(epc_create_body(&p),
             "{\"accountId\":null,\"compute\":{\"accelerator\":\"cpu\",\"instanceSize\":\"x2\","
             "\"instanceType\":\"intel-icl\",\"scaling\":{\"maxReplica\":1,\"minReplica\":0,"
             "\"scaleToZeroTimeout\":null}},\"model\":{\"framework\":\"pytorch\",\"repository\":"
             "\"gpt2\",\"revision\":null,\"task\":\"text-generation\",\"image\":{\"huggingface\":{}}},"
             "\"name\":\"my-endpoint-name\",\"provider\":{\"region\":\"us-east-1\",\"vendor\":\"aws\"},"
             "\"type\":\"protected\"}");
  const char *env[] = {"MAX_INPUT_LENGTH=1024", NULL}, *bad[] = {"NOEQUALS", NULL};
  p.task = NULL;
  p.custom_image_url = "ghcr.io/huggingface/text-generation-inference:1.1.0";
  p.env = env;
  p.scale_to_zero_timeout = 15;
  json_t *b = epc_create_body(&p);
  json_t *model = json_object_get(b, "model");
  CHECK(json_object_get(model, "task") == NULL); /* omitted when not given (HEAD) */
  check_json(json_incref(json_object_get(model, "image")),
             "{\"custom\":{\"url\":\"ghcr.io/huggingface/text-generation-inference:1.1.0\","
             "\"healthRoute\":\"/health\"}}");
  check_json(json_incref(json_object_get(model, "env")), "{\"MAX_INPUT_LENGTH\":\"1024\"}");
  CHECK_INT(json_integer_value(json_object_get(
                json_object_get(json_object_get(b, "compute"), "scaling"), "scaleToZeroTimeout")), 15);
  json_decref(b);
  p.env = bad;
  CHECK(epc_create_body(&p) == NULL);
  p.env = NULL;
  p.repository = NULL;
  CHECK(epc_create_body(&p) == NULL);
}

static void test_update_body(void) {
  ep_endpoint_update_params u = ep_endpoint_update_default_params();
  check_json(epc_update_body(&u), "{}");
  u.min_replica = 0;
  u.max_replica = 4;
  u.revision = "abc";
  check_json(epc_update_body(&u),
             "{\"compute\":{\"scaling\":{\"minReplica\":0,\"maxReplica\":4}},"
             "\"model\":{\"revision\":\"abc\"}}");
}

static const char *EXAMPLE =
    "{\"name\":\"my-endpoint-name\",\"type\":\"protected\",\"accountId\":null,"
    "\"provider\":{\"vendor\":\"aws\",\"region\":\"us-east-1\"},\"healthRoute\":\"/health\","
    "\"compute\":{\"accelerator\":\"cpu\",\"instanceType\":\"intel-icl\",\"instanceSize\":\"x2\","
    "\"scaling\":{\"minReplica\":0,\"maxReplica\":1,\"scaleToZeroTimeout\":15}},"
    "\"model\":{\"repository\":\"gpt2\",\"revision\":\"11c5a3d\",\"task\":\"text-generation\","
    "\"framework\":\"pytorch\",\"image\":{\"huggingface\":{}},\"env\":{}},"
    "\"status\":{\"createdAt\":\"2023-10-26T12:41:53.263Z\",\"updatedAt\":\"2023-10-26T12:41:53.263Z\","
    "\"private\":null,\"state\":\"running\",\"message\":\"Endpoint is ready\","
    "\"url\":\"https://x.endpoints.huggingface.cloud\",\"readyReplica\":1,\"targetReplica\":1}}";

static void test_endpoint_parse(void) {
  ep_endpoint e;
  memset(&e, 0, sizeof e);
  json_t *j = json_loads(EXAMPLE, 0, NULL);
  CHECK_INT(epc_endpoint_from_json(&e, j, "alice"), 0);
  CHECK_STR(e.name, "my-endpoint-name");
  CHECK_STR(e.ns, "alice");
  CHECK_STR(e.status, "running");
  CHECK_STR(e.url, "https://x.endpoints.huggingface.cloud");
  CHECK_STR(e.repository, "gpt2");
  CHECK_STR(e.task, "text-generation");
  CHECK_STR(e.health_route, "/health");
  CHECK_STR(e.created_at, "2023-10-26T12:41:53.263Z");
  CHECK_INT(e.ready_replica, 1);
  CHECK_INT(e.max_replica, 1);
  CHECK(e.raw_json && strstr(e.raw_json, "\"instanceType\":\"intel-icl\""));
  /* Refill in place with url null: url becomes NULL, nothing leaks. */
  json_object_set_new(json_object_get(j, "status"), "url", json_null());
  json_object_set_new(json_object_get(j, "status"), "state", json_string("paused"));
  CHECK_INT(epc_endpoint_from_json(&e, j, "alice"), 0);
  CHECK(e.url == NULL);
  CHECK_STR(e.status, "paused");
  json_decref(j);
  j = json_loads("{\"items\":[]}", 0, NULL);
  CHECK_INT(epc_endpoint_from_json(&e, j, NULL), EP_CLIENT_EPARSE);
  json_decref(j);
  epc_endpoint_clear(&e);
}

static void test_gen_bodies(void) {
  ep_gen_params p = ep_gen_default_params();
  check_json(epc_gen_body("Hi", &p, 0), "{\"inputs\":\"Hi\",\"parameters\":{},\"stream\":false}");
  const char *stop[] = {"\n", NULL};
  p.max_new_tokens = 20;
  p.temperature = 0.5;
  p.stop = stop;
  p.do_sample = 1;
  check_json(epc_gen_body("Hi", &p, 1),
             "{\"inputs\":\"Hi\",\"parameters\":{\"max_new_tokens\":20,\"temperature\":0.5,"
             "\"do_sample\":true,\"stop\":[\"\\n\"]},\"stream\":true}");
  ep_chat_message m[] = {{"system", "s"}, {"user", "u"}};
  p.temperature = -1;
  p.stop = NULL;
  p.seed = 42;
  check_json(epc_chat_body(m, 2, &p, 0),
             "{\"model\":\"tgi\",\"messages\":[{\"role\":\"system\",\"content\":\"s\"},"
             "{\"role\":\"user\",\"content\":\"u\"}],\"stream\":false,\"max_tokens\":20,\"seed\":42}");
}

static void test_answers(void) {
  char *s = NULL;
  CHECK_INT(epc_parse_tgi("[{\"generated_text\":\"abc\"}]", &s), 0);
  CHECK_STR(s, "abc");
  free(s);
  CHECK_INT(epc_parse_tgi("{\"generated_text\":\"x\",\"details\":null}", &s), 0);
  CHECK_STR(s, "x");
  free(s);
  CHECK_INT(epc_parse_tgi("[\"abc\"]", &s), EP_CLIENT_EPARSE);
  CHECK_INT(epc_parse_tgi("not json", &s), EP_CLIENT_EPARSE);
  CHECK_INT(epc_parse_chat("{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                           "\"content\":\"Hello!\"},\"finish_reason\":\"stop\"}]}", &s), 0);
  CHECK_STR(s, "Hello!");
  free(s);
  CHECK_INT(epc_parse_chat("{\"choices\":[]}", &s), EP_CLIENT_EPARSE);
}

static void test_stream_events(void) {
  epc_req r;
  memset(&r, 0, sizeof r);
  r.kind = EPC_TGI_STREAM;
  CHECK_INT(epc_stream_event(&r, "{\"token\":{\"id\":1,\"text\":\" a\",\"special\":false},"
                                 "\"generated_text\":null,\"details\":null}"), 0);
  CHECK_INT(epc_stream_event(&r, "{\"token\":{\"id\":2,\"text\":\"</s>\",\"special\":true},"
                                 "\"generated_text\":\"P a\",\"details\":null}"), 0);
  CHECK_STR(epc_buf_str(&r.text), " a");
  CHECK_STR(r.final_text, "P a");
  CHECK(epc_stream_event(&r, "{\"error\":\"oom\",\"error_type\":\"generation\"}") != 0);
  CHECK_STR(r.stream_err, "oom");
  CHECK(epc_stream_event(&r, "[DONE") != 0); /* not JSON */
  epc_req_free(&r);
  memset(&r, 0, sizeof r);
  r.kind = EPC_CHAT_STREAM;
  CHECK_INT(epc_stream_event(&r, "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                                 "\"content\":\"Bo\"},\"finish_reason\":null}]}"), 0);
  CHECK_INT(epc_stream_event(&r, "{\"choices\":[],\"usage\":{\"total_tokens\":3}}"), 0);
  CHECK_INT(epc_stream_event(&r, "[DONE]"), 0);
  CHECK_INT(r.done_seen, 1);
  CHECK_STR(epc_buf_str(&r.text), "Bo");
  CHECK(epc_stream_event(&r, "{}") == 0); /* ignored after [DONE] */
  epc_req_free(&r);
}

static void test_error_messages(void) {
  char *m = epc_error_message("{\"error\":\"Endpoint not found\"}");
  CHECK_STR(m, "Endpoint not found");
  free(m);
  m = epc_error_message("{\"error\":[\"m1\",\"m2\"]}");
  CHECK_STR(m, "m1; m2");
  free(m);
  m = epc_error_message("{\"error\":{\"message\":\"bad\",\"http_status_code\":422}}");
  CHECK_STR(m, "bad");
  free(m);
  m = epc_error_message("{\"errors\":[{\"message\":\"first\"}]}");
  CHECK_STR(m, "first");
  free(m);
  m = epc_error_message("plain text\n");
  CHECK_STR(m, "plain text");
  free(m);
  CHECK(epc_error_message("") == NULL);
  CHECK(epc_error_message("<html>oops</html>") == NULL);
  CHECK_INT(epc_status_err(201), 0);
  CHECK_INT(epc_status_err(404), EP_CLIENT_ENOTFOUND);
  CHECK_INT(epc_status_err(401), EP_CLIENT_EUNAUTH);
  CHECK_INT(epc_status_err(502), EP_CLIENT_EHTTP);
  CHECK_STR(ep_client_strerror(EP_CLIENT_ETIMEOUT), "timed out");
  CHECK_STR(ep_client_strerror(-999), "unknown error");
}

static void test_client_defaults(void) {
  setenv("ENDPOINTD_URL", "http://127.0.0.1:9/", 1);
  setenv("ENDPOINTD_TOKEN", "tok1", 1);
  ep_client *c = NULL;
  CHECK_INT(ep_client_init(&c, NULL), 0);
  CHECK_STR(ep_client_url(c), "http://127.0.0.1:9");
  CHECK_STR(ep_client_token(c), "tok1");
  ep_client_free(c);
  ep_client_params p = ep_client_default_params();
  p.url = "ftp://x";
  CHECK_INT(ep_client_init(&c, &p), EP_CLIENT_EINVAL);
  p.url = "http://a:1";
  p.token = "";
  CHECK_INT(ep_client_init(&c, &p), 0);
  CHECK(ep_client_token(c) == NULL);
  /* data-plane call without URL: distinct not-deployed error, no request */
  char *out = NULL;
  CHECK_INT(ep_text_generation(c, NULL, "x", NULL, &out), EP_CLIENT_ENOTDEPLOYED);
  CHECK(out == NULL);
  ep_client_free(c);
}

int main(void) {
  RUN(test_urls);
  RUN(test_create_body);
  RUN(test_update_body);
  RUN(test_endpoint_parse);
  RUN(test_gen_bodies);
  RUN(test_answers);
  RUN(test_stream_events);
  RUN(test_error_messages);
  RUN(test_client_defaults);
  return t_finish();
}
