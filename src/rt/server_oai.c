/* OpenAI-compatible routes as TGI serves them: POST /v1/completions,
 * POST /v1/chat/completions (the model's chat template rendered with our
 * Jinja subset), GET /v1/models. Responses always carry id, created, model,
 * system_fingerprint and usage; streams end with `data: [DONE]`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "fmt/chat_template.h"
#include "rt/server-impl.h"

static const char *oai_finish(ep_finish f) {
  switch (f) {
  case EP_FINISH_EOS: return "stop";
  case EP_FINISH_STOP: return "stop_sequence";
  default: return "length";
  }
}

static void fingerprint(char *out, size_t n) { snprintf(out, n, "%s-native", ENDPOINTD_VERSION); }

/* Common OpenAI sampling fields into o. Returns 0 or -1 with err. */
static int parse_oai_opts(ep_rt *rt, json_t *b, rt_opts *o, char *err, size_t errsz) {
  memset(o, 0, sizeof *o);
  o->sp = ep_sampler_default_params();
  o->max_new_tokens = -1;
  o->return_full_text = 0;
  json_t *v;
  v = json_object_get(b, "max_completion_tokens");
  if (!v || json_is_null(v)) v = json_object_get(b, "max_tokens");
  if (v && !json_is_null(v)) {
    if (!json_is_integer(v) || json_integer_value(v) <= 0) {
      snprintf(err, errsz, "Input validation error: `max_tokens` must be a positive integer");
      return -1;
    }
    json_int_t x = json_integer_value(v);
    o->max_new_tokens = x > 1000000000 ? 1000000000 : (int)x;
  }
  v = json_object_get(b, "temperature");
  o->sampling = 1; /* TGI: absent temperature -> sampling */
  if (v && !json_is_null(v)) {
    if (!json_is_number(v) || json_number_value(v) < 0) {
      snprintf(err, errsz, "Input validation error: `temperature` must be >= 0");
      return -1;
    }
    double t = json_number_value(v);
    if (t == 0) o->sampling = 0;
    else o->sp.temperature = (float)t;
  }
  /* extension: TGI-style do_sample at the root (huggingface.js >= 4.13 maps
   * textGeneration parameters onto /v1/completions this way) */
  v = json_object_get(b, "do_sample");
  if (json_is_boolean(v) && !json_object_get(b, "temperature")) o->sampling = json_is_true(v);
  v = json_object_get(b, "top_p");
  if (v && !json_is_null(v)) {
    if (!json_is_number(v) || !(json_number_value(v) > 0 && json_number_value(v) <= 1)) {
      snprintf(err, errsz, "Input validation error: `top_p` must be > 0.0 and <= 1.0");
      return -1;
    }
    o->sp.top_p = (float)json_number_value(v);
  }
  v = json_object_get(b, "frequency_penalty");
  if (v && !json_is_null(v)) {
    if (!json_is_number(v) || !(json_number_value(v) >= -2 && json_number_value(v) <= 2)) {
      snprintf(err, errsz, "Input validation error: `frequency_penalty` must be >= -2.0 and <= 2.0");
      return -1;
    }
    o->sp.frequency_penalty = (float)json_number_value(v);
  }
  v = json_object_get(b, "repetition_penalty");
  if (v && !json_is_null(v)) {
    if (!json_is_number(v) || !(json_number_value(v) > 0)) {
      snprintf(err, errsz, "Input validation error: `repetition_penalty` must be strictly positive");
      return -1;
    }
    o->sp.repetition_penalty = (float)json_number_value(v);
  }
  v = json_object_get(b, "seed");
  if (v && !json_is_null(v)) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
      snprintf(err, errsz, "Input validation error: `seed` must be a non-negative integer");
      return -1;
    }
    o->sp.seed = (uint64_t)json_integer_value(v);
    o->seed_set = 1;
  }
  v = json_object_get(b, "n");
  if (v && !json_is_null(v) && (!json_is_integer(v) || json_integer_value(v) != 1)) {
    snprintf(err, errsz, "Input validation error: `n` must be 1");
    return -1;
  }
  v = json_object_get(b, "stop");
  if (v && !json_is_null(v)) {
    json_t *arr = json_is_string(v) ? json_pack("[O]", v) : json_incref(v);
    if (!json_is_array(arr)) {
      json_decref(arr);
      snprintf(err, errsz, "Input validation error: `stop` must be a string or a list of strings");
      return -1;
    }
    if (json_array_size(arr) > (size_t)rt->p.max_stop_sequences) {
      snprintf(err, errsz, "Input validation error: `stop` supports up to %d stop sequences. Given: %zu",
               rt->p.max_stop_sequences, json_array_size(arr));
      json_decref(arr);
      return -1;
    }
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
      if (!json_is_string(e)) {
        json_decref(arr);
        snprintf(err, errsz, "Input validation error: `stop` must be a string or a list of strings");
        return -1;
      }
      char **ns = realloc(o->stop, sizeof(char *) * (o->nstop + 1));
      if (!ns) break;
      o->stop = ns;
      o->stop[o->nstop++] = strdup(json_string_value(e));
    }
    json_decref(arr);
  }
  return 0;
}

