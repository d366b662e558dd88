/* Generation plumbing shared by the TGI and OpenAI routes: parsing and
 * validating TGI `parameters` (messages as TGI words them), tokenizing and
 * checking limits, submitting to the scheduler, and pumping published tokens
 * of in-flight jobs to their HTTP requests on the loop thread. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/time.h"
#include "rt/server-impl.h"

void rt_opts_free(rt_opts *o) {
  for (size_t i = 0; i < o->nstop; i++) free(o->stop[i]);
  free(o->stop);
  o->stop = NULL;
  o->nstop = 0;
}

json_t *rt_jreal(double v) { return isfinite(v) ? json_real(v) : json_null(); }

void rt_error(ep_http_req *req, int status, const char *type, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* header values cannot hold newlines */
  char hv[256];
  size_t hl = strnlen(msg, sizeof hv - 1);
  memcpy(hv, msg, hl);
  hv[hl] = '\0';
  for (char *c = hv; *c; c++)
    if (*c == '\r' || *c == '\n') *c = ' ';
  ep_http_add_header(req, "X-Error-Message", hv);
  ep_http_respond_json(req, status, json_pack("{s:s,s:s}", "error", msg, "error_type", type));
}

void rt_sse_error(ep_http_req *req, const char *type, const char *msg) {
  ep_http_stream_begin(req, 200, "text/event-stream");
  json_t *e = json_pack("{s:s,s:s}", "error", msg, "error_type", type);
  char *s = json_dumps(e, JSON_COMPACT);
  json_decref(e);
  if (s) ep_http_sse_data(req, s);
  free(s);
  ep_http_stream_end(req);
}

/* ---- TGI parameters ----------------------------------------------------- */

#define DESER "Failed to deserialize the JSON body into the target type: parameters."

static int get_float(json_t *p, const char *k, float *out, int *set, char *err, size_t errsz) {
  json_t *v = json_object_get(p, k);
  *set = 0;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_number(v)) {
    snprintf(err, errsz, DESER "%s: invalid type, expected a number", k);
    return -1;
  }
  *out = (float)json_number_value(v);
  *set = 1;
  return 0;
}

static int get_int(json_t *p, const char *k, long long lo, long long *out, int *set, char *err,
                   size_t errsz) {
  json_t *v = json_object_get(p, k);
  *set = 0;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_integer(v) || json_integer_value(v) < lo) {
    snprintf(err, errsz, DESER "%s: invalid value, expected an integer >= %lld", k, lo);
    return -1;
  }
  *out = json_integer_value(v);
  *set = 1;
  return 0;
}

static int get_bool(json_t *p, const char *k, int *out, char *err, size_t errsz) {
  json_t *v = json_object_get(p, k);
  if (!v || json_is_null(v)) return 0;
  if (!json_is_boolean(v)) {
    snprintf(err, errsz, DESER "%s: invalid type, expected a boolean", k);
    return -1;
  }
  *out = json_is_true(v);
  return 0;
}

static int add_stop(rt_opts *o, const char *s) {
  char **ns = realloc(o->stop, sizeof(char *) * (o->nstop + 1));
  if (!ns) return -1;
  o->stop = ns;
  o->stop[o->nstop] = strdup(s);
  if (!o->stop[o->nstop]) return -1;
  o->nstop++;
  return 0;
}

/* stop: array of strings (or one string); NULL/null = none. */
static int parse_stop(ep_rt *rt, json_t *v, rt_opts *o, char *err, size_t errsz) {
  if (!v || json_is_null(v)) return 0;
  if (json_is_string(v)) return add_stop(o, json_string_value(v));
  if (!json_is_array(v)) {
    snprintf(err, errsz, DESER "stop: invalid type, expected a sequence");
    return -1;
  }
  if (json_array_size(v) > (size_t)rt->p.max_stop_sequences) {
    snprintf(err, errsz, "Input validation error: `stop` supports up to %d stop sequences. Given: %zu",
             rt->p.max_stop_sequences, json_array_size(v));
    return -1;
  }
  size_t i;
  json_t *e;
  json_array_foreach(v, i, e) {
    if (!json_is_string(e)) {
      snprintf(err, errsz, DESER "stop: invalid type, expected a string");
      return -1;
    }
    if (add_stop(o, json_string_value(e))) return -1;
  }
  return 0;
}

static void opts_init(rt_opts *o) {
  memset(o, 0, sizeof *o);
  o->sp = ep_sampler_default_params();
  o->max_new_tokens = -1;
  o->return_full_text = -1;
}

