/* Continuous-batching scheduler: one compute thread owns the model and runs
 * decode steps; requests are submitted from any thread into a bounded queue
 * and join the running batch between steps. Each step calls
 * ep_model_forward once with every active sequence (a prefill chunk or one
 * decode token each). Results (tokens, final text, finish reason) are written
 * into the request and published under the scheduler mutex; `notify` is then
 * called on the compute thread (the server wires it to uv_async_send).
 *
 * Ownership: the submitter allocates an ep_gen_req (ep_gen_req_new), fills
 * its inputs, and submits it. From then on the compute thread writes its
 * outputs; the submitter reads published outputs (tokens [0, n_pub), and
 * everything once `done`) after ep_gen_req_progress. The submitter frees the
 * request with ep_gen_req_free only after it saw done (cancel first if it
 * wants it to end early). JSON never crosses into this module. */
#ifndef EP_RT_SCHED_H
#define EP_RT_SCHED_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "rt/model.h"
#include "rt/sampler.h"
#include "tok/tok.h"

typedef enum {
  EP_FINISH_NONE = 0,
  EP_FINISH_LENGTH,
  EP_FINISH_EOS,
  EP_FINISH_STOP,
  EP_FINISH_ERROR,     /* generation failed; see req->errmsg */
  EP_FINISH_CANCELED,  /* cancel flag seen */
} ep_finish;

const char *ep_finish_str(ep_finish f); /* "length" | "eos_token" | "stop_sequence" | ... */

typedef struct {
  char *text; /* owned */
  float logprob;
  int32_t id;
} ep_gen_top;

typedef struct {
  int32_t id;
  int special;
  float logprob;
  char *text;       /* owned; the newly completed text for this token (streaming piece) */
  ep_gen_top *top;  /* top_n entries (owned) or NULL */
} ep_gen_token;

typedef struct {
  int32_t id;
  float logprob;    /* NAN for the first token */
  char *text;       /* owned */
} ep_gen_prefill;

typedef struct ep_gen_req ep_gen_req;
struct ep_gen_req {
  /* inputs: set before submit, read-only afterwards */
  int32_t *input;       /* owned (malloc) */
  size_t n_input;
  ep_sampler_params sp;
  int max_new_tokens;   /* > 0 */
  char **stop;          /* owned strings */
  size_t nstop;
  int top_n;            /* top_n_tokens, 0 = off */
  int want_prefill;     /* decoder_input_details */
  void *user;           /* submitter's */
  /* control */
  atomic_int cancel;
  /* outputs (see the header comment for when they may be read) */
  ep_gen_token *toks;   /* capacity max_new_tokens */
  size_t n_pub;         /* tokens published */
  ep_gen_prefill *prefill; /* n_input entries when want_prefill, after the first publish */
  int done;
  ep_finish finish;
  char *text;           /* final generated text (stop sequence trimmed), owned */
  char errmsg[160];
  uint64_t t_submit_ns, t_start_ns, t_first_ns, t_done_ns;
  /* private */
  ep_gen_req *next;
};

ep_gen_req *ep_gen_req_new(void);
void ep_gen_req_free(ep_gen_req *r);

typedef struct {
  int max_batch_size;     /* sequences per step (default 8) */
  size_t max_queue;       /* requests waiting or running (default 128); more -> EP_EBUSY */
  int prefill_chunk;      /* max prompt tokens per sequence per step (default 256) */
  int step_tokens;        /* max tokens per step over all sequences (default 512) */
  void (*notify)(void *ctx); /* called on the compute thread after publishing */
  void *notify_ctx;
} ep_rt_sched_params;

ep_rt_sched_params ep_rt_sched_default_params(void);

typedef struct ep_rt_sched ep_rt_sched;

/* Starts the compute thread. model and tok are borrowed and must outlive the
 * scheduler. */
int ep_rt_sched_new(ep_model *m, const ep_tok *tok, const ep_rt_sched_params *p, ep_rt_sched **out);
/* Stops the thread; requests still queued or running finish as CANCELED
 * (published) before it returns. */
void ep_rt_sched_free(ep_rt_sched *s);
/* Same stop as ep_rt_sched_free, but keeps the object so published requests can
 * still be read (ep_rt_sched_progress). Idempotent. */
void ep_rt_sched_stop(ep_rt_sched *s);

/* Queues r. EP_EBUSY when the queue is full (the request is not taken),
 * EP_EINVAL for bad inputs (empty, ids out of range, over n_ctx). */
int ep_rt_sched_submit(ep_rt_sched *s, ep_gen_req *r);
/* Reads the published state of r: *ntok tokens are readable, *done set when
 * finished. Thread-safe. */
void ep_rt_sched_progress(ep_rt_sched *s, ep_gen_req *r, size_t *ntok, int *done);
/* Blocks until r is done (tests, CLI). */
void ep_rt_sched_wait(ep_rt_sched *s, ep_gen_req *r);

typedef struct {
  size_t queued;        /* waiting, not yet in the batch */
  size_t running;       /* in the batch */
  uint64_t steps;
  uint64_t step_tokens; /* tokens pushed through forward, total */
  uint64_t max_batch_seen;
  size_t kv_pooled;     /* finished sequences' KV caches kept for reuse (<= max_batch_size) */
  size_t kv_pooled_max; /* most caches the pool held at once */
  uint64_t kv_reused;   /* sequences that took a pooled cache instead of a new one */
} ep_rt_sched_stats;
void ep_rt_sched_get_stats(ep_rt_sched *s, ep_rt_sched_stats *st);

#endif
