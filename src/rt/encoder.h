/* A loaded bidirectional encoder (BERT, RoBERTa/XLM-R, DistilBERT) with the
 * sentence-transformers stack (pooling, optional Dense, Normalize) and the
 * *ForSequenceClassification head (pooler + classifier, id2label).
 *
 * A forward runs a batch of independent sequences packed back to back (no pad
 * tokens): each token attends only to the tokens of its own sequence, which
 * is exactly what an attention mask over a padded batch computes.
 *
 * Ownership: ep_encoder_load returns a caller-owned object (ep_encoder_free);
 * weights are mmapped read-only. Output arrays are caller-allocated. Threads:
 * one call at a time per encoder (it uses its own thread pool inside). */
#ifndef EP_RT_ENCODER_H
#define EP_RT_ENCODER_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
  EP_POOL_CLS = 0,
  EP_POOL_MEAN,
  EP_POOL_MAX,
  EP_POOL_LAST, /* sentence-transformers "lasttoken" */
} ep_pool;

typedef struct {
  const char *dir; /* Hugging Face repository folder */
  int threads;     /* compute threads (0 = number of cores) */
} ep_encoder_params;

ep_encoder_params ep_encoder_default_params(void);

typedef struct {
  char arch[32];          /* config model_type: "bert" | "roberta" | "xlm-roberta" | "distilbert" ... */
  int vocab_size, type_vocab_size;
  int max_tokens;         /* usable positions per sequence (RoBERTa: max_pos - pad - 1) */
  int n_layer, d, n_head, n_ff;
  ep_pool pooling;        /* 1_Pooling/config.json, else CLS (TEI's default for plain BERT) */
  int dense_out;          /* 2_Dense out_features, 0 when there is no Dense module */
  int dim;                /* sentence embedding size (dense_out or d) */
  int st_normalize;       /* modules.json has a Normalize module */
  int has_classifier;     /* classifier weights found (+ pooler for BERT) */
  int n_labels;           /* classifier outputs */
  char **labels;          /* [n_labels] id2label (LABEL_i when absent); owned by the encoder */
  int multi_label;        /* problem_type == multi_label_classification -> sigmoid */
} ep_encoder_info;

typedef struct ep_encoder ep_encoder;

/* Loads config.json, safetensors weights and the sentence-transformers files.
 * On failure returns an ep_err and writes a message naming the problem. */
int ep_encoder_load(const ep_encoder_params *p, ep_encoder **out, char *err, size_t errsz);
void ep_encoder_free(ep_encoder *e);
const ep_encoder_info *ep_encoder_get_info(const ep_encoder *e);
/* Parses "mean" | "cls" | "max" | "lasttoken" (also "last"); -1 if unknown. */
int ep_pool_parse(const char *s);

typedef struct {
  const int32_t *ids;      /* n token ids (special tokens included) */
  const int32_t *type_ids; /* n token types, or NULL for all zeros */
  size_t n;                /* 1 .. info.max_tokens */
} ep_enc_seq;

/* Last hidden states: hidden[sum(n), d], sequences in order. Returns EP_OK,
 * EP_EINVAL (bad id/type id/empty), EP_ERANGE (too long), EP_ENOMEM. */
int ep_encoder_forward(ep_encoder *e, const ep_enc_seq *seqs, size_t nseq, float *hidden);
/* Sentence embeddings out[nseq, dim]: pooling (pool < 0: the repository's),
 * then Dense, then L2 normalisation when normalize != 0. */
int ep_encoder_embed(ep_encoder *e, const ep_enc_seq *seqs, size_t nseq, int pool, int normalize,
                     float *out);
/* Classifier logits out[nseq, n_labels]; EP_EUNSUPPORTED without a head. */
int ep_encoder_classify(ep_encoder *e, const ep_enc_seq *seqs, size_t nseq, float *logits);

#endif
