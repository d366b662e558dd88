/* Continuous-batching scheduler (see sched.h). The compute thread loops:
 * admit queued requests up to max_batch_size, drop canceled ones, build one
 * batch (decode tokens first, then prompt chunks within the step budget), run
 * ep_model_forward once, then sample/detokenize/stop-check each sequence whose
 * prompt is fully in its KV cache, and publish. Prompt and generated tokens
 * share one path: a sequence feeds ids[n_fed..n_ids) in chunks. Finished
 * sequences' KV caches go to a small pool that new sequences take from. */
#include "rt/sched.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/time.h"
#include "rt/stop.h"

typedef struct {
  ep_gen_req *r;
  ep_kv *kv;
  int32_t *ids;     /* input then generated; capacity cap */
  size_t n_ids, n_fed, cap;
  int n_gen;
  ep_rng rng;
  ep_tok_stream *ts;
  ep_buf text;      /* generated text so far (special tokens skipped) */
  float *logits;    /* vocab */
} seq_t;

struct ep_rt_sched {
  ep_model *model;
  const ep_tok *tok;
  const ep_model_info *info;
  ep_rt_sched_params p;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t work;  /* compute thread waits for requests */
  pthread_cond_t prog;  /* waiters on progress */
  ep_gen_req *qhead, *qtail;
  size_t nqueued, nrunning;
  int stopping, inited, running;
  ep_rt_sched_stats st;
  /* compute thread only */
  seq_t *seqs;
  size_t nseqs;
  ep_sampler sampler;
  ep_batch_item *items;
  float *all_logits;    /* prefill_chunk * vocab, for decoder_input_details */
  float *lsm;           /* vocab scratch */
  /* KV caches of finished sequences, emptied (ep_kv_truncate 0), at most
   * max_batch_size: a new sequence takes the smallest that holds it. A new
   * cache of >= 2 MiB is fresh huge pages, faulted and zeroed by the kernel
   * on first touch; a pooled one is already resident. Repeated rounds of 8
   * streams on llama-124m (f32, 2 threads): clear_page_erms 3.0% / 1.6% of
   * the runtime's samples before, none with the pool; throughput equal within
   * the machine's drift (377.6 vs 377.1 tok/s, mean of 6). Bounded by the
   * memory of one full batch, which stays resident while the replica idles. */
  ep_kv **kv_pool;
  size_t nkv_pool;
};

const char *ep_finish_str(ep_finish f) {
  switch (f) {
  case EP_FINISH_LENGTH: return "length";
  case EP_FINISH_EOS: return "eos_token";
  case EP_FINISH_STOP: return "stop_sequence";
  case EP_FINISH_ERROR: return "error";
  case EP_FINISH_CANCELED: return "canceled";
  default: return "none";
  }
}

ep_gen_req *ep_gen_req_new(void) {
  ep_gen_req *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->sp = ep_sampler_default_params();
  r->max_new_tokens = 20;
  atomic_init(&r->cancel, 0);
  return r;
}

void ep_gen_req_free(ep_gen_req *r) {
  if (!r) return;
  free(r->input);
  for (size_t i = 0; i < r->nstop; i++) free(r->stop[i]);
  free(r->stop);
  if (r->toks) {
    for (size_t i = 0; i < r->n_pub; i++) {
      free(r->toks[i].text);
      if (r->toks[i].top)
        for (int k = 0; k < r->top_n; k++) free(r->toks[i].top[k].text);
      free(r->toks[i].top);
    }
    free(r->toks);
  }
  if (r->prefill) {
    for (size_t i = 0; i < r->n_input; i++) free(r->prefill[i].text);
    free(r->prefill);
  }
  free(r->text);
  free(r);
}

ep_rt_sched_params ep_rt_sched_default_params(void) {
  ep_rt_sched_params p = {0};
  p.max_batch_size = 8;
  p.max_queue = 128;
  p.prefill_chunk = 256;
  p.step_tokens = 512;
  return p;
}

static char *tok_text1(const ep_tok *t, int32_t id) {
  char *s = NULL;
  if (ep_tok_decode(t, &id, 1, 0, &s) != EP_OK || !s) s = strdup("");
  return s;
}

