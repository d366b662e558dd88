/* Scheduler tests on the real stories260K model: greedy output of the 5
 * golden prompts (tests/data/stories260K-greedy.json, numpy float64
 * reference) through the batching scheduler; 8 concurrent greedy requests
 * equal 8 sequential ones; a request joining mid-batch does not disturb the
 * others; cancellation; queue bound (EP_EBUSY); stop sequences; seeded
 * sampling is deterministic; a pooled KV cache reused by a later request gives
 * bitwise the output of a new one, and the pool stays within max_batch_size. */
#include "test.h"

#include <jansson.h>
#include <unistd.h>

#include "base/err.h"
#include "rt/model.h"
#include "rt/sched.h"
#include "tok/tok.h"

static ep_model *g_model;
static ep_tok *g_tok;

static const char *model_dir(void) {
  static char buf[4096];
  const char *src = getenv("EP_SOURCE_DIR");
  snprintf(buf, sizeof buf, "%s/models/stories260K", src ? src : ".");
  return buf;
}

static ep_gen_req *mk(const int32_t *ids, size_t n, int max_new) {
  ep_gen_req *r = ep_gen_req_new();
  r->input = malloc(sizeof(int32_t) * n);
  memcpy(r->input, ids, sizeof(int32_t) * n);
  r->n_input = n;
  r->max_new_tokens = max_new;
  return r;
}

static int same_ids(const ep_gen_req *a, const ep_gen_req *b) {
  if (a->n_pub != b->n_pub) return 0;
  for (size_t i = 0; i < a->n_pub; i++)
    if (a->toks[i].id != b->toks[i].id) return 0;
  return 1;
}

/* same ids and bitwise the same logprobs */
static int same_out(const ep_gen_req *a, const ep_gen_req *b) {
  if (!same_ids(a, b)) return 0;
  for (size_t i = 0; i < a->n_pub; i++)
    if (memcmp(&a->toks[i].logprob, &b->toks[i].logprob, sizeof(float)) != 0) return 0;
  return 1;
}

static void test_golden(void) {
  json_error_t je;
  json_t *root = json_load_file(t_data("stories260K-greedy.json"), 0, &je);
  CHECK(root != NULL);
  if (!root) return;
  json_t *cases = json_object_get(root, "cases");
  ep_rt_sched *s;
  CHECK_INT(ep_rt_sched_new(g_model, g_tok, NULL, &s), EP_OK);
  size_t nc = json_array_size(cases);
  ep_gen_req *reqs[8] = {0};
  /* all five at once: they run batched */
  for (size_t c = 0; c < nc && c < 8; c++) {
    json_t *in = json_object_get(json_array_get(cases, c), "input_ids");
    int32_t ids[64];
    size_t n = json_array_size(in);
    for (size_t i = 0; i < n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(in, i));
    reqs[c] = mk(ids, n, 64);
    CHECK_INT(ep_rt_sched_submit(s, reqs[c]), EP_OK);
  }
  for (size_t c = 0; c < nc && c < 8; c++) {
    ep_rt_sched_wait(s, reqs[c]);
    json_t *cs = json_array_get(cases, c);
    json_t *gold = json_object_get(cs, "greedy_ids");
    CHECK_INT(reqs[c]->finish, EP_FINISH_LENGTH);
    CHECK_INT(reqs[c]->n_pub, json_array_size(gold));
    int ok = 1;
    for (size_t i = 0; i < reqs[c]->n_pub && i < json_array_size(gold); i++)
      if (reqs[c]->toks[i].id != json_integer_value(json_array_get(gold, i))) ok = 0;
    CHECK(ok);
    /* generated text (detokenizer primed with the prompt) without its leading
     * space equals greedy_text (the Strip decoder drops one leading space) */
    const char *gt = json_string_value(json_object_get(cs, "greedy_text"));
    const char *t = reqs[c]->text;
    if (t && t[0] == ' ' && gt[0] != ' ') t++;
    CHECK_STR(t, gt);
    ep_gen_req_free(reqs[c]);
  }
  ep_rt_sched_free(s);
  json_decref(root);
}

