/* Resolution order for an endpoint's repository (see hub.h) and the checks a
 * folder must pass before a replica is started for it. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "hub/hub-impl.h"

static int offline(const ep_hub_params *p) {
  if (p->offline >= 0) return p->offline;
  const char *e = getenv("HF_HUB_OFFLINE");
  return e && (!strcmp(e, "1") || !strcasecmp(e, "true") || !strcasecmp(e, "yes"));
}

int ep_hub_resolve_local(const ep_hub_params *p, const char *repo, const char *revision,
                         char *out_dir, size_t outsz) {
  char path[4096];
  /* 1. an existing local folder (absolute or relative path) */
  if ((repo[0] == '/' || repo[0] == '.' || strchr(repo, '/')) && ep__hub_is_dir(repo)) {
    char *real = realpath(repo, NULL);
    snprintf(out_dir, outsz, "%s", real ? real : repo);
    free(real);
    return EP_OK;
  }
  if (!ep_hub_repo_valid(repo)) return EP_EINVAL;
  /* 2. the platform's model store */
  if (p->home) {
    snprintf(path, sizeof path, "%s/models/%s", p->home, repo);
    char cfg[4200];
    snprintf(cfg, sizeof cfg, "%s/config.json", path);
    if (ep__hub_is_file(cfg)) {
      snprintf(out_dir, outsz, "%s", path);
      return EP_OK;
    }
  }
  /* 3. the Hugging Face cache */
  char cache[2048];
  ep_hub_cache_dir(p, cache, sizeof cache);
  return ep__hub_cache_lookup(cache, repo, revision, out_dir, outsz);
}

int ep_hub_resolve(const ep_hub_params *p, const char *repo, const char *revision, char *out_dir,
                   size_t outsz, char *err, size_t errsz) {
  int rc = ep_hub_resolve_local(p, repo, revision, out_dir, outsz);
  if (rc == EP_OK) return EP_OK;
  if (rc == EP_EINVAL) {
    snprintf(err, errsz, "repository '%s' is neither a local folder nor a valid Hub id", repo);
    return EP_EINVAL;
  }
  if (offline(p)) {
    snprintf(err, errsz, "model '%s'%s%s is not in the cache and HF_HUB_OFFLINE is set", repo,
             revision ? " at revision " : "", revision ? revision : "");
    return EP_ENOTFOUND;
  }
  char cache[2048];
  ep_hub_cache_dir(p, cache, sizeof cache);
  return ep__hub_download(p, cache, repo, revision, out_dir, outsz, err, errsz);
}

int ep__hub_file_wanted(const char *file, const char *task, int has_index) {
  static const char *always[] = {
      "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
      "special_tokens_map.json", "vocab.txt", "vocab.json", "merges.txt", "added_tokens.json",
      "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json",
      "1_Pooling/config.json", "2_Dense/config.json", "2_Dense/model.safetensors", NULL};
  (void)task;
  for (int i = 0; always[i]; i++)
    if (!strcmp(file, always[i])) return 1;
  if (strchr(file, '/')) return 0;
  size_t n = strlen(file);
  if (!strcmp(file, "model.safetensors.index.json")) return 1;
  if (n > 12 && !strcmp(file + n - 12, ".safetensors")) {
    if (!strcmp(file, "consolidated.safetensors")) return 0;
    if (has_index) return strncmp(file, "model-", 6) == 0;
    return !strcmp(file, "model.safetensors");
  }
  return 0;
}

/* Architectures the engine serves, by config.json model_type. */
static const char *k_causal[] = {"gpt2", "llama", "mistral", "qwen2", NULL};
static const char *k_encoder[] = {"bert", "roberta", "xlm-roberta", "distilbert", NULL};

static int in_list(const char *s, const char **l) {
  for (int i = 0; l[i]; i++)
    if (!strcmp(s, l[i])) return 1;
  return 0;
}

int ep_hub_check_folder(const char *dir, const char *task, char *err, size_t errsz) {
  char path[4096];
  snprintf(path, sizeof path, "%s/config.json", dir);
  json_error_t je;
  json_t *cfg = json_load_file(path, 0, &je);
  if (!cfg) {
    snprintf(err, errsz, "%s: missing or invalid config.json (%s)", dir, je.text);
    return EP_EUNSUPPORTED;
  }
  const char *mt = json_string_value(json_object_get(cfg, "model_type"));
  char model_type[64];
  snprintf(model_type, sizeof model_type, "%s", mt ? mt : "");
  json_t *archs = json_object_get(cfg, "architectures");
  const char *a0 = json_string_value(json_array_get(archs, 0));
  char arch_buf[128];
  snprintf(arch_buf, sizeof arch_buf, "%s", a0 ? a0 : "");
  const char *arch0 = a0 ? arch_buf : NULL; /* cfg is freed below */
  int is_cls = arch0 && strstr(arch0, "ForSequenceClassification") != NULL;
  json_decref(cfg);
  int causal = in_list(model_type, k_causal), enc = in_list(model_type, k_encoder);
  if (!causal && !enc) {
    snprintf(err, errsz, "unsupported architecture '%s' (supported: gpt2, llama, mistral, qwen2, bert, roberta, xlm-roberta, distilbert)",
             model_type[0] ? model_type : "(no model_type)");
    return EP_EUNSUPPORTED;
  }
  if (task && *task && strcmp(task, "custom") != 0) {
    int gen = !strcmp(task, "text-generation") || !strcmp(task, "text2text-generation");
    int emb = !strcmp(task, "feature-extraction") || !strcmp(task, "sentence-similarity") ||
              !strcmp(task, "sentence-embeddings");
    int cls = !strcmp(task, "text-classification");
    if ((gen && !causal) || (emb && !enc) || (cls && !(enc && is_cls))) {
      snprintf(err, errsz, "task '%s' does not match the model (model_type '%s'%s%s)", task,
               model_type, arch0 ? ", architecture " : "", arch0 ? arch0 : "");
      return EP_EUNSUPPORTED;
    }
  }
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  char idx[4096];
  snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", dir);
  if (!ep__hub_is_file(path) && !ep__hub_is_file(idx)) {
    snprintf(err, errsz, "%s has no safetensors weights (model.safetensors or model.safetensors.index.json)", dir);
    return EP_EUNSUPPORTED;
  }
  return EP_OK;
}
