/* Unit tests for src/rt/sampler.c and stop.c: seeded RNG determinism,
 * log-softmax, penalties, greedy, top_k / top_p / typical_p / temperature
 * against hand-computed distributions, and stop-sequence matching. */
#include "test.h"

#include "rt/sampler.h"
#include "rt/stop.h"

static void test_rng(void) {
  ep_rng a, b, c;
  ep_rng_seed(&a, 42);
  ep_rng_seed(&b, 42);
  ep_rng_seed(&c, 43);
  int same = 1, diff = 0;
  for (int i = 0; i < 100; i++) {
    uint64_t x = ep_rng_next(&a), y = ep_rng_next(&b), z = ep_rng_next(&c);
    if (x != y) same = 0;
    if (x != z) diff++;
  }
  CHECK(same);
  CHECK(diff > 95);
  double sum = 0;
  for (int i = 0; i < 10000; i++) {
    double u = ep_rng_uniform(&a);
    CHECK(u >= 0 && u < 1);
    sum += u;
  }
  CHECK_NEAR(sum / 10000, 0.5, 0.02);
}

static void test_log_softmax(void) {
  float x[3] = {1, 2, 3}, o[3];
  ep_log_softmax(x, 3, o);
  /* lse = 3 + ln(1 + e^-1 + e^-2) = 3.4076059644 */
  CHECK_NEAR(o[0], -2.4076059644, 1e-5);
  CHECK_NEAR(o[1], -1.4076059644, 1e-5);
  CHECK_NEAR(o[2], -0.4076059644, 1e-5);
}

static void test_penalties(void) {
  float s[4] = {2, -2, 1, 0.5f};
  uint32_t cnt[4] = {0};
  int32_t ctx[3] = {0, 1, 1};
  ep_sampler_apply_penalties(s, 4, ctx, 3, 2.0f, 0.0f, cnt);
  CHECK_NEAR(s[0], 1.0, 1e-6);
  CHECK_NEAR(s[1], -4.0, 1e-6);
  CHECK_NEAR(s[2], 1.0, 1e-6);
  CHECK_NEAR(s[3], 0.5, 1e-6);
  for (int i = 0; i < 4; i++) CHECK_INT(cnt[i], 0);
  float f[4] = {2, -2, 1, 0.5f};
  ep_sampler_apply_penalties(f, 4, ctx, 3, 1.0f, 0.5f, cnt);
  CHECK_NEAR(f[0], 1.5, 1e-6);  /* 2 - 1*0.5 */
  CHECK_NEAR(f[1], -3.0, 1e-6); /* -2 - 2*0.5 */
  CHECK_NEAR(f[2], 1.0, 1e-6);
}

/* logits = log of these probabilities */
static void probs_to_logits(const double *p, float *l, int n) {
  for (int i = 0; i < n; i++) l[i] = (float)log(p[i]);
}

static void test_greedy(void) {
  ep_sampler s;
  CHECK_INT(ep_sampler_init(&s, 5), 0);
  ep_sampler_params p = ep_sampler_default_params();
  ep_rng r;
  ep_rng_seed(&r, 1);
  float l[5] = {0.5f, 3, -1, 3, 2};
  float lp = 0;
  ep_token_logprob top[3];
  CHECK_INT(ep_sampler_sample(&s, &p, &r, l, NULL, 0, &lp, top, 3), 1); /* tie -> lowest id */
  /* logprob of 3 under softmax(l): 3 - ln(e^.5+2e^3+e^-1+e^2) */
  double lse = log(exp(0.5) + 2 * exp(3.0) + exp(-1.0) + exp(2.0));
  CHECK_NEAR(lp, 3 - lse, 1e-5);
  CHECK_INT(top[0].id, 1);
  CHECK_INT(top[1].id, 3);
  CHECK_INT(top[2].id, 4);
  CHECK_NEAR(top[2].logprob, 2 - lse, 1e-5);
  /* without top tokens the log-prob takes a shorter path: same value, and
   * bit-identical to the log-prob reported alongside top tokens */
  float lp0 = 0;
  CHECK_INT(ep_sampler_sample(&s, &p, &r, l, NULL, 0, &lp0, NULL, 0), 1);
  CHECK_NEAR(lp0, 3 - lse, 1e-5);
  CHECK(lp0 == lp);
  CHECK_INT(ep_sampler_sample(&s, &p, &r, l, NULL, 0, NULL, NULL, 0), 1);
  /* a masked (NaN) winner candidate is skipped on that path too */
  float ln[5] = {NAN, 1, 2, -INFINITY, 0};
  CHECK_INT(ep_sampler_sample(&s, &p, &r, ln, NULL, 0, &lp0, NULL, 0), 2);
  CHECK_NEAR(lp0, 2 - log(exp(1.0) + exp(2.0) + 1.0), 1e-5);
  /* repetition penalty applies under greedy: id 1 seen -> 3/4 = 0.75 < 3 */
  p.repetition_penalty = 4.0f;
  int32_t ctx[1] = {1};
  CHECK_INT(ep_sampler_sample(&s, &p, &r, l, ctx, 1, &lp, NULL, 0), 3);
  ep_sampler_free(&s);
}

