/* TEI routes of the runtime (text-embeddings-inference wire format): request
 * parsing and tokenization on the loop thread, compute jobs for the worker
 * (tei_worker.c), and response formatting when a job comes back. POST /
 * dispatches by task (feature-extraction -> /embed, sentence-similarity ->
 * /similarity, text-classification -> [[{label,score}]]). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/time.h"
#include "http/router.h"
#include "rt/tei-impl.h"

#ifndef ENDPOINTD_VERSION
#define ENDPOINTD_VERSION "0.1.0"
#endif

static void tei_error(ep_http_req *req, int openai, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void tei_error(ep_http_req *req, int openai, int status, const char *type, const char *fmt, ...) {
  char msg[512], hv[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  snprintf(hv, sizeof hv, "%s", msg);
  for (char *c = hv; *c; c++)
    if (*c == '\r' || *c == '\n') *c = ' ';
  ep_http_add_header(req, "X-Error-Message", hv);
  json_t *o = openai ? json_pack("{s:s,s:i,s:s}", "message", msg, "code", status, "type", type)
                     : json_pack("{s:s,s:s}", "error", msg, "error_type", type);
  ep_http_respond_json(req, status, o);
}

/* ---- request parsing ---------------------------------------------------- */

typedef struct {
  ep_tei *t;
  ep_http_req *req;
  int openai;
  int truncate, left;
  char err[400];
  int status;
  const char *etype;
} tctx;

static int fail(tctx *c, int status, const char *type, const char *msg) {
  c->status = status;
  c->etype = type;
  snprintf(c->err, sizeof c->err, "%s", msg);
  return -1;
}

static json_t *body_object(tctx *c) {
  json_error_t je;
  json_t *b = json_loadb(c->req->body, c->req->body_len, 0, &je);
  if (!b) {
    snprintf(c->err, sizeof c->err, "Failed to parse the request body as JSON: %s", je.text);
    c->status = 400;
    c->etype = "Validation";
    return NULL;
  }
  if (!json_is_object(b)) {
    json_decref(b);
    fail(c, 422, "Validation", "Failed to deserialize the JSON body: expected an object");
    return NULL;
  }
  return b;
}

/* Tokenizes one text (or pair when b) into seq, honouring truncate. */
static int tok_seq(tctx *c, const char *a, const char *b, ep_enc_seq *s) {
  ep_tei *t = c->t;
  int32_t *ids = NULL, *types = NULL;
  size_t n = 0;
  int rc;
  if (b) rc = ep_tok_encode_pair(t->tok, a, strlen(a), b, strlen(b), c->truncate ? (size_t)t->max_input : 0,
                                 &ids, &types, &n);
  else rc = ep_tok_encode(t->tok, a, strlen(a), 1, &ids, &n);
  if (rc != EP_OK) {
    free(ids);
    free(types);
    return fail(c, 422, "Tokenizer", rc == EP_EINVAL ? "Input is not valid UTF-8" : "Tokenization failed");
  }
  if (n > (size_t)t->max_input && c->truncate && !b) {
    size_t keep = (size_t)t->max_input;
    if (c->left && keep >= 2) { /* keep [CLS] ... and the last keep-1 tokens */
      memmove(ids + 1, ids + (n - keep + 1), (keep - 1) * sizeof *ids);
    } else if (keep >= 2) { /* keep the first keep-1 tokens and the closing special token */
      ids[keep - 1] = ids[n - 1];
    }
    n = keep;
  }
  if (n > (size_t)t->max_input) {
    char m[200];
    snprintf(m, sizeof m, "Input validation error: `inputs` must have less than %d tokens. Given: %zu",
             t->max_input + 1, n);
    free(ids);
    free(types);
    return fail(c, 422, "Validation", m);
  }
  s->ids = ids;
  s->type_ids = types;
  s->n = n;
  return 0;
}

