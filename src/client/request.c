/* libendpoint: one HTTP request on a curl easy handle. Collects the body, or
 * feeds an SSE parser when the answer is a 2xx text/event-stream; maps the
 * outcome to an error code and records status and message on the client.
 * Used by the blocking calls (epc_req_perform) and by ep_multi. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/client-impl.h"

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud) {
  epc_req *r = ud;
  size_t n = size * nmemb;
  static const char key[] = "x-error-message:";
  if (n > sizeof key - 1 && !strncasecmp(p, key, sizeof key - 1)) {
    const char *v = p + sizeof key - 1;
    size_t m = n - (sizeof key - 1);
    while (m && (*v == ' ' || *v == '\t')) v++, m--;
    while (m && (v[m - 1] == '\r' || v[m - 1] == '\n' || v[m - 1] == ' ')) m--;
    free(r->hdr_msg);
    r->hdr_msg = strndup(v, m);
  } else if (n >= 5 && !strncmp(p, "HTTP/", 5)) {
    free(r->hdr_msg); /* a new response (after 100-continue or a redirect) */
    r->hdr_msg = NULL;
  }
  return n;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud) {
  epc_req *r = ud;
  size_t n = size * nmemb;
  if (r->mode == 0) {
    long st = 0;
    char *ct = NULL;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &st);
    curl_easy_getinfo(r->easy, CURLINFO_CONTENT_TYPE, &ct);
    int streaming = r->kind == EPC_TGI_STREAM || r->kind == EPC_CHAT_STREAM;
    r->mode = (streaming && st >= 200 && st < 300 && ct && !strncasecmp(ct, "text/event-stream", 17))
                  ? 2 : 1;
    if (r->kind == EPC_TEXT_STREAM && st >= 200 && st < 300) r->mode = 3;
  }
  if (r->mode == 1) return epc_buf_add(&r->resp, p, n) ? 0 : n;
  if (r->mode == 3) { /* plain text chunks straight to the callback */
    char *t = strndup(p, n);
    if (!t) return 0;
    int stop = r->cb && r->cb(r->ud, t, 0);
    free(t);
    if (stop) r->canceled = 1;
    return stop ? 0 : n;
  }
  return epc_sse_feed(&r->sse, p, n) ? 0 : n;
}

int epc_req_init(epc_req *r, ep_client *c, const char *method, const char *url, const char *body,
                 epc_kind kind) {
  memset(r, 0, sizeof *r);
  r->c = c;
  r->kind = kind;
  epc_sse_init(&r->sse, epc_stream_event, r);
  if (!url) return EP_CLIENT_ENOTDEPLOYED;
  r->easy = curl_easy_init();
  if (!r->easy) return EP_CLIENT_ENOMEM;
  CURL *e = r->easy;
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
  if (c->timeout_ms > 0) curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->curl_err);
  curl_easy_setopt(e, CURLOPT_PRIVATE, r);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  struct curl_slist *h = NULL;
  char auth[4200];
  if (c->token) {
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->token);
    h = curl_slist_append(h, auth);
  }
  h = curl_slist_append(h, "Expect:");
  if (!body && !strcmp(method, "POST")) h = curl_slist_append(h, "Content-Type:");
  if (kind == EPC_TGI_STREAM || kind == EPC_CHAT_STREAM)
    h = curl_slist_append(h, "Accept: text/event-stream");
  if (body) {
    h = curl_slist_append(h, "Content-Type: application/json");
    r->body = strdup(body);
    if (!r->body) return EP_CLIENT_ENOMEM;
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(r->body));
  }
  r->hdrs = h;
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
  if (!strcmp(method, "GET")) curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  else if (!strcmp(method, "POST")) {
    if (!body) { /* empty POST, no content type (pause/resume/scale-to-zero) */
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
    }
  } else {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  }
  return 0;
}

