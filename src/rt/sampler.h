/* Token sampling for text generation: logits processors (repetition and
 * frequency penalty), warpers (temperature, top_k, top_p, typical_p) in the
 * order Hugging Face transformers/TGI apply them, greedy argmax, a seeded
 * per-request RNG, and log-probabilities of the final distribution.
 *
 * Ownership: everything works on caller-owned arrays; the sampler keeps a
 * scratch buffer (ep_sampler) that one thread at a time may use. */
#ifndef EP_RT_SAMPLER_H
#define EP_RT_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

/* xoshiro256** seeded with splitmix64: deterministic for a given seed. */
typedef struct {
  uint64_t s[4];
} ep_rng;

void ep_rng_seed(ep_rng *r, uint64_t seed);
uint64_t ep_rng_next(ep_rng *r);
double ep_rng_uniform(ep_rng *r); /* [0, 1) with 53 bits */

typedef struct {
  int do_sample;             /* 0 = greedy (argmax, ties -> lowest id) */
  float temperature;         /* > 0; 1 = unchanged (0 means greedy at the API edge) */
  int top_k;                 /* 0 = off */
  float top_p;               /* (0,1); 1 = off */
  float typical_p;           /* (0,1); 1 = off */
  float repetition_penalty;  /* > 0; 1 = off (HF: s<0 ? s*p : s/p for seen tokens) */
  float frequency_penalty;   /* 0 = off (TGI: s -= count * f) */
  uint64_t seed;
} ep_sampler_params;

ep_sampler_params ep_sampler_default_params(void); /* greedy, everything off */

typedef struct {
  int32_t id;
  float logprob;
} ep_token_logprob;

typedef struct {
  int vocab;
  float *work;      /* vocab: processed scores */
  int32_t *idx;     /* vocab: candidate ids */
  float *prob;      /* vocab */
  uint32_t *count;  /* vocab: occurrences in the context */
} ep_sampler;

int ep_sampler_init(ep_sampler *s, int vocab);
void ep_sampler_free(ep_sampler *s);

/* Picks the next token from logits[vocab] given the context (prompt +
 * generated ids, for the penalties). logits is not modified. Writes the
 * chosen id's log-probability under the final (processed, warped) distribution
 * to *logprob and, when ntop > 0, the ntop most likely tokens of that
 * distribution (descending) to top[]. Returns the id. */
int32_t ep_sampler_sample(ep_sampler *s, const ep_sampler_params *p, ep_rng *rng,
                          const float *logits, const int32_t *ctx, size_t nctx, float *logprob,
                          ep_token_logprob *top, int ntop);

/* In-place steps, exposed for tests. n = vocab. */
void ep_sampler_apply_penalties(float *scores, int n, const int32_t *ctx, size_t nctx,
                                float repetition, float frequency, uint32_t *count_scratch);
void ep_log_softmax(const float *x, int n, float *out);

#endif
