/* Response bodies of finished TEI jobs (loop thread): embeddings (float or
 * base64, Matryoshka `dimensions`, normalisation), per-token states, label
 * scores (softmax / sigmoid / raw, sorted), rerank, similarity, the OpenAI
 * embeddings object, and TEI's x-compute-* / timing headers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/time.h"
#include "rt/tei-impl.h"

static json_t *jf(float v) { return isfinite(v) ? json_real(v) : json_null(); }

static void timing_headers(tei_job *j) {
  char v[32];
  ep_http_req *r = j->req;
  uint64_t total = ep_mono_ns() - j->t_start_ns;
  ep_http_add_header(r, "x-compute-type", "cpu");
  snprintf(v, sizeof v, "%.6f", (double)j->t_infer_ns / 1e9);
  ep_http_add_header(r, "x-compute-time", v);
  snprintf(v, sizeof v, "%zu", j->nchars);
  ep_http_add_header(r, "x-compute-characters", v);
  snprintf(v, sizeof v, "%zu", j->ntokens);
  ep_http_add_header(r, "x-compute-tokens", v);
  snprintf(v, sizeof v, "%llu", (unsigned long long)(total / 1000000));
  ep_http_add_header(r, "x-total-time", v);
  snprintf(v, sizeof v, "%llu", (unsigned long long)(j->t_tok_ns / 1000000));
  ep_http_add_header(r, "x-tokenization-time", v);
  snprintf(v, sizeof v, "%llu", (unsigned long long)(j->t_queue_ns / 1000000));
  ep_http_add_header(r, "x-queue-time", v);
  snprintf(v, sizeof v, "%llu", (unsigned long long)(j->t_infer_ns / 1000000));
  ep_http_add_header(r, "x-inference-time", v);
}

static char *base64(const void *data, size_t n) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const unsigned char *p = data;
  char *o = malloc((n + 2) / 3 * 4 + 1), *w = o;
  if (!o) return NULL;
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
    *w++ = tab[v >> 18 & 63];
    *w++ = tab[v >> 12 & 63];
    *w++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
    *w++ = i + 2 < n ? tab[v & 63] : '=';
  }
  *w = 0;
  return o;
}

/* Embedding row s cut to dims and normalised as asked; returns its length. */
static int embedding(tei_job *j, size_t s, int dim, float *dst) {
  int n = j->dims > 0 && j->dims < dim ? j->dims : dim;
  memcpy(dst, j->out + s * dim, (size_t)n * sizeof(float));
  if (j->normalize || j->resp == TEI_R_SIMILARITY) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)dst[i] * dst[i];
    float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
    for (int i = 0; i < n; i++) dst[i] *= inv;
  }
  return n;
}

static json_t *farray(const float *x, int n) {
  json_t *a = json_array();
  for (int i = 0; i < n; i++) json_array_append_new(a, jf(x[i]));
  return a;
}

static void scores(const float *logits, int n, int fn, float *out) {
  float mx = -INFINITY;
  double sum = 0;
  for (int i = 0; i < n; i++) mx = logits[i] > mx ? logits[i] : mx;
  for (int i = 0; i < n; i++) {
    if (fn == 2) out[i] = logits[i];
    else if (fn == 1) out[i] = 1.0f / (1.0f + expf(-logits[i]));
    else sum += exp((double)(logits[i] - mx));
  }
  if (fn == 0)
    for (int i = 0; i < n; i++) out[i] = (float)(exp((double)(logits[i] - mx)) / sum);
}

/* [{label,score}] sorted by score desc (stable on ties: lower id first). */
static json_t *label_list(const ep_encoder_info *in, const float *logits, int fn, int top_k, int score_first) {
  float *sc = malloc((size_t)in->n_labels * sizeof(float));
  int *ord = malloc((size_t)in->n_labels * sizeof(int));
  json_t *a = json_array();
  if (!sc || !ord) goto out;
  scores(logits, in->n_labels, fn, sc);
  for (int i = 0; i < in->n_labels; i++) ord[i] = i;
  for (int i = 1; i < in->n_labels; i++) /* insertion sort: label counts are small */
    for (int k = i; k > 0 && sc[ord[k]] > sc[ord[k - 1]]; k--) {
      int x = ord[k];
      ord[k] = ord[k - 1];
      ord[k - 1] = x;
    }
  int n = top_k > 0 && top_k < in->n_labels ? top_k : in->n_labels;
  for (int i = 0; i < n; i++) {
    json_t *o = score_first ? json_pack("{s:o,s:s}", "score", jf(sc[ord[i]]), "label", in->labels[ord[i]])
                            : json_pack("{s:s,s:o}", "label", in->labels[ord[i]], "score", jf(sc[ord[i]]));
    json_array_append_new(a, o);
  }
out:
  free(sc);
  free(ord);
  return a;
}

