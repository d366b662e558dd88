/* TEI object lifecycle and its compute thread: loads tokenizer + encoder on a
 * helper thread, then one worker takes queued jobs, merges those of the same
 * operation into one packed batch (up to max_batch_tokens, across requests),
 * runs the encoder and hands the jobs back to the loop thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/time.h"
#include "rt/tei-impl.h"

int ep_tei_is_task(const char *task) {
  static const char *k[] = {"feature-extraction", "sentence-similarity", "text-classification",
                            "sentence-embeddings", "sentence-transformers"};
  for (size_t i = 0; task && i < sizeof k / sizeof *k; i++)
    if (!strcmp(task, k[i])) return 1;
  return 0;
}

void tei_job_free(tei_job *j) {
  if (!j) return;
  for (size_t i = 0; j->seqs && i < j->nseq; i++) {
    free((void *)j->seqs[i].ids);
    free((void *)j->seqs[i].type_ids);
  }
  free(j->seqs);
  free(j->out);
  json_decref(j->texts);
  free(j->model_name);
  free(j);
}

static size_t out_floats(const ep_encoder_info *in, const tei_job *j) {
  if (j->op == TEI_OP_EMBED) return j->nseq * in->dim;
  if (j->op == TEI_OP_HIDDEN) return j->ntokens * in->d;
  return j->nseq * in->n_labels;
}

/* Runs a merged batch of jobs (same op). */
static void run_batch(ep_tei *t, tei_job **jobs, size_t nj) {
  const ep_encoder_info *in = ep_encoder_get_info(t->enc);
  size_t nseq = 0;
  for (size_t i = 0; i < nj; i++) nseq += jobs[i]->nseq;
  ep_enc_seq *seqs = malloc(nseq * sizeof *seqs);
  size_t per = jobs[0]->op == TEI_OP_EMBED ? (size_t)in->dim : (size_t)in->n_labels, total = 0;
  for (size_t i = 0; i < nj; i++) total += out_floats(in, jobs[i]);
  float *out = malloc((total + 1) * sizeof(float));
  int rc = seqs && out ? EP_OK : EP_ENOMEM;
  uint64_t t0 = ep_mono_ns();
  if (rc == EP_OK) {
    for (size_t i = 0, k = 0; i < nj; i++)
      for (size_t s = 0; s < jobs[i]->nseq; s++) seqs[k++] = jobs[i]->seqs[s];
    if (jobs[0]->op == TEI_OP_EMBED) rc = ep_encoder_embed(t->enc, seqs, nseq, -1, 0, out);
    else if (jobs[0]->op == TEI_OP_HIDDEN) rc = ep_encoder_forward(t->enc, seqs, nseq, out);
    else rc = ep_encoder_classify(t->enc, seqs, nseq, out);
  }
  uint64_t t1 = ep_mono_ns();
  (void)per;
  for (size_t i = 0, off = 0; i < nj; i++) {
    tei_job *j = jobs[i];
    size_t nf = out_floats(in, j);
    j->rc = rc;
    j->t_queue_ns = t0 > j->t_queue_ns ? t0 - j->t_queue_ns : 0; /* was: submit time */
    j->t_infer_ns = t1 - t0;
    if (rc == EP_OK) {
      j->out = malloc((nf + 1) * sizeof(float));
      if (j->out) memcpy(j->out, out + off, nf * sizeof(float));
      else j->rc = EP_ENOMEM;
    }
    off += nf;
  }
  free(seqs);
  free(out);
}

static void worker_main(void *arg) {
  ep_tei *t = arg;
  tei_job *batch[256];
  for (;;) {
    uv_mutex_lock(&t->mu);
    while (!t->queue && !t->stop) uv_cond_wait(&t->cv, &t->mu);
    if (t->stop) {
      uv_mutex_unlock(&t->mu);
      break;
    }
    /* head job plus later jobs of the same op that fit the token budget */
    size_t nj = 0, tokens = 0;
    tei_job **pp = &t->queue, *last = NULL;
    tei_op op = t->queue->op;
    while (*pp && nj < 256) {
      tei_job *j = *pp;
      if (j->op == op && (nj == 0 || tokens + j->ntokens <= t->max_batch_tokens)) {
        *pp = j->next;
        j->next = NULL;
        batch[nj++] = j;
        tokens += j->ntokens;
        t->queued--;
      } else {
        last = j;
        pp = &j->next;
      }
    }
    t->queue_tail = last;
    if (!t->queue) t->queue_tail = NULL;
    uv_mutex_unlock(&t->mu);
    run_batch(t, batch, nj);
    uv_mutex_lock(&t->mu);
    t->batches++;
    if (nj > t->max_batch_seen) t->max_batch_seen = nj;
    for (size_t i = 0; i < nj; i++) {
      batch[i]->next = t->done;
      t->done = batch[i];
    }
    uv_mutex_unlock(&t->mu);
    uv_async_send(&t->done_async);
  }
}

int tei_submit(ep_tei *t, tei_job *j) {
  uv_mutex_lock(&t->mu);
  if (t->stop || t->queued >= (size_t)t->p.max_concurrent_requests) {
    uv_mutex_unlock(&t->mu);
    return t->stop ? EP_ECANCELED : EP_EBUSY;
  }
  j->t_queue_ns = ep_mono_ns();
  j->next = NULL;
  if (t->queue_tail) t->queue_tail->next = j;
  else t->queue = j;
  t->queue_tail = j;
  t->queued++;
  uv_cond_signal(&t->cv);
  uv_mutex_unlock(&t->mu);
  return EP_OK;
}

