/* Batching: several sequences of different lengths in one ep_model_forward
 * (prefill chunks and decode tokens mixed, 16 rows in the first step) give
 * the same logits as running each sequence alone (the tiny models are too
 * narrow for the sgemm path: unit_kern covers it)
 * (tolerance 1e-5). Also: capacity overflow and bad ids append nothing. */
#include "model_testutil.h"

#define NSEQ 3
#define NSTEP 4

/* per sequence: tokens and the chunk size of each step */
static int32_t toks[NSEQ][16] = {
    {1, 403, 407, 261, 378, 432, 383, 286},
    {1, 317, 269, 274, 287, 263, 377, 267, 265, 282, 261, 30},
    {1, 346, 306, 414, 286, 261, 40, 50}};
static const int chunks[NSEQ][NSTEP] = {{3, 2, 1, 1}, {9, 1, 1, 1}, {4, 1, 1, 1}};

static void run(const char *dir, const char *kern, int threads) {
  ep_model *m = t_load(dir, threads, kern);
  CHECK(m != NULL);
  if (!m) return;
  int V = ep_model_get_info(m)->vocab_size;
  for (int s = 0; s < NSEQ; s++)
    for (int i = 0; i < 16; i++) toks[s][i] %= V; /* tiny GPT-2 has 256 ids */
  float *alone = calloc((size_t)NSEQ * NSTEP * 16 * V, sizeof(float));
  float *bat = calloc((size_t)NSEQ * NSTEP * 16 * V, sizeof(float));
  float *last = calloc((size_t)NSEQ * V, sizeof(float));
#define AT(buf, s, st) ((buf) + ((size_t)(s) * NSTEP + (st)) * 16 * V)
  for (int s = 0; s < NSEQ; s++) { /* each alone */
    ep_kv *kv = ep_kv_new(m, 32);
    int off = 0;
    for (int st = 0; st < NSTEP; st++) {
      ep_batch_item it = {kv, toks[s] + off, (size_t)chunks[s][st], NULL, AT(alone, s, st)};
      CHECK_INT(ep_model_forward(m, &it, 1), EP_OK);
      off += chunks[s][st];
    }
    ep_kv_free(kv);
  }
  ep_kv *kvs[NSEQ];
  int off[NSEQ] = {0};
  for (int s = 0; s < NSEQ; s++) kvs[s] = ep_kv_new(m, 32);
  double worst = 0;
  for (int st = 0; st < NSTEP; st++) {
    ep_batch_item items[NSEQ];
    for (int s = 0; s < NSEQ; s++) {
      items[s] = (ep_batch_item){kvs[s], toks[s] + off[s], (size_t)chunks[s][st], last + (size_t)s * V,
                                 AT(bat, s, st)};
      off[s] += chunks[s][st];
    }
    CHECK_INT(ep_model_forward(m, items, NSEQ), EP_OK);
    for (int s = 0; s < NSEQ; s++) {
      double d = t_maxdiff(AT(bat, s, st), AT(alone, s, st), (size_t)chunks[s][st] * V);
      worst = d > worst ? d : worst;
      /* logits == last row of all_logits */
      CHECK(t_maxdiff(last + (size_t)s * V, AT(bat, s, st) + (size_t)(chunks[s][st] - 1) * V, V) == 0);
    }
  }
  fprintf(stderr, "  %s kern=%s threads=%d: batched vs alone max diff %.3g\n", dir, kern ? kern : "fast",
          threads, worst);
  CHECK(worst <= 1e-5);
  for (int s = 0; s < NSEQ; s++) CHECK_INT(ep_kv_len(kvs[s]), off[s]);

  /* overflow: nothing appended to any sequence */
  ep_kv *small = ep_kv_new(m, 4);
  ep_batch_item bad[2] = {{kvs[0], toks[0], 2, NULL, NULL}, {small, toks[1], 5, NULL, NULL}};
  CHECK_INT(ep_model_forward(m, bad, 2), EP_ERANGE);
  CHECK_INT(ep_kv_len(kvs[0]), off[0]);
  CHECK_INT(ep_kv_len(small), 0);
  int32_t badtok = V;
  ep_batch_item bt = {small, &badtok, 1, NULL, NULL};
  CHECK_INT(ep_model_forward(m, &bt, 1), EP_EINVAL);
  CHECK(ep_kv_new(m, (size_t)ep_model_get_info(m)->n_ctx + 1) == NULL);
  /* truncate + recompute gives the same logits as the first time */
  ep_kv_truncate(kvs[1], 9);
  float *re = calloc(V, sizeof(float));
  ep_batch_item again = {kvs[1], toks[1] + 9, 1, re, NULL};
  CHECK_INT(ep_model_forward(m, &again, 1), EP_OK);
  CHECK(t_maxdiff(re, AT(alone, 1, 1), V) <= 1e-6);
  free(re);
  ep_kv_free(small);
  for (int s = 0; s < NSEQ; s++) ep_kv_free(kvs[s]);
  free(alone);
  free(bat);
  free(last);
  ep_model_free(m);
}

int main(void) {
  run(t_src("models/stories260K"), NULL, 2);
  run(t_src("models/stories260K"), NULL, 1);
  run(t_src("models/stories260K"), "ref", 2);
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", t_data("tiny-gpt2"));
  run(dir, NULL, 2);
  return t_finish();
}
