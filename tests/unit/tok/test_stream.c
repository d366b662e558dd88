/* Streaming detokenizer: pushing ids one at a time must give exactly the
 * text of a full decode, and never a partial UTF-8 character, for all 46
 * vector inputs of GPT-2 (byte-level), stories260K (byte fallback) and BERT
 * (WordPiece), including emoji/CJK split across byte tokens. */
#include "base/err.h"
#include "test.h"
#include "tok/tok.h"
#include "tok/tok_fixtures.h"

static int utf8_ok(const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    size_t k = u[i] < 0x80         ? 1
               : (u[i] >> 5) == 6  ? 2
               : (u[i] >> 4) == 14 ? 3
               : (u[i] >> 3) == 30 ? 4
                                   : 0;
    if (!k || i + k > n) return 0;
    for (size_t j = 1; j < k; j++)
      if ((u[i + j] & 0xC0) != 0x80) return 0;
    i += k;
  }
  return 1;
}

/* Returns how many pushes produced nothing (held-back bytes). */
static size_t stream_case(const ep_tok *t, const int32_t *ids, size_t n, int skip,
                          const char *want) {
  ep_tok_stream *s = ep_tok_stream_new(t, skip);
  CHECK(s != NULL);
  ep_buf all = EP_BUF_INIT;
  size_t held = 0;
  for (size_t i = 0; i < n; i++) {
    ep_buf piece = EP_BUF_INIT;
    CHECK_INT(ep_tok_stream_push(s, ids[i], &piece), 0);
    if (!utf8_ok(piece.data ? piece.data : "", piece.len)) {
      fprintf(stderr, "partial UTF-8 emitted at id %zu\n", i);
      CHECK(0);
    }
    held += piece.len == 0;
    ep_buf_append(&all, piece.data ? piece.data : "", piece.len);
    ep_buf_free(&piece);
  }
  CHECK_INT(ep_tok_stream_finish(s, &all), 0);
  CHECK_STR(ep_buf_cstr(&all), want);
  ep_buf_free(&all);
  ep_tok_stream_free(s);
  return held;
}

static void run_all(const char *dir_or_file, int is_file, const char *stem) {
  ep_tok *t = NULL;
  char err[256];
  int rc = is_file ? ep_tok_load_file(dir_or_file, &t, err, sizeof err)
                   : ep_tok_load_dir(dir_or_file, &t, err, sizeof err);
  CHECK_INT(rc, 0);
  if (rc) return;
  tf_cases c;
  CHECK_INT(tf_load(&c, stem), 46);
  for (size_t i = 0; i < c.n; i++) {
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK_INT(ep_tok_encode(t, c.text[i], c.len[i], 1, &ids, &n), 0);
    char *full = NULL;
    CHECK_INT(ep_tok_decode(t, ids, n, 1, &full), 0);
    if (full) stream_case(t, ids, n, 1, full);
    free(full);
    full = NULL;
    CHECK_INT(ep_tok_decode(t, ids, n, 0, &full), 0);
    if (full) stream_case(t, ids, n, 0, full);
    free(full);
    free(ids);
  }
  tf_free(&c);
  ep_tok_free(t);
}

static void test_vectors_streamed(void) {
  run_all(t_data("tokenizers/gpt2"), 0, "ggml-vocab-gpt-2.gguf");
  run_all("models/stories260K", 0, "stories260K");
  run_all(t_data("tokenizers/bert-base-uncased/tokenizer.json"), 1, "ggml-vocab-bert-bge.gguf");
}

static void test_split_chars(void) {
  ep_tok *t = NULL;
  char err[256];
  CHECK_INT(ep_tok_load_dir("models/stories260K", &t, err, sizeof err), 0);
  if (!t) return;
  /* stories260K has no CJK/emoji pieces: each becomes <0xXX> byte tokens */
  const char *s = "a 🦙 and 你好";
  int32_t *ids = NULL;
  size_t n = 0;
  CHECK_INT(ep_tok_encode(t, s, strlen(s), 0, &ids, &n), 0);
  CHECK(n > 10);
  size_t held = stream_case(t, ids, n, 1, s);
  CHECK(held >= 3 + 2 * 2); /* 3 held bytes of the emoji, 2 for each CJK char */
  /* lone lead byte at the end: held back, then flushed as U+FFFD */
  int32_t lead = ep_tok_piece_id(t, "<0xE4>");
  CHECK(lead >= 0);
  ep_tok_stream *st = ep_tok_stream_new(t, 1);
  ep_buf out = EP_BUF_INIT;
  CHECK_INT(ep_tok_stream_push(st, lead, &out), 0);
  CHECK_INT(out.len, 0);
  CHECK_INT(ep_tok_stream_finish(st, &out), 0);
  CHECK_STR(ep_buf_cstr(&out), "\xEF\xBF\xBD");
  CHECK_INT(ep_tok_stream_push(st, 999999, &out), EP_ERANGE);
  ep_buf_free(&out);
  ep_tok_stream_free(st);
  free(ids);
  ep_tok_free(t);

  CHECK_INT(ep_tok_load_dir(t_data("tokenizers/gpt2"), &t, err, sizeof err), 0);
  if (!t) return;
  s = "Emoji 🦙🔥 and 日本語 text";
  CHECK_INT(ep_tok_encode(t, s, strlen(s), 0, &ids, &n), 0);
  held = stream_case(t, ids, n, 0, s);
  CHECK(held >= 1);
  free(ids);
  ep_tok_free(t);
}

int main(void) {
  RUN(test_vectors_streamed);
  RUN(test_split_chars);
  return t_finish();
}
