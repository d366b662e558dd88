/* libendpoint: blocking data-plane calls: TGI text generation (plain and
 * streaming), OpenAI chat (plain and streaming), TEI feature extraction and
 * text classification. */
#include <stdlib.h>
#include <string.h>

#include "client/client-impl.h"

static int run(ep_client *c, const char *url, json_t *body, epc_kind kind, ep_token_cb cb, void *ud,
               char **out) {
  if (out) *out = NULL;
  if (!c) {
    json_decref(body);
    return EP_CLIENT_EINVAL;
  }
  if (!url) {
    json_decref(body);
    return epc_set_error(c, EP_CLIENT_ENOTDEPLOYED, 0,
                         "endpoint is not deployed yet (no URL); wait for it to be running");
  }
  char *text = epc_json_text(body);
  json_decref(body);
  if (!text) return epc_set_error(c, EP_CLIENT_ENOMEM, 0, "out of memory");
  epc_req r;
  int err = epc_req_init(&r, c, "POST", url, text, kind);
  r.cb = cb;
  r.ud = ud;
  if (!err) err = epc_req_perform(&r, out);
  else epc_set_error(c, err, 0, "%s", ep_client_strerror(err));
  epc_req_free(&r);
  free(text);
  return err;
}

int ep_text_generation(ep_client *c, const char *url, const char *prompt, const ep_gen_params *p,
                       char **out_text) {
  return run(c, url, epc_gen_body(prompt, p, 0), EPC_TGI, NULL, NULL, out_text);
}

int ep_text_generation_stream(ep_client *c, const char *url, const char *prompt,
                              const ep_gen_params *p, ep_token_cb cb, void *ud, char **out_text) {
  return run(c, url, epc_gen_body(prompt, p, 1), EPC_TGI_STREAM, cb, ud, out_text);
}

static int chat(ep_client *c, const char *url, const ep_chat_message *msgs, size_t n,
                const ep_gen_params *p, int stream, ep_token_cb cb, void *ud, char **out) {
  if (out) *out = NULL;
  if (c && url && (!msgs || !n))
    return epc_set_error(c, EP_CLIENT_EINVAL, 0, "at least one chat message is required");
  char *u = url ? epc_chat_url(url) : NULL;
  if (url && !u) return epc_set_error(c, EP_CLIENT_ENOMEM, 0, "out of memory");
  int err = run(c, u, epc_chat_body(msgs, n, p, stream), stream ? EPC_CHAT_STREAM : EPC_CHAT, cb,
                ud, out);
  free(u);
  return err;
}

int ep_chat_completion(ep_client *c, const char *url, const ep_chat_message *msgs, size_t n,
                       const ep_gen_params *p, char **out_text) {
  return chat(c, url, msgs, n, p, 0, NULL, NULL, out_text);
}

int ep_chat_completion_stream(ep_client *c, const char *url, const ep_chat_message *msgs,
                              size_t n, const ep_gen_params *p, ep_token_cb cb, void *ud,
                              char **out_text) {
  return chat(c, url, msgs, n, p, 1, cb, ud, out_text);
}

static json_t *inputs_body(const char *const *inputs, size_t n) {
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(arr, json_string(inputs[i] ? inputs[i] : ""));
  json_t *b = json_object();
  json_object_set_new(b, "inputs", arr);
  return b;
}

int ep_feature_extraction(ep_client *c, const char *url, const char *const *inputs, size_t n,
                          float **out, size_t *rows, size_t *dim) {
  if (!c || !out || !rows || !dim || (n && !inputs)) return EP_CLIENT_EINVAL;
  *out = NULL;
  *rows = *dim = 0;
  char *resp = NULL;
  int err = run(c, url, inputs_body(inputs, n), EPC_RAW, NULL, NULL, &resp);
  if (err) return err;
  json_t *j = json_loads(resp, 0, NULL);
  /* TEI: 2-D [[f,...],...]; accept a flat [f,...] as one row. */
  json_t *first = json_array_get(j, 0);
  size_t r = json_is_array(first) ? json_array_size(j) : 1;
  size_t d = json_is_array(first) ? json_array_size(first) : json_array_size(j);
  if (!json_is_array(j) || !r || !d) err = EP_CLIENT_EPARSE;
  float *v = err ? NULL : malloc(r * d * sizeof *v);
  if (!err && !v) err = EP_CLIENT_ENOMEM;
  for (size_t i = 0; !err && i < r; i++) {
    json_t *row = json_is_array(first) ? json_array_get(j, i) : j;
    if (!json_is_array(row) || json_array_size(row) != d) err = EP_CLIENT_EPARSE;
    for (size_t k = 0; !err && k < d; k++) {
      json_t *x = json_array_get(row, k);
      if (!json_is_number(x)) err = EP_CLIENT_EPARSE;
      else v[i * d + k] = (float)json_number_value(x);
    }
  }
  if (err == EP_CLIENT_EPARSE)
    epc_set_error(c, err, c->status, "embedding answer is not a 2-D number array: %.200s", resp);
  json_decref(j);
  free(resp);
  if (err) {
    free(v);
    return err;
  }
  *out = v;
  *rows = r;
  *dim = d;
  return 0;
}

void ep_label_scores_free(ep_label_score *l, size_t n) {
  for (size_t i = 0; l && i < n; i++) free(l[i].label);
  free(l);
}

int ep_text_classification(ep_client *c, const char *url, const char *text, ep_label_score **out,
                           size_t *n) {
  if (!c || !out || !n) return EP_CLIENT_EINVAL;
  *out = NULL;
  *n = 0;
  json_t *b = json_object();
  json_object_set_new(b, "inputs", json_string(text ? text : ""));
  char *resp = NULL;
  int err = run(c, url, b, EPC_RAW, NULL, NULL, &resp);
  if (err) return err;
  json_t *j = json_loads(resp, 0, NULL);
  json_t *list = json_is_array(json_array_get(j, 0)) ? json_array_get(j, 0) : j; /* [[..]] or [..] */
  size_t cnt = json_array_size(list);
  ep_label_score *l = json_is_array(list) && cnt ? calloc(cnt, sizeof *l) : NULL;
  if (!json_is_array(list) || !cnt) err = EP_CLIENT_EPARSE;
  else if (!l) err = EP_CLIENT_ENOMEM;
  for (size_t i = 0; !err && i < cnt; i++) {
    json_t *o = json_array_get(list, i);
    json_t *lab = json_object_get(o, "label"), *sc = json_object_get(o, "score");
    if (!json_is_string(lab) || !json_is_number(sc)) err = EP_CLIENT_EPARSE;
    else if (!(l[i].label = strdup(json_string_value(lab)))) err = EP_CLIENT_ENOMEM;
    else l[i].score = json_number_value(sc);
  }
  if (err == EP_CLIENT_EPARSE)
    epc_set_error(c, err, c->status, "classification answer is not [[{label,score}]]: %.200s", resp);
  json_decref(j);
  free(resp);
  if (err) {
    ep_label_scores_free(l, cnt);
    return err;
  }
  *out = l;
  *n = cnt;
  return 0;
}
