/* libendpoint: asynchronous data-plane requests on one curl multi handle,
 * so one thread can keep many generations in flight (the C counterpart of
 * asyncio.gather over AsyncInferenceClient calls). */
#include <stdlib.h>
#include <string.h>

#include "client/client-impl.h"

struct ep_multi {
  ep_client *c;
  CURLM *multi;
  epc_req *reqs; /* in flight, singly linked */
};

int ep_multi_init(ep_client *c, ep_multi **out) {
  if (!c || !out) return EP_CLIENT_EINVAL;
  *out = NULL;
  ep_multi *m = calloc(1, sizeof *m);
  if (!m) return EP_CLIENT_ENOMEM;
  m->c = c;
  m->multi = curl_multi_init();
  if (!m->multi) {
    free(m);
    return EP_CLIENT_ENOMEM;
  }
  curl_multi_setopt(m->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
  *out = m;
  return 0;
}

static void unlink_req(ep_multi *m, epc_req *r) {
  for (epc_req **p = &m->reqs; *p; p = &(*p)->next)
    if (*p == r) {
      *p = r->next;
      return;
    }
}

void ep_multi_free(ep_multi *m) {
  if (!m) return;
  while (m->reqs) {
    epc_req *r = m->reqs;
    m->reqs = r->next;
    curl_multi_remove_handle(m->multi, r->easy);
    epc_req_free(r);
    free(r);
  }
  curl_multi_cleanup(m->multi);
  free(m);
}

static int add(ep_multi *m, const char *url, json_t *body, const char *raw_body, epc_kind kind,
               ep_token_cb cb, ep_done_cb done, void *ud) {
  if (!m) {
    json_decref(body);
    return EP_CLIENT_EINVAL;
  }
  if (!url) {
    json_decref(body);
    return EP_CLIENT_ENOTDEPLOYED;
  }
  char *text = body ? epc_json_text(body) : NULL;
  json_decref(body);
  if (!raw_body && !text) return EP_CLIENT_ENOMEM;
  epc_req *r = calloc(1, sizeof *r);
  int err = r ? epc_req_init(r, m->c, "POST", url, raw_body ? raw_body : text, kind) : EP_CLIENT_ENOMEM;
  free(text);
  if (!err && curl_multi_add_handle(m->multi, r->easy) != CURLM_OK) err = EP_CLIENT_ENOMEM;
  if (err) {
    if (r) epc_req_free(r);
    free(r);
    return err;
  }
  r->cb = cb;
  r->ud = ud;
  r->done = done;
  r->done_ud = ud;
  r->next = m->reqs;
  m->reqs = r;
  return 0;
}

int ep_multi_text_generation(ep_multi *m, const char *url, const char *prompt,
                             const ep_gen_params *p, ep_done_cb done, void *ud) {
  return add(m, url, epc_gen_body(prompt, p, 0), NULL, EPC_TGI, NULL, done, ud);
}

int ep_multi_text_generation_stream(ep_multi *m, const char *url, const char *prompt,
                                    const ep_gen_params *p, ep_token_cb cb, ep_done_cb done,
                                    void *ud) {
  return add(m, url, epc_gen_body(prompt, p, 1), NULL, EPC_TGI_STREAM, cb, done, ud);
}

int ep_multi_chat_completion(ep_multi *m, const char *url, const ep_chat_message *msgs, size_t n,
                             const ep_gen_params *p, ep_done_cb done, void *ud) {
  if (!m || (url && (!msgs || !n))) return EP_CLIENT_EINVAL;
  char *u = url ? epc_chat_url(url) : NULL;
  if (url && !u) return EP_CLIENT_ENOMEM;
  int err = add(m, u, epc_chat_body(msgs, n, p, 0), NULL, EPC_CHAT, NULL, done, ud);
  free(u);
  return err;
}

int ep_multi_post(ep_multi *m, const char *url, const char *json_body, ep_done_cb done, void *ud) {
  if (!json_body) return EP_CLIENT_EINVAL;
  return add(m, url, NULL, json_body, EPC_RAW, NULL, done, ud);
}

int ep_multi_poll(ep_multi *m, int timeout_ms, int *running) {
  if (!m) return EP_CLIENT_EINVAL;
  int still = 0;
  CURLMcode mc = curl_multi_perform(m->multi, &still);
  if (mc == CURLM_OK && still) {
    mc = curl_multi_poll(m->multi, NULL, 0, timeout_ms, NULL);
    if (mc == CURLM_OK) mc = curl_multi_perform(m->multi, &still);
  }
  if (mc != CURLM_OK) return epc_set_error(m->c, EP_CLIENT_ECONN, 0, "%s", curl_multi_strerror(mc));
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(m->multi, &left))) {
    if (msg->msg != CURLMSG_DONE) continue;
    epc_req *r = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
    CURLcode cc = msg->data.result;
    curl_multi_remove_handle(m->multi, msg->easy_handle);
    unlink_req(m, r);
    char *result = NULL;
    int err = epc_req_finish(r, cc, &result);
    if (r->done) r->done(r->done_ud, err, (int)r->status, err ? m->c->msg : result);
    free(result);
    epc_req_free(r);
    free(r);
  }
  if (running) {
    int n = 0;
    for (epc_req *r = m->reqs; r; r = r->next) n++;
    *running = n;
  }
  return 0;
}

int ep_multi_run(ep_multi *m) {
  int running = 1, err = 0;
  while (!err && running) err = ep_multi_poll(m, 1000, &running);
  return err;
}
