/* Large inputs through byte-level BPE (GPT-2, 50k vocab), WordPiece (BERT)
 * and SentencePiece-style BPE: 2,000- and 20,000-word texts encode and
 * round-trip. Encode speed (best of 5) is printed for information only: speed
 * is measured in bench/, never asserted in tests. */
#include <time.h>

#include "base/err.h"
#include "test.h"
#include "tok/tok.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static char *make_text(size_t words, size_t *len) {
  static const char *w[] = {
      "the",    "quick",         "brown",         "fox",          "jumps",
      "over",   "lazy",          "dog",           "tokenization", "internationalization",
      "Hello,", "world!",        "It's",          "1234",         "naïve",
      "café",   "endpoint",      "inference",     "GPU",          "  ",
      "\n",     "transformer's", "(parenthesis)", "🦙",         "日本語",
      "Привет"};
  size_t nw = sizeof w / sizeof w[0], cap = words * 24 + 1, o = 0;
  char *s = malloc(cap);
  unsigned x = 12345;
  for (size_t i = 0; i < words; i++) {
    x = x * 1103515245u + 12345u;
    o += (size_t)snprintf(s + o, cap - o, "%s%s", i ? " " : "", w[(x >> 16) % nw]);
  }
  *len = o;
  return s;
}

static double bench(const ep_tok *t, const char *s, size_t len, size_t *ntok) {
  double best = 1e9;
  for (int r = 0; r < 5; r++) {
    int32_t *ids = NULL;
    double t0 = now_s();
    CHECK_INT(ep_tok_encode(t, s, len, 0, &ids, ntok), 0);
    double dt = now_s() - t0;
    if (dt < best) best = dt;
    free(ids);
  }
  return best;
}

static void run(const char *dir, const char *name) {
  ep_tok *t = NULL;
  char err[256];
  CHECK_INT(ep_tok_load_dir(dir, &t, err, sizeof err), 0);
  if (!t) return;
  size_t len, len10, n, n10;
  char *s = make_text(2000, &len), *s10 = make_text(20000, &len10);
  double dt = bench(t, s, len, &n), dt10 = bench(t, s10, len10, &n10);
  fprintf(
      stderr,
      "%s: 2000 words, %zu bytes -> %zu tokens in %.2f ms (%.0f tokens/s); 20000 words: %.2f ms\n",
      name, len, n, dt * 1e3, n / dt, dt10 * 1e3);
  CHECK(n > 2000);
  CHECK(n10 > 10 * n - n / 2); /* the 10x text yields ~10x the tokens */
  /* decode is the exact inverse for byte-level BPE */
  int32_t *ids = NULL;
  char *back = NULL;
  CHECK_INT(ep_tok_encode(t, s, len, 0, &ids, &n), 0);
  CHECK_INT(ep_tok_decode(t, ids, n, 0, &back), 0);
  if (name[0] == 'g') CHECK(back && strlen(back) == len && memcmp(back, s, len) == 0);
  free(back);
  free(ids);
  free(s);
  free(s10);
  ep_tok_free(t);
}

int main(void) {
  run(t_data("tokenizers/gpt2"), "gpt2");
  run(t_data("tokenizers/bert-base-uncased"), "bert");
  run("models/stories260K", "stories260K (no pre-tokenizer: the whole text is one BPE word)");
  return t_finish();
}
