/* Unit tests for src/hub: repository id rules, file selection per task, and
 * the pre-start checks on a model folder. */
#include "test.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "hub/hub-impl.h"

static void test_repo_ids(void) {
  CHECK(ep_hub_repo_valid("gpt2"));
  CHECK(ep_hub_repo_valid("meta-llama/Llama-3.2-1B"));
  CHECK(ep_hub_repo_valid("BAAI/bge-small-en-v1.5"));
  CHECK(!ep_hub_repo_valid(""));
  CHECK(!ep_hub_repo_valid("a/b/c"));
  CHECK(!ep_hub_repo_valid("../etc"));
  CHECK(!ep_hub_repo_valid("/abs"));
  CHECK(!ep_hub_repo_valid("org/"));
  CHECK(!ep_hub_repo_valid("org/na me"));
  char f[256];
  ep__hub_repo_folder("meta-llama/Llama-3.2-1B", f, sizeof f);
  CHECK_STR(f, "models--meta-llama--Llama-3.2-1B");
  CHECK(ep__hub_is_commit("0123456789abcdef0123456789abcdef01234567"));
  CHECK(!ep__hub_is_commit("main"));
}

static void test_file_selection(void) {
  CHECK(ep__hub_file_wanted("config.json", "text-generation", 0));
  CHECK(ep__hub_file_wanted("model.safetensors", "text-generation", 0));
  CHECK(!ep__hub_file_wanted("model-00001-of-00002.safetensors", "text-generation", 0));
  CHECK(ep__hub_file_wanted("model-00001-of-00002.safetensors", "text-generation", 1));
  CHECK(!ep__hub_file_wanted("consolidated.safetensors", "text-generation", 1));
  CHECK(!ep__hub_file_wanted("pytorch_model.bin", "text-generation", 0));
  CHECK(!ep__hub_file_wanted("onnx/model.safetensors", "text-generation", 0));
  CHECK(ep__hub_file_wanted("1_Pooling/config.json", "feature-extraction", 0));
  CHECK(ep__hub_file_wanted("tokenizer.json", NULL, 0));
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
}

static void test_check_folder(void) {
  char err[512];
  const char *model = "models/stories260K";
  CHECK_INT(ep_hub_check_folder(model, "text-generation", err, sizeof err), EP_OK);
  CHECK_INT(ep_hub_check_folder(model, "feature-extraction", err, sizeof err), EP_EUNSUPPORTED);
  CHECK(strstr(err, "does not match") != NULL);
  CHECK_INT(ep_hub_check_folder(model, "text-classification", err, sizeof err), EP_EUNSUPPORTED);

  char dir[] = "/tmp/ep-hub-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char p[512];
  CHECK_INT(ep_hub_check_folder(dir, NULL, err, sizeof err), EP_EUNSUPPORTED);
  CHECK(strstr(err, "config.json") != NULL);
  snprintf(p, sizeof p, "%s/config.json", dir);
  write_file(p, "{\"model_type\": \"t5\"}");
  CHECK_INT(ep_hub_check_folder(dir, NULL, err, sizeof err), EP_EUNSUPPORTED);
  CHECK(strstr(err, "unsupported architecture 't5'") != NULL);
  write_file(p, "{\"model_type\": \"gpt2\"}");
  CHECK_INT(ep_hub_check_folder(dir, "text-generation", err, sizeof err), EP_EUNSUPPORTED);
  CHECK(strstr(err, "no safetensors") != NULL);
  write_file(p, "{not json");
  CHECK_INT(ep_hub_check_folder(dir, NULL, err, sizeof err), EP_EUNSUPPORTED);
  remove(p);
  rmdir(dir);
}

int main(void) {
  RUN(test_repo_ids);
  RUN(test_file_selection);
  RUN(test_check_folder);
  return t_finish();
}