static const int32_t k_prompts[8][6] = {
    {1, 403, 407, 261, 378, 0}, {1, 317, 269, 274, 287, 0}, {1, 291, 280, 294, 0, 0},
    {1, 346, 306, 414, 0, 0},   {1, 338, 401, 0, 0, 0},     {1, 370, 432, 352, 266, 268},
    {1, 261, 376, 298, 0, 0},   {1, 426, 0, 0, 0, 0}};

static size_t plen(int i) {
  size_t n = 0;
  while (n < 6 && k_prompts[i][n]) n++;
  return n;
}

static void test_concurrent_equals_sequential(void) {
  ep_rt_sched_params sp = ep_rt_sched_default_params();
  sp.max_batch_size = 8;
  ep_rt_sched *s;
  CHECK_INT(ep_rt_sched_new(g_model, g_tok, &sp, &s), EP_OK);
  ep_gen_req *seq[8], *con[8];
  for (int i = 0; i < 8; i++) {
    seq[i] = mk(k_prompts[i], plen(i), 24 + i);
    CHECK_INT(ep_rt_sched_submit(s, seq[i]), EP_OK);
    ep_rt_sched_wait(s, seq[i]);
  }
  ep_rt_sched_stats st0;
  ep_rt_sched_get_stats(s, &st0);
  for (int i = 0; i < 8; i++) {
    con[i] = mk(k_prompts[i], plen(i), 24 + i);
    CHECK_INT(ep_rt_sched_submit(s, con[i]), EP_OK);
  }
  for (int i = 0; i < 8; i++) {
    ep_rt_sched_wait(s, con[i]);
    CHECK(same_ids(seq[i], con[i]));
    CHECK_STR(con[i]->text, seq[i]->text);
    CHECK_INT(con[i]->n_pub, 24 + i);
  }
  ep_rt_sched_stats st;
  ep_rt_sched_get_stats(s, &st);
  CHECK(st.max_batch_seen >= 4); /* they really ran together */
  /* a request joining mid-batch */
  ep_gen_req *a = mk(k_prompts[0], plen(0), 40), *b = mk(k_prompts[1], plen(1), 40);
  CHECK_INT(ep_rt_sched_submit(s, a), EP_OK);
  size_t n = 0;
  int done = 0;
  while (n < 10 && !done) {
    usleep(200);
    ep_rt_sched_progress(s, a, &n, &done);
  }
  CHECK_INT(ep_rt_sched_submit(s, b), EP_OK);
  ep_rt_sched_wait(s, a);
  ep_rt_sched_wait(s, b);
  ep_gen_req *a0 = mk(k_prompts[0], plen(0), 40), *b0 = mk(k_prompts[1], plen(1), 40);
  ep_rt_sched_submit(s, a0);
  ep_rt_sched_wait(s, a0);
  ep_rt_sched_submit(s, b0);
  ep_rt_sched_wait(s, b0);
  CHECK(same_ids(a, a0));
  CHECK(same_ids(b, b0));
  ep_gen_req_free(a);
  ep_gen_req_free(b);
  ep_gen_req_free(a0);
  ep_gen_req_free(b0);
  for (int i = 0; i < 8; i++) {
    ep_gen_req_free(seq[i]);
    ep_gen_req_free(con[i]);
  }
  ep_rt_sched_free(s);
}