/* ---- KV cache pool (compute thread) ------------------------------------ */

static void kv_pool_stats(ep_rt_sched *s, int reused) {
  pthread_mutex_lock(&s->mu);
  s->st.kv_pooled = s->nkv_pool;
  if (s->nkv_pool > s->st.kv_pooled_max) s->st.kv_pooled_max = s->nkv_pool;
  s->st.kv_reused += (uint64_t)reused;
  pthread_mutex_unlock(&s->mu);
}

/* the smallest pooled cache of >= need positions, else a new one */
static ep_kv *kv_take(ep_rt_sched *s, size_t need) {
  size_t best = s->nkv_pool;
  for (size_t i = 0; i < s->nkv_pool; i++) {
    size_t c = ep_kv_cap(s->kv_pool[i]);
    if (c >= need && (best == s->nkv_pool || c < ep_kv_cap(s->kv_pool[best]))) best = i;
  }
  if (best == s->nkv_pool) return ep_kv_new(s->model, need);
  ep_kv *kv = s->kv_pool[best];
  s->kv_pool[best] = s->kv_pool[--s->nkv_pool];
  kv_pool_stats(s, 1);
  return kv;
}

/* keeps kv emptied; with the pool full, the smallest of the pool and kv is
 * freed (larger caches fit more requests) */
static void kv_put(ep_rt_sched *s, ep_kv *kv) {
  if (!kv) return;
  ep_kv_truncate(kv, 0);
  size_t max = (size_t)s->p.max_batch_size;
  if (s->nkv_pool == max) {
    size_t lo = 0;
    for (size_t i = 1; i < max; i++)
      if (ep_kv_cap(s->kv_pool[i]) < ep_kv_cap(s->kv_pool[lo])) lo = i;
    if (ep_kv_cap(s->kv_pool[lo]) >= ep_kv_cap(kv)) {
      ep_kv_free(kv);
      return;
    }
    ep_kv_free(s->kv_pool[lo]);
    s->kv_pool[lo] = kv;
  } else {
    s->kv_pool[s->nkv_pool++] = kv;
  }
  kv_pool_stats(s, 0);
}

/* ---- per-sequence lifecycle (compute thread) --------------------------- */

static void seq_release(ep_rt_sched *s, seq_t *q) {
  kv_put(s, q->kv);
  free(q->ids);
  ep_tok_stream_free(q->ts);
  ep_buf_free(&q->text);
  free(q->logits);
  memset(q, 0, sizeof *q);
}

static void publish_done(ep_rt_sched *s, seq_t *q, ep_finish f, const char *err) {
  ep_gen_req *r = q->r;
  if (f != EP_FINISH_ERROR && f != EP_FINISH_CANCELED && f != EP_FINISH_STOP && q->ts) {
    ep_buf tail = EP_BUF_INIT;
    ep_tok_stream_finish(q->ts, &tail);
    if (tail.len) {
      ep_buf_append(&q->text, tail.data, tail.len);
      if (q->n_gen > 0) { /* not yet published: the last token's text grows */
        ep_gen_token *t = &r->toks[q->n_gen - 1];
        size_t ol = strlen(t->text);
        char *nt = realloc(t->text, ol + tail.len + 1);
        if (nt) {
          memcpy(nt + ol, tail.data, tail.len + 1);
          t->text = nt;
        }
      }
    }
    ep_buf_free(&tail);
  }
  if (!r->text) r->text = strdup(ep_buf_cstr(&q->text));
  if (err) snprintf(r->errmsg, sizeof r->errmsg, "%s", err);
  r->t_done_ns = ep_mono_ns();
  pthread_mutex_lock(&s->mu);
  r->n_pub = (size_t)q->n_gen;
  r->finish = f;
  r->done = 1;
  s->nrunning--;
  pthread_mutex_unlock(&s->mu);
  seq_release(s, q);
}

