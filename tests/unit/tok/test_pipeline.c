/* Pipeline components on their own (white-box through tok-impl.h), with
 * expected values taken from the Hugging Face tokenizers documentation
 * examples (split behaviors, Whitespace, BertPreTokenizer, Digits,
 * ByteLevel, Metaspace) and Python's unicodedata (NFKC/NFD); plus small
 * synthetic BPE models (array merges, ignore_merges, byte_fallback,
 * fuse_unk), pair encoding with type ids, and truncation. */
#include <unistd.h>

#include "base/err.h"
#include "test.h"
#include "tok/tok-impl.h"
#include "tok/tok_fixtures.h"

/* Loads a tokenizer.json given as a string. */
static ep_tok *load_str(const char *json, int *rc, char *err, size_t errsz) {
  char path[] = "/tmp/ep_tok_pipeXXXXXX";
  int fd = mkstemp(path);
  FILE *f = fdopen(fd, "w");
  fputs(json, f);
  fclose(f);
  ep_tok *t = NULL;
  *rc = ep_tok_load_file(path, &t, err, errsz);
  unlink(path);
  return t;
}

static const char *MINI_BPE_HEAD =
    "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"c\":2,\"ab\":3,\"abc\":4,\"<unk>\":"
    "5,"
    "\"d\":6,\"bc\":7,\"-\":8,\"f\":9,\"i\":10,\"1\":11,\" \":12},";

/* Runs normalizer + pre-tokenizer of a tokenizer whose JSON tail is `comp`;
 * returns pieces joined by '|' (static buffer). */
static const char *pieces(const char *comp, const char *text) {
  static char out[1024];
  char json[2048];
  snprintf(json, sizeof json, "%s\"merges\":[]}, %s}", MINI_BPE_HEAD, comp);
  char err[256];
  int rc;
  ep_tok *t = load_str(json, &rc, err, sizeof err);
  if (!t) {
    snprintf(out, sizeof out, "load error: %s", err);
    return out;
  }
  size_t len = strlen(text);
  uint32_t *beg = malloc(len * 4 + 4), *end = malloc(len * 4 + 4);
  for (size_t i = 0; i < len; i++) beg[i] = (uint32_t)i, end[i] = (uint32_t)i + 1;
  ep_nstr raw = {text, beg, end, len}, norm;
  ep_arena a;
  ep_arena_init(&a, 0);
  ep_pieces in = {0}, ps = {0};
  out[0] = 0;
  if (ep_tok_normalize(t->norm, &a, &raw, &norm) == 0 && ep_pieces_push(&in, norm) == 0 &&
      ep_tok_pretokenize(t->pre, &a, &in, &ps) == 0) {
    size_t o = 0;
    for (size_t i = 0; i < ps.n; i++)
      o += (size_t)snprintf(out + o, sizeof out - o, "%s%.*s", i ? "|" : "", (int)ps.v[i].len,
                            ps.v[i].s);
  } else {
    snprintf(out, sizeof out, "pipeline error");
  }
  ep_pieces_free(&in);
  ep_pieces_free(&ps);
  ep_arena_free(&a);
  free(beg);
  free(end);
  ep_tok_free(t);
  return out;
}

static void test_split_behaviors(void) {
  const char *x = "the-final--countdown";
#define SPLIT(b)                                                                           \
  "\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"" b \
  "\",\"invert\":false}"
  CHECK_STR(pieces(SPLIT("Removed"), x), "the|final|countdown");
  CHECK_STR(pieces(SPLIT("Isolated"), x), "the|-|final|-|-|countdown");
  CHECK_STR(pieces(SPLIT("MergedWithPrevious"), x), "the-|final-|-|countdown");
  CHECK_STR(pieces(SPLIT("MergedWithNext"), x), "the|-final|-|-countdown");
  CHECK_STR(pieces(SPLIT("Contiguous"), x), "the|-|final|--|countdown");
  CHECK_STR(pieces("\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"-+\"},"
                   "\"behavior\":\"Removed\"}",
                   x),
            "the|final|countdown");
}

