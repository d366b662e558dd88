/* Sampler implementation: penalties, temperature, top_k, top_p, typical_p
 * (same semantics and order as transformers' logits processors/warpers, which
 * TGI uses), then greedy argmax or a draw from the softmax with the request's
 * RNG. Masked tokens are -inf; at least one token always survives. */
#include "rt/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "kern/kern.h"

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void ep_rng_seed(ep_rng *r, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t ep_rng_next(ep_rng *r) {
  uint64_t *s = r->s;
  uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return res;
}

double ep_rng_uniform(ep_rng *r) { return (double)(ep_rng_next(r) >> 11) * 0x1.0p-53; }

ep_sampler_params ep_sampler_default_params(void) {
  ep_sampler_params p = {0};
  p.temperature = 1.0f;
  p.top_p = 1.0f;
  p.typical_p = 1.0f;
  p.repetition_penalty = 1.0f;
  return p;
}

int ep_sampler_init(ep_sampler *s, int vocab) {
  memset(s, 0, sizeof *s);
  if (vocab <= 0) return EP_EINVAL;
  s->vocab = vocab;
  s->work = malloc(sizeof(float) * (size_t)vocab);
  s->prob = malloc(sizeof(float) * (size_t)vocab);
  s->idx = malloc(sizeof(int32_t) * (size_t)vocab);
  s->count = calloc((size_t)vocab, sizeof(uint32_t));
  if (!s->work || !s->prob || !s->idx || !s->count) {
    ep_sampler_free(s);
    return EP_ENOMEM;
  }
  return EP_OK;
}

void ep_sampler_free(ep_sampler *s) {
  free(s->work);
  free(s->prob);
  free(s->idx);
  free(s->count);
  memset(s, 0, sizeof *s);
}

/* The vocab-wide log-sum-exp is ep_kern_logsumexp (AVX2 exp, ~1e-6 from the
 * float64 reference), the one place both paths below take it from. */
void ep_log_softmax(const float *x, int n, float *out) {
  float lse = ep_kern_logsumexp(x, n);
  for (int i = 0; i < n; i++) out[i] = x[i] == -INFINITY ? -INFINITY : x[i] - lse;
}

/* ep_log_softmax(x)[id] with the same log-sum-exp, so the value is
 * bit-identical to the full-vector path. */
static float log_softmax_at(const float *x, int n, int id) {
  return x[id] == -INFINITY ? -INFINITY : x[id] - ep_kern_logsumexp(x, n);
}

void ep_sampler_apply_penalties(float *scores, int n, const int32_t *ctx, size_t nctx,
                                float repetition, float frequency, uint32_t *count) {
  if (repetition == 1.0f && frequency == 0.0f) return;
  for (size_t i = 0; i < nctx; i++)
    if (ctx[i] >= 0 && ctx[i] < n) count[ctx[i]]++;
  for (size_t i = 0; i < nctx; i++) {
    int32_t t = ctx[i];
    if (t < 0 || t >= n || count[t] == 0) continue;
    float v = scores[t];
    if (repetition != 1.0f) v = v < 0 ? v * repetition : v / repetition;
    if (frequency != 0.0f) v -= (float)count[t] * frequency;
    scores[t] = v;
    count[t] = 0; /* each distinct token once; also resets the scratch */
  }
}

static int cmp_desc(const void *a, const void *b, void *arg) {
  const float *w = arg;
  float x = w[*(const int32_t *)a], y = w[*(const int32_t *)b];
  if (x > y) return -1;
  if (x < y) return 1;
  return *(const int32_t *)a - *(const int32_t *)b;
}

/* Softmax of scores over all n into prob (masked -> 0). */
static void softmax(const float *x, int n, float *prob) {
  float mx = -INFINITY;
  for (int i = 0; i < n; i++)
    if (x[i] > mx) mx = x[i];
  double sum = 0;
  for (int i = 0; i < n; i++) {
    double e = x[i] == -INFINITY ? 0.0 : exp((double)x[i] - mx);
    prob[i] = (float)e;
    sum += e;
  }
  for (int i = 0; i < n; i++) prob[i] = (float)(prob[i] / sum);
}

static void warp_top_k(ep_sampler *s, int k) {
  int n = s->vocab;
  if (k <= 0 || k >= n) return;
  for (int i = 0; i < n; i++) s->idx[i] = i;
  qsort_r(s->idx, (size_t)n, sizeof(int32_t), cmp_desc, s->work);
  float thr = s->work[s->idx[k - 1]];
  for (int i = 0; i < n; i++)
    if (s->work[i] < thr) s->work[i] = -INFINITY; /* ties at the threshold stay (as HF) */
}

static void warp_top_p(ep_sampler *s, float top_p) {
  int n = s->vocab;
  if (!(top_p < 1.0f)) return;
  softmax(s->work, n, s->prob);
  for (int i = 0; i < n; i++) s->idx[i] = i;
  qsort_r(s->idx, (size_t)n, sizeof(int32_t), cmp_desc, s->work);
  /* keep token i iff the mass of strictly more likely tokens is < top_p */
  double before = 0;
  for (int r = 0; r < n; r++) {
    int32_t t = s->idx[r];
    if (r > 0 && before >= top_p) s->work[t] = -INFINITY;
    before += s->prob[t];
  }
}

static void warp_typical(ep_sampler *s, float mass) {
  int n = s->vocab;
  if (!(mass < 1.0f)) return;
  ep_log_softmax(s->work, n, s->prob); /* prob holds log-probs here */
  double ent = 0;
  for (int i = 0; i < n; i++)
    if (s->prob[i] != -INFINITY) ent -= (double)s->prob[i] * exp(s->prob[i]);
  /* sort by |(-logp) - H| ascending (key negated so cmp_desc applies) */
  float *key = malloc(sizeof(float) * (size_t)n);
  float *lp = malloc(sizeof(float) * (size_t)n);
  if (!key || !lp) {
    free(key);
    free(lp);
    return;
  }
  for (int i = 0; i < n; i++) {
    lp[i] = s->prob[i];
    key[i] = lp[i] == -INFINITY ? -INFINITY : -(float)fabs(-(double)lp[i] - ent);
    s->idx[i] = i;
  }
  qsort_r(s->idx, (size_t)n, sizeof(int32_t), cmp_desc, key); /* -|.| desc == |.| asc */
  /* HF: last_ind = count of cumulative probs < mass; keep sorted[0..last_ind] */
  double cum = 0;
  int last = 0;
  for (int r = 0; r < n; r++) {
    cum += exp(lp[s->idx[r]]);
    if (cum < mass) last = r + 1;
    else break;
  }
  if (last > n - 1) last = n - 1;
  for (int r = last + 1; r < n; r++) s->work[s->idx[r]] = -INFINITY;
  free(key);
  free(lp);
}

/* The first maximum of x[0..n) read in place, or -1 when x holds a NaN (the
 * general path then masks it). Eight running maxima instead of one: the scalar
 * compare-and-branch loop was a serial chain over the vocabulary. */
static int32_t first_max(const float *x, int n) {
  float m[8];
  int nan = 0, i = 0;
  for (int k = 0; k < 8; k++) m[k] = -INFINITY;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++) {
      float v = x[i + k];
      nan |= v != v;
      m[k] = v > m[k] ? v : m[k];
    }
  for (; i < n; i++) {
    nan |= x[i] != x[i];
    m[0] = x[i] > m[0] ? x[i] : m[0];
  }
  if (nan) return -1;
  float mx = m[0];
  for (int k = 1; k < 8; k++) mx = m[k] > mx ? m[k] : mx;
  for (i = 0; i < n; i++)
    if (x[i] == mx) return i;
  return 0; /* n == 0 */
}