static int ids_seq(tctx *c, json_t *arr, ep_enc_seq *s) {
  size_t n = json_array_size(arr), i;
  json_t *v;
  if (!n) return fail(c, 400, "Empty", "Input validation error: `inputs` cannot be empty");
  if (n > (size_t)c->t->max_input) {
    if (!c->truncate) {
      char m[160];
      snprintf(m, sizeof m, "Input validation error: `inputs` must have less than %d tokens. Given: %zu",
               c->t->max_input + 1, n);
      return fail(c, 422, "Validation", m);
    }
    n = (size_t)c->t->max_input;
  }
  int32_t *ids = malloc(n * sizeof *ids);
  if (!ids) return fail(c, 500, "Backend", "out of memory");
  json_array_foreach(arr, i, v) {
    if (i >= n) break;
    json_int_t x = json_integer_value(v);
    if (!json_is_integer(v) || x < 0 || x >= ep_encoder_get_info(c->t->enc)->vocab_size) {
      free(ids);
      char m[160];
      snprintf(m, sizeof m, "Input validation error: `inputs` must be strings or token ids (integers in [0, %d))",
               ep_encoder_get_info(c->t->enc)->vocab_size);
      return fail(c, 422, "Validation", m);
    }
    ids[i] = (int32_t)x;
  }
  s->ids = ids;
  s->n = n;
  return 0;
}

static const char *json_kind(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT: return "an object";
  case JSON_ARRAY: return "a list";
  case JSON_STRING: return "a string";
  case JSON_INTEGER:
  case JSON_REAL: return "a number";
  case JSON_TRUE:
  case JSON_FALSE: return "a boolean";
  default: return "null";
  }
}

/* inputs: str | [str] | [int] | [[int]] (pairs only for /predict: see below). */
static tei_job *job_from_inputs(tctx *c, json_t *inputs, tei_op op, tei_resp resp) {
  tei_job *j = calloc(1, sizeof *j);
  if (!j) return fail(c, 500, "Backend", "out of memory"), NULL;
  j->t = c->t;
  j->req = c->req;
  j->op = op;
  j->resp = resp;
  size_t n = 1;
  int single = json_is_string(inputs);
  int ids_one = json_is_array(inputs) && json_array_size(inputs) && json_is_integer(json_array_get(inputs, 0));
  if (!single && !ids_one) {
    if (!json_is_array(inputs)) {
      snprintf(c->err, sizeof c->err,
               "Input validation error: `inputs` must be a string, a list of strings or token ids, not %s",
               json_kind(inputs));
      c->status = 422;
      c->etype = "Validation";
      goto bad;
    }
    n = json_array_size(inputs);
    if (!n) {
      fail(c, 400, "Empty", "Input validation error: `inputs` cannot be empty");
      goto bad;
    }
    if (n > (size_t)c->t->max_client_batch) {
      snprintf(c->err, sizeof c->err, "Input validation error: batch size %zu > maximum allowed batch size %d",
               n, c->t->max_client_batch);
      c->status = 422;
      c->etype = "Validation";
      goto bad;
    }
  }
  j->batch_shape = !single && !ids_one;
  j->seqs = calloc(n, sizeof *j->seqs);
  if (!j->seqs) {
    fail(c, 500, "Backend", "out of memory");
    goto bad;
  }
  for (size_t i = 0; i < n; i++) {
    json_t *x = single || ids_one ? inputs : json_array_get(inputs, i);
    int r;
    if (json_is_string(x)) {
      r = tok_seq(c, json_string_value(x), NULL, &j->seqs[i]);
      j->nchars += json_string_length(x);
    } else if (json_is_array(x) && (resp == TEI_R_PREDICT || resp == TEI_R_TASK_CLS) &&
               json_array_size(x) >= 1 && json_array_size(x) <= 2 && json_is_string(json_array_get(x, 0))) {
      json_t *b = json_array_get(x, 1);
      if (b && !json_is_string(b)) {
        fail(c, 422, "Validation", "a pair must hold two strings");
        goto bad;
      }
      r = tok_seq(c, json_string_value(json_array_get(x, 0)), b ? json_string_value(b) : NULL, &j->seqs[i]);
    } else if (json_is_array(x)) {
      r = ids_seq(c, x, &j->seqs[i]);
    } else {
      snprintf(c->err, sizeof c->err, "Input validation error: `inputs[%zu]` must be a string or token ids, not %s", i,
               json_kind(x));
      c->status = 422;
      c->etype = "Validation";
      goto bad;
    }
    j->nseq = i + 1;
    if (r) goto bad;
    j->ntokens += j->seqs[i].n;
  }
  return j;
bad:
  tei_job_free(j);
  return NULL;
}

