/* Encoder tests against tools/ref_bert.py goldens (numpy float64): tiny BERT
 * hidden states, every pooling, sentence-transformers Dense + normalize,
 * classifier logits (single and pair), tiny RoBERTa position offset; WordPiece
 * ids come from our tokenizer; a packed batch equals one-by-one runs. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#include "base/err.h"
#include "rt/encoder.h"
#include "tok/tok.h"
#include "test.h"

static char g_path[4096];
static const char *src_path(const char *rel) {
  const char *base = getenv("EP_SOURCE_DIR");
  snprintf(g_path, sizeof g_path, "%s/%s", base ? base : ".", rel);
  return g_path;
}

static json_t *load_json(const char *rel) {
  json_error_t je;
  json_t *j = json_load_file(src_path(rel), 0, &je);
  if (!j) fprintf(stderr, "cannot load %s: %s\n", rel, je.text);
  return j;
}

static double max_diff(const float *x, json_t *arr) {
  double m = 0;
  size_t i;
  json_t *v;
  json_array_foreach(arr, i, v) {
    double d = fabs((double)x[i] - json_number_value(v));
    if (d > m || isnan(d)) m = isnan(d) ? 1e9 : d;
  }
  return m;
}

static int32_t *ids_of(json_t *arr, size_t *n) {
  *n = json_array_size(arr);
  int32_t *ids = malloc(*n * sizeof *ids + 1);
  for (size_t i = 0; i < *n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(arr, i));
  return ids;
}

static ep_encoder *load(const char *rel) {
  ep_encoder_params p = ep_encoder_default_params();
  p.dir = src_path(rel);
  p.threads = 2;
  ep_encoder *e = NULL;
  char err[256] = "";
  int rc = ep_encoder_load(&p, &e, err, sizeof err);
  if (rc != EP_OK) fprintf(stderr, "load %s: %s\n", rel, err);
  CHECK_INT(rc, EP_OK);
  return e;
}

static void test_tiny_bert(void) {
  json_t *g = load_json("tests/data/tiny-bert/goldens.json");
  ep_encoder *e = load("tests/data/tiny-bert");
  ep_tok *tok = NULL;
  char err[256];
  CHECK_INT(ep_tok_load_dir(src_path("tests/data/tiny-bert"), &tok, err, sizeof err), EP_OK);
  if (!g || !e || !tok) return;
  const ep_encoder_info *in = ep_encoder_get_info(e);
  CHECK_INT(in->d, 32);
  CHECK_INT(in->dim, 24);
  CHECK_INT(in->max_tokens, 64);
  CHECK_INT(in->pooling, EP_POOL_MEAN);
  CHECK_INT(in->st_normalize, 1);
  CHECK_INT(in->has_classifier, 1);
  CHECK_INT(in->n_labels, 3);
  CHECK_STR(in->labels[2], "POSITIVE");
  json_t *cases = json_object_get(g, "cases");
  size_t nc = json_array_size(cases), ci;
  json_t *c;
  ep_enc_seq *seqs = calloc(nc, sizeof *seqs);
  int32_t **all = calloc(nc, sizeof *all);
  json_array_foreach(cases, ci, c) {
    const char *text = json_string_value(json_object_get(c, "text"));
    size_t ng, n;
    int32_t *gold = ids_of(json_object_get(c, "ids"), &ng), *ids = NULL;
    CHECK_INT(ep_tok_encode(tok, text, strlen(text), 1, &ids, &n), EP_OK);
    CHECK_INT(n, ng);
    for (size_t i = 0; i < n && i < ng; i++) CHECK_INT(ids[i], gold[i]);
    free(gold);
    seqs[ci].ids = all[ci] = ids;
    seqs[ci].n = n;
    /* one sequence at a time */
    float *h = malloc(n * 32 * sizeof(float)), emb[32], logits[3];
    CHECK_INT(ep_encoder_forward(e, &seqs[ci], 1, h), EP_OK);
    double dh = max_diff(h, json_object_get(c, "hidden"));
    CHECK(dh < 1e-4);
    static const char *modes[] = {"cls", "mean", "max", "lasttoken"};
    json_t *pooled = json_object_get(c, "pooled");
    /* pooling before Dense: read the raw pooled vector through a Dense-less path */
    for (int m = 0; m < 4; m++) {
      float acc[32];
      for (int j = 0; j < 32; j++) {
        float a = m == 2 ? -INFINITY : 0;
        for (size_t i = 0; i < n; i++) {
          float x = h[i * 32 + j];
          if (m == 0 && i == 0) a = x;
          else if (m == 1) a += x / (float)n;
          else if (m == 2) a = x > a ? x : a;
          else if (m == 3 && i == n - 1) a = x;
        }
        acc[j] = a;
      }
      CHECK(max_diff(acc, json_object_get(pooled, modes[m])) < 1e-4);
    }
    CHECK_INT(ep_encoder_embed(e, &seqs[ci], 1, -1, 0, emb), EP_OK);
    double de = max_diff(emb, json_object_get(c, "st_embedding"));
    CHECK(de < 1e-4);
    CHECK_INT(ep_encoder_embed(e, &seqs[ci], 1, EP_POOL_MEAN, 1, emb), EP_OK);
    double dn = max_diff(emb, json_object_get(c, "st_embedding_normalized"));
    CHECK(dn < 1e-4);
    CHECK_INT(ep_encoder_classify(e, &seqs[ci], 1, logits), EP_OK);
    double dl = max_diff(logits, json_object_get(c, "logits"));
    CHECK(dl < 1e-4);
    fprintf(stderr, "  %-45s n=%2zu hidden %.2e emb %.2e norm %.2e logits %.2e\n", text, n, dh, de,
            dn, dl);
    free(h);
  }
  /* packed batch == individual runs (embeddings and logits) */
  float *eb = malloc(nc * 24 * sizeof(float)), *lb = malloc(nc * 3 * sizeof(float));
  CHECK_INT(ep_encoder_embed(e, seqs, nc, -1, 1, eb), EP_OK);
  CHECK_INT(ep_encoder_classify(e, seqs, nc, lb), EP_OK);
  json_array_foreach(cases, ci, c) {
    float one[24], l1[3];
    ep_encoder_embed(e, &seqs[ci], 1, -1, 1, one);
    ep_encoder_classify(e, &seqs[ci], 1, l1);
    for (int j = 0; j < 24; j++) CHECK_NEAR(eb[ci * 24 + j], one[j], 1e-6);
    for (int j = 0; j < 3; j++) CHECK_NEAR(lb[ci * 3 + j], l1[j], 1e-6);
    CHECK(max_diff(eb + ci * 24, json_object_get(c, "st_embedding_normalized")) < 1e-4);
  }
  /* pair: [CLS] a [SEP] b [SEP] with token types */
  json_t *pair = json_object_get(g, "pair");
  const char *a = json_string_value(json_object_get(pair, "a"));
  const char *b = json_string_value(json_object_get(pair, "b"));
  int32_t *pids = NULL, *ptypes = NULL;
  size_t pn = 0, gn, gtn;
  CHECK_INT(ep_tok_encode_pair(tok, a, strlen(a), b, strlen(b), 0, &pids, &ptypes, &pn), EP_OK);
  int32_t *gids = ids_of(json_object_get(pair, "ids"), &gn);
  int32_t *gtypes = ids_of(json_object_get(pair, "type_ids"), &gtn);
  CHECK_INT(pn, gn);
  for (size_t i = 0; i < pn && i < gn; i++) {
    CHECK_INT(pids[i], gids[i]);
    CHECK_INT(ptypes[i], gtypes[i]);
  }
  ep_enc_seq ps = {gids, gtypes, gn};
  float pl[3];
  CHECK_INT(ep_encoder_classify(e, &ps, 1, pl), EP_OK);
  CHECK(max_diff(pl, json_object_get(pair, "logits")) < 1e-4);
  /* errors: too long, bad id, bad type, empty */
  int32_t big[65] = {101};
  ep_enc_seq bad = {big, NULL, 65};
  float *hb = malloc(65 * 32 * sizeof(float));
  CHECK_INT(ep_encoder_forward(e, &bad, 1, hb), EP_ERANGE);
  big[1] = 30522;
  bad.n = 3;
  CHECK_INT(ep_encoder_forward(e, &bad, 1, hb), EP_EINVAL);
  big[1] = 5;
  int32_t ty[3] = {0, 2, 0};
  bad.type_ids = ty;
  CHECK_INT(ep_encoder_forward(e, &bad, 1, hb), EP_EINVAL);
  bad.n = 0;
  CHECK_INT(ep_encoder_forward(e, &bad, 1, hb), EP_EINVAL);
  free(hb);
  for (size_t i = 0; i < nc; i++) free(all[i]);
  free(all);
  free(seqs);
  free(eb);
  free(lb);
  free(pids);
  free(ptypes);
  free(gids);
  free(gtypes);
  ep_tok_free(tok);
  ep_encoder_free(e);
  json_decref(g);
}