static void test_pretokenizers(void) {
  CHECK_STR(pieces("\"pre_tokenizer\":{\"type\":\"Whitespace\"}",
                   "Hello! How are you? I'm fine, thank you."),
            "Hello|!|How|are|you|?|I|'|m|fine|,|thank|you|.");
  CHECK_STR(
      pieces("\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"}", "Hey friend!     How are you?!?"),
      "Hey|friend|!|How|are|you|?|!|?");
  CHECK_STR(pieces("\"pre_tokenizer\":{\"type\":\"WhitespaceSplit\"}", " a  b\tc\n"), "a|b|c");
  CHECK_STR(pieces("\"pre_tokenizer\":{\"type\":\"Digits\",\"individual_digits\":true}",
                   "Call 123 please"),
            "Call |1|2|3| please");
  CHECK_STR(pieces("\"pre_tokenizer\":{\"type\":\"Digits\",\"individual_digits\":false}",
                   "Call 123 please"),
            "Call |123| please");
  CHECK_STR(pieces("\"pre_tokenizer\":{\"type\":\"Punctuation\"}", "Hi, you!!"), "Hi|,| you|!|!");
  CHECK_STR(pieces("\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_"
                   "regex\":true}",
                   "Hello my friend, how is your day going?"),
            "Hello|\xC4\xA0my|\xC4\xA0"
            "friend|,|\xC4\xA0how|\xC4\xA0is|\xC4\xA0your|\xC4\xA0"
            "day|\xC4\xA0going|?");
  CHECK_STR(pieces("\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\xE2\x96\x81\","
                   "\"prepend_scheme\":\"always\",\"split\":true}",
                   "Hey friend!"),
            "\xE2\x96\x81Hey|\xE2\x96\x81"
            "friend!");
  CHECK_STR(pieces("\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\xE2\x96\x81\","
                   "\"prepend_scheme\":\"never\",\"split\":false}",
                   "Hey friend!"),
            "Hey\xE2\x96\x81"
            "friend!");
  CHECK_STR(pieces("\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":"
                   "\"WhitespaceSplit\"},"
                   "{\"type\":\"Digits\",\"individual_digits\":true}]}",
                   "ab12 c"),
            "ab|1|2|c");
}

static void test_normalizers(void) {
  CHECK_STR(pieces("\"normalizer\":{\"type\":\"NFKC\"}", "\xEF\xAC\x81\xE2\x91\xA0"),
            "fi1"); /* unicodedata */
  CHECK_STR(pieces("\"normalizer\":{\"type\":\"NFC\"}", "e\xCC\x81"), "\xC3\xA9");
  CHECK_STR(pieces("\"normalizer\":{\"type\":\"NFD\"}", "\xC3\xA9"), "e\xCC\x81");
  CHECK_STR(pieces("\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFD\"},{"
                   "\"type\":\"StripAccents\"},"
                   "{\"type\":\"Lowercase\"}]}",
                   "H\xC3\xA9llo"),
            "hello");
  CHECK_STR(pieces("\"normalizer\":{\"type\":\"BertNormalizer\",\"clean_text\":true,\"handle_"
                   "chinese_chars\":true,"
                   "\"strip_accents\":null,\"lowercase\":true}",
                   "H\xC3\xA9ll\xC3\xB2 h\xC3\xB4w are \xC3\xBC?"),
            "hello how are u?");
  CHECK_STR(pieces("\"normalizer\":{\"type\":\"BertNormalizer\",\"lowercase\":false}",
                   "a\xE4\xBD\xA0\tb\x01"),
            "a \xE4\xBD\xA0  b");
  CHECK_STR(pieces("\"normalizer\":{\"type\":\"Strip\",\"left\":true,\"right\":true}", "  hi  "),
            "hi");
  CHECK_STR(pieces("\"normalizer\":{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"\\\\s+\"},"
                   "\"content\":\"_\"}",
                   "a  b \t c"),
            "a_b_c");
  CHECK_STR(pieces("\"normalizer\":{\"type\":\"Prepend\",\"prepend\":\"#\"}", "x"), "#x");
}

static void enc_eq(const ep_tok *t, const char *text, const int32_t *want, size_t nw) {
  int32_t *ids = NULL;
  size_t n = 0;
  CHECK_INT(ep_tok_encode(t, text, strlen(text), 0, &ids, &n), 0);
  if (!tf_same(ids, n, want, nw)) {
    fprintf(stderr, "encode \"%s\" differs\n", text);
    tf_print_ids("got", ids, n);
    tf_print_ids("want", want, nw);
    CHECK(0);
  }
  free(ids);
}

static void test_bpe_variants(void) {
  char json[2048], err[256];
  int rc;
  /* array-form merges; "ab" before "bc" so "abc" -> ab c -> abc */
  snprintf(json, sizeof json,
           "%s\"merges\":[[\"a\",\"b\"],[\"b\",\"c\"],[\"ab\",\"c\"]],\"unk_token\":\"<unk>\","
           "\"fuse_unk\":true}}",
           MINI_BPE_HEAD);
  ep_tok *t = load_str(json, &rc, err, sizeof err);
  CHECK_INT(rc, 0);
  if (t) {
    enc_eq(t, "abc", (int32_t[]){4}, 1);
    enc_eq(t, "bcab", (int32_t[]){7, 3}, 2);
    enc_eq(t, "xyab", (int32_t[]){5, 3}, 2); /* x y fused into one <unk> */
    ep_tok_free(t);
  }
  /* string merges with the opposite order: "bc" first, then a + bc has no merge */
  snprintf(json, sizeof json, "%s\"merges\":[\"b c\",\"a b\",\"ab c\"]}}", MINI_BPE_HEAD);
  t = load_str(json, &rc, err, sizeof err);
  CHECK_INT(rc, 0);
  if (t) {
    enc_eq(t, "abc", (int32_t[]){0, 7}, 2);
    enc_eq(t, "zz", NULL, 0); /* no unk token: unknown chars vanish */
    ep_tok_free(t);
  }
  /* ignore_merges: a word that is in the vocab is taken whole */
  snprintf(json, sizeof json, "%s\"merges\":[\"b c\"],\"ignore_merges\":true}}", MINI_BPE_HEAD);
  t = load_str(json, &rc, err, sizeof err);
  CHECK_INT(rc, 0);
  if (t) {
    enc_eq(t, "abc", (int32_t[]){4}, 1);
    ep_tok_free(t);
  }
}