static void test_cancel_queue_stop(void) {
  ep_rt_sched_params sp = ep_rt_sched_default_params();
  sp.max_batch_size = 2;
  sp.max_queue = 3;
  ep_rt_sched *s;
  CHECK_INT(ep_rt_sched_new(g_model, g_tok, &sp, &s), EP_OK);
  ep_gen_req *r[4];
  for (int i = 0; i < 4; i++) r[i] = mk(k_prompts[i], plen(i), 400);
  for (int i = 0; i < 3; i++) CHECK_INT(ep_rt_sched_submit(s, r[i]), EP_OK);
  CHECK_INT(ep_rt_sched_submit(s, r[3]), EP_EBUSY); /* bounded queue */
  for (int i = 0; i < 3; i++) atomic_store(&r[i]->cancel, 1);
  for (int i = 0; i < 3; i++) {
    ep_rt_sched_wait(s, r[i]);
    CHECK_INT(r[i]->finish, EP_FINISH_CANCELED);
    CHECK(r[i]->n_pub < 400);
  }
  CHECK_INT(ep_rt_sched_submit(s, r[3]), EP_OK); /* room again */
  ep_rt_sched_wait(s, r[3]);
  CHECK_INT(r[3]->finish, EP_FINISH_LENGTH);
  for (int i = 0; i < 4; i++) ep_gen_req_free(r[i]);
  /* stop sequence on decoded text: "Once upon a time" greedy continues
   * ", there was a little girl named Lily." */
  ep_gen_req *q = mk(k_prompts[0], plen(0), 64);
  q->stop = calloc(1, sizeof(char *));
  q->stop[0] = strdup("Lily");
  q->nstop = 1;
  ep_rt_sched_submit(s, q);
  ep_rt_sched_wait(s, q);
  CHECK_INT(q->finish, EP_FINISH_STOP);
  CHECK_STR(q->text, ", there was a little girl named ");
  ep_gen_req_free(q);
  /* bad input */
  int32_t bad[2] = {1, 100000};
  ep_gen_req *e = mk(bad, 2, 4);
  CHECK_INT(ep_rt_sched_submit(s, e), EP_EINVAL);
  ep_gen_req_free(e);
  /* seeded sampling: same seed same ids, another seed differs */
  ep_gen_req *x[3];
  for (int i = 0; i < 3; i++) {
    x[i] = mk(k_prompts[3], plen(3), 32);
    x[i]->sp.do_sample = 1;
    x[i]->sp.temperature = 1.5f;
    x[i]->sp.seed = i == 2 ? 7 : 42;
    ep_rt_sched_submit(s, x[i]);
  }
  for (int i = 0; i < 3; i++) ep_rt_sched_wait(s, x[i]);
  CHECK(same_ids(x[0], x[1]));
  CHECK(!same_ids(x[0], x[2]));
  for (int i = 0; i < 3; i++) ep_gen_req_free(x[i]);
  /* decoder_input_details: first prefill logprob NaN, others finite <= 0 */
  ep_gen_req *d = mk(k_prompts[0], plen(0), 2);
  d->want_prefill = 1;
  d->top_n = 3;
  ep_rt_sched_submit(s, d);
  ep_rt_sched_wait(s, d);
  CHECK(isnan(d->prefill[0].logprob));
  for (size_t i = 1; i < d->n_input; i++) CHECK(d->prefill[i].logprob <= 0 && isfinite(d->prefill[i].logprob));
  CHECK_INT(d->toks[0].top[0].id, d->toks[0].id); /* greedy: best is the chosen one */
  CHECK_NEAR(d->toks[0].top[0].logprob, d->toks[0].logprob, 1e-6);
  CHECK(d->toks[0].top[1].logprob <= d->toks[0].top[0].logprob);
  ep_gen_req_free(d);
  ep_rt_sched_free(s);
}

static ep_gen_req *run1(ep_rt_sched *s, const int32_t *ids, size_t n, int max_new) {
  ep_gen_req *r = mk(ids, n, max_new);
  CHECK_INT(ep_rt_sched_submit(s, r), EP_OK);
  ep_rt_sched_wait(s, r);
  CHECK_INT(r->finish, EP_FINISH_LENGTH);
  return r;
}