static int seq_setup(ep_rt_sched *s, seq_t *q, ep_gen_req *r) {
  memset(q, 0, sizeof *q);
  q->r = r;
  q->cap = r->n_input + (size_t)r->max_new_tokens;
  q->kv = kv_take(s, q->cap);
  q->ids = malloc(sizeof(int32_t) * q->cap);
  q->ts = ep_tok_stream_new(s->tok, 1);
  q->logits = malloc(sizeof(float) * (size_t)s->info->vocab_size);
  r->toks = calloc((size_t)r->max_new_tokens, sizeof(ep_gen_token));
  if (r->want_prefill) r->prefill = calloc(r->n_input, sizeof(ep_gen_prefill));
  if (!q->kv || !q->ids || !q->ts || !q->logits || !r->toks || (r->want_prefill && !r->prefill))
    return EP_ENOMEM;
  memcpy(q->ids, r->input, sizeof(int32_t) * r->n_input);
  /* prime the detokenizer with the prompt so position-dependent decoders
   * (Strip, Metaspace prefix) treat the first generated token as TGI does:
   * generated text = decode(prompt + gen) minus decode(prompt) */
  ep_buf sink = EP_BUF_INIT;
  for (size_t i = 0; i < r->n_input; i++) {
    ep_tok_stream_push(q->ts, r->input[i], &sink);
    ep_buf_reset(&sink);
  }
  ep_buf_free(&sink);
  q->n_ids = r->n_input;
  ep_rng_seed(&q->rng, r->sp.seed);
  if (r->prefill)
    for (size_t i = 0; i < r->n_input; i++) {
      r->prefill[i].id = r->input[i];
      r->prefill[i].logprob = NAN;
      r->prefill[i].text = tok_text1(s->tok, r->input[i]);
    }
  r->t_start_ns = ep_mono_ns();
  return EP_OK;
}

static int is_eos(ep_rt_sched *s, int32_t id) {
  for (int i = 0; i < s->info->n_eos; i++)
    if (s->info->eos_ids[i] == id) return 1;
  if (s->info->n_eos == 0 && id == ep_tok_eos_id(s->tok)) return 1;
  return 0;
}

/* Samples the next token of q from q->logits; returns a finish reason or
 * EP_FINISH_NONE. */
static ep_finish seq_next(ep_rt_sched *s, seq_t *q) {
  ep_gen_req *r = q->r;
  ep_gen_token *t = &r->toks[q->n_gen];
  ep_token_logprob top[64];
  int ntop = r->top_n > 64 ? 64 : r->top_n;
  float lp = 0;
  int32_t id = ep_sampler_sample(&s->sampler, &r->sp, &q->rng, q->logits, q->ids, q->n_ids, &lp,
                                 top, ntop);
  q->ids[q->n_ids++] = id;
  t->id = id;
  t->logprob = lp;
  t->special = ep_tok_is_special(s->tok, id);
  ep_buf piece = EP_BUF_INIT;
  ep_tok_stream_push(q->ts, id, &piece);
  size_t old_len = q->text.len;
  if (piece.len) ep_buf_append(&q->text, piece.data, piece.len);
  if (t->special) {
    const char *pc = ep_tok_piece(s->tok, id);
    t->text = strdup(pc ? pc : "");
  } else {
    t->text = strdup(ep_buf_cstr(&piece));
  }
  ep_buf_free(&piece);
  if (ntop > 0) {
    t->top = calloc((size_t)r->top_n, sizeof(ep_gen_top));
    if (t->top)
      for (int k = 0; k < r->top_n; k++) {
        t->top[k].id = k < ntop ? top[k].id : 0;
        t->top[k].logprob = k < ntop ? top[k].logprob : -INFINITY;
        t->top[k].text = tok_text1(s->tok, t->top[k].id);
      }
  }
  q->n_gen++;
  if (q->n_gen == 1) r->t_first_ns = ep_mono_ns();
  if (is_eos(s, id)) return EP_FINISH_EOS;
  size_t which = 0;
  long at = ep_stop_find(q->text.data ? q->text.data : "", q->text.len, old_len,
                         (const char *const *)r->stop, r->nstop, &which);
  if (at >= 0) {
    r->text = strndup(q->text.data, (size_t)at);
    return EP_FINISH_STOP;
  }
  if (q->n_gen >= r->max_new_tokens || q->n_ids >= q->cap) return EP_FINISH_LENGTH;
  return EP_FINISH_NONE;
}