static int opt_bool(tctx *c, json_t *o, const char *key, int def, int *out) {
  json_t *v = json_object_get(o, key);
  if (!v || json_is_null(v)) {
    *out = def;
    return 0;
  }
  if (!json_is_boolean(v)) {
    char m[120];
    snprintf(m, sizeof m, "`%s` must be a boolean", key);
    return fail(c, 422, "Validation", m);
  }
  *out = json_is_true(v);
  return 0;
}

static int common_opts(tctx *c, json_t *o) {
  if (opt_bool(c, o, "truncate", 0, &c->truncate)) return -1;
  const char *dir = json_string_value(json_object_get(o, "truncation_direction"));
  c->left = dir && (!strcmp(dir, "left") || !strcmp(dir, "Left"));
  return 0;
}

static void start_job(tctx *c, tei_job *j) {
  c->t->m.input_tokens_total += j->ntokens;
  ep_hist_observe(&c->t->m.input_length, (double)j->ntokens);
  j->t_start_ns = c->req->start_ns ? c->req->start_ns : ep_mono_ns();
  j->t_tok_ns = ep_mono_ns() - j->t_start_ns;
  int rc = tei_submit(c->t, j);
  if (rc != EP_OK) {
    c->t->m.failure_overloaded++;
    tei_error(c->req, c->openai, rc == EP_EBUSY ? 429 : 503, rc == EP_EBUSY ? "Overloaded" : "Unhealthy",
              rc == EP_EBUSY ? "Model is overloaded" : "Model is shutting down");
    tei_job_free(j);
  }
}

static void reply_fail(tctx *c) {
  c->t->m.failure_validation++;
  tei_error(c->req, c->openai, c->status ? c->status : 422, c->etype ? c->etype : "Validation", "%s", c->err);
}

/* ---- routes ------------------------------------------------------------- */

static void do_embed(tctx *c, json_t *b, json_t *params, tei_resp resp) {
  json_t *o = params ? params : b;
  tei_job *j = NULL;
  json_t *inputs = json_object_get(b, c->openai ? "input" : "inputs");
  if (!inputs) {
    fail(c, 422, "Validation", c->openai ? "missing field `input`" : "missing field `inputs`");
    goto out;
  }
  if (common_opts(c, o)) goto out;
  int normalize = 1;
  if (opt_bool(c, o, "normalize", 1, &normalize)) goto out;
  json_t *dims = json_object_get(o, "dimensions");
  if (dims && !json_is_null(dims) &&
      (!json_is_integer(dims) || json_integer_value(dims) <= 0 ||
       json_integer_value(dims) > ep_encoder_get_info(c->t->enc)->dim)) {
    fail(c, 422, "Validation", "`dimensions` must be a positive integer no larger than the embedding size");
    goto out;
  }
  const char *fmt = json_string_value(json_object_get(o, "encoding_format"));
  if (fmt && strcmp(fmt, "float") && strcmp(fmt, "base64")) {
    fail(c, 422, "Validation", "`encoding_format` must be \"float\" or \"base64\"");
    goto out;
  }
  j = job_from_inputs(c, inputs, resp == TEI_R_EMBED_ALL ? TEI_OP_HIDDEN : TEI_OP_EMBED, resp);
  if (!j) goto out;
  j->normalize = resp == TEI_R_EMBED_ALL ? 0 : normalize;
  j->dims = dims && json_is_integer(dims) ? (int)json_integer_value(dims) : 0;
  j->base64 = fmt && !strcmp(fmt, "base64");
  const char *model = json_string_value(json_object_get(b, "model"));
  if (c->openai) j->model_name = strdup(model ? model : c->t->model_id);
  start_job(c, j);
  return;
out:
  reply_fail(c);
}

