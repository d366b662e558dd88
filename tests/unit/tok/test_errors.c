/* Bad input gives a clear error and never a crash: corrupt/missing JSON,
 * missing model, unsupported component types (message names the type),
 * merges naming unknown tokens, invalid UTF-8 text, out-of-range ids. */
#include <unistd.h>

#include "base/err.h"
#include "test.h"
#include "tok/tok.h"

static int load_str(const char *json, char *err, size_t errsz) {
  char path[] = "/tmp/ep_tok_errXXXXXX";
  int fd = mkstemp(path);
  FILE *f = fdopen(fd, "w");
  fputs(json, f);
  fclose(f);
  ep_tok *t = NULL;
  err[0] = 0;
  int rc = ep_tok_load_file(path, &t, err, errsz);
  unlink(path);
  ep_tok_free(t);
  CHECK(rc != 0 || t != NULL);
  return rc;
}

#define MINI \
  "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]}"

static void test_load_errors(void) {
  char err[256];
  CHECK_INT(load_str("{" MINI "}", err, sizeof err), 0);
  CHECK_INT(load_str("{\"model\": {\"type\": \"BPE\", \"vocab\": {", err, sizeof err), EP_EPARSE);
  CHECK(strstr(err, "line") != NULL);
  CHECK_INT(load_str("[1,2]", err, sizeof err), EP_EPARSE);
  CHECK_INT(load_str("{\"normalizer\":null}", err, sizeof err), EP_EPARSE);
  CHECK_STR(err, "tokenizer.json: missing \"model\" object");
  CHECK_INT(load_str("{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}", err, sizeof err),
            EP_EUNSUPPORTED);
  CHECK_STR(err, "tokenizer.json: unsupported model type 'Unigram'");
  CHECK_INT(load_str("{" MINI ",\"pre_tokenizer\":{\"type\":\"Foo\"}}", err, sizeof err),
            EP_EUNSUPPORTED);
  CHECK_STR(err, "tokenizer.json: unsupported pre_tokenizer type 'Foo'");
  CHECK_INT(
      load_str(
          "{" MINI
          ",\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Precompiled\"}]}}",
          err, sizeof err),
      EP_EUNSUPPORTED);
  CHECK_STR(err, "tokenizer.json: unsupported normalizer type 'Precompiled'");
  CHECK_INT(load_str("{" MINI ",\"decoder\":{\"type\":\"CTC\"}}", err, sizeof err),
            EP_EUNSUPPORTED);
  CHECK_STR(err, "tokenizer.json: unsupported decoder type 'CTC'");
  CHECK_INT(load_str("{" MINI ",\"post_processor\":{\"type\":\"Bar\"}}", err, sizeof err),
            EP_EUNSUPPORTED);
  CHECK_STR(err, "tokenizer.json: unsupported post_processor type 'Bar'");
  CHECK_INT(load_str("{" MINI ",\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(\"}"
                              ",\"behavior\":\"Isolated\"}}",
                     err, sizeof err),
            EP_EUNSUPPORTED);
  CHECK(strstr(err, "does not compile") != NULL);
  CHECK_INT(load_str("{" MINI ",\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"String\":"
                              "\"x\"},\"behavior\":\"Sideways\"}}",
                     err, sizeof err),
            EP_EUNSUPPORTED);
  CHECK_INT(load_str("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a q\"]}}", err,
                     sizeof err),
            EP_ECORRUPT);
  CHECK(strstr(err, "not in vocab") != NULL);
  CHECK_INT(load_str("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"aq\"]}}", err,
                     sizeof err),
            EP_EPARSE);
  CHECK_INT(load_str("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-4},\"merges\":[]}}", err,
                     sizeof err),
            EP_EPARSE);
  CHECK_INT(load_str("{\"model\":{\"type\":\"BPE\",\"vocab\":[],\"merges\":[]}}", err, sizeof err),
            EP_EPARSE);
  CHECK_INT(
      load_str("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0},\"unk_token\":\"[UNK]\"}}",
               err, sizeof err),
      EP_ECORRUPT);
  CHECK_INT(
      load_str("{" MINI
               ",\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":"
               "{\"id\":\"<s>\",\"type_id\":0}}],\"pair\":[],\"special_tokens\":{}}}",
               err, sizeof err),
      EP_ECORRUPT);
  CHECK_INT(load_str("{" MINI ",\"added_tokens\":[{\"id\":\"x\"}]}", err, sizeof err), EP_EPARSE);

  ep_tok *t = NULL;
  CHECK_INT(ep_tok_load_file("/nonexistent/tokenizer.json", &t, err, sizeof err), EP_ENOTFOUND);
  CHECK(t == NULL);
  CHECK_INT(ep_tok_load_dir("/nonexistent", &t, err, sizeof err), EP_ENOTFOUND);
  CHECK(strstr(err, "no tokenizer.json or vocab.txt") != NULL);
  /* corrupt tokenizer_config.json in a folder */
  char dir[] = "/tmp/ep_tok_cfgXXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char p[512];
  snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
  FILE *f = fopen(p, "w");
  fputs("{\"bos_token\": ", f);
  fclose(f);
  CHECK_INT(ep_tok_load_dir(dir, &t, err, sizeof err), EP_EPARSE);
  unlink(p);
  rmdir(dir);
}

