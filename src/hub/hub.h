/* Model resolution: turn an endpoint's `repository` (+ optional `revision`)
 * into a local folder holding the files the task needs. Order: an existing
 * local folder; the platform's model store (<home>/models/<org>/<name>); the
 * Hugging Face cache (HF_HUB_CACHE, else HF_HOME/hub, else
 * ~/.cache/huggingface/hub, layout models--{org}--{name}/{refs,snapshots,blobs});
 * a download from HF_ENDPOINT into that same cache (unless offline).
 *
 * Downloads block: call ep_hub_resolve() from a worker thread, never from the
 * loop thread. Progress lines go to params.progress; params.cancel (set from
 * any thread) stops a download between chunks with EP_ECANCELED. */
#ifndef EP_HUB_HUB_H
#define EP_HUB_HUB_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  const char *home;      /* daemon home; model store = <home>/models (NULL: none) */
  const char *cache_dir; /* HF cache; NULL = from the environment */
  const char *endpoint;  /* hub base URL; NULL = $HF_ENDPOINT or https://huggingface.co */
  const char *token;     /* hub token for gated/private repos; NULL = $HF_TOKEN */
  int offline;           /* 1 = never touch the network; -1 = from $HF_HUB_OFFLINE */
  const char *task;      /* endpoint task; selects the files to fetch (NULL = all known) */
  int max_retries;       /* per file, with exponential backoff (default 4) */
  void (*progress)(void *ctx, const char *line);
  void *progress_ctx;
  volatile int *cancel;
} ep_hub_params;

ep_hub_params ep_hub_default_params(void);

/* Where the HF cache lives for these params (static buffer semantics: writes
 * into out). */
void ep_hub_cache_dir(const ep_hub_params *p, char *out, size_t outsz);

/* Resolves without downloading: local folder, model store, HF cache.
 * Returns EP_OK and the folder in out_dir, EP_ENOTFOUND if a download would be
 * needed. */
int ep_hub_resolve_local(const ep_hub_params *p, const char *repo, const char *revision,
                         char *out_dir, size_t outsz);

/* Full resolution (may download). Errors: EP_ENOTFOUND (unknown repo or
 * revision, or offline and not cached), EP_EUNAUTH (401/403 from the hub:
 * gated or private), EP_EUNSUPPORTED (no safetensors weights), EP_ECONN,
 * EP_ECORRUPT (checksum), EP_ECANCELED. err gets a message for users. */
int ep_hub_resolve(const ep_hub_params *p, const char *repo, const char *revision, char *out_dir,
                   size_t outsz, char *err, size_t errsz);

/* Checks a resolved folder for what the task needs without loading weights:
 * config.json with a known architecture and safetensors weights. EP_OK or
 * EP_EUNSUPPORTED with a message naming what is missing. */
int ep_hub_check_folder(const char *dir, const char *task, char *err, size_t errsz);

/* One model on disk (cache or store). */
typedef struct {
  char repo[256];
  char revision[64];   /* commit for cache entries, "" for store folders */
  char path[1024];
  char source[8];      /* "cache" | "store" */
  uint64_t bytes;
} ep_hub_model;

/* Lists models in the model store and the HF cache; *out malloc'd. */
int ep_hub_list(const ep_hub_params *p, ep_hub_model **out, size_t *n);
/* Removes a model from the cache (snapshots, refs and blobs) or the store. */
int ep_hub_remove(const ep_hub_params *p, const char *repo, char *err, size_t errsz);

/* Repository id rules: "name" or "org/name", [A-Za-z0-9._-], no "..". */
int ep_hub_repo_valid(const char *repo);

#endif