static void prefill_logprobs(ep_rt_sched *s, seq_t *q, size_t start, size_t n) {
  ep_gen_req *r = q->r;
  int V = s->info->vocab_size;
  for (size_t j = 0; j < n; j++) {
    size_t g = start + j;
    if (g + 1 >= r->n_input) break;
    ep_log_softmax(s->all_logits + j * (size_t)V, V, s->lsm);
    r->prefill[g + 1].logprob = s->lsm[r->input[g + 1]];
  }
}

/* ---- the compute loop --------------------------------------------------- */

static void admit(ep_rt_sched *s) {
  /* caller holds mu */
  ep_gen_req **pp = &s->qhead, *prev = NULL;
  while (*pp) {
    ep_gen_req *r = *pp;
    int canceled = atomic_load(&r->cancel);
    if (!canceled && s->nseqs >= (size_t)s->p.max_batch_size) {
      prev = r;
      pp = &r->next;
      continue;
    }
    *pp = r->next;
    if (s->qtail == r) s->qtail = prev;
    r->next = NULL;
    s->nqueued--;
    s->nrunning++;
    seq_t *q = &s->seqs[s->nseqs++];
    /* remove_seq() leaves the last slot aliasing the sequence it moved: a
     * canceled request published from it would free that sequence's KV */
    memset(q, 0, sizeof *q);
    pthread_mutex_unlock(&s->mu);
    int rc = canceled ? EP_ECANCELED : seq_setup(s, q, r);
    if (rc != EP_OK) {
      q->r = r;
      publish_done(s, q, canceled ? EP_FINISH_CANCELED : EP_FINISH_ERROR,
                   canceled ? "canceled" : "out of memory for the KV cache");
      s->nseqs--;
    }
    pthread_mutex_lock(&s->mu);
  }
}

static void remove_seq(ep_rt_sched *s, size_t i) {
  s->seqs[i] = s->seqs[s->nseqs - 1];
  s->nseqs--;
}

static void step(ep_rt_sched *s) {
  /* drop canceled sequences */
  for (size_t i = 0; i < s->nseqs;) {
    if (atomic_load(&s->seqs[i].r->cancel)) {
      publish_done(s, &s->seqs[i], EP_FINISH_CANCELED, "canceled");
      remove_seq(s, i);
    } else {
      i++;
    }
  }
  if (s->nseqs == 0) return;
  /* decode tokens first, then prompt chunks, within the step budget */
  size_t budget = (size_t)s->p.step_tokens, ni = 0;
  size_t order[256], start[256];
  int want_all = -1; /* at most one prefill-with-logprobs sequence per step */
  for (int pass = 0; pass < 2; pass++)
    for (size_t i = 0; i < s->nseqs; i++) {
      seq_t *q = &s->seqs[i];
      size_t rem = q->n_ids - q->n_fed;
      if ((pass == 0) != (rem == 1) || rem == 0 || budget == 0) continue;
      if (pass == 1 && q->r->want_prefill && q->n_fed < q->r->n_input) {
        if (want_all >= 0) continue;
        want_all = (int)ni;
      }
      size_t n = rem;
      if (n > (size_t)s->p.prefill_chunk) n = (size_t)s->p.prefill_chunk;
      if (n > budget) n = budget;
      ep_batch_item *it = &s->items[ni];
      it->kv = q->kv;
      it->tokens = q->ids + q->n_fed;
      it->n = n;
      it->logits = q->logits;
      it->all_logits = (want_all == (int)ni) ? s->all_logits : NULL;
      order[ni] = i;
      start[ni] = q->n_fed;
      budget -= n;
      ni++;
    }
  if (ni == 0) return;
  int rc = ep_model_forward(s->model, s->items, ni);
  pthread_mutex_lock(&s->mu);
  s->st.steps++;
  for (size_t k = 0; k < ni; k++) s->st.step_tokens += s->items[k].n;
  if (ni > s->st.max_batch_seen) s->st.max_batch_seen = ni;
  pthread_mutex_unlock(&s->mu);
  int finished[256] = {0};
  if (rc != EP_OK) {
    ep_log_error("forward failed", "err=\"%s\" batch=%zu", ep_strerror(rc), ni);
    for (size_t k = 0; k < ni; k++) finished[order[k]] = EP_FINISH_ERROR;
  }
  for (size_t k = 0; k < ni && rc == EP_OK; k++) {
    seq_t *q = &s->seqs[order[k]];
    if (s->items[k].all_logits) prefill_logprobs(s, q, start[k], s->items[k].n);
    q->n_fed += s->items[k].n;
    if (q->n_fed < q->n_ids) continue;
    ep_finish f = seq_next(s, q);
    if (f != EP_FINISH_NONE) {
      finished[order[k]] = (int)f;
    } else {
      pthread_mutex_lock(&s->mu);
      q->r->n_pub = (size_t)q->n_gen;
      pthread_mutex_unlock(&s->mu);
    }
  }
  /* descending index: remove_seq moves the last sequence, already handled */
  for (size_t i = s->nseqs; i-- > 0;)
    if (finished[i]) {
      char msg[96];
      snprintf(msg, sizeof msg, "Request failed during generation: %s", ep_strerror(rc));
      publish_done(s, &s->seqs[i], (ep_finish)finished[i],
                   finished[i] == EP_FINISH_ERROR ? msg : NULL);
      remove_seq(s, i);
    }
}