static void on_done(uv_async_t *a) {
  ep_tei *t = a->data;
  uv_mutex_lock(&t->mu);
  tei_job *list = t->done;
  t->done = NULL;
  uv_mutex_unlock(&t->mu);
  /* reverse to completion order */
  tei_job *rev = NULL;
  while (list) {
    tei_job *n = list->next;
    list->next = rev;
    rev = list;
    list = n;
  }
  while (rev) {
    tei_job *n = rev->next;
    tei_finish(rev);
    rev = n;
  }
}

static void load_main(void *arg) {
  ep_tei *t = arg;
  char err[400] = "";
  int rc = ep_tok_load_dir(t->p.model_dir, &t->tok, err, sizeof err);
  if (rc != EP_OK) {
    snprintf(t->load_err, sizeof t->load_err, "tokenizer: %s", err);
  } else {
    ep_encoder_params ep = ep_encoder_default_params();
    ep.dir = t->p.model_dir;
    ep.threads = t->p.threads;
    rc = ep_encoder_load(&ep, &t->enc, err, sizeof err);
    if (rc != EP_OK) snprintf(t->load_err, sizeof t->load_err, "model: %s", err);
  }
  uv_async_send(&t->load_async);
}

static void on_loaded(uv_async_t *a) {
  ep_tei *t = a->data;
  uv_thread_join(&t->load_thread);
  t->load_started = 0;
  if (t->closing) return;
  if (!t->enc || !t->tok) {
    t->ready = -1;
    ep_log_error("runtime load failed", "err=\"%s\"", t->load_err);
    return;
  }
  const ep_encoder_info *in = ep_encoder_get_info(t->enc);
  if (!strcmp(t->task, "text-classification") && !in->has_classifier) {
    t->ready = -1;
    snprintf(t->load_err, sizeof t->load_err,
             "model: task text-classification needs a *ForSequenceClassification checkpoint "
             "(no classifier weights found)");
    return;
  }
  t->max_input = in->max_tokens;
  if (t->p.max_input_tokens > 0 && t->p.max_input_tokens < t->max_input)
    t->max_input = t->p.max_input_tokens;
  if (uv_thread_create(&t->worker, worker_main, t) != 0) {
    t->ready = -1;
    snprintf(t->load_err, sizeof t->load_err, "cannot start the compute thread");
    return;
  }
  t->worker_started = 1;
  t->ready = 1;
  ep_log_info("runtime ready", "model=\"%s\" arch=%s task=%s dim=%d labels=%d max_input=%d",
              t->model_id, in->arch, t->task, in->dim, in->n_labels, t->max_input);
}

int ep_tei_new(uv_loop_t *loop, const ep_rt_params *p, const char *model_id, ep_tei **out) {
  ep_tei *t = calloc(1, sizeof *t);
  *out = NULL;
  if (!t) return EP_ENOMEM;
  t->loop = loop;
  t->p = *p;
  snprintf(t->task, sizeof t->task, "%s", p->task ? p->task : "feature-extraction");
  snprintf(t->model_id, sizeof t->model_id, "%s", model_id ? model_id : "");
  t->max_client_batch = p->max_client_batch_size > 4 ? p->max_client_batch_size : 32;
  t->max_batch_tokens = 16384;
  if (t->p.max_concurrent_requests <= 0) t->p.max_concurrent_requests = 512;
  ep_rt_metrics_init(&t->m);
  uv_mutex_init(&t->mu);
  uv_cond_init(&t->cv);
  uv_async_init(loop, &t->load_async, on_loaded);
  uv_async_init(loop, &t->done_async, on_done);
  t->load_async.data = t->done_async.data = t;
  t->handles_open = 2;
  *out = t;
  return EP_OK;
}

int ep_tei_load_start(ep_tei *t) {
  if (t->load_started || t->ready) return EP_ESTATE;
  t->load_started = 1;
  if (uv_thread_create(&t->load_thread, load_main, t) != 0) {
    t->load_started = 0;
    return EP_EIO;
  }
  return EP_OK;
}

int ep_tei_ready(const ep_tei *t) { return t->ready; }
const char *ep_tei_load_error(const ep_tei *t) { return t->load_err; }

static void on_closed(uv_handle_t *h) {
  ep_tei *t = h->data;
  if (--t->handles_open == 0 && t->done_cb) t->done_cb(t->done_ctx);
}

void ep_tei_close(ep_tei *t, void (*done)(void *), void *ctx) {
  t->closing = 1;
  t->done_cb = done;
  t->done_ctx = ctx;
  if (t->load_started) {
    uv_thread_join(&t->load_thread);
    t->load_started = 0;
  }
  uv_mutex_lock(&t->mu);
  t->stop = 1;
  uv_cond_signal(&t->cv);
  uv_mutex_unlock(&t->mu);
  if (t->worker_started) {
    uv_thread_join(&t->worker);
    t->worker_started = 0;
  }
  on_done(&t->done_async); /* finished but not yet answered */
  while (t->queue) {        /* never started: answered as canceled */
    tei_job *j = t->queue;
    t->queue = j->next;
    j->rc = EP_ECANCELED;
    tei_finish(j);
  }
  t->queue_tail = NULL;
  uv_close((uv_handle_t *)&t->load_async, on_closed);
  uv_close((uv_handle_t *)&t->done_async, on_closed);
}

void ep_tei_free(ep_tei *t) {
  if (!t) return;
  ep_encoder_free(t->enc);
  ep_tok_free(t->tok);
  uv_mutex_destroy(&t->mu);
  uv_cond_destroy(&t->cv);
  free(t);
}
