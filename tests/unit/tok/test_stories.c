/* stories260K tokenizer against tests/data/stories260K-greedy.json: prompt
 * input_ids (with BOS), and decoding greedy_ids / input_ids + greedy_ids to
 * greedy_text / full_text with special tokens skipped (values made by the
 * numpy reference and re-checked with @huggingface/tokenizers). */
#include <jansson.h>

#include "base/err.h"
#include "test.h"
#include "tok/tok.h"

static int32_t *ids_of(json_t *arr, size_t *n) {
  *n = json_array_size(arr);
  int32_t *v = malloc((*n + 1) * sizeof *v);
  for (size_t i = 0; i < *n; i++) v[i] = (int32_t)json_integer_value(json_array_get(arr, i));
  return v;
}

static void test_greedy_file(void) {
  ep_tok *t = NULL;
  char err[256];
  CHECK_INT(ep_tok_load_dir("models/stories260K", &t, err, sizeof err), 0);
  json_error_t je;
  json_t *root = json_load_file(t_data("stories260K-greedy.json"), 0, &je);
  CHECK(root != NULL);
  if (!t || !root) return;
  json_t *cases = json_object_get(root, "cases");
  CHECK_INT(json_array_size(cases), 5);
  for (size_t i = 0; i < json_array_size(cases); i++) {
    json_t *c = json_array_get(cases, i);
    const char *prompt = json_string_value(json_object_get(c, "prompt"));
    size_t ni, ng;
    int32_t *want = ids_of(json_object_get(c, "input_ids"), &ni);
    int32_t *greedy = ids_of(json_object_get(c, "greedy_ids"), &ng);
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK_INT(ep_tok_encode(t, prompt, strlen(prompt), 1, &ids, &n), 0);
    CHECK_INT(n, ni);
    CHECK(n == ni && memcmp(ids, want, n * sizeof *ids) == 0);
    char *txt = NULL;
    CHECK_INT(ep_tok_decode(t, greedy, ng, 1, &txt), 0);
    CHECK_STR(txt, json_string_value(json_object_get(c, "greedy_text")));
    free(txt);
    int32_t *all = malloc((ni + ng) * sizeof *all);
    memcpy(all, want, ni * sizeof *all);
    memcpy(all + ni, greedy, ng * sizeof *all);
    CHECK_INT(ep_tok_decode(t, all, ni + ng, 1, &txt), 0);
    CHECK_STR(txt, json_string_value(json_object_get(c, "full_text")));
    free(txt);
    free(all);
    free(ids);
    free(want);
    free(greedy);
  }
  /* without skip_special the BOS piece is kept */
  int32_t bos_once[] = {1, 403, 407};
  char *txt = NULL;
  CHECK_INT(ep_tok_decode(t, bos_once, 3, 0, &txt), 0);
  CHECK_STR(txt, "<s> Once upon");
  free(txt);
  json_decref(root);
  ep_tok_free(t);
}

int main(void) {
  RUN(test_greedy_file);
  return t_finish();
}