static void *compute_main(void *arg) {
  ep_rt_sched *s = arg;
  pthread_mutex_lock(&s->mu);
  for (;;) {
    while (!s->stopping && s->nseqs == 0 && !s->qhead) pthread_cond_wait(&s->work, &s->mu);
    if (s->stopping) break;
    admit(s);
    pthread_mutex_unlock(&s->mu);
    step(s);
    pthread_mutex_lock(&s->mu);
    pthread_cond_broadcast(&s->prog);
    pthread_mutex_unlock(&s->mu);
    if (s->p.notify) s->p.notify(s->p.notify_ctx);
    pthread_mutex_lock(&s->mu);
  }
  /* shutting down: cancel everything */
  while (s->qhead) {
    ep_gen_req *r = s->qhead;
    s->qhead = r->next;
    s->nqueued--;
    s->nrunning++;
    seq_t q = {0};
    q.r = r;
    pthread_mutex_unlock(&s->mu);
    publish_done(s, &q, EP_FINISH_CANCELED, "server shutting down");
    pthread_mutex_lock(&s->mu);
  }
  s->qtail = NULL;
  pthread_mutex_unlock(&s->mu);
  for (size_t i = 0; i < s->nseqs; i++)
    publish_done(s, &s->seqs[i], EP_FINISH_CANCELED, "server shutting down");
  s->nseqs = 0;
  pthread_mutex_lock(&s->mu);
  pthread_cond_broadcast(&s->prog);
  pthread_mutex_unlock(&s->mu);
  if (s->p.notify) s->p.notify(s->p.notify_ctx);
  return NULL;
}