static void do_similarity(tctx *c, json_t *b) {
  json_t *in = json_object_get(b, "inputs");
  json_t *src = json_object_get(in, "source_sentence"), *sents = json_object_get(in, "sentences");
  json_t *params = json_object_get(b, "parameters");
  if (!json_is_object(in) || !json_is_string(src) || !json_is_array(sents)) {
    fail(c, 422, "Validation", "`inputs` must be {\"source_sentence\": str, \"sentences\": [str]}");
    return reply_fail(c);
  }
  if (!json_array_size(sents)) {
    fail(c, 400, "Empty", "Input validation error: `sentences` cannot be empty");
    return reply_fail(c);
  }
  if (json_array_size(sents) > (size_t)c->t->max_client_batch) {
    snprintf(c->err, sizeof c->err,
             "Input validation error: `sentences` batch size %zu > maximum allowed batch size %d",
             json_array_size(sents), c->t->max_client_batch);
    c->status = 422;
    c->etype = "Validation";
    return reply_fail(c);
  }
  if (common_opts(c, json_is_object(params) ? params : b)) return reply_fail(c);
  json_t *all = json_array();
  json_array_append(all, src);
  json_array_extend(all, sents);
  size_t i;
  json_t *v;
  json_array_foreach(all, i, v) if (!json_is_string(v)) {
    json_decref(all);
    fail(c, 422, "Validation", "`sentences` must be a list of strings");
    return reply_fail(c);
  }
  int saved = c->t->max_client_batch;
  c->t->max_client_batch = saved + 1; /* source + up to max sentences */
  tei_job *j = job_from_inputs(c, all, TEI_OP_EMBED, TEI_R_SIMILARITY);
  c->t->max_client_batch = saved;
  json_decref(all);
  if (!j) return reply_fail(c);
  start_job(c, j);
}

static int parse_fn(tctx *c, json_t *o, int *fn) {
  const ep_encoder_info *in = ep_encoder_get_info(c->t->enc);
  *fn = in->multi_label || in->n_labels == 1 ? 1 : 0;
  const char *f = json_string_value(json_object_get(o, "function_to_apply"));
  if (!f) return 0;
  if (!strcmp(f, "softmax")) *fn = 0;
  else if (!strcmp(f, "sigmoid")) *fn = 1;
  else if (!strcmp(f, "none")) *fn = 2;
  else return fail(c, 422, "Validation", "`function_to_apply` must be softmax, sigmoid or none");
  return 0;
}

static void do_predict(tctx *c, json_t *b, tei_resp resp) {
  const ep_encoder_info *in = ep_encoder_get_info(c->t->enc);
  json_t *params = json_object_get(b, "parameters");
  json_t *o = resp == TEI_R_TASK_CLS && json_is_object(params) ? params : b;
  if (!in->has_classifier) {
    fail(c, 422, "Validation", "this model has no classification head (`predict` needs a classifier)");
    return reply_fail(c);
  }
  json_t *inputs = json_object_get(b, "inputs");
  if (!inputs) {
    fail(c, 422, "Validation", "missing field `inputs`");
    return reply_fail(c);
  }
  int raw = 0, fn = 0, top_k = 0;
  if (common_opts(c, o) || opt_bool(c, o, "raw_scores", 0, &raw) || parse_fn(c, o, &fn)) return reply_fail(c);
  json_t *tk = json_object_get(o, "top_k");
  if (tk && !json_is_null(tk)) {
    if (!json_is_integer(tk) || json_integer_value(tk) < 1) {
      fail(c, 422, "Validation", "`top_k` must be a positive integer");
      return reply_fail(c);
    }
    top_k = (int)json_integer_value(tk);
  }
  if (json_is_false(json_object_get(o, "return_all_scores"))) top_k = 1;
  /* TEI: ["a", "b"] is one pair; a list of other shapes is a batch */
  json_t *wrapped = NULL;
  int pair = json_is_array(inputs) && json_array_size(inputs) == 2 &&
             json_is_string(json_array_get(inputs, 0)) && json_is_string(json_array_get(inputs, 1));
  if (pair && resp == TEI_R_PREDICT) inputs = wrapped = json_pack("[O]", inputs);
  tei_job *j = job_from_inputs(c, inputs, TEI_OP_LOGITS, resp);
  json_decref(wrapped);
  if (!j) return reply_fail(c);
  if (pair && resp == TEI_R_PREDICT) j->batch_shape = 0;
  j->raw_scores = raw;
  j->fn = raw ? 2 : fn;
  j->top_k = top_k;
  start_job(c, j);
}