/* draws n samples, returns counts */
static void draw(ep_sampler *s, const ep_sampler_params *p, const float *l, int V, int n,
                 int *counts, uint64_t seed) {
  ep_rng r;
  ep_rng_seed(&r, seed);
  for (int i = 0; i < V; i++) counts[i] = 0;
  for (int i = 0; i < n; i++) {
    int32_t id = ep_sampler_sample(s, p, &r, l, NULL, 0, NULL, NULL, 0);
    if (id >= 0 && id < V) counts[id]++;
  }
}

static void test_warpers(void) {
  enum { V = 4, N = 4000 };
  ep_sampler s;
  ep_sampler_init(&s, V);
  double pr[V] = {0.5, 0.3, 0.15, 0.05};
  float l[V];
  probs_to_logits(pr, l, V);
  int c[V];
  ep_sampler_params p = ep_sampler_default_params();
  p.do_sample = 1;
  /* plain sampling follows the distribution */
  draw(&s, &p, l, V, N, c, 7);
  for (int i = 0; i < V; i++) CHECK_NEAR((double)c[i] / N, pr[i], 0.03);
  /* top_k = 2: renormalised 0.625 / 0.375 */
  p.top_k = 2;
  draw(&s, &p, l, V, N, c, 8);
  CHECK_INT(c[2] + c[3], 0);
  CHECK_NEAR((double)c[0] / N, 0.625, 0.03);
  ep_rng r;
  ep_rng_seed(&r, 3);
  float lp;
  int32_t id = ep_sampler_sample(&s, &p, &r, l, NULL, 0, &lp, NULL, 0);
  CHECK_NEAR(lp, log(id == 0 ? 0.625 : 0.375), 1e-5);
  p.top_k = 0;
  /* top_p = 0.7 keeps {0,1}; 0.85 keeps {0,1,2} */
  p.top_p = 0.7f;
  draw(&s, &p, l, V, N, c, 9);
  CHECK_INT(c[2] + c[3], 0);
  CHECK_NEAR((double)c[1] / N, 0.375, 0.03);
  p.top_p = 0.85f;
  draw(&s, &p, l, V, N, c, 10);
  CHECK_INT(c[3], 0);
  CHECK(c[2] > 0);
  CHECK_NEAR((double)c[2] / N, 0.15 / 0.95, 0.03);
  p.top_p = 1.0f;
  /* typical_p: H = 1.14212; |-log p - H| = .449, .062, .755, 1.854 -> order 1,0,2,3;
   * cum .3,.8,.95,1: mass .2 keeps {1}; .5 keeps {1,0}; .9 keeps {1,0,2} */
  p.typical_p = 0.2f;
  draw(&s, &p, l, V, N, c, 11);
  CHECK_INT(c[1], N);
  p.typical_p = 0.5f;
  draw(&s, &p, l, V, N, c, 12);
  CHECK_INT(c[2] + c[3], 0);
  CHECK_NEAR((double)c[1] / N, 0.375, 0.03);
  p.typical_p = 0.9f;
  draw(&s, &p, l, V, N, c, 13);
  CHECK_INT(c[3], 0);
  CHECK(c[2] > 0);
  p.typical_p = 1.0f;
  /* temperature 0.5 on p = (.25, .75) gives (1/10, 9/10) */
  double pr2[2] = {0.25, 0.75};
  float l2[2];
  probs_to_logits(pr2, l2, 2);
  ep_sampler s2;
  ep_sampler_init(&s2, 2);
  p.temperature = 0.5f;
  int c2[2];
  draw(&s2, &p, l2, 2, N, c2, 14);
  CHECK_NEAR((double)c2[1] / N, 0.9, 0.02);
  p.temperature = 2.0f; /* (.25^.5, .75^.5) normalised: .366 / .634 */
  draw(&s2, &p, l2, 2, N, c2, 15);
  CHECK_NEAR((double)c2[1] / N, sqrt(.75) / (sqrt(.25) + sqrt(.75)), 0.03);
  /* same seed -> same sequence; different seeds differ */
  int32_t a[64], b[64], d[64];
  ep_rng ra, rb, rd;
  ep_rng_seed(&ra, 99);
  ep_rng_seed(&rb, 99);
  ep_rng_seed(&rd, 100);
  p.temperature = 1.0f;
  int diff = 0, same = 1;
  for (int i = 0; i < 64; i++) {
    a[i] = ep_sampler_sample(&s, &p, &ra, l, NULL, 0, NULL, NULL, 0);
    b[i] = ep_sampler_sample(&s, &p, &rb, l, NULL, 0, NULL, NULL, 0);
    d[i] = ep_sampler_sample(&s, &p, &rd, l, NULL, 0, NULL, NULL, 0);
    if (a[i] != b[i]) same = 0;
    if (a[i] != d[i]) diff++;
  }
  CHECK(same);
  CHECK(diff > 5);
  /* NaN logits never win */
  float ln[4] = {NAN, 1, 2, NAN};
  p.do_sample = 0;
  CHECK_INT(ep_sampler_sample(&s, &p, &ra, ln, NULL, 0, NULL, NULL, 0), 2);
  ep_sampler_free(&s);
  ep_sampler_free(&s2);
}

