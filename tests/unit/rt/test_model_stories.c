/* stories260K (Llama layout) against the float64 numpy reference goldens in
 * tests/data: all-position logits within 1e-4, and 64-step greedy ids equal
 * for every prompt, with reference and fast kernels, 1 and 2 threads. */
#include "model_testutil.h"

static void check_logits(ep_model *m, json_t *lj) {
  int32_t ids[8];
  json_t *ia = json_object_get(lj, "input_ids");
  size_t n = json_array_size(ia);
  for (size_t i = 0; i < n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(ia, i));
  int V = ep_model_get_info(m)->vocab_size;
  float *all = calloc(n * V, sizeof(float)), *last = calloc(V, sizeof(float)),
        *want = calloc(n * V, sizeof(float));
  ep_kv *kv = ep_kv_new(m, 64);
  ep_batch_item it = {kv, ids, n, last, all};
  CHECK_INT(ep_model_forward(m, &it, 1), EP_OK);
  CHECK_INT(ep_kv_len(kv), n);
  json_t *al = json_object_get(lj, "all_logits");
  for (size_t t = 0; t < n; t++) {
    CHECK_INT(t_floats(json_array_get(al, t), want + t * V, V), V);
    double d = t_maxdiff(all + t * V, want + t * V, V);
    if (d > 1e-4) fprintf(stderr, "position %zu: max diff %g\n", t, d);
    CHECK(d <= 1e-4);
  }
  t_floats(json_object_get(lj, "last_logits"), want, V);
  CHECK(t_maxdiff(last, want, V) <= 1e-4);
  ep_kv_free(kv);
  free(all);
  free(last);
  free(want);
}

static void check_greedy(ep_model *m, json_t *gj) {
  int V = ep_model_get_info(m)->vocab_size;
  float *logits = calloc(V, sizeof(float));
  size_t ci;
  json_t *c;
  json_array_foreach(json_object_get(gj, "cases"), ci, c) {
    json_t *ia = json_object_get(c, "input_ids"), *ga = json_object_get(c, "greedy_ids");
    size_t n = json_array_size(ia), ng = json_array_size(ga);
    int32_t ids[64];
    for (size_t i = 0; i < n && i < 64; i++) ids[i] = (int32_t)json_integer_value(json_array_get(ia, i));
    ep_kv *kv = ep_kv_new(m, 128);
    ep_batch_item it = {kv, ids, n, logits, NULL};
    CHECK_INT(ep_model_forward(m, &it, 1), EP_OK);
    int same = 1;
    for (size_t s = 0; s < ng; s++) {
      int32_t tok = t_argmax(logits, V);
      if (tok != json_integer_value(json_array_get(ga, s))) {
        fprintf(stderr, "prompt '%s' step %zu: got %d want %lld\n",
                json_string_value(json_object_get(c, "prompt")), s, tok,
                (long long)json_integer_value(json_array_get(ga, s)));
        same = 0;
        break;
      }
      ep_batch_item d = {kv, &tok, 1, logits, NULL};
      if (ep_model_forward(m, &d, 1) != EP_OK) { same = 0; break; }
    }
    CHECK(same);
    CHECK_INT(ng, 64);
    ep_kv_free(kv);
  }
  free(logits);
}

int main(void) {
  json_t *lj = t_json(t_data("stories260K-logits.json"));
  json_t *gj = t_json(t_data("stories260K-greedy.json"));
  CHECK(lj && gj);
  const char *dir = t_src("models/stories260K");
  const char *kerns[2] = {NULL, "ref"};
  for (int ki = 0; ki < 2 && lj && gj; ki++)
    for (int th = 1; th <= 2; th++) {
      fprintf(stderr, "-- kernels=%s threads=%d\n", kerns[ki] ? kerns[ki] : "fast", th);
      ep_model *m = t_load(dir, th, kerns[ki]);
      CHECK(m != NULL);
      if (!m) continue;
      const ep_model_info *in = ep_model_get_info(m);
      CHECK_STR(in->arch, "llama");
      CHECK_INT(in->n_layer, 5);
      CHECK_INT(in->n_kv_head, 4);
      CHECK_INT(in->bos_id, 1);
      CHECK_INT(in->n_eos, 1);
      CHECK_INT(in->eos_ids[0], 2);
      check_logits(m, lj);
      check_greedy(m, gj);
      ep_model_free(m);
    }
  json_decref(lj);
  json_decref(gj);
  return t_finish();
}