static void do_rerank(tctx *c, json_t *b) {
  const ep_encoder_info *in = ep_encoder_get_info(c->t->enc);
  json_t *q = json_object_get(b, "query"), *texts = json_object_get(b, "texts");
  if (!in->has_classifier || in->n_labels != 1) {
    fail(c, 422, "Validation", "this model is not a re-ranker (needs a classifier with one label)");
    return reply_fail(c);
  }
  if (!json_is_string(q) || !json_is_array(texts)) {
    fail(c, 422, "Validation", "`query` (string) and `texts` (list of strings) are required");
    return reply_fail(c);
  }
  if (!json_array_size(texts)) {
    fail(c, 400, "Empty", "Input validation error: `texts` cannot be empty");
    return reply_fail(c);
  }
  int raw = 0, rt = 0;
  if (common_opts(c, b) || opt_bool(c, b, "raw_scores", 0, &raw) || opt_bool(c, b, "return_text", 0, &rt))
    return reply_fail(c);
  json_t *pairs = json_array();
  size_t i;
  json_t *v;
  json_array_foreach(texts, i, v) json_array_append_new(pairs, json_pack("[OO]", q, v));
  tei_job *j = job_from_inputs(c, pairs, TEI_OP_LOGITS, TEI_R_RERANK);
  json_decref(pairs);
  if (!j) return reply_fail(c);
  j->raw_scores = raw;
  j->return_text = rt;
  j->texts = json_incref(texts);
  start_job(c, j);
}

static void do_tokenize(tctx *c, json_t *b) {
  json_t *in = json_object_get(b, "inputs");
  int add = 1;
  if (opt_bool(c, b, "add_special_tokens", 1, &add)) return reply_fail(c);
  json_t *list = json_is_string(in) ? json_pack("[O]", in) : json_incref(in);
  size_t i;
  json_t *v, *out = json_array();
  if (!json_is_array(list) || !json_array_size(list)) {
    fail(c, json_is_array(list) ? 400 : 422, json_is_array(list) ? "Empty" : "Validation",
         "`inputs` must be a string or a non-empty list of strings");
    goto bad;
  }
  json_array_foreach(list, i, v) {
    ep_tok_span *sp = NULL;
    size_t n = 0;
    const char *s = json_string_value(v);
    if (!s || ep_tok_encode_spans(c->t->tok, s, strlen(s), add, &sp, &n) != EP_OK) {
      fail(c, 422, "Tokenizer", "`inputs` must be valid UTF-8 strings");
      free(sp);
      goto bad;
    }
    json_t *row = json_array();
    for (size_t k = 0; k < n; k++) {
      int special = ep_tok_is_special(c->t->tok, sp[k].id) || sp[k].stop <= sp[k].start;
      const char *piece = ep_tok_piece(c->t->tok, sp[k].id);
      json_t *tx = special ? json_string(piece ? piece : "")
                           : json_stringn(s + sp[k].start, sp[k].stop - sp[k].start);
      json_array_append_new(row, json_pack("{s:i,s:o,s:b,s:o,s:o}", "id", (int)sp[k].id, "text",
                                           tx ? tx : json_string(""), "special", special, "start",
                                           special ? json_null() : json_integer(sp[k].start), "stop",
                                           special ? json_null() : json_integer(sp[k].stop)));
    }
    json_array_append_new(out, row);
    free(sp);
  }
  json_decref(list);
  ep_http_respond_json(c->req, 200, out);
  return;
bad:
  json_decref(list);
  json_decref(out);
  reply_fail(c);
}