static void test_stop(void) {
  const char *stops[] = {"\n\n", "END", "ab"};
  size_t w = 99;
  CHECK_INT(ep_stop_find("hello", 5, 0, stops, 3, &w), -1);
  CHECK_INT(ep_stop_find("hello E", 7, 5, stops, 3, &w), -1);
  CHECK_INT(ep_stop_find("hello END", 9, 7, stops, 3, &w), 6); /* spans the old/new boundary */
  CHECK_INT(w, 1);
  CHECK_INT(ep_stop_find("x\n\nab", 5, 0, stops, 3, &w), 1);   /* earliest start wins */
  CHECK_INT(w, 0);
  CHECK_INT(ep_stop_find("xxab", 4, 4, stops, 3, &w), -1);     /* nothing new */
  const char *empty[] = {""};
  CHECK_INT(ep_stop_find("abc", 3, 0, empty, 1, &w), -1);
  CHECK_INT(ep_stop_find("", 0, 0, stops, 3, &w), -1);
}

/* A vocab-32000 row (vectorised log-sum-exp, odd tail): the greedy token's
 * log-prob against a float64 log-softmax computed here, |diff| <= 1e-5, and
 * the short path (no top tokens) bit-identical to the top-token path. */
static void test_greedy_vocab(void) {
  enum { V = 32003 };
  static float l[V];
  uint32_t g = 7;
  for (int i = 0; i < V; i++) {
    g = g * 1664525u + 1013904223u;
    l[i] = ((g >> 8) / 16777216.0f) * 20 - 10;
  }
  l[12345] = 11.5f;
  l[V - 1] = -INFINITY;
  double mx = 11.5, sum = 0;
  for (int i = 0; i < V; i++)
    if (l[i] != -INFINITY) sum += exp((double)l[i] - mx);
  double want = 11.5 - (mx + log(sum));
  ep_sampler s;
  CHECK_INT(ep_sampler_init(&s, V), 0);
  ep_sampler_params p = ep_sampler_default_params();
  ep_rng r;
  ep_rng_seed(&r, 1);
  float lp = 0, lp2 = 1;
  ep_token_logprob top[2];
  CHECK_INT(ep_sampler_sample(&s, &p, &r, l, NULL, 0, &lp, top, 2), 12345);
  CHECK_NEAR(lp, want, 1e-5);
  CHECK(top[0].logprob == lp);
  CHECK_INT(ep_sampler_sample(&s, &p, &r, l, NULL, 0, &lp2, NULL, 0), 12345);
  CHECK(lp2 == lp);
  ep_sampler_free(&s);
}

/* Plain greedy reads the logits in place with eight running maxima: the
 * first maximum wins wherever the ties fall (same lane, other lanes, the
 * tail), all -inf gives id 0, a NaN anywhere takes the masking path, and the
 * log-prob is the one the top-token path reports. */
static void test_greedy_first_max(void) {
  enum { V = 21 }; /* two 8-blocks and a tail of 5 */
  ep_sampler s;
  CHECK_INT(ep_sampler_init(&s, V), 0);
  ep_sampler_params p = ep_sampler_default_params();
  ep_rng r;
  ep_rng_seed(&r, 1);
  static const int ties[][2] = {{2, 9}, {9, 2}, {3, 11}, {17, 20}, {0, 8}, {16, 19}, {20, 5}};
  for (size_t t = 0; t < sizeof ties / sizeof ties[0]; t++) {
    float l[V];
    for (int i = 0; i < V; i++) l[i] = (float)(i % 7) - 3.0f;
    l[ties[t][0]] = 5.0f;
    l[ties[t][1]] = 5.0f;
    int want = ties[t][0] < ties[t][1] ? ties[t][0] : ties[t][1];
    float lp = 0, lpt = 1;
    ep_token_logprob top[1];
    CHECK_INT(ep_sampler_sample(&s, &p, &r, l, NULL, 0, &lp, NULL, 0), want);
    CHECK_INT(ep_sampler_sample(&s, &p, &r, l, NULL, 0, &lpt, top, 1), want);
    CHECK(lp == lpt);
  }
  float inf[V], nan[V];
  for (int i = 0; i < V; i++) inf[i] = -INFINITY, nan[i] = (float)i;
  CHECK_INT(ep_sampler_sample(&s, &p, &r, inf, NULL, 0, NULL, NULL, 0), 0);
  nan[20] = NAN; /* the largest value masked: the next one wins */
  float lp = 0;
  CHECK_INT(ep_sampler_sample(&s, &p, &r, nan, NULL, 0, &lp, NULL, 0), 19);
  CHECK(isfinite(lp));
  ep_sampler_free(&s);
}

int main(void) {
  RUN(test_rng);
  RUN(test_log_softmax);
  RUN(test_penalties);
  RUN(test_greedy);
  RUN(test_greedy_vocab);
  RUN(test_greedy_first_max);
  RUN(test_warpers);
  RUN(test_stop);
  return t_finish();
}
