/* config.json and generation_config.json of a Hugging Face repository, parsed
 * into plain structs (the JSON stays at this edge). Accepts the GPT-2 names
 * (n_embd, n_layer, n_head, n_inner, n_positions, layer_norm_epsilon) and the
 * Llama/Mistral/Qwen2/BERT names. Non-goal: every optional field of every
 * architecture; unknown fields are ignored.
 *
 * Ownership: ep_config owns its id2label strings; release with ep_config_free. */
#ifndef EP_FMT_CONFIG_H
#define EP_FMT_CONFIG_H

#include <stddef.h>

#define EP_CONFIG_MAX_EOS 8

typedef enum {
  EP_ROPE_SCALING_NONE = 0,
  EP_ROPE_SCALING_LINEAR,
  EP_ROPE_SCALING_LLAMA3,
} ep_rope_scaling_type;

typedef struct {
  char model_type[32];    /* "llama", "gpt2", "mistral", "qwen2", "bert", ... */
  char architecture[64];  /* architectures[0] or "" */
  char hidden_act[32];    /* "silu", "gelu_new", ... ("" if absent) */
  int vocab_size;
  int hidden_size;        /* hidden_size | n_embd | d_model */
  int n_layer;            /* num_hidden_layers | n_layer */
  int n_head;             /* num_attention_heads | n_head */
  int n_kv_head;          /* num_key_value_heads, default n_head */
  int head_dim;           /* head_dim, default hidden_size / n_head */
  int intermediate_size;  /* intermediate_size | n_inner; 0 if absent (GPT-2: 4*hidden) */
  int max_pos;            /* max_position_embeddings | n_positions | n_ctx; 0 if absent */
  double rms_norm_eps;    /* 0 if absent */
  double layer_norm_eps;  /* layer_norm_epsilon | layer_norm_eps; 0 if absent */
  double rope_theta;      /* default 10000 */
  struct {
    ep_rope_scaling_type type;
    double factor, low_freq_factor, high_freq_factor;
    int original_max_pos;
  } rope_scaling;
  int tie_word_embeddings; /* default 1 */
  int attention_bias, mlp_bias;
  int bos_id, pad_id;      /* -1 if absent */
  int eos_ids[EP_CONFIG_MAX_EOS];
  int n_eos;
  int type_vocab_size;     /* BERT; 0 if absent */
  int n_labels;            /* entries of id2label */
  char **id2label;         /* [n_labels], index = class id; owned */
} ep_config;

typedef struct {
  int bos_id, pad_id;      /* -1 if absent */
  int eos_ids[EP_CONFIG_MAX_EOS];
  int n_eos;
  int max_length;          /* 0 if absent */
  int max_new_tokens;      /* 0 if absent */
  int do_sample;           /* -1 if absent */
  double temperature;      /* < 0 if absent */
  double top_p;            /* < 0 if absent */
  int top_k;               /* < 0 if absent */
  double repetition_penalty; /* < 0 if absent */
} ep_gen_config;

/* Parses config.json text. Missing or invalid required fields (model_type or
 * architectures, vocab_size, hidden size, layers, heads) -> EP_EPARSE or
 * EP_EINVAL with a message naming the field. */
int ep_config_parse(const char *json, size_t len, ep_config *out, char *err, size_t errsz);
/* Reads dir/config.json. */
int ep_config_load(const char *dir, ep_config *out, char *err, size_t errsz);
void ep_config_free(ep_config *c);

/* Parses generation_config.json text / reads dir/generation_config.json.
 * A missing file gives EP_ENOTFOUND with *out set to "all absent". */
int ep_gen_config_parse(const char *json, size_t len, ep_gen_config *out, char *err, size_t errsz);
int ep_gen_config_load(const char *dir, ep_gen_config *out, char *err, size_t errsz);

#endif