static json_t *body(tei_job *j) {
  const ep_encoder_info *in = ep_encoder_get_info(j->t->enc);
  int dim = in->dim;
  float *tmp = malloc(((size_t)dim + (size_t)in->n_labels + 1) * sizeof(float));
  json_t *a = json_array();
  if (!tmp) return a;
  switch (j->resp) {
  case TEI_R_EMBED:
    for (size_t s = 0; s < j->nseq; s++) json_array_append_new(a, farray(tmp, embedding(j, s, dim, tmp)));
    break;
  case TEI_R_EMBED_ALL:
    for (size_t s = 0, off = 0; s < j->nseq; off += j->seqs[s].n, s++) {
      json_t *rows = json_array();
      for (size_t i = 0; i < j->seqs[s].n; i++)
        json_array_append_new(rows, farray(j->out + (off + i) * in->d, in->d));
      json_array_append_new(a, rows);
    }
    break;
  case TEI_R_SIMILARITY: {
    float *src = malloc((size_t)dim * sizeof(float));
    if (!src) break;
    int n = embedding(j, 0, dim, src);
    for (size_t s = 1; s < j->nseq; s++) {
      embedding(j, s, dim, tmp);
      double dot = 0;
      for (int i = 0; i < n; i++) dot += (double)src[i] * tmp[i];
      json_array_append_new(a, json_real(dot));
    }
    free(src);
    break;
  }
  case TEI_R_PREDICT:
  case TEI_R_TASK_CLS: {
    int score_first = j->resp == TEI_R_PREDICT;
    for (size_t s = 0; s < j->nseq; s++)
      json_array_append_new(a, label_list(in, j->out + s * in->n_labels, j->fn, j->top_k, score_first));
    if (j->resp == TEI_R_PREDICT && !j->batch_shape) { /* single input: flat list */
      json_t *one = json_incref(json_array_get(a, 0));
      json_decref(a);
      a = one;
    }
    break;
  }
  case TEI_R_RERANK: {
    int *ord = malloc(j->nseq * sizeof(int) + 1);
    if (!ord) break;
    for (size_t s = 0; s < j->nseq; s++) {
      ord[s] = (int)s;
      if (!j->raw_scores) j->out[s] = 1.0f / (1.0f + expf(-j->out[s]));
    }
    for (size_t i = 1; i < j->nseq; i++)
      for (size_t k = i; k > 0 && j->out[ord[k]] > j->out[ord[k - 1]]; k--) {
        int x = ord[k];
        ord[k] = ord[k - 1];
        ord[k - 1] = x;
      }
    for (size_t s = 0; s < j->nseq; s++) {
      json_t *o = json_pack("{s:i,s:o}", "index", ord[s], "score", jf(j->out[ord[s]]));
      if (j->return_text) json_object_set(o, "text", json_array_get(j->texts, (size_t)ord[s]));
      json_array_append_new(a, o);
    }
    free(ord);
    break;
  }
  case TEI_R_OPENAI: {
    json_t *data = json_array();
    for (size_t s = 0; s < j->nseq; s++) {
      int n = embedding(j, s, dim, tmp);
      json_t *e;
      if (j->base64) {
        char *b = base64(tmp, (size_t)n * sizeof(float)); /* little-endian float32 */
        e = json_string(b ? b : "");
        free(b);
      } else {
        e = farray(tmp, n);
      }
      json_array_append_new(data, json_pack("{s:s,s:o,s:i}", "object", "embedding", "embedding", e, "index", (int)s));
    }
    json_decref(a);
    a = json_pack("{s:s,s:o,s:s,s:{s:i,s:i}}", "object", "list", "data", data, "model",
                  j->model_name ? j->model_name : j->t->model_id, "usage", "prompt_tokens", (int)j->ntokens,
                  "total_tokens", (int)j->ntokens);
    break;
  }
  }
  free(tmp);
  return a;
}

void tei_finish(tei_job *j) {
  ep_tei *t = j->t;
  int openai = j->resp == TEI_R_OPENAI;
  if (j->rc != EP_OK) {
    int status = j->rc == EP_ECANCELED ? 503 : j->rc == EP_EINVAL || j->rc == EP_ERANGE ? 422 : 424;
    const char *type = status == 503 ? "Unhealthy" : status == 422 ? "Validation" : "Backend";
    const char *msg = j->rc == EP_ECANCELED ? "Model is shutting down" : ep_strerror(j->rc);
    t->m.failure_generation++;
    ep_http_add_header(j->req, "X-Error-Message", msg);
    ep_http_respond_json(j->req, status,
                         openai ? json_pack("{s:s,s:i,s:s}", "message", msg, "code", status, "type", type)
                                : json_pack("{s:s,s:s}", "error", msg, "error_type", type));
  } else {
    timing_headers(j);
    t->m.request_success++;
    ep_hist_observe(&t->m.duration, (double)(ep_mono_ns() - j->t_start_ns) / 1e9);
    ep_hist_observe(&t->m.inference_duration, (double)j->t_infer_ns / 1e9);
    ep_hist_observe(&t->m.queue_duration, (double)j->t_queue_ns / 1e9);
    ep_http_respond_json(j->req, 200, body(j));
  }
  tei_job_free(j);
}
