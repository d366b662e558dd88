/* The runtime's HTTP face: TGI-compatible routes (/generate, /generate_stream,
 * POST / compat, /tokenize, /info, /health, /metrics) and OpenAI routes
 * (/v1/completions, /v1/chat/completions, /v1/models) over one model replica.
 *
 * Threads: ep_rt lives on the loop thread (all functions here are loop-thread
 * calls). The model loads on a helper thread after ep_rt_load_start; until it
 * is ready the health routes answer 503 and the inference routes 503 too.
 * Generation runs on the scheduler's compute thread (sched.h).
 *
 * Ownership: ep_rt_new returns a caller-owned object; ep_rt_close stops the
 * scheduler (in-flight requests end as canceled) and releases the loop
 * handles, then calls done; ep_rt_free after that. */
#ifndef EP_RT_SERVER_H
#define EP_RT_SERVER_H

#include <uv.h>

#include "http/http.h"
#include "rt/model.h"

typedef struct {
  const char *model_dir;        /* Hugging Face folder */
  const char *model_id;         /* reported name; NULL = folder name */
  const char *task;             /* "text-generation" */
  int threads;                  /* 0 = all cores */
  ep_dtype dtype;
  int max_total_tokens;         /* 0 = min(n_ctx, 2048) */
  int max_input_tokens;         /* 0 = max_total_tokens - 1 */
  int max_batch_size;           /* default 8 */
  int max_concurrent_requests;  /* default 128 */
  int max_stop_sequences;       /* default 4 */
  int max_top_n_tokens;         /* default 5 */
  int max_client_batch_size;    /* default 4 */
} ep_rt_params;

ep_rt_params ep_rt_default_params(void);

typedef struct ep_rt ep_rt;

int ep_rt_new(uv_loop_t *loop, const ep_rt_params *p, ep_rt **out);
/* Starts loading the model and tokenizer on a helper thread. */
int ep_rt_load_start(ep_rt *rt);
/* 1 once loaded, -1 if loading failed (message in ep_rt_load_error), else 0. */
int ep_rt_ready(const ep_rt *rt);
const char *ep_rt_load_error(const ep_rt *rt);
/* The http handler; ctx must be the ep_rt. */
void ep_rt_handle(ep_http_req *req, void *ctx);
void ep_rt_close(ep_rt *rt, void (*done)(void *), void *ctx);
void ep_rt_free(ep_rt *rt);

#endif
