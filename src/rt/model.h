/* A loaded causal language model (GPT-2 or Llama family) and its per-sequence
 * KV caches. One forward call runs a batch of sequences, each appending any
 * number of tokens (a prefill chunk or one decode token), and returns the
 * logits of each sequence's last new token.
 *
 * Ownership: ep_model_load returns a caller-owned model (ep_model_free);
 * weights are mmapped read-only from the repository files. ep_kv objects are
 * caller-owned (ep_kv_free) and tied to their model. Threads: a model may run
 * one forward at a time (it uses its own thread pool inside). */
#ifndef EP_RT_MODEL_H
#define EP_RT_MODEL_H

#include <stddef.h>
#include <stdint.h>

typedef enum { EP_DTYPE_F32 = 0, EP_DTYPE_F16, EP_DTYPE_BF16, EP_DTYPE_INT8 } ep_dtype;

typedef struct {
  const char *dir;         /* Hugging Face repository folder */
  int threads;             /* compute threads (0 = number of cores) */
  ep_dtype dtype;          /* compute/storage type for weights (F32 default) */
} ep_model_params;

ep_model_params ep_model_default_params(void);

#define EP_MODEL_MAX_EOS 8

typedef struct {
  char arch[32];            /* "llama" | "gpt2" (from config.json model_type) */
  int vocab_size;
  int n_ctx;                /* max_position_embeddings */
  int n_layer, n_embd, n_head, n_kv_head, head_dim, n_ff;
  int bos_id;               /* -1 if unknown (config/generation_config) */
  int eos_ids[EP_MODEL_MAX_EOS]; /* from generation_config.json (int or list), else config.json */
  int n_eos;
  const char *kernels;      /* kernel set in use: "avx512vnni" | "avx512" | "avx2" | "scalar" */
} ep_model_info;

typedef struct ep_model ep_model;
typedef struct ep_kv ep_kv;

/* Loads config.json and the safetensors weights. On failure returns an ep_err
 * and writes a message naming the problem (missing tensor, bad shape,
 * unsupported architecture, corrupt file) into err. */
int ep_model_load(const ep_model_params *p, ep_model **out, char *err, size_t errsz);
void ep_model_free(ep_model *m);
const ep_model_info *ep_model_get_info(const ep_model *m);

/* KV cache for one sequence holding up to max_tokens positions
 * (<= n_ctx). */
ep_kv *ep_kv_new(ep_model *m, size_t max_tokens);
void ep_kv_free(ep_kv *kv);
size_t ep_kv_len(const ep_kv *kv);          /* positions filled */
size_t ep_kv_cap(const ep_kv *kv);          /* positions it can hold (max_tokens) */
/* Drops positions >= len. Truncating to 0 makes the cache as good as new for
 * any sequence of up to ep_kv_cap positions: forward only reads positions
 * < ep_kv_len, each written by the sequence before it is read. */
void ep_kv_truncate(ep_kv *kv, size_t len);

typedef struct {
  ep_kv *kv;              /* sequence cache; tokens are appended at ep_kv_len(kv) */
  const int32_t *tokens;  /* n new tokens */
  size_t n;
  float *logits;          /* out: vocab_size floats for the last new token, or NULL */
  float *all_logits;      /* out: n * vocab_size floats (every new position), or NULL */
} ep_batch_item;

/* Runs the batch. Returns EP_OK, EP_ERANGE if a sequence would exceed its KV
 * capacity (nothing appended for it), EP_EINVAL on bad token ids. The whole
 * batch is validated first: on any error nothing is appended to any sequence.
 * A kv may appear at most once per batch. All rows of all items share each
 * weight read (prefill chunks and decode tokens may be mixed freely). */
int ep_model_forward(ep_model *m, ep_batch_item *items, size_t nitems);

#endif