static void test_kv_pool(void) {
  ep_rt_sched_params sp = ep_rt_sched_default_params();
  sp.max_batch_size = 2;
  ep_rt_sched *s, *fresh;
  CHECK_INT(ep_rt_sched_new(g_model, g_tok, &sp, &s), EP_OK);
  CHECK_INT(ep_rt_sched_new(g_model, g_tok, &sp, &fresh), EP_OK);
  /* A (5 + 200 positions) stops early at "Lily" after filling ~15; B (4 + 30)
   * takes A's cache with A's keys and values still in it and must not see
   * them. A stale length would still fit B, so B would run at wrong
   * positions instead of failing with EP_ERANGE. */
  ep_gen_req *a = mk(k_prompts[0], plen(0), 200);
  a->stop = calloc(1, sizeof(char *));
  a->stop[0] = strdup("Lily");
  a->nstop = 1;
  CHECK_INT(ep_rt_sched_submit(s, a), EP_OK);
  ep_rt_sched_wait(s, a);
  CHECK_INT(a->finish, EP_FINISH_STOP);
  CHECK(a->n_pub > 4 && a->n_pub < 30);
  ep_rt_sched_stats st;
  ep_rt_sched_get_stats(s, &st);
  CHECK_INT(st.kv_pooled, 1);
  CHECK_INT(st.kv_reused, 0);
  ep_gen_req *b = run1(s, k_prompts[3], plen(3), 30);
  ep_rt_sched_get_stats(s, &st);
  CHECK_INT(st.kv_reused, 1);
  CHECK_INT(st.kv_pooled, 1);
  ep_gen_req *b0 = run1(fresh, k_prompts[3], plen(3), 30);
  CHECK_INT(b->n_pub, 30);
  CHECK(same_out(b, b0));
  CHECK_STR(b->text, b0->text);
  /* a request longer than every pooled cache gets a new one */
  ep_gen_req *c = run1(s, k_prompts[0], plen(0), 210);
  ep_rt_sched_get_stats(s, &st);
  CHECK_INT(st.kv_reused, 1);
  CHECK_INT(st.kv_pooled, 2);
  /* growing needs never fit a pooled cache: without the bound the pool would
   * hold 7 caches after these; with it, the 2 largest */
  ep_gen_req *g[5];
  for (int i = 0; i < 5; i++) g[i] = run1(s, k_prompts[i], plen(i), 220 + 10 * i);
  ep_rt_sched_get_stats(s, &st);
  CHECK_INT(st.kv_reused, 1);
  CHECK_INT(st.kv_pooled, 2);
  CHECK_INT(st.kv_pooled_max, 2);
  /* 8 concurrent requests through 2 slots reuse the pool and keep the bound;
   * each has the ids of its run on the fresh scheduler (ids only: batched
   * rows need not round like single ones) */
  ep_gen_req *con[8], *ref[8];
  for (int i = 0; i < 8; i++) {
    con[i] = mk(k_prompts[i], plen(i), 20 + 5 * i);
    CHECK_INT(ep_rt_sched_submit(s, con[i]), EP_OK);
  }
  for (int i = 0; i < 8; i++) ep_rt_sched_wait(s, con[i]);
  for (int i = 0; i < 8; i++) {
    ref[i] = run1(fresh, k_prompts[i], plen(i), 20 + 5 * i);
    CHECK(same_ids(con[i], ref[i]));
  }
  ep_rt_sched_get_stats(s, &st);
  CHECK_INT(st.kv_reused, 9);
  CHECK_INT(st.kv_pooled_max, 2);
  ep_gen_req_free(a);
  ep_gen_req_free(b);
  ep_gen_req_free(b0);
  ep_gen_req_free(c);
  for (int i = 0; i < 5; i++) ep_gen_req_free(g[i]);
  for (int i = 0; i < 8; i++) {
    ep_gen_req_free(con[i]);
    ep_gen_req_free(ref[i]);
  }
  ep_rt_sched_free(s);
  ep_rt_sched_free(fresh);
}

int main(void) {
  char err[256];
  ep_model_params mp = ep_model_default_params();
  mp.dir = model_dir();
  mp.threads = 1;
  if (ep_model_load(&mp, &g_model, err, sizeof err) != EP_OK ||
      ep_tok_load_dir(model_dir(), &g_tok, err, sizeof err) != EP_OK) {
    fprintf(stderr, "load failed: %s\n", err);
    return 1;
  }
  RUN(test_golden);
  RUN(test_concurrent_equals_sequential);
  RUN(test_cancel_queue_stop);
  RUN(test_kv_pool);
  ep_model_free(g_model);
  ep_tok_free(g_tok);
  return t_finish();
}