int rt_parse_tgi_params(ep_rt *rt, json_t *p, rt_opts *o, char *err, size_t errsz) {
  opts_init(o);
  if (!p || json_is_null(p)) {
    o->sampling = 1; /* TGI's default_parameters(): do_sample true */
    return 0;
  }
  if (!json_is_object(p)) {
    snprintf(err, errsz, "Failed to deserialize the JSON body into the target type: parameters: "
                         "invalid type, expected struct GenerateParameters");
    return -1;
  }
  int set, b = 0;
  float f;
  long long n;
  if (get_float(p, "temperature", &f, &set, err, errsz)) return -1;
  if (set) {
    if (!(f > 0)) {
      snprintf(err, errsz, "Input validation error: `temperature` must be strictly positive");
      return -1;
    }
    o->sp.temperature = f;
    if (f != 1.0f) o->sampling = 1;
  }
  if (get_float(p, "repetition_penalty", &f, &set, err, errsz)) return -1;
  if (set) {
    if (!(f > 0)) {
      snprintf(err, errsz, "Input validation error: `repetition_penalty` must be strictly positive");
      return -1;
    }
    o->sp.repetition_penalty = f;
  }
  if (get_float(p, "frequency_penalty", &f, &set, err, errsz)) return -1;
  if (set) {
    if (!(f >= -2.0f && f <= 2.0f)) {
      snprintf(err, errsz, "Input validation error: `frequency_penalty` must be >= -2.0 and <= 2.0");
      return -1;
    }
    o->sp.frequency_penalty = f;
  }
  if (get_float(p, "top_p", &f, &set, err, errsz)) return -1;
  if (set) {
    if (!(f > 0 && f <= 1)) {
      snprintf(err, errsz, "Input validation error: `top_p` must be > 0.0 and < 1.0");
      return -1;
    }
    o->sp.top_p = f;
    if (f < 1) o->sampling = 1;
  }
  if (get_float(p, "typical_p", &f, &set, err, errsz)) return -1;
  if (set) {
    if (!(f > 0 && f < 1)) {
      snprintf(err, errsz, "Input validation error: `typical_p` must be > 0.0 and < 1.0");
      return -1;
    }
    o->sp.typical_p = f;
    o->sampling = 1;
  }
  if (get_int(p, "top_k", 0, &n, &set, err, errsz)) return -1;
  if (set) {
    if (n <= 0) {
      snprintf(err, errsz, "Input validation error: `top_k` must be strictly positive");
      return -1;
    }
    o->sp.top_k = n > 1000000 ? 1000000 : (int)n;
    o->sampling = 1;
  }
  if (get_int(p, "max_new_tokens", 0, &n, &set, err, errsz)) return -1;
  if (set) {
    if (n <= 0) {
      snprintf(err, errsz, "Input validation error: `max_new_tokens` must be strictly positive");
      return -1;
    }
    o->max_new_tokens = n > 1000000000 ? 1000000000 : (int)n;
  }
  if (get_int(p, "truncate", 0, &n, &set, err, errsz)) return -1;
  if (set) {
    if (n <= 0) {
      snprintf(err, errsz, "Input validation error: `truncate` must be strictly positive");
      return -1;
    }
    o->truncate = n > 1000000000 ? 1000000000 : (int)n;
  }
  if (get_int(p, "seed", 0, &n, &set, err, errsz)) return -1;
  if (set) {
    o->sp.seed = (uint64_t)n;
    o->seed_set = 1;
  }
  if (get_int(p, "top_n_tokens", 0, &n, &set, err, errsz)) return -1;
  if (set) {
    if (n > rt->p.max_top_n_tokens) {
      snprintf(err, errsz, "Input validation error: `top_n_tokens` must be >= 0 and <= %d. Given: %lld",
               rt->p.max_top_n_tokens, n);
      return -1;
    }
    o->top_n = (int)n;
  }
  if (get_int(p, "best_of", 0, &n, &set, err, errsz)) return -1;
  if (set && n != 1) {
    snprintf(err, errsz, "Input validation error: `best_of` must be > 0 and <= 1. Given: %lld", n);
    return -1;
  }
  if (get_bool(p, "do_sample", &b, err, errsz)) return -1;
  if (b) o->sampling = 1;
  b = -1;
  if (get_bool(p, "return_full_text", &b, err, errsz)) return -1;
  o->return_full_text = b;
  if (get_bool(p, "details", &o->details, err, errsz)) return -1;
  if (get_bool(p, "decoder_input_details", &o->decoder_input_details, err, errsz)) return -1;
  b = 0;
  if (get_bool(p, "watermark", &b, err, errsz)) return -1;
  if (parse_stop(rt, json_object_get(p, "stop"), o, err, errsz)) return -1;
  json_t *g = json_object_get(p, "grammar");
  if (g && !json_is_null(g)) {
    snprintf(err, errsz, "Input validation error: grammar is not supported by this server");
    return -1;
  }
  return 0;
}