static int parse_stream_flags(json_t *b, int *stream, int *include_usage, char *err, size_t errsz) {
  json_t *v = json_object_get(b, "stream");
  *stream = 0;
  *include_usage = 0;
  if (v && !json_is_null(v)) {
    if (!json_is_boolean(v)) {
      snprintf(err, errsz, "Failed to deserialize the JSON body into the target type: stream: "
                           "invalid type, expected a boolean");
      return -1;
    }
    *stream = json_is_true(v);
  }
  json_t *so = json_object_get(b, "stream_options");
  if (so && json_is_object(so)) *include_usage = json_is_true(json_object_get(so, "include_usage"));
  return 0;
}

static char *model_echo(ep_rt *rt, json_t *b) {
  json_t *m = json_object_get(b, "model");
  if (m && json_is_string(m) && json_string_length(m) && strcmp(json_string_value(m), "tgi"))
    return strdup(json_string_value(m));
  return strdup(rt->model_id);
}

static json_t *usage_json(const ep_gen_req *g) {
  return json_pack("{s:i,s:i,s:i}", "prompt_tokens", (int)g->n_input, "completion_tokens",
                   (int)g->n_pub, "total_tokens", (int)(g->n_input + g->n_pub));
}

static json_t *envelope(const rt_job *j, const char *object) {
  char fp[64];
  fingerprint(fp, sizeof fp);
  return json_pack("{s:s,s:s,s:I,s:s,s:s}", "object", object, "id", "", "created",
                   (json_int_t)j->created, "model", j->model_name ? j->model_name : "",
                   "system_fingerprint", fp);
}

static json_t *logprob_entry(const ep_gen_req *g, const ep_gen_token *t) {
  json_t *top = json_array();
  for (int k = 0; t->top && k < g->top_n; k++)
    json_array_append_new(top, json_pack("{s:s,s:o}", "token", t->top[k].text ? t->top[k].text : "",
                                         "logprob", rt_jreal(t->top[k].logprob)));
  return json_pack("{s:s,s:o,s:o}", "token", t->text ? t->text : "", "logprob",
                   rt_jreal(t->logprob), "top_logprobs", top);
}

static void send_json(ep_http_req *req, json_t *ev) {
  char *s = json_dumps(ev, JSON_COMPACT | JSON_REAL_PRECISION(9));
  json_decref(ev);
  if (s) ep_http_sse_data(req, s);
  free(s);
}

/* One streamed token (i) as a chunk; finish NULL for intermediate ones. */
static void emit_one(rt_job *j, size_t i, const char *finish) {
  ep_gen_req *g = j->g;
  const ep_gen_token *t = &g->toks[i];
  const char *text = t->special ? "" : (t->text ? t->text : "");
  json_t *ch;
  if (j->kind == JOB_OAI_CHAT_STREAM) {
    json_t *lp = j->logprobs ? json_pack("{s:[o]}", "content", logprob_entry(g, t)) : json_null();
    ch = envelope(j, "chat.completion.chunk");
    json_object_set_new(ch, "choices",
                        json_pack("[{s:i,s:{s:s,s:s},s:o,s:o}]", "index", 0, "delta", "role",
                                  "assistant", "content", text, "logprobs", lp, "finish_reason",
                                  finish ? json_string(finish) : json_null()));
    json_object_set_new(ch, "usage", json_null());
  } else {
    ch = envelope(j, "text_completion");
    json_object_set_new(ch, "choices",
                        json_pack("[{s:i,s:s,s:n,s:s}]", "index", 0, "text", text, "logprobs",
                                  "finish_reason", finish ? finish : ""));
    json_object_set_new(ch, "usage", finish ? usage_json(g) : json_null());
  }
  send_json(j->http, ch);
}

void rt_oai_emit(rt_job *j, size_t from, size_t to) {
  for (size_t i = from; i < to; i++) emit_one(j, i, NULL);
}