int ep_rt_sched_new(ep_model *m, const ep_tok *tok, const ep_rt_sched_params *p, ep_rt_sched **out) {
  *out = NULL;
  ep_rt_sched *s = calloc(1, sizeof *s);
  if (!s) return EP_ENOMEM;
  s->model = m;
  s->tok = tok;
  s->info = ep_model_get_info(m);
  s->p = p ? *p : ep_rt_sched_default_params();
  if (s->p.max_batch_size <= 0) s->p.max_batch_size = 8;
  if (s->p.max_batch_size > 256) s->p.max_batch_size = 256;
  if (s->p.prefill_chunk <= 0) s->p.prefill_chunk = 256;
  if (s->p.step_tokens < s->p.max_batch_size) s->p.step_tokens = s->p.max_batch_size;
  if (s->p.max_queue == 0) s->p.max_queue = 128;
  int V = s->info->vocab_size;
  s->seqs = calloc((size_t)s->p.max_batch_size, sizeof(seq_t));
  s->items = calloc((size_t)s->p.max_batch_size, sizeof(ep_batch_item));
  s->all_logits = malloc(sizeof(float) * (size_t)V * (size_t)s->p.prefill_chunk);
  s->lsm = malloc(sizeof(float) * (size_t)V);
  s->kv_pool = calloc((size_t)s->p.max_batch_size, sizeof(ep_kv *));
  if (!s->seqs || !s->items || !s->all_logits || !s->lsm || !s->kv_pool ||
      ep_sampler_init(&s->sampler, V)) {
    ep_rt_sched_free(s);
    return EP_ENOMEM;
  }
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->work, NULL);
  pthread_cond_init(&s->prog, NULL);
  s->inited = 1;
  if (pthread_create(&s->thread, NULL, compute_main, s) != 0) {
    ep_rt_sched_free(s);
    return EP_EIO;
  }
  s->running = 1;
  *out = s;
  return EP_OK;
}

void ep_rt_sched_stop(ep_rt_sched *s) {
  if (!s || !s->running) return;
  pthread_mutex_lock(&s->mu);
  s->stopping = 1;
  pthread_cond_signal(&s->work);
  pthread_mutex_unlock(&s->mu);
  pthread_join(s->thread, NULL);
  s->running = 0;
}

void ep_rt_sched_free(ep_rt_sched *s) {
  if (!s) return;
  if (s->inited) {
    ep_rt_sched_stop(s);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->prog);
  }
  ep_sampler_free(&s->sampler);
  free(s->seqs);
  free(s->items);
  free(s->all_logits);
  free(s->lsm);
  for (size_t i = 0; i < s->nkv_pool; i++) ep_kv_free(s->kv_pool[i]);
  free(s->kv_pool);
  free(s);
}

int ep_rt_sched_submit(ep_rt_sched *s, ep_gen_req *r) {
  if (!r->input || r->n_input == 0 || r->max_new_tokens <= 0) return EP_EINVAL;
  size_t n_ctx = (size_t)s->info->n_ctx;
  if (n_ctx && r->n_input >= n_ctx) return EP_EINVAL;
  for (size_t i = 0; i < r->n_input; i++)
    if (r->input[i] < 0 || r->input[i] >= s->info->vocab_size) return EP_EINVAL;
  if (n_ctx && r->n_input + (size_t)r->max_new_tokens > n_ctx)
    r->max_new_tokens = (int)(n_ctx - r->n_input);
  if (r->top_n < 0) r->top_n = 0;
  pthread_mutex_lock(&s->mu);
  if (s->nqueued + s->nrunning >= s->p.max_queue || s->stopping) {
    pthread_mutex_unlock(&s->mu);
    return EP_EBUSY;
  }
  r->t_submit_ns = ep_mono_ns();
  r->next = NULL;
  if (s->qtail) s->qtail->next = r;
  else s->qhead = r;
  s->qtail = r;
  s->nqueued++;
  pthread_cond_signal(&s->work);
  pthread_mutex_unlock(&s->mu);
  return EP_OK;
}

void ep_rt_sched_progress(ep_rt_sched *s, ep_gen_req *r, size_t *ntok, int *done) {
  pthread_mutex_lock(&s->mu);
  if (ntok) *ntok = r->n_pub;
  if (done) *done = r->done;
  pthread_mutex_unlock(&s->mu);
}

void ep_rt_sched_wait(ep_rt_sched *s, ep_gen_req *r) {
  pthread_mutex_lock(&s->mu);
  while (!r->done) pthread_cond_wait(&s->prog, &s->mu);
  pthread_mutex_unlock(&s->mu);
}

void ep_rt_sched_get_stats(ep_rt_sched *s, ep_rt_sched_stats *st) {
  pthread_mutex_lock(&s->mu);
  *st = s->st;
  st->queued = s->nqueued;
  st->running = s->nrunning;
  pthread_mutex_unlock(&s->mu);
}