/* ---- building requests -------------------------------------------------- */

static uint64_t random_seed(void) {
  static uint64_t ctr;
  uint64_t x = ep_mono_ns() ^ ((uint64_t)ep_wall_ms() << 20) ^ (++ctr * 0x9e3779b97f4a7c15ull);
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ull;
  return (x ^ (x >> 29)) & 0x7fffffffffffffffull; /* fits JSON int64 */
}

int rt_make_gen(ep_rt *rt, const char *prompt, size_t plen, int add_special, rt_opts *o,
                ep_gen_req **out, char *err, size_t errsz, const char **etype) {
  *out = NULL;
  *etype = "validation";
  if (plen == 0) {
    snprintf(err, errsz, "Input validation error: `inputs` cannot be empty");
    return 422;
  }
  int32_t *ids = NULL;
  size_t n = 0;
  int rc = ep_tok_encode(rt->tok, prompt, plen, add_special, &ids, &n);
  if (rc != EP_OK) {
    snprintf(err, errsz, "Input validation error: cannot tokenize `inputs`: %s", ep_strerror(rc));
    free(ids);
    return 422;
  }
  if (o->truncate > 0 && n > (size_t)o->truncate) {
    memmove(ids, ids + (n - (size_t)o->truncate), sizeof(int32_t) * (size_t)o->truncate);
    n = (size_t)o->truncate;
  }
  int max_total = rt->p.max_total_tokens, max_input = rt->p.max_input_tokens;
  if (n == 0) {
    free(ids);
    snprintf(err, errsz, "Input validation error: `inputs` cannot be empty");
    return 422;
  }
  if (n > (size_t)max_input) {
    free(ids);
    snprintf(err, errsz, "Input validation error: `inputs` tokens must be <= %d. Given: %zu",
             max_input, n);
    return 422;
  }
  long long mnt = o->max_new_tokens;
  if (mnt < 0) mnt = (long long)max_total - (long long)n;
  if (mnt <= 0 || (long long)n + mnt > max_total) {
    free(ids);
    snprintf(err, errsz,
             "Input validation error: `inputs` tokens + `max_new_tokens` must be <= %d. Given: %zu "
             "`inputs` tokens and %lld `max_new_tokens`",
             max_total, n, mnt);
    return 422;
  }
  ep_gen_req *g = ep_gen_req_new();
  if (!g) {
    free(ids);
    snprintf(err, errsz, "out of memory");
    *etype = "generation";
    return 500;
  }
  g->input = ids;
  g->n_input = n;
  g->max_new_tokens = (int)mnt;
  g->sp = o->sp;
  g->sp.do_sample = o->sampling;
  if (o->sampling && !o->seed_set) g->sp.seed = random_seed();
  g->top_n = o->top_n;
  g->want_prefill = o->decoder_input_details;
  g->stop = o->stop; /* ownership moves */
  g->nstop = o->nstop;
  o->stop = NULL;
  o->nstop = 0;
  *out = g;
  return 0;
}

/* ---- jobs --------------------------------------------------------------- */

static void job_on_abort(ep_http_req *req, void *data) {
  rt_job *j = data;
  (void)req;
  j->aborted = 1;
  if (j->g) atomic_store(&j->g->cancel, 1);
}

rt_job *rt_job_start(ep_rt *rt, ep_http_req *req, ep_gen_req *g, rt_job_kind kind) {
  rt->m.request_count++;
  rt->m.input_tokens_total += g->n_input;
  ep_hist_observe(&rt->m.input_length, (double)g->n_input);
  ep_hist_observe(&rt->m.max_new_tokens, (double)g->max_new_tokens);
  rt_job *j = calloc(1, sizeof *j);
  if (!j) {
    ep_gen_req_free(g);
    rt_error(req, 500, "generation", "out of memory");
    return NULL;
  }
  j->rt = rt;
  j->http = req;
  j->g = g;
  j->kind = kind;
  j->t_start_ns = req->start_ns ? req->start_ns : ep_mono_ns();
  j->created = ep_wall_ms() / 1000;
  g->user = j;
  int rc = ep_rt_sched_submit(rt->sched, g);
  if (rc != EP_OK) {
    free(j);
    ep_gen_req_free(g);
    if (rc == EP_EBUSY) {
      rt->m.failure_overloaded++;
      rt_error(req, 429, "overloaded", "Model is overloaded");
    } else {
      rt->m.failure_validation++;
      rt_error(req, 422, "validation", "Input validation error: %s", ep_strerror(rc));
    }
    return NULL;
  }
  j->next = rt->jobs;
  if (rt->jobs) rt->jobs->prev = j;
  rt->jobs = j;
  rt->njobs++;
  ep_http_req_on_abort(req, job_on_abort, j);
  return j;
}

