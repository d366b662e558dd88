/* TGI routes: POST /generate (object), POST / (compat: one-element array, or
 * SSE with "stream": true), POST /generate_stream (SSE, no [DONE]) and
 * POST /tokenize. Key sets follow TGI 1.1 exactly (no `index`, no
 * `input_length`, `top_tokens` only when asked) because huggingface_hub v0.19
 * builds strict dataclasses from them. */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "rt/server-impl.h"

static json_t *token_json(const ep_gen_token *t) {
  return json_pack("{s:i,s:s,s:o,s:b}", "id", (int)t->id, "text", t->text ? t->text : "",
                   "logprob", rt_jreal(t->logprob), "special", t->special);
}

static json_t *top_json(const ep_gen_req *g, const ep_gen_token *t) {
  json_t *a = json_array();
  for (int k = 0; t->top && k < g->top_n; k++)
    json_array_append_new(a, json_pack("{s:i,s:s,s:o,s:b}", "id", (int)t->top[k].id, "text",
                                       t->top[k].text ? t->top[k].text : "", "logprob",
                                       rt_jreal(t->top[k].logprob), "special", 0));
  return a;
}

static json_t *seed_json(const ep_gen_req *g) {
  return g->sp.do_sample ? json_integer((json_int_t)g->sp.seed) : json_null();
}

static char *full_text(const rt_job *j) {
  const char *gen = j->g->text ? j->g->text : "";
  if (!j->return_full_text || !j->prompt) return strdup(gen);
  size_t a = strlen(j->prompt), b = strlen(gen);
  char *s = malloc(a + b + 1);
  if (!s) return NULL;
  memcpy(s, j->prompt, a);
  memcpy(s + a, gen, b + 1);
  return s;
}

static void send_event(ep_http_req *req, json_t *ev) {
  char *s = json_dumps(ev, JSON_COMPACT | JSON_REAL_PRECISION(9));
  json_decref(ev);
  if (s) ep_http_sse_data(req, s);
  free(s);
}

void rt_tgi_emit(rt_job *j, size_t from, size_t to) {
  ep_gen_req *g = j->g;
  for (size_t i = from; i < to; i++) {
    json_t *ev = json_pack("{s:o,s:n,s:n}", "token", token_json(&g->toks[i]), "generated_text",
                           "details");
    if (g->top_n > 0) json_object_set_new(ev, "top_tokens", top_json(g, &g->toks[i]));
    send_event(j->http, ev);
  }
}

static void finish_error(rt_job *j, int stream) {
  ep_gen_req *g = j->g;
  const char *type = g->finish == EP_FINISH_CANCELED ? "incomplete_generation" : "generation";
  const char *msg = g->finish == EP_FINISH_CANCELED ? "Incomplete generation" : g->errmsg;
  if (stream) {
    json_t *e = json_pack("{s:s,s:s}", "error", msg, "error_type", type);
    send_event(j->http, e);
    ep_http_stream_end(j->http);
  } else {
    rt_error(j->http, g->finish == EP_FINISH_CANCELED ? 500 : 424, type, "%s", msg);
  }
}

void rt_tgi_finish(rt_job *j) {
  ep_gen_req *g = j->g;
  int stream = j->kind == JOB_TGI_STREAM;
  if (g->finish == EP_FINISH_ERROR || g->finish == EP_FINISH_CANCELED || g->n_pub == 0) {
    finish_error(j, stream);
    return;
  }
  char *text = full_text(j);
  if (stream) {
    const ep_gen_token *t = &g->toks[g->n_pub - 1];
    json_t *details = j->details ? json_pack("{s:s,s:i,s:o}", "finish_reason",
                                             ep_finish_str(g->finish), "generated_tokens",
                                             (int)g->n_pub, "seed", seed_json(g))
                                 : json_null();
    json_t *ev = json_pack("{s:o,s:s,s:o}", "token", token_json(t), "generated_text",
                           text ? text : "", "details", details);
    if (g->top_n > 0) json_object_set_new(ev, "top_tokens", top_json(g, t));
    send_event(j->http, ev);
    ep_http_stream_end(j->http);
    free(text);
    return;
  }
  json_t *resp = json_pack("{s:s}", "generated_text", text ? text : "");
  free(text);
  if (j->details) {
    json_t *prefill = json_array(), *toks = json_array();
    if (g->want_prefill && g->prefill)
      for (size_t i = 0; i < g->n_input; i++)
        json_array_append_new(prefill, json_pack("{s:i,s:s,s:o}", "id", (int)g->prefill[i].id,
                                                 "text", g->prefill[i].text ? g->prefill[i].text : "",
                                                 "logprob", rt_jreal(g->prefill[i].logprob)));
    for (size_t i = 0; i < g->n_pub; i++) json_array_append_new(toks, token_json(&g->toks[i]));
    json_t *d = json_pack("{s:s,s:i,s:o,s:o,s:o}", "finish_reason", ep_finish_str(g->finish),
                          "generated_tokens", (int)g->n_pub, "seed", seed_json(g), "prefill",
                          prefill, "tokens", toks);
    if (g->top_n > 0) {
      json_t *tt = json_array();
      for (size_t i = 0; i < g->n_pub; i++) json_array_append_new(tt, top_json(g, &g->toks[i]));
      json_object_set_new(d, "top_tokens", tt);
    }
    json_object_set_new(resp, "details", d);
  }
  if (j->kind == JOB_COMPAT) {
    json_t *arr = json_array();
    json_array_append_new(arr, resp);
    resp = arr;
  }
  rt_add_timing_headers(j);
  ep_http_respond_json(j->http, 200, resp);
}