static void test_tiny_roberta(void) {
  json_t *g = load_json("tests/data/tiny-roberta/goldens.json");
  ep_encoder *e = load("tests/data/tiny-roberta");
  if (!g || !e) return;
  CHECK_INT(ep_encoder_get_info(e)->max_tokens, 38); /* 40 positions - (pad 1 + 1) */
  CHECK_INT(ep_encoder_get_info(e)->has_classifier, 0);
  json_t *cases = json_object_get(g, "cases"), *c;
  size_t ci;
  json_array_foreach(cases, ci, c) {
    size_t n;
    int32_t *ids = ids_of(json_object_get(c, "ids"), &n);
    ep_enc_seq s = {ids, NULL, n};
    float *h = malloc(n * 16 * sizeof(float));
    CHECK_INT(ep_encoder_forward(e, &s, 1, h), EP_OK);
    double d = max_diff(h, json_object_get(c, "hidden"));
    fprintf(stderr, "  roberta n=%zu max diff %.2e\n", n, d);
    CHECK(d < 1e-4);
    float l[2];
    CHECK_INT(ep_encoder_classify(e, &s, 1, l), EP_EUNSUPPORTED);
    free(h);
    free(ids);
  }
  ep_encoder_free(e);
  json_decref(g);
}

static void test_bad_repos(void) {
  ep_encoder_params p = ep_encoder_default_params();
  ep_encoder *e = NULL;
  char err[256] = "";
  p.dir = src_path("tests/data/tiny-gpt2");
  CHECK(ep_encoder_load(&p, &e, err, sizeof err) != EP_OK);
  CHECK(e == NULL);
  CHECK(strstr(err, "gpt2") != NULL);
  p.dir = "/nonexistent/encoder";
  CHECK(ep_encoder_load(&p, &e, err, sizeof err) != EP_OK);
  CHECK_INT(ep_pool_parse("mean"), EP_POOL_MEAN);
  CHECK_INT(ep_pool_parse("lasttoken"), EP_POOL_LAST);
  CHECK_INT(ep_pool_parse("splade"), -1);
}

int main(void) {
  RUN(test_tiny_bert);
  RUN(test_tiny_roberta);
  RUN(test_bad_repos);
  return t_finish();
}
