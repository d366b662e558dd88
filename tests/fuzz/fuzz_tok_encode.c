/* libFuzzer driver for encoding/decoding text with real tokenizers (gpt2
 * byte-level BPE and bert-base-uncased WordPiece cut to their first entries by
 * make_small_tokenizers.py, models/stories260K SentencePiece-style BPE). Input: first byte picks the tokenizer and mode,
 * the rest is the text (arbitrary bytes: invalid UTF-8 must be an error).
 * Checks: ids in range, span offsets inside the text, valid UTF-8 that
 * contains no special text round-trips through decode for gpt2. */
#include <string.h>

#include "fuzz.h"
#include "tok/tok.h"

static ep_tok *g_tok[3];

static void load(void) {
  static const char *rel[3] = {"tests/fuzz/data/gpt2-small.json",
                               "tests/fuzz/data/bert-base-uncased-small.json",
                               "models/stories260K"};
  for (int i = 0; i < 3; i++) {
    char path[4096], err[256];
    snprintf(path, sizeof path, "%s/%s", fuzz_source_dir(), rel[i]);
    int rc = i == 2 ? ep_tok_load_dir(path, &g_tok[i], err, sizeof err)
                    : ep_tok_load_file(path, &g_tok[i], err, sizeof err);
    if (rc != 0) {
      fprintf(stderr, "fuzz_tok_encode: cannot load %s: %s (set EP_SOURCE_DIR)\n", path, err);
      abort();
    }
  }
}

static void check_ids(const ep_tok *t, const int32_t *ids, size_t n) {
  size_t vocab = ep_tok_vocab_size(t);
  for (size_t i = 0; i < n; i++)
    if (ids[i] < 0 || (size_t)ids[i] >= vocab) {
      fprintf(stderr, "fuzz_tok_encode: id %d outside vocab %zu\n", ids[i], vocab);
      abort();
    }
}

/* Loaded before the per-input timeout starts. */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  load();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!g_tok[0]) load();
  if (size < 1 || size > 4096) return 0;
  int which = data[0] % 3, mode = (data[0] / 3) % 4;
  const ep_tok *t = g_tok[which];
  const char *text = (const char *)data + 1;
  size_t len = size - 1;
  int32_t *ids = NULL, *types = NULL;
  size_t n = 0;
  if (mode == 0) {
    if (ep_tok_encode(t, text, len, 0, &ids, &n) == 0) {
      check_ids(t, ids, n);
      char *out = NULL;
      if (ep_tok_decode(t, ids, n, 0, &out) == 0) {
        /* gpt2 byte-level BPE is lossless for text without special tokens. */
        /* (Decode returns a C string: texts with NUL bytes are not compared.) */
        if (which == 0 && !memmem(text, len, "<|endoftext|>", 13) && !memchr(text, 0, len) &&
            (strlen(out) != len || memcmp(out, text, len) != 0)) {
          fprintf(stderr, "fuzz_tok_encode: gpt2 round trip changed the text\n");
          abort();
        }
        free(out);
      }
    }
  } else if (mode == 1) {
    ep_tok_span *sp = NULL;
    if (ep_tok_encode_spans(t, text, len, 1, &sp, &n) == 0) {
      for (size_t i = 0; i < n; i++)
        if (sp[i].start > sp[i].stop || sp[i].stop > len) {
          fprintf(stderr, "fuzz_tok_encode: span [%u,%u) outside %zu\n", sp[i].start, sp[i].stop,
                  len);
          abort();
        }
      free(sp);
    }
  } else if (mode == 2) {
    size_t half = len / 2;
    if (ep_tok_encode_pair(t, text, half, text + half, len - half, 16, &ids, &types, &n) == 0) {
      if (n > 16) abort();
      check_ids(t, ids, n);
    }
  } else {
    if (ep_tok_encode_trunc(t, text, len, 1, 8, &ids, &n) == 0) {
      if (n > 8) abort();
      check_ids(t, ids, n);
      ep_tok_stream *s = ep_tok_stream_new(t, 1);
      ep_buf out = {0};
      for (size_t i = 0; s && i < n; i++) ep_tok_stream_push(s, ids[i], &out);
      if (s) ep_tok_stream_finish(s, &out);
      ep_tok_stream_free(s);
      ep_buf_free(&out);
    }
  }
  free(ids);
  free(types);
  return 0;
}
