/* config.json / generation_config.json parsing: GPT-2 and Llama aliases,
 * rope_scaling, eos lists, id2label; missing/invalid fields give clear errors. */
#include "base/err.h"
#include "fmt/config.h"
#include "test.h"

static int parse(const char *s, ep_config *c, char *err) {
  return ep_config_parse(s, strlen(s), c, err, 256);
}

static void test_gpt2(void) {
  ep_config c;
  char err[256] = "";
  const char *s = "{\"model_type\":\"gpt2\",\"vocab_size\":50257,\"n_embd\":768,\"n_layer\":12,\"n_head\":12,"
                  "\"n_positions\":1024,\"n_inner\":null,\"layer_norm_epsilon\":1e-5,"
                  "\"activation_function\":\"gelu_new\",\"eos_token_id\":50256}";
  CHECK_INT(parse(s, &c, err), EP_OK);
  CHECK_INT(c.hidden_size, 768);
  CHECK_INT(c.head_dim, 64);
  CHECK_INT(c.n_kv_head, 12);
  CHECK_INT(c.max_pos, 1024);
  CHECK_INT(c.intermediate_size, 0);
  CHECK_NEAR(c.layer_norm_eps, 1e-5, 1e-12);
  CHECK_STR(c.hidden_act, "gelu_new");
  CHECK_INT(c.n_eos, 1);
  CHECK_INT(c.eos_ids[0], 50256);
  CHECK_INT(c.tie_word_embeddings, 1);
  ep_config_free(&c);
}

static void test_llama3(void) {
  ep_config c;
  char err[256] = "";
  const char *s = "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\",\"vocab_size\":128256,"
                  "\"hidden_size\":2048,\"num_hidden_layers\":16,\"num_attention_heads\":32,"
                  "\"num_key_value_heads\":8,\"head_dim\":64,\"intermediate_size\":8192,"
                  "\"max_position_embeddings\":131072,\"rms_norm_eps\":1e-5,\"rope_theta\":500000.0,"
                  "\"rope_scaling\":{\"factor\":32.0,\"high_freq_factor\":4.0,\"low_freq_factor\":1.0,"
                  "\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\"},"
                  "\"tie_word_embeddings\":true,\"eos_token_id\":[128001,128008,128009],\"bos_token_id\":128000,"
                  "\"id2label\":{\"0\":\"NEG\",\"1\":\"POS\"}}";
  CHECK_INT(parse(s, &c, err), EP_OK);
  CHECK_STR(c.architecture, "LlamaForCausalLM");
  CHECK_INT(c.n_kv_head, 8);
  CHECK_INT(c.rope_scaling.type, EP_ROPE_SCALING_LLAMA3);
  CHECK_NEAR(c.rope_scaling.factor, 32.0, 0);
  CHECK_INT(c.rope_scaling.original_max_pos, 8192);
  CHECK_NEAR(c.rope_theta, 500000.0, 0);
  CHECK_INT(c.n_eos, 3);
  CHECK_INT(c.eos_ids[2], 128009);
  CHECK_INT(c.bos_id, 128000);
  CHECK_INT(c.n_labels, 2);
  if (c.n_labels == 2) CHECK_STR(c.id2label[1], "POS");
  ep_config_free(&c);
}

static void test_errors(void) {
  ep_config c;
  char err[256] = "";
  CHECK_INT(parse("{\"model_type\":\"llama\",\"vocab_size\":5,\"num_hidden_layers\":1,\"num_attention_heads\":1}",
                  &c, err),
            EP_EINVAL);
  CHECK(strstr(err, "hidden_size") != NULL);
  CHECK_INT(parse("{\"model_type\":\"llama\",", &c, err), EP_EPARSE);
  CHECK_INT(parse("[]", &c, err), EP_EPARSE);
  CHECK_INT(parse("{\"vocab_size\":5}", &c, err), EP_EINVAL);
  CHECK_INT(parse("{\"model_type\":\"llama\",\"vocab_size\":\"5\",\"hidden_size\":8,\"num_hidden_layers\":1,"
                  "\"num_attention_heads\":1}", &c, err), EP_EINVAL);
  CHECK(strstr(err, "vocab_size") != NULL);
  CHECK_INT(parse("{\"model_type\":\"llama\",\"vocab_size\":5,\"hidden_size\":8,\"num_hidden_layers\":1,"
                  "\"num_attention_heads\":4,\"num_key_value_heads\":3}", &c, err), EP_EINVAL);
  CHECK_INT(parse("{\"model_type\":\"llama\",\"vocab_size\":5,\"hidden_size\":8,\"num_hidden_layers\":1,"
                  "\"num_attention_heads\":1,\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":2}}", &c, err),
            EP_EUNSUPPORTED);
  CHECK_INT(ep_config_load("/nonexistent-dir", &c, err, sizeof err), EP_ENOTFOUND);
}

static void test_gen(void) {
  ep_gen_config g;
  char err[256];
  const char *s = "{\"bos_token_id\":1,\"eos_token_id\":[2,3],\"temperature\":0.6,\"top_p\":0.9,"
                  "\"do_sample\":true,\"max_length\":4096}";
  CHECK_INT(ep_gen_config_parse(s, strlen(s), &g, err, sizeof err), EP_OK);
  CHECK_INT(g.n_eos, 2);
  CHECK_INT(g.eos_ids[1], 3);
  CHECK_NEAR(g.temperature, 0.6, 1e-12);
  CHECK_INT(g.do_sample, 1);
  CHECK_INT(g.max_length, 4096);
  CHECK_INT(g.top_k, -1);
  CHECK_INT(ep_gen_config_parse("{\"eos_token_id\":\"x\"}", 20, &g, err, sizeof err), EP_EINVAL);
  CHECK_INT(ep_gen_config_load("/nonexistent-dir", &g, err, sizeof err), EP_ENOTFOUND);
  CHECK_INT(g.n_eos, 0);
  CHECK_INT(ep_gen_config_load(t_data("../../models/stories260K"), &g, err, sizeof err), EP_OK);
  CHECK_INT(g.eos_ids[0], 2);
}

int main(void) {
  RUN(test_gpt2);
  RUN(test_llama3);
  RUN(test_errors);
  RUN(test_gen);
  return t_finish();
}
