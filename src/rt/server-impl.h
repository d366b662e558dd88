/* Private to the runtime server files (server.c, server_gen.c, server_tgi.c,
 * server_oai.c): the ep_rt object, in-flight jobs, parsed generation options
 * and the JSON/error helpers they share. Loop thread only. */
#ifndef EP_RT_SERVER_IMPL_H
#define EP_RT_SERVER_IMPL_H

#include <jansson.h>
#include <stdint.h>

#include "rt/metrics.h"
#include "rt/sched.h"
#include "rt/server.h"
#include "tok/tok.h"

#ifndef ENDPOINTD_VERSION
#define ENDPOINTD_VERSION "0.1.0"
#endif

typedef enum {
  JOB_GENERATE = 0,   /* /generate: object */
  JOB_COMPAT,         /* POST /: one-element array */
  JOB_TGI_STREAM,     /* /generate_stream, POST / with stream */
  JOB_OAI_COMPL,
  JOB_OAI_COMPL_STREAM,
  JOB_OAI_CHAT,
  JOB_OAI_CHAT_STREAM,
} rt_job_kind;

typedef struct rt_job rt_job;
struct rt_job {
  ep_rt *rt;
  ep_http_req *http;   /* NULL once finished */
  ep_gen_req *g;
  rt_job_kind kind;
  int details, return_full_text, seed_set, include_usage, logprobs, aborted;
  uint64_t seed;
  char *prompt;        /* owned; for return_full_text */
  char *model_name;    /* owned; OpenAI "model" echo */
  int64_t created;
  size_t n_sent;       /* tokens already streamed */
  uint64_t t_start_ns;
  rt_job *prev, *next;
};

struct ep_rt {
  uv_loop_t *loop;
  ep_rt_params p;
  char model_id[256];
  char dtype_name[16];
  uv_async_t async;       /* scheduler progress */
  uv_async_t load_async;  /* load finished */
  uv_thread_t load_thread;
  int load_started, ready; /* ready: 1 ok, -1 failed */
  char load_err[512];
  ep_model *model;
  ep_tok *tok;
  ep_rt_sched *sched;
  rt_job *jobs;
  size_t njobs;
  ep_rt_metrics m;
  int closing, handles_open;
  void (*done)(void *);
  void *done_ctx;
  struct ep_tei *tei;     /* encoder tasks (tei.h): set instead of model/sched */
};

/* Parsed generation options (TGI parameters or OpenAI fields). */
typedef struct {
  ep_sampler_params sp;
  int sampling;
  int max_new_tokens;     /* -1 = default */
  int return_full_text;   /* -1 = route default */
  int details, decoder_input_details, top_n, truncate, best_of;
  int seed_set;
  char **stop;
  size_t nstop;
} rt_opts;

void rt_opts_free(rt_opts *o);

/* Errors: TGI shape {"error","error_type"} with status. */
void rt_error(ep_http_req *req, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void rt_sse_error(ep_http_req *req, const char *type, const char *msg); /* 200 + data: {error} */

/* server_gen.c: option parsing and job plumbing */
int rt_parse_tgi_params(ep_rt *rt, json_t *params, rt_opts *o, char *err, size_t errsz);
/* Tokenizes prompt, checks limits, fills defaults, and builds the request.
 * On failure returns an HTTP status (422/429/...) with err filled. */
int rt_make_gen(ep_rt *rt, const char *prompt, size_t plen, int add_special, rt_opts *o,
                ep_gen_req **out, char *err, size_t errsz, const char **etype);
/* Submits g and registers the job; on EP_EBUSY answers 429 itself. Returns the
 * job or NULL (request already answered, g freed). */
rt_job *rt_job_start(ep_rt *rt, ep_http_req *req, ep_gen_req *g, rt_job_kind kind);
void rt_jobs_pump(ep_rt *rt);
json_t *rt_jreal(double v); /* NaN/inf -> null */
void rt_add_timing_headers(rt_job *j);

/* server_tgi.c */
/* Parses the body as a JSON object; on failure answers (400 syntax, 422 not
 * an object) and returns NULL. */
json_t *rt_parse_body(ep_http_req *req);
void rt_route_generate(ep_rt *rt, ep_http_req *req, int compat, int stream_route);
void rt_route_tokenize(ep_rt *rt, ep_http_req *req);
void rt_tgi_emit(rt_job *j, size_t from, size_t to);
void rt_tgi_finish(rt_job *j);
/* server_oai.c */
void rt_route_completions(ep_rt *rt, ep_http_req *req);
void rt_route_chat(ep_rt *rt, ep_http_req *req);
void rt_route_models(ep_rt *rt, ep_http_req *req);
void rt_oai_emit(rt_job *j, size_t from, size_t to);
void rt_oai_finish(rt_job *j);

#endif