static void do_decode(tctx *c, json_t *b) {
  json_t *ids = json_object_get(b, "ids");
  int skip = 1;
  if (opt_bool(c, b, "skip_special_tokens", 1, &skip)) return reply_fail(c);
  int flat = json_is_array(ids) && json_is_integer(json_array_get(ids, 0));
  json_t *list = flat ? json_pack("[O]", ids) : json_incref(ids), *out = json_array(), *row;
  size_t i;
  if (!json_is_array(list) || !json_array_size(list)) {
    fail(c, 422, "Validation", "`ids` must be a non-empty list of token ids (or of lists)");
    goto bad;
  }
  json_array_foreach(list, i, row) {
    size_t n = json_array_size(row), k;
    json_t *v;
    int32_t *a = malloc((n + 1) * sizeof *a);
    char *txt = NULL;
    int ok = json_is_array(row) && a;
    json_array_foreach(row, k, v) {
      json_int_t x = json_integer_value(v);
      if (!json_is_integer(v) || x < 0 || (size_t)x >= ep_tok_vocab_size(c->t->tok)) ok = 0;
      else a[k] = (int32_t)x;
    }
    if (!ok || ep_tok_decode(c->t->tok, a, n, skip, &txt) != EP_OK) {
      free(a);
      fail(c, 422, "Validation", "`ids` must hold token ids of the vocabulary");
      goto bad;
    }
    json_array_append_new(out, json_string(txt));
    free(txt);
    free(a);
  }
  json_decref(list);
  ep_http_respond_json(c->req, 200, out);
  return;
bad:
  json_decref(list);
  json_decref(out);
  reply_fail(c);
}

typedef enum { R_EMBED, R_EMBED_ALL, R_PREDICT, R_RERANK, R_SIM, R_TOKENIZE, R_DECODE, R_OPENAI, R_ROOT } route_kind;

static void post_route(ep_http_req *req, ep_tei *t, route_kind k) {
  tctx c = {.t = t, .req = req, .openai = k == R_OPENAI};
  if (t->ready != 1 || t->closing) {
    tei_error(req, c.openai, 503, "Unhealthy", t->ready == -1 ? "Model failed to load" : "Model is loading");
    return;
  }
  t->m.request_count++;
  json_t *b = body_object(&c);
  if (!b) return reply_fail(&c);
  switch (k) {
  case R_EMBED: do_embed(&c, b, NULL, TEI_R_EMBED); break;
  case R_EMBED_ALL: do_embed(&c, b, NULL, TEI_R_EMBED_ALL); break;
  case R_OPENAI: do_embed(&c, b, NULL, TEI_R_OPENAI); break;
  case R_PREDICT: do_predict(&c, b, TEI_R_PREDICT); break;
  case R_RERANK: do_rerank(&c, b); break;
  case R_SIM: do_similarity(&c, b); break;
  case R_TOKENIZE: do_tokenize(&c, b); break;
  case R_DECODE: do_decode(&c, b); break;
  case R_ROOT: {
    json_t *params = json_object_get(b, "parameters");
    if (!strcmp(t->task, "text-classification")) do_predict(&c, b, TEI_R_TASK_CLS);
    else if (json_is_object(json_object_get(b, "inputs"))) do_similarity(&c, b);
    else do_embed(&c, b, json_is_object(params) && json_object_size(params) ? params : NULL, TEI_R_EMBED);
    break;
  }
  }
  json_decref(b);
}

#define POST_FN(name, kind)                                                    \
  static void name(ep_http_req *req, const ep_route_params *p, void *ctx) { \
    (void)p;                                                                   \
    post_route(req, ctx, kind);                                                \
  }
POST_FN(r_embed, R_EMBED)
POST_FN(r_embed_all, R_EMBED_ALL)
POST_FN(r_predict, R_PREDICT)
POST_FN(r_rerank, R_RERANK)
POST_FN(r_sim, R_SIM)
POST_FN(r_tokenize, R_TOKENIZE)
POST_FN(r_decode, R_DECODE)
POST_FN(r_openai, R_OPENAI)
POST_FN(r_root, R_ROOT)

static void r_health(ep_http_req *req, const ep_route_params *p, void *ctx) {
  ep_tei *t = ctx;
  (void)p;
  req->no_log = 1;
  if (t->ready == 1) ep_http_respond(req, 200, "text/plain", "", 0);
  else tei_error(req, 0, 503, "Unhealthy", "unhealthy");
}