void rt_oai_finish(rt_job *j) {
  ep_gen_req *g = j->g;
  int stream = j->kind == JOB_OAI_CHAT_STREAM || j->kind == JOB_OAI_COMPL_STREAM;
  if (g->finish == EP_FINISH_ERROR || g->finish == EP_FINISH_CANCELED || g->n_pub == 0) {
    const char *msg = g->finish == EP_FINISH_CANCELED ? "Incomplete generation" : g->errmsg;
    if (stream) {
      send_json(j->http, json_pack("{s:{s:s,s:i}}", "error", "message", msg, "http_status_code", 500));
      ep_http_stream_end(j->http);
    } else {
      rt_error(j->http, g->finish == EP_FINISH_CANCELED ? 500 : 424,
               g->finish == EP_FINISH_CANCELED ? "incomplete_generation" : "generation", "%s", msg);
    }
    return;
  }
  const char *fin = oai_finish(g->finish);
  if (stream) {
    emit_one(j, g->n_pub - 1, fin);
    if (j->kind == JOB_OAI_CHAT_STREAM && j->include_usage) {
      json_t *ch = envelope(j, "chat.completion.chunk");
      json_object_set_new(ch, "choices", json_array());
      json_object_set_new(ch, "usage", usage_json(g));
      send_json(j->http, ch);
    }
    ep_http_sse_data(j->http, "[DONE]");
    ep_http_stream_end(j->http);
    return;
  }
  json_t *resp;
  const char *text = g->text ? g->text : "";
  if (j->kind == JOB_OAI_CHAT) {
    json_t *lp = json_null();
    if (j->logprobs) {
      json_t *c = json_array();
      for (size_t i = 0; i < g->n_pub; i++) json_array_append_new(c, logprob_entry(g, &g->toks[i]));
      json_decref(lp);
      lp = json_pack("{s:o}", "content", c);
    }
    resp = envelope(j, "chat.completion");
    json_object_set_new(resp, "choices",
                        json_pack("[{s:i,s:{s:s,s:s},s:o,s:s}]", "index", 0, "message", "role",
                                  "assistant", "content", text, "logprobs", lp, "finish_reason", fin));
  } else {
    resp = envelope(j, "text_completion");
    json_object_set_new(resp, "choices", json_pack("[{s:i,s:s,s:n,s:s}]", "index", 0, "text", text,
                                                   "logprobs", "finish_reason", fin));
  }
  json_object_set_new(resp, "usage", usage_json(g));
  rt_add_timing_headers(j);
  ep_http_respond_json(j->http, 200, resp);
}

/* Shared tail: build the request, start the job, open the stream. */
static void start_oai(ep_rt *rt, ep_http_req *req, json_t *b, const char *prompt, size_t plen,
                      int add_special, int chat) {
  char err[512];
  rt_opts o;
  memset(&o, 0, sizeof o);
  int stream = 0, include_usage = 0;
  if (parse_stream_flags(b, &stream, &include_usage, err, sizeof err) ||
      parse_oai_opts(rt, b, &o, err, sizeof err)) {
    rt->m.failure_validation++;
    rt_error(req, 422, "validation", "%s", err);
    rt_opts_free(&o);
    return;
  }
  int logprobs = 0;
  if (chat) {
    logprobs = json_is_true(json_object_get(b, "logprobs"));
    json_t *tl = json_object_get(b, "top_logprobs");
    if (tl && !json_is_null(tl)) {
      if (!json_is_integer(tl) || json_integer_value(tl) < 0 ||
          json_integer_value(tl) > rt->p.max_top_n_tokens) {
        rt->m.failure_validation++;
        rt_error(req, 422, "validation", "Input validation error: `top_logprobs` must be >= 0 and <= %d",
                 rt->p.max_top_n_tokens);
        rt_opts_free(&o);
        return;
      }
      if (logprobs) o.top_n = (int)json_integer_value(tl);
    }
  }
  ep_gen_req *g = NULL;
  const char *etype = "validation";
  int st = rt_make_gen(rt, prompt, plen, add_special, &o, &g, err, sizeof err, &etype);
  rt_opts_free(&o);
  if (st) {
    rt->m.failure_validation++;
    rt_error(req, st, etype, "%s", err);
    return;
  }
  rt_job_kind kind = chat ? (stream ? JOB_OAI_CHAT_STREAM : JOB_OAI_CHAT)
                          : (stream ? JOB_OAI_COMPL_STREAM : JOB_OAI_COMPL);
  char *model = model_echo(rt, b);
  rt_job *j = rt_job_start(rt, req, g, kind);
  if (!j) {
    free(model);
    return;
  }
  j->model_name = model;
  j->include_usage = include_usage;
  j->logprobs = logprobs;
  if (stream) {
    ep_http_add_header(req, "x-compute-type", "cpu");
    ep_http_stream_begin(req, 200, "text/event-stream");
  }
}

