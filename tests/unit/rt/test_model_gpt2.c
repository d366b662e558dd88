/* Tiny GPT-2 (tests/data/tiny-gpt2, Hub naming with attn.bias buffers)
 * against float64 numpy goldens from tools/ref_gpt2.py: whole-prompt prefill
 * and token-by-token decode, fast and reference kernels; then the same
 * weights with a "transformer." prefix and split into shards. */
#include "model_testutil.h"

static void check_model(const char *dir, json_t *g, const char *kern, int threads) {
  ep_model *m = t_load(dir, threads, kern);
  CHECK(m != NULL);
  if (!m) return;
  const ep_model_info *in = ep_model_get_info(m);
  CHECK_STR(in->arch, "gpt2");
  CHECK_INT(in->n_ff, 4 * in->n_embd);
  int V = in->vocab_size;
  json_t *ia = json_object_get(g, "input_ids"), *al = json_object_get(g, "all_logits");
  size_t n = json_array_size(ia);
  int32_t ids[64];
  for (size_t i = 0; i < n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(ia, i));
  float *all = calloc(n * V, sizeof(float)), *want = calloc(V, sizeof(float)),
        *one = calloc(V, sizeof(float));
  ep_kv *kv = ep_kv_new(m, 32), *kv2 = ep_kv_new(m, 32);
  ep_batch_item it = {kv, ids, n, NULL, all};
  CHECK_INT(ep_model_forward(m, &it, 1), EP_OK);
  double worst = 0, worst_dec = 0;
  for (size_t t = 0; t < n; t++) {
    t_floats(json_array_get(al, t), want, V);
    double d = t_maxdiff(all + t * V, want, V);
    worst = d > worst ? d : worst;
    ep_batch_item d1 = {kv2, &ids[t], 1, one, NULL}; /* decode one at a time */
    CHECK_INT(ep_model_forward(m, &d1, 1), EP_OK);
    d = t_maxdiff(one, want, V);
    worst_dec = d > worst_dec ? d : worst_dec;
  }
  fprintf(stderr, "  %s kern=%s threads=%d: max diff prefill %.3g decode %.3g\n", dir,
          kern ? kern : "fast", threads, worst, worst_dec);
  CHECK(worst <= 1e-4);
  CHECK(worst_dec <= 1e-4);
  ep_kv_free(kv);
  ep_kv_free(kv2);
  free(all);
  free(want);
  free(one);
  ep_model_free(m);
}

int main(void) {
  json_t *g = t_json(t_data("tiny-gpt2/logits.json"));
  CHECK(g != NULL);
  if (!g) return t_finish();
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", t_data("tiny-gpt2"));
  check_model(dir, g, NULL, 1);
  check_model(dir, g, NULL, 2);
  check_model(dir, g, "ref", 2);
  char args[4200];
  snprintf(args, sizeof args, "--convert %s --prefix --shards 3", dir);
  const char *tmp = t_make_model(args);
  CHECK(tmp != NULL);
  if (tmp) {
    char tdir[256];
    snprintf(tdir, sizeof tdir, "%s", tmp);
    check_model(tdir, g, NULL, 2);
    t_rmdir(tdir);
  }
  json_decref(g);
  return t_finish();
}