static void r_info(ep_http_req *req, const ep_route_params *p, void *ctx) {
  ep_tei *t = ctx;
  (void)p;
  static const char *pools[] = {"cls", "mean", "max", "lasttoken"};
  json_t *mt = json_null();
  if (t->enc) {
    const ep_encoder_info *in = ep_encoder_get_info(t->enc);
    if (!strcmp(t->task, "text-classification") || (in->has_classifier && !in->dense_out && !in->st_normalize &&
                                                   strcmp(t->task, "feature-extraction") &&
                                                   strcmp(t->task, "sentence-similarity"))) {
      json_t *i2l = json_object(), *l2i = json_object();
      for (int i = 0; i < in->n_labels; i++) {
        char k[16];
        snprintf(k, sizeof k, "%d", i);
        json_object_set_new(i2l, k, json_string(in->labels[i]));
        json_object_set_new(l2i, in->labels[i], json_integer(i));
      }
      mt = json_pack("{s:{s:o,s:o}}", in->n_labels == 1 ? "reranker" : "classifier", "id2label", i2l,
                     "label2id", l2i);
    } else {
      mt = json_pack("{s:{s:s}}", "embedding", "pooling", pools[in->pooling]);
    }
  }
  json_t *o = json_pack("{s:s,s:n,s:s,s:s,s:o,s:i,s:i,s:i,s:n,s:i,s:b,s:i,s:s,s:n,s:n,s:s}", "model_id",
                        t->model_id, "model_sha", "model_dtype", "float32", "served_model_name", t->model_id,
                        "model_type", mt, "max_concurrent_requests", t->p.max_concurrent_requests,
                        "max_input_length", t->max_input, "max_batch_tokens", (int)t->max_batch_tokens,
                        "max_batch_requests", "max_client_batch_size", t->max_client_batch, "auto_truncate",
                        0, "tokenization_workers", 1, "version", ENDPOINTD_VERSION,
                        "sha", "docker_label", "model_pipeline_tag", t->task);
  ep_http_respond_json(req, 200, o);
}

static void r_metrics(ep_http_req *req, const ep_route_params *p, void *ctx) {
  ep_tei *t = ctx;
  (void)p;
  ep_rt_gauges g = {0};
  g.ready = t->ready == 1;
  uv_mutex_lock(&t->mu);
  g.queue_size = t->queued;
  g.steps = t->batches;
  g.max_batch_seen = t->max_batch_seen;
  uv_mutex_unlock(&t->mu);
  ep_buf b = EP_BUF_INIT;
  ep_rt_metrics_render(&t->m, &g, &b);
  req->no_log = 1;
  ep_http_respond(req, 200, "text/plain; version=0.0.4", b.data ? b.data : "", b.len);
  ep_buf_free(&b);
}

static void r_models(ep_http_req *req, const ep_route_params *p, void *ctx) {
  ep_tei *t = ctx;
  (void)p;
  ep_http_respond_json(req, 200, json_pack("{s:s,s:[{s:s,s:s,s:i,s:s}]}", "object", "list", "data", "id",
                                           t->model_id, "object", "model", "created", 0, "owned_by",
                                           "endpointd"));
}

static const ep_route k_tei_routes[] = {
    {"GET", "/", r_health},           {"GET", "/health", r_health},
    {"GET", "/ping", r_health},       {"GET", "/info", r_info},
    {"GET", "/metrics", r_metrics},   {"GET", "/v1/models", r_models},
    {"POST", "/", r_root},            {"POST", "/invocations", r_root},
    {"POST", "/embed", r_embed},      {"POST", "/embed_all", r_embed_all},
    {"POST", "/predict", r_predict},  {"POST", "/rerank", r_rerank},
    {"POST", "/similarity", r_sim},   {"POST", "/tokenize", r_tokenize},
    {"POST", "/decode", r_decode},    {"POST", "/v1/embeddings", r_openai},
    {"POST", "/embeddings", r_openai},
};

void ep_tei_handle(ep_http_req *req, void *ctx) {
  ep_route_dispatch(k_tei_routes, sizeof k_tei_routes / sizeof k_tei_routes[0], req, ctx);
}