void rt_route_completions(ep_rt *rt, ep_http_req *req) {
  json_t *b = rt_parse_body(req);
  if (!b) return;
  json_t *sfx = json_object_get(b, "suffix");
  json_t *p = json_object_get(b, "prompt");
  if (sfx && !json_is_null(sfx)) {
    rt_error(req, 422, "suffix not supported",
             "Suffix is not supported and can give unexpected results with this server");
  } else if (p && json_is_array(p) && json_array_size(p) == 1 &&
             json_is_string(json_array_get(p, 0))) {
    json_t *s = json_array_get(p, 0);
    start_oai(rt, req, b, json_string_value(s), json_string_length(s), 1, 0);
  } else if (p && json_is_string(p)) {
    start_oai(rt, req, b, json_string_value(p), json_string_length(p), 1, 0);
  } else if (p && json_is_array(p) && json_array_size(p) > 1) {
    rt_error(req, 422, "validation", "Input validation error: only one prompt per request is supported");
  } else {
    rt_error(req, 422, "validation",
             "Failed to deserialize the JSON body into the target type: prompt: expected a string "
             "or a non-empty list of strings");
  }
  json_decref(b);
}

/* Message content: a string, null, or a list of {type:"text",text} parts
 * (joined). Returns a malloc'd string or NULL on a type error. */
static char *msg_content(json_t *c) {
  if (!c || json_is_null(c)) return strdup("");
  if (json_is_string(c)) return strdup(json_string_value(c));
  if (!json_is_array(c)) return NULL;
  ep_buf b = EP_BUF_INIT;
  size_t i;
  json_t *e;
  json_array_foreach(c, i, e) {
    json_t *t = json_object_get(e, "text");
    if (!json_is_object(e) || !json_is_string(t)) {
      ep_buf_free(&b);
      return NULL;
    }
    ep_buf_puts(&b, json_string_value(t));
  }
  char *s = ep_buf_steal(&b);
  return s ? s : strdup("");
}

void rt_route_chat(ep_rt *rt, ep_http_req *req) {
  json_t *b = rt_parse_body(req);
  if (!b) return;
  json_t *msgs = json_object_get(b, "messages");
  json_t *tools = json_object_get(b, "tools");
  if (!msgs || !json_is_array(msgs) || json_array_size(msgs) == 0) {
    rt->m.failure_validation++;
    rt_error(req, 422, "validation",
             "Failed to deserialize the JSON body into the target type: messages: expected a "
             "non-empty list");
    json_decref(b);
    return;
  }
  if (tools && json_is_array(tools) && json_array_size(tools) > 0) {
    rt_error(req, 422, "tool_error", "Tools are not supported by this server");
    json_decref(b);
    return;
  }
  const char *tmpl = ep_tok_chat_template(rt->tok);
  if (!tmpl) {
    rt_error(req, 422, "template_error", "Template error: template not found");
    json_decref(b);
    return;
  }
  size_t n = json_array_size(msgs);
  ep_chat_msg *cm = calloc(n, sizeof *cm);
  char **contents = calloc(n, sizeof(char *));
  int bad = !cm || !contents;
  for (size_t i = 0; i < n && !bad; i++) {
    json_t *m = json_array_get(msgs, i);
    json_t *role = json_object_get(m, "role");
    if (!json_is_object(m) || !json_is_string(role)) {
      bad = 1;
      break;
    }
    contents[i] = msg_content(json_object_get(m, "content"));
    if (!contents[i]) {
      bad = 1;
      break;
    }
    cm[i].role = json_string_value(role);
    cm[i].content = contents[i];
  }
  char *out = NULL, err[512] = "";
  if (bad) {
    rt_error(req, 422, "validation",
             "Failed to deserialize the JSON body into the target type: messages: each message "
             "needs a string `role` and string or text-part `content`");
  } else {
    ep_chat_vars vars = {ep_tok_bos_str(rt->tok), ep_tok_eos_str(rt->tok), 1};
    int rc = ep_chat_render(tmpl, cm, n, &vars, &out, err, sizeof err);
    if (rc != EP_OK) rt_error(req, 422, "template_error", "Template error: %s", err);
    else start_oai(rt, req, b, out, strlen(out), 0, 1);
  }
  for (size_t i = 0; contents && i < n; i++) free(contents[i]);
  free(contents);
  free(cm);
  free(out);
  json_decref(b);
}

void rt_route_models(ep_rt *rt, ep_http_req *req) {
  ep_http_respond_json(req, 200,
                       json_pack("{s:s,s:[{s:s,s:s,s:i,s:s}]}", "object", "list", "data", "id",
                                 rt->model_id, "object", "model", "created", 0, "owned_by",
                                 rt->model_id));
}
