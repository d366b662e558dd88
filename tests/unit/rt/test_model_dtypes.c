/* F16 / BF16 weights: stories260K rewritten by tools/make_tiny_model.py
 * --convert --dtype f16|bf16 (round to nearest even) against the float64
 * goldens of the F32 model. Stated tolerances (max |logit diff|, logits span
 * [-12, 19]): F16 5e-2, BF16 2.5e-1 (measured 0.017 and 0.079); plus: loading the F32 file with
 * params.dtype = F16/BF16 gives the same logits as the converted file
 * (1e-6), and the first 16 greedy ids of "Once upon a time" still match. */
#include "model_testutil.h"

static void run_logits(ep_model *m, json_t *lj, float *all, size_t *n_out) {
  int32_t ids[8];
  json_t *ia = json_object_get(lj, "input_ids");
  size_t n = json_array_size(ia);
  for (size_t i = 0; i < n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(ia, i));
  ep_kv *kv = ep_kv_new(m, 64);
  ep_batch_item it = {kv, ids, n, NULL, all};
  CHECK_INT(ep_model_forward(m, &it, 1), EP_OK);
  ep_kv_free(kv);
  *n_out = n;
}

static void check_dtype(const char *dt, ep_dtype pdt, double tol, json_t *lj, json_t *gj) {
  char args[4200];
  snprintf(args, sizeof args, "--convert %s --dtype %s", t_src("models/stories260K"), dt);
  const char *tmp = t_make_model(args);
  CHECK(tmp != NULL);
  if (!tmp) return;
  char dir[256];
  snprintf(dir, sizeof dir, "%s", tmp);
  ep_model *m = t_load(dir, 2, NULL);
  CHECK(m != NULL);
  if (m) {
    int V = ep_model_get_info(m)->vocab_size;
    float *all = calloc(8 * V, sizeof(float)), *want = calloc(V, sizeof(float)),
          *conv = calloc(8 * V, sizeof(float));
    size_t n;
    run_logits(m, lj, all, &n);
    double worst = 0;
    for (size_t t = 0; t < n; t++) {
      t_floats(json_array_get(json_object_get(lj, "all_logits"), t), want, V);
      worst = fmax(worst, t_maxdiff(all + t * V, want, V));
    }
    fprintf(stderr, "  %s: max |logit diff| vs f32 golden %.4g (tolerance %g)\n", dt, worst, tol);
    CHECK(worst <= tol);
    /* greedy continuation of prompt 2 ("Once upon a time"), first 16 ids */
    json_t *c = json_array_get(json_object_get(gj, "cases"), 1);
    ep_kv *kv = ep_kv_new(m, 64);
    int32_t tok = (int32_t)json_integer_value(json_array_get(json_object_get(c, "greedy_ids"), 0));
    CHECK_INT(t_argmax(all + (n - 1) * V, V), tok);
    int32_t ids[8];
    for (size_t i = 0; i < n; i++)
      ids[i] = (int32_t)json_integer_value(json_array_get(json_object_get(lj, "input_ids"), i));
    ep_batch_item it = {kv, ids, n, want, NULL};
    CHECK_INT(ep_model_forward(m, &it, 1), EP_OK);
    int same = 1;
    for (int s = 0; s < 16 && same; s++) {
      tok = t_argmax(want, V);
      same = tok == json_integer_value(json_array_get(json_object_get(c, "greedy_ids"), s));
      ep_batch_item d = {kv, &tok, 1, want, NULL};
      CHECK_INT(ep_model_forward(m, &d, 1), EP_OK);
    }
    CHECK(same);
    ep_kv_free(kv);
    /* same weights via on-load conversion of the F32 file */
    ep_model_params p = ep_model_default_params();
    p.dir = t_src("models/stories260K");
    p.threads = 2;
    p.dtype = pdt;
    ep_model *m2 = NULL;
    char err[256];
    CHECK_INT(ep_model_load(&p, &m2, err, sizeof err), EP_OK);
    if (m2) {
      run_logits(m2, lj, conv, &n);
      CHECK(t_maxdiff(conv, all, n * V) <= 1e-6);
      ep_model_free(m2);
    }
    free(all);
    free(want);
    free(conv);
    ep_model_free(m);
  }
  t_rmdir(dir);
}

int main(void) {
  json_t *lj = t_json(t_data("stories260K-logits.json")), *gj = t_json(t_data("stories260K-greedy.json"));
  CHECK(lj && gj);
  if (lj && gj) {
    check_dtype("f16", EP_DTYPE_F16, 5e-2, lj, gj);
    check_dtype("bf16", EP_DTYPE_BF16, 2.5e-1, lj, gj);
  }
  json_decref(lj);
  json_decref(gj);
  return t_finish();
}