json_t *rt_parse_body(ep_http_req *req) {
  json_error_t je;
  json_t *b = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
  if (!b) {
    rt_error(req, 400, "validation", "Failed to parse the request body as JSON: %s", je.text);
    return NULL;
  }
  if (!json_is_object(b)) {
    json_decref(b);
    rt_error(req, 422, "validation",
             "Failed to deserialize the JSON body into the target type: expected an object");
    return NULL;
  }
  return b;
}

void rt_route_generate(ep_rt *rt, ep_http_req *req, int compat, int stream_route) {
  json_t *b = rt_parse_body(req);
  if (!b) {
    rt->m.failure_validation++;
    return;
  }
  char err[512];
  const char *etype = "validation";
  json_t *in = json_object_get(b, "inputs");
  if (!in || !json_is_string(in)) {
    rt->m.failure_validation++;
    rt_error(req, 422, "validation",
             in ? "Failed to deserialize the JSON body into the target type: inputs: invalid type, "
                  "expected a string"
                : "Failed to deserialize the JSON body into the target type: missing field `inputs`");
    json_decref(b);
    return;
  }
  int stream = stream_route;
  json_t *sv = json_object_get(b, "stream");
  if (compat && sv && !json_is_null(sv)) {
    if (!json_is_boolean(sv)) {
      rt->m.failure_validation++;
      rt_error(req, 422, "validation",
               "Failed to deserialize the JSON body into the target type: stream: invalid type, "
               "expected a boolean");
      json_decref(b);
      return;
    }
    stream = json_is_true(sv);
  }
  rt_opts o;
  int status = 0;
  if (rt_parse_tgi_params(rt, json_object_get(b, "parameters"), &o, err, sizeof err)) {
    status = 422;
  } else if (stream && o.decoder_input_details) {
    snprintf(err, sizeof err,
             "Input validation error: `decoder_input_details` == true is not supported when "
             "streaming tokens");
    status = 422;
  }
  ep_gen_req *g = NULL;
  if (!status)
    status = rt_make_gen(rt, json_string_value(in), json_string_length(in), 1, &o, &g, err,
                         sizeof err, &etype);
  if (status) {
    rt->m.failure_validation++;
    /* like TGI: in-stream validation errors arrive as an SSE event with 200 */
    if (stream && strncmp(err, "Failed to deserialize", 21) != 0) rt_sse_error(req, etype, err);
    else rt_error(req, status, etype, "%s", err);
    rt_opts_free(&o);
    json_decref(b);
    return;
  }
  int rft = o.return_full_text >= 0 ? o.return_full_text : compat;
  int details = o.details || o.decoder_input_details;
  rt_opts_free(&o);
  char *prompt = rft ? strdup(json_string_value(in)) : NULL;
  json_decref(b);
  rt_job_kind kind = stream ? JOB_TGI_STREAM : compat ? JOB_COMPAT : JOB_GENERATE;
  rt_job *j = rt_job_start(rt, req, g, kind);
  if (!j) {
    free(prompt);
    return;
  }
  j->return_full_text = rft;
  j->prompt = prompt;
  j->details = details;
  if (stream) {
    ep_http_add_header(req, "x-compute-type", "cpu");
    ep_http_stream_begin(req, 200, "text/event-stream");
  }
}

/* Byte offset -> character (code point) offset in s. */
static size_t char_off(const char *s, size_t byte) {
  size_t n = 0;
  for (size_t i = 0; i < byte && s[i]; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80) n++;
  return n;
}

void rt_route_tokenize(ep_rt *rt, ep_http_req *req) {
  json_t *b = rt_parse_body(req);
  if (!b) return;
  json_t *in = json_object_get(b, "inputs");
  if (!in || !json_is_string(in)) {
    rt_error(req, 422, "validation",
             "Failed to deserialize the JSON body into the target type: missing field `inputs`");
    json_decref(b);
    return;
  }
  const char *s = json_string_value(in);
  size_t len = json_string_length(in);
  ep_tok_span *sp = NULL;
  size_t n = 0;
  int rc = ep_tok_encode_spans(rt->tok, s, len, 1, &sp, &n);
  if (rc != EP_OK) {
    rt_error(req, 422, "validation", "Input validation error: cannot tokenize `inputs`: %s",
             ep_strerror(rc));
    json_decref(b);
    return;
  }
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) {
    size_t a = sp[i].start <= len ? sp[i].start : len, e = sp[i].stop <= len ? sp[i].stop : len;
    if (e < a) e = a;
    char *t = strndup(s + a, e - a);
    json_array_append_new(arr, json_pack("{s:i,s:s,s:i,s:i}", "id", (int)sp[i].id, "text",
                                         t ? t : "", "start", (int)char_off(s, a), "stop",
                                         (int)char_off(s, e)));
    free(t);
  }
  free(sp);
  json_decref(b);
  ep_http_respond_json(req, 200, arr);
}