void rt_add_timing_headers(rt_job *j) {
  ep_gen_req *g = j->g;
  char v[64];
  uint64_t now = ep_mono_ns();
  double total_ms = (double)(now - j->t_start_ns) / 1e6;
  double queue_ms = g->t_start_ns > g->t_submit_ns ? (double)(g->t_start_ns - g->t_submit_ns) / 1e6 : 0;
  double infer_ms = g->t_done_ns > g->t_start_ns ? (double)(g->t_done_ns - g->t_start_ns) / 1e6 : 0;
  ep_http_add_header(j->http, "x-compute-type", "cpu");
  snprintf(v, sizeof v, "%.6f", total_ms / 1e3);
  ep_http_add_header(j->http, "x-compute-time", v);
  snprintf(v, sizeof v, "%zu", j->prompt ? strlen(j->prompt) : (size_t)0);
  ep_http_add_header(j->http, "x-compute-characters", v);
  snprintf(v, sizeof v, "%.0f", total_ms);
  ep_http_add_header(j->http, "x-total-time", v);
  ep_http_add_header(j->http, "x-validation-time", "0");
  snprintf(v, sizeof v, "%.0f", queue_ms);
  ep_http_add_header(j->http, "x-queue-time", v);
  snprintf(v, sizeof v, "%.0f", infer_ms);
  ep_http_add_header(j->http, "x-inference-time", v);
  snprintf(v, sizeof v, "%.0f", g->n_pub ? infer_ms / (double)g->n_pub : 0.0);
  ep_http_add_header(j->http, "x-time-per-token", v);
  snprintf(v, sizeof v, "%zu", g->n_input);
  ep_http_add_header(j->http, "x-prompt-tokens", v);
  snprintf(v, sizeof v, "%zu", g->n_pub);
  ep_http_add_header(j->http, "x-generated-tokens", v);
}

static void job_metrics(ep_rt *rt, rt_job *j) {
  ep_gen_req *g = j->g;
  if (g->finish == EP_FINISH_CANCELED) {
    rt->m.failure_canceled++;
    return;
  }
  if (g->finish == EP_FINISH_ERROR) {
    rt->m.failure_generation++;
    return;
  }
  rt->m.request_success++;
  rt->m.generated_tokens_total += g->n_pub;
  double infer = g->t_done_ns > g->t_start_ns ? (double)(g->t_done_ns - g->t_start_ns) / 1e9 : 0;
  ep_hist_observe(&rt->m.duration, (double)(ep_mono_ns() - j->t_start_ns) / 1e9);
  ep_hist_observe(&rt->m.queue_duration,
                  g->t_start_ns > g->t_submit_ns ? (double)(g->t_start_ns - g->t_submit_ns) / 1e9 : 0);
  ep_hist_observe(&rt->m.inference_duration, infer);
  if (g->n_pub) ep_hist_observe(&rt->m.time_per_token, infer / (double)g->n_pub);
  ep_hist_observe(&rt->m.generated_tokens, (double)g->n_pub);
}

static void job_free(ep_rt *rt, rt_job *j) {
  if (j->prev) j->prev->next = j->next;
  else rt->jobs = j->next;
  if (j->next) j->next->prev = j->prev;
  rt->njobs--;
  ep_gen_req_free(j->g);
  free(j->prompt);
  free(j->model_name);
  free(j);
}

void rt_jobs_pump(ep_rt *rt) {
  rt_job *j = rt->jobs;
  while (j) {
    rt_job *next = j->next;
    size_t n = 0;
    int done = 0;
    ep_rt_sched_progress(rt->sched, j->g, &n, &done);
    int streaming = j->kind == JOB_TGI_STREAM || j->kind == JOB_OAI_COMPL_STREAM ||
                    j->kind == JOB_OAI_CHAT_STREAM;
    if (streaming && !j->aborted) {
      /* the last token of a finished request goes out with the final event */
      size_t upto = done ? (n ? n - 1 : 0) : n;
      if (upto > j->n_sent) {
        if (j->kind == JOB_TGI_STREAM) rt_tgi_emit(j, j->n_sent, upto);
        else rt_oai_emit(j, j->n_sent, upto);
        j->n_sent = upto;
      }
    }
    if (done) {
      job_metrics(rt, j);
      if (j->kind <= JOB_TGI_STREAM) rt_tgi_finish(j);
      else rt_oai_finish(j);
      job_free(rt, j);
    }
    j = next;
  }
}