int32_t ep_sampler_sample(ep_sampler *s, const ep_sampler_params *p, ep_rng *rng,
                          const float *logits, const int32_t *ctx, size_t nctx, float *logprob,
                          ep_token_logprob *top, int ntop) {
  int n = s->vocab;
  /* plain greedy (the common serving case): no copy of the logits, no
   * per-token pass but the argmax and the log-sum-exp; the same id and bits as
   * below, which this skips only when nothing would change the scores. At a
   * vocab of 32000 that is 26 instead of 80 us per token, spent on the one
   * thread while the pool waits (8 streams: ~0.4 ms of each step). */
  if (!p->do_sample && !(top && ntop > 0) && p->repetition_penalty == 1.0f &&
      p->frequency_penalty == 0.0f) {
    int32_t id = first_max(logits, n);
    if (id >= 0) {
      if (logprob) *logprob = log_softmax_at(logits, n, id);
      return id;
    }
  }
  memcpy(s->work, logits, sizeof(float) * (size_t)n);
  for (int i = 0; i < n; i++)
    if (isnan(s->work[i])) s->work[i] = -INFINITY;
  ep_sampler_apply_penalties(s->work, n, ctx, nctx, p->repetition_penalty, p->frequency_penalty,
                             s->count);
  if (p->do_sample) {
    if (p->temperature > 0 && p->temperature != 1.0f)
      for (int i = 0; i < n; i++) s->work[i] /= p->temperature;
    warp_top_k(s, p->top_k);
    warp_top_p(s, p->top_p);
    warp_typical(s, p->typical_p);
  }
  int32_t best = 0; /* first maximum; the value kept in a register, not reloaded */
  float bv = s->work[0];
  for (int i = 1; i < n; i++)
    if (s->work[i] > bv) bv = s->work[best = i];
  int32_t id = best;
  if (p->do_sample) {
    softmax(s->work, n, s->prob);
    double u = ep_rng_uniform(rng), cum = 0;
    id = -1;
    for (int i = 0; i < n; i++) {
      if (s->prob[i] <= 0) continue;
      cum += s->prob[i];
      id = i;
      if (u < cum) break;
    }
    if (id < 0) id = best;
  }
  if (!(top && ntop > 0)) { /* only the chosen token's log-prob: no vocab-sized write */
    if (logprob) *logprob = log_softmax_at(s->work, n, id);
    return id;
  }
  ep_log_softmax(s->work, n, s->prob);
  if (logprob) *logprob = s->prob[id];
  {
    for (int i = 0; i < n; i++) s->idx[i] = i;
    if (ntop > n) ntop = n;
    /* partial selection: ntop is small */
    for (int r = 0; r < ntop; r++) {
      int bi = r;
      for (int j = r + 1; j < n; j++) {
        float a = s->prob[s->idx[j]], b = s->prob[s->idx[bi]];
        if (a > b || (a == b && s->idx[j] < s->idx[bi])) bi = j;
      }
      int32_t t = s->idx[r];
      s->idx[r] = s->idx[bi];
      s->idx[bi] = t;
      top[r].id = s->idx[r];
      top[r].logprob = s->prob[s->idx[r]];
    }
  }
  return id;
}
