/* Randomised checks (fixed seed): random Unicode text round-trips through
 * GPT-2 and stories260K and never crashes BERT; random id sequences (which
 * produce invalid UTF-8) stream to exactly the full decode, chunk by chunk
 * valid UTF-8. */
#include "base/err.h"
#include "test.h"
#include "tok/tok.h"

static unsigned rng = 2463534242u;
static unsigned rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

static size_t put_utf8(char *o, unsigned c) {
  if (c < 0x80) return o[0] = (char)c, 1;
  if (c < 0x800) return o[0] = (char)(0xC0 | c >> 6), o[1] = (char)(0x80 | (c & 63)), 2;
  if (c < 0x10000)
    return o[0] = (char)(0xE0 | c >> 12), o[1] = (char)(0x80 | ((c >> 6) & 63)),
           o[2] = (char)(0x80 | (c & 63)), 3;
  o[0] = (char)(0xF0 | c >> 18), o[1] = (char)(0x80 | ((c >> 12) & 63));
  o[2] = (char)(0x80 | ((c >> 6) & 63)), o[3] = (char)(0x80 | (c & 63));
  return 4;
}

static size_t random_text(char *buf, size_t maxchars) {
  static const unsigned pool[] = {' ',     ' ',     '\n',  '\t',   'a',   'e',    'Z',    '7',
                                  '\'',    '.',     '!',   0xE9,   0x301, 0x3000, 0x4E2D, 0x6587,
                                  0x1F999, 0x1F525, 0x43F, 0x17A0, 0xA0,  '<',    's',    '>'};
  size_t n = rnd() % maxchars, o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned c = rnd() % 4 ? pool[rnd() % (sizeof pool / sizeof pool[0])] : 0x20 + rnd() % 0x2FFF;
    if ((c >= 0xD800 && c <= 0xDFFF) || c == 0x2581)
      c = 'x'; /* U+2581 decodes as a space in SentencePiece-style vocabularies */
    o += put_utf8(buf + o, c);
  }
  buf[o] = 0;
  return o;
}

static void roundtrip(const char *dir, int exact) {
  ep_tok *t = NULL;
  char err[256], buf[4096];
  CHECK_INT(ep_tok_load_dir(dir, &t, err, sizeof err), 0);
  if (!t) return;
  size_t ok = 0, runs = 300;
  for (size_t r = 0; r < runs; r++) {
    size_t len = random_text(buf, 200);
    int32_t *ids = NULL;
    size_t n = 0;
    char *back = NULL;
    CHECK_INT(ep_tok_encode(t, buf, len, 0, &ids, &n), 0);
    CHECK_INT(ep_tok_decode(t, ids, n, 0, &back), 0);
    if (!exact || (back && strlen(back) == len && !memcmp(back, buf, len)))
      ok++;
    else
      fprintf(stderr, "%s: round trip differs for \"%s\" -> \"%s\"\n", dir, buf, back ? back : "");
    free(back);
    free(ids);
  }
  CHECK_INT(ok, runs);
  ep_tok_free(t);
}

static void random_stream(const char *dir) {
  ep_tok *t = NULL;
  char err[256];
  CHECK_INT(ep_tok_load_dir(dir, &t, err, sizeof err), 0);
  if (!t) return;
  size_t V = ep_tok_vocab_size(t), same = 0, runs = 200;
  for (size_t r = 0; r < runs; r++) {
    int32_t ids[40];
    size_t n = 1 + rnd() % 40;
    for (size_t i = 0; i < n; i++) ids[i] = (int32_t)(rnd() % V);
    char *full = NULL;
    CHECK_INT(ep_tok_decode(t, ids, n, 1, &full), 0);
    ep_tok_stream *s = ep_tok_stream_new(t, 1);
    ep_buf out = EP_BUF_INIT;
    for (size_t i = 0; i < n; i++) CHECK_INT(ep_tok_stream_push(s, ids[i], &out), 0);
    CHECK_INT(ep_tok_stream_finish(s, &out), 0);
    same += full && !strcmp(full, ep_buf_cstr(&out));
    ep_buf_free(&out);
    ep_tok_stream_free(s);
    free(full);
  }
  fprintf(stderr, "%s: random streams equal to full decode %zu/%zu\n", dir, same, runs);
  CHECK_INT(same, runs);
  ep_tok_free(t);
}

int main(void) {
  roundtrip(t_data("tokenizers/gpt2"), 1);
  roundtrip("models/stories260K", 1);
  roundtrip(t_data("tokenizers/bert-base-uncased"), 0);
  random_stream(t_data("tokenizers/gpt2"));
  random_stream("models/stories260K");
  return t_finish();
}
