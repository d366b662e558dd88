/* libFuzzer driver for tokenizer.json loading (src/tok): the input is a
 * tokenizer.json (read through a memfd). An accepted tokenizer then encodes
 * and decodes a few fixed texts, so a loader that accepts inconsistent tables
 * (merges naming unknown pieces, bad ids) is caught where they are used. */
#include <string.h>

#include "fuzz.h"
#include "tok/tok.h"

static const char *k_texts[] = {"Hello world", " a  b\n\tc ", "ünïcödé 日本語 🙂", "[CLS] <s> </s>",
                                "don't 123 4567"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[64], err[256];
  int fd = fuzz_memfile(data, size, path, sizeof path);
  if (fd < 0) return 0;
  ep_tok *t = NULL;
  if (ep_tok_load_file(path, &t, err, sizeof err) == 0) {
    size_t vocab = ep_tok_vocab_size(t);
    for (size_t k = 0; k < sizeof k_texts / sizeof k_texts[0]; k++) {
      int32_t *ids = NULL;
      size_t n = 0;
      if (ep_tok_encode(t, k_texts[k], strlen(k_texts[k]), 1, &ids, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
          if (ids[i] < 0 || (size_t)ids[i] >= vocab) {
            fprintf(stderr, "fuzz_tokenizer_json: id %d outside vocab %zu\n", ids[i], vocab);
            abort();
          }
          (void)ep_tok_piece(t, ids[i]);
        }
        char *text = NULL;
        if (ep_tok_decode(t, ids, n, 0, &text) == 0) free(text);
      }
      free(ids);
    }
    (void)ep_tok_bos_str(t);
    (void)ep_tok_eos_str(t);
    ep_tok_free(t);
  }
  close(fd);
  return 0;
}