static void test_pair_and_truncation(void) {
  ep_tok *t = NULL;
  char err[256];
  CHECK_INT(
      ep_tok_load_file(t_data("tokenizers/bert-base-uncased/tokenizer.json"), &t, err, sizeof err),
      0);
  if (!t) return;
  int32_t *a = NULL, *b = NULL, *ids = NULL, *ty = NULL;
  size_t na, nb, n;
  const char *sa = "The quick brown fox jumps.", *sb = "A lazy dog sleeps";
  CHECK_INT(ep_tok_encode(t, sa, strlen(sa), 0, &a, &na), 0);
  CHECK_INT(ep_tok_encode(t, sb, strlen(sb), 0, &b, &nb), 0);
  CHECK_INT(ep_tok_encode_pair(t, sa, strlen(sa), sb, strlen(sb), 0, &ids, &ty, &n), 0);
  CHECK_INT(n, na + nb + 3);
  CHECK_INT(ids[0], 101);
  CHECK(memcmp(ids + 1, a, na * 4) == 0);
  CHECK_INT(ids[na + 1], 102);
  CHECK(memcmp(ids + na + 2, b, nb * 4) == 0);
  CHECK_INT(ids[n - 1], 102);
  int types_ok = 1;
  for (size_t i = 0; i < n; i++) types_ok &= ty[i] == (i < na + 2 ? 0 : 1);
  CHECK(types_ok);
  free(ids);
  free(ty);
  /* longest first: na = 7 ("the quick brown fox jumps ." -> 6? whatever), keep total <= 10 */
  CHECK_INT(ep_tok_encode_pair(t, sa, strlen(sa), sb, strlen(sb), 10, &ids, &ty, &n), 0);
  CHECK_INT(n, 10);
  size_t ka = 0;
  while (ids[1 + ka] != 102) ka++;
  size_t kb = n - 3 - ka;
  CHECK(ka + kb == 7 &&
        (ka == kb + 1 || ka == kb || (ka < kb && ka == na) || (kb < ka && kb == nb)));
  CHECK(memcmp(ids + 1, a, ka * 4) == 0);
  CHECK(memcmp(ids + 2 + ka, b, kb * 4) == 0);
  free(ids);
  free(ty);
  CHECK_INT(ep_tok_encode_pair(t, sa, strlen(sa), sb, strlen(sb), 2, &ids, &ty, &n), EP_ERANGE);
  CHECK(ids == NULL);
  /* single truncation keeps [CLS] ... [SEP] */
  CHECK_INT(ep_tok_encode_trunc(t, sa, strlen(sa), 1, 4, &ids, &n), 0);
  CHECK_INT(n, 4);
  CHECK(n == 4 && ids[0] == 101 && ids[1] == a[0] && ids[2] == a[1] && ids[3] == 102);
  free(ids);
  CHECK_INT(ep_tok_encode_trunc(t, sa, strlen(sa), 0, 3, &ids, &n), 0);
  CHECK(n == 3 && memcmp(ids, a, 12) == 0);
  free(ids);
  /* offsets: "jumps" maps back to its bytes in the input */
  ep_tok_span *sp = NULL;
  CHECK_INT(ep_tok_encode_spans(t, sa, strlen(sa), 1, &sp, &n), 0);
  CHECK(n == na + 2 && sp[0].start == 0 && sp[0].stop == 0);
  CHECK(n > 2 && sp[1].start == 0 && sp[1].stop == 3);           /* "the" <- "The" */
  CHECK(n > 2 && sp[n - 2].start == 25 && sp[n - 2].stop == 26); /* "." */
  free(sp);
  free(a);
  free(b);
  ep_tok_free(t);
}

int main(void) {
  RUN(test_split_behaviors);
  RUN(test_pretokenizers);
  RUN(test_normalizers);
  RUN(test_bpe_variants);
  RUN(test_pair_and_truncation);
  return t_finish();
}