/* A file naming an id far beyond its own entries is refused with a clear error before the id
 * table is sized (a 100M id cost 1.3 GB before; found by fuzz_tokenizer_json). Added tokens
 * just past the vocabulary, as in real files, still load. */
static void test_sparse_ids(void) {
  char err[256];
  CHECK_INT(load_str("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":100000000}}}", err,
                     sizeof err),
            EP_EPARSE);
  CHECK_STR(err, "tokenizer.json: bad vocab id for 'b'");
  CHECK_INT(load_str("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":70000}}}", err,
                     sizeof err),
            EP_EPARSE);
  CHECK_STR(err, "tokenizer.json: bad vocab id for '[UNK]'");
  CHECK_INT(load_str("{" MINI ",\"added_tokens\":[{\"id\":50000000,\"content\":\"<x>\"}]}", err,
                     sizeof err),
            EP_EPARSE);
  CHECK_STR(err, "tokenizer.json: added_tokens[0] malformed");
  CHECK_INT(load_str("{" MINI ",\"added_tokens\":[{\"id\":3,\"content\":\"<s>\"},"
                              "{\"id\":60000,\"content\":\"<y>\"}]}",
                     err, sizeof err),
            0);
}

static void test_bad_input(void) {
  ep_tok *t = NULL;
  char err[256];
  CHECK_INT(ep_tok_load_dir(t_data("tokenizers/gpt2"), &t, err, sizeof err), 0);
  if (!t) return;
  int32_t *ids = (int32_t *)1;
  size_t n = 7;
  const char *bad[] = {"abc\xFF", "\xC3", "\xED\xA0\x80", "\xF4\x90\x80\x80", "a\xC0\xAF"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ids = (int32_t *)1;
    CHECK_INT(ep_tok_encode(t, bad[i], strlen(bad[i]), 1, &ids, &n), EP_EINVAL);
    CHECK(ids == NULL && n == 0);
  }
  /* embedded NUL is valid UTF-8 */
  CHECK_INT(ep_tok_encode(t, "a\0b", 3, 0, &ids, &n), 0);
  CHECK_INT(n, 3);
  free(ids);
  CHECK_INT(ep_tok_encode(t, "", 0, 1, &ids, &n), 0);
  CHECK_INT(n, 0);
  free(ids);
  int32_t oob[] = {464, 50257};
  char *txt = (char *)1;
  CHECK_INT(ep_tok_decode(t, oob, 2, 0, &txt), EP_ERANGE);
  CHECK(txt == NULL);
  int32_t neg[] = {-1};
  CHECK_INT(ep_tok_decode(t, neg, 1, 0, &txt), EP_ERANGE);
  CHECK(ep_tok_piece(t, -1) == NULL && ep_tok_piece(t, 50257) == NULL);
  CHECK_INT(ep_tok_piece_id(t, "no-such-piece"), -1);
  /* byte tokens that are not valid UTF-8 decode to U+FFFD */
  int32_t half[] = {101}; /* piece "\xC2\xA8" = byte 0xA8: a lone continuation byte */
  CHECK_INT(ep_tok_decode(t, half, 1, 0, &txt), 0);
  CHECK_STR(txt, "\xEF\xBF\xBD");
  free(txt);
  ep_tok_free(t);
}

int main(void) {
  RUN(test_load_errors);
  RUN(test_sparse_ids);
  RUN(test_bad_input);
  return t_finish();
}
