/* Golden-vector tests of the tokenizer: llama.cpp's 46 cases (ids made by
 * Hugging Face transformers / @huggingface/tokenizers) for GPT-2, BERT
 * (tokenizer.json and the vocab.txt-only path) and stories260K, plus
 * decode(encode(x)) == x for the byte-level and SentencePiece-style BPEs. */
#include "base/err.h"
#include "test.h"
#include "tok/tok.h"
#include "tok/tok_fixtures.h"

/* Encodes every case, counts exact matches; also checks the round trip. */
static void run_vectors(const ep_tok *t, const char *stem, int roundtrip) {
  tf_cases c;
  CHECK_INT(tf_load(&c, stem), 46);
  size_t same = 0, rt = 0;
  for (size_t i = 0; i < c.n; i++) {
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = ep_tok_encode(t, c.text[i], c.len[i], 0, &ids, &n);
    CHECK_INT(rc, 0);
    if (!rc && tf_same(ids, n, c.ids[i], c.nids[i])) {
      same++;
    } else {
      fprintf(stderr, "%s case %zu mismatch: \"%s\"\n", stem, i, c.text[i]);
      tf_print_ids("got", ids, n);
      tf_print_ids("want", c.ids[i], c.nids[i]);
    }
    if (roundtrip && !rc) {
      char *txt = NULL;
      CHECK_INT(ep_tok_decode(t, ids, n, 0, &txt), 0);
      if (txt && strlen(txt) == c.len[i] && !memcmp(txt, c.text[i], c.len[i]))
        rt++;
      else
        fprintf(stderr, "%s case %zu round trip: \"%s\" -> \"%s\"\n", stem, i, c.text[i],
                txt ? txt : "(null)");
      free(txt);
    }
    free(ids);
  }
  fprintf(stderr, "%s: %zu/%zu identical", stem, same, c.n);
  if (roundtrip) fprintf(stderr, ", round trip %zu/%zu", rt, c.n);
  fprintf(stderr, "\n");
  CHECK_INT(same, 46);
  if (roundtrip) CHECK_INT(rt, 46);
  tf_free(&c);
}

static void test_gpt2(void) {
  ep_tok *t = NULL;
  char err[256];
  int rc = ep_tok_load_dir(t_data("tokenizers/gpt2"), &t, err, sizeof err);
  CHECK_INT(rc, 0);
  if (rc) {
    fprintf(stderr, "load: %s\n", err);
    return;
  }
  CHECK_INT(ep_tok_vocab_size(t), 50257);
  CHECK_INT(ep_tok_eos_id(t), 50256);
  CHECK_INT(ep_tok_bos_id(t), 50256);
  CHECK_STR(ep_tok_eos_str(t), "<|endoftext|>");
  CHECK(ep_tok_is_special(t, 50256));
  CHECK(!ep_tok_is_special(t, 464));
  CHECK_STR(ep_tok_piece(t, 464), "The");
  CHECK_INT(ep_tok_piece_id(t, "\xC4\xA0the"), 262); /* "Ġthe" */
  run_vectors(t, "ggml-vocab-gpt-2.gguf", 1);
  /* the added token is split out of the text */
  int32_t *ids = NULL;
  size_t n = 0;
  const char *s = "Hello<|endoftext|> world";
  CHECK_INT(ep_tok_encode(t, s, strlen(s), 1, &ids, &n), 0);
  int32_t want[] = {15496, 50256, 995};
  CHECK(tf_same(ids, n, want, 3));
  free(ids);
  ep_tok_free(t);
}

static void test_stories(void) {
  ep_tok *t = NULL;
  char err[256];
  int rc = ep_tok_load_dir("models/stories260K", &t, err, sizeof err);
  CHECK_INT(rc, 0);
  if (rc) {
    fprintf(stderr, "load: %s\n", err);
    return;
  }
  CHECK_INT(ep_tok_vocab_size(t), 512);
  CHECK_INT(ep_tok_bos_id(t), 1);
  CHECK_INT(ep_tok_eos_id(t), 2);
  CHECK_STR(ep_tok_bos_str(t), "<s>");
  run_vectors(t, "stories260K", 1);
  ep_tok_free(t);
}

static void test_bert(void) {
  ep_tok *tj = NULL, *tv = NULL;
  char err[256];
  int rc =
      ep_tok_load_file(t_data("tokenizers/bert-base-uncased/tokenizer.json"), &tj, err, sizeof err);
  CHECK_INT(rc, 0);
  if (rc) {
    fprintf(stderr, "load: %s\n", err);
    return;
  }
  run_vectors(tj, "ggml-vocab-bert-bge.gguf", 0);
  /* vocab.txt-only folder: copy vocab.txt (+ config) into a temp dir */
  char dir[] = "/tmp/ep_tok_vocabXXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "cp '%s' '%s/'", t_data("tokenizers/bert-base-uncased/vocab.txt"), dir);
  CHECK_INT(system(cmd), 0);
  rc = ep_tok_load_dir(dir, &tv, err, sizeof err);
  CHECK_INT(rc, 0);
  if (!rc) {
    CHECK_INT(ep_tok_vocab_size(tv), 30522);
    run_vectors(tv, "ggml-vocab-bert-bge.gguf", 0);
    tf_cases c;
    tf_load(&c, "ggml-vocab-bert-bge.gguf");
    size_t same = 0;
    for (size_t i = 0; i < c.n; i++) { /* with [CLS]/[SEP], both paths agree */
      int32_t *a = NULL, *b = NULL;
      size_t na = 0, nb = 0;
      CHECK_INT(ep_tok_encode(tj, c.text[i], c.len[i], 1, &a, &na), 0);
      CHECK_INT(ep_tok_encode(tv, c.text[i], c.len[i], 1, &b, &nb), 0);
      same += tf_same(a, na, b, nb) && na == c.nids[i] + 2 && a[0] == 101 && a[na - 1] == 102;
      free(a);
      free(b);
    }
    CHECK_INT(same, 46);
    tf_free(&c);
    /* decode drops ## and special tokens, cleans up spaces */
    const char *s = "Hello, world! Unaffable tokenizers.";
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK_INT(ep_tok_encode(tv, s, strlen(s), 1, &ids, &n), 0);
    char *txt = NULL;
    CHECK_INT(ep_tok_decode(tv, ids, n, 1, &txt), 0);
    CHECK_STR(txt, "hello, world! unaffable tokenizers.");
    free(txt);
    free(ids);
    ep_tok_free(tv);
  }
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK_INT(system(cmd), 0);
  ep_tok_free(tj);
}

int main(void) {
  RUN(test_gpt2);
  RUN(test_stories);
  RUN(test_bert);
  return t_finish();
}