static int result_for_kind(epc_req *r, char **result) {
  int err = 0;
  char *text = NULL;
  switch (r->kind) {
    case EPC_RAW:
      text = strdup(epc_buf_str(&r->resp));
      if (!text) err = EP_CLIENT_ENOMEM;
      break;
    case EPC_TGI: err = epc_parse_tgi(epc_buf_str(&r->resp), &text); break;
    case EPC_CHAT: err = epc_parse_chat(epc_buf_str(&r->resp), &text); break;
    case EPC_TGI_STREAM:
    case EPC_CHAT_STREAM:
      if (r->mode == 1) { /* server ignored stream: parse a plain answer */
        err = r->kind == EPC_TGI_STREAM ? epc_parse_tgi(epc_buf_str(&r->resp), &text)
                                        : epc_parse_chat(epc_buf_str(&r->resp), &text);
        if (!err && r->cb && text && *text && r->cb(r->ud, text, 0)) err = EP_CLIENT_ECANCELED;
        break;
      }
      if (r->kind == EPC_TGI_STREAM && r->final_text) text = strdup(r->final_text);
      else text = strdup(epc_buf_str(&r->text));
      if (!text) err = EP_CLIENT_ENOMEM;
      break;
    case EPC_TEXT_STREAM:
      text = strdup(epc_buf_str(&r->resp)); /* "" unless the answer was not 2xx */
      if (!text) err = EP_CLIENT_ENOMEM;
      break;
  }
  if (err == EP_CLIENT_EPARSE)
    epc_set_error(r->c, err, (int)r->status, "unexpected response body: %.200s",
                  epc_buf_str(&r->resp));
  if (!err && result) *result = text;
  else free(text);
  return err;
}

int epc_req_finish(epc_req *r, CURLcode cc, char **result) {
  ep_client *c = r->c;
  if (result) *result = NULL;
  curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
  c->status = (int)r->status;
  c->msg[0] = 0;
  if (r->mode == 2 && cc == CURLE_OK && !r->canceled && !r->stream_err) epc_sse_finish(&r->sse);
  if (r->canceled) return epc_set_error(c, EP_CLIENT_ECANCELED, (int)r->status, "canceled");
  if (r->stream_err)
    return epc_set_error(c, EP_CLIENT_ESTREAM, (int)r->status, "%s", r->stream_err);
  if (cc != CURLE_OK) {
    const char *m = r->curl_err[0] ? r->curl_err : curl_easy_strerror(cc);
    int err = (cc == CURLE_OPERATION_TIMEDOUT) ? EP_CLIENT_ETIMEOUT
              : (cc == CURLE_OUT_OF_MEMORY)    ? EP_CLIENT_ENOMEM
                                               : EP_CLIENT_ECONN;
    if (r->status && cc == CURLE_WRITE_ERROR) err = EP_CLIENT_ENOMEM;
    return epc_set_error(c, err, (int)r->status, "%s", m);
  }
  int err = epc_status_err(r->status);
  if (err) {
    char *m = r->hdr_msg ? strdup(r->hdr_msg) : epc_error_message(epc_buf_str(&r->resp));
    epc_set_error(c, err, (int)r->status, "%s", m ? m : ep_client_strerror(err));
    free(m);
    return err;
  }
  return result_for_kind(r, result);
}

int epc_req_perform(epc_req *r, char **result) {
  CURLcode cc = curl_easy_perform(r->easy);
  return epc_req_finish(r, cc, result);
}

void epc_req_free(epc_req *r) {
  if (r->easy) curl_easy_cleanup(r->easy);
  curl_slist_free_all(r->hdrs);
  free(r->body);
  free(r->hdr_msg);
  free(r->final_text);
  free(r->stream_err);
  epc_buf_free(&r->resp);
  epc_buf_free(&r->text);
  epc_sse_free(&r->sse);
  memset(r, 0, sizeof *r);
}

int ep_client_request(ep_client *c, const char *method, const char *path, const char *body,
                      char **out_body) {
  if (out_body) *out_body = NULL;
  if (!c || !method || !path || path[0] != '/') return EP_CLIENT_EINVAL;
  size_t n = strlen(c->url) + strlen(path) + 1;
  char *url = malloc(n);
  if (!url) return EP_CLIENT_ENOMEM;
  snprintf(url, n, "%s%s", c->url, path);
  epc_req r;
  int err = epc_req_init(&r, c, method, url, body, EPC_RAW);
  if (!err) err = epc_req_perform(&r, out_body);
  else epc_set_error(c, err, 0, "%s", ep_client_strerror(err));
  epc_req_free(&r);
  free(url);
  return err;
}
