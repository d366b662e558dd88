/* Private to tei_worker.c and server_tei.c: the ep_tei object, the compute
 * jobs handed to the worker thread, and the response kinds the loop thread
 * formats when a job is done. */
#ifndef EP_RT_TEI_IMPL_H
#define EP_RT_TEI_IMPL_H

#include <jansson.h>
#include <stdint.h>

#include "rt/encoder.h"
#include "rt/metrics.h"
#include "rt/tei.h"
#include "tok/tok.h"

typedef enum { TEI_OP_EMBED = 0, TEI_OP_HIDDEN, TEI_OP_LOGITS } tei_op;

typedef enum {
  TEI_R_EMBED = 0,   /* [[f32]] */
  TEI_R_EMBED_ALL,   /* [[[f32]]] */
  TEI_R_PREDICT,     /* [{score,label}] or [[...]] */
  TEI_R_TASK_CLS,    /* POST / text-classification: [[{label,score}]] */
  TEI_R_RERANK,      /* [{index,score,text?}] */
  TEI_R_SIMILARITY,  /* [f32] */
  TEI_R_OPENAI,      /* /v1/embeddings object */
} tei_resp;

typedef struct tei_job tei_job;
struct tei_job {
  ep_tei *t;
  ep_http_req *req;
  tei_op op;
  tei_resp resp;
  ep_enc_seq *seqs;       /* [nseq]; ids/type_ids owned (malloc) */
  size_t nseq, ntokens;
  float *out;             /* EMBED [nseq, dim], HIDDEN [ntokens, d], LOGITS [nseq, n_labels] */
  int rc;
  /* response options */
  int normalize, dims, raw_scores, top_k, batch_shape, fn; /* fn: 0 softmax 1 sigmoid 2 none */
  int return_text, base64;
  json_t *texts;          /* rerank texts (owned ref) */
  char *model_name;       /* OpenAI echo (owned) */
  uint64_t t_start_ns, t_tok_ns, t_queue_ns, t_infer_ns;
  size_t nchars;
  tei_job *next;
};

struct ep_tei {
  uv_loop_t *loop;
  ep_rt_params p;
  char task[48];
  char model_id[256];
  uv_async_t load_async, done_async;
  uv_thread_t load_thread, worker;
  int load_started, worker_started, ready, closing, handles_open;
  char load_err[512];
  ep_encoder *enc;
  ep_tok *tok;
  int max_input;          /* tokens per sequence */
  int max_client_batch;   /* inputs per request */
  size_t max_batch_tokens;
  /* worker queue (mutex-protected) */
  uv_mutex_t mu;
  uv_cond_t cv;
  tei_job *queue, *queue_tail, *done;
  size_t queued;
  int stop;
  uint64_t batches, max_batch_seen;
  ep_rt_metrics m;
  void (*done_cb)(void *);
  void *done_ctx;
};

/* tei_worker.c */
int tei_submit(ep_tei *t, tei_job *j); /* EP_BUSY when the queue is full */
void tei_job_free(tei_job *j);
/* server_tei.c: formats and sends the response of a finished job */
void tei_finish(tei_job *j);

#endif
