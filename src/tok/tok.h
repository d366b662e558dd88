/* Tokenizers loaded from a Hugging Face repository: tokenizer.json (BPE with
 * byte-level pre-tokenizer, SentencePiece-style BPE, WordPiece) plus
 * tokenizer_config.json (special tokens), or a vocab.txt-only BERT folder.
 * Unknown tokenizer.json features fail the load with a message naming them.
 *
 * Ownership: ep_tok_load* returns an object owned by the caller
 * (ep_tok_free). Arrays/strings returned through out-pointers are malloc'd
 * and owned by the caller (free()). An ep_tok is immutable after load and
 * may be used from several threads at once. */
#ifndef EP_TOK_TOK_H
#define EP_TOK_TOK_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

typedef struct ep_tok ep_tok;

/* Loads <dir>/tokenizer.json (+ tokenizer_config.json when present), or
 * <dir>/vocab.txt for BERT folders without tokenizer.json. On failure returns
 * an ep_err and writes a human message into err. */
int ep_tok_load_dir(const char *dir, ep_tok **out, char *err, size_t errsz);
/* Loads one tokenizer.json file (no tokenizer_config.json). */
int ep_tok_load_file(const char *tokenizer_json, ep_tok **out, char *err, size_t errsz);
void ep_tok_free(ep_tok *t);

/* Encodes UTF-8 text (len bytes; need not be NUL-terminated). add_special:
 * apply the post-processor (BOS, [CLS]/[SEP], ...). Invalid UTF-8 -> EP_EINVAL. */
int ep_tok_encode(const ep_tok *t, const char *text, size_t len, int add_special, int32_t **ids,
                  size_t *n);

/* Truncating variant of ep_tok_encode. max_len = 0: no limit; otherwise the
 * result (post-processor tokens included when add_special) has at most
 * max_len ids: tokens are dropped from the end of the text. EP_ERANGE when
 * max_len cannot even hold the special tokens. */
int ep_tok_encode_trunc(const ep_tok *t, const char *a, size_t alen, int add_special,
                        size_t max_len, int32_t **ids, size_t *n);

/* Pair encoding (BERT cross-encoders, NLI): the post-processor's pair
 * template, e.g. [CLS] A [SEP] B [SEP], is always applied. type_ids (may be
 * NULL) receives the token_type_ids, n entries, malloc'd like ids. max_len as
 * in ep_tok_encode_trunc, truncating "longest first": one token at a time from
 * the end of the longer of A and B (B on ties). Without a post-processor the
 * pair is A B (plus BOS/EOS per sequence when tokenizer_config asks). */
int ep_tok_encode_pair(const ep_tok *t, const char *a, size_t alen, const char *b, size_t blen,
                       size_t max_len, int32_t **ids, int32_t **type_ids, size_t *n);

/* Same, with byte offsets [start, stop) of each token in text (special tokens
 * added by the post-processor get start = stop = 0). */
typedef struct {
  int32_t id;
  uint32_t start, stop;
} ep_tok_span;
int ep_tok_encode_spans(const ep_tok *t, const char *text, size_t len, int add_special,
                        ep_tok_span **spans, size_t *n);

/* Decodes ids to UTF-8 (*out NUL-terminated). skip_special drops tokens marked
 * special. Bytes that do not form valid UTF-8 become U+FFFD. */
int ep_tok_decode(const ep_tok *t, const int32_t *ids, size_t n, int skip_special, char **out);

size_t ep_tok_vocab_size(const ep_tok *t);             /* highest id + 1 */
const char *ep_tok_piece(const ep_tok *t, int32_t id); /* raw vocab string; NULL if out of range */
int ep_tok_is_special(const ep_tok *t, int32_t id);
int32_t ep_tok_piece_id(const ep_tok *t, const char *piece); /* -1 if unknown */
/* Special ids from tokenizer_config.json / the post-processor; -1 if none. */
int32_t ep_tok_bos_id(const ep_tok *t);
int32_t ep_tok_eos_id(const ep_tok *t);
int32_t ep_tok_pad_id(const ep_tok *t);
const char *ep_tok_bos_str(const ep_tok *t); /* "" if none */
const char *ep_tok_eos_str(const ep_tok *t);
/* chat_template from tokenizer_config.json, NULL if none. */
const char *ep_tok_chat_template(const ep_tok *t);

/* Incremental detokenizer for streaming: push ids one by one, get back only
 * text that is complete UTF-8 (a multi-byte character split across tokens is
 * held back until its last byte arrives). Decoders that depend on position
 * (Strip of a leading space, Metaspace prefix) behave as in a full decode. */
typedef struct ep_tok_stream ep_tok_stream;
ep_tok_stream *ep_tok_stream_new(const ep_tok *t, int skip_special);
/* Appends the newly completed text for `id` to out (possibly nothing). */
int ep_tok_stream_push(ep_tok_stream *s, int32_t id, ep_buf *out);
/* Flushes held-back bytes at end of stream (as U+FFFD if incomplete). */
int ep_tok_stream_finish(ep_tok_stream *s, ep_buf *out);
void ep_tok_stream_free(ep_tok_stream *s);

#endif
