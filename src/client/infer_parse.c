/* libendpoint: data-plane JSON: TGI and OpenAI chat request bodies, response
 * parsing (non-stream), and the per-event handler for TGI / chat SSE streams. */
#include <stdlib.h>
#include <string.h>

#include "client/client-impl.h"

ep_gen_params ep_gen_default_params(void) {
  ep_gen_params p;
  memset(&p, 0, sizeof p);
  p.max_new_tokens = -1;
  p.temperature = -1;
  p.top_p = -1;
  p.repetition_penalty = -1;
  p.seed = -1;
  p.do_sample = -1;
  p.return_full_text = -1;
  return p;
}

static json_t *stop_array(const char *const *stop) {
  json_t *a = json_array();
  for (size_t i = 0; stop && stop[i]; i++) json_array_append_new(a, json_string(stop[i]));
  return a;
}

/* {"inputs": prompt, "parameters": {only set values}, "stream": bool} */
json_t *epc_gen_body(const char *prompt, const ep_gen_params *pp, int stream) {
  ep_gen_params p = pp ? *pp : ep_gen_default_params();
  json_t *par = json_object();
  if (p.max_new_tokens >= 0) json_object_set_new(par, "max_new_tokens", json_integer(p.max_new_tokens));
  if (p.temperature >= 0) json_object_set_new(par, "temperature", json_real(p.temperature));
  if (p.top_k > 0) json_object_set_new(par, "top_k", json_integer(p.top_k));
  if (p.top_p >= 0) json_object_set_new(par, "top_p", json_real(p.top_p));
  if (p.repetition_penalty >= 0)
    json_object_set_new(par, "repetition_penalty", json_real(p.repetition_penalty));
  if (p.seed >= 0) json_object_set_new(par, "seed", json_integer(p.seed));
  if (p.do_sample >= 0) json_object_set_new(par, "do_sample", json_boolean(p.do_sample));
  if (p.return_full_text >= 0)
    json_object_set_new(par, "return_full_text", json_boolean(p.return_full_text));
  if (p.stop && p.stop[0]) json_object_set_new(par, "stop", stop_array(p.stop));
  json_t *b = json_object();
  json_object_set_new(b, "inputs", json_string(prompt ? prompt : ""));
  json_object_set_new(b, "parameters", par);
  json_object_set_new(b, "stream", json_boolean(stream));
  return b;
}

json_t *epc_chat_body(const ep_chat_message *msgs, size_t n, const ep_gen_params *pp, int stream) {
  ep_gen_params p = pp ? *pp : ep_gen_default_params();
  json_t *b = json_object();
  json_object_set_new(b, "model", json_string("tgi"));
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) {
    json_t *m = json_object();
    json_object_set_new(m, "role", json_string(msgs[i].role ? msgs[i].role : "user"));
    json_object_set_new(m, "content", json_string(msgs[i].content ? msgs[i].content : ""));
    json_array_append_new(arr, m);
  }
  json_object_set_new(b, "messages", arr);
  json_object_set_new(b, "stream", json_boolean(stream));
  if (p.max_new_tokens >= 0) json_object_set_new(b, "max_tokens", json_integer(p.max_new_tokens));
  if (p.temperature >= 0) json_object_set_new(b, "temperature", json_real(p.temperature));
  if (p.top_p >= 0) json_object_set_new(b, "top_p", json_real(p.top_p));
  if (p.seed >= 0) json_object_set_new(b, "seed", json_integer(p.seed));
  if (p.stop && p.stop[0]) json_object_set_new(b, "stop", stop_array(p.stop));
  return b;
}

static int dup_string(json_t *v, char **out) {
  if (!json_is_string(v)) return EP_CLIENT_EPARSE;
  *out = strdup(json_string_value(v));
  return *out ? 0 : EP_CLIENT_ENOMEM;
}

/* Object {"generated_text"} or array [{"generated_text"}] (TGI compat route). */
int epc_parse_tgi(const char *body, char **out) {
  json_t *j = json_loads(body, JSON_DECODE_ANY, NULL);
  json_t *o = json_is_array(j) ? json_array_get(j, 0) : j;
  int err = dup_string(json_object_get(o, "generated_text"), out);
  json_decref(j);
  return err;
}

int epc_parse_chat(const char *body, char **out) {
  json_t *j = json_loads(body, 0, NULL);
  json_t *msg = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message");
  json_t *content = json_object_get(msg, "content");
  int err = json_is_null(content) && msg ? ((*out = strdup("")) ? 0 : EP_CLIENT_ENOMEM)
                                         : dup_string(content, out);
  json_decref(j);
  return err;
}

static int stream_error(epc_req *r, json_t *e) {
  const char *m = json_is_string(e) ? json_string_value(e)
                  : json_is_string(json_object_get(e, "message"))
                      ? json_string_value(json_object_get(e, "message"))
                      : "error event in stream";
  free(r->stream_err);
  r->stream_err = strdup(m);
  return 1;
}

/* One SSE data payload. Returns non-zero to stop the transfer. */
int epc_stream_event(void *ud, const char *data) {
  epc_req *r = ud;
  if (r->done_seen) return 0;
  if (!strcmp(data, "[DONE]")) {
    r->done_seen = 1;
    return 0;
  }
  json_error_t je;
  json_t *j = json_loads(data, 0, &je);
  if (!json_is_object(j)) {
    json_decref(j);
    free(r->stream_err);
    r->stream_err = strdup("stream event is not a JSON object");
    return 1;
  }
  int rc = 0;
  json_t *e = json_object_get(j, "error");
  if (e && !json_is_null(e)) {
    rc = stream_error(r, e);
  } else if (r->kind == EPC_TGI_STREAM) {
    json_t *tok = json_object_get(j, "token");
    json_t *text = json_object_get(tok, "text");
    int special = json_is_true(json_object_get(tok, "special"));
    if (json_is_string(text)) {
      if (!special && epc_buf_puts(&r->text, json_string_value(text))) rc = 1;
      else if (r->cb && r->cb(r->ud, json_string_value(text), special)) r->canceled = 1, rc = 1;
    }
    json_t *gt = json_object_get(j, "generated_text");
    if (!rc && json_is_string(gt)) {
      free(r->final_text);
      r->final_text = strdup(json_string_value(gt));
    }
  } else {
    json_t *delta = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "delta");
    json_t *content = json_object_get(delta, "content");
    if (json_is_string(content) && *json_string_value(content)) {
      if (epc_buf_puts(&r->text, json_string_value(content))) rc = 1;
      else if (r->cb && r->cb(r->ud, json_string_value(content), 0)) r->canceled = 1, rc = 1;
    }
  }
  json_decref(j);
  return rc;
}
